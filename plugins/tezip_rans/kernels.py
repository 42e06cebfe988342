"""The compiled loops of ``tezip.rans``: one pass to gather statistics, one to encode, one to
decode. A GOP's field ``(frames, planes, H, W)`` of int64 is cut into partitions of whole
bands of rows (every frame and plane of rows ``top .. bottom``); each partition is coded on
its own (rANS bytes plus raw bits), so partitions decode independently and in any order.

Within a partition elements go frame by frame, plane by plane, row by row. An element's
context is computed from decoded values only: its west / north / north-west / north-east
neighbours in the partition (missing ones repeat the nearest known, see
:func:`_upper_neighbours`) and the class of the error at its position in the previous frame.
The encoder works a row at a time on whole arrays (the compiler vectorises it); the decoder
computes what the row above decides for the whole row first, then walks the row. The scalar
steps both share are what :mod:`tezip_rans.cudakernels` compiles for a GPU.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numba import njit

from tezip.parallel import thread_map
from tezip_rans import elements as el
from tezip_rans import model, rans

#: columns of a plane's parameter row: spatial predictor, gradient thresholds t1 t2 t3,
#: error-class thresholds u1 u2 (all stored), the plane's value range (derived), the
#: fitted predictor's weights (stored for a plane that uses it, else zero), its intensity
#: classes and their bounds (stored from version 4) and its first context (derived)
PARAMETERS = el.FIRST + 1
STORED = 6
#: kernel status codes (0: success)
RANS_EXHAUSTED, BITS_EXHAUSTED, BAD_FINAL_STATE, TRAILING_BYTES = 1, 2, 3, 4


@njit(cache=True)
def _upper_neighbours(
    above: np.ndarray, first: bool, x: int, west: np.int64
) -> tuple[np.int64, np.int64, np.int64]:
    """North, north-west and north-east of element ``x`` given its west (on a partition's
    first row every neighbour is the west one; the first element's west is zero there,
    else its north, and its north-west is its north; past the last column the north-east
    is the north)."""
    if first:
        return west, west, west
    at = np.uint64(x)
    north = above[at]
    northeast = above[at + np.uint64(1)] if x + 1 < len(above) else north
    return north, above[np.uint64(max(x - 1, 0))], northeast


@njit(cache=True)
def _model_row(
    plane: np.ndarray,
    y: int,
    top: int,
    parameters: np.ndarray,
    before: np.ndarray,
    upper: np.ndarray,
    prediction: np.ndarray,
    context: np.ndarray,
    sign: np.ndarray,
) -> None:
    """Encoder: prediction, context and error sign of every element of row ``y``, exactly
    as the decoder derives them from decoded values."""
    above = _upper_row(plane, y, top, parameters, upper)
    row, first, last = plane[y], y == top, plane.shape[1] - 1
    if first or last < 2:
        for x in range(last + 1):
            _model_at(x, row, above, first, upper, before, parameters, prediction, context, sign)
        return
    # column 1 lacks a west-west; the width test above stays ``last < 2`` (``last < 3``
    # kept the loop below from vectorising: the statistics pass ran 1.7 times slower)
    for x in (0, 1, last):
        _model_at(x, row, above, first, upper, before, parameters, prediction, context, sign)
    found = (prediction, context, sign)
    if parameters[el.CLASSES] > 1:  # the loop compiled twice: one class skips the classing
        _model_inside(row, above, upper, before, parameters, found, True)
    else:
        _model_inside(row, above, upper, before, parameters, found, False)


@njit(cache=True, inline="always")
def _model_inside(
    row: np.ndarray,
    above: np.ndarray,
    upper: np.ndarray,
    before: np.ndarray,
    parameters: np.ndarray,
    found: tuple[np.ndarray, np.ndarray, np.ndarray],
    shaded: bool,
) -> None:
    """:func:`_model_row` on columns ``2 .. W - 2``, where every neighbour is present: no edge
    cases, so the loop vectorises (``found``: the prediction, context and sign rows to fill;
    ``shaded``: the plane has intensity classes)."""
    prediction, context, sign = found
    mode, weights, bounds = parameters[0], el.weights_of(parameters), el.bounds_of(parameters)
    low, high, first_context = parameters[el.LOW], parameters[el.HIGH], parameters[el.FIRST]
    for x in range(2, len(row) - 1):
        west, north, northwest, northeast = row[x - 1], above[x], above[x - 1], above[x + 1]
        key, sign[x] = _key(upper[x], northwest, west, before[x], parameters)
        guess = el.predict(mode, west, north, northwest, northeast, row[x - 2], weights, low, high)
        prediction[x] = guess
        context[x] = first_context + key + (_shade(guess, bounds) if shaded else 0)


@njit(cache=True)
def _model_at(
    x: int,
    row: np.ndarray,
    above: np.ndarray,
    first: bool,
    upper: np.ndarray,
    before: np.ndarray,
    parameters: np.ndarray,
    prediction: np.ndarray,
    context: np.ndarray,
    sign: np.ndarray,
) -> None:
    """:func:`_model_row` at column ``x``, whichever neighbours it lacks."""
    west = row[x - 1] if x > 0 else (np.int64(0) if first else above[0])
    westwest = row[x - 2] if x > 1 else west
    north, northwest, northeast, key, flip = _context(
        x, west, above, first, upper[x], before[x], parameters
    )
    guess = el.predict(
        parameters[0],
        west,
        north,
        northwest,
        northeast,
        westwest,
        el.weights_of(parameters),
        parameters[el.LOW],
        parameters[el.HIGH],
    )
    prediction[x], context[x] = guess, _placed(key, guess, parameters)
    sign[x] = flip


@njit(cache=True)
def _context(
    x: int,
    west: np.int64,
    above: np.ndarray,
    first: bool,
    upper: np.int64,
    before: np.uint8,
    knobs: np.ndarray,
) -> tuple[np.int64, np.int64, np.int64, np.int64, np.int64]:
    """North, north-west, north-east, key (0 .. CONTEXTS - 1, :func:`_key`) and error sign
    of element ``x`` of a row, given its west, the row above, the row's upper gradient
    pattern at ``x`` (:func:`upper_at`) and the temporal class at ``x`` in the previous
    frame."""
    north, northwest, northeast = _upper_neighbours(above, first, x, west)
    key, flip = _key(upper, northwest, west, before, knobs)
    return north, northwest, northeast, key, flip


@njit(cache=True)
def _key(
    upper: np.int64, northwest: np.int64, west: np.int64, before: np.uint8, knobs: np.ndarray
) -> tuple[np.int64, np.int64]:
    """Key (0 .. CONTEXTS - 1: the context within an intensity class) and error sign of an
    element with these neighbours, upper gradient pattern and temporal class."""
    gradient, flip = el.fold(upper, northwest, west, knobs[1], knobs[2], knobs[3])
    return gradient * el.TEMPORAL_CLASSES + np.int64(before), flip


@njit(cache=True)
def _placed(key: np.int64, prediction: np.int64, knobs: np.ndarray) -> np.int64:
    """The context, in the GOP's context map, of an element of key ``key`` (:func:`_key`)
    and prediction ``prediction``: its plane's first context, then its intensity class's."""
    return knobs[el.FIRST] + key + _shade(prediction, el.bounds_of(knobs))


@njit(cache=True)
def _shade(prediction: np.int64, bounds: el.Bounds) -> np.int64:
    """How far the contexts of an element's intensity class lie from its plane's first."""
    return el.intensity(prediction, bounds) * el.CONTEXTS


@njit(cache=True)
def _symbol(
    value: np.int64, prediction: np.int64, flip: np.int64, knobs: np.ndarray
) -> tuple[np.int64, np.int64, np.int64, np.uint64]:
    """The encoder's view of an element: its error's temporal class for the next frame, and
    its token, raw bit count and raw bits."""
    error = value - prediction
    token, count, low = el.tokenise(el.zigzag(error * flip))
    return el.temporal_class(error, knobs[4], knobs[5]), token, count, low


@njit(cache=True, nogil=True)
def analyse(
    field: np.ndarray,
    parameters: np.ndarray,
    rows: int,
    histogram: np.ndarray,
    contexts: np.ndarray,
    tokens: np.ndarray,
    raw: np.ndarray,
    raw_starts: np.ndarray,
    raw_ends: np.ndarray,
    first: int,
    stop: int,
    used: int,
    keep: bool,
) -> None:
    """The encoder's pass over partitions ``first .. stop - 1`` of a field: every element's
    context in the GOP's context map (:func:`_placed`, uint16) and token (uint8) in coding
    order, partition after partition, from index ``used`` on; their histogram ``(contexts,
    tokens)`` (added to); and the raw bits of every partition (written from
    ``raw_starts[b]``, ending at ``raw_ends[b]``, set here). Disjoint partition ranges may
    run at once, each with a histogram of its own. Unless ``keep``, only the histogram and
    the raw bits' ends are made (what a trial's cost needs)."""
    frames, planes, height, width = field.shape
    classes = np.zeros((2, planes, rows, width), np.uint8)
    upper = np.empty(width, np.int64)
    prediction = np.empty(width, np.int64)
    context = np.empty(width, np.int64)
    sign = np.empty(width, np.int64)
    for band in range(first, stop):
        top = band * rows
        bottom = min(height, top + rows)
        position, buffer, filled = raw_starts[band], np.uint64(0), np.int64(0)
        classes[:] = 0
        for frame in range(frames):
            now, before = classes[frame & 1], classes[(frame + 1) & 1]
            for p in range(planes):
                plane, knobs = field[frame, p], parameters[p]
                for y in range(top, bottom):
                    before_row, classes_row = before[p, y - top], now[p, y - top]
                    _model_row(plane, y, top, knobs, before_row, upper, prediction, context, sign)
                    row = plane[y]
                    for x in range(width):
                        temporal, token, count, low = _symbol(row[x], prediction[x], sign[x], knobs)
                        classes_row[x] = temporal
                        key = context[x]
                        histogram[key, token] += 1
                        if keep:
                            contexts[used] = key
                            tokens[used] = token
                            used += 1
                            if count:
                                position, buffer, filled = rans.write_bits(
                                    low, count, raw, position, buffer, filled
                                )
                        else:
                            filled += count
        if keep:
            raw_ends[band] = rans.finish_bits(raw, position, buffer, filled)
        else:
            raw_ends[band] = position + (filled + 7) // 8


@njit(cache=True, nogil=True)
def encode(
    contexts: np.ndarray,
    tokens: np.ndarray,
    counts: np.ndarray,
    clusters: np.ndarray,
    symbols: np.ndarray,
    out: np.ndarray,
    region_ends: np.ndarray,
    stream_starts: np.ndarray,
    first: int,
    stop: int,
    end: int,
) -> None:
    """rANS-code partitions ``first .. stop - 1`` from :func:`analyse`'s contexts and tokens
    (``counts[b]`` elements in partition ``b``, partition ``first``'s from index ``end``
    on): partition ``b`` is written backwards ending at ``region_ends[b]`` and starts at
    ``stream_starts[b]`` (set here). Disjoint partition ranges may run at once.

    ``clusters`` maps each context (:func:`_placed`) to a table; ``symbols`` is
    ``(tables, tokens)`` of :func:`tezip_rans.rans.encoder_symbols`.
    """
    flat, width = symbols.ravel(), symbols.shape[1]
    for band in range(first, stop, 2):  # two partitions at once: two dependency chains
        paired = band + 1 < stop
        start_a, end_a = end, end + counts[band]
        start_b, end_b = end_a, end_a + (counts[band + 1] if paired else 0)
        end = end_b if paired else end_a
        state_a, position_a = np.int64(rans.LOWER), np.int64(region_ends[band])
        state_b = np.int64(rans.LOWER)
        position_b = np.int64(region_ends[band + 1]) if paired else np.int64(0)
        steps = min(end_a - start_a, end_b - start_b)
        for step in range(steps):
            state_a, position_a = _push(
                end_a - 1 - step, contexts, tokens, clusters, flat, width, state_a, out, position_a
            )
            state_b, position_b = _push(
                end_b - 1 - step, contexts, tokens, clusters, flat, width, state_b, out, position_b
            )
        for index in range(end_a - 1 - steps, start_a - 1, -1):  # what the longer one has left
            state_a, position_a = _push(
                index, contexts, tokens, clusters, flat, width, state_a, out, position_a
            )
        for index in range(end_b - 1 - steps, start_b - 1, -1):
            state_b, position_b = _push(
                index, contexts, tokens, clusters, flat, width, state_b, out, position_b
            )
        stream_starts[band] = rans.flush(state_a, out, position_a)
        if paired:
            stream_starts[band + 1] = rans.flush(state_b, out, position_b)


@njit(cache=True, inline="always")
def _push(
    index: int,
    contexts: np.ndarray,
    tokens: np.ndarray,
    clusters: np.ndarray,
    flat: np.ndarray,
    width: int,
    state: np.int64,
    out: np.ndarray,
    position: np.int64,
) -> tuple[np.int64, np.int64]:
    """Push element ``index`` of :func:`analyse`'s output onto a partition's rANS state."""
    table = clusters[np.uint64(contexts[index])]
    symbol = flat[np.uint64(table * width + np.int64(tokens[index]))]
    return rans.encode_symbol(state, symbol, out, position)


@njit(cache=True)
def _decode_element(
    prediction: np.int64,
    table: np.int64,
    flip: np.int64,
    tokens: np.ndarray,
    symbols: np.ndarray,
    data: np.ndarray,
    state: np.int64,
    position: np.int64,
    bit_position: np.int64,
    buffer: np.uint64,
    filled: np.int64,
) -> tuple[np.int64, np.int64, np.int64, np.int64, np.int64, np.uint64, np.int64]:
    """Decode one element predicted ``prediction``: its value and error, and the new coder
    states. ``tokens`` and ``symbols`` are :func:`tezip_rans.model.decode_tables`' arrays,
    flat (unsigned indices spare the compiled code its negative-index handling)."""
    slot = state & _SLOT
    token = np.int64(tokens[np.uint64((table << rans.PROBABILITY_BITS) | slot)])
    symbol = np.int64(symbols[np.uint64(table * _STRIDE + token)])
    state, position = rans.decode_step(
        state, (symbol & 0xFFF) + 1, slot - (symbol >> 12), data, position
    )
    if token >= el.DIRECT:  # a branch: most tokens carry no raw bits (1.2x faster)
        low_bits, bit_position, buffer, filled = rans.read_bits(
            el.token_extra_bits(token), data, bit_position, buffer, filled
        )
        error = el.unzigzag(el.detokenise(token, low_bits))
    else:  # (one ``unzigzag`` after the branches, of a symbol either sets, ran 3x slower)
        error = el.unzigzag(np.uint64(token))
    error = -error if flip < 0 else error
    return prediction + error, error, state, position, bit_position, buffer, filled


_SLOT = rans.TOTAL - 1
_STRIDE = model.SYMBOL_STRIDE


@njit(cache=True)
def _upper_row(
    plane: np.ndarray, y: int, top: int, parameters: np.ndarray, upper: np.ndarray
) -> np.ndarray:
    """What the row above decides for every element of row ``y``: the upper gradient
    pattern. Returns the row above (the row itself on a partition's first row, where every
    neighbour is the west one and the pattern is flat)."""
    width = plane.shape[1]
    t1, t2, t3 = parameters[1], parameters[2], parameters[3]
    if y == top:
        upper[:] = 0
        return plane[y]
    above = plane[y - 1]
    last = width - 1
    upper[0] = upper_at(above, 0, last, t1, t2, t3)
    for x in range(1, last):  # no edge cases inside: the compiler vectorises this loop
        upper[x] = el.upper_gradients(above[x], above[x - 1], above[x + 1], t1, t2, t3)
    upper[last] = upper_at(above, last, last, t1, t2, t3)
    return above


@njit(cache=True)
def upper_at(
    above: np.ndarray, x: int, last: int, t1: np.int64, t2: np.int64, t3: np.int64
) -> np.int64:
    """The upper gradient pattern of element ``x`` below row ``above`` (columns ``0 ..
    last``): north-west and north-east repeat the north past the edges."""
    north = above[np.uint64(x)]
    northwest = above[np.uint64(max(x - 1, 0))]
    northeast = above[np.uint64(min(x + 1, last))]
    return el.upper_gradients(north, northwest, northeast, t1, t2, t3)


@njit(cache=True)
def _final_status(
    state: np.int64,
    position: np.int64,
    end: np.int64,
    bit_position: np.int64,
    filled: np.int64,
    raw_start: np.int64,
    raw_end: np.int64,
) -> int:
    """0 when a partition's streams were consumed exactly and the coder is back where the
    encoder started, else the status saying what went wrong."""
    if state != rans.LOWER:
        return BAD_FINAL_STATE
    if position != end:
        return RANS_EXHAUSTED if position > end else TRAILING_BYTES
    used = ((bit_position - raw_start) * 8 - filled + 7) // 8
    if used != raw_end - raw_start:
        return BITS_EXHAUSTED if used > raw_end - raw_start else TRAILING_BYTES
    return 0


#: a partition's decoder state: rANS state and position, raw-bit position, buffer, fill
Lane = tuple[np.int64, np.int64, np.int64, np.uint64, np.int64]


@njit(cache=True, inline="always")
def _decode_at(
    x: int,
    west: np.int64,
    westwest: np.int64,
    above: np.ndarray,
    first: bool,
    base: np.int64,
    keyed: np.ndarray,
    knobs: np.ndarray,
    mode: np.int64,
    tokens: np.ndarray,
    symbols: np.ndarray,
    data: np.ndarray,
    lane: Lane,
) -> tuple[np.int64, np.int64, Lane]:
    """Decode element ``x`` of a row given its west and west-west and where it looks up its
    table (:func:`row_bases`), ``mode`` being the plane's predictor (``knobs[0]``): its value
    and error, and the partition's new state. Inlined in numba's IR (as a call it made the
    CPU decoder 1.5 times slower)."""
    north, northwest, northeast = _upper_neighbours(above, first, x, west)
    west_gradient = el.level(northwest - west, knobs[1], knobs[2], knobs[3])
    prediction = el.predict(
        mode,
        west,
        north,
        northwest,
        northeast,
        westwest,
        el.weights_of(knobs),
        knobs[el.LOW],
        knobs[el.HIGH],
    )
    # one class: no wait for the prediction (a steady branch)
    bounds = el.bounds_of(knobs)
    shade = el.intensity(prediction, bounds) if knobs[el.CLASSES] > 1 else np.int64(0)
    at = base + el.TEMPORAL_CLASSES * west_gradient + _SHADE_STRIDE * shade
    entry = np.int64(keyed[np.uint64(at)])
    state, position, bit_position, buffer, filled = lane
    value, error, state, position, bit_position, buffer, filled = _decode_element(
        prediction,
        entry & _TABLE,
        1 - 2 * (entry >> _NEGATED_BIT),
        tokens,
        symbols,
        data,
        state,
        position,
        bit_position,
        buffer,
        filled,
    )
    return value, error, (state, position, bit_position, buffer, filled)


#: gradient patterns ``81 d1 + 9 d2 + d3`` (-364 .. 364), before mirrored ones are merged
PATTERNS = 2 * el.GRADIENT_CONTEXTS - 1
#: entries of a plane's :func:`keyed_tables` per intensity class
_SHADE_STRIDE = PATTERNS * el.TEMPORAL_CLASSES
#: a :func:`keyed_tables` entry: the table in its low bits, and this bit where the errors
#: are negated (tables are fewer than 2**7, :data:`tezip_rans.model.MAX_TABLES`)
_NEGATED_BIT = 7
_TABLE = (1 << _NEGATED_BIT) - 1


@njit(cache=True)
def keyed_tables(clusters: np.ndarray, parameters: np.ndarray) -> np.ndarray:
    """What a decoder looks up per plane instead of the context map ``clusters`` (every
    context's table, :func:`_placed`): for every intensity class ``i``, gradient pattern
    ``c`` (before mirrored ones merge) and temporal class ``t``, at ``i`` times
    :data:`_SHADE_STRIDE` plus :func:`base_at` ``(c, t)``, the context's table, plus ``2**7``
    where the errors are negated (:func:`tezip_rans.elements.mirror`). One lookup where the
    context map needed the fold's absolute value and sign first (the decoder is 3%
    faster); constant strides keep the lookup's address a few instructions from the west
    value."""
    planes = parameters.shape[0]
    keyed = np.zeros((planes, parameters[:, el.CLASSES].max() * _SHADE_STRIDE), np.uint8)
    for p in range(planes):
        first = parameters[p, el.FIRST]
        for shade in range(parameters[p, el.CLASSES]):
            for centred in range(-(el.GRADIENT_CONTEXTS - 1), el.GRADIENT_CONTEXTS):
                context, flip = el.mirror(centred)
                negated = (1 << _NEGATED_BIT) if flip < 0 else 0
                for before in range(el.TEMPORAL_CLASSES):
                    key = first + shade * el.CONTEXTS + context * el.TEMPORAL_CLASSES + before
                    at = shade * _SHADE_STRIDE + base_at(centred, np.uint8(before))
                    keyed[p, at] = clusters[key] | negated
    return keyed


@njit(cache=True)
def row_bases(upper: np.ndarray, before: np.ndarray, bases: np.ndarray) -> None:
    """Where each element of a row looks up its table in :func:`keyed_tables` but for its
    west gradient and intensity class: from its upper gradient pattern (:func:`upper_at`)
    and its temporal class from the previous frame. A pass of its own, which the compiler
    vectorises."""
    for x in range(len(upper)):
        bases[x] = base_at(upper[x], before[x])


@njit(cache=True)
def base_at(upper: np.int64, before: np.uint8) -> np.int64:
    """Where an element with this upper gradient pattern (:func:`upper_at`) and temporal
    class looks up its table in :func:`keyed_tables` but for its west gradient and intensity
    class."""
    return (upper + el.GRADIENT_CONTEXTS - 1) * el.TEMPORAL_CLASSES + np.int64(before)


@njit(cache=True)
def _classify(errors: np.ndarray, classes: np.ndarray, knobs: np.ndarray) -> None:
    """The temporal classes of a decoded row's errors, for the next frame: a pass of its
    own, which the compiler vectorises (in the element loop it made decoding 5% slower)."""
    u1, u2 = knobs[4], knobs[5]
    for x in range(len(errors)):
        classes[x] = el.temporal_class(errors[x], u1, u2)


#: what every element of a plane's rows is decoded with: its :func:`keyed_tables`, its
#: parameters, the decode tables (:func:`tezip_rans.model.decode_tables`) and the stream
Shared = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]


@njit(cache=True, inline="always")
def _paired_row(
    mode: np.int64,
    first: bool,
    pair: tuple,
    bases: np.ndarray,
    errors: np.ndarray,
    shared: Shared,
) -> tuple[Lane, Lane]:
    """Decode a row of each of two partitions, their elements alternating (two dependency
    chains the processor overlaps). ``pair`` holds, for both, the partition's state, the
    first element's west, the row above and the row to fill, ``bases`` their
    :func:`row_bases`; returns the partitions' new states."""
    (lane_a, lane_b), (west_a, west_b), (above_a, above_b), (row_a, row_b) = pair
    keyed, knobs, slots, flat, data = shared
    westwest_a, westwest_b = west_a, west_b
    for x in range(len(row_a)):
        at = np.uint64(x)
        value_a, error_a, lane_a = _decode_at(
            x, west_a, westwest_a, above_a, first, bases[0, at], keyed, knobs, mode, slots,
            flat, data, lane_a,
        )  # fmt: skip
        value_b, error_b, lane_b = _decode_at(
            x, west_b, westwest_b, above_b, first, bases[1, at], keyed, knobs, mode, slots,
            flat, data, lane_b,
        )  # fmt: skip
        errors[0, x], errors[1, x] = error_a, error_b
        row_a[x], row_b[x] = value_a, value_b
        westwest_a, west_a = west_from(x, west_a, value_a)
        westwest_b, west_b = west_from(x, west_b, value_b)
    return lane_a, lane_b


