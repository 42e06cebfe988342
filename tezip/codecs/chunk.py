"""One array chunk as one compact ``.tez`` archive.

A chunk is one GOP (several only past the writer's 64 MiB per GOP), coded with ``tezip
pack``'s options. Absolute bounds only: a chunk cannot know the whole array's range, so
``rel`` is refused. The archive is a plain ``.tez`` file that any tezip reads; it is compact
because the informative header maps (``source``, ``bound``, ``gop``) are left empty, as
FORMAT.md section 4 allows, and the header lists only the predictors its GOPs use.

Chunks of any rank map to tezip's ``(frames, H, W[, C])``: a scalar or 1-D chunk is one
frame of one row, 2-D one frame, 3-D and 4-D are taken as they are, and higher ranks fold
their leading axes into frames.
"""

from __future__ import annotations

import io
from dataclasses import replace
from typing import Any

import numpy as np

from tezip.archive import Archive
from tezip.container.writer import ContainerWriter
from tezip.errors import FormatError, OptionError
from tezip.gops import GopPolicy
from tezip.io import ArraySource
from tezip.packing import configure
from tezip.parallel import budget

#: the options a chunk codec takes: ``tezip pack``'s, less those about files and GOPs
OPTIONS = (
    "lossless",
    "abs",
    "pwrel",
    "level",
    "predictor",
    "predictor_options",
    "entropy",
    "entropy_options",
    "spatial",
    "grid_phase",
    "lossless_gops",
)


def frames_shape(shape: tuple[int, ...]) -> tuple[int, ...]:
    """The ``(frames, H, W[, C])`` shape tezip codes a chunk of ``shape`` as."""
    if len(shape) <= 2:
        return (1, *(1,) * (2 - len(shape)), *shape)
    if len(shape) <= 4:
        return shape
    return (int(np.prod(shape[:-3])), *shape[-3:])


class ChunkCoder:
    """Encodes and decodes chunks with one set of options, checked on construction."""

    def __init__(self, **options: Any) -> None:
        if "rel" in options:
            raise OptionError(
                "a chunk cannot know the whole array's range; give an absolute bound (abs)",
                "rel",
            )
        unknown = sorted(set(options) - set(OPTIONS))
        if unknown:
            raise OptionError(f"a chunk codec takes {', '.join(OPTIONS)}", *unknown)
        self.options = options
        self._settings = configure(**options)

    def encode(self, chunk: np.ndarray) -> bytes:
        """The compact archive of ``chunk`` (any shape, a dtype tezip codes)."""
        source = ArraySource(chunk.reshape(frames_shape(chunk.shape)), "chunk")
        settings = self._settings
        quantizer = settings.quantizer(settings.bound, source.dtype, None)
        packer = settings.packer(source, quantizer, GopPolicy(auto=False, size=len(source)))
        with budget(1):  # chunks run in parallel in the array library's own pool
            records = [packer.encode(first, frames) for first, frames in packer.groups(source)]
        used = sorted({record.predictor for record in records})
        header = replace(
            packer.header,
            predictors=[packer.header.predictors[i] for i in used],
            source={},
            bound={},
            gop={},
        )
        stream = io.BytesIO()
        writer = ContainerWriter(stream, header)
        for record in records:
            record.predictor = used.index(record.predictor)
            writer.add_gop(record.first, record.count, record.encode())
        writer.finish()
        return stream.getvalue()

    @staticmethod
    def decode(
        data: bytes | bytearray | memoryview,
        shape: tuple[int, ...] | None = None,
        dtype: np.dtype | None = None,
    ) -> np.ndarray:
        """The chunk coded in ``data``, reshaped to ``shape`` when given; ``FormatError``
        before anything is decoded when the archive holds another number of elements or
        another dtype than ``dtype`` (any byte order)."""
        with Archive(data, threads=1) as archive:  # as encode: one thread per chunk
            if shape is not None and int(np.prod(shape)) != int(np.prod(archive.shape)):
                raise FormatError(
                    f"the chunk archive holds {list(archive.shape)} elements, not {list(shape)}"
                )
            if dtype is not None and dtype.newbyteorder("=") != archive.dtype:
                raise FormatError(f"the chunk archive holds {archive.dtype}, not {dtype}")
            frames = archive[...]
        return frames if shape is None else frames.reshape(shape)
