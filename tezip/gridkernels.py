"""Compiled passes of the grid quantizer (FORMAT.md 5.2) for data too wide for a table.

Two passes over a GOP: the first finds every element's ``q`` and the range of the valid
ones, the second turns them into codes, reconstructs each element in the output dtype and
marks the elements that miss the bound (or cannot be represented) as outliers, whose exact
value the reconstruction then holds. Each element's arithmetic is the scalar function the
decoder's formula states, and each pass's step at one element a function of its own, so the
GPU twins (:mod:`tezip.gridcuda`) run the same code.
"""

from __future__ import annotations

import numpy as np
from numba import njit
from numpy import rint  # by name: the CUDA twins put the device's rint in its place

#: |q| beyond this would overflow int64 arithmetic: such elements are stored exactly
Q_LIMIT = 2.0**62


@njit(cache=True)
def integer_q(value: np.int64, tolerance: np.int64, step: np.int64, phase: np.int64) -> np.int64:
    """``(x + t - a) // step`` (floor division)."""
    return (value + tolerance - phase) // step


@njit(cache=True)
def integer_value(
    q: np.int64, step: np.int64, phase: np.int64, low: np.int64, high: np.int64
) -> np.int64:
    """``min(max(q * step + a, MIN), MAX)``."""
    return min(max(q * step + phase, low), high)


@njit(cache=True)
def product(a: np.float64, b: np.float64) -> np.float64:
    """``a * b``, rounded on its own. The GPU twins use the device's ``__dmul_rn``: NVVM
    fuses a plain ``a * b + c`` into a multiply-add, which rounds once, unlike the CPU."""
    return a * b


@njit(cache=True)
def float_q(value: np.float64, step: np.float64, phase: np.float64) -> np.float64:
    """``rint((x - a) / step)``; NaN or beyond :data:`Q_LIMIT` when not representable."""
    return rint((value - phase) / step)


@njit(cache=True, nogil=True)
def integers(
    frames: np.ndarray, tolerance: int, step: int, phase: int, q: np.ndarray
) -> tuple[int, int]:
    """First pass over integer frames (flat): ``q`` of each, and their range."""
    low, high = np.int64(2**62), np.int64(-(2**62))
    for index in range(frames.size):
        value = integer_q(np.int64(frames[index]), tolerance, step, phase)
        q[index] = value
        low, high = min(low, value), max(high, value)
    return low, high


@njit(cache=True, nogil=True)
def integer_codes(
    frames: np.ndarray,
    q: np.ndarray,
    offset: int,
    step: int,
    phase: int,
    bounds: tuple[int, int],
    tolerance: int,
    codes: np.ndarray,
    reconstruction: np.ndarray,
    outliers: np.ndarray,
) -> int:
    """Second pass over integer frames: codes, reconstruction, outliers; returns how many."""
    missed = 0
    for index in range(frames.size):
        missed += integer_code(
            frames,
            q,
            index,
            offset,
            step,
            phase,
            bounds[0],
            bounds[1],
            tolerance,
            codes,
            reconstruction,
            outliers,
        )
    return missed


@njit(cache=True)
def integer_code(
    frames: np.ndarray,
    q: np.ndarray,
    index: int,
    offset: np.int64,
    step: np.int64,
    phase: np.int64,
    low: np.int64,
    high: np.int64,
    tolerance: np.int64,
    codes: np.ndarray,
    reconstruction: np.ndarray,
    outliers: np.ndarray,
) -> bool:
    """The second pass at integer element ``index``: its code, its reconstruction and
    whether it is an outlier (returned too)."""
    at = np.uint64(index)
    value = integer_value(q[at], step, phase, low, high)
    original = np.int64(frames[at])
    miss = abs(value - original) > tolerance
    codes[at] = q[at] - offset
    reconstruction[at] = original if miss else value
    outliers[at] = miss
    return miss


@njit(cache=True, nogil=True)
def floats(
    frames: np.ndarray, step: float, phase: float, q: np.ndarray, invalid: np.ndarray
) -> tuple[int, int]:
    """First pass over float frames (flat): ``q`` of each (0 where not representable, which
    ``invalid`` marks), and the range of the valid ones (0, 0 when none is)."""
    low, high = np.int64(2**62), np.int64(-(2**62))
    for index in range(frames.size):
        value, bad = float_q_checked(np.float64(frames[index]), step, phase)
        q[index] = value
        invalid[index] = bad
        if not bad:
            low, high = min(low, value), max(high, value)
    return (low, high) if low <= high else (0, 0)


@njit(cache=True)
def float_q_checked(value: np.float64, step: np.float64, phase: np.float64) -> tuple[int, bool]:
    """:func:`float_q` as an integer, and whether it is not representable (``q`` is then 0)."""
    scaled = float_q(value, step, phase)
    bad = not abs(scaled) < Q_LIMIT
    return (np.int64(0) if bad else np.int64(scaled)), bad


@njit(cache=True, nogil=True)
def float_codes(
    frames: np.ndarray,
    q: np.ndarray,
    invalid: np.ndarray,
    offset: int,
    step: float,
    phase: float,
    tolerance: float,
    codes: np.ndarray,
    reconstruction: np.ndarray,
    outliers: np.ndarray,
) -> int:
    """Second pass over float frames: codes (invalid elements take the lowest code),
    reconstruction in the frames' dtype, outliers; returns how many."""
    missed = 0
    for index in range(frames.size):
        missed += float_code(
            frames,
            q,
            invalid,
            index,
            offset,
            step,
            phase,
            tolerance,
            codes,
            reconstruction,
            outliers,
        )
    return missed


@njit(cache=True, inline="always")
def float_code(
    frames: np.ndarray,
    q: np.ndarray,
    invalid: np.ndarray,
    index: int,
    offset: np.int64,
    step: np.float64,
    phase: np.float64,
    tolerance: np.float64,
    codes: np.ndarray,
    reconstruction: np.ndarray,
    outliers: np.ndarray,
) -> bool:
    """The second pass at float element ``index``: its code, its reconstruction in the
    frames' dtype and whether it is an outlier (returned too). Inlined in numba's IR (as a
    call the pass ran 20% slower)."""
    at = np.uint64(index)
    bad = invalid[at]
    value = offset if bad else q[at]
    decoded = reconstruction.dtype.type(product(np.float64(value), step) + phase)
    original = frames[at]
    error = abs(np.float64(decoded) - np.float64(original))
    miss = bad or not error <= tolerance
    codes[at] = value - offset
    reconstruction[at] = original if miss else decoded
    outliers[at] = miss
    return miss
