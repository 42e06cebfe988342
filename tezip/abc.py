"""What a predictor and a pipeline stage are: the contracts every plugin implements.

Data flows one way (DESIGN.md section 2)::

    codes --Predictor--> wrapped residuals --ArrayToArrayStage*--> ArrayToBytesStage --> bytes

*Codes* are unsigned integers of ``CodeSpace.bits`` bits in ``[0, CodeSpace.max_code]``.
*Residuals* have the same dtype and hold ``(codes - prediction) mod 2**bits``: two's-complement
differences wrapped into the unsigned type. Every stage is exact integer arithmetic, so the
decoder reproduces the encoder bit for bit. Arrays handed to stages are shaped
``(frames, height, width)`` or ``(frames, height, width, channels)`` and cover one group of
frames (GOP); a stage never sees two GOPs at once.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from tezip.costs import row_pairs, spatial_cost

__all__ = [
    "ArrayToArrayStage",
    "ArrayToBytesStage",
    "CodeSpace",
    "GopStates",
    "Plugin",
    "Predictor",
    "PredictorState",
    "RunContext",
    "SeparateStates",
    "SingleState",
]


@dataclass(frozen=True)
class CodeSpace:
    """The integer domain of one GOP's codes.

    ``to_values`` maps codes to approximate physical values (float64) and ``from_values``
    maps values back onto the nearest valid code; neural predictors use them to work in
    the data's own units. Both are deterministic NumPy arithmetic.
    """

    bits: int
    max_code: int
    to_values: Callable[[np.ndarray], np.ndarray]
    from_values: Callable[[np.ndarray], np.ndarray]

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(f"uint{self.bits}")


@dataclass(frozen=True)
class RunContext:
    """Where and with what a predictor runs; not part of its configuration.

    ``device`` is ``cpu``, ``cuda`` or ``auto``, which the predictor settles for the library
    it runs on (``tezip.device.resolve_device``). ``models`` holds model files given by the
    user (``--model``) or embedded in the archive; ``fingerprint`` is the model an archive
    being decoded needs (``None`` when encoding).
    """

    device: str = "cpu"
    models: tuple[bytes, ...] = ()
    fingerprint: str | None = None


class Plugin(ABC):
    """Common shape of predictors and stages: a stable id, a version, a configuration.

    ``id`` never changes meaning once released. ``version`` on the class is the version the
    implementation writes, bumped when the encoded output changes; it must decode every
    version from 1 up to it (FORMAT.md section 12). An instance rebuilt from an archive has
    ``self.version`` set to the version of the record it decodes, before any ``bind``,
    ``start`` or ``decode``, so it can follow what an older version wrote.

    ``configuration`` must be msgpack-serialisable and complete: the header stores it and the
    decoder rebuilds the object as ``cls(**configuration)``. The keyword parameters of
    ``__init__`` are the options users may give (``--predictor-opt``, ``--entropy-opt``);
    annotated ``bool``, ``int``, ``float``, ``str`` or ``Literal``, their values are checked
    before the constructor runs (:mod:`tezip.parameters`).
    """

    id: ClassVar[str]
    version: int = 1
    #: the devices it runs on (``tezip plugins`` lists them): ``cuda`` where it has GPU code
    devices: ClassVar[tuple[str, ...]] = ("cpu",)

    @property
    @abstractmethod
    def configuration(self) -> dict[str, Any]:
        """Everything needed to rebuild this object with ``cls(**configuration)``."""

    def describe(self) -> dict[str, Any]:
        """The ``{id, version, configuration}`` record written to the header."""
        return {"id": self.id, "version": self.version, "configuration": self.configuration}


class PredictorState(ABC):
    """The per-GOP state of a predictor: it sees only frames the decoder also has."""

    @abstractmethod
    def predict(self, side: bytes | None) -> tuple[np.ndarray, bytes]:
        """Predict the next frame's codes.

        The encoder passes ``side=None`` and receives side information (often ``b""``) that
        is stored in the archive; the decoder passes that stored side information and must
        get the identical prediction. Predictions have the frame's shape and the code dtype.
        """

    @abstractmethod
    def update(self, codes: np.ndarray) -> None:
        """Feed the reconstructed codes of the frame just predicted."""

    def observe(self, codes: np.ndarray) -> None:  # noqa: B027 (optional, no-op by default)
        """Encoder only, before :meth:`predict`: the codes of the frame to be predicted, for
        a predictor that searches for side information (motion vectors) which the decoder
        then reads instead. By default ignored."""


class GopStates(ABC):
    """The states of several GOPs of one frame shape run in lock step (a batch): step ``t``
    predicts and then takes frame ``t`` of each GOP that has one.

    ``members`` are the positions, in the batch, of the GOPs with a frame at this step, in
    increasing order; they only shrink (GOPs end, none starts late). ``predict`` and
    ``update`` alternate as :class:`PredictorState`'s do, each GOP's prediction being the one
    its own :class:`PredictorState` would make.
    """

    @abstractmethod
    def predict(
        self, members: Sequence[int], sides: Sequence[bytes | None]
    ) -> list[tuple[np.ndarray, bytes]]:
        """Each member's prediction and side information, as :meth:`PredictorState.predict`."""

    @abstractmethod
    def update(self, members: Sequence[int], codes: Sequence[np.ndarray]) -> None:
        """Feed each member's reconstructed codes of the frame just predicted."""

    def observe(self, members: Sequence[int], codes: Sequence[np.ndarray]) -> None:  # noqa: B027
        """Encoder only: each member's codes of the frame to be predicted, as
        :meth:`PredictorState.observe`. By default ignored."""


