"""The ``tezip.rans`` entropy stage."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, NamedTuple

import numpy as np

from tezip.abc import ArrayToBytesStage, Draft, RunContext
from tezip.costs import row_bands
from tezip.device import sees_gpu
from tezip.errors import InputError, StreamError
from tezip.parallel import available, thread_map
from tezip_rans import kernels, model, rans, stream
from tezip_rans.choices import (
    CLASS_COUNTS,
    SAMPLE_ROWS,
    Choices,
    choose,
    estimate,
    regrouped,
    regrouping,
    sample_budget,
    sample_cost,
    shaded,
    trial_bits,
    unfitted,
)
from tezip_rans.field import can_relate, field_dtype, from_field, planes_of, to_field

#: encoder efforts: 1 tries the median edge detector only, 2 every spatial predictor and
#: three threshold scales (both choosing on a sample), 3 codes the choices of every effort,
#: finer scales too, over the whole GOP and keeps the smallest
EFFORTS = (1, 2, 3)
#: the effort that drafts the choices of every effort in full
EXHAUSTIVE = 3
#: most elements a partition's rANS bytes can hold: no token has a frequency above
#: ``TOTAL - 1``, so each decoded element shrinks the state by more than 3.08e-4 bits, and a
#: partition's bytes bring 8 bits each (spec/stages/tezip.rans.md, section 7)
ELEMENTS_PER_BYTE = 26_000
#: predictors are ranked on this fraction of a large GOP's codes (1 / TRIAL_SHARE): a sample
#: of 2^15 elements per channel, from a large frame's middle, ranked tezip.zero first on
#: cardiac ultrasound, whose still overlays lie at the edges, where tezip.previous codes
#: the GOP 15% smaller
TRIAL_SHARE = 16
#: how far a draft's size may lie from its stream: the rANS bytes exceed the tokens'
#: information content by a little per partition and a fraction of it (measured: under 50
#: bytes and 3e-5 on the benchmark data)
DRAFT_SLACK, DRAFT_SHARE = 256, 1e-3
#: a partition holds at least this many elements and rows (fewer partitions, fewer cut rows)
PARTITION_ELEMENTS, PARTITION_ROWS = 1 << 19, 64
#: below :data:`EXHAUSTIVE`, a GOP's options are ranked on one partition of each run of this
#: many (the third; the middle one of fewer than three) and only the cheapest is drafted. Full
#: bands of every frame see what a sample from the frames' middle misses: on all 47 GOPs of
#: the benchmark data that drafted two options, they ranked them as the drafts did (a
#: detector's modules, whose right-hand half the sample never reads, among them)
PREVIEW_SPACING = 4
_FAILURES = {
    kernels.RANS_EXHAUSTED: "its rANS bytes end early",
    kernels.BITS_EXHAUSTED: "its raw bits end early",
    kernels.BAD_FINAL_STATE: "it does not end in the initial rANS state",
    kernels.TRAILING_BYTES: "bytes are left over after it",
}


def partition_rows(shape: tuple[int, ...]) -> int:
    """Rows per partition for a field ``(frames, planes, H, W)``: at least
    :data:`PARTITION_ROWS` and :data:`PARTITION_ELEMENTS`, and an even number of partitions
    where there are several, or where the field is tall enough for two (the decoder
    interleaves them in pairs; one alone goes a third slower, so one left over is shared out
    among the others, and a GOP too small for two partitions of PARTITION_ELEMENTS still
    gets a pair)."""
    frames, planes, height, width = shape
    per_row = max(1, frames * planes * width)
    rows = min(height, max(PARTITION_ROWS, -(-PARTITION_ELEMENTS // per_row)))
    count = -(-height // rows)
    if count == 1 and height >= 2 * PARTITION_ROWS:
        return -(-height // 2)
    return -(-height // (count - 1)) if count > 1 and count % 2 else rows


class RansStage(ArrayToBytesStage):
    """Spatial prediction on the code grid and context-modelled rANS in independent partitions.

    Each plane of the residuals is predicted from its causal neighbours (MED, averages of
    two or four neighbours, west, north, plane or none, chosen per GOP), colour planes optionally
    relative to G; every error is coded with the table of its context (quantised local
    gradients, mirrored patterns merged, and the co-located error of the previous frame),
    tables shared by contexts where that costs fewer bytes. Partitions are bands of rows of
    every frame.
    """

    id = "tezip.rans"
    version = stream.VERSION
    devices = ("cpu", "cuda")
    decorrelates = True
    trial_margin = 0.05
    ranks_quantizations = True  # its trial codes the sample with its own model

    def __init__(self, effort: int = 2) -> None:
        if isinstance(effort, bool) or not isinstance(effort, int) or effort not in EFFORTS:
            raise InputError(f"tezip.rans effort must be one of {EFFORTS}, got {effort!r}")
        self.effort = effort

    def bind(self, context: RunContext) -> None:
        """Code on a CUDA GPU when ``context`` allows one (``auto`` or ``cuda``) and numba-cuda
        sees it, else on the CPU: the bytes are the same on both."""
        gpu = context.device != "cpu" and sees_gpu("numba-cuda")
        self.device = "cuda" if gpu else "cpu"

    @property
    def configuration(self) -> dict[str, Any]:
        return {}  # the effort changes what the encoder tries, never how a stream decodes

    def estimate(self, pairs: np.ndarray) -> np.ndarray:
        return estimate(pairs)

    def trial_sample(self, codes: np.ndarray) -> np.ndarray:
        return row_bands(codes, SAMPLE_ROWS, sample_budget(codes, TRIAL_SHARE))

    def trial_cost(self, residuals: np.ndarray, share: float) -> float:
        """The coded cost of all frames after the first two (when there are more), where
        every built-in predictor has its full history."""
        counted = residuals[2:] if len(residuals) > 2 else residuals
        return sample_cost(counted, share * len(counted) / len(residuals))

    def encode(self, residuals: np.ndarray) -> bytes:
        return self.encode_batch([residuals])[0]

    def draft(self, residuals: np.ndarray) -> Draft:
        """On the CPU, the statistics pass and the tables done, the size estimated from the
        information content of the tokens under the tables (within bytes of the stream);
        the rANS pass waits for ``finish``."""
        if self.device == "cuda":
            return super().draft(residuals)
        best = _smallest(residuals, self.effort)
        return Draft(best.size, best.stream, DRAFT_SLACK + DRAFT_SHARE * best.size)

    def encode_batch(self, gops: Sequence[np.ndarray]) -> list[bytes]:
        """Encode GOPs, each as :meth:`encode` does; on a GPU the GOPs of one field shape
        share every kernel launch."""
        if self.device == "cuda":  # choices made on the CPU (prepare): the same bytes
            batch = thread_map(lambda gop: prepare(gop, self.effort), gops)
            return [gop.written(*result) for gop, result in _coded_on_gpu(batch)]
        return [_smallest(residuals, self.effort).stream() for residuals in gops]

    def draft_batch(self, residuals: Sequence[np.ndarray]) -> list[Draft]:
        """On a GPU, every GOP coded in one batch (:meth:`encode_batch`): exact sizes."""
        if self.device != "cuda":
            return super().draft_batch(residuals)
        return [Draft(len(data), lambda data=data: data) for data in self.encode_batch(residuals)]

    def decode(self, data: bytes, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
        return self.decode_batch([(data, shape, dtype)])[0]

    def decode_batch(
        self, streams: Sequence[tuple[bytes, tuple[int, ...], np.dtype]]
    ) -> list[np.ndarray]:
        """Decode streams, each as :meth:`decode`; on a GPU the streams of one field shape and
        partition height share every upload and kernel launch."""
        parsed = [
            _parsed(bytes(data), tuple(shape), np.dtype(dtype), self.version)
            for data, shape, dtype in streams
        ]
        decoded = _decoded_on_gpu(parsed) if self.device == "cuda" else map(_decoded, parsed)
        return [
            from_field(field, gop.choices.offset_binary, gop.choices.relative, gop.shape, gop.dtype)
            for gop, field in zip(parsed, decoded, strict=True)
        ]


@dataclass
class _Parsed:
    """A stream to decode: its bytes, what :func:`stream.read` found in them, the array it
    decodes to and its field's shape and dtype."""

    data: bytes
    stream: stream.Stream
    shape: tuple[int, ...]
    dtype: np.dtype
    field_shape: tuple[int, int, int, int]
    values: np.dtype

    @property
    def choices(self) -> Choices:
        return self.stream.choices


