"""One GOP through the pipeline: quantize, predict in closed loop, transform, entropy-code.

Encoding and decoding run the same predictor loop over the same integer codes, so the
decoder reproduces the encoder's predictions exactly; every decoded frame is then checked
against the CRC-32 the encoder stored (DESIGN.md section 2).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from tezip.abc import ArrayToArrayStage, ArrayToBytesStage, CodeSpace, Draft, Predictor, RunContext
from tezip.container.gop import GopRecord
from tezip.container.header import Header, informative_text
from tezip.container.layout import crc32
from tezip.costs import row_pairs
from tezip.device import gpu_failures
from tezip.errors import HeaderError, IntegrityError, ModelError, StreamError
from tezip.parallel import available, thread_map
from tezip.quantize import Quantized, Quantizer, quantizer_from_configuration
from tezip.registry import Registry
from tezip.zstd_frames import compress, decompress_exact

EXACT_LEVEL = 3  # zstd level for outliers (rare; speed matters more than size)
#: runs of consecutive frames, and frames in each, on which screened predictors are
#: compared with point-wise ones (:func:`screen_windows`)
SCREEN_WINDOWS = 2
SCREEN_FRAMES = 4
SCREEN_SPACING = 16
#: the rows of each band of the frames they are compared on, and the share of a GOP's
#: elements the bands make up at most (where a band is no more)
SCREEN_ROWS = 32
SCREEN_SHARE = 128
#: a screened predictor whose estimated bits on the windows (the stage's cheaper ``estimate``)
#: lie more than this fraction above the point-wise predictor's is dropped without drafts:
#: the estimate ranks less surely than drafts (decoded camera video: motion compensation 11%
#: behind in the estimate, 1% ahead in the drafts, 13.5% ahead over the GOP; of 77 screens
#: over 12 sets, none that the drafts kept lay more than 11% behind in the estimate, static
#: microscopy at coarse bounds lay 26-95% behind)
SCREEN_MARGIN = 0.25
#: a screened predictor whose windows' drafts come within this fraction of the point-wise
#: one's is coded in full too: windows hold about 1/128 of a GOP, and their drafts rank
#: options closer than this by chance (grayscott: motion compensation 0.4% behind on the
#: windows, 0.9% ahead over the GOP)
SCREEN_TIE = 0.01
#: a GOP is drafted lossless too where its trial cost lies within this fraction of the
#: grid's (or below it): the two sample different codes, so their trials rank less surely
#: than predictors on the same codes (over 12 sets at abs 1, 2 and 4 the lossless trials
#: lay 15-520% above the grid's, but for decoded camera video at abs 1: -6% to +5%, and
#: lossless won in full at +4%)
LOSSLESS_MARGIN = 0.1


def frame_checksums(frames: np.ndarray) -> list[int]:
    """CRC-32 of each frame's little-endian bytes."""
    little = frames.astype(frames.dtype.newbyteorder("<"), copy=False)
    return [crc32(np.ascontiguousarray(frame).data) for frame in little]


def _in_lock_step(
    predictor: Predictor,
    spaces: Sequence[CodeSpace],
    lengths: Sequence[int],
    frame_shape: tuple[int, ...],
    step: Callable[[int, int, np.ndarray, bytes], np.ndarray],
    sides: Callable[[int, int], bytes | None],
    shown: Callable[[int, int], np.ndarray] | None = None,
) -> None:
    """Run ``predictor`` through a batch of GOPs of ``lengths`` frames in lock step: frame
    ``t`` of GOP ``g`` is predicted given ``sides(g, t)`` (``None`` when encoding) after the
    states observe ``shown(g, t)`` (encoding), and ``step(g, t, prediction, side)`` returns
    the frame's codes, which the state is fed."""
    states = predictor.start_batch(spaces, frame_shape)
    for index in range(max(lengths)):
        members = [gop for gop, length in enumerate(lengths) if length > index]
        if shown is not None:
            states.observe(members, [shown(gop, index) for gop in members])
        predicted = states.predict(members, [sides(gop, index) for gop in members])
        codes = [step(gop, index, *made) for gop, made in zip(members, predicted, strict=True)]
        states.update(members, codes)


