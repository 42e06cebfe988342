"""Exact PNG reading and writing for the layouts Pillow converts: 16-bit colour.

Pillow opens 16-bit RGB, RGBA and grey+alpha PNGs as 8-bit images (it keeps the high byte).
This module decodes and encodes those files itself, sample for sample: chunks are checked
(CRCs, IHDR fields, the inflated size), the five PNG row filters are undone by a compiled
kernel, and frames are written with the Up filter at zlib level 1. Interlaced files are not
read (Adam7); the caller refuses them with a one-line error.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

import numpy as np
from numba import njit

from tezip.errors import InputError

SIGNATURE = b"\x89PNG\r\n\x1a\n"
#: samples per pixel of each PNG colour type (grey, RGB, palette, grey+alpha, RGBA)
CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}
_COLOUR_OF_CHANNELS = {1: 0, 3: 2, 2: 4, 4: 6}
_CHUNK_HEAD = struct.Struct(">I4s")
_IHDR = struct.Struct(">IIBBBBB")


@dataclass(frozen=True)
class PngInfo:
    """The IHDR fields of a PNG file."""

    width: int
    height: int
    depth: int  # bits per sample
    colour: int  # PNG colour type
    interlaced: bool

    @property
    def channels(self) -> int:
        return CHANNELS[self.colour]


def _chunks(data: bytes, name: str) -> list[tuple[bytes, bytes]]:
    """Every ``(type, payload)`` up to IEND, each CRC checked."""
    if not data.startswith(SIGNATURE):
        raise InputError(f"{name}: not a PNG file")
    chunks, position = [], len(SIGNATURE)
    while position + 12 <= len(data):
        length, kind = _CHUNK_HEAD.unpack_from(data, position)
        end = position + 8 + length
        if end + 4 > len(data):
            break
        payload = data[position + 8 : end]
        (crc,) = struct.unpack_from(">I", data, end)
        if zlib.crc32(kind + payload) != crc:
            raise InputError(f"{name}: PNG chunk {kind!r} fails its CRC")
        chunks.append((kind, payload))
        if kind == b"IEND":
            return chunks
        position = end + 4
    raise InputError(f"{name}: PNG file is truncated")


def read_info(data: bytes, name: str) -> PngInfo:
    """The IHDR of a PNG file's bytes (``InputError`` if it is not a PNG)."""
    if len(data) < 33 or not data.startswith(SIGNATURE) or data[12:16] != b"IHDR":
        raise InputError(f"{name}: not a PNG file")
    width, height, depth, colour, _, _, interlace = _IHDR.unpack_from(data, 16)
    if colour not in CHANNELS or width < 1 or height < 1:
        raise InputError(f"{name}: PNG header is invalid")
    return PngInfo(width, height, depth, colour, interlace != 0)


@njit(cache=True, nogil=True)
def _unfilter(raw: np.ndarray, out: np.ndarray, pixel_bytes: int) -> int:
    """Undo the per-row PNG filters of ``raw`` into ``out`` (rows x stride bytes).

    Returns the number of the first row with an unknown filter type, or -1.
    """
    height, stride = out.shape
    for y in range(height):
        base = y * (stride + 1)
        kind = raw[base]
        if kind > 4:
            return y
        for i in range(stride):
            value = np.int32(raw[base + 1 + i])
            left = np.int32(out[y, i - pixel_bytes]) if i >= pixel_bytes else np.int32(0)
            up = np.int32(out[y - 1, i]) if y > 0 else np.int32(0)
            corner = np.int32(out[y - 1, i - pixel_bytes]) if y > 0 and i >= pixel_bytes else 0
            if kind == 1:
                value += left
            elif kind == 2:
                value += up
            elif kind == 3:
                value += (left + up) >> 1
            elif kind == 4:
                estimate = left + up - corner
                to_left, to_up = abs(estimate - left), abs(estimate - up)
                to_corner = abs(estimate - corner)
                if to_left <= to_up and to_left <= to_corner:
                    value += left
                elif to_up <= to_corner:
                    value += up
                else:
                    value += corner
            out[y, i] = value & 0xFF
    return -1


def decode(data: bytes, name: str) -> np.ndarray:
    """Pixels of a non-interlaced 8- or 16-bit grey, RGB, grey+alpha or RGBA PNG, exactly.

    16-bit samples come back as native ``uint16``; frames are ``(H, W)`` for one channel,
    else ``(H, W, C)``.
    """
    info = read_info(data, name)
    if info.interlaced or info.depth not in (8, 16) or info.colour == 3:
        raise InputError(f"{name}: tezip reads this PNG layout with Pillow, not exactly here")
    chunks = _chunks(data, name)
    sample_bytes = info.depth // 8
    pixel_bytes = info.channels * sample_bytes
    stride = info.width * pixel_bytes
    expected = info.height * (stride + 1)
    inflater = zlib.decompressobj()
    try:
        raw = inflater.decompress(b"".join(p for k, p in chunks if k == b"IDAT"), expected)
    except zlib.error as err:
        raise InputError(f"{name}: PNG image data is damaged ({err})") from None
    if len(raw) != expected:
        raise InputError(f"{name}: PNG image data holds {len(raw)} bytes, expected {expected}")
    rows = np.empty((info.height, stride), np.uint8)
    bad_row = _unfilter(np.frombuffer(raw, np.uint8), rows, pixel_bytes)
    if bad_row >= 0:
        raise InputError(f"{name}: PNG row {bad_row} has an unknown filter type")
    dtype = np.dtype(">u2") if sample_bytes == 2 else np.dtype(np.uint8)
    shape = (info.height, info.width) + ((info.channels,) if info.channels > 1 else ())
    return rows.view(dtype).reshape(shape).astype(dtype.newbyteorder("="))


def _chunk(kind: bytes, payload: bytes) -> bytes:
    return (
        _CHUNK_HEAD.pack(len(payload), kind)
        + payload
        + struct.pack(">I", zlib.crc32(kind + payload))
    )


def encode(frame: np.ndarray, level: int = 1) -> bytes:
    """A PNG holding ``frame`` (``uint8``/``uint16``, ``(H, W)`` or ``(H, W, 1..4)``) exactly.

    Every row but the first uses the Up filter (byte-wise difference with the row above).
    """
    channels = frame.shape[2] if frame.ndim == 3 else 1
    height, width = frame.shape[:2]
    depth = frame.dtype.itemsize * 8
    rows = np.ascontiguousarray(frame, frame.dtype.newbyteorder(">")).view(np.uint8)
    rows = rows.reshape(height, -1)
    filtered = np.empty((height, rows.shape[1] + 1), np.uint8)
    filtered[:, 0] = 2
    filtered[0, 0] = 0
    filtered[0, 1:] = rows[0]
    np.subtract(rows[1:], rows[:-1], out=filtered[1:, 1:])
    header = _IHDR.pack(width, height, depth, _COLOUR_OF_CHANNELS[channels], 0, 0, 0)
    return b"".join(
        (
            SIGNATURE,
            _chunk(b"IHDR", header),
            _chunk(b"IDAT", zlib.compress(filtered.tobytes(), level)),
            _chunk(b"IEND", b""),
        )
    )