def _parsed(data: bytes, shape: tuple[int, ...], dtype: np.dtype, version: int) -> _Parsed:
    """A stream parsed and checked against the array it declares, before any field is
    allocated."""
    if dtype.kind != "u" or len(shape) not in (3, 4) or min(shape, default=0) < 1:
        raise InputError("tezip.rans decodes non-empty unsigned arrays (frames, H, W[, C])")
    parsed = stream.read(data, shape, dtype.itemsize * 8, version)
    planes = planes_of(shape, dtype.itemsize * 8)
    field_shape = (shape[0], planes, shape[1], shape[2])
    sizes = kernels.partition_sizes(field_shape, parsed.rows)
    held = np.array([end - start for start, end in parsed.rans]) * ELEMENTS_PER_BYTE
    if (sizes > held).any():  # checked before the field is allocated
        raise StreamError("tezip.rans stream is too short for the elements it declares")
    return _Parsed(data, parsed, shape, dtype, field_shape, field_dtype(dtype.itemsize * 8))


def _damaged(status: int, band: int) -> StreamError:
    return StreamError(f"tezip.rans partition {band} is damaged: {_FAILURES[status]}")


def _decoded(gop: _Parsed) -> np.ndarray:
    """A parsed stream's field, decoded on the CPU."""
    field = np.empty(gop.field_shape, gop.values)
    status, band = _decode(gop.data, gop.stream, field)
    if status:
        raise _damaged(status, band)
    return field


