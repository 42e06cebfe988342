"""Registers the HDF5 reader and writer for names such as ``run.h5:/entry/data/data``."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tezip.hookspecs import hookimpl
from tezip.io import FrameSink, FrameSource
from tezip.io.locations import split_location
from tezip_hdf5.dataset import SUFFIXES, Hdf5Sink, Hdf5Source


@hookimpl
def tezip_open_input(path: Path) -> FrameSource | None:
    """An :class:`Hdf5Source` for an HDF5 file name, with ``:/path`` to the dataset or
    without (the file's one dataset of frames)."""
    location = split_location(path, SUFFIXES)
    return None if location is None else Hdf5Source(*location)


@hookimpl
def tezip_open_output(
    path: Path, count: int, frame_shape: tuple[int, ...], dtype: np.dtype, overwrite: bool
) -> FrameSink | None:
    """An :class:`Hdf5Sink` for an HDF5 file name (the dataset ``/data`` unless named)."""
    location = split_location(path, SUFFIXES)
    if location is None:
        return None
    file, dataset = location
    return Hdf5Sink(file, dataset, count, frame_shape, dtype, overwrite)
