"""zstd framing with size checks, shared by the core and the ``tezip.zstd`` stage."""

from __future__ import annotations

import zstandard

from tezip.errors import StreamError

#: the most bytes one byte of a zstd frame decodes to (RFC 8878): a block holds at most
#: 128 KiB and takes at least 4 bytes (an RLE block: 3 bytes of header, 1 byte repeated), so
#: a frame declaring more than this times its length is forged, whatever it holds
MAX_EXPANSION = 32768


def compress(data: bytes | memoryview, level: int) -> bytes:
    """One zstd frame that records its content size."""
    return zstandard.ZstdCompressor(level=level, write_content_size=True).compress(data)


def decompress_exact(data: bytes | memoryview, size: int, what: str) -> bytes:
    """Decompress one frame that must hold exactly ``size`` bytes, checked before allocating:
    against the frame's declared content size, and against what a frame of its length can
    hold at all."""
    try:
        declared = zstandard.frame_content_size(data)
    except zstandard.ZstdError as exc:
        raise StreamError(f"{what}: not a zstd frame ({exc})") from None
    if declared != size:
        raise StreamError(f"{what}: zstd frame holds {declared} bytes, expected {size}")
    if size > MAX_EXPANSION * len(data):
        raise StreamError(
            f"{what}: a zstd frame of {len(data)} bytes cannot hold {size} bytes "
            f"(at most {MAX_EXPANSION} per byte)"
        )
    try:
        out = zstandard.ZstdDecompressor().decompress(data, max_output_size=size)
    except zstandard.ZstdError as exc:
        raise StreamError(f"{what}: damaged zstd data ({exc})") from None
    if len(out) != size:
        raise StreamError(f"{what}: zstd frame decoded to {len(out)} bytes, expected {size}")
    return out
