"""Per-element arithmetic of ``tezip.rans``: prediction, contexts and tokens.

Each function works on one element and only on scalars, so the CPU kernels (numba ``@njit``)
and their CUDA twins (the same functions compiled as device functions,
:mod:`tezip_rans.cudakernels`) share one source of truth for every operation that decides a
coded bit. Everything is exact 64-bit integer arithmetic on values of at most 36 bits (45 once
weighted by the fitted predictor), so no sum ever overflows (the compiler may assume it does
not).
"""

from __future__ import annotations

import numpy as np
from numba import njit
from numba.cpython.unsafe.numbers import leading_zeros

#: spatial predictors of a plane (the stream stores one per plane); the averages came
#: with version 2 of the stage, the fitted linear predictor with version 3
NONE, WEST, NORTH, PLANE, MED, AVERAGE, SMOOTH, FITTED = 0, 1, 2, 3, 4, 5, 6, 7
PREDICTORS = (NONE, WEST, NORTH, PLANE, MED, AVERAGE, SMOOTH, FITTED)
#: the predictors a stream of each version of the stage may name
PREDICTORS_OF_VERSION = {1: PREDICTORS[:5], 2: PREDICTORS[:7], 3: PREDICTORS, 4: PREDICTORS}
#: the fitted predictor's weights of north, north-west, north-east and west-west (each
#: relative to west) are integers in units of ``2**-FIT_SHIFT``, at most ``FIT_LIMIT`` in
#: magnitude
FIT_SHIFT = 5
FIT_LIMIT = 128
#: where a plane's parameter row (:data:`tezip_rans.kernels.PARAMETERS`) holds its value
#: range, the fitted predictor's four weights, its intensity class count and bounds (the
#: unused ones :data:`NO_BOUND`) and the first of its contexts in the GOP's context map
LOW, HIGH, WEIGHTS, CLASSES, BOUNDS, FIRST = 6, 7, 8, 12, 13, 20
#: most intensity classes of a plane (version 4; one before): its contexts are split by
#: where the element's prediction lies among the plane's ``classes - 1`` increasing bounds,
#: as noise that grows with the signal (photon counts, speckle) makes the errors' spread
#: follow the intensity
MAX_CLASSES = 8
#: an intensity bound no prediction exceeds
NO_BOUND = np.iinfo(np.int64).max
#: values below this are their own token; larger ones are a token plus raw low bits
DIRECT = 16
#: gradient contexts: 9**3 patterns of three gradients quantised to -4 .. 4, mirrored
#: pairs merged, 365
GRADIENT_CONTEXTS = 365
#: classes of the previous frame's co-located error magnitude
TEMPORAL_CLASSES = 3
#: contexts per plane and intensity class
CONTEXTS = GRADIENT_CONTEXTS * TEMPORAL_CLASSES
#: bits of the largest symbol: planes hold at most 33-bit values (32-bit codes taken
#: relative to another plane), predictions are clamped to a plane's range, so errors and
#: their zig-zag symbols need at most two bits more
SYMBOL_BITS = 34


def token_count(bits: int) -> int:
    """Size of the token alphabet for symbols of ``bits`` bits."""
    return DIRECT + 2 * (bits - 4) if bits > 4 else DIRECT


#: tokens of the widest symbols
MAX_TOKENS = token_count(SYMBOL_BITS)


#: the fitted predictor's weights of a plane (see :data:`FIT_SHIFT`)
Weights = tuple[np.int64, np.int64, np.int64, np.int64]
#: a plane's intensity bounds (:data:`MAX_CLASSES` - 1 of them)
Bounds = tuple[np.int64, np.int64, np.int64, np.int64, np.int64, np.int64, np.int64]


@njit(cache=True)
def predict(
    mode: int,
    west: np.int64,
    north: np.int64,
    northwest: np.int64,
    northeast: np.int64,
    westwest: np.int64,
    weights: Weights,
    low: np.int64,
    high: np.int64,
) -> np.int64:
    """The spatial prediction of one element by predictor ``mode``, clamped to the plane's
    range (``weights``: the plane's, for the fitted predictor)."""
    if mode == FITTED:
        guess = fitted((west, north, northwest, northeast, westwest), weights)
    else:
        guess = unclamped(mode, west, north, northwest, northeast)
    return min(max(guess, low), high)


@njit(cache=True)
def fitted(
    neighbours: tuple[np.int64, np.int64, np.int64, np.int64, np.int64], weights: Weights
) -> np.int64:
    """The fitted linear predictor of an element whose ``neighbours`` are west, north,
    north-west, north-east and west-west: west plus the plane's ``weights`` of the others'
    differences from it, rounded half up. Relative to west it follows any offset, and a
    GOP's weights are fitted to its own texture (noise, blur, interlacing) by the encoder."""
    west, north, northwest, northeast, westwest = neighbours
    to_north, to_northwest, to_northeast, to_westwest = weights
    total = (
        to_north * (north - west)
        + to_northwest * (northwest - west)
        + to_northeast * (northeast - west)
        + to_westwest * (westwest - west)
    )
    return west + ((total + (np.int64(1) << np.int64(FIT_SHIFT - 1))) >> np.int64(FIT_SHIFT))


@njit(cache=True)
def weights_of(knobs: np.ndarray) -> Weights:
    """The fitted predictor's weights in a plane's parameter row."""
    return knobs[WEIGHTS], knobs[WEIGHTS + 1], knobs[WEIGHTS + 2], knobs[WEIGHTS + 3]


