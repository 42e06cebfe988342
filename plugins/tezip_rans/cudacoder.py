"""``tezip.rans`` on a CUDA device: batches of GOPs through :mod:`tezip_rans.cudakernels`.

A batch is GOPs of one field shape ``(F, P, H, W)`` and partition height. The host does what
is per GOP and small (choices, the coding model, stream headers); the device does what is per
element. Fields may be NumPy arrays or device arrays (numba's, or CuPy's through the CUDA
array interface); the bytes are the CPU coder's, byte for byte.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numba import cuda
from numba.cuda.cudadrv.driver import device_memset

from tezip_rans import cudakernels, kernels, model, rans
from tezip_rans import elements as el
from tezip_rans.stream import Stream

#: threads per block of the per-partition kernels: a warp of partitions in lock step
PARTITION_THREADS = 32
#: threads per block of the per-element and per-byte kernels
ELEMENT_THREADS = 256


def _launch(kernel: Any, count: int, threads: int) -> Any:
    """``kernel`` configured for ``count`` threads in blocks of ``threads``."""
    return kernel[max(1, -(-count // threads)), threads]


def _bands(height: int, rows: int) -> int:
    return -(-height // rows)


def _interleaved(fields: Any, rows: int) -> Any:
    """The workspace ``(F, P, R, W, K)`` of a batch of fields ``(G, F, P, H, W)``."""
    gops, frames, planes, height, width = fields.shape
    partitions = gops * _bands(height, rows)
    workspace = cuda.device_array((frames, planes, rows, width, partitions), fields.dtype)
    _launch(cudakernels.interleave, fields.size, ELEMENT_THREADS)(fields, rows, workspace)
    return workspace


@dataclass
class Analysis:
    """What :func:`analyse` leaves on the device: for :func:`encode`, and the histograms
    ``(G, contexts, tokens)`` each GOP's tables are built from (on the host; GOP ``g``'s
    first ``contexts[g]`` rows, :func:`tezip_rans.kernels.context_count`)."""

    histograms: Any
    context_counts: list[int]
    contexts: Any
    tokens: Any
    counts: np.ndarray  # elements per partition
    raw: Any
    raw_starts: np.ndarray
    raw_ends: np.ndarray
    bands: int


def analyse(fields: Any, parameters: np.ndarray, rows: int) -> Analysis:
    """The statistics pass over a batch of fields ``(G, F, P, H, W)`` with per-GOP
    ``parameters`` ``(G, P, PARAMETERS)``: the twin of :func:`kernels.analysed`."""
    fields = cuda.to_device(fields) if isinstance(fields, np.ndarray) else fields
    gops, frames, planes, height, width = fields.shape
    bands = _bands(height, rows)
    counts = np.tile(kernels.partition_sizes(fields.shape[1:], rows), gops)
    regions = kernels.raw_regions(counts)
    raw_starts = regions[:-1]
    workspace = _interleaved(fields, rows)
    partitions = workspace.shape[4]
    context_counts = [kernels.context_count(rows_of_gop) for rows_of_gop in parameters]
    histograms = cuda.device_array((gops, max(context_counts), el.MAX_TOKENS), np.int64)
    device_memset(histograms, 0, histograms.nbytes)
    contexts = cuda.device_array((frames * planes * rows * width, partitions), np.uint16)
    tokens = cuda.device_array(contexts.shape, np.uint8)
    raw = cuda.device_array(int(regions[-1]), np.uint8)
    raw_ends = cuda.device_array(partitions, np.int64)
    classes = cuda.device_array((2, planes, rows, width, partitions), np.uint8)
    _launch(cudakernels.analyse, partitions, PARTITION_THREADS)(
        workspace,
        height,
        cuda.to_device(np.ascontiguousarray(parameters, np.int64)),
        histograms,
        contexts,
        tokens,
        raw,
        cuda.to_device(raw_starts),
        raw_ends,
        classes,
    )
    return Analysis(
        histograms,
        context_counts,
        contexts,
        tokens,
        counts,
        raw,
        raw_starts,
        raw_ends.copy_to_host(),
        bands,
    )


def encode(
    found: Analysis, clusters: Sequence[np.ndarray], frequencies: Sequence[np.ndarray]
) -> list[list[tuple[bytes, bytes]]]:
    """rANS-code every partition of an :class:`Analysis` with each GOP's table of each
    counted context and its tables; per GOP, per partition, its rANS bytes and raw bits."""
    gops = len(clusters)
    width = max(len(f) for f in frequencies)
    symbols = np.zeros((gops, width, el.MAX_TOKENS), np.uint64)
    for gop, table in enumerate(frequencies):
        symbols[gop, : len(table)] = rans.encoder_symbols(table)
    region_ends = kernels.rans_regions(found.counts)
    out = cuda.device_array(int(region_ends[-1]), np.uint8)
    stream_starts = cuda.device_array(len(region_ends), np.int64)
    _launch(cudakernels.encode, len(region_ends), PARTITION_THREADS)(
        found.contexts,
        found.tokens,
        cuda.to_device(found.counts.astype(np.int64)),
        found.bands,
        cuda.to_device(_stacked(clusters, np.int64)),
        cuda.to_device(symbols),
        out,
        cuda.to_device(region_ends),
        stream_starts,
    )
    starts = stream_starts.copy_to_host()
    pieces = _gathered([(out, starts, region_ends), (found.raw, found.raw_starts, found.raw_ends)])
    return [pieces[gop * found.bands : (gop + 1) * found.bands] for gop in range(gops)]


#: a GOP's coding model: the context-to-table map its stream records, its tables, and the
#: table of each context the statistics pass counted (the map itself, unless the stream's
#: contexts regroup the counted ones)
Model = tuple[np.ndarray, np.ndarray, np.ndarray]
#: what makes a GOP's model from its number in the batch, its histogram (contexts x tokens)
#: and its partitions' raw bits' lengths
Modeller = Callable[[int, np.ndarray, np.ndarray], Model]


def tabled(number: int, histogram: np.ndarray, raw: np.ndarray) -> Model:
    """A GOP's model from its histogram alone (:func:`model.tables`)."""
    mapping, frequencies = model.tables(histogram)
    return mapping, frequencies, mapping


