"""``tezip.motion``'s encoder: a block motion search (predictive, then diamond patterns).

Each block of the frame to code is matched against the previous reconstructed frame moved by
a vector, edge elements repeated outside it, in two walks over the block's reference channel:

- a quick one (:func:`_roughness`: absolute differences of horizontally adjacent residuals,
  so that an offset costs little, as the entropy stage predicts residuals spatially) from
  the vectors a smooth field makes likely (the predicted one, zero, the neighbours', the
  same block's in the frame before), then along large and small diamonds;
- a fine one (:func:`_mismatch`: about the bits the entropy stage would spend,
  ``log2(1 + |e|)`` over the median edge detector's errors ``e`` on the residuals) from the
  quick walk's end and the predicted vector, along small diamonds.

Each walk weighs a vector's side information bits as residual bits and stops where the
centre is best or after a few rounds. With colour, each block then takes the cheaper mode for
its other channels (:func:`_channel_bits`): moved too, or predicted by the moved reference
channel, which leaves their difference from it to spatial coding (chroma sampled on a coarser
grid than luma, as in most camera video, keeps its grid only under some vectors; a linear
measure would weigh a small error in such a quiet plane too little).

Only the encoder searches: the vectors it finds are side information, so any search decodes.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from tezip.spatial import REFERENCE_CHANNEL
from tezip_classic.motion_field import golomb, median, predicted

#: a block's residual magnitude assumed at least this, so that a perfect match still weighs
#: its vector's bits
SMALLEST_MAGNITUDE = 0.5
#: the most rounds of each pattern (starts, large diamond, small diamond) a walk takes
STEPS = np.array([[1, 8, 2], [1, 0, 1]])
#: the same for a short search (to judge motion compensation by, not to code with)
SHORT_STEPS = np.array([[1, 0, 1], [1, 0, 0]])
#: a limit no block reaches
BIG = 1 << 62
#: 16 log2(1 + e) of the errors small enough to look up
SIXTEENTHS = np.rint(16 * np.log2(1.0 + np.arange(4096))).astype(np.int64)
#: (dy, dx) of the large and the small diamond
LARGE_DIAMOND = np.array([(-2, 0), (-1, -1), (-1, 1), (0, -2), (0, 2), (1, -1), (1, 1), (2, 0)])
SMALL_DIAMOND = np.array([(-1, 0), (0, -1), (0, 1), (1, 0)])


@njit(cache=True, nogil=True, inline="always")
def _bits(error: int) -> int:
    """About the bits a residual error costs, in sixteenths: ``16 log2(1 + |error|)``,
    looked up for small errors, else from Mitchell's piecewise-linear logarithm."""
    magnitude = abs(error)  # negative only for -2**63
    if 0 <= magnitude < SIXTEENTHS.size:
        return SIXTEENTHS[magnitude]
    mantissa, exponent = math.frexp(abs(np.float64(error)) + 1.0)
    return int(16.0 * (exponent - 2.0 + 2.0 * mantissa))


@njit(cache=True, nogil=True, inline="always")
def _median_edge(west: int, north: int, northwest: int) -> int:
    """The median edge detector's prediction (LOCO-I): the median of west, north and
    west + north - northwest."""
    return median(west, north, west + north - northwest)


@njit(cache=True, nogil=True, inline="always")
def _row_bits(line: np.ndarray, above: np.ndarray, count: int, first: bool) -> int:
    """``16 log2(1 + |e|)`` over the first ``count`` residuals of a block's row, ``e`` the
    median edge detector's errors given the row ``above`` (west differences on the block's
    ``first`` row)."""
    if first:
        bits = _bits(line[0])
        for i in range(1, count):
            bits += _bits(line[i] - line[i - 1])
        return bits
    bits = _bits(line[0] - above[0])
    for i in range(1, count):
        bits += _bits(line[i] - _median_edge(line[i - 1], above[i], above[i - 1]))
    return bits


