"""Keyframe policy: fixed intervals, and auto cuts at scene changes only."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tezip
from tezip import gops
from tezip.errors import InputError
from tezip.gops import GopPolicy
from tezip.inspection import describe_archive


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


def intra_friendly(frames: int = 12) -> np.ndarray:
    """A smooth picture under independent noise: each frame is cheaper coded alone."""
    smooth = np.add.outer(np.arange(24), np.arange(24)).astype(np.uint8)
    noise = np.random.default_rng(1).integers(0, 3, (frames, 24, 24))
    return (smooth + noise * 40).astype(np.uint8)


def test_auto_keeps_short_intra_friendly_runs_in_one_gop(tmp_path: Path) -> None:
    path = tmp_path / "a.tez"
    tezip.pack(intra_friendly(), path, gop="auto")
    assert gop_starts(path) == [0]


def test_auto_cuts_intra_friendly_runs_into_parallel_gops(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Microscopy frames whose noise makes each frame cheaper coded alone."""
    cells = Path(__file__).parent / "data" / "cells"
    monkeypatch.setattr(gops, "INTRA_GOP_BYTES", 4 * 96 * 96)
    path = tmp_path / "a.tez"
    tezip.pack(cells, path, gop="auto")
    assert gop_starts(path) == [0, 4, 8, 12]
    assert {gop["predictor"] for gop in describe_archive(path)["gops"]} == {"tezip.zero"}
    tezip.pack(scenes(np.random.default_rng(0)), path, gop="auto", overwrite=True)
    assert gop_starts(path) == [0, 10]  # predictable frames are never cut this way


def test_fixed_interval_and_auto_maximum(tmp_path: Path) -> None:
    data = np.zeros((25, 4, 4), np.uint16)
    tezip.pack(data, tmp_path / "a.tez", gop=10)
    tezip.pack(data, tmp_path / "b.tez", gop="auto:7")
    assert gop_starts(tmp_path / "a.tez") == [0, 10, 20]
    assert gop_starts(tmp_path / "b.tez") == [0, 7, 13, 19]  # auto shares the frames out
    for gop, starts in ((10, [0, 10, 20]), ("auto:7", [0, 7, 13, 19])):
        policy = GopPolicy.parse(gop)
        assert gops.fewest_gops(25, (4, 4), np.dtype(np.uint16), policy) == len(starts)


def test_auto_shares_intra_runs_evenly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """16 microscopy frames, each cheaper coded alone, at most 6 to a GOP: 6, 5, 5, not 6,
    6, 4."""
    monkeypatch.setattr(gops, "INTRA_GOP_BYTES", 6 * 96 * 96)
    path = tmp_path / "a.tez"
    tezip.pack(Path(__file__).parent / "data" / "cells", path, gop="auto")
    assert gop_starts(path) == [0, 6, 11]


@given(st.integers(1, 10_000), st.integers(1, 100))
def test_even_shares_are_the_fewest_and_differ_by_one_at_most(frames: int, longest: int) -> None:
    lengths = []
    while sum(lengths) < frames:
        lengths.append(gops.even_share(frames - sum(lengths), longest))
    assert sum(lengths) == frames
    assert len(lengths) == -(-frames // longest)
    assert max(lengths) <= longest
    assert max(lengths) - min(lengths) <= 1


def test_the_fewest_gops_never_exceed_the_cuts(tmp_path: Path) -> None:
    """Scene cuts and intra runs only add GOPs to the interval's count."""
    for data in (scenes(np.random.default_rng(0)), intra_friendly(40)):
        policy = GopPolicy.parse("auto:8")
        tezip.pack(data, tmp_path / "c.tez", gop="auto:8", overwrite=True)
        fewest = gops.fewest_gops(len(data), data.shape[1:], data.dtype, policy)
        assert fewest == -(-len(data) // 8) <= len(gop_starts(tmp_path / "c.tez"))


@pytest.mark.parametrize("value", ["0", "-3", "ten", "auto:x"])
def test_bad_gop_values(value: str) -> None:
    with pytest.raises(InputError, match=r"^gop: must be"):
        GopPolicy.parse(value)


def test_large_frames_shorten_gops() -> None:
    assert GopPolicy.parse(64).frames_per_gop(16 * 1024 * 1024) == 4


def test_auto_with_no_length_lets_small_frames_fill_a_gop_of_a_million_elements(
    tmp_path: Path,
) -> None:
    """Search samples, tables and a first frame cost each GOP the same whatever its size;
    a length given is kept."""
    assert GopPolicy.parse("auto").for_frames((37, 49)).size == -(-(2**20) // (37 * 49))
    assert GopPolicy.parse("auto").for_frames((480, 640, 3)).size == 64
    assert GopPolicy.parse("auto:64").for_frames((37, 49)).size == 64
    assert GopPolicy.parse(64).for_frames((37, 49)) == GopPolicy(False, 64)
    data = np.random.default_rng(3).integers(0, 50, (200, 16, 16), np.uint8)
    tezip.pack(data, tmp_path / "a.tez")
    tezip.pack(data, tmp_path / "b.tez", gop="auto:64")
    assert gop_starts(tmp_path / "a.tez") == [0]
    assert gop_starts(tmp_path / "b.tez") == [0, 50, 100, 150]
    assert describe_archive(tmp_path / "a.tez")["header"]["gop"] == {"policy": "auto", "size": 4096}


def test_onsets_cut_only_gops_of_enough_elements(tmp_path: Path) -> None:
    """The cost estimates of a few tiny frames are noise: 100,000 random frames of 2 x 2 were
    cut into 12,984 GOPs and an archive eight times the input."""
    data = np.random.default_rng(0).integers(0, 20, (20_000, 2, 2)).astype(np.uint8)
    tezip.pack(data, tmp_path / "a.tez")
    starts = gop_starts(tmp_path / "a.tez")
    assert len(starts) > 1 and np.diff(starts).min() * 4 >= gops.ONSET_ELEMENTS  # last: the rest
    scene = scenes(np.random.default_rng(0))[:, :16, :16]  # the cut after 10 x 256 elements
    tezip.pack(scene, tmp_path / "b.tez")
    assert gop_starts(tmp_path / "b.tez") == [0]
