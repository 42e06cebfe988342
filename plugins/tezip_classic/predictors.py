"""Parameter-free temporal predictors working on integer codes."""

from __future__ import annotations

from typing import Any

import numpy as np

from tezip.abc import CodeSpace, Predictor, PredictorState


class _History(PredictorState):
    """Keeps the last ``depth`` reconstructed frames; subclasses combine them."""

    depth = 0

    def __init__(self, space: CodeSpace, frame_shape: tuple[int, ...]) -> None:
        self.space = space
        self.zeros = np.zeros(frame_shape, space.dtype)
        self.frames: list[np.ndarray] = []

    def update(self, codes: np.ndarray) -> None:
        if self.depth:
            self.frames = [codes, *self.frames][: self.depth]

    def predict(self, side: bytes | None) -> tuple[np.ndarray, bytes]:
        return self._predict(), b""

    def _predict(self) -> np.ndarray:
        return self.frames[0] if self.frames else self.zeros


class _LinearState(_History):
    depth = 2

    def _predict(self) -> np.ndarray:
        if len(self.frames) < 2:
            return super()._predict()
        latest, before = self.frames
        if self.space.bits == 64:  # no wider type: wrap instead of clipping
            return latest + (latest - before)
        wide = np.int64 if self.space.bits == 32 else np.int32
        extrapolated = 2 * latest.astype(wide) - before
        return np.clip(extrapolated, 0, self.space.max_code).astype(self.space.dtype)


class _PreviousState(_History):
    depth = 1


class _Classic(Predictor):
    """Shared plumbing: no configuration, point-wise."""

    pointwise = True
    state: type[_History]

    @property
    def configuration(self) -> dict[str, Any]:
        return {}

    def start(self, space: CodeSpace, frame_shape: tuple[int, ...]) -> PredictorState:
        return self.state(space, frame_shape)


class ZeroPredictor(_Classic):
    """Predicts zero: every frame is coded on its own (intra), spatially decorrelated later."""

    id = "tezip.zero"
    state = _History


class PreviousPredictor(_Classic):
    """Predicts the previous reconstructed frame."""

    id = "tezip.previous"
    state = _PreviousState


class LinearPredictor(_Classic):
    """Extrapolates linearly from the two previous frames, clipped to the code range."""

    id = "tezip.linear"
    state = _LinearState