@njit(cache=True, nogil=True)
def _roughness(
    previous: np.ndarray,
    current: np.ndarray,
    box: tuple[int, int, int, int],
    dy: int,
    dx: int,
    limit: float,
) -> float:
    """A quick measure of how badly the previous frame moved by ``(dy, dx)`` predicts the
    reference channel of the block ``box``: the absolute differences of horizontally
    adjacent residuals (an offset costs only the first column); stops once past
    ``limit``."""
    height, width, channels = previous.shape
    top, left, bottom, right = box
    reference = REFERENCE_CHANNEL if channels > REFERENCE_CHANNEL else 0
    inside = left + dx >= 0 and right + dx <= width
    total = 0.0
    for y in range(top, bottom):
        source = min(max(y + dy, 0), height - 1)
        last = np.int64(0)
        for x in range(left, right):
            column = x + dx if inside else min(max(x + dx, 0), width - 1)
            residual = np.int64(current[y, x, reference]) - np.int64(
                previous[source, column, reference]
            )
            total += abs(np.float64(residual - last))  # no sum of 64-bit codes overflows
            last = residual
        if total > limit:
            break
    return total


@njit(cache=True, nogil=True)
def _mismatch(
    previous: np.ndarray,
    current: np.ndarray,
    box: tuple[int, int, int, int],
    dy: int,
    dx: int,
    limit: int,
    rows: np.ndarray,
) -> int:
    """About the bits, in sixteenths, that the entropy stage would spend on the reference
    channel of the block ``box`` (top, left, bottom, right) predicted by the previous frame
    moved by ``(dy, dx)``: ``16 log2(1 + |e|)`` over the errors ``e`` of the median edge
    detector on the residuals; stops once past ``limit``. ``rows`` ``(2, block)``: scratch.
    Codes are read as int64, so residuals wrap as the coded ones do."""
    height, width, channels = previous.shape
    top, left, bottom, right = box
    reference = REFERENCE_CHANNEL if channels > REFERENCE_CHANNEL else 0
    inside = left + dx >= 0 and right + dx <= width
    count = right - left
    total = 0
    for y in range(top, bottom):
        source = min(max(y + dy, 0), height - 1)
        above, here = rows[(y - top + 1) & 1], rows[(y - top) & 1]
        for i in range(count):
            column = left + i + dx if inside else min(max(left + i + dx, 0), width - 1)
            here[i] = np.int64(current[y, left + i, reference]) - np.int64(
                previous[source, column, reference]
            )
        total += _row_bits(here, above, count, y == top)
        if total > limit:
            break
    return total


@njit(cache=True, nogil=True)
def _channel_bits(
    previous: np.ndarray,
    current: np.ndarray,
    box: tuple[int, int, int, int],
    dy: int,
    dx: int,
    rows: np.ndarray,
) -> tuple[int, int]:
    """About the bits, in sixteenths, that the entropy stage would spend on the channels
    other than the reference in the block ``box`` predicted by the previous frame moved by
    ``(dy, dx)``, in mode 1 (by the moved reference channel: their difference from it
    stays) and in mode 0 (moved too): ``16 log2(1 + |e|)`` over the errors ``e`` of the
    median edge detector on their residuals relative to the reference channel's. ``rows``
    ``(2, 2, block)``: scratch."""
    height, width, channels = previous.shape
    top, left, bottom, right = box
    count = right - left
    kept, moving = 0, 0
    for channel in range(channels):
        if channel == REFERENCE_CHANNEL:
            continue
        for y in range(top, bottom):
            source = min(max(y + dy, 0), height - 1)
            here, above = rows[(y - top) & 1], rows[(y - top + 1) & 1]
            for i in range(count):
                origin = min(max(left + i + dx, 0), width - 1)
                difference = np.int64(current[y, left + i, channel]) - np.int64(
                    current[y, left + i, REFERENCE_CHANNEL]
                )
                here[0, i] = difference
                here[1, i] = difference - (
                    np.int64(previous[source, origin, channel])
                    - np.int64(previous[source, origin, REFERENCE_CHANNEL])
                )
            for way in range(2):  # 0: kept (mode 1), 1: moving (mode 0)
                bits = _row_bits(here[way], above[way], count, y == top)
                if way == 0:
                    kept += bits
                else:
                    moving += bits
    return kept, moving


@njit(cache=True, nogil=True, inline="always")
def _vector_bits(dy: int, dx: int) -> int:
    """Bits of the signed exponential-Golomb codes of a vector's difference from its
    prediction (motion_field)."""
    return 2 * (golomb(dy)[1] + golomb(dx)[1]) + 2


