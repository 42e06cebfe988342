"""Registers tezip's own readers last-resort style, so a third-party plugin may take a path."""

from __future__ import annotations

from pathlib import Path

from tezip.hookspecs import hookimpl
from tezip.io import FrameSource, ImageFolderSource, NpySource
from tezip.io.images import image_extensions
from tezip.io.tiffstack import SUFFIXES as TIFF_SUFFIXES
from tezip.io.tiffstack import TiffStackSource


@hookimpl(trylast=True)
def tezip_open_input(path: Path) -> FrameSource | None:
    """An :class:`ImageFolderSource` for a folder or one image file, an :class:`NpySource`
    for a ``.npy`` file, a :class:`TiffStackSource` for a TIFF file (one page or many)."""
    if path.is_dir():
        return ImageFolderSource(path)
    if not path.is_file():
        return None
    suffix = path.suffix.lower()
    if suffix == ".npy":
        return NpySource(path)
    if suffix in TIFF_SUFFIXES:
        return TiffStackSource(path)
    if suffix in image_extensions():
        return ImageFolderSource(path.parent, [path.name])
    return None
