"""The built-in plugins pass the conformance kit they ship for third parties."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest

from tezip.abc import CodeSpace, GopStates, Predictor, PredictorState, SeparateStates
from tezip.registry import get_registry
from tezip.testing import check_predictor, check_stage

REGISTRY = get_registry()


@pytest.mark.parametrize("identifier", sorted(REGISTRY.predictors))
def test_predictor_conforms(identifier: str) -> None:
    check_predictor(REGISTRY.predictors[identifier])


@pytest.mark.parametrize("identifier", sorted(REGISTRY.stages))
def test_stage_conforms(identifier: str) -> None:
    check_stage(REGISTRY.stages[identifier])


class _SharedState(PredictorState):
    """Predicts the last frame it was fed, whichever GOP that came from."""

    def __init__(self, frame_shape: tuple[int, ...], dtype: np.dtype) -> None:
        self.last = np.zeros(frame_shape, dtype)

    def predict(self, side: bytes | None) -> tuple[np.ndarray, bytes]:
        return self.last.copy(), b""

    def update(self, codes: np.ndarray) -> None:
        self.last = codes.copy()


class _MixesGops(Predictor):
    """Runs every GOP of a batch through one state: wrong, and the kit must say so."""

    id = "test.mixes-gops"

    @property
    def configuration(self) -> dict[str, Any]:
        return {}

    def start(self, space: CodeSpace, frame_shape: tuple[int, ...]) -> PredictorState:
        return _SharedState(frame_shape, space.dtype)

    def start_batch(self, spaces: Sequence[CodeSpace], frame_shape: tuple[int, ...]) -> GopStates:
        shared = self.start(spaces[0], frame_shape)
        return SeparateStates([shared] * len(spaces))


def test_the_kit_finds_a_predictor_whose_batches_mix_gops() -> None:
    with pytest.raises(AssertionError, match=r"test\.mixes-gops decoder diverged"):
        check_predictor(_MixesGops)