def _decoded_on_gpu(batch: Sequence[_Parsed]) -> list[np.ndarray]:
    """Parsed streams' fields, decoded on a GPU: one upload and launch per field shape and
    partition height; the first damaged stream of the batch raises."""
    from tezip_rans import cudacoder  # numba's CUDA target only where it runs

    groups: dict[tuple[Any, ...], list[int]] = {}
    for index, gop in enumerate(batch):
        groups.setdefault((gop.field_shape, gop.values, gop.stream.rows), []).append(index)
    decoded: list[tuple[np.ndarray, np.ndarray]] = [None] * len(batch)  # type: ignore[list-item]
    for (shape, values, _), members in groups.items():
        streams = [batch[i] for i in members]
        uploaded = cudacoder.upload([g.data for g in streams], [g.stream for g in streams])
        on_device, statuses = cudacoder.decode(uploaded, shape, values)
        for index, field, status in zip(members, on_device.copy_to_host(), statuses, strict=True):
            decoded[index] = (field, status)
    for _, status in decoded:
        if status.any():
            band = int(np.argmax(status != 0))
            raise _damaged(int(status[band]), band)
    return [field for field, _ in decoded]


#: a coded field: its context-to-table map, its tables and, per partition, the rANS bytes
#: and the raw bits
Coded = tuple[np.ndarray, np.ndarray, list[tuple[bytes, bytes]]]


@dataclass
class Prepared:
    """A GOP as the coder takes it: the encoder's choices, its field and partition height;
    and, where the coder is still to choose its intensity classes, the forms to weigh
    (:func:`_forms`, these choices the last)."""

    shape: tuple[int, ...]
    bits: int
    choices: Choices
    field: np.ndarray
    rows: int
    forms: Sequence[Choices] = ()

    def written(
        self, mapping: np.ndarray, frequencies: np.ndarray, partitions: list[tuple[bytes, bytes]]
    ) -> bytes:
        """The stream of this GOP coded (:data:`Coded`)."""
        relatable = can_relate(self.shape, self.bits)
        return stream.write(relatable, self.choices, self.rows, mapping, frequencies, partitions)

    def size(
        self, mapping: np.ndarray, frequencies: np.ndarray, raw: Sequence[int], coded: float
    ) -> float:
        """This GOP's stream size with this model, partitions of ``raw`` bytes of raw bits
        and ``coded`` bytes of tokens' information content under the tables: the header and
        model block, the raw bits, the tokens and each partition's final state."""
        relatable = can_relate(self.shape, self.bits)
        lengths = [n for raw_bytes in raw for n in (0, raw_bytes)]
        head = stream.heading(relatable, self.choices, self.rows, mapping, frequencies, lengths)
        return len(head) + sum(raw) + coded + rans.STATE_BYTES * len(raw)