def code(
    fields: Any, parameters: np.ndarray, rows: int, modelled: Modeller = tabled
) -> list[tuple[np.ndarray, np.ndarray, list[tuple[bytes, bytes]]]]:
    """A batch of fields ``(G, F, P, H, W)`` coded: per GOP its context-to-table map, its
    tables and, per partition, the rANS bytes and raw bits (``tezip_rans.stage.Coded``, the
    CPU coder's byte for byte), each GOP's model made on the host from the histogram the
    device counted (by ``modelled``; by default the tables of :func:`model.tables`)."""
    found = analyse(fields, parameters, rows)
    histograms = found.histograms.copy_to_host()
    lengths = found.raw_ends - found.raw_starts
    bands = found.bands
    models = [
        modelled(gop, histogram[:count], lengths[gop * bands : (gop + 1) * bands])
        for gop, (histogram, count) in enumerate(zip(histograms, found.context_counts, strict=True))
    ]
    coded = encode(found, [clusters for *_, clusters in models], [f for _, f, _ in models])
    return [
        (mapping, f, partitions) for (mapping, f, _), partitions in zip(models, coded, strict=True)
    ]


def _stacked(arrays: Sequence[np.ndarray], dtype: Any = None) -> np.ndarray:
    """Arrays of one shape but for their last axis, stacked, each padded with zeros to the
    longest (GOPs of one batch have context maps of their own sizes)."""
    longest = max(array.shape[-1] for array in arrays)
    out = np.zeros((len(arrays), *arrays[0].shape[:-1], longest), dtype or arrays[0].dtype)
    for index, array in enumerate(arrays):
        out[index, ..., : array.shape[-1]] = array
    return out