def run_predictor(
    predictor: Predictor, spaces: Sequence[CodeSpace], codes: Sequence[np.ndarray]
) -> list[tuple[np.ndarray, list[bytes]]]:
    """Encoder loop over a batch of GOPs' codes (one frame shape), the predictor running
    through them in lock step: each GOP's wrapped residuals and side information."""
    residuals = [np.empty_like(gop) for gop in codes]
    sides: list[list[bytes]] = [[] for _ in codes]

    def step(gop: int, index: int, prediction: np.ndarray, side: bytes) -> np.ndarray:
        frame = codes[gop][index]
        np.subtract(frame, prediction, out=residuals[gop][index])
        sides[gop].append(side)
        return frame

    def frame(gop: int, index: int) -> np.ndarray:
        return codes[gop][index]

    lengths = [len(gop) for gop in codes]
    _in_lock_step(predictor, spaces, lengths, codes[0].shape[1:], step, lambda *_: None, frame)
    return list(zip(residuals, sides, strict=True))


def reconstruct(
    predictor: Predictor,
    spaces: Sequence[CodeSpace],
    residuals: Sequence[np.ndarray],
    sides: Sequence[Sequence[bytes]],
) -> None:
    """Decoder loop: turn a batch of GOPs' residuals (one frame shape) into their codes in
    place, frame by frame, given each GOP's side information (empty: none stored), the
    predictor running through them in lock step."""

    def step(gop: int, index: int, prediction: np.ndarray, _: bytes) -> np.ndarray:
        codes = residuals[gop][index]
        np.add(prediction, codes, out=codes)
        return codes

    def side(gop: int, index: int) -> bytes:
        return sides[gop][index] if sides[gop] else b""

    lengths = [len(gop) for gop in residuals]
    _in_lock_step(predictor, spaces, lengths, residuals[0].shape[1:], step, side)


def _smaller(best: _Candidate | None, other: _Candidate) -> _Candidate:
    """The smaller of two candidates (``best`` on a tie): told by their drafts' sizes where
    these differ by more than their errors, else finished and measured (the finished one
    keeps only its stream, not the draft's working memory)."""
    if best is None:
        return other
    gap = other.size - best.size
    if abs(gap) > other.draft.error + best.draft.error:
        return other if gap < 0 else best
    finished = [_finished(best), _finished(other)]
    return min(finished, key=lambda candidate: candidate.size)


def _finished(candidate: _Candidate) -> _Candidate:
    if candidate.draft.error == 0:
        return candidate
    payload = candidate.draft.finish()
    return replace(candidate, draft=Draft(len(payload), lambda: payload))


@dataclass
class _Gop:
    """A GOP being coded: its first frame, its frames quantized (on the archive's grid, or
    ``lossless``) and its finalist predictors."""

    first: int
    frames: np.ndarray
    quantized: Quantized
    space: CodeSpace
    finalists: list[int]
    lossless: bool = False
    #: the cheapest point-wise finalist's trial cost, where the finalists were ranked
    trial: float | None = None

    @property
    def codes(self) -> np.ndarray:
        return self.quantized.codes


@dataclass
class _Candidate:
    """A GOP (one of its quantizations) prepared with one predictor: its index, side
    information, stage metadata and the entropy stage's draft."""

    gop: _Gop
    index: int
    sides: list[bytes]
    metas: list[Any]
    draft: Draft

    @property
    def size(self) -> float:
        return self.draft.size + sum(len(side) for side in self.sides)


def _prediction_cost(
    predictor: Predictor,
    space: CodeSpace,
    sample: np.ndarray,
    entropy: ArrayToBytesStage,
    share: float,
) -> float:
    [(residuals, _)] = run_predictor(predictor, [space], [sample])
    return entropy.trial_cost(residuals, share)


