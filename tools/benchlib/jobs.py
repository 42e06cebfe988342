"""One benchmark run (dataset x mode x compressor), as passed to a worker process."""

from __future__ import annotations

import json
from dataclasses import dataclass

from .data import DataSpec
from .modes import Mode


@dataclass(frozen=True)
class Job:
    spec: DataSpec
    compressor: str
    mode: Mode
    device: str = "cpu"
    repeat: int = 1  # timings are the best of this many runs
    stream: bool = False  # also time and check decoding into a .npy file (Codec.stream)

    def to_json(self) -> str:
        return json.dumps(
            {
                "spec": self.spec.to_dict(),
                "compressor": self.compressor,
                "mode": self.mode.to_dict(),
                "device": self.device,
                "repeat": self.repeat,
                "stream": self.stream,
            }
        )

    @classmethod
    def from_json(cls, text: str) -> Job:
        d = json.loads(text)
        return cls(
            DataSpec(**d["spec"]),
            d["compressor"],
            Mode(**d["mode"]),
            d["device"],
            d["repeat"],
            d.get("stream", False),
        )

    @property
    def label(self) -> str:
        frames = f" x{self.spec.tile_to}" if self.spec.tile_to else ""
        return f"{self.spec.name}{frames} {self.mode.label} {self.compressor}"
