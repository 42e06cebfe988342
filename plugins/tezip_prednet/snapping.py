"""Snapping network outputs to a fixed-point grid identically on every device.

The only step whose floats differ between devices is the network. Its output, a correction
in normalised units, is added to the previous frame and rounded to the fixed-point grid
``2**-bits`` (everything after that is deterministic NumPy on integers and float64). The
encoder lists the elements whose unrounded value lies within ``margin`` of a rounding
boundary, with the direction it chose; the decoder rounds those the same way however its
floats came out. Side bytes: ``u32`` count, then zstd of ``u32`` position deltas and one
direction bit per element.
"""

from __future__ import annotations

import struct

import numpy as np

from tezip.errors import StreamError
from tezip.zstd_frames import compress, decompress_exact

_LEVEL = 3


def tolerance(correction: np.ndarray, margin: float, bits: int) -> np.ndarray:
    """Half-width, in grid units, of the band around a boundary treated as ambiguous.

    Relative to the correction's magnitude (float error scales with it) with a floor of
    ``margin * 1e-3`` for corrections near zero.
    """
    return np.ldexp(margin * (np.abs(correction) + 1e-3), bits)


def snap_encode(scaled: np.ndarray, band: np.ndarray) -> tuple[np.ndarray, bytes]:
    """Round ``scaled`` (values in grid units) and describe the ambiguous elements."""
    below = np.floor(scaled)
    rounded = np.floor(scaled + 0.5)
    ambiguous = np.flatnonzero(np.abs(scaled - below - 0.5) < band.reshape(scaled.shape))
    if not ambiguous.size:
        return rounded, b""
    flat_rounded, flat_below = rounded.reshape(-1), below.reshape(-1)
    up = flat_rounded[ambiguous] > flat_below[ambiguous]
    deltas = np.diff(ambiguous, prepend=0).astype("<u4")
    payload = compress(deltas.tobytes() + np.packbits(up).tobytes(), _LEVEL)
    return rounded, struct.pack("<I", ambiguous.size) + payload


def snap_decode(scaled: np.ndarray, side: bytes) -> np.ndarray:
    """Round ``scaled`` as the encoder did, using its list of ambiguous elements."""
    rounded = np.floor(scaled + 0.5)
    if not side:
        return rounded
    if len(side) < 4 or struct.unpack_from("<I", side)[0] > scaled.size:
        raise StreamError("tezip.prednet: malformed snapping side information")
    (count,) = struct.unpack_from("<I", side)
    raw = decompress_exact(side[4:], 4 * count + (count + 7) // 8, "tezip.prednet snapping")
    positions = np.cumsum(np.frombuffer(raw, "<u4", count), dtype=np.int64)
    if count and positions[-1] >= scaled.size:
        raise StreamError("tezip.prednet: snapping position out of range")
    up = np.unpackbits(np.frombuffer(raw, np.uint8, offset=4 * count), count=count)
    flat = rounded.reshape(-1)
    flat[positions] = np.floor(scaled.reshape(-1)[positions]) + up
    return rounded
