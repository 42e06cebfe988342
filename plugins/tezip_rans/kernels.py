"""The compiled loops of ``tezip.rans``: one pass to gather statistics, one to encode, one to
decode. A GOP's field ``(frames, planes, H, W)`` of int64 is cut into partitions of whole
bands of rows (every frame and plane of rows ``top .. bottom``); each partition is coded on
its own (rANS bytes plus raw bits), so partitions decode independently and in any order.

Within a partition elements go frame by frame, plane by plane, row by row. An element's
context is computed from decoded values only: its west / north / north-west / north-east
neighbours in the partition (missing ones repeat the nearest known, see
:func:`tezip_rans.elements.neighbours`) and the error at its position in the previous frame.
The encoder works a row at a time on whole arrays (the compiler vectorises it); the decoder
computes what the row above decides for the whole row first, then walks the row.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from tezip_rans import elements as el
from tezip_rans import rans

#: columns of a plane's parameter row: spatial predictor, gradient thresholds t1 t2 t3,
#: error-class thresholds u1 u2 (all stored), and the plane's value range (derived)
PARAMETERS = 8
STORED = 6
#: kernel status codes (0: success)
RANS_EXHAUSTED, BITS_EXHAUSTED, BAD_FINAL_STATE, TRAILING_BYTES = 1, 2, 3, 4


@njit(cache=True, inline="always")
def _model_row(
    plane: np.ndarray,
    y: int,
    top: int,
    parameters: np.ndarray,
    before: np.ndarray,
    prediction: np.ndarray,
    context: np.ndarray,
    sign: np.ndarray,
) -> None:
    """Encoder: prediction, context and error sign of every element of row ``y``."""
    width = plane.shape[1]
    mode, t1, t2, t3, u1, u2, low, high = parameters
    row = plane[y]
    if y == top:  # every neighbour is the west one (zero for the first element)
        for x in range(width):
            west = row[x - 1] if x > 0 else np.int64(0)
            prediction[x] = el.predict(mode, west, west, west, low, high)
            context[x] = el.temporal_class(before[x], u1, u2)
            sign[x] = 1
        return
    above = plane[y - 1]
    for x in range(width):
        if 0 < x < width - 1:
            west, north, northwest, northeast = row[x - 1], above[x], above[x - 1], above[x + 1]
        else:
            west, north, northwest, northeast = el.neighbours(plane, y, x, top, width)
        upper = el.upper_gradients(north, northwest, northeast, t1, t2, t3)
        gradient, flip = el.fold(upper, northwest, west, t1, t2, t3)
        prediction[x] = el.predict(mode, west, north, northwest, low, high)
        context[x] = gradient * el.TEMPORAL_CLASSES + el.temporal_class(before[x], u1, u2)
        sign[x] = flip


@njit(cache=True, nogil=True)
def analyse(
    field: np.ndarray,
    parameters: np.ndarray,
    rows: int,
    histogram: np.ndarray,
    raw: np.ndarray,
    raw_starts: np.ndarray,
    raw_ends: np.ndarray,
) -> None:
    """Token histogram per (plane, context) and the raw bits of every partition.

    ``histogram`` is ``(planes * CONTEXTS, tokens)``; partition ``b`` writes its raw bits
    from ``raw_starts[b]`` and stores its end in ``raw_ends[b]``.
    """
    frames, planes, height, width = field.shape
    errors = np.zeros((2, planes, rows, width), np.int64)
    prediction = np.empty(width, np.int64)
    context = np.empty(width, np.int64)
    sign = np.empty(width, np.int64)
    for band in range(len(raw_starts)):
        top = band * rows
        bottom = min(height, top + rows)
        position, buffer, filled = raw_starts[band], np.uint64(0), np.int64(0)
        errors[:] = 0
        for frame in range(frames):
            now, before = errors[frame & 1], errors[(frame + 1) & 1]
            for p in range(planes):
                plane = field[frame, p]
                offset = p * el.CONTEXTS
                last, run = np.int64(-1), np.int64(0)  # runs of one (context, token) pair
                last_token = np.int64(0)
                for y in range(top, bottom):
                    _model_row(
                        plane, y, top, parameters[p], before[p, y - top], prediction, context, sign
                    )
                    row, errors_row = plane[y], now[p, y - top]
                    for x in range(width):
                        error = row[x] - prediction[x]
                        errors_row[x] = error
                        token, count, low = el.tokenise(el.zigzag(error * sign[x]))
                        key = offset + context[x]
                        if key == last and token == last_token:
                            run += 1
                        else:
                            if run:
                                histogram[last, last_token] += run
                            last, last_token, run = key, token, np.int64(1)
                        if count:
                            position, buffer, filled = rans.write_bits(
                                low, count, raw, position, buffer, filled
                            )
                if run:
                    histogram[last, last_token] += run
        raw_ends[band] = rans.finish_bits(raw, position, buffer, filled)


@njit(cache=True, nogil=True)
def encode(
    field: np.ndarray,
    parameters: np.ndarray,
    rows: int,
    clusters: np.ndarray,
    frequencies: np.ndarray,
    starts: np.ndarray,
    out: np.ndarray,
    region_ends: np.ndarray,
    stream_starts: np.ndarray,
) -> None:
    """rANS-code every partition: partition ``b`` is written backwards ending at
    ``region_ends[b]`` and starts at ``stream_starts[b]`` (set here).

    ``clusters`` maps ``(plane, context)`` to a table; ``frequencies`` and ``starts`` are
    ``(tables, tokens)``.
    """
    frames, planes, height, width = field.shape
    errors = np.zeros((2, planes, rows, width), np.int64)
    count = frames * planes * rows * width
    tables = np.empty(count, np.int64)
    tokens = np.empty(count, np.int64)
    prediction = np.empty(width, np.int64)
    context = np.empty(width, np.int64)
    sign = np.empty(width, np.int64)
    for band in range(len(region_ends)):
        top = band * rows
        bottom = min(height, top + rows)
        errors[:] = 0
        used = 0
        for frame in range(frames):
            now, before = errors[frame & 1], errors[(frame + 1) & 1]
            for p in range(planes):
                plane = field[frame, p]
                mapping = clusters[p]
                for y in range(top, bottom):
                    _model_row(
                        plane, y, top, parameters[p], before[p, y - top], prediction, context, sign
                    )
                    row, errors_row = plane[y], now[p, y - top]
                    for x in range(width):
                        error = row[x] - prediction[x]
                        errors_row[x] = error
                        tokens[used + x] = el.tokenise(el.zigzag(error * sign[x]))[0]
                        tables[used + x] = mapping[context[x]]
                    used += width
        state, position = np.int64(rans.LOWER), np.int64(region_ends[band])
        for index in range(used - 1, -1, -1):
            table, token = tables[index], tokens[index]
            state, position = rans.encode_symbol(
                state, starts[table, token], frequencies[table, token], out, position
            )
        stream_starts[band] = rans.flush(state, out, position)


@njit(cache=True)
def _decode_element(
    west: np.int64,
    north: np.int64,
    northwest: np.int64,
    table: np.int64,
    flip: np.int64,
    mode: np.int64,
    low: np.int64,
    high: np.int64,
    entries: np.ndarray,
    data: np.ndarray,
    state: np.int64,
    position: np.int64,
    bit_position: np.int64,
    buffer: np.uint64,
    filled: np.int64,
) -> tuple[np.int64, np.int64, np.int64, np.int64, np.int64, np.uint64, np.int64, np.int64]:
    """Decode one element: its value and error, the new coder states, and its raw bits."""
    entry = np.int64(entries[table, state & (rans.TOTAL - 1)])
    token = entry & 0xFF
    state, position = rans.decode_step(
        state, ((entry >> 8) & 0xFFF) + 1, entry >> 20, data, position
    )
    extra = el.token_extra_bits(token)
    bits, bit_position, buffer, filled = rans.read_bits(extra, data, bit_position, buffer, filled)
    error = el.unzigzag(el.detokenise(token, bits)) * flip
    prediction = el.predict(mode, west, north, northwest, low, high)
    return prediction + error, error, state, position, bit_position, buffer, filled, extra


@njit(cache=True, nogil=True)
def decode(
    data: np.ndarray,
    rans_spans: np.ndarray,
    raw_spans: np.ndarray,
    parameters: np.ndarray,
    rows: int,
    clusters: np.ndarray,
    entries: np.ndarray,
    field: np.ndarray,
) -> tuple[int, int]:
    """Decode every partition into ``field``; returns ``(status, partition)``.

    ``data`` holds the stream followed by :data:`rans.PADDING` zero bytes; partition ``b``
    has its rANS bytes at ``rans_spans[b]`` and raw bits at ``raw_spans[b]`` (start, end).
    ``entries`` is ``(tables, TOTAL)`` of :func:`tezip_rans.model.decode_entries`. A stream
    that ends early, leaves bytes over or does not return to the encoder's initial state is
    reported once its partition ends; reads never leave ``data``.
    """
    frames, planes, height, width = field.shape
    errors = np.zeros((2, planes, rows, width), np.int64)
    upper = np.zeros(width, np.int64)
    temporal = np.zeros(width, np.int64)
    for band in range(len(rans_spans)):
        top = band * rows
        bottom = min(height, top + rows)
        errors[:] = 0
        position, end = rans_spans[band, 0], rans_spans[band, 1]
        state = rans.load(data, position, rans.STATE_BYTES)
        position += rans.STATE_BYTES
        bit_position, buffer, filled = raw_spans[band, 0], np.uint64(0), np.int64(0)
        consumed = np.int64(0)
        for frame in range(frames):
            now, before = errors[frame & 1], errors[(frame + 1) & 1]
            for p in range(planes):
                plane = field[frame, p]
                mapping = clusters[p]
                mode, t1, t2, t3, u1, u2, low, high = parameters[p]
                for y in range(top, bottom):
                    row, errors_row, before_row = plane[y], now[p, y - top], before[p, y - top]
                    for x in range(width):
                        temporal[x] = el.temporal_class(before_row[x], u1, u2)
                    if y == top:  # every neighbour is the west one (zero at first)
                        west = np.int64(0)
                        for x in range(width):
                            west, error, state, position, bit_position, buffer, filled, extra = (
                                _decode_element(
                                    west,
                                    west,
                                    west,
                                    mapping[temporal[x]],
                                    np.int64(1),
                                    mode,
                                    low,
                                    high,
                                    entries,
                                    data,
                                    state,
                                    position,
                                    bit_position,
                                    buffer,
                                    filled,
                                )
                            )
                            consumed += extra
                            errors_row[x] = error
                            row[x] = west
                        continue
                    above = plane[y - 1]
                    for x in range(width):
                        northwest = above[max(x - 1, 0)]
                        northeast = above[min(x + 1, width - 1)]
                        upper[x] = el.upper_gradients(above[x], northwest, northeast, t1, t2, t3)
                    west = above[0]  # the first element's west and north-west are its north
                    for x in range(width):
                        north = above[x]
                        northwest = above[x - 1] if x > 0 else north
                        gradient, flip = el.fold(upper[x], northwest, west, t1, t2, t3)
                        table = mapping[gradient * el.TEMPORAL_CLASSES + temporal[x]]
                        west, error, state, position, bit_position, buffer, filled, extra = (
                            _decode_element(
                                west,
                                north,
                                northwest,
                                table,
                                flip,
                                mode,
                                low,
                                high,
                                entries,
                                data,
                                state,
                                position,
                                bit_position,
                                buffer,
                                filled,
                            )
                        )
                        consumed += extra
                        errors_row[x] = error
                        row[x] = west
        if state != rans.LOWER:
            return BAD_FINAL_STATE, band
        if position != end:
            return (RANS_EXHAUSTED if position > end else TRAILING_BYTES), band
        used, held = (consumed + 7) // 8, raw_spans[band, 1] - raw_spans[band, 0]
        if used != held:
            return (BITS_EXHAUSTED if used > held else TRAILING_BYTES), band
    return 0, 0


def raw_capacity(elements: int, bits: int) -> int:
    """Bytes that hold the raw bits of ``elements`` symbols of ``bits`` bits."""
    return elements * bits // 8 + 8


def statistics(field: np.ndarray, parameters: np.ndarray, rows: int) -> tuple[np.ndarray, int]:
    """Token histogram ``(planes * CONTEXTS, MAX_TOKENS)`` and raw-bit bytes of a field."""
    frames, planes, height, width = field.shape
    bands = -(-height // rows)
    capacity = raw_capacity(frames * planes * rows * width, 64)
    raw = np.empty(capacity * bands, np.uint8)
    starts = np.arange(bands, dtype=np.int64) * capacity
    ends = np.zeros(bands, np.int64)
    histogram = np.zeros((planes * el.CONTEXTS, el.MAX_TOKENS), np.int64)
    analyse(field, parameters, rows, histogram, raw, starts, ends)
    return histogram, int((ends - starts).sum())
