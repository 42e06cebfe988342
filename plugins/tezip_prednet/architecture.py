"""PredNet architectures as model files record them (no torch needed, so the CLI can list
the choices without importing it)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

#: named architectures: channels of every layer, the first being the image's
PRESETS: dict[str, tuple[int, ...]] = {"original": (48, 96, 192), "slim": (16, 32, 64)}
#: what the network's correction is added to
BASES = ("previous", "linear")


@dataclass(frozen=True)
class Architecture:
    """What a model file's ``architecture`` holds: enough to rebuild the network."""

    channels: tuple[int, ...]
    kernel: int = 3
    base: str = "previous"

    @classmethod
    def preset(
        cls, name: str, image_channels: int, kernel: int = 3, base: str = "previous"
    ) -> Architecture:
        return cls((image_channels, *PRESETS[name]), kernel, base)

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> Architecture:
        channels = tuple(int(c) for c in record["channels"])
        kernel = int(record["kernel"])
        base = record.get("base", "previous")
        if len(channels) < 1 or min(channels) < 1 or kernel < 1 or kernel % 2 == 0:
            raise ValueError(f"invalid PredNet architecture {record!r}")
        if base not in BASES:
            raise ValueError(f"unknown PredNet base {base!r}")
        return cls(channels, kernel, base)

    def record(self) -> dict[str, Any]:
        """The model file's ``architecture``; ``base`` only when not the previous frame, so
        models of the first format keep their bytes."""
        out: dict[str, Any] = {"name": "prednet", "channels": list(self.channels)}
        out["kernel"] = self.kernel
        if self.base != "previous":
            out["base"] = self.base
        return out

    @property
    def multiple(self) -> int:
        """Frame sides are padded to a multiple of this."""
        return 1 << (len(self.channels) - 1)
