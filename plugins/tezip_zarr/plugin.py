"""Registers the Zarr reader and writer for names such as ``run.zarr`` or ``run.zarr:/a/b``."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tezip.hookspecs import hookimpl
from tezip.io import FrameSink, FrameSource
from tezip.io.locations import split_location
from tezip_zarr.store import SUFFIXES, ZarrSink, ZarrSource


@hookimpl
def tezip_open_input(path: Path) -> FrameSource | None:
    """A :class:`ZarrSource` for a Zarr store, with ``:/path`` to the array or without (the
    store's array, or its group's one array of frames)."""
    location = split_location(path, SUFFIXES)
    return None if location is None else ZarrSource(*location)


@hookimpl
def tezip_open_output(
    path: Path, count: int, frame_shape: tuple[int, ...], dtype: np.dtype, overwrite: bool
) -> FrameSink | None:
    """A :class:`ZarrSink` for a Zarr store name (the array at the root unless named)."""
    location = split_location(path, SUFFIXES)
    if location is None:
        return None
    store, array = location
    return ZarrSink(store, array, count, frame_shape, dtype, overwrite)