@njit(cache=True, inline="always")
def _single_row(
    mode: np.int64,
    first: bool,
    alone: tuple,
    bases: np.ndarray,
    errors: np.ndarray,
    shared: Shared,
) -> Lane:
    """Decode a row of one partition (``alone`` as one of :func:`_paired_row`'s pair);
    returns its new state."""
    lane, west, above, row = alone
    keyed, knobs, slots, flat, data = shared
    westwest = west
    for x in range(len(row)):
        value, error, lane = _decode_at(
            x, west, westwest, above, first, bases[np.uint64(x)], keyed, knobs, mode, slots,
            flat, data, lane,
        )  # fmt: skip
        errors[x] = error
        row[x] = value
        westwest, west = west_from(x, west, value)
    return lane


@njit(cache=True, inline="always")
def west_from(x: int, west: np.int64, value: np.int64) -> tuple[np.int64, np.int64]:
    """West-west and west of the element after element ``x`` of a row, whose west was
    ``west`` and whose value is ``value`` (in the first two columns the west-west is the
    west)."""
    return (west if x > 0 else value), value


@njit(cache=True)
def _start_lane(data: np.ndarray, rans_spans: np.ndarray, raw_spans: np.ndarray, band: int) -> Lane:
    start = rans_spans[band, 0]
    state = rans.load(data, start, rans.STATE_BYTES)
    return state, start + rans.STATE_BYTES, raw_spans[band, 0], np.uint64(0), np.int64(0)


