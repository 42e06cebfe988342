"""Keyframe policy: fixed intervals, and auto cuts at scene changes only."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import tezip
from tezip.errors import InputError
from tezip.gops import GopPolicy


def scenes(rng: np.random.Generator) -> np.ndarray:
    """A still textured scene, then a hard cut at frame 10 to an unrelated smooth one."""
    y, x = np.mgrid[0:32, 0:32]
    texture, smooth = rng.integers(0, 200, (1, 32, 32)), (3 * x + y)[np.newaxis]
    drift = np.arange(10).reshape(10, 1, 1)
    return np.concatenate([texture + drift, smooth + drift]).clip(0, 255).astype(np.uint8)


def gop_starts(path: Path) -> list[int]:
    with tezip.open(path) as archive:
        return [entry.first for entry in archive.gops]


def test_auto_cuts_at_the_scene_change(tmp_path: Path) -> None:
    path = tmp_path / "a.tez"
    tezip.pack(scenes(np.random.default_rng(0)), path, gop="auto")
    assert gop_starts(path) == [0, 10]


def test_auto_keeps_intra_friendly_runs_in_one_gop(tmp_path: Path) -> None:
    smooth = np.add.outer(np.arange(24), np.arange(24)).astype(np.uint8)
    noise = np.random.default_rng(1).integers(0, 3, (12, 24, 24))
    path = tmp_path / "a.tez"
    tezip.pack((smooth + noise * 40).astype(np.uint8), path, gop="auto")
    assert gop_starts(path) == [0]


def test_fixed_interval_and_auto_maximum(tmp_path: Path) -> None:
    data = np.zeros((25, 4, 4), np.uint16)
    tezip.pack(data, tmp_path / "a.tez", gop=10)
    tezip.pack(data, tmp_path / "b.tez", gop="auto:7")
    assert gop_starts(tmp_path / "a.tez") == [0, 10, 20]
    assert gop_starts(tmp_path / "b.tez") == [0, 7, 14, 21]


@pytest.mark.parametrize("value", ["0", "-3", "ten", "auto:x"])
def test_bad_gop_values(value: str) -> None:
    with pytest.raises(InputError, match="--gop"):
        GopPolicy.parse(value)


def test_large_frames_shorten_gops() -> None:
    assert GopPolicy.parse(64).frames_per_gop(16 * 1024 * 1024) == 4