@njit(cache=True, nogil=True)
def _walk(
    previous: np.ndarray,
    current: np.ndarray,
    box: tuple[int, int, int, int],
    reach: int,
    predicted_vector: tuple[int, int],
    starts: np.ndarray,
    fine: bool,
    lines: np.ndarray,
    steps: np.ndarray,
) -> tuple[int, int]:
    """The best vector for the block ``box`` found from ``starts``: every start, then (quick
    measure) large and small diamonds, or (``fine``, :func:`_mismatch`) small diamonds
    only, each walked until its centre is best or for as many rounds as ``steps`` (row 0
    quick, row 1 fine; a column per pattern) allows. A vector's cost includes its side
    information's bits, weighed, for the quick measure, as a Laplacian residual of mean
    magnitude ``m`` gains a bit per ``m * ln 2``."""
    py, px = predicted_vector
    best_y, best_x = py, px
    if fine:
        weight = 16.0
        best = _mismatch(previous, current, box, py, px, BIG, lines) + weight * _vector_bits(0, 0)
    else:
        guess = _roughness(previous, current, box, py, px, BIG)
        elements = (box[2] - box[0]) * (box[3] - box[1])
        weight = math.log(2.0) * max(guess / elements, SMALLEST_MAGNITUDE)
        best = guess + weight * _vector_bits(0, 0)
    for pattern in range(3):
        if fine and pattern == 1:  # the quick walk has taken the large steps
            continue
        moved, rounds = True, steps[1 if fine else 0, pattern]
        while moved and rounds:
            moved, rounds = False, rounds - 1
            if pattern == 0:
                candidates = starts
            elif pattern == 1:
                candidates = LARGE_DIAMOND + np.array((best_y, best_x))
            else:
                candidates = SMALL_DIAMOND + np.array((best_y, best_x))
            for index in range(candidates.shape[0]):
                dy, dx = candidates[index, 0], candidates[index, 1]
                if abs(dy) > reach or abs(dx) > reach or (dy == best_y and dx == best_x):
                    continue
                side = weight * _vector_bits(dy - py, dx - px)
                if fine:
                    cost = side + _mismatch(previous, current, box, dy, dx, int(best - side), lines)
                else:
                    cost = side + _roughness(previous, current, box, dy, dx, best - side)
                if cost < best:
                    best_y, best_x, best = dy, dx, cost
                    moved = pattern > 0
    return best_y, best_x


@njit(cache=True, nogil=True)
def search(
    previous: np.ndarray,
    current: np.ndarray,
    block: int,
    reach: int,
    before: np.ndarray,
    steps: np.ndarray = STEPS,
) -> np.ndarray:
    """The field ``(rows, columns, 3)`` of the blocks of ``current`` ``(H, W, C)`` found in
    ``previous``: each block's vector, its components within ``[-reach, reach]``, and, with
    colour channels, its mode (1: the other channels predicted by the moved reference
    channel, where that costs less than moving them too); ``before`` is the field of the
    frame before (start points of the search). ``steps`` bounds the walks (:func:`_walk`)."""
    height, width, channels = current.shape
    rows, columns = -(-height // block), -(-width // block)
    field = np.zeros((rows, columns, 3), np.int64)
    starts = np.zeros((6, 2), np.int64)
    scratch = np.zeros((2, block), np.int64)
    modes = np.zeros((2, 2, block), np.int64)
    for row in range(rows):
        for column in range(columns):
            box = (
                row * block,
                column * block,
                min(height, (row + 1) * block),
                min(width, (column + 1) * block),
            )
            guess = (predicted(field, row, column, 0), predicted(field, row, column, 1))
            starts[1] = before[row, column, :2]
            count = 2
            if column > 0:
                starts[count] = field[row, column - 1, :2]
                count += 1
            if row > 0:
                starts[count] = field[row - 1, column, :2]
                count += 1
                if column + 1 < columns:
                    starts[count] = field[row - 1, column + 1, :2]
                    count += 1
            starts[0] = (0, 0)
            quick = _walk(
                previous, current, box, reach, guess, starts[:count], False, scratch, steps
            )
            starts[1] = quick
            best_y, best_x = _walk(
                previous, current, box, reach, guess, starts[:2], True, scratch, steps
            )
            field[row, column, 0] = best_y
            field[row, column, 1] = best_x
            if channels > REFERENCE_CHANNEL:
                kept, moving = _channel_bits(previous, current, box, best_y, best_x, modes)
                field[row, column, 2] = 1 if kept < moving else 0
    return field
