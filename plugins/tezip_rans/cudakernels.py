"""CUDA twins of :mod:`tezip_rans.kernels`: one thread per partition, for a batch of GOPs.

Every element is modelled, coded and decoded by the CUDA twins of the CPU kernels' own
element functions (:func:`tezip.devicetwins.twin_module`), so both devices run one source of
arithmetic. A batch holds GOPs of one field shape ``(F, P, H, W)`` and one partition height
``R``; partition ``k`` is band ``k % B`` of GOP ``k // B`` (``B = ceil(H / R)`` bands).

Within a partition everything is sequential (one rANS state), so the threads are the
partitions. Their working arrays are interleaved, partition index last (a **workspace**
``(F, P, R, W, K)``): the threads of a warp walk their partitions in lock step, so every
read and write of values, temporal classes, contexts and tokens is coalesced; only the
coded bytes (each partition's own stream) are not. :func:`interleave` and
:func:`deinterleave` move fields in and out of that layout (spec/stages/tezip.rans.md,
section 11).
"""

from __future__ import annotations

import numpy as np
from numba import cuda

from tezip.devicetwins import twin_module
from tezip_rans import elements, kernels, rans
from tezip_rans.model import SYMBOL_STRIDE

el = twin_module(
    elements,
    (
        "predict",
        "fitted",
        "weights_of",
        "unclamped",
        "intensity",
        "bounds_of",
        "level",
        "upper_gradients",
        "fold",
        "mirror",
        "temporal_class",
        "zigzag",
        "unzigzag",
        "tokenise",
        "token_extra_bits",
        "detokenise",
    ),
)
coder = twin_module(
    rans,
    ("encode_symbol", "flush", "load", "decode_step", "write_bits", "finish_bits", "read_bits"),
)
model = twin_module(
    kernels,
    (
        "_upper_neighbours",
        "_key",
        "_placed",
        "_shade",
        "_context",
        "_symbol",
        "upper_at",
        "base_at",
        "_decode_element",
        "_decode_at",
        "west_from",
        "_final_status",
        "_start_lane",
    ),
    {"el": el, "rans": coder},
)


@cuda.jit(device=True)
def _band(k: int, height: int, rows: int) -> tuple[int, int]:
    """GOP and row count of partition ``k``."""
    bands = (height + rows - 1) // rows
    top = (k % bands) * rows
    return k // bands, min(height, top + rows) - top


