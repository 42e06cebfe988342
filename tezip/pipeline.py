"""One GOP through the pipeline: quantize, predict in closed loop, transform, entropy-code.

Encoding and decoding run the same predictor loop over the same integer codes, so the
decoder reproduces the encoder's predictions exactly; every decoded frame is then checked
against the CRC-32 the encoder stored (DESIGN.md section 2).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from tezip.abc import ArrayToArrayStage, ArrayToBytesStage, CodeSpace, Draft, Predictor, RunContext
from tezip.container.gop import GopRecord
from tezip.container.header import Header, informative_text
from tezip.container.layout import crc32
from tezip.device import gpu_failures
from tezip.errors import HeaderError, IntegrityError, ModelError, StreamError
from tezip.parallel import available, thread_map
from tezip.quantize import Quantizer, quantizer_from_configuration
from tezip.registry import Registry
from tezip.zstd_frames import compress, decompress_exact

EXACT_LEVEL = 3  # zstd level for outliers (rare; speed matters more than size)


def frame_checksums(frames: np.ndarray) -> list[int]:
    """CRC-32 of each frame's little-endian bytes."""
    little = frames.astype(frames.dtype.newbyteorder("<"), copy=False)
    return [crc32(np.ascontiguousarray(frame).data) for frame in little]


def _run_predictor(
    predictor: Predictor, space: CodeSpace, codes: np.ndarray
) -> tuple[np.ndarray, list[bytes]]:
    """Encoder loop: wrapped residuals and side information for every frame."""
    state = predictor.start(space, codes.shape[1:])
    residuals = np.empty_like(codes)
    sides = []
    for index, frame in enumerate(codes):
        prediction, side = state.predict(None)
        np.subtract(frame, prediction, out=residuals[index])
        sides.append(side)
        state.update(frame)
    return residuals, sides


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
class _Candidate:
    """A GOP prepared with one predictor: its index, side information, stage metadata and
    the entropy stage's draft."""

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
    residuals, _ = _run_predictor(predictor, space, sample)
    return entropy.trial_cost(residuals, share)


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

    def finalists(self, codes: np.ndarray, space: CodeSpace) -> list[int]:
        """Candidate predictors worth coding this GOP with in full.

        Point-wise predictors are ranked on the entropy stage's trial sample by its trial
        cost and only the cheapest goes on, with those the stage cannot tell from it (its
        ``trial_margin``), or all of them when ``thorough``; predictors
        that are not point-wise (learned, stateful) cannot be judged on a sample, so each of
        them goes on too. A single candidate or a GOP of one frame needs no comparison.
        """
        if len(self.predictors) == 1 or len(codes) == 1:
            return [0]
        pointwise = [i for i, p in enumerate(self.predictors) if p.pointwise]
        others = [i for i, p in enumerate(self.predictors) if not p.pointwise]
        if self.encoding.thorough:
            return pointwise + others
        if len(pointwise) > 1 and codes.shape[1] >= 2:
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
        return pointwise + others

    def encode(self, frames: np.ndarray, first: int) -> GopRecord:
        """Code one GOP of frames ``(n, *frame_shape)``; with several finalist predictors
        (see :meth:`finalists`) each takes it to the entropy stage's draft and only the
        smallest is finished."""
        quantized = self.quantizer.quantize(frames)
        codes = quantized.codes
        bits = codes.dtype.itemsize * 8
        space = self.quantizer.space(quantized.offset, bits, quantized.phase)
        with gpu_failures(f"coding the frames from {first}"):
            finalists = self.finalists(codes, space)
            best: _Candidate | None = None
            # one draft at a time (a draft holds its tokens), or at once where the budget has
            # a thread for each and they are made on the CPU
            at_once = available() >= len(finalists) > 1 and self.entropy.device == "cpu"

            def candidate(index: int) -> _Candidate:
                return self._candidate(index, space, codes)

            for made in (thread_map if at_once else map)(candidate, finalists):
                best = _smaller(best, made)
            assert best is not None  # there is always a finalist
            payload = best.draft.finish()
        chosen, sides, metas = best.index, best.sides, best.metas
        positions = np.flatnonzero(quantized.outliers)
        exact = b""
        if positions.size:
            deltas = np.diff(positions, prepend=0).astype("<u8")
            values = frames.reshape(-1)[positions].astype(self.dtype.newbyteorder("<"))
            exact = compress(deltas.tobytes() + values.tobytes(), EXACT_LEVEL)
        return GopRecord(
            first=first,
            count=len(frames),
            predictor=chosen,
            bits=bits,
            offset=quantized.offset,
            side=sides if any(sides) else [],
            stages=metas,
            crc=frame_checksums(quantized.reconstruction),
            outliers=int(positions.size),
            residuals=payload,
            exact=exact,
            phase=quantized.phase if self.quantizer.phased else None,
        )

    def _candidate(self, index: int, space: CodeSpace, codes: np.ndarray) -> _Candidate:
        """Predict a GOP's codes with one predictor and run the coding stages up to the
        entropy stage's draft."""
        residuals, sides = _run_predictor(self.predictors[index], space, codes)
        metas = []
        for stage in self.transforms:
            residuals, meta = stage.encode(residuals)
            metas.append(meta)
        return _Candidate(index, sides, metas, self.entropy.draft(residuals))

    def decode(self, record: GopRecord) -> np.ndarray:
        """Frames of one GOP, each verified against its stored checksum."""
        if not 0 <= record.predictor < len(self.predictors):
            raise StreamError(f"GOP names predictor #{record.predictor}, header lists fewer")
        if len(record.stages) != len(self.transforms):
            raise StreamError("GOP stage metadata does not match the pipeline")
        if not -(1 << 63) <= record.offset < 1 << 63:
            raise StreamError("GOP code offset out of range")
        shape = (record.count, *self.frame_shape)
        code_dtype = np.dtype(f"uint{record.bits}")
        if self.quantizer.mode == "lossless" and (record.bits, record.offset) != (
            self.dtype.itemsize * 8,
            0,
        ):
            raise StreamError("lossless GOP with a code width other than the dtype's")
        phase = self.quantizer.check_phase(record.phase)
        with gpu_failures(f"decoding the frames from {record.first}"):
            return self._decode(record, shape, code_dtype, phase)

    def _decode(
        self, record: GopRecord, shape: tuple[int, ...], code_dtype: np.dtype, phase: int | float
    ) -> np.ndarray:
        residuals = self.entropy.decode(record.residuals, shape, code_dtype)
        if residuals.shape != shape or residuals.dtype != code_dtype:
            raise StreamError(f"{self.entropy.id} decoded the wrong shape or dtype")
        for stage, meta in zip(reversed(self.transforms), reversed(record.stages), strict=True):
            residuals = stage.decode(residuals, meta)
        space = self.quantizer.space(record.offset, record.bits, phase)
        state = self.predictors[record.predictor].start(space, self.frame_shape)
        codes = residuals  # reconstructed in place, frame by frame
        for index in range(record.count):
            prediction, _ = state.predict(record.side[index] if record.side else b"")
            np.add(prediction, residuals[index], out=codes[index])
            state.update(codes[index])
        frames = self.quantizer.dequantize(codes, record.offset, phase)
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
