"""The data-placed grid (format 1.1): each GOP's grid phase is chosen from the data, recorded,
and every element stays within the bound whatever the phase."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tezip
from tezip.errors import StreamError
from tezip.quantize import GridQuantizer


def test_the_phase_centres_a_noisy_plateau() -> None:
    """Background noise 3..5 at --abs 1 (step 3): the grid of phase 1 puts 3, 4 and 5 in one
    bin, so the plateau codes as one value; phase 0 would split it over two bins."""
    rng = np.random.default_rng(0)
    frames = (4 + rng.integers(-1, 2, (3, 40, 40))).astype(np.uint8)
    quantizer = GridQuantizer(np.uint8, 1, phase="gop")
    assert quantizer.choose_phase(frames) == 1
    quantized = quantizer.quantize(frames)
    assert quantized.phase == 1 and len(np.unique(quantized.codes)) == 1
    assert len(np.unique(GridQuantizer(np.uint8, 1).quantize(frames).codes)) == 2


@settings(max_examples=60, deadline=None)
@given(
    dtype=st.sampled_from(["uint8", "int16", "int32", "float32", "float64"]),
    tolerance=st.sampled_from([1, 2, 4, 7.5, 0.01]),
    seed=st.integers(0, 2**32 - 1),
)
def test_every_phase_keeps_the_bound(dtype: str, tolerance: float, seed: int) -> None:
    rng = np.random.default_rng(seed)
    kind = np.dtype(dtype)
    if kind.kind != "f" and tolerance < 1:
        tolerance = 1
    values = rng.normal(0, 300, (2, 5, 7))
    if kind.kind != "f":
        info = np.iinfo(kind)
        values = np.clip(values, info.min, info.max)
        values.flat[:2] = (info.min, info.max)
    frames = values.astype(kind)
    quantizer = GridQuantizer(kind, tolerance, phase="gop")
    for phase in quantizer.phases():
        quantized = quantizer._quantize(frames, phase)
        decoded = quantizer.dequantize(quantized.codes, quantized.offset, phase)
        decoded = np.where(quantized.outliers, frames, decoded)
        error = np.abs(decoded.astype(np.float64) - frames.astype(np.float64))
        assert (error <= quantizer.tolerance).all()
        np.testing.assert_array_equal(decoded, quantized.reconstruction)


def test_phased_archives_are_format_1_1(tmp_path: Path) -> None:
    """Without lossless GOPs (format 1.2), a phased grid is written as 1.1 and the plain
    grid as 1.0."""
    rng = np.random.default_rng(1)
    frames = (100 + rng.integers(-1, 2, (4, 16, 16))).astype(np.uint16)
    tezip.pack(frames, tmp_path / "a.tez", abs=1, lossless_gops=False)
    tezip.pack(frames, tmp_path / "b.tez", abs=1, grid_phase=False, lossless_gops=False)
    tezip.pack(frames, tmp_path / "c.tez")
    with tezip.open(tmp_path / "a.tez") as phased:
        assert phased.file.version == (1, 1)
        assert phased.header.quantizer["phase"] == "gop"
        assert np.abs(phased[:].astype(int) - frames).max() <= 1
    for plain in ("b.tez", "c.tez"):
        with tezip.open(tmp_path / plain) as archive:
            assert archive.file.version == (1, 0) and "phase" not in archive.header.quantizer


def test_the_phase_must_lie_on_the_step() -> None:
    quantizer = GridQuantizer(np.int16, 3, phase="gop")  # step 7
    assert quantizer.check_phase(6) == 6
    for bad in (7, -1, 1.5, True, None, "1"):
        with pytest.raises(StreamError):
            quantizer.check_phase(bad)
    floats = GridQuantizer(np.float32, 0.5, phase="gop")  # step 1.0; ints are accepted
    assert floats.check_phase(0) == 0.0 and floats.check_phase(0.25) == 0.25
    with pytest.raises(StreamError):
        GridQuantizer(np.float32, 0.5).check_phase(0.25)