@cuda.jit(device=True)
def _placed(index: int, shape: tuple[int, ...], rows: int) -> tuple[int, ...]:
    """Element ``index`` of a field ``shape`` ``(G, F, P, H, W)``: ``(g, f, p, y, x, r, k)``,
    its place in the field and its row ``r`` and partition ``k`` in the workspace."""
    _, frames, planes, height, width = shape
    x = index % width
    y = (index // width) % height
    p = (index // (width * height)) % planes
    f = (index // (width * height * planes)) % frames
    g = index // (width * height * planes * frames)
    k = g * ((height + rows - 1) // rows) + y // rows
    return g, f, p, y, x, y % rows, k


@cuda.jit
def interleave(field: np.ndarray, rows: int, workspace: np.ndarray) -> None:
    """``workspace[f, p, r, x, k] = field[g, f, p, top + r, x]``, one thread per element of
    ``field`` (rows past a short last band are left as they are)."""
    index = cuda.grid(1)
    if index < field.size:
        g, f, p, y, x, r, k = _placed(index, field.shape, rows)
        workspace[f, p, r, x, k] = field[g, f, p, y, x]


@cuda.jit
def deinterleave(workspace: np.ndarray, rows: int, field: np.ndarray) -> None:
    """Invert :func:`interleave`."""
    index = cuda.grid(1)
    if index < field.size:
        g, f, p, y, x, r, k = _placed(index, field.shape, rows)
        field[g, f, p, y, x] = workspace[f, p, r, x, k]


@cuda.jit
def analyse(  # type: ignore[no-untyped-def]
    workspace, height, parameters, histogram, contexts, tokens, raw, raw_starts, raw_ends, classes
):
    """The twin of :func:`tezip_rans.kernels.analyse` for partition ``k``: contexts and
    tokens at ``[:, k]`` in coding order, counts added to ``histogram[GOP]``, raw bits from
    ``raw_starts[k]`` to ``raw_ends[k]`` (set here). ``parameters`` is ``(G, P, PARAMETERS)``;
    ``classes`` is scratch ``(2, P, R, W, K)``."""
    k = cuda.grid(1)
    frames, planes, rows, width, partitions = workspace.shape
    if k >= partitions:
        return
    gop, count = _band(k, height, rows)
    last = width - 1
    for p in range(planes):  # the previous frame's classes start at 0
        for r in range(count):
            for x in range(width):
                classes[1, p, r, x, k] = 0
    position, buffer, filled = raw_starts[k], np.uint64(0), np.int64(0)
    used = 0
    for frame in range(frames):
        now, before = frame & 1, (frame + 1) & 1
        for p in range(planes):
            knobs = parameters[gop, p]
            for r in range(count):
                first = r == 0
                row = workspace[frame, p, r, :, k]
                above = workspace[frame, p, max(r - 1, 0), :, k]
                for x in range(width):
                    west = row[x - 1] if x > 0 else (np.int64(0) if first else above[0])
                    westwest = row[x - 2] if x > 1 else west
                    upper = np.int64(0)
                    if not first:
                        upper = model.upper_at(above, x, last, knobs[1], knobs[2], knobs[3])
                    north, northwest, northeast, key, flip = model._context(
                        x, west, above, first, upper, classes[before, p, r, x, k], knobs
                    )
                    prediction = el.predict(
                        knobs[0],
                        west,
                        north,
                        northwest,
                        northeast,
                        westwest,
                        el.weights_of(knobs),
                        knobs[el.LOW],
                        knobs[el.HIGH],
                    )
                    temporal, token, bits, low = model._symbol(row[x], prediction, flip, knobs)
                    classes[now, p, r, x, k] = temporal
                    key = model._placed(key, prediction, knobs)
                    contexts[used, k] = key
                    tokens[used, k] = token
                    used += 1
                    cuda.atomic.add(histogram, (gop, key, token), 1)
                    if bits:
                        position, buffer, filled = coder.write_bits(
                            low, bits, raw, position, buffer, filled
                        )
    raw_ends[k] = coder.finish_bits(raw, position, buffer, filled)


@cuda.jit
def encode(  # type: ignore[no-untyped-def]
    contexts, tokens, counts, bands, clusters, symbols, out, region_ends, stream_starts
):
    """The twin of :func:`tezip_rans.kernels.encode` for partition ``k`` of GOP ``k //
    bands``: ``clusters`` ``(G, contexts)`` (each GOP's context map, padded) and
    ``symbols`` ``(G, tables, tokens)``."""
    k = cuda.grid(1)
    if k >= counts.size:
        return
    gop = k // bands
    state, position = np.int64(rans.LOWER), np.int64(region_ends[k])
    for index in range(counts[k] - 1, -1, -1):
        table = clusters[gop, contexts[index, k]]
        state, position = coder.encode_symbol(
            state, symbols[gop, table, tokens[index, k]], out, position
        )
    stream_starts[k] = coder.flush(state, out, position)


@cuda.jit
def decode(  # type: ignore[no-untyped-def]
    data,
    streams,
    rans_spans,
    raw_spans,
    height,
    parameters,
    keyed,
    tokens,
    symbols,
    tables,
    workspace,
    classes,
    status,
):
    """The twin of :func:`tezip_rans.kernels.decode` for partition ``k``: GOP ``g``'s stream
    (padded) is ``data[streams[g, 0] : streams[g, 1]]``, ``keyed[g]`` its planes'
    :func:`tezip_rans.kernels.keyed_tables`, its decode tables those from
    ``tables[g, 0]`` to ``tables[g, 1]`` in ``tokens`` and ``symbols`` (flat
    :func:`tezip_rans.model.decode_tables`); spans are relative to the stream. Values go to
    ``workspace``, the partition's status (0 or a :mod:`kernels` failure) to ``status[k]``."""
    k = cuda.grid(1)
    frames, planes, rows, width, partitions = workspace.shape
    if k >= partitions:
        return
    gop, count = _band(k, height, rows)
    stream = data[streams[gop, 0] : streams[gop, 1]]
    first_table, end_table = tables[gop, 0], tables[gop, 1]
    slots = tokens[first_table * rans.TOTAL : end_table * rans.TOTAL]
    flat = symbols[first_table * SYMBOL_STRIDE : end_table * SYMBOL_STRIDE]
    last = width - 1
    for p in range(planes):
        for r in range(count):
            for x in range(width):
                classes[1, p, r, x, k] = 0
    lane = model._start_lane(stream, rans_spans, raw_spans, k)
    for frame in range(frames):
        now, before = frame & 1, (frame + 1) & 1
        for p in range(planes):
            knobs, keys = parameters[gop, p], keyed[gop, p]
            for r in range(count):
                first = r == 0
                row = workspace[frame, p, r, :, k]
                above = workspace[frame, p, max(r - 1, 0), :, k]
                west = np.int64(0) if first else np.int64(above[0])
                westwest = west
                for x in range(width):
                    upper = np.int64(0)
                    if not first:
                        upper = model.upper_at(above, x, last, knobs[1], knobs[2], knobs[3])
                    value, error, lane = model._decode_at(
                        x,
                        west,
                        westwest,
                        above,
                        first,
                        model.base_at(upper, classes[before, p, r, x, k]),
                        keys,
                        knobs,
                        knobs[0],
                        slots,
                        flat,
                        stream,
                        lane,
                    )
                    classes[now, p, r, x, k] = el.temporal_class(error, knobs[4], knobs[5])
                    row[x] = value
                    westwest, west = model.west_from(x, west, value)
    state, position, bit_position, _, filled = lane
    status[k] = model._final_status(
        state,
        position,
        rans_spans[k, 1],
        bit_position,
        filled,
        raw_spans[k, 0],
        raw_spans[k, 1],
    )


@cuda.jit
def gather(pieces, starts, ends, offsets, out):  # type: ignore[no-untyped-def]
    """Copy ``pieces[starts[i] : ends[i]]`` to ``out[offsets[i]:]``, one block per piece (its
    threads stride through it, so reads and writes are coalesced)."""
    piece = cuda.blockIdx.x
    if piece >= starts.size:
        return
    start, target = starts[piece], offsets[piece]
    for index in range(cuda.threadIdx.x, ends[piece] - start, cuda.blockDim.x):
        out[target + index] = pieces[start + index]