@njit(cache=True)
def unclamped(
    mode: int, west: np.int64, north: np.int64, northwest: np.int64, northeast: np.int64
) -> np.int64:
    """The prediction of every predictor but :data:`FITTED`, before clamping."""
    if mode == MED:  # written as selects, which compile without branches
        high = max(west, north)
        low = min(west, north)
        plane = west + north - northwest
        plane = low if northwest >= high else plane
        return high if northwest <= low else plane
    if mode == WEST:
        return west
    if mode == NORTH:
        return north
    if mode == PLANE:
        return west + north - northwest
    if mode == AVERAGE:  # halves the noise variance a single neighbour carries
        return (west + north) >> 1
    if mode == SMOOTH:  # a quarter of it, for frames where noise outweighs the signal
        return (west + north + northeast + northwest) >> 2
    return np.int64(0)


@njit(cache=True)
def intensity(prediction: np.int64, bounds: Bounds) -> np.int64:
    """The intensity class of an element: how many of its plane's ``bounds`` its prediction
    exceeds (seven comparisons without branches, summed as a tree: the decoder waits for
    this sum; unused bounds are never exceeded)."""
    low = np.int64(prediction > bounds[0]) + np.int64(prediction > bounds[1])
    middle = np.int64(prediction > bounds[2]) + np.int64(prediction > bounds[3])
    high = np.int64(prediction > bounds[4]) + np.int64(prediction > bounds[5])
    return (low + middle) + (high + np.int64(prediction > bounds[6]))


@njit(cache=True)
def bounds_of(knobs: np.ndarray) -> Bounds:
    """The intensity bounds in a plane's parameter row."""
    return (
        knobs[BOUNDS],
        knobs[BOUNDS + 1],
        knobs[BOUNDS + 2],
        knobs[BOUNDS + 3],
        knobs[BOUNDS + 4],
        knobs[BOUNDS + 5],
        knobs[BOUNDS + 6],
    )


@njit(cache=True)
def level(difference: np.int64, t1: np.int64, t2: np.int64, t3: np.int64) -> int:
    """A signed gradient quantised to -4 .. 4 by the plane's thresholds."""
    magnitude = abs(difference)
    step = (
        np.int64(magnitude > 0)
        + np.int64(magnitude > t1)
        + np.int64(magnitude > t2)
        + np.int64(magnitude > t3)
    )
    return -step if difference < 0 else step


@njit(cache=True)
def upper_gradients(
    north: np.int64,
    northwest: np.int64,
    northeast: np.int64,
    t1: np.int64,
    t2: np.int64,
    t3: np.int64,
) -> np.int64:
    """The part of the gradient pattern that the row above decides: ``81 d1 + 9 d2``."""
    return 81 * level(northeast - north, t1, t2, t3) + 9 * level(north - northwest, t1, t2, t3)


@njit(cache=True)
def fold(upper: np.int64, northwest: np.int64, west: np.int64, t1, t2, t3) -> tuple[int, int]:
    """Context (0 .. 364) and error sign of the gradient pattern ``(d1, d2, d3)`` given by
    :func:`upper_gradients` and the west gradient ``d3``.

    A pattern and its mirror (all gradients negated) share a context; the mirror's errors
    are negated, so the context's distribution keeps the error's skew (JPEG-LS's merging).
    """
    return mirror(upper + level(northwest - west, t1, t2, t3))


@njit(cache=True)
def mirror(centred: np.int64) -> tuple[int, int]:
    """Context (0 .. 364) and error sign of the gradient pattern ``81 d1 + 9 d2 + d3``."""
    return abs(centred), (np.int64(-1) if centred < 0 else np.int64(1))


@njit(cache=True)
def temporal_class(previous_error: np.int64, u1: np.int64, u2: np.int64) -> int:
    """Class (0 .. 2) of the co-located error magnitude in the previous frame."""
    magnitude = abs(previous_error)
    return np.int64(magnitude > u1) + np.int64(magnitude > u2)


@njit(cache=True)
def zigzag(error: np.int64) -> np.uint64:
    """0, -1, 1, -2 ... to 0, 1, 2, 3 ... (wrapping in 64 bits)."""
    return np.uint64((error << np.int64(1)) ^ (error >> np.int64(63)))


@njit(cache=True)
def unzigzag(symbol: np.uint64) -> np.int64:
    """Invert :func:`zigzag`."""
    return np.int64(symbol >> np.uint64(1)) ^ -np.int64(symbol & np.uint64(1))


@njit(cache=True)
def tokenise(symbol: np.uint64) -> tuple[int, int, np.uint64]:
    """Token, raw bit count and raw bits of a symbol (JPEG XL's hybrid integers with a
    split of 16 and one mantissa bit in the token): ``16 + 2 (n - 4) + m`` for a symbol
    whose top bit is bit ``n`` and next bit ``m``, followed by its ``n - 1`` low bits."""
    if symbol < np.uint64(DIRECT):
        return np.int64(symbol), np.int64(0), np.uint64(0)
    top = np.int64(63) - np.int64(leading_zeros(symbol))
    extra = top - 1
    mantissa = np.int64((symbol >> np.uint64(extra)) & np.uint64(1))
    low = symbol & ((np.uint64(1) << np.uint64(extra)) - np.uint64(1))
    return DIRECT + 2 * (top - 4) + mantissa, extra, low


@njit(cache=True)
def token_extra_bits(token: int) -> int:
    """Raw bits that follow ``token``."""
    return (token - (DIRECT - 6)) >> 1 if token >= DIRECT else 0


@njit(cache=True)
def detokenise(token: int, low: np.uint64) -> np.uint64:
    """Invert :func:`tokenise` given the token's raw bits."""
    extra = (token - (DIRECT - 6)) >> 1
    head = np.uint64(2 | (token & 1)) << np.uint64(max(extra, 0))
    return head | low if token >= DIRECT else np.uint64(token)
