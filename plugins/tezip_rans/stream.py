"""The byte layout of a ``tezip.rans`` stream (``spec/stages/tezip.rans.md``).

``layout`` byte, per-plane flags, the planes related to G, per-plane thresholds, the partition
height, the coding model (zstd: context-to-table map and tables) and the partitions' lengths,
then each partition's rANS bytes followed by its raw bits. Every number is an unsigned
LEB128 varint. Parsing checks every field against the shape it must describe.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from tezip.errors import StreamError
from tezip.zstd_frames import compress, decompress_exact
from tezip_rans import elements as el
from tezip_rans import kernels, model
from tezip_rans.choices import Choices
from tezip_rans.field import REFERENCE, can_relate, planes_of, value_ranges

LAYOUT = 0
#: the stage version this module writes (spec/stages/tezip.rans.md); it reads 1 .. VERSION
VERSION = 4
MODEL_LEVEL = 3  # zstd level of the model block
_OFFSET_BINARY = 1
_PREDICTOR_SHIFT = 1


@dataclass
class Stream:
    """A parsed stream: the choices, the model and where each partition's bytes are."""

    choices: Choices
    rows: int
    clusters: np.ndarray  # (contexts,) uint8: the table of each context, as stored
    frequencies: np.ndarray  # (tables, MAX_TOKENS)
    rans: list[tuple[int, int]]  # per partition, [start, end) of its rANS bytes
    raw: list[tuple[int, int]]  # per partition, [start, end) of its raw bits


def alphabet(bits: int) -> int:
    """Tokens a stream of ``bits``-bit codes may use: planes of at most 32 bits, whose
    values may take one bit more (channel differences) and errors another."""
    return el.token_count(min(bits, 32) + 2)


def write(
    relatable: bool,
    choices: Choices,
    rows: int,
    clusters: np.ndarray,
    frequencies: np.ndarray,
    partitions: list[tuple[bytes, bytes]],
) -> bytes:
    """Serialise a coded GOP."""
    lengths = [n for coded, raw in partitions for n in (len(coded), len(raw))]
    head = heading(relatable, choices, rows, clusters, frequencies, lengths)
    return b"".join([head, *(part for pair in partitions for part in pair)])


def heading(
    relatable: bool,
    choices: Choices,
    rows: int,
    clusters: np.ndarray,
    frequencies: np.ndarray,
    lengths: list[int],
) -> bytes:
    """What a GOP's stream holds before its partitions' bytes, given their ``lengths`` (rANS
    bytes and raw bits of each partition in turn)."""
    head = bytearray([LAYOUT])
    for flag, row in zip(choices.offset_binary, choices.parameters, strict=True):
        head.append(int(flag) * _OFFSET_BINARY | int(row[0]) << _PREDICTOR_SHIFT)
    if relatable:
        mask = sum(1 << int(plane) for plane in np.flatnonzero(choices.relative))
        head += model.varints(np.array([mask], np.int64))
    numbers = choices.parameters[:, 1 : kernels.STORED].ravel().tolist()
    for row in choices.parameters:
        if row[0] == el.FITTED:
            numbers += [int(el.zigzag(weight)) for weight in row[el.WEIGHTS : el.CLASSES]]
    for row in choices.parameters:
        bounds = row[el.BOUNDS : el.BOUNDS + row[el.CLASSES] - 1]
        numbers += [len(bounds), *(int(el.zigzag(bound)) for bound in bounds)]
    numbers.append(rows)
    numbers.append(len(frequencies))
    modelled = clusters.astype(np.uint8).tobytes() + model.write_tables(frequencies)
    packed = compress(modelled, MODEL_LEVEL)
    numbers += [len(modelled), len(packed)]
    head += model.varints(np.array(numbers, np.int64)) + packed
    head += model.varints(np.array(lengths, np.int64))
    return bytes(head)


