"""Frames stored as a folder of image files, one frame per file, in natural name order."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
from PIL import Image

from tezip.errors import InputError
from tezip.io.naming import natural_key
from tezip.io.source import FrameSource, reason

T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True)
class Layout:
    """How frames of one Pillow mode look as arrays: dtype and channels (``None``: 2-D)."""

    dtype: np.dtype
    channels: int | None

    def frame_shape(self, height: int, width: int) -> tuple[int, ...]:
        return (height, width) if self.channels is None else (height, width, self.channels)


_U8, _U16 = np.dtype("uint8"), np.dtype("uint16")

#: Pillow modes tezip reads and writes. Mode ``"1"`` frames hold 0/1 in ``uint8``.
MODES: dict[str, Layout] = {
    "1": Layout(_U8, None),
    "L": Layout(_U8, None),
    "LA": Layout(_U8, 2),
    "RGB": Layout(_U8, 3),
    "RGBA": Layout(_U8, 4),
    "I;16": Layout(_U16, None),
    "I;16L": Layout(_U16, None),
    "I;16B": Layout(_U16, None),
    "I": Layout(np.dtype("int32"), None),
    "F": Layout(np.dtype("float32"), None),
}

#: Palette modes are expanded on read; the expanded mode is what the archive records.
_PALETTE = ("P", "PA")


def parallel_map(func: Callable[[T], R], items: Sequence[T]) -> list[R]:
    """``[func(x) for x in items]`` on a thread pool (Pillow codecs release the GIL)."""
    workers = min(len(items), os.cpu_count() or 1)
    if workers <= 1:
        return [func(item) for item in items]
    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(func, items))


def _expanded_mode(image: Image.Image) -> str:
    """The mode frames of ``image`` are read as: palettes expand to ``RGB`` or ``RGBA``."""
    if image.mode not in _PALETTE:
        return image.mode
    return "RGBA" if image.mode == "PA" or "transparency" in image.info else "RGB"


@functools.cache
def _image_extensions() -> frozenset[str]:
    """Lower-case file extensions (with the dot) of every format Pillow can open."""
    return frozenset(
        extension for extension, kind in Image.registered_extensions().items() if kind in Image.OPEN
    )


def _unreadable(file: Path, err: Exception) -> InputError:
    return InputError(f"{file}: cannot read as an image ({reason(err)})")


@dataclass(frozen=True)
class _Probe:
    """What the header of one image file says."""

    height: int
    width: int
    mode: str
    format: str

    def describe(self) -> str:
        return f"{self.width}x{self.height} {self.mode}"


def _probe(file: Path) -> _Probe:
    """Read one image's header (not its pixels) and check tezip can use it."""
    try:
        with Image.open(file) as image:
            frames = getattr(image, "n_frames", 1)
            fmt = (image.format or "").lower()
            probe = _Probe(image.height, image.width, _expanded_mode(image), fmt)
    except Exception as err:  # Pillow raises many types on damaged or foreign files
        raise _unreadable(file, err) from None
    if frames > 1:
        raise InputError(f"{file}: holds {frames} frames; tezip reads one frame per image file")
    if probe.mode not in MODES:
        raise InputError(
            f"{file}: image mode {probe.mode!r} is not supported "
            f"(tezip reads {', '.join([*MODES, *_PALETTE])})"
        )
    return probe


def _pixels(file: Path) -> tuple[_Probe, np.ndarray]:
    """Decode one image: its geometry and mode, and its pixels (palettes expanded)."""
    try:
        with Image.open(file) as image:
            mode = _expanded_mode(image)
            if mode != image.mode:
                image = image.convert(mode)
            return _Probe(image.height, image.width, mode, ""), np.asarray(image)
    except Exception as err:  # Pillow raises many types on damaged or foreign files
        raise _unreadable(file, err) from None


class ImageFolderSource(FrameSource):
    """A folder of same-sized, same-mode images (any format Pillow reads), one frame each.

    Files are taken in natural name order (``f2`` before ``f10``); only files with an image
    extension Pillow reads count (a ``README.md`` or ``metadata.json`` beside the frames is
    ignored, as are dotfiles and sub-folders), and each of those must be a readable image.
    Every header is checked up front, so a mismatched or unreadable file fails before work
    starts. Palette images (``P``, ``PA``)
    are expanded to ``RGB``/``RGBA``; mode ``"1"`` becomes ``uint8`` 0/1.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        if not self.path.is_dir():
            raise InputError(f"{self.path}: not a folder")
        readable = _image_extensions()
        with os.scandir(self.path) as entries:
            names = [
                e.name
                for e in entries
                if not e.name.startswith(".")
                and not e.is_dir()
                and os.path.splitext(e.name)[1].lower() in readable
            ]
        self.names = sorted(names, key=natural_key)
        if not self.names:
            raise InputError(f"{self.path}: folder holds no image files")
        first = _probe(self.path / self.names[0])
        for name in self.names[1:]:
            self._check_same(self.path / name, _probe(self.path / name), first)
        self._first = first
        layout = MODES[first.mode]
        self.dtype = layout.dtype
        self.frame_shape = layout.frame_shape(first.height, first.width)

    def _check_same(self, file: Path, probe: _Probe, first: _Probe) -> None:
        """Raise ``InputError`` naming ``file`` if its size or mode differs from the first."""
        if (probe.height, probe.width, probe.mode) != (first.height, first.width, first.mode):
            raise InputError(
                f"{file}: image is {probe.describe()} but {self.names[0]} is {first.describe()}; "
                "all frames must share size and mode"
            )

    def __len__(self) -> int:
        return len(self.names)

    def read(self, start: int, stop: int) -> np.ndarray:
        self.check_range(start, stop)
        out = np.empty((stop - start, *self.frame_shape), self.dtype)

        def load(k: int) -> None:
            file = self.path / self.names[start + k]
            probe, pixels = _pixels(file)
            self._check_same(file, probe, self._first)
            out[k] = pixels

        parallel_map(load, range(stop - start))
        return out

    def describe(self) -> dict[str, Any]:
        return {
            "kind": "images",
            "names": list(self.names),
            "modes": [self._first.mode] * len(self.names),
            "format": self._first.format or None,
        }
