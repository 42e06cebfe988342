"""Candidate predictors of a GOP are taken to the entropy stage's draft; only the smallest
is finished, or every one whose draft cannot tell."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from residuals import residual_arrays

import tezip
from tezip import pipeline
from tezip.abc import Draft, Predictor
from tezip.inspection import describe_archive
from tezip.pipeline import Pipeline
from tezip_rans.stage import RansStage


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(residual_arrays())
def test_a_rans_draft_knows_its_size_within_its_error(array: np.ndarray) -> None:
    stage = RansStage()
    draft = stage.draft(array)
    data = draft.finish()
    assert data == stage.encode(array)
    assert abs(draft.size - len(data)) <= draft.error


def _moving() -> np.ndarray:
    """Noise growing by a noisy step per frame: tezip.linear predicts it exactly, the
    others leave kilobytes of noise."""
    rng = np.random.default_rng(2)
    base, step = rng.integers(0, 4000, (64, 64)), rng.integers(0, 50, (64, 64))
    return (base + np.arange(8)[:, None, None] * step).astype(np.uint16)


def _counting(monkeypatch: pytest.MonkeyPatch, error: float | None) -> list[int]:
    """Make RansStage's drafts count what is finished (with ``error`` in place of theirs)."""
    finished: list[int] = []
    original = RansStage.draft

    def draft(self: RansStage, residuals: np.ndarray) -> Draft:
        inner = original(self, residuals)

        def finish() -> bytes:
            data = inner.finish()
            finished.append(len(data))
            return data

        return Draft(inner.size, finish, inner.error if error is None else error)

    monkeypatch.setattr(RansStage, "draft", draft)
    return finished


def test_drafts_far_apart_finish_only_the_smallest(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    finished = _counting(monkeypatch, None)
    tezip.pack(_moving(), tmp_path / "a.tez", level=9)  # every candidate is drafted
    assert len(finished) == 1
    assert describe_archive(tmp_path / "a.tez")["predictor_use"] == {"tezip.linear": 1}


def test_drafts_that_cannot_tell_are_all_finished_and_the_smallest_kept(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    finished = _counting(monkeypatch, 1e12)
    tezip.pack(_moving(), tmp_path / "a.tez", level=9)
    assert len(finished) == 3 and min(finished) < max(finished)
    assert describe_archive(tmp_path / "a.tez")["predictor_use"] == {"tezip.linear": 1}
    np.testing.assert_array_equal(tezip.unpack(tmp_path / "a.tez"), _moving())


def _tried(
    monkeypatch: pytest.MonkeyPatch, costs: dict[str, tuple[float, float]]
) -> tuple[list[int], list[str]]:
    """Give each candidate predictor the trial cost ``costs[id]`` (first trial, second on a
    larger sample); returns the sizes of the samples tried and the ids drafted."""
    sizes: list[int] = []
    drafted: list[str] = []

    def cost(predictor: Predictor, space: Any, sample: np.ndarray, *_: Any) -> float:
        sizes.append(sample.size)
        return costs[predictor.id][sample.size > min(sizes)]

    original = Pipeline._candidate

    def candidate(self: Pipeline, index: int, *args: Any) -> Any:
        drafted.append(self.predictors[index].id)
        return original(self, index, *args)

    monkeypatch.setattr(pipeline, "_prediction_cost", cost)
    monkeypatch.setattr(Pipeline, "_candidate", candidate)
    return sizes, drafted


def _large() -> np.ndarray:
    """One GOP large enough for a second trial on a larger sample."""
    rng = np.random.default_rng(5)
    return np.cumsum(rng.integers(-3, 4, (16, 128, 256)), axis=0).astype(np.uint16)


@pytest.mark.parametrize(
    ("first", "second", "frames", "rounds", "drafted"),
    [
        # within 5% of the best on the first sample, beyond 5% / sqrt(4) on the second
        (103.0, 104.0, _large, 2, ["tezip.linear"]),
        # within 2.5% on the second sample too: both drafted
        (103.0, 102.0, _large, 2, ["tezip.linear", "tezip.previous"]),
        # beyond 5% at once: no second round
        (106.0, 0.0, _large, 1, ["tezip.linear"]),
        # the first sample holds every code already: no second round, both drafted
        (103.0, 0.0, _moving, 1, ["tezip.linear", "tezip.previous"]),
    ],
)
def test_candidates_the_trial_cannot_tell_apart_are_tried_again_on_a_larger_sample(
    first: float,
    second: float,
    frames: Callable[[], np.ndarray],
    rounds: int,
    drafted: list[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    costs = {"tezip.linear": (100.0, 100.0), "tezip.previous": (first, second)}
    sizes, tried = _tried(monkeypatch, {**costs, "tezip.zero": (300.0, 300.0)})
    data = frames()
    tezip.pack(data, tmp_path / "a.tez", gop=len(data))
    assert len(set(sizes)) == rounds
    if rounds == 2:
        assert max(sizes) == RansStage.trial_refinement * min(sizes)
        assert sizes.count(max(sizes)) == 2  # the third candidate was not tried again
    assert tried == drafted
    np.testing.assert_array_equal(tezip.unpack(tmp_path / "a.tez"), data)
