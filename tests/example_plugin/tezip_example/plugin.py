"""``example.mean``: predicts the mean of the two previous reconstructed frames.

This is all a predictor plugin needs: a :class:`tezip.abc.Predictor` subclass with a
prefixed id, and a ``tezip_register_predictors`` hook registered under the ``tezip``
entry-point group (see this package's pyproject.toml).
"""

from __future__ import annotations

from typing import Any

import numpy as np

import tezip
from tezip.abc import CodeSpace, Predictor, PredictorState


class _MeanState(PredictorState):
    def __init__(self, space: CodeSpace, frame_shape: tuple[int, ...]) -> None:
        self.space = space
        self.history: list[np.ndarray] = [np.zeros(frame_shape, space.dtype)]

    def predict(self, side: bytes | None) -> tuple[np.ndarray, bytes]:
        if len(self.history) == 1:
            return self.history[0], b""
        a, b = self.history
        # (a + b) // 2 without overflow, in the code type itself
        return (a >> 1) + (b >> 1) + (a & b & 1), b""

    def update(self, codes: np.ndarray) -> None:
        self.history = [codes, *self.history][:2]


class MeanPredictor(Predictor):
    """Mean of the two previous frames."""

    id = "example.mean"
    version = 1
    pointwise = True

    @property
    def configuration(self) -> dict[str, Any]:
        return {}

    def start(self, space: CodeSpace, frame_shape: tuple[int, ...]) -> PredictorState:
        return _MeanState(space, frame_shape)


@tezip.hookimpl
def tezip_register_predictors() -> list[type[Predictor]]:
    return [MeanPredictor]
