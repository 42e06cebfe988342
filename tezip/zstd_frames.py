"""zstd framing with size checks, shared by the core and the ``tezip.zstd`` stage."""

from __future__ import annotations

import zstandard

from tezip.errors import StreamError


def compress(data: bytes | memoryview, level: int) -> bytes:
    """One zstd frame that records its content size."""
    return zstandard.ZstdCompressor(level=level, write_content_size=True).compress(data)


def decompress_exact(data: bytes | memoryview, size: int, what: str) -> bytes:
    """Decompress one frame that must hold exactly ``size`` bytes (checked before allocating)."""
    try:
        declared = zstandard.frame_content_size(data)
    except zstandard.ZstdError as exc:
        raise StreamError(f"{what}: not a zstd frame ({exc})") from None
    if declared != size:
        raise StreamError(f"{what}: zstd frame holds {declared} bytes, expected {size}")
    try:
        out = zstandard.ZstdDecompressor().decompress(data, max_output_size=size)
    except zstandard.ZstdError as exc:
        raise StreamError(f"{what}: damaged zstd data ({exc})") from None
    if len(out) != size:
        raise StreamError(f"{what}: zstd frame decoded to {len(out)} bytes, expected {size}")
    return out