def _checked(residuals: np.ndarray) -> np.ndarray:
    if residuals.dtype.kind != "u" or residuals.ndim not in (3, 4) or not residuals.size:
        raise InputError("tezip.rans encodes non-empty unsigned arrays (frames, H, W[, C])")
    return np.ascontiguousarray(residuals, residuals.dtype.newbyteorder("="))


def prepare(residuals: np.ndarray, effort: int) -> Prepared:
    """Check one GOP of residuals and make the encoder's choices for it at ``effort``: on a
    sample, and where that leaves several options, by ranking or drafting them; where it
    leaves one with intensity classes to weigh, its forms, weighed as :func:`_drafted`
    weighs them once the coder has counted the finest form's tokens (the choice of
    :func:`_smallest`, so that a GPU codes what the CPU would)."""
    checked = _checked(residuals)
    options = _ranked(checked, _options(checked, effort), effort)
    if len(options) > 1:  # chosen by the drafts (their forms too)
        return _prepared(checked, _best_draft(checked, options).gop.choices)
    forms = _forms(options[0])  # weighed where the coder counts the finest form's tokens
    return replace(_prepared(checked, forms[-1]), forms=forms if len(forms) > 1 else ())


def _prepared(residuals: np.ndarray, choices: Choices) -> Prepared:
    field = to_field(residuals, choices.offset_binary, choices.relative)
    bits = residuals.dtype.itemsize * 8
    return Prepared(residuals.shape, bits, choices, field, partition_rows(field.shape))


@dataclass
class _Drafted:
    """A GOP through the statistics pass, with its tables and its stream's size (within
    bytes: the tokens' information content under the tables)."""

    gop: Prepared
    found: kernels.Analysis
    mapping: np.ndarray
    frequencies: np.ndarray
    size: float
    #: the regrouping of the counted contexts into the form's (:func:`_weighed`)
    grouping: np.ndarray | None = None

    def stream(self) -> bytes:
        """The rANS pass: the GOP's stream."""
        clusters = _composed(self.mapping, self.grouping)
        partitions = _encoded(self.found, clusters, self.frequencies)
        return self.gop.written(self.mapping, self.frequencies, partitions)


def _composed(mapping: np.ndarray, grouping: np.ndarray | None) -> np.ndarray:
    """The table of each counted context: its form's context's in ``mapping``, through the
    regrouping ``grouping`` where the form is coarser than the one counted."""
    return mapping if grouping is None else mapping[grouping]


def _drafted(residuals: np.ndarray, choices: Choices) -> _Drafted:
    """The GOP drafted with ``choices`` in the form (:func:`_forms`) that gives the smallest
    stream: one statistics pass with the most intensity classes, the forms weighed on it
    (:func:`_weighed`)."""
    forms = _forms(choices)
    gop = _prepared(residuals, forms[-1])
    found = _analysed(gop)
    # a draft waiting to be finished keeps its tokens, not the field they came from
    gop = replace(gop, field=np.empty((0, *gop.field.shape[1:]), gop.field.dtype))
    raw = [len(bits) for bits in found.raw]
    form, grouping, mapping, frequencies, size = _weighed(gop, forms, found.histogram, raw)
    return _Drafted(replace(gop, choices=form), found, mapping, frequencies, size, grouping)


class Weighed(NamedTuple):
    """A weighed form: its choices, the regrouping of the finest form's contexts into its
    own (None for the finest), its context-to-table map and tables, and its stream's
    size."""

    form: Choices
    grouping: np.ndarray | None
    mapping: np.ndarray
    frequencies: np.ndarray
    size: float


def _weighed(
    gop: Prepared, forms: Sequence[Choices], histogram: np.ndarray, raw: Sequence[int]
) -> Weighed:
    """Of a GOP's ``forms`` (the finest last, which ``gop`` was counted with into
    ``histogram``, its partitions' raw bits ``raw`` bytes long), the one whose stream is the
    smallest: each coarser form's histogram is the finest's regrouped, and each form gets
    full tables. Forms are weighed from the fewest classes up, stopping at the first that
    codes no smaller than the one before it (more classes mean more contexts to
    cluster)."""
    finest = forms[-1].parameters
    best: Weighed | None = None
    for form in forms:
        grouping = None if form is forms[-1] else regrouping(finest, form.parameters)
        counted = histogram if grouping is None else regrouped(histogram, grouping)
        mapping, frequencies = model.tables(counted)
        coded = model.coded_bits(counted, mapping, frequencies) / 8
        size = replace(gop, choices=form).size(mapping, frequencies, raw, coded)
        if best is not None and size >= best.size:
            break
        best = Weighed(form, grouping, mapping, frequencies, size)
    assert best is not None  # there is a form
    return best


