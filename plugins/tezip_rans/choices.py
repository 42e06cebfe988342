"""The encoder's choices for a GOP, each made by coding a small sample for real.

A sample of bands of rows (every plane, a run of consecutive frames, so the temporal
context sees real neighbours) is run through the statistics pass with each candidate, and
the candidate whose histograms cost the fewest bits (entropy plus table bytes) wins:

- per plane, two's complement or offset binary (only matters for predictors that compare);
- for colour, planes coded as they are or relative to the reference channel;
- per plane, the spatial predictor and the scale of the gradient thresholds, which follows
  the plane's own typical gradient so that 8-bit video and 17-bit detector counts get
  contexts of the same meaning.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

from tezip.costs import bit_magnitude, mode_costs, row_bands, wide_words
from tezip_rans import elements as el
from tezip_rans import kernels, model
from tezip_rans.field import REFERENCE, can_relate, planes_of, to_field, value_ranges

#: fewest elements per plane the choices are made on
SAMPLE_ELEMENTS = 1 << 15
#: a larger GOP's choices are made on this fraction of each plane (1 / CHOICE_SHARE), so
#: that the sample spans the frame's width and sees what its middle lacks (colour overlays
#: of ultrasound, still edges of a camera's view)
CHOICE_SHARE = 32
#: rows per sampled band
SAMPLE_ROWS = 8
#: gradient thresholds relative to the plane's typical gradient, and the scales tried
THRESHOLD_SHAPE = (1.5, 4.0, 12.0)
#: the scales tried at each encoder effort (1: only the typical gradient itself)
SCALES = {1: (1.0,), 2: (0.5, 1.0, 2.0), 3: (0.35, 0.5, 0.7, 1.0, 1.4, 2.0, 2.8)}


@dataclass
class Choices:
    """Everything the encoder decided for one GOP (what the stream header records)."""

    offset_binary: np.ndarray  # per plane, bool
    relative: np.ndarray  # per plane, bool: coded relative to the reference plane
    parameters: np.ndarray  # (planes, kernels.PARAMETERS) int64, ranges included
    #: per plane, the best fixed predictor where the fitted one beat it on the sample by
    #: less than :data:`FIT_SURE` (the encoder weighs both over more of the GOP: see
    #: :func:`unfitted`); else the plane's predictor
    fixed: np.ndarray | None = None
    #: ``(planes, MAX_CLASSES - 1)``: the octiles of each plane's sample where splitting it
    #: into eight intensity classes coded the sample smaller (the encoder weighs intensity
    #: classes over more of the GOP: see :func:`shaded`), :data:`~elements.NO_BOUND`
    #: elsewhere
    octiles: np.ndarray | None = None


#: the fitted predictor is taken without weighing it against the best fixed one over more
#: of the GOP where it codes the sample at least this much smaller. Over the benchmark data
#: a sample's gain was about twice the GOP's, and the fitted predictor lost over the GOP
#: only where it had won the sample by less than 1.5% (a detector's rings, a simulation's
#: fronts)
FIT_SURE = 0.02


def unfitted(choices: Choices) -> Choices | None:
    """The choices with every plane that took the fitted predictor on a narrow win (see
    :attr:`Choices.fixed`) given its best fixed one instead, or None where there is none."""
    if choices.fixed is None:
        return None
    narrow = (choices.parameters[:, 0] == el.FITTED) & (choices.fixed != el.FITTED)
    if not narrow.any():
        return None
    parameters = choices.parameters.copy()
    parameters[narrow, 0] = choices.fixed[narrow]
    parameters[narrow, el.WEIGHTS : el.CLASSES] = 0
    return Choices(choices.offset_binary, choices.relative, parameters, None, choices.octiles)


#: intensity class counts the encoder weighs (each splits at every ``8 / count``-th octile)
CLASS_COUNTS = (4, 8)
#: most intensity classes of a GOP's planes together: its contexts are numbered in 16 bits
CLASS_BUDGET = (1 << 16) // el.CONTEXTS


def can_shade(choices: Choices) -> bool:
    """True where some plane has :attr:`Choices.octiles` to split it at."""
    return choices.octiles is not None and bool((choices.octiles != el.NO_BOUND).any())


def shaded(choices: Choices, classes: int) -> Choices | None:
    """The choices with every plane that has :attr:`Choices.octiles` split into ``classes``
    intensity classes at those of its octiles that cut it into equal shares (fewer classes
    where they repeat); None where no plane has them, or the planes' classes together would
    exceed :data:`CLASS_BUDGET`."""
    if not can_shade(choices):
        return None
    parameters = choices.parameters.copy()
    for row, octiles in zip(parameters, choices.octiles, strict=True):
        kernels.split_at(row, _bounds(octiles, classes, row[el.LOW], row[el.HIGH]))
    if parameters[:, el.CLASSES].sum() > CLASS_BUDGET:
        return None
    return Choices(choices.offset_binary, choices.relative, kernels.placed(parameters))


def _bounds(octiles: np.ndarray, classes: int, low: int, high: int) -> np.ndarray:
    """The bounds that split a plane of values ``low .. high`` into ``classes`` classes at
    those of its octiles that cut it into equal shares: fewer where octiles repeat or lie
    outside ``[low, high)``."""
    step = el.MAX_CLASSES // classes
    bounds = np.unique(octiles[step - 1 :: step])
    return bounds[(bounds >= low) & (bounds < high)]


def sample_budget(residuals: np.ndarray, share: int) -> int:
    """Elements per channel of a sample of ``residuals`` ``(n, H, W[, C])``: at least
    :data:`SAMPLE_ELEMENTS`, else ``1 / share`` of the channel."""
    channels = residuals.shape[3] if residuals.ndim == 4 else 1
    return max(SAMPLE_ELEMENTS, residuals.size // channels // share)


def trial_bits(
    sample: np.ndarray, parameters: np.ndarray, share: float, rows: int = SAMPLE_ROWS
) -> float:
    """Bits to code ``sample`` (a field of one or more planes, in bands of ``rows`` rows)
    with these parameters, the sample being ``share`` of the GOP (it pays that share of the
    tables)."""
    histogram, raw_bytes = kernels.statistics(sample, parameters, min(rows, sample.shape[2]))
    return model.histogram_bits(histogram, share) + 8.0 * raw_bytes


def _typical_gradient(plane: np.ndarray) -> float:
    """Median of the non-zero vertical differences of a plane ``(frames, H, W)`` (their
    magnitudes, differences wrapping in 64 bits)."""
    count, largest = _step_range(plane)
    if not count:
        return 1.0
    if largest < _COUNTED:
        return _counted_median(plane, largest, count)
    return float(np.median(_vertical_steps(plane, count)))


#: steps below this find their median by counting
_COUNTED = 1 << 16


@njit(cache=True, nogil=True, inline="always")
def _step(plane: np.ndarray, frame: int, y: int, x: int) -> np.int64:
    """The magnitude of the vertical difference at ``(frame, y, x)``, wrapping in 64 bits
    (a difference of ``2**63``, whose magnitude int64 cannot hold, counts as none: 0)."""
    wrapped = np.uint64(plane[frame, y, x]) - np.uint64(plane[frame, y - 1, x])
    return max(abs(np.int64(wrapped)), np.int64(0))


@njit(cache=True, nogil=True)
def _step_range(plane: np.ndarray) -> tuple[int, int]:
    """How many vertical differences of a plane are non-zero, and the largest magnitude."""
    frames, height, width = plane.shape
    count, largest = 0, np.int64(0)
    for frame in range(frames):
        for y in range(1, height):
            for x in range(width):
                step = _step(plane, frame, y, x)
                count += step > 0
                largest = max(largest, step)
    return count, largest


@njit(cache=True, nogil=True)
def _vertical_steps(plane: np.ndarray, count: int) -> np.ndarray:
    """The ``count`` non-zero magnitudes of the vertical differences of a plane."""
    frames, height, width = plane.shape
    out = np.empty(count, np.int64)
    index = 0
    for frame in range(frames):
        for y in range(1, height):
            for x in range(width):
                step = _step(plane, frame, y, x)
                if step > 0:
                    out[index] = step
                    index += 1
    return out


@njit(cache=True, nogil=True)
def _counted_median(plane: np.ndarray, largest: int, count: int) -> float:
    """``np.median`` of the ``count`` non-zero vertical step magnitudes of a plane, all at
    most ``largest``, found by counting them (zeros too, without a branch, into two counts
    by column parity, so that runs of equal steps do not wait on each other)."""
    frames, height, width = plane.shape
    counts = np.zeros((2, largest + 1), np.int64)
    for frame in range(frames):
        for y in range(1, height):
            for x in range(width):
                counts[x & 1, _step(plane, frame, y, x)] += 1
    low_rank, high_rank = (count - 1) // 2, count // 2
    low = high = -1
    seen = 0
    for value in range(1, largest + 1):
        seen += counts[0, value] + counts[1, value]
        if low < 0 and seen > low_rank:
            low = value
        if seen > high_rank:
            high = value
            break
    return (float(low) + float(high)) / 2.0


#: thresholds stay below this (64-bit codes have gradients near 2**64)
_CEILING = 1 << 60


def _scaled(factor: float, floor: int) -> int:
    return max(floor, min(_CEILING + floor, round(factor)))


def thresholds(typical: float, scale: float) -> tuple[int, int, int]:
    """Strictly increasing gradient thresholds for a plane's typical gradient."""
    t1 = _scaled(THRESHOLD_SHAPE[0] * scale * typical, 1)
    t2 = _scaled(THRESHOLD_SHAPE[1] * scale * typical, t1 + 1)
    t3 = _scaled(THRESHOLD_SHAPE[2] * scale * typical, t2 + 1)
    return t1, t2, t3


