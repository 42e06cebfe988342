"""Cheap estimates of how many bits residuals will cost, used to choose between options:
spatial modes (``tezip.lorenzo``), predictors and keyframes (the encoder) all rank their
candidates by the estimated cost after the best spatial mode."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numba import njit
from numba.cpython.unsafe.numbers import leading_zeros

from tezip.spatial import (
    LEFT,
    MODES,
    REFERENCE_CHANNEL,
    channels_of,
    difference,
    spatial_modes,
)

#: per-frame estimated bits of residual row pairs ``(n, k, 2, W[, C])``
Estimate = Callable[[np.ndarray], np.ndarray]


def estimated_bits(residuals: np.ndarray, frames_axis: bool = False) -> np.ndarray:
    """Approximate coded size of residuals: the sum of ``log2(1 + |r|)``.

    Unsigned arrays are read as wrapped two's-complement residuals. A Laplacian-like residual
    costs about that many bits per element beyond a constant, so these sums rank predictors
    and spatial modes the way an entropy coder would. With ``frames_axis`` the sum is taken
    per entry of the first axis.
    """
    if residuals.dtype.kind == "u":
        residuals = residuals.view(f"int{residuals.dtype.itemsize * 8}")
    # floor(log2(1 + |r|)) read off the float32 exponent: no transcendental function needed
    one_plus = np.abs(residuals.astype(np.float32)) + np.float32(1.0)
    magnitude = (one_plus.view(np.int32) >> 23) - 127
    if frames_axis:
        return magnitude.sum(axis=tuple(range(1, magnitude.ndim)), dtype=np.float64)
    return np.asarray(magnitude.sum(dtype=np.float64))


def row_pairs(frames: np.ndarray, budget: int = 4096) -> np.ndarray:
    """Evenly spread pairs of adjacent rows of frames ``(n, H, W[, C])``, about ``budget``
    elements per frame (at least 2 and at most 16 pairs).

    Returns ``(n, k, 2, W[, C])``: enough to compare spatial modes and point-wise predictors
    at a small fraction of the cost of whole frames. Frames of one row give ``k = 0``.
    """
    height, row = frames.shape[1], int(np.prod(frames.shape[2:]))
    count = min(16, max(2, budget // (2 * row)), height - 1)
    rows = np.unique(np.linspace(1, height - 1, count).astype(np.intp))
    return np.stack([frames[:, rows - 1], frames[:, rows]], axis=2)


#: fewest consecutive frames in a sample of :func:`row_bands`
RUN = 4


def row_bands(frames: np.ndarray, rows: int = 8, budget: int = 1 << 15) -> np.ndarray:
    """A sample of frames ``(n, H, W[, C])`` for coding trials, about ``budget`` elements
    per channel: bands of ``rows`` rows evenly spaced from the top rows to the bottom rows
    (at most 8 bands; one sits in the middle), cut to their middle columns where the frames
    are wide, in a run of consecutive frames from the middle of the stack (at least
    :data:`RUN`, so that temporal predictors and context have history).

    Returns ``(m, bands * rows, w[, C])``."""
    frames_count, height, width = frames.shape[:3]
    band = min(rows, height)
    bands = max(1, min(8, height // band))
    columns = min(width, max(64, budget // (RUN * bands * band)))
    run = max(RUN, budget // (bands * band * columns))
    first = max(0, (frames_count - run) // 2)
    # the first and last bands reach the edges, where frames often hold what their middle
    # lacks (overlays, scale bars, detector borders); a single band sits in the middle
    ends = (0, height - band) if bands > 1 else ((height - band) / 2,) * 2
    tops = np.round(np.linspace(*ends, bands)).astype(np.int64)
    chosen = (tops[:, None] + np.arange(band)).ravel()
    left = (width - columns) // 2
    return np.ascontiguousarray(frames[first : first + run][:, chosen, left : left + columns])


def mode_costs(pairs: np.ndarray) -> np.ndarray:
    """Estimated bits ``(len(modes), n)`` of each of :func:`spatial_modes` on integer row
    pairs ``(n, k, 2, W[, C])``: :func:`estimated_bits` of the lower rows as they are, less
    their west neighbours, less the upper rows, less both (the plane), each wrapping in the
    pairs' width, and with colour those four again less the reference channel."""
    if pairs.dtype.kind not in "ui":
        raise TypeError(f"mode costs are estimated on integers, not {pairs.dtype}")
    return _mode_bits(wide_words(pairs), pairs.dtype.itemsize * 8, channels_of(pairs, 4) >= 2)


