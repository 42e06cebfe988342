"""The numcodecs codec ``tezip`` (entry point ``numcodecs.codecs``; ``pip install
'tezip[zarr]'``), for Zarr format 2 arrays and anything else that takes numcodecs codecs."""

from __future__ import annotations

from typing import Any

from numcodecs.abc import Codec
from numcodecs.compat import ensure_contiguous_ndarray, ensure_ndarray, ndarray_copy

from tezip.codecs.chunk import ChunkCoder


class Tezip(Codec):  # type: ignore[misc]  # numcodecs is untyped
    """Error-bounded predictive compression of each chunk: ``Tezip(abs=0.5, level=5)``.

    Options are ``tezip pack``'s (:data:`tezip.codecs.chunk.OPTIONS`; absolute bounds only);
    lossless without a bound. As numcodecs' compressors, it codes a chunk's memory (C or
    Fortran order) and ``decode`` returns the elements flat, in that order, or fills ``out``.
    """

    codec_id = "tezip"

    def __init__(self, **options: Any) -> None:
        self._coder = ChunkCoder(**options)
        self.__dict__.update(options)  # the configuration numcodecs records

    def encode(self, buf: Any) -> bytes:
        chunk = ensure_ndarray(buf)
        if chunk.dtype.hasobject:
            raise TypeError("tezip cannot encode an array of Python objects")
        if chunk.flags.f_contiguous and not chunk.flags.c_contiguous:
            chunk = chunk.T  # numcodecs codes memory: decoded, the bytes come back in F order
        return self._coder.encode(chunk)

    def decode(self, buf: Any, out: Any = None) -> Any:
        elements = self._coder.decode(memoryview(ensure_contiguous_ndarray(buf))).reshape(-1)
        if out is None:
            return elements
        ensure_contiguous_ndarray(out)  # a TypeError for an array of objects
        return ndarray_copy(elements, out)
