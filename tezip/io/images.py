"""Frames stored as a folder of image files, one frame per file, in natural name order."""

from __future__ import annotations

import functools
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from tezip.errors import InputError
from tezip.io.imagefiles import MODES, ImageInfo, probe, read_pixels
from tezip.io.naming import natural_key
from tezip.io.source import FrameSource
from tezip.parallel import thread_map


@functools.cache
def image_extensions() -> frozenset[str]:
    """Lower-case file extensions (with the dot) of every format Pillow can open."""
    return frozenset(
        extension for extension, kind in Image.registered_extensions().items() if kind in Image.OPEN
    )


class ImageFolderSource(FrameSource):
    """A folder of same-sized, same-mode images (any format Pillow reads), one frame each;
    or some of them, e.g. a single image file.

    Files are taken in natural name order (``f2`` before ``f10``); only files with an image
    extension Pillow reads count (a ``README.md`` or ``metadata.json`` beside the frames is
    ignored, as are dotfiles and sub-folders), and each of those must be a readable image.
    Every header is checked up front, so a mismatched or unreadable file fails before work
    starts. Every file is read exactly or refused (:mod:`tezip.io.imagefiles`): palette
    images give their indices (mode ``P``; all frames must share one palette), mode ``"1"``
    gives ``uint8`` 0/1, 16-bit colour gives ``uint16``.
    """

    def __init__(self, path: str | os.PathLike[str], names: Sequence[str] | None = None) -> None:
        """The images in folder ``path``: ``names``, or every image file there."""
        self.path = Path(path)
        if not self.path.is_dir():
            raise InputError(f"{self.path}: not a folder")
        if names is None:
            readable = image_extensions()
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
        first = probe(self.path / self.names[0])
        for name in self.names[1:]:
            self._check_same(self.path / name, probe(self.path / name), first)
        self._first = first
        layout = MODES[first.mode]
        self.dtype = layout.dtype
        self.frame_shape = layout.frame_shape(first.height, first.width)

    def _check_same(self, file: Path, info: ImageInfo, first: ImageInfo) -> None:
        """Raise ``InputError`` naming ``file`` if its size, mode or palette differs from the
        first file's."""
        if (info.height, info.width, info.mode) != (first.height, first.width, first.mode):
            raise InputError(
                f"{file}: image is {info.describe()} but {self.names[0]} is {first.describe()}; "
                "all frames must share size and mode"
            )
        if (info.palette, info.transparency) != (first.palette, first.transparency):
            raise InputError(
                f"{file}: palette differs from {self.names[0]}'s; tezip packs palette images "
                "that share one palette (convert them to RGB otherwise)"
            )

    def __len__(self) -> int:
        return len(self.names)

    def read(self, start: int, stop: int) -> np.ndarray:
        self.check_range(start, stop)
        out = np.empty((stop - start, *self.frame_shape), self.dtype)

        def load(k: int) -> None:
            file = self.path / self.names[start + k]
            info = probe(file)  # the file may have changed since the folder was opened
            self._check_same(file, info, self._first)
            out[k] = read_pixels(file, info)

        thread_map(load, range(stop - start))
        return out

    def describe(self) -> dict[str, Any]:
        return {
            "kind": "images",
            "names": list(self.names),
            "modes": [self._first.mode] * len(self.names),
            "format": self._first.format or None,
            **self.palette_record(),
        }

    def palette_record(self) -> dict[str, Any]:
        """``palette`` and ``transparency`` of palette frames (empty for other modes)."""
        if self._first.mode != "P":
            return {}
        return {"palette": self._first.palette, "transparency": self._first.transparency}