def screen_windows(codes: np.ndarray) -> list[list[np.ndarray]]:
    """Where screened predictors are compared with point-wise ones: runs of
    :data:`SCREEN_FRAMES` consecutive frames spread over the GOP, one per
    :data:`SCREEN_SPACING` frames (at least one, at most :data:`SCREEN_WINDOWS`), each as
    bands of :data:`SCREEN_ROWS` rows spread over the frames' height, as many as about
    1 / :data:`SCREEN_SHARE` of the GOP's elements take (at least one). A predictor that is
    not point-wise runs on each band: a small sample of both time and space."""
    count, height = codes.shape[:2]
    windows = min(SCREEN_WINDOWS, max(1, count // SCREEN_SPACING))
    starts = np.linspace(0, max(0, count - SCREEN_FRAMES), windows + 2)[1:-1]
    firsts = np.unique(np.rint(starts).astype(np.intp))
    band = min(height, SCREEN_ROWS)
    row_elements = codes[0, 0].size
    wanted = codes.size / SCREEN_SHARE / (len(firsts) * SCREEN_FRAMES * band * row_elements)
    bands = int(min(height // band, max(1, wanted)))
    tops = np.rint(
        np.linspace(0, height - band, bands + 2)[1:-1] if bands > 1 else [(height - band) // 2]
    )
    return [
        [codes[first : first + SCREEN_FRAMES, top : top + band] for top in tops.astype(np.intp)]
        for first in firsts
    ]


def _window_residuals(
    predictor: Predictor, space: CodeSpace, bands: Sequence[np.ndarray]
) -> tuple[np.ndarray, int]:
    """The residuals of the frames past the second of a few consecutive frames (where every
    built-in predictor has its history), as bands, coded with ``predictor``, bands side by
    side; and the bytes of their side information."""
    made = run_predictor(predictor, [space] * len(bands), [np.ascontiguousarray(b) for b in bands])
    counted = slice(2, None) if len(bands[0]) > 2 else slice(None)
    residuals = np.concatenate([residuals[counted] for residuals, _ in made], axis=1)
    return residuals, sum(len(s) for _, sides in made for s in sides[counted])


@dataclass(frozen=True)
class Encoding:
    """How an encoder searches: choices that shape the bytes but that no decoder needs, so
    the header keeps none of them; a pipeline rebuilt from the header to encode (a worker's)
    is given them beside it."""

    #: code every point-wise candidate in full instead of ranking them on a sample
    thorough: bool = False
    #: options of the entropy stage (``(name, value)`` pairs), also those its header
    #: record leaves out because only its encoder uses them (``tezip.rans``'s ``effort``)
    entropy_options: tuple[tuple[str, Any], ...] = ()


@dataclass
class Pipeline:
    """The decoded form of a header's pipeline: everything needed to code GOPs."""

    frame_shape: tuple[int, ...]
    dtype: np.dtype
    quantizer: Quantizer
    predictors: Sequence[Predictor]
    transforms: Sequence[ArrayToArrayStage]
    entropy: ArrayToBytesStage
    #: per predictor, the device the header says it was packed on (learned predictors)
    packed_on: Sequence[str | None]
    #: encoder only: how it searches
    encoding: Encoding = Encoding()

    @classmethod
    def from_header(
        cls,
        header: Header,
        registry: Registry,
        context: RunContext | None = None,
        encoding: Encoding | None = None,
    ) -> Pipeline:
        """Instantiate every stage a header names (unknown ids raise ``UnknownIdError``), to
        encode as ``encoding`` says when given."""
        context = context or RunContext()
        encoding = encoding or Encoding()
        quantizer = quantizer_from_configuration(header.quantizer)
        if quantizer.dtype != header.numpy_dtype:
            raise HeaderError("quantizer dtype differs from the header dtype")
        predictors = [registry.from_record("predictor", r) for r in header.predictors]
        records = list(header.stages)
        if records and encoding.entropy_options:
            last = records[-1]
            configuration = {**last["configuration"], **dict(encoding.entropy_options)}
            records[-1] = {**last, "configuration": configuration}
        stages = [registry.from_record("stage", r) for r in records]
        *transforms, entropy = stages
        if not isinstance(entropy, ArrayToBytesStage) or not all(
            isinstance(s, ArrayToArrayStage) for s in transforms
        ):
            raise HeaderError("pipeline must be array-to-array stages then one array-to-bytes")
        entropy.bind(context)
        for record, predictor in zip(header.predictors, predictors, strict=True):
            wanted = record.get("fingerprint")
            predictor.bind(replace(context, fingerprint=wanted))
            if wanted is not None and wanted != predictor.fingerprint:
                raise ModelError(
                    f"predictor {predictor.id} needs the model with fingerprint {wanted}, "
                    f"but was given {predictor.fingerprint}; pass it with --model"
                )
        packed_on = [informative_text(record, "device") for record in header.predictors]
        return cls(
            header.frame_shape,
            header.numpy_dtype,
            quantizer,
            predictors,
            transforms,
            entropy,
            packed_on,
            encoding,
        )

    def finalists(self, codes: np.ndarray, space: CodeSpace) -> tuple[list[int], float | None]:
        """Candidate predictors worth coding this GOP with in full, and the trial cost of the
        cheapest point-wise one where they were ranked on a sample (else None).

        Point-wise predictors are ranked on the entropy stage's trial sample by its trial
        cost and only the cheapest goes on, with those the stage cannot tell from it (its
        ``trial_margin``), or all of them when ``thorough``; screened predictors are then
        judged against the cheapest on a few bands of frames (:meth:`_screened`); other
        predictors that are not point-wise (learned) cannot be judged on a sample, so each of
        them goes on too. A single candidate or a GOP of one frame needs no comparison.
        """
        if len(self.predictors) == 1 or len(codes) == 1:
            return [0], None
        pointwise = [i for i, p in enumerate(self.predictors) if p.pointwise]
        screened = [i for i, p in enumerate(self.predictors) if p.screened and not p.pointwise]
        others = [i for i, p in enumerate(self.predictors) if not (p.pointwise or p.screened)]
        if self.encoding.thorough:
            return pointwise + screened + others, None
        sampled = codes.shape[1] >= 2
        best = None
        if len(pointwise) > 1 and sampled:
            sample = self.entropy.trial_sample(codes)
            share = sample.size / codes.size
            costs = [
                _prediction_cost(self.predictors[i], space, sample, self.entropy, share)
                for i in pointwise
            ]
            best = min(costs)
            limit = best * (1 + self.entropy.trial_margin)
            order = np.argsort(costs, kind="stable")
            pointwise = [pointwise[i] for i in order if costs[i] <= limit or costs[i] == best]
        if pointwise and screened and sampled:
            screened = self._screened(codes, space, pointwise[0], screened)
        return pointwise + screened + others, best

    def _screened(
        self, codes: np.ndarray, space: CodeSpace, cheapest: int, screened: list[int]
    ) -> list[int]:
        """The ``screened`` predictors worth coding this GOP with in full: those whose
        residuals of :func:`screen_windows` (with their side information) the entropy stage
        drafts smaller than the ``cheapest`` point-wise one's, or within :data:`SCREEN_TIE`
        of it. The point-wise finalists stay: drafts of a few frames carry their tables'
        whole cost, so they only rank (at coarse bounds motion compensation won the windows
        of a GOP that the frames coded alone coded 2% smaller). Those whose estimated bits
        there (the stage's ``estimate`` over their rows) lie more than
        :data:`SCREEN_MARGIN` above are dropped without drafts."""
        windows = screen_windows(codes)

        def made(index: int) -> list[tuple[np.ndarray, int]]:
            predictor = self.predictors[index].screening()
            return [_window_residuals(predictor, space, window) for window in windows]

        def estimate(runs: list[tuple[np.ndarray, int]]) -> float:
            pairs = [(row_pairs(r, r[0].size), side) for r, side in runs]
            return sum(float(self.entropy.estimate(p).sum()) + 8 * side for p, side in pairs)

        def drafted(runs: list[tuple[np.ndarray, int]]) -> float:
            return sum(self.entropy.draft(residuals).size + side for residuals, side in runs)

        plain = made(cheapest)
        plain_estimate, plain_size = estimate(plain), None
        kept = []
        for index in screened:
            runs = made(index)
            if estimate(runs) > plain_estimate * (1 + SCREEN_MARGIN):
                continue
            plain_size = drafted(plain) if plain_size is None else plain_size
            if drafted(runs) < plain_size * (1 + SCREEN_TIE):
                kept.append(index)
        return kept

    @property
    def on_gpu(self) -> bool:
        """True when a stage or a predictor runs on a GPU: GOPs are then coded in batches
        (:meth:`encode_batch`, :meth:`decode_batch`), so that each kernel launch or network
        call covers many of them."""
        devices = [self.entropy.device, *(p.device or "cpu" for p in self.predictors)]
        return any(device.startswith("cuda") for device in devices)

    def encode(self, frames: np.ndarray, first: int) -> GopRecord:
        """Code one GOP of frames ``(n, *frame_shape)``; with several finalist predictors
        (see :meth:`finalists`) each takes it to the entropy stage's draft and only the
        smallest is finished."""
        return self.encode_batch([(first, frames)])[0]

    def encode_batch(self, groups: Sequence[tuple[int, np.ndarray]]) -> list[GopRecord]:
        """Code GOPs ``(first frame, frames)`` as :meth:`encode` codes each, the same bytes:
        each predictor runs through its GOPs in lock step and the entropy stage drafts all
        the candidates at once (one GPU batch)."""
        with gpu_failures(f"coding the frames from {groups[0][0]}"):
            versions = thread_map(lambda group: self._versions(*group), groups)
            gops = [gop for found in versions for gop in found]
            made = [self._best_of_one(gops[0])] if len(gops) == 1 else self._best_of_batch(gops)
            candidates = iter(made)
            bests: list[_Candidate] = []
            for found in versions:  # the smaller quantization of each GOP
                best: _Candidate | None = None
                for _ in found:
                    best = _smaller(best, next(candidates))
                assert best is not None  # every GOP has a quantization
                bests.append(best)
            payloads = [best.draft.finish() for best in bests]
        return [self._record(best, payload) for best, payload in zip(bests, payloads, strict=True)]

    def _versions(self, first: int, frames: np.ndarray) -> list[_Gop]:
        """A GOP quantized on the archive's grid and, where the grid allows lossless GOPs,
        coded losslessly too, each with its finalist predictors: those whose trial costs
        (:meth:`_version_costs`) come within :data:`LOSSLESS_MARGIN` of the other's or
        below, both when ``thorough``. The encoder drafts them and keeps the smaller:
        decoded video, whose exact colour relations a grid breaks, can code smaller
        lossless."""
        grid = self._quantized(first, frames, self.quantizer.quantize(frames), False)
        if not self.quantizer.lossless_gops:
            return [grid]
        exact = self.quantizer.for_gop(True).quantize(frames)
        if self.encoding.thorough:
            return [grid, self._quantized(first, frames, exact, True)]
        grid_cost, lossless_cost = self._version_costs(grid, exact)
        versions = [grid] if grid_cost <= lossless_cost * (1 + LOSSLESS_MARGIN) else []
        if lossless_cost <= grid_cost * (1 + LOSSLESS_MARGIN):
            versions.append(self._quantized(first, frames, exact, True))
        return versions

    def _version_costs(self, grid: _Gop, exact: Quantized) -> tuple[float, float]:
        """The trial costs of a GOP's codes on the grid and lossless: the entropy stage's
        trial sample of each, predicted by the grid's cheapest point-wise finalist (the
        codes themselves where none is point-wise; the grid's cost as the finalists' ranking
        found it, where it did); equal where frames of one row leave nothing to sample."""
        if grid.codes.shape[1] < 2:
            return 0.0, 0.0
        pointwise = [i for i in grid.finalists if self.predictors[i].pointwise]
        predictor = self.predictors[pointwise[0]] if pointwise else None

        def trial(codes: np.ndarray, space: CodeSpace) -> float:
            sample = self.entropy.trial_sample(codes)
            share = sample.size / codes.size
            if predictor is None:
                return self.entropy.trial_cost(sample, share)
            return _prediction_cost(predictor, space, sample, self.entropy, share)

        grid_cost = trial(grid.codes, grid.space) if grid.trial is None else grid.trial
        return grid_cost, trial(exact.codes, self._space(self.quantizer.for_gop(True), exact))

    @staticmethod
    def _space(quantizer: Quantizer, quantized: Quantized) -> CodeSpace:
        bits = quantized.codes.dtype.itemsize * 8
        return quantizer.space(quantized.offset, bits, quantized.phase)

    def _quantized(
        self, first: int, frames: np.ndarray, quantized: Quantized, lossless: bool
    ) -> _Gop:
        """A GOP quantized (``lossless``: coded losslessly), with its finalist predictors."""
        space = self._space(self.quantizer.for_gop(lossless), quantized)
        finalists, trial = self.finalists(quantized.codes, space)
        return _Gop(first, frames, quantized, space, finalists, lossless, trial)

    def _best_of_one(self, gop: _Gop) -> _Candidate:
        """The smallest candidate of one GOP, its finalists drafted one at a time (a draft
        holds its tokens), or at once where the budget has a thread for each and they are
        made on the CPU."""
        finalists = gop.finalists
        at_once = available() >= len(finalists) > 1 and self.entropy.device == "cpu"

        def candidate(index: int) -> _Candidate:
            [(residuals, sides)] = run_predictor(self.predictors[index], [gop.space], [gop.codes])
            residuals, metas = self._transformed(residuals)
            return _Candidate(gop, index, sides, metas, self.entropy.draft(residuals))

        best: _Candidate | None = None
        for made in (thread_map if at_once else map)(candidate, finalists):
            best = _smaller(best, made)
        assert best is not None  # there is always a finalist
        return best

    def _best_of_batch(self, gops: Sequence[_Gop]) -> list[_Candidate]:
        """The smallest candidate of each GOP: every predictor runs through the GOPs it is a
        finalist of in lock step, and all the candidates are drafted in one call."""
        prepared: dict[tuple[int, int], tuple[list[bytes], list[Any], np.ndarray]] = {}
        for index, predictor in enumerate(self.predictors):
            members = [number for number, gop in enumerate(gops) if index in gop.finalists]
            if not members:
                continue
            spaces, codes = [gops[n].space for n in members], [gops[n].codes for n in members]
            made = run_predictor(predictor, spaces, codes)
            for number, (residuals, sides) in zip(members, made, strict=True):
                residuals, metas = self._transformed(residuals)
                prepared[number, index] = (sides, metas, residuals)
        drafted = self.entropy.draft_batch([residuals for *_, residuals in prepared.values()])
        drafts = dict(zip(prepared, drafted, strict=True))
        bests = []
        for number, gop in enumerate(gops):
            best: _Candidate | None = None
            for index in gop.finalists:
                sides, metas, _ = prepared[number, index]
                candidate = _Candidate(gop, index, sides, metas, drafts[number, index])
                best = _smaller(best, candidate)
            assert best is not None  # there is always a finalist
            bests.append(best)
        return bests

    def _transformed(self, residuals: np.ndarray) -> tuple[np.ndarray, list[Any]]:
        """Residuals through the array-to-array stages, with each stage's metadata."""
        metas = []
        for stage in self.transforms:
            residuals, meta = stage.encode(residuals)
            metas.append(meta)
        return residuals, metas

    def _record(self, best: _Candidate, payload: bytes) -> GopRecord:
        gop = best.gop
        quantized, frames = gop.quantized, gop.frames
        positions = np.flatnonzero(quantized.outliers)
        exact = b""
        if positions.size:
            deltas = np.diff(positions, prepend=0).astype("<u8")
            values = frames.reshape(-1)[positions].astype(self.dtype.newbyteorder("<"))
            exact = compress(deltas.tobytes() + values.tobytes(), EXACT_LEVEL)
        return GopRecord(
            first=gop.first,
            count=len(frames),
            predictor=best.index,
            bits=gop.space.bits,
            offset=quantized.offset,
            side=best.sides if any(best.sides) else [],
            stages=best.metas,
            crc=frame_checksums(quantized.reconstruction),
            outliers=int(positions.size),
            residuals=payload,
            exact=exact,
            phase=quantized.phase if self.quantizer.phased and not gop.lossless else None,
            lossless=gop.lossless,
        )

    def decode(self, record: GopRecord) -> np.ndarray:
        """Frames of one GOP, each verified against its stored checksum."""
        return self.decode_batch([record])[0]

    def decode_batch(self, records: Sequence[GopRecord]) -> list[np.ndarray]:
        """Frames of GOPs, as :meth:`decode` gives each: the entropy stage decodes them in one
        call (one GPU batch) and each predictor runs through its GOPs in lock step."""
        checked = [self._checked(record) for record in records]
        with gpu_failures(f"decoding the frames from {records[0].first}"):
            residuals = self._residuals(records, checked)
            spaces = [
                quantizer.space(record.offset, record.bits, phase)
                for record, (_, _, quantizer, phase) in zip(records, checked, strict=True)
            ]
            for index, predictor in enumerate(self.predictors):
                members = [n for n, record in enumerate(records) if record.predictor == index]
                if members:
                    reconstruct(
                        predictor,
                        [spaces[n] for n in members],
                        [residuals[n] for n in members],
                        [records[n].side for n in members],
                    )
            grids = [(quantizer, phase) for _, _, quantizer, phase in checked]
            return thread_map(
                lambda item: self._frames(*item), list(zip(records, residuals, grids, strict=True))
            )

    def _residuals(
        self, records: Sequence[GopRecord], checked: Sequence[tuple[Any, ...]]
    ) -> list[np.ndarray]:
        """GOPs' residuals: their streams decoded in one call, then the array-to-array
        stages inverted."""
        coded = [
            (record.residuals, shape, dtype)
            for record, (shape, dtype, *_) in zip(records, checked, strict=True)
        ]
        residuals = []
        for record, (_, shape, dtype), values in zip(
            records, coded, self.entropy.decode_batch(coded), strict=True
        ):
            if values.shape != shape or values.dtype != dtype:
                raise StreamError(f"{self.entropy.id} decoded the wrong shape or dtype")
            inverse = zip(reversed(self.transforms), reversed(record.stages), strict=True)
            for stage, meta in inverse:
                values = stage.decode(values, meta)
            residuals.append(values)
        return residuals

    def _checked(
        self, record: GopRecord
    ) -> tuple[tuple[int, ...], np.dtype, Quantizer, int | float]:
        """A GOP record's residual shape, code dtype, quantizer (the archive's, or lossless
        for a lossless GOP) and grid phase, checked against the pipeline before anything is
        decoded."""
        if not 0 <= record.predictor < len(self.predictors):
            raise StreamError(f"GOP names predictor #{record.predictor}, header lists fewer")
        if len(record.stages) != len(self.transforms):
            raise StreamError("GOP stage metadata does not match the pipeline")
        if not -(1 << 63) <= record.offset < 1 << 63:
            raise StreamError("GOP code offset out of range")
        if record.lossless and not self.quantizer.lossless_gops:
            raise StreamError("GOP is lossless, but the quantizer allows no lossless GOPs")
        if record.lossless and record.phase is not None:
            raise StreamError("lossless GOP records a grid phase")
        quantizer = self.quantizer.for_gop(record.lossless)
        if quantizer.mode == "lossless" and (record.bits, record.offset) != (
            self.dtype.itemsize * 8,
            0,
        ):
            raise StreamError("lossless GOP with a code width other than the dtype's")
        phase = quantizer.check_phase(record.phase)
        shape = (record.count, *self.frame_shape)
        return shape, np.dtype(f"uint{record.bits}"), quantizer, phase

    def _frames(
        self, record: GopRecord, codes: np.ndarray, grid: tuple[Quantizer, int | float]
    ) -> np.ndarray:
        """A GOP's frames from its codes (on ``grid``: its quantizer and phase), outliers
        patched, verified."""
        quantizer, phase = grid
        frames = quantizer.dequantize(codes, record.offset, phase)
        if record.outliers:
            frames = self._patch_outliers(frames, record)
        self._verify(frames, record)
        return frames

    def _patch_outliers(self, frames: np.ndarray, record: GopRecord) -> np.ndarray:
        count, width = record.outliers, self.dtype.itemsize
        if count > frames.size:
            raise StreamError("GOP declares more outliers than elements")
        raw = decompress_exact(record.exact, count * (8 + width), "outliers")
        positions = np.cumsum(np.frombuffer(raw, "<u8", count), dtype=np.uint64)
        # compared directly, not through np.diff: a sum that wraps past 2**64 must fail too
        if positions[-1] >= frames.size or not (positions[1:] > positions[:-1]).all():
            raise StreamError("outlier positions out of range or not increasing")
        values = np.frombuffer(raw, self.dtype.newbyteorder("<"), count, offset=8 * count)
        frames = np.array(frames, copy=True)
        frames.reshape(-1)[positions.astype(np.intp)] = values
        return frames

    def _verify(self, frames: np.ndarray, record: GopRecord) -> None:
        checks = zip(frame_checksums(frames), record.crc, strict=True)
        for index, (got, stored) in enumerate(checks):
            if got != stored:
                raise IntegrityError(
                    f"frame {record.first + index} does not match its stored checksum: "
                    + self._mismatch_cause(record.predictor)
                )

    def _mismatch_cause(self, index: int) -> str:
        """Why a checksum may fail with this GOP's predictor, and what to try."""
        predictor = self.predictors[index]
        if predictor.fingerprint is None:
            return f"the archive is damaged, or {predictor.id} differs from the one that wrote it"
        packed = self.packed_on[index]
        advice = (
            f"; unpack it on a {packed} device (--device {packed.split()[0]})"
            if packed and packed != predictor.device
            else ""
        )
        return (
            f"the archive is damaged, or {predictor.id} with model {predictor.fingerprint[:16]} "
            f"computed differently here ({predictor.device or 'unknown device'}) than where "
            f"it was packed ({packed or 'device not recorded'}){advice}"
        )
