"""The built-in plugins pass the conformance kit they ship for third parties."""

from __future__ import annotations

import pytest

from tezip.registry import get_registry
from tezip.testing import check_predictor, check_stage

REGISTRY = get_registry()


@pytest.mark.parametrize("identifier", sorted(REGISTRY.predictors))
def test_predictor_conforms(identifier: str) -> None:
    check_predictor(REGISTRY.predictors[identifier])


@pytest.mark.parametrize("identifier", sorted(REGISTRY.stages))
def test_stage_conforms(identifier: str) -> None:
    check_stage(REGISTRY.stages[identifier])
