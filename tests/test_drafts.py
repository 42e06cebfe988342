"""Candidate predictors of a GOP are taken to the entropy stage's draft; only the smallest
is finished, or every one whose draft cannot tell."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from residuals import residual_arrays

import tezip
from tezip.abc import Draft
from tezip.inspection import describe_archive
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
    assert len(finished) == 4 and min(finished) < max(finished)  # auto: four candidates
    assert describe_archive(tmp_path / "a.tez")["predictor_use"] == {"tezip.linear": 1}
    np.testing.assert_array_equal(tezip.unpack(tmp_path / "a.tez"), _moving())
