"""Reading input frames (:class:`FrameSource`) and writing decoded frames (:class:`FrameSink`)."""

from __future__ import annotations

import os
from pathlib import Path

from tezip.io.images import ImageFolderSource
from tezip.io.naming import natural_key
from tezip.io.npy import NpySource
from tezip.io.sinks import FrameSink, ImageFolderSink, NpySink, open_sink
from tezip.io.source import ArraySource, FrameSource

__all__ = [
    "ArraySource",
    "FrameSink",
    "FrameSource",
    "ImageFolderSink",
    "ImageFolderSource",
    "NpySink",
    "NpySource",
    "natural_key",
    "open_sink",
    "open_source",
]


def open_source(path: str | os.PathLike[str]) -> FrameSource:
    """The frame source for ``path`` from the first plugin that reads it (``tezip_open_input``)."""
    from tezip.registry import get_registry  # deferred: the registry loads plugins using tezip.io

    return get_registry().open_input(Path(path))