def read(data: bytes, shape: tuple[int, ...], bits: int, version: int = VERSION) -> Stream:
    """Parse a stream of version ``version`` for residuals of ``shape`` and ``bits``-bit
    codes."""
    planes = planes_of(shape, bits)
    height = shape[1]
    reader = model.Reader(data)
    if reader.byte() != LAYOUT:
        raise StreamError("tezip.rans stream has an unknown layout byte")
    flags = [reader.byte() for _ in range(planes)]
    predictors = [flag >> _PREDICTOR_SHIFT for flag in flags]
    if any(p not in el.PREDICTORS_OF_VERSION[version] for p in predictors):
        raise StreamError(
            f"tezip.rans stream names a spatial predictor unknown to version {version}"
        )
    offset_binary = np.array([flag & _OFFSET_BINARY for flag in flags], bool)
    relative = np.zeros(planes, bool)
    if can_relate(shape, bits):
        mask = reader.varint((1 << planes) - 1)
        relative[:] = [(mask >> plane) & 1 for plane in range(planes)]
        if relative[REFERENCE]:
            raise StreamError("tezip.rans stream relates the reference plane to itself")
    limits = np.iinfo(np.int64).max
    thresholds = reader.varints(planes * (kernels.STORED - 1), limits).reshape(planes, -1)
    spans = value_ranges(bits, relative)
    weights = np.zeros((planes, el.CLASSES - el.WEIGHTS), np.int64)
    for plane in np.flatnonzero(np.array(predictors) == el.FITTED):
        stored = reader.varints(weights.shape[1], 2 * el.FIT_LIMIT)
        weights[plane] = [el.unzigzag(np.uint64(number)) for number in stored]
    one_class = np.tile(kernels.ONE_CLASS, (planes, 1))
    parameters = np.column_stack(
        [predictors, thresholds, spans, weights, one_class, np.zeros(planes, np.int64)]
    ).astype(np.int64)
    if version >= 4:
        _read_intensity_classes(reader, parameters)
    parameters = kernels.placed(parameters)
    rows = reader.varint(height)
    tables = reader.varint(model.MAX_TABLES)
    if rows < 1 or tables < 1:
        raise StreamError("tezip.rans stream declares no rows or no tables")
    contexts = kernels.context_count(parameters)
    size = reader.varint(contexts + tables * (1 + 2 * el.MAX_TOKENS) * 3)
    packed_size = reader.varint(len(data))
    modelled = decompress_exact(reader.take(packed_size), size, "tezip.rans model")
    if contexts > len(modelled):
        raise StreamError("tezip.rans model block is too short for its context map")
    clusters = np.frombuffer(modelled, np.uint8, contexts).copy()  # as stored
    if (clusters >= tables).any():
        raise StreamError("tezip.rans context map names a table that does not exist")
    tokens = model.Reader(modelled[contexts:])
    frequencies = tokens.tables(tables, alphabet(bits), el.MAX_TOKENS)
    if tokens.position != len(tokens.data):
        raise StreamError("tezip.rans model block has bytes left over")
    partitions = -(-height // rows)
    lengths = reader.varints(2 * partitions, len(data))
    position = reader.position
    spans = []
    for length in lengths.tolist():
        spans.append((position, position + length))
        position += length
    if position != len(data):
        raise StreamError("tezip.rans partition lengths do not add up to the stream")
    return Stream(
        Choices(offset_binary, relative, parameters),
        rows,
        clusters,
        frequencies,
        spans[0::2],
        spans[1::2],
    )


#: the largest stored intensity bound: a plane's values have at most 33 bits
_BOUND_LIMIT = 1 << 35


def _read_intensity_classes(reader: model.Reader, parameters: np.ndarray) -> None:
    """Each plane's intensity bounds, read, checked (strictly increasing, each at least the
    plane's lowest value and below its highest, so that every class can be met) and set in
    its parameter row."""
    for row in parameters:
        count = reader.varint(el.MAX_CLASSES - 1)
        bounds = [el.unzigzag(np.uint64(n)) for n in reader.varints(count, _BOUND_LIMIT)]
        if any(b <= a for a, b in itertools.pairwise([row[el.LOW] - 1, *bounds, row[el.HIGH]])):
            raise StreamError(
                "tezip.rans intensity bounds are not strictly increasing within the plane's range"
            )
        kernels.split_at(row, bounds)
