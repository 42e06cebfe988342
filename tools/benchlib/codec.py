"""What every benchmarked compressor provides: a factory of encode/decode pairs."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .modes import Mode

Blob = bytes | memoryview | np.ndarray | list | Path  # a list holds one blob per frame


def blob_size(blob: Blob) -> int:
    """Compressed size in bytes of what ``encode`` returned."""
    if isinstance(blob, Path):
        return blob.stat().st_size
    if isinstance(blob, list):
        return sum(blob_size(b) for b in blob)
    return memoryview(blob).nbytes


@dataclass(frozen=True)
class Codec:
    """Compress whole frame stacks; ``decode(encode(x))`` must give back x's shape and dtype."""

    encode: Callable[[np.ndarray], Blob]
    decode: Callable[[Blob], np.ndarray]
    stream: Callable[[Blob, Path], object] | None = None  # decode into a .npy file, if it can


@dataclass(frozen=True)
class Compressor:
    """A named contender in the benchmark."""

    name: str
    kind: str  # "tezip", "baseline" or "peer"
    make: Callable[[np.ndarray, Mode], Codec | str]  # a Codec, or why it does not apply
    probe: Callable[[], object]  # raises when the compressor is not installed
    note: str = ""  # the settings used, in a few words


def module_probe(module: str, codec: str | None = None) -> Callable[[], object]:
    """A probe importing ``module``; for imagecodecs, also checks that ``codec`` is built in."""

    def probe() -> object:
        mod = importlib.import_module(module)
        if codec and not getattr(mod, codec).available:
            raise ImportError(f"{module} is built without {codec}")
        return mod

    return probe