@njit(cache=True, nogil=True)
def decode(
    data: np.ndarray,
    rans_spans: np.ndarray,
    raw_spans: np.ndarray,
    parameters: np.ndarray,
    rows: int,
    keyed: np.ndarray,
    tokens: np.ndarray,
    symbols: np.ndarray,
    field: np.ndarray,
    first: int,
    stop: int,
) -> tuple[int, int]:
    """Decode partitions ``first .. stop - 1`` into ``field`` (disjoint ranges may run at
    once); returns ``(status, partition)``. ``keyed`` holds each plane's
    :func:`keyed_tables`.

    ``data`` holds the stream followed by :data:`rans.PADDING` zero bytes; partition ``b``
    has its rANS bytes at ``rans_spans[b]`` and raw bits at ``raw_spans[b]`` (start, end).
    ``tokens`` and ``symbols`` are :func:`tezip_rans.model.decode_tables`'. A stream
    that ends early, leaves bytes over or does not return to the encoder's initial state is
    reported once its partition ends; reads never leave ``data``.

    Partitions are decoded two at a time, their rows alternating element by element, so
    that the processor overlaps two independent dependency chains (a partition without a
    partner, and the rows the last partition lacks, go alone).
    """
    frames, planes, height, width = field.shape
    classes = np.zeros((2, 2, planes, rows, width), np.uint8)  # lane, frame parity, ...
    upper = np.zeros(width, np.int64)
    bases = np.zeros((2, width), np.int64)
    errors = np.zeros((2, width), np.int64)
    slots, flat = tokens.ravel(), symbols.ravel()
    for first_band in range(first, stop, 2):
        paired = first_band + 1 < stop
        band_b = first_band + 1 if paired else first_band
        top_a, top_b = first_band * rows, band_b * rows
        rows_a = min(height, top_a + rows) - top_a
        rows_b = min(height, top_b + rows) - top_b if paired else 0
        lane_a = _start_lane(data, rans_spans, raw_spans, first_band)
        lane_b = _start_lane(data, rans_spans, raw_spans, band_b)
        classes[:] = 0
        for frame in range(frames):
            now, before = frame & 1, (frame + 1) & 1
            for p in range(planes):
                plane, knobs = field[frame, p], parameters[p]
                shared = (keyed[p], knobs, slots, flat, data)
                for r in range(rows_a):  # a partition is never shorter than the one after it
                    first = r == 0
                    above_a = _upper_row(plane, top_a + r, top_a, knobs, upper)
                    row_bases(upper, classes[0, before, p, r], bases[0])
                    row_a, west_a = plane[top_a + r], np.int64(0) if first else above_a[0]
                    if r < rows_b:
                        above_b = _upper_row(plane, top_b + r, top_b, knobs, upper)
                        row_bases(upper, classes[1, before, p, r], bases[1])
                        row_b, west_b = plane[top_b + r], np.int64(0) if first else above_b[0]
                        pair = (
                            (lane_a, lane_b),
                            (west_a, west_b),
                            (above_a, above_b),
                            (row_a, row_b),
                        )
                        if knobs[0] == el.MED:  # its selects compiled in: 4% faster
                            lane_a, lane_b = _paired_row(el.MED, first, pair, bases, errors, shared)
                        else:
                            lane_a, lane_b = _paired_row(
                                knobs[0], first, pair, bases, errors, shared
                            )
                        _classify(errors[0], classes[0, now, p, r], knobs)
                        _classify(errors[1], classes[1, now, p, r], knobs)
                    else:  # a partition alone, or rows past a shorter partner (the last)
                        alone = (lane_a, west_a, above_a, row_a)
                        if knobs[0] == el.MED:
                            lane_a = _single_row(el.MED, first, alone, bases[0], errors[0], shared)
                        else:
                            lane_a = _single_row(
                                knobs[0], first, alone, bases[0], errors[0], shared
                            )
                        _classify(errors[0], classes[0, now, p, r], knobs)
        for band, lane in ((first_band, lane_a), (band_b, lane_b)):
            state, position, bit_position, _, filled = lane
            status = _final_status(
                state,
                position,
                rans_spans[band, 1],
                bit_position,
                filled,
                raw_spans[band, 0],
                raw_spans[band, 1],
            )
            if status:
                return status, band
            if not paired:  # the second lane was the first one's copy, never decoded
                break
    return 0, 0