def _gathered(sources: list[tuple[Any, np.ndarray, np.ndarray]]) -> list[tuple[bytes, bytes]]:
    """Per partition, its piece of each source ``(device bytes, starts, ends)``, copied to
    the host in one transfer."""
    lengths = np.stack([ends - starts for _, starts, ends in sources], axis=1)
    offsets = np.concatenate([[0], np.cumsum(lengths.ravel())]).astype(np.int64)
    out = cuda.device_array(max(1, int(offsets[-1])), np.uint8)
    for index, (pieces, starts, ends) in enumerate(sources):
        cudakernels.gather[len(starts), ELEMENT_THREADS](
            pieces,
            cuda.to_device(starts),
            cuda.to_device(ends),
            cuda.to_device(np.ascontiguousarray(offsets[:-1].reshape(lengths.shape)[:, index])),
            out,
        )
    host = out.copy_to_host().tobytes()
    ends = offsets[1:].reshape(lengths.shape)
    begins = offsets[:-1].reshape(lengths.shape)
    return [
        tuple(host[a:b] for a, b in zip(row_begins, row_ends, strict=True))
        for row_begins, row_ends in zip(begins.tolist(), ends.tolist(), strict=True)
    ]


@dataclass
class Uploaded:
    """A batch of parsed streams of one partition height on the device, for :func:`decode`:
    the streams (each padded), their spans, parameters, keyed tables
    (:func:`tezip_rans.kernels.keyed_tables`) and decode tables."""

    rows: int
    count: int
    data: Any
    bounds: Any  # (G, 2): each padded stream in ``data``
    rans_spans: Any
    raw_spans: Any
    parameters: Any
    keyed: Any
    tokens: Any
    symbols: Any
    tables: Any  # (G, 2): each GOP's first table and the one after its last


def upload(buffers: Sequence[bytes], streams: Sequence[Stream]) -> Uploaded:
    """Copy parsed streams (``buffers`` and what :func:`tezip_rans.stream.read` found in
    them) to the device."""
    rows = streams[0].rows
    if any(parsed.rows != rows for parsed in streams):
        raise ValueError("a batch holds streams of one partition height")
    sizes = np.array([len(data) + rans.PADDING for data in buffers], np.int64)
    ends = np.cumsum(sizes)
    data = np.zeros(int(ends[-1]), np.uint8)
    for start, buffer in zip(ends - sizes, buffers, strict=True):
        data[start : start + len(buffer)] = np.frombuffer(buffer, np.uint8)
    tokens, symbols = zip(*(model.decode_tables(p.frequencies) for p in streams), strict=True)
    table_ends = np.cumsum([len(table) for table in tokens])
    return Uploaded(
        rows,
        len(streams),
        cuda.to_device(data),
        cuda.to_device(np.stack([ends - sizes, ends], axis=1)),
        cuda.to_device(np.concatenate([np.array(p.rans, np.int64) for p in streams])),
        cuda.to_device(np.concatenate([np.array(p.raw, np.int64) for p in streams])),
        cuda.to_device(np.stack([p.choices.parameters for p in streams]).astype(np.int64)),
        cuda.to_device(
            _stacked([kernels.keyed_tables(p.clusters, p.choices.parameters) for p in streams])
        ),
        cuda.to_device(np.concatenate(tokens).ravel()),
        cuda.to_device(np.concatenate(symbols).ravel()),
        cuda.to_device(np.stack([table_ends - [len(t) for t in tokens], table_ends], axis=1)),
    )


def decode(
    batch: Uploaded, shape: tuple[int, int, int, int], dtype: np.dtype
) -> tuple[Any, np.ndarray]:
    """Decode an uploaded batch of streams of one field ``shape`` ``(F, P, H, W)`` into a
    device field ``(G, F, P, H, W)`` of ``dtype``; with each partition's status ``(G,
    bands)`` (0, or a :mod:`kernels` failure): the twin of :func:`kernels.decode`."""
    frames, planes, height, width = shape
    rows = batch.rows
    partitions = batch.count * _bands(height, rows)
    workspace = cuda.device_array((frames, planes, rows, width, partitions), dtype)
    status = cuda.device_array(partitions, np.int64)
    _launch(cudakernels.decode, partitions, PARTITION_THREADS)(
        batch.data,
        batch.bounds,
        batch.rans_spans,
        batch.raw_spans,
        height,
        batch.parameters,
        batch.keyed,
        batch.tokens,
        batch.symbols,
        batch.tables,
        workspace,
        cuda.device_array((2, planes, rows, width, partitions), np.uint8),
        status,
    )
    field = cuda.device_array((batch.count, *shape), dtype)
    _launch(cudakernels.deinterleave, field.size, ELEMENT_THREADS)(workspace, rows, field)
    return field, status.copy_to_host().reshape(batch.count, -1)