#: the weights of a plane whose predictor is not the fitted one
_UNFITTED = np.zeros(4, np.int64)


def _row(
    mode: int, typical: float, scale: float, span: np.ndarray, weights: np.ndarray = _UNFITTED
) -> np.ndarray:
    """A plane's parameter row: predictor, gradient thresholds, error-class thresholds at
    half and twice the typical gradient (errors scale like gradients), value range and the
    fitted predictor's weights (zero unless ``mode`` is that predictor)."""
    u1 = _scaled(0.5 * typical, 0)
    u2 = _scaled(2.0 * typical, u1 + 1)
    weights = weights if mode == el.FITTED else _UNFITTED
    return np.array(
        # one intensity class; the first context is set by kernels.placed
        [[mode, *thresholds(typical, scale), u1, u2, *span, *weights, *kernels.ONE_CLASS, 0]],
        np.int64,
    )


def fit_weights(single: np.ndarray) -> np.ndarray:
    """The fitted predictor's weights (:func:`tezip_rans.elements.fitted`) for a sample plane
    ``(frames, 1, bands * SAMPLE_ROWS, W)``: the least absolute deviations fit (iteratively
    reweighted least squares) of each element's difference from its west by its other
    neighbours' differences from it, over the sample's inner elements, rounded to the
    format's units and limit."""
    frames, _, height, width = single.shape
    rows = min(SAMPLE_ROWS, height)
    if width < 4 or rows < 2:
        return _UNFITTED
    bands = single[:, 0, : height // rows * rows].reshape(frames, -1, rows, width)
    solution = np.zeros(len(_UNFITTED))
    for step in range(_FIT_ROUNDS):
        normal, moment = _normal_equations(bands, solution, step > 0)
        if not (np.isfinite(normal).all() and np.isfinite(moment).all()):
            return _UNFITTED
        solution = np.linalg.lstsq(normal, moment, rcond=None)[0]
    units = np.rint(solution * (1 << el.FIT_SHIFT))
    return np.clip(units, -el.FIT_LIMIT, el.FIT_LIMIT).astype(np.int64)


#: the fit reads every this-many inner elements of a sample, and reweights this often
_FIT_STRIDE = 2
_FIT_ROUNDS = 4


@njit(cache=True, nogil=True)
def _normal_equations(
    bands: np.ndarray, solution: np.ndarray, reweight: bool
) -> tuple[np.ndarray, np.ndarray]:
    """The weighted least squares normal equations of :func:`fit_weights` over bands of rows
    ``(frames, bands, rows, W)``: every :data:`_FIT_STRIDE`-th element with all its
    neighbours in the band (in raster order), its difference from its west against its
    north's, north-west's, north-east's and west-west's; each weighted by one over its
    absolute error under ``solution`` plus one when ``reweight``, else by one."""
    frames, count, rows, width = bands.shape
    a, b, c, d = solution[0], solution[1], solution[2], solution[3]
    sums = np.zeros(14)  # the normal matrix's lower triangle by rows, then the moments
    read = 0  # inner elements before the row's first
    for frame in range(frames):
        for band in range(count):
            for y in range(1, rows):
                above, below = bands[frame, band, y - 1], bands[frame, band, y]
                first = 2 + (-read) % _FIT_STRIDE
                read += width - 3
                s0 = s1 = s2 = s3 = s4 = s5 = s6 = s7 = s8 = s9 = 0.0
                m0 = m1 = m2 = m3 = 0.0
                for x in range(first, width - 1, _FIT_STRIDE):
                    west = np.float64(below[x - 1])
                    n = np.float64(above[x]) - west
                    nw = np.float64(above[x - 1]) - west
                    ne = np.float64(above[x + 1]) - west
                    ww = np.float64(below[x - 2]) - west
                    target = np.float64(below[x]) - west
                    weight = 1.0
                    if reweight:
                        weight = 1.0 / (abs(target - a * n - b * nw - c * ne - d * ww) + 1.0)
                    wn, wnw, wne, www = weight * n, weight * nw, weight * ne, weight * ww
                    s0 += wn * n
                    s1 += wnw * n
                    s2 += wnw * nw
                    s3 += wne * n
                    s4 += wne * nw
                    s5 += wne * ne
                    s6 += www * n
                    s7 += www * nw
                    s8 += www * ne
                    s9 += www * ww
                    m0 += wn * target
                    m1 += wnw * target
                    m2 += wne * target
                    m3 += www * target
                for k, value in enumerate((s0, s1, s2, s3, s4, s5, s6, s7, s8, s9, m0, m1, m2, m3)):
                    sums[k] += value
    normal = np.empty((4, 4))
    k = 0
    for i in range(4):
        for j in range(i + 1):
            normal[i, j] = normal[j, i] = sums[k]
            k += 1
    return normal, sums[10:].copy()


def choose(residuals: np.ndarray, effort: int = 2) -> Choices:
    """Decide interpretation, channel relation, predictors and thresholds for a GOP: at
    effort 1 the median edge detector at the typical gradient's scale, at 2 every predictor
    after the best of three scales, at 3 finer scales, searched again for the predictor."""
    bands = row_bands(residuals, SAMPLE_ROWS, sample_budget(residuals, CHOICE_SHARE))
    share = bands.size / residuals.size
    offset_binary, relative, sample, med_costs = _reading(bands, share)
    spans = value_ranges(residuals.dtype.itemsize * 8, relative)
    rows, fixed, octiles = zip(
        *(
            _plane_parameters(
                np.ascontiguousarray(sample[:, p : p + 1]), span, share, effort, med_costs[p]
            )
            for p, span in enumerate(spans)
        ),
        strict=True,
    )
    parameters = kernels.placed(np.stack(rows))
    return Choices(
        offset_binary, relative, parameters, np.array(fixed, np.int64), np.stack(octiles)
    )


def _plane_parameters(
    single: np.ndarray, span: np.ndarray, share: float, effort: int, med_cost: float
) -> tuple[np.ndarray, int, np.ndarray]:
    """The parameter row of one plane ``(frames, 1, H, W)`` of a sample: its threshold
    scale and predictor, searched as wide as ``effort`` says (``med_cost``: the median edge
    detector's cost at scale 1, known already); the best fixed predictor; and the sample's
    octiles where eight intensity classes code it smaller (above effort 1; else no
    bounds)."""
    typical = _typical_gradient(single[:, 0])
    known = {(el.MED, 1.0): med_cost}
    weights = fit_weights(single) if effort > 1 else _UNFITTED

    def cost(mode: int, scale: float) -> float:
        if (mode, scale) not in known:
            row = _row(mode, typical, scale, span, weights)
            known[mode, scale] = trial_bits(single, row, share)
        return known[mode, scale]

    scale = min(SCALES[effort], key=lambda s: cost(el.MED, s))
    plain = tuple(m for m in el.PREDICTORS if m not in (el.SMOOTH, el.FITTED))
    mode = min(plain if effort > 1 else (el.MED,), key=lambda m: cost(m, scale))
    if mode == el.AVERAGE:  # where averaging pays, averaging more neighbours may pay more
        mode = min((el.AVERAGE, el.SMOOTH), key=lambda m: cost(m, scale))
    fixed = mode
    if effort > 1:  # the fitted predictor against the best fixed one
        gain = 1 - cost(el.FITTED, scale) / cost(fixed, scale)
        mode = el.FITTED if gain > 0 else fixed
        if gain >= FIT_SURE:
            fixed = el.FITTED  # a clear win: not weighed again
    if effort > 2 and mode != el.MED:
        scale = min(SCALES[effort], key=lambda s: cost(mode, s))
    row = _row(mode, typical, scale, span, weights)
    octiles = np.full(el.MAX_CLASSES - 1, el.NO_BOUND, np.int64)
    if effort > 1:
        sampled = _octiles(single)
        bounds = _bounds(sampled, el.MAX_CLASSES, *span)
        finer = row.copy()
        kernels.split_at(finer[0], bounds)
        if len(bounds) and trial_bits(single, finer, share) < cost(mode, scale):
            octiles = sampled
    return row[0], fixed, octiles


def regrouping(finer: np.ndarray, coarser: np.ndarray) -> np.ndarray:
    """Each context of parameters ``finer`` as one of ``coarser`` (uint16): the planes'
    parameters alike but for intensity classes, and every bound of ``coarser`` one of
    ``finer``'s (as :func:`shaded` makes them), so that each finer class lies in one
    coarser class: the one of the coarser bounds at or below the finer class's lower
    bound."""
    contexts = np.arange(el.CONTEXTS)
    grouping = np.empty(kernels.context_count(finer), np.uint16)
    for fine, coarse in zip(finer, coarser, strict=True):
        fine_bounds = fine[el.BOUNDS : el.BOUNDS + fine[el.CLASSES] - 1]
        coarse_bounds = coarse[el.BOUNDS : el.BOUNDS + coarse[el.CLASSES] - 1]
        for shade in range(fine[el.CLASSES]):
            lower = fine_bounds[shade - 1] if shade else None
            into = 0 if lower is None else int(np.searchsorted(coarse_bounds, lower, "right"))
            source = fine[el.FIRST] + shade * el.CONTEXTS
            grouping[source : source + el.CONTEXTS] = (
                coarse[el.FIRST] + into * el.CONTEXTS + contexts
            )
    return grouping


def regrouped(histogram: np.ndarray, grouping: np.ndarray) -> np.ndarray:
    """A histogram (contexts x tokens) with its contexts regrouped (:func:`regrouping`, which
    moves whole classes and reaches every coarser class)."""
    out = np.zeros((int(grouping.max()) + 1, histogram.shape[1]), histogram.dtype)
    for source in range(0, len(grouping), el.CONTEXTS):
        target = int(grouping[source])
        out[target : target + el.CONTEXTS] += histogram[source : source + el.CONTEXTS]
    return out


def _octiles(single: np.ndarray) -> np.ndarray:
    """The least values at or below which an eighth, a quarter ... seven eighths of a sample
    plane's values lie: ``MAX_CLASSES - 1`` of them."""
    levels = np.arange(1, el.MAX_CLASSES) / el.MAX_CLASSES
    return np.quantile(single, levels, method="inverted_cdf").astype(np.int64)


def sample_cost(bands: np.ndarray, share: float) -> float:
    """Estimated bits to code a sample of residuals (bands of rows, see
    :func:`tezip.costs.row_bands`) that is ``share`` of its GOP, with the median edge
    detector, read and related to G as :func:`choose` would: what ranks candidate
    predictors like the coder itself."""
    return float(_reading(bands, share)[3].sum())


def _reading(
    bands: np.ndarray, share: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per plane of a sample, two's complement or offset binary, whichever the median edge
    detector's estimated bits (:func:`_med_estimates`) find cheaper: the two differ only
    where neighbours straddle a reading's wrap, which that estimate sees as plainly as the
    coder (over the 44 benchmark cells it decided as the statistics pass on all but 26 of
    658 planes, each a tie of the estimates, within 0.21% of the plane's cost), at a
    tenth of a statistics pass's cost; and whether it is coded relative to the reference
    channel, where the median edge detector codes it in fewer bits. Returns the flags, the
    sample's field so read and, per plane, that detector's cost."""
    bits = bands.dtype.itemsize * 8
    planes = planes_of(bands.shape, bits)
    none = np.zeros(planes, bool)
    spans = value_ranges(bits, none)
    fields = [to_field(bands, flags, none) for flags in (none, np.ones(planes, bool))]
    offset_binary = _med_estimates(fields[1]) < _med_estimates(fields[0])
    plain = np.where(offset_binary[:, None, None], fields[1], fields[0])
    chosen = np.array([_med_cost(plain[:, p : p + 1], spans[p], share) for p in range(planes)])
    relative = none.copy()
    field = plain
    if can_relate(bands.shape, bits):
        related = plain.copy()
        related[:, [p for p in range(planes) if p != REFERENCE]] -= plain[
            :, REFERENCE : REFERENCE + 1
        ]
        wide = value_ranges(bits, np.ones(planes, bool))
        for plane in range(planes):
            if plane != REFERENCE:
                related_cost = _med_cost(related[:, plane : plane + 1], wide[plane], share)
                relative[plane] = related_cost < chosen[plane]
                chosen[plane] = min(related_cost, chosen[plane])
        field = np.where(relative[:, None, None], related, plain)
    return offset_binary, relative, field, chosen


def _med_cost(plane: np.ndarray, span: np.ndarray, share: float) -> float:
    """Bits to code one plane ``(frames, 1, H, W)`` of a sample with the median edge
    detector at its typical gradient's scale."""
    single = np.ascontiguousarray(plane)
    return trial_bits(single, _row(el.MED, _typical_gradient(single[:, 0]), 1.0, span), share)


@njit(cache=True, nogil=True)
def _read(code: np.uint64, flip: np.uint64, top: np.uint64) -> np.int64:
    """A ``bits``-wide code (``top`` its top bit) read as two's complement after XOR with
    ``flip`` (``top`` for offset binary, else 0)."""
    code ^= flip
    return np.int64(code - ((code & top) << np.uint64(1)))


@njit(cache=True, nogil=True)
def _read_row(
    pairs: np.ndarray,
    at: tuple[int, int, int],
    channel: int,
    flip: np.uint64,
    top: np.uint64,
    related: bool,
    out: np.ndarray,
) -> None:
    """Row ``at`` (frame, pair, upper or lower) of one channel of row pairs ``(n, k, 2, W,
    C)`` so read, relative to the reference channel when ``related`` (the reference itself
    stays)."""
    frame, pair, row = at
    for x in range(len(out)):
        out[x] = _read(np.uint64(pairs[frame, pair, row, x, channel]), flip, top)
        if related and channel != REFERENCE:
            out[x] -= _read(np.uint64(pairs[frame, pair, row, x, REFERENCE]), flip, top)


@njit(cache=True, nogil=True)
def _med_bits(pairs: np.ndarray, bits: int, offset_binary: bool, related: bool) -> np.ndarray:
    """Per frame of row pairs ``(n, k, 2, W, C)`` of codes, :func:`tezip.costs.estimated_bits`
    of the lower rows' residuals after the median edge detector, the upper rows as north
    (the first column's west and north-west are its north), the codes read as two's
    complement or offset binary and, when ``related``, relative to the reference channel:
    one pass, where the array expressions took 60 ns per element."""
    frames, count, _, width, channels = pairs.shape
    top = np.uint64(1) << np.uint64(bits - 1)
    flip = top if offset_binary else np.uint64(0)
    out = np.zeros(frames, np.float64)
    above, below = np.empty(width, np.int64), np.empty(width, np.int64)
    number = np.zeros(1, np.float32)
    for frame in range(frames):
        total = 0
        for pair in range(count):
            for channel in range(channels):
                _read_row(pairs, (frame, pair, 0), channel, flip, top, related, above)
                _read_row(pairs, (frame, pair, 1), channel, flip, top, related, below)
                total += _med_row_bits(above, below, number)
        out[frame] = total
    return out


@njit(cache=True, nogil=True)
def _med_estimates(field: np.ndarray) -> np.ndarray:
    """Per plane of a field ``(frames, planes, H, W)``, the estimated bits of its rows
    after the first of each frame, as :func:`_med_bits` estimates a lower row (the row
    above its north)."""
    frames, planes, height, _ = field.shape
    out = np.zeros(planes, np.float64)
    number = np.zeros(1, np.float32)
    for plane in range(planes):
        total = 0
        for frame in range(frames):
            for y in range(1, height):
                total += _med_row_bits(field[frame, plane, y - 1], field[frame, plane, y], number)
        out[plane] = total
    return out


@njit(cache=True, nogil=True)
def _med_row_bits(above: np.ndarray, below: np.ndarray, number: np.ndarray) -> int:
    """Sum of :func:`tezip.costs.bit_magnitude` over row ``below``'s median edge detector
    errors, ``above`` its north (the first column's west and north-west are its north;
    ``number``: room for one float32)."""
    word = number.view(np.int32)
    total = 0
    west = northwest = np.int64(above[0])
    for x in range(len(below)):
        north = np.int64(above[x])
        guess = el.unclamped(el.MED, west, north, northwest, north)
        total += bit_magnitude(np.int64(below[x]) - guess, number, word)
        west, northwest = np.int64(below[x]), north
    return total


def estimate(pairs: np.ndarray) -> np.ndarray:
    """Per-frame estimated bits of residual row pairs under the best spatial predictor this
    stage has: ``tezip.lorenzo``'s modes (west, north, plane, none) and the median edge
    detector on the codes read as two's complement or offset binary (and, for colour,
    relative to G)."""
    costs = list(mode_costs(pairs)) if pairs.shape[1] else [np.zeros(len(pairs))]
    if pairs.shape[1] and pairs.shape[3] > 1:
        bits = pairs.dtype.itemsize * 8
        five = wide_words(pairs)
        for offset_binary in (False, True):
            costs.append(_med_bits(five, bits, offset_binary, False))
            if five.shape[4] >= 2:
                costs.append(_med_bits(five, bits, offset_binary, True))
    return np.min(costs, axis=0)
