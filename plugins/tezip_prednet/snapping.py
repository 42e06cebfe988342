"""Snapping network outputs to a fixed-point grid identically on every device.

The only step whose floats differ between devices is the network. Its output, a correction
in normalised units, is added to the base (the previous frame, or two frames' linear
extrapolation) and rounded to the fixed-point grid ``2**-bits``; everything after that is
float64 arithmetic that every device rounds the same. The encoder lists the elements whose
unrounded value lies within ``margin`` of a rounding boundary, with the direction it chose;
the decoder rounds those the same way however its floats came out. Side bytes: ``u32``
count, then zstd of ``u32`` position deltas and one direction bit per element.

The arithmetic of a frame (spec/stages/tezip.prednet.md, steps 2-4 up to ``from_values``)
runs in one compiled pass per frame.
"""

from __future__ import annotations

import struct

import numpy as np
from numba import njit

from tezip.errors import StreamError
from tezip.zstd_frames import compress, decompress_exact
from tezip_prednet.normalise import CLIP, Normaliser

_LEVEL = 3
#: corrections are clipped to the widest step between two normalised values
CORRECTION = (CLIP[0] - CLIP[1], CLIP[1] - CLIP[0])


def snapped_values(
    normaliser: Normaliser,
    base: np.ndarray,
    correction: np.ndarray,
    margin: float,
    side: bytes | None,
) -> tuple[np.ndarray, bytes]:
    """Values (float64, the frame's shape) of the prediction ``base + correction`` snapped
    to the fixed-point grid, and the side information that snaps them identically elsewhere.

    ``base`` is normalised (float64), ``correction`` the network's output in frame layout
    (any float dtype). Encoding (``side`` is ``None``) records the ambiguous elements;
    decoding rounds them as ``side`` says."""
    size = base.size
    record = side is None
    if record:
        positions, ups = np.empty(size, np.int64), np.empty(size, np.uint8)
    else:
        positions, ups = _parse(side, size)
    values = np.empty(size, np.float64)
    count = _snap(
        np.ascontiguousarray(base, dtype=np.float64).reshape(-1),
        np.ascontiguousarray(correction).reshape(-1),
        margin,
        float(2**normaliser.bits),
        normaliser.low,
        normaliser.scale,
        record,
        np.empty(size if record else 0, np.uint8),
        positions,
        ups,
        values,
    )
    if record:
        side = _side(positions[:count], ups[:count])
    return values.reshape(base.shape), side


def _side(positions: np.ndarray, ups: np.ndarray) -> bytes:
    if not positions.size:
        return b""
    deltas = np.diff(positions, prepend=0).astype("<u4")
    payload = compress(deltas.tobytes() + np.packbits(ups).tobytes(), _LEVEL)
    return struct.pack("<I", positions.size) + payload


def _parse(side: bytes, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Positions and directions of the listed elements of a frame of ``size`` elements."""
    if not side:
        return np.empty(0, np.int64), np.empty(0, np.uint8)
    if len(side) < 4 or struct.unpack_from("<I", side)[0] > size:
        raise StreamError("tezip.prednet: malformed snapping side information")
    (count,) = struct.unpack_from("<I", side)
    raw = decompress_exact(side[4:], 4 * count + (count + 7) // 8, "tezip.prednet snapping")
    positions = np.cumsum(np.frombuffer(raw, "<u4", count), dtype=np.int64)
    if count and positions[-1] >= size:
        raise StreamError("tezip.prednet: snapping position out of range")
    ups = np.unpackbits(np.frombuffer(raw, np.uint8, offset=4 * count), count=count)
    return positions, ups


@njit(cache=True, nogil=True)
def _snap(
    base: np.ndarray,
    correction: np.ndarray,
    margin: float,
    up: float,
    low: float,
    scale: float,
    record: bool,
    flags: np.ndarray,
    positions: np.ndarray,
    ups: np.ndarray,
    values: np.ndarray,
) -> int:
    """Snap every element into ``values`` (``up`` is ``2**bits``). Recording, list the
    ambiguous elements in ``positions`` / ``ups`` and return their count (``flags`` holds
    each element's verdict first, so that the pass over all of them vectorises); else
    round the listed ones as ``ups`` says."""
    for i in range(values.size):
        c, s = _scaled(base[i], correction[i], up)
        grid = np.floor(s + 0.5)
        values[i] = _value(grid, up, low, scale)
        if record:
            below = np.floor(s)
            near = abs(s - below - 0.5) < margin * (abs(c) + 1e-3) * up
            flags[i] = near * (1 + (grid > below))
    if record:
        count = 0
        for i in range(flags.size):
            if flags[i]:
                positions[count], ups[count] = i, flags[i] - 1
                count += 1
        return count
    for k in range(positions.size):
        i = positions[k]
        _, s = _scaled(base[i], correction[i], up)
        values[i] = _value(np.floor(s) + ups[k], up, low, scale)
    return positions.size


@njit(cache=True, nogil=True)
def _scaled(base: float, correction: float, up: float) -> tuple[float, float]:
    """The correction clipped (NaN -> 0) and the unrounded prediction in grid units."""
    c = np.float64(correction)
    if np.isnan(c):
        c = 0.0
    c = min(max(c, CORRECTION[0]), CORRECTION[1])
    return c, (base + c) * up


@njit(cache=True, nogil=True)
def _value(grid: float, up: float, low: float, scale: float) -> float:
    """The value of a grid point, clipped to the normalised range (``* (1 / up)`` is
    exactly ``/ up``: ``up`` is a power of two)."""
    grid = min(max(grid, CLIP[0] * up), CLIP[1] * up)
    return low + grid * (1.0 / up) * scale
