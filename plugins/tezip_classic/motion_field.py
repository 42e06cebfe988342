"""A frame's block motion vectors as bytes, ``tezip.motion``'s side information.

Per block, in raster order: its mode bit where the frames have colour channels, then its
vector, predicted from the neighbours already coded (the component-wise median of left, top
and top-right, as H.264 does), the two differences written as signed exponential-Golomb
codes, most significant bit first (spec/stages/tezip.motion.md). A field of zero vectors and
modes is written as no bytes at all.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from tezip.errors import StreamError

#: the longest exponential-Golomb prefix a valid field has (the search range is at most
#: MAX_RANGE, so differences stay within 2 * MAX_RANGE)
LONGEST_PREFIX = 10
MAX_RANGE = 128


@njit(cache=True, nogil=True, inline="always")
def median(a: int, b: int, c: int) -> int:
    """The median of three, without branches."""
    return max(min(a, b), min(max(a, b), c))


@njit(cache=True, nogil=True, inline="always")
def golomb(difference: int) -> tuple[int, int]:
    """A signed exponential-Golomb code: ``(value, width)``, written as ``width`` zero bits
    and then the ``width + 1`` binary digits of ``value`` (the zigzag of ``difference``,
    plus one)."""
    value = (2 * difference if difference >= 0 else -2 * difference - 1) + 1
    width = 0
    while (value >> width) > 1:
        width += 1
    return value, width


@njit(cache=True, nogil=True, inline="always")
def _bit(data: np.ndarray, position: int) -> int:
    """Bit ``position`` of ``data``, most significant bit of each byte first."""
    return (data[position >> 3] >> (7 - (position & 7))) & 1


@njit(cache=True, nogil=True)
def predicted(vectors: np.ndarray, row: int, column: int, axis: int) -> int:
    """The prediction of one component of vector ``(row, column)`` from those before it in
    raster order: the left one on the first row, else the median of left (top where there
    is none), top and top-right (top-left where there is none, top where neither is)."""
    if row == 0:
        return vectors[row, column - 1, axis] if column > 0 else 0
    top = vectors[row - 1, column, axis]
    left = vectors[row, column - 1, axis] if column > 0 else top
    if column + 1 < vectors.shape[1]:
        right = vectors[row - 1, column + 1, axis]
    else:
        right = vectors[row - 1, column - 1, axis] if column > 0 else top
    return median(left, top, right)


@njit(cache=True, nogil=True)
def _encoded(vectors: np.ndarray, modes: bool) -> np.ndarray:
    rows, columns = vectors.shape[:2]
    out = np.zeros(rows * columns * (4 * LONGEST_PREFIX + 3) // 8 + 1, np.uint8)
    position = 0
    for row in range(rows):
        for column in range(columns):
            if modes:
                if vectors[row, column, 2]:
                    out[position >> 3] |= np.uint8(0x80 >> (position & 7))
                position += 1
            for axis in range(2):
                difference = vectors[row, column, axis] - predicted(vectors, row, column, axis)
                value, width = golomb(difference)
                position += width  # the prefix: ``width`` zeros
                for bit in range(width, -1, -1):
                    if (value >> bit) & 1:
                        out[position >> 3] |= np.uint8(0x80 >> (position & 7))
                    position += 1
    return out[: (position + 7) >> 3]


def encode_field(vectors: np.ndarray, modes: bool) -> bytes:
    """The bytes of a field ``(rows, columns, 3)`` of integer vectors and each block's mode
    (0 or 1, written only with ``modes``); ``b""`` when all are zero."""
    if not vectors.any():
        return b""
    return _encoded(np.ascontiguousarray(vectors, dtype=np.int64), modes).tobytes()


@njit(cache=True, nogil=True)
def _decoded(data: np.ndarray, vectors: np.ndarray, limit: int, modes: bool) -> int:
    """Fill ``vectors`` from ``data``; 0 when it holds exactly a valid field, else the
    number of the fault (1: ends early, 2: prefix too long, 3: component past ``limit``,
    4: bytes or bits left over)."""
    rows, columns = vectors.shape[:2]
    total = data.size * 8
    position = 0
    for row in range(rows):
        for column in range(columns):
            if modes:
                if position >= total:
                    return 1
                vectors[row, column, 2] = _bit(data, position)
                position += 1
            for axis in range(2):
                width = 0
                while True:
                    if position >= total:
                        return 1
                    if _bit(data, position):
                        break
                    width += 1
                    position += 1
                    if width > LONGEST_PREFIX:
                        return 2
                if position + width + 1 > total:
                    return 1
                value = 0
                for _ in range(width + 1):
                    value = (value << 1) | _bit(data, position)
                    position += 1
                value -= 1
                difference = value >> 1 if value & 1 == 0 else -((value + 1) >> 1)
                component = predicted(vectors, row, column, axis) + difference
                if abs(component) > limit:
                    return 3
                vectors[row, column, axis] = component
    if (position + 7) >> 3 != data.size:
        return 4
    for bit in range(position, total):
        if _bit(data, bit):
            return 4
    return 0


FAULTS = {
    1: "ends before the last vector",
    2: "holds a code longer than any vector needs",
    3: "holds a vector beyond the search range",
    4: "has bits left over after the last vector",
}


def decode_field(data: bytes, rows: int, columns: int, limit: int, modes: bool) -> np.ndarray:
    """The field ``(rows, columns, 3)`` that :func:`encode_field` wrote, each component
    within ``[-limit, limit]``; ``StreamError`` when ``data`` is not exactly such a field."""
    vectors = np.zeros((rows, columns, 3), np.int64)
    if data:
        fault = _decoded(np.frombuffer(data, np.uint8), vectors, limit, modes)
        if fault:
            raise StreamError(f"tezip.motion side information {FAULTS[fault]}")
    return vectors