def raw_regions(counts: np.ndarray) -> np.ndarray:
    """Where the raw bits of partitions of ``counts`` elements are written: partition ``b``
    from entry ``b`` on, room for symbols of ``SYMBOL_BITS`` each; the last entry is the
    total."""
    return np.concatenate([[0], np.cumsum(counts * el.SYMBOL_BITS // 8 + 8)]).astype(np.int64)


def rans_regions(counts: np.ndarray) -> np.ndarray:
    """Where the rANS bytes of partitions of ``counts`` elements end, each written backwards
    in a region of two bytes per element, the final state and room below for the word
    :func:`tezip_rans.rans.encode_symbol` always stores."""
    return np.cumsum(counts * 2 + 16).astype(np.int64)


def partition_sizes(shape: tuple[int, ...], rows: int) -> np.ndarray:
    """Elements of each partition of a field ``(frames, planes, H, W)``."""
    frames, planes, height, width = shape
    tops = np.arange(0, height, rows)
    return frames * planes * width * (np.minimum(height, tops + rows) - tops)


@dataclass
class Analysis:
    """What :func:`analyse` found in a field, ready for clustering and :func:`encode`."""

    histogram: np.ndarray
    contexts: np.ndarray
    tokens: np.ndarray
    counts: np.ndarray  # elements per partition
    raw: list[bytes]  # raw bits per partition


def partition_ranges(counts: np.ndarray, threads: int) -> list[tuple[int, int]]:
    """``min(len(counts), threads)`` contiguous ranges ``(first, stop)`` of partitions of
    ``counts`` elements, each cut where the elements before it come nearest an equal share
    (moved where needed so that no range is empty)."""
    ends, ranges = np.cumsum(counts), min(len(counts), max(1, threads))
    cuts = [0]
    for k in range(1, ranges):
        nearest = int(np.abs(ends[:-1] - ends[-1] * k / ranges).argmin()) + 1
        cuts.append(min(max(nearest, cuts[-1] + 1), len(counts) - ranges + k))
    return list(itertools.pairwise([*cuts, len(counts)]))


def starts(counts: np.ndarray) -> np.ndarray:
    """Index of each partition's first element in coding order (``counts`` per partition)."""
    return np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)


def analysed(field: np.ndarray, parameters: np.ndarray, rows: int, threads: int = 1) -> Analysis:
    """Run :func:`analyse` over a field with buffers of the right sizes, its partitions
    spread over up to ``threads`` threads."""
    histogram, contexts, tokens, counts, raw, raw_starts, raw_ends = _analysis(
        field, parameters, rows, threads, True
    )
    pieces = [raw[a:b].tobytes() for a, b in zip(raw_starts, raw_ends, strict=True)]
    return Analysis(histogram, contexts, tokens, counts, pieces)


def statistics(field: np.ndarray, parameters: np.ndarray, rows: int) -> tuple[np.ndarray, int]:
    """What :func:`analysed` finds that a trial's cost needs, without keeping the rest (a
    quarter faster): the histogram and the raw bits' bytes."""
    histogram, *_, raw_starts, raw_ends = _analysis(field, parameters, rows, 1, False)
    return histogram, int((raw_ends - raw_starts).sum())


def _analysis(
    field: np.ndarray, parameters: np.ndarray, rows: int, threads: int, keep: bool
) -> tuple[np.ndarray, ...]:
    """:func:`analyse` over a whole field: histogram, contexts, tokens, elements per
    partition, raw bits and their starts and ends (contexts, tokens and raw bits left empty
    unless ``keep``)."""
    counts = partition_sizes(field.shape, rows)
    regions = raw_regions(counts)
    raw = np.empty(int(regions[-1]) if keep else 0, np.uint8)
    raw_starts = regions[:-1]
    raw_ends = np.zeros(len(counts), np.int64)
    spread = int((parameters[:, el.HIGH] - parameters[:, el.LOW]).max())  # widest plane range
    tokens_used = el.token_count((2 * spread).bit_length())  # the errors' largest token + 1
    histogram = np.zeros((context_count(parameters), tokens_used), np.int64)
    contexts = np.empty(field.size if keep else 0, np.uint16)
    tokens = np.empty(field.size if keep else 0, np.uint8)
    first_elements = starts(counts)
    ranges = partition_ranges(counts, threads)

    def part(span: tuple[int, int]) -> np.ndarray:
        # one range counts into the histogram itself; several each into their own
        own = histogram if len(ranges) == 1 else np.zeros_like(histogram)
        first, stop = span
        analyse(
            field,
            parameters,
            rows,
            own,
            contexts,
            tokens,
            raw,
            raw_starts,
            raw_ends,
            first,
            stop,
            first_elements[first],
            keep,
        )
        return own

    for own in thread_map(part, ranges, threads):
        if own is not histogram:
            histogram += own
    return histogram, contexts, tokens, counts, raw, raw_starts, raw_ends


#: a plane's intensity columns with one class: the count, then no bound
ONE_CLASS = (1, *(el.NO_BOUND,) * (el.MAX_CLASSES - 1))


def split_at(row: np.ndarray, bounds: Sequence[int] | np.ndarray) -> None:
    """Give a plane's parameter row the intensity classes that increasing ``bounds`` split
    (none: one class); its first context is left to :func:`placed`."""
    row[el.CLASSES] = len(bounds) + 1
    row[el.BOUNDS : el.FIRST] = el.NO_BOUND
    row[el.BOUNDS : el.BOUNDS + len(bounds)] = bounds


def context_count(parameters: np.ndarray) -> int:
    """Contexts in the context map of a GOP whose planes have these parameter rows: each
    plane's :data:`tezip_rans.elements.CONTEXTS` per intensity class."""
    return int(parameters[:, el.CLASSES].sum()) * el.CONTEXTS


def placed(parameters: np.ndarray) -> np.ndarray:
    """``parameters`` with each plane's first context in the GOP's context map filled in
    (the planes' contexts follow each other, each plane's by intensity class)."""
    placed = parameters.copy()
    classes = parameters[:, el.CLASSES]
    placed[:, el.FIRST] = (np.cumsum(classes) - classes) * el.CONTEXTS
    return placed