def _smallest(residuals: np.ndarray, effort: int) -> _Drafted:
    """The GOP drafted with each of its :func:`_options` worth drafting (:func:`_ranked`), the
    smallest, the first of equals."""
    residuals = _checked(residuals)
    return _best_draft(residuals, _ranked(residuals, _options(residuals, effort), effort))


def _forms(choices: Choices) -> list[Choices]:
    """``choices`` and its distinct :func:`~tezip_rans.choices.shaded` forms, the one with
    the most intensity classes last."""
    forms = [choices]
    for classes in CLASS_COUNTS:
        form = shaded(choices, classes)
        if form is not None and not _same(form, forms[-1]):
            forms.append(form)
    return forms


def _ranked(residuals: np.ndarray, options: list[Choices], effort: int) -> list[Choices]:
    """The options worth drafting: every one at :data:`EXHAUSTIVE`, else the one that codes
    the partitions :func:`_previewed` picks in the fewest bits (the first of equals)."""
    if len(options) == 1 or effort == EXHAUSTIVE:
        return options
    bits = residuals.dtype.itemsize * 8
    frames, height, width = residuals.shape[:3]
    rows = partition_rows((frames, planes_of(residuals.shape, bits), height, width))
    bands = _previewed(height, rows)
    picked = np.concatenate([np.arange(b * rows, min(height, (b + 1) * rows)) for b in bands])
    # below EXHAUSTIVE the options are one choice with and without the fitted predictor:
    # they read the codes alike
    reading = options[0]
    field = to_field(residuals[:, picked], reading.offset_binary, reading.relative)
    share = len(picked) / height
    return [min(options, key=lambda c: trial_bits(field, c.parameters, share, rows))]