def wide_words(pairs: np.ndarray) -> np.ndarray:
    """Integer row pairs ``(n, k, 2, W[, C])`` as unsigned words (signed ones wrap alike)
    held in 64 bits, ``(n, k, 2, W, C)`` and contiguous: one compiled form of a kernel for
    every width and layout (pairs are a sample, so the copy is small)."""
    words = pairs.view(f"uint{pairs.dtype.itemsize * 8}")
    return np.ascontiguousarray(words if pairs.ndim == 5 else words[..., None], np.uint64)


@njit(cache=True, nogil=True)
def _mode_bits(pairs: np.ndarray, bits: int, channels: bool) -> np.ndarray:
    """:func:`mode_costs` in one pass over row pairs ``(n, k, 2, W, C)`` of ``bits``-wide
    unsigned words held in 64 bits (``channels``: the reference-relative modes too), each
    residual read as a signed ``bits``-wide integer and costed as :func:`estimated_bits`
    does."""
    frames, count, _, width, depth = pairs.shape
    modes = len(MODES)
    out = np.zeros((2 * modes if channels else modes, frames), np.float64)
    shift = np.uint64(64 - bits)
    number = np.zeros(1, np.float32)
    word = number.view(np.int32)  # the float's bits: its exponent is floor(log2)
    totals = np.zeros(2 * modes, np.int64)
    for frame in range(frames):
        totals[:] = 0
        for pair in range(count):
            for x in range(width):
                if channels:
                    references = _residuals(pairs, frame, pair, x, REFERENCE_CHANNEL)
                for c in range(depth):
                    own = _residuals(pairs, frame, pair, x, c)
                    for mode in range(modes):
                        magnitude = _magnitude(own[mode], shift, number, word)
                        totals[mode] += magnitude
                        if channels:  # the reference channel stays as it is
                            related = own[mode] - references[mode]
                            if c != REFERENCE_CHANNEL:
                                magnitude = _magnitude(related, shift, number, word)
                            totals[modes + mode] += magnitude
        for row in range(len(out)):  # element by element: a slice assignment compiles a
            out[row, frame] = totals[row]  # shape check and its message, seconds on first use
    return out


@njit(cache=True, nogil=True)
def _residuals(
    pairs: np.ndarray, frame: int, pair: int, x: int, c: int
) -> tuple[np.uint64, np.uint64, np.uint64, np.uint64]:
    """The lower row's element ``x`` as it is, less its west neighbour, less the upper row,
    less both (the first column's west is zero), wrapping in 64 bits."""
    above, below = np.uint64(pairs[frame, pair, 0, x, c]), np.uint64(pairs[frame, pair, 1, x, c])
    west_above = np.uint64(pairs[frame, pair, 0, x - 1, c]) if x else np.uint64(0)
    west_below = np.uint64(pairs[frame, pair, 1, x - 1, c]) if x else np.uint64(0)
    left = below - west_below
    return below, left, below - above, left - (above - west_above)


@njit(cache=True, nogil=True)
def _magnitude(value: np.uint64, shift: np.uint64, number: np.ndarray, word: np.ndarray) -> int:
    """:func:`bit_magnitude` of a word read as a signed integer of ``64 - shift`` bits."""
    return bit_magnitude(np.int64(value << shift) >> np.int64(shift), number, word)


@njit(cache=True, nogil=True)
def bit_magnitude(residual: np.int64, number: np.ndarray, word: np.ndarray) -> int:
    """``floor(log2(1 + |r|))`` of a residual as :func:`estimated_bits` computes it: exact
    from its leading zeros below 2**24, else through float32, which rounds there (``number``:
    room for one float32, ``word``: its bits viewed as int32)."""
    if -(1 << 24) < residual < 1 << 24:
        return 63 - leading_zeros(np.uint64(abs(residual) + 1))
    number[0] = abs(np.float32(residual)) + np.float32(1.0)
    return (word[0] >> 23) - 127  # the float's exponent is its floor(log2)


def spatial_cost(pairs: np.ndarray) -> np.ndarray:
    """Per-frame cost ``(n,)`` after each frame's best spatial mode."""
    if pairs.shape[1] == 0:
        return np.zeros(len(pairs))
    return mode_costs(pairs).min(axis=0)


def best_modes(residuals: np.ndarray) -> np.ndarray:
    """Per frame of a stack ``(n, H, W[, C])``, the spatial mode (uint8) with the smallest
    estimated cost on a sample of row pairs."""
    if not residuals.size:
        return np.zeros(len(residuals), np.uint8)
    if residuals.shape[1] < 2:  # one row: only left differences make sense
        left = estimated_bits(difference(residuals, 2), frames_axis=True)
        none = estimated_bits(residuals, frames_axis=True)
        return np.where(left < none, LEFT, 0).astype(np.uint8)
    modes = np.array(spatial_modes(channels_of(residuals, 3)), np.uint8)
    return modes[mode_costs(row_pairs(residuals)).argmin(axis=0)]
