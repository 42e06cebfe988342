"""Lossless GOPs in bounded archives (format 1.2): a grid of integers lets the encoder code a
GOP losslessly where that is smaller, and such a GOP decodes bit-exactly."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tool_modules import load_tool

import tezip
from tezip.bounds import ErrorBound
from tezip.container.gop import decode_gop
from tezip.errors import BoundError
from tezip.inspection import describe_archive, format_description
from tezip.quantize import GridQuantizer, make_quantizer


def lossless_flags(path: Path) -> list[bool]:
    """Per GOP of an archive, whether it is coded lossless."""
    with tezip.open(path) as archive:
        return [decode_gop(archive.file.payload(g.section)).lossless for g in archive.gops]


def decoded_video(seed: int) -> np.ndarray:
    return load_tool("make_vectors")._decoded_video(np.random.default_rng(seed))


def test_decoded_video_codes_its_quiet_gop_lossless(tmp_path: Path) -> None:
    """The quiet half of the clip keeps exact colour relations the grid of --abs 1 breaks:
    it is coded lossless, smaller than on the grid, and decodes exactly; the noisy half
    stays on the grid, within the bound."""
    frames = decoded_video(3)
    tezip.pack(frames, tmp_path / "a.tez", abs=1, gop=4)
    tezip.pack(frames, tmp_path / "g.tez", abs=1, gop=4, lossless_gops=False)
    assert lossless_flags(tmp_path / "a.tez") == [True, False]
    assert lossless_flags(tmp_path / "g.tez") == [False, False]
    assert (tmp_path / "a.tez").stat().st_size < (tmp_path / "g.tez").stat().st_size
    decoded = tezip.unpack(tmp_path / "a.tez")
    np.testing.assert_array_equal(decoded[:4], frames[:4])
    shown = format_description(describe_archive(tmp_path / "a.tez"))
    assert "; lossless x1" in shown
    assert np.abs(decoded.astype(int) - frames).max() == 1


def test_noise_stays_on_the_grid(tmp_path: Path) -> None:
    rng = np.random.default_rng(4)
    frames = rng.normal(2000, 40, (4, 24, 32)).astype(np.uint16)
    tezip.pack(frames, tmp_path / "n.tez", abs=2)
    assert lossless_flags(tmp_path / "n.tez") == [False]


def test_the_smallest_level_codes_both_and_keeps_the_smaller(tmp_path: Path) -> None:
    frames = decoded_video(5)[:4]
    for level in (5, 9):
        tezip.pack(frames, tmp_path / f"{level}.tez", abs=1, level=level)
        assert lossless_flags(tmp_path / f"{level}.tez") == [True]


def test_versions(tmp_path: Path) -> None:
    """Allowing lossless GOPs makes an archive 1.2; without them it stays 1.1, and float
    grids never allow them."""
    frames = decoded_video(6)[:4]
    tezip.pack(frames, tmp_path / "a.tez", abs=1)
    tezip.pack(frames, tmp_path / "b.tez", abs=1, lossless_gops=False)
    tezip.pack(frames.astype(np.float32), tmp_path / "c.tez", abs=1)
    expected = {"a.tez": ((1, 2), "gop"), "b.tez": ((1, 1), None), "c.tez": ((1, 1), None)}
    for name, (version, lossless) in expected.items():
        with tezip.open(tmp_path / name) as archive:
            assert archive.file.version == version
            assert archive.header.quantizer.get("lossless") == lossless


def test_fast_levels_and_stages_that_cannot_weigh_them_take_none(tmp_path: Path) -> None:
    """Levels 1-3 do not spend the weighing, and tezip.zstd's trial (an estimate of
    magnitudes) cannot rank the grid's codes against the lossless ones: their archives
    keep every GOP on the grid, as format 1.1."""
    frames = decoded_video(7)[:4]
    for options in ({"level": 1}, {"level": 3}, {"entropy": "tezip.zstd"}):
        tezip.pack(frames, tmp_path / "f.tez", abs=1, overwrite=True, **options)
        with tezip.open(tmp_path / "f.tez") as archive:
            assert archive.file.version == (1, 1), options
            assert "lossless" not in archive.header.quantizer


def test_float_grids_take_no_lossless_gops() -> None:
    with pytest.raises(BoundError):
        GridQuantizer(np.float32, 0.5, lossless="gop")
    with pytest.raises(BoundError):
        GridQuantizer(np.uint8, 1, lossless="yes")
    bound = ErrorBound.from_options(abs=0.5)
    assert not make_quantizer(bound, np.dtype(np.float32), None).lossless_gops
    assert make_quantizer(ErrorBound.from_options(abs=1), np.dtype(np.int16), None).lossless_gops


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    dtype=st.sampled_from(["uint8", "int8", "uint16", "int16", "uint32", "int32"]),
    tolerance=st.sampled_from([1, 2, 5]),
    quiet=st.booleans(),
    seed=st.integers(0, 2**32 - 1),
)
def test_every_gop_keeps_the_bound_and_lossless_ones_are_exact(
    tmp_path: Path, dtype: str, tolerance: int, quiet: bool, seed: int
) -> None:
    """Decoded video in any integer dtype (its quiet GOP often lossless), or noise: every
    element within the bound, every lossless GOP bit-exact."""
    info = np.iinfo(dtype)
    if quiet:
        values = decoded_video(seed % 1000).astype(np.int64) + max(info.min, -100)
    else:
        values = np.random.default_rng(seed).normal(0, 30, (8, 12, 16))
    frames = np.clip(values, info.min, info.max).astype(dtype)
    path = tmp_path / "p.tez"
    tezip.pack(frames, path, abs=tolerance, gop=4, overwrite=True)
    decoded = tezip.unpack(path)
    assert np.abs(decoded.astype(np.int64) - frames.astype(np.int64)).max() <= tolerance
    flags = lossless_flags(path)
    for gop in np.flatnonzero(flags):
        exact = slice(4 * gop, 4 * gop + 4)
        np.testing.assert_array_equal(decoded[exact], frames[exact])
