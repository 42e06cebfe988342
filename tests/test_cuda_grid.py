"""The grid quantizer's CUDA passes give the CPU passes' q, codes, reconstructions and outliers.

The twins stand in for :mod:`tezip.gridkernels` inside the quantizer itself, so every result
of a quantization is compared. Without a GPU they run in numba's CUDA simulator
(``tests/conftest.py``), one Python thread per CUDA thread: the arrays stay tiny.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tezip import device, gridcuda, quantize
from tezip.devicetwins import simulated
from tezip.quantize import GridQuantizer

pytestmark = pytest.mark.skipif(
    not (simulated() or device.sees_gpu("numba-cuda")), reason="needs numba's CUDA target"
)


def quantized(frames: np.ndarray, tolerance: float, phase: int, passes: object) -> tuple:
    """Everything the grid quantizer gives for ``frames`` with its passes from ``passes``."""
    quantizer = GridQuantizer(frames.dtype, tolerance)
    # the simulator computes with NumPy scalars, which warn where compiled code overflows
    with pytest.MonkeyPatch.context() as patch, np.errstate(over="ignore", invalid="ignore"):
        patch.setattr(quantize, "gridkernels", passes)
        result = quantizer._quantize(frames, quantizer.phases()[phase % len(quantizer.phases())])
    return (
        result.offset,
        result.codes.dtype,
        result.codes.tobytes(),
        result.reconstruction.tobytes(),
        result.outliers.tobytes(),
    )


@st.composite
def frames_and_bounds(draw: st.DrawFn) -> tuple[np.ndarray, float, int]:
    dtype = np.dtype(draw(st.sampled_from(["float32", "float64", "int32", "uint32", "int8"])))
    size = draw(st.integers(1, 200))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    if dtype.kind == "f":
        frames = (rng.standard_normal(size) * 10.0 ** draw(st.integers(-3, 30))).astype(dtype)
        specials = [np.nan, np.inf, -np.inf, np.finfo(dtype).max, np.finfo(dtype).tiny]
        tolerance = 10.0 ** draw(st.integers(-6, 3))
    else:
        info = np.iinfo(dtype)
        frames = rng.integers(info.min, info.max, size, dtype=dtype, endpoint=True)
        specials = [info.min, info.max, 0]
        tolerance = float(draw(st.sampled_from([1, 7, 1000, 2**40])))
    where = rng.random(size) < draw(st.sampled_from([0.0, 0.1]))
    frames[where] = rng.choice(np.array(specials, dtype), int(where.sum()))
    return frames.reshape(1, 1, size), tolerance, draw(st.integers(0, 100))


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(frames_and_bounds())
def test_the_cuda_passes_quantize_like_the_cpu_passes(
    case: tuple[np.ndarray, float, int],
) -> None:
    frames, tolerance, phase = case
    expected = quantized(frames, tolerance, phase, quantize.gridkernels)
    assert quantized(frames, tolerance, phase, gridcuda) == expected


def test_ranges_reduce_over_blocks_and_strides(monkeypatch: pytest.MonkeyPatch) -> None:
    """More elements than one block, and than the launched threads: every q is counted."""
    monkeypatch.setattr(gridcuda, "BLOCKS", 2)
    rng = np.random.default_rng(3)
    for frames in (
        rng.integers(-(2**31), 2**31 - 1, (1, 3, 400), dtype=np.int32),
        (rng.standard_normal((1, 3, 400)) * 1e4).astype(np.float32),
    ):
        frames.flat[1100] = frames.max() * 4 if frames.dtype.kind == "f" else frames.max()
        expected = quantized(frames, 3.0, 1, quantize.gridkernels)
        assert quantized(frames, 3.0, 1, gridcuda) == expected
