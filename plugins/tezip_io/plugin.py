"""Registers tezip's own readers last-resort style, so a third-party plugin may take a path."""

from __future__ import annotations

from pathlib import Path

from tezip.hookspecs import hookimpl
from tezip.io import FrameSource, ImageFolderSource, NpySource


@hookimpl(trylast=True)
def tezip_open_input(path: Path) -> FrameSource | None:
    """An :class:`ImageFolderSource` for a folder, an :class:`NpySource` for a ``.npy`` file."""
    if path.is_dir():
        return ImageFolderSource(path)
    if path.suffix.lower() == ".npy" and path.is_file():
        return NpySource(path)
    return None