def _previewed(height: int, rows: int) -> list[int]:
    """The partitions of ``rows`` rows of a field ``height`` rows tall that options are
    ranked on: partitions ``2, 6, 10 ...`` (every :data:`PREVIEW_SPACING`-th from the
    middle of the first run), or the middle one where there are fewer than three."""
    count = -(-height // rows)
    middle = PREVIEW_SPACING // 2
    return [band for band in range(count) if band % PREVIEW_SPACING == middle] or [count // 2]


def _best_draft(residuals: np.ndarray, options: list[Choices]) -> _Drafted:
    """The GOP drafted with each of ``options``, the smallest, the first of equals."""
    # drafted one at a time (a draft holds its tokens); ``min`` keeps the first of equals
    drafts = (_drafted(residuals, choices) for choices in options)
    return min(drafts, key=lambda draft: draft.size)


def _options(residuals: np.ndarray, effort: int) -> list[Choices]:
    """The distinct choices a GOP is drafted with: those of ``effort`` (at
    :data:`EXHAUSTIVE`, of every effort), each also without the fitted predictor where it
    takes it (:func:`tezip_rans.choices.unfitted`). Sample-made choices rank closely sized
    options by noise: at effort 2 or 3 they can code a GOP larger than effort 1 does."""
    efforts = EFFORTS if effort == EXHAUSTIVE else (effort,)
    options: list[Choices] = []
    for choices in (choose(residuals, e) for e in efforts):
        for option in (choices, unfitted(choices)):
            if option is not None and not any(_same(option, other) for other in options):
                options.append(option)
    return options


def _same(one: Choices, other: Choices) -> bool:
    return all(
        np.array_equal(a, b)
        for a, b in (
            (one.offset_binary, other.offset_binary),
            (one.relative, other.relative),
            (one.parameters, other.parameters),
        )
    )


def _coded_on_gpu(batch: Sequence[Prepared]) -> list[tuple[Prepared, Coded]]:
    """Code GOPs on a GPU, one launch per field shape and partition height; each GOP with
    the choices it is coded with (where it has forms to weigh, the one :func:`_weighed`
    finds on the statistics the GPU counted)."""
    groups: dict[tuple[Any, ...], list[int]] = {}
    for index, gop in enumerate(batch):
        groups.setdefault((gop.field.shape, gop.field.dtype, gop.rows), []).append(index)
    coded: list[tuple[Prepared, Coded]] = [None] * len(batch)  # type: ignore[list-item]
    for (_, _, rows), members in groups.items():
        group = _coded_group([batch[i] for i in members], rows)
        for index, result in zip(members, group, strict=True):
            coded[index] = result
    return coded


def _coded_group(gops: list[Prepared], rows: int) -> list[tuple[Prepared, Coded]]:
    """GOPs of one field shape and partition height coded in one launch on a GPU."""
    from tezip_rans import cudacoder  # numba's CUDA target only where it runs

    chosen = list(gops)

    def modelled(number: int, histogram: np.ndarray, raw: np.ndarray) -> cudacoder.Model:
        gop = chosen[number]
        if not gop.forms:
            return cudacoder.tabled(number, histogram, raw)
        form, grouping, mapping, frequencies, _ = _weighed(gop, gop.forms, histogram, raw)
        chosen[number] = replace(gop, choices=form)
        return mapping, frequencies, _composed(mapping, grouping)

    fields = np.stack([gop.field for gop in gops])
    parameters = np.stack([gop.choices.parameters for gop in gops])
    coded = cudacoder.code(fields, parameters, rows, modelled)
    return list(zip(chosen, coded, strict=True))


def _analysed(gop: Prepared) -> kernels.Analysis:
    """The statistics pass over a GOP on the CPU, on the threads the budget gives."""
    return kernels.analysed(gop.field, gop.choices.parameters, gop.rows, available())


def _encoded(
    found: kernels.Analysis, clusters: np.ndarray, frequencies: np.ndarray
) -> list[tuple[bytes, bytes]]:
    """A field coded on the CPU from its statistics, the table of each counted context and
    the tables (:func:`tezip_rans.cudacoder.code` on a GPU): per partition, its rANS bytes
    and raw bits."""
    threads = available()
    region_ends = kernels.rans_regions(found.counts)
    out = np.empty(int(region_ends[-1]), np.uint8)
    stream_starts = np.zeros(len(region_ends), np.int64)
    symbols = rans.encoder_symbols(frequencies)
    first_elements = kernels.starts(found.counts)

    def part(span: tuple[int, int]) -> None:
        first, stop = span
        kernels.encode(
            found.contexts,
            found.tokens,
            found.counts,
            clusters,
            symbols,
            out,
            region_ends,
            stream_starts,
            first,
            stop,
            first_elements[first],
        )

    thread_map(part, kernels.partition_ranges(found.counts, threads), threads)
    return [
        (out[start:end].tobytes(), raw)
        for start, end, raw in zip(stream_starts, region_ends, found.raw, strict=True)
    ]


def _decode(data: bytes, parsed: stream.Stream, field: np.ndarray) -> tuple[int, int]:
    """Decode a parsed stream into ``field`` on the CPU; returns ``(status, partition)``."""
    buffer = np.zeros(len(data) + rans.PADDING, np.uint8)
    buffer[: len(data)] = np.frombuffer(data, np.uint8)
    rans_spans = np.array(parsed.rans, np.int64).reshape(-1, 2)
    raw_spans = np.array(parsed.raw, np.int64).reshape(-1, 2)
    tokens, symbols = model.decode_tables(parsed.frequencies)
    keyed = kernels.keyed_tables(parsed.clusters, parsed.choices.parameters)

    def part(span: tuple[int, int]) -> tuple[int, int]:
        first, stop = span
        return kernels.decode(
            buffer,
            rans_spans,
            raw_spans,
            parsed.choices.parameters,
            parsed.rows,
            keyed,  # bytes: an eighth of int64's room near the processor
            tokens,
            symbols,
            field,
            first,
            stop,
        )

    threads = available()
    sizes = kernels.partition_sizes(field.shape, parsed.rows)
    results = thread_map(part, kernels.partition_ranges(sizes, threads), threads)
    return next((result for result in results if result[0]), (0, 0))