class SeparateStates(GopStates):
    """A batch of GOPs whose states each run on their own."""

    def __init__(self, states: Sequence[PredictorState]) -> None:
        self.states = list(states)

    def predict(
        self, members: Sequence[int], sides: Sequence[bytes | None]
    ) -> list[tuple[np.ndarray, bytes]]:
        return [self.states[i].predict(s) for i, s in zip(members, sides, strict=True)]

    def update(self, members: Sequence[int], codes: Sequence[np.ndarray]) -> None:
        for index, frame in zip(members, codes, strict=True):
            self.states[index].update(frame)

    def observe(self, members: Sequence[int], codes: Sequence[np.ndarray]) -> None:
        for index, frame in zip(members, codes, strict=True):
            self.states[index].observe(frame)


class SingleState(PredictorState):
    """One GOP run through a predictor's batched states (for a predictor that batches
    natively and builds :meth:`Predictor.start` on :meth:`Predictor.start_batch`)."""

    def __init__(self, states: GopStates) -> None:
        self.states = states

    def predict(self, side: bytes | None) -> tuple[np.ndarray, bytes]:
        return self.states.predict([0], [side])[0]

    def update(self, codes: np.ndarray) -> None:
        self.states.update([0], [codes])

    def observe(self, codes: np.ndarray) -> None:
        self.states.observe([0], [codes])


class Predictor(Plugin):
    """Predicts each frame of a GOP from the reconstructed frames before it."""

    #: sha256 of the model a learned predictor uses; ``None`` for parameter-free ones.
    fingerprint: str | None = None
    #: the compute device a learned predictor runs on, for people (``"cpu"``,
    #: ``"cuda (NVIDIA H100 80GB HBM3)"``); the header records it as provenance.
    device: str | None = None
    #: True when an element's prediction depends only on that element's own history, so the
    #: encoder may compare predictors on a subsample of rows (``--predictor auto``).
    pointwise: ClassVar[bool] = False
    #: True when the encoder may judge a predictor that is not point-wise against the best
    #: point-wise one on bands of a few consecutive frames of each GOP
    #: (:func:`tezip.pipeline.screen_windows`), rather than coding every GOP with it in full;
    #: ``auto`` offers such tezip predictors where :meth:`useful_for` the frames.
    screened: ClassVar[bool] = False

    def bind(self, context: RunContext) -> None:
        """Load models and pick the device before use; learned predictors set ``fingerprint``
        and ``device``.

        Raise ``ModelError`` naming the fingerprint when ``context.fingerprint`` is set and no
        supplied model matches it. When decoding, a learned predictor should leave loading
        its model to its first ``start``, so that an archive whose GOPs never use it decodes
        without the model (FORMAT.md section 10, step 25).
        """

    def model_file(self) -> bytes | None:
        """The bytes of the model in use, for ``--embed-model``; ``None`` without a model."""
        return None

    def screening(self) -> Predictor:
        """The predictor a screened one is judged by on the screen's samples: itself, or a
        cheaper approximation of it (a shorter search) that predicts no better."""
        return self

    def useful_for(self, frame_shape: tuple[int, ...]) -> bool:
        """Whether ``--predictor auto`` should offer this predictor for frames of
        ``frame_shape``; named explicitly, it is used whatever this says."""
        return True

    @abstractmethod
    def start(self, space: CodeSpace, frame_shape: tuple[int, ...]) -> PredictorState:
        """Fresh state at a keyframe; the first prediction of a GOP has no history."""

    def start_batch(self, spaces: Sequence[CodeSpace], frame_shape: tuple[int, ...]) -> GopStates:
        """Fresh states of a batch of GOPs (one code space each), run in lock step; by default
        each started on its own. A predictor that runs a network on a device overrides it to
        run the batch's frames through one network call; each GOP's predictions must then
        decode as those of :meth:`start` do, whatever batch the decoder puts it in."""
        return SeparateStates([self.start(space, frame_shape) for space in spaces])


