"""PredNet architectures as model files record them, and the layers they imply (no torch
needed, so the CLI can list the choices and hostile model files are judged before anything
is built)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tezip.errors import ModelError

#: named architectures: channels of every layer, the first being the image's
PRESETS: dict[str, tuple[int, ...]] = {"original": (48, 96, 192), "slim": (16, 32, 64)}
#: what the network's correction is added to
BASES = ("previous", "linear")
NAME = "prednet"


@dataclass(frozen=True)
class Convolution:
    """One convolution of the network: module ``group.level``, working at ``1 / 2**level``
    resolution."""

    group: str
    level: int
    inputs: int
    outputs: int


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
    def from_record(cls, record: Any) -> Architecture:
        """Parse a model file's ``architecture`` map; ``ModelError`` when malformed."""
        invalid = "model file does not describe a valid PredNet"
        if not isinstance(record, dict) or record.get("name") != NAME:
            raise ModelError(f"{invalid}: its architecture is not named {NAME!r}")
        channels, kernel = record.get("channels"), record.get("kernel")
        base = record.get("base", "previous")
        if not (
            isinstance(channels, list) and channels and all(_positive_int(c) for c in channels)
        ):
            raise ModelError(f"{invalid}: channels must be a non-empty list of positive integers")
        if not (_positive_int(kernel) and kernel % 2 == 1):
            raise ModelError(f"{invalid}: kernel must be an odd positive integer")
        if base not in BASES:
            raise ModelError(f"{invalid}: base must be one of {', '.join(BASES)}")
        return cls(tuple(channels), kernel, base)

    def record(self) -> dict[str, Any]:
        """The model file's ``architecture``; ``base`` only when not the previous frame, so
        models of the first format keep their bytes."""
        out: dict[str, Any] = {"name": NAME, "channels": list(self.channels)}
        out["kernel"] = self.kernel
        if self.base != "previous":
            out["base"] = self.base
        return out

    @property
    def multiple(self) -> int:
        """Frame sides are padded to a multiple of this."""
        return 1 << (len(self.channels) - 1)

    def convolutions(self) -> list[Convolution]:
        """Every convolution, in module order: per level a convolutional LSTM fed the
        level's errors, its representation and the one above; a prediction from the
        representation; below the top, the target of the level above from the errors."""
        sizes = self.channels
        top = len(sizes) - 1
        lstm = [
            Convolution("lstm", i, 3 * s + (sizes[i + 1] if i < top else 0), 4 * s)
            for i, s in enumerate(sizes)
        ]
        ahat = [Convolution("ahat", i, s, s) for i, s in enumerate(sizes)]
        a = [Convolution("a", i, 2 * sizes[i], sizes[i + 1]) for i in range(top)]
        return [*lstm, *ahat, *a]

    def tensor_shapes(self) -> dict[str, tuple[int, ...]]:
        """The network's tensors by name, as a model file must hold them."""
        k = self.kernel
        shapes: dict[str, tuple[int, ...]] = {}
        for c in self.convolutions():
            shapes[f"{c.group}.{c.level}.weight"] = (c.outputs, c.inputs, k, k)
            shapes[f"{c.group}.{c.level}.bias"] = (c.outputs,)
        return shapes

    @property
    def parameters(self) -> int:
        """Number of weights and biases."""
        return sum((c.inputs * self.kernel**2 + 1) * c.outputs for c in self.convolutions())


def _positive_int(value: Any) -> bool:
    return type(value) is int and value >= 1