class ArrayToArrayStage(Plugin):
    """An invertible integer transform of the residuals (e.g. spatial decorrelation)."""

    @abstractmethod
    def encode(self, residuals: np.ndarray) -> tuple[np.ndarray, Any]:
        """Return transformed residuals (same shape and dtype) and msgpack-able metadata."""

    @abstractmethod
    def decode(self, residuals: np.ndarray, meta: Any) -> np.ndarray:
        """Invert :meth:`encode` given the metadata it returned."""


@dataclass(frozen=True)
class Draft:
    """Residuals an entropy stage has prepared to encode (:meth:`ArrayToBytesStage.draft`)."""

    size: float  # the stream's length in bytes, or an estimate of it
    finish: Callable[[], bytes]  # the stream
    error: float = 0.0  # the most the estimate may be off by, in bytes


class ArrayToBytesStage(Plugin):
    """The entropy stage: residual array to bytes and back."""

    #: True when the stage decorrelates residuals spatially itself, so the default pipeline
    #: puts no ``tezip.lorenzo`` stage before it.
    decorrelates: ClassVar[bool] = False
    #: candidate predictors whose trial cost lies within this fraction of the best are all
    #: coded in full (the trial cannot tell them apart); 0 codes only the best
    trial_margin: ClassVar[float] = 0.0
    #: True when :meth:`trial_cost` ranks two quantizations of one GOP (its codes on the
    #: grid and lossless) as the stage codes them, which an estimate of magnitudes does not
    #: (zstd's matches of exact repeats): the encoder then weighs lossless GOPs against the
    #: grid (format 1.2)
    ranks_quantizations: ClassVar[bool] = False
    #: the device it runs on, set by :meth:`bind` (``cpu`` or ``cuda``)
    device: str = "cpu"

    def estimate(self, pairs: np.ndarray) -> np.ndarray:
        """Estimated bits per frame of residual row pairs ``(n, k, 2, W[, C])`` (see
        :func:`tezip.costs.row_pairs`), used to place keyframes: it must rank candidates the
        way this stage will code them. The default estimates the residuals after the best of
        ``tezip.lorenzo``'s spatial modes."""
        return spatial_cost(pairs)

    def trial_sample(self, codes: np.ndarray) -> np.ndarray:
        """The part of a GOP's codes ``(n, H, W[, C])`` that candidate predictors are tried
        on (frames-first, so point-wise predictors run on it as on frames); by default
        pairs of adjacent rows (:func:`tezip.costs.row_pairs`)."""
        return row_pairs(codes)

    def trial_cost(self, residuals: np.ndarray, share: float) -> float:
        """Estimated bits to code a predictor's residuals of :meth:`trial_sample`, which is
        ``share`` of the GOP (for costs paid once per GOP, such as tables): the predictor with
        the fewest is coded in full. By default :meth:`estimate` summed over all frames but
        the first (which no predictor has history for)."""
        return float(self.estimate(residuals[1:]).sum())

    def bind(self, context: RunContext) -> None:
        """Pick the device to run on from ``context.device`` before use (a stage whose
        ``devices`` include ``cuda``); the bytes MUST NOT depend on the device."""

    def draft(self, residuals: np.ndarray) -> Draft:
        """:meth:`encode` in two steps, so that of several candidate residuals of one GOP
        only the smallest is finished: the draft knows the size the stream will have (a
        stage may estimate it closely), ``finish()`` returns the stream. By default the
        residuals are encoded at once."""
        data = self.encode(residuals)
        return Draft(len(data), lambda: data)

    def draft_batch(self, residuals: Sequence[np.ndarray]) -> list[Draft]:
        """:meth:`draft` of each of several GOPs' residuals; a stage on a GPU overrides it to
        code them in one batch."""
        return [self.draft(gop) for gop in residuals]

    @abstractmethod
    def encode(self, residuals: np.ndarray) -> bytes:
        """Encode an unsigned integer array into a self-delimiting byte string."""

    @abstractmethod
    def decode(self, data: bytes, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
        """Decode bytes from :meth:`encode`; raise ``StreamError`` on malformed input."""

    def decode_batch(
        self, streams: Sequence[tuple[bytes, tuple[int, ...], np.dtype]]
    ) -> list[np.ndarray]:
        """:meth:`decode` of each ``(data, shape, dtype)``; a stage on a GPU overrides it to
        decode them in one batch."""
        return [self.decode(data, shape, dtype) for data, shape, dtype in streams]
