"""tools/gpu_check.py: its benchmark runs (in numba's CUDA simulator here) and its list of
kernels to compile without a GPU names every kernel there is."""

from __future__ import annotations

import inspect
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from tool_modules import load_tool

from tezip import gridcuda
from tezip.devicetwins import simulated
from tezip_rans import cudakernels

pytestmark = pytest.mark.skipif(not simulated(), reason="runs in numba's CUDA simulator")


def test_the_benchmark_checks_and_measures_a_tiny_batch() -> None:
    """Two GOPs of 2 x 5 x 5 through every coder kernel, streams checked against the CPU."""
    rows = list(load_tool("gpu_check").bench_coder(5, 2, 1e-7, 1, 1.98e9))
    assert [row.split(" | ")[1] for row in rows] == [
        "decode",
        "analyse + encode",
        "encode, host work serial",
        "host work per GOP",
        "transfers",
    ]
    assert "2 GOPs of 2 x 5 x 5, 2 partitions of 50" in rows[0]


def test_the_end_to_end_benchmark_packs_unpacks_and_checks_every_pipeline(tmp_path: Path) -> None:
    """Here on the CPU: the rows, and the cross-device check that runs beside them."""
    tool = load_tool("gpu_check")
    model = tool.untrained_original_model(tmp_path / "original.tezm")
    rows = list(tool.bench_pipeline(5, 16, "cpu", model))
    assert [row.split(" | ")[:2] for row in rows] == [
        [f"| {label}, 5 frames of 16 x 16, on cpu", step]
        for label in ("default level", "PredNet, slim generic model", "PredNet, original size")
        for step in ("pack", "unpack", "unpacked", "decoded elsewhere")
    ]
    assert all(row.split(" | ")[2] == "exact" for row in rows if "decoded" in row)


def test_a_gop_that_decodes_otherwise_elsewhere_is_reported(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import tezip

    tool = load_tool("gpu_check")
    frames = np.arange(3 * 4 * 4, dtype=np.uint8).reshape(3, 4, 4)
    data = tezip.encode(frames, gop=1)
    assert tool.decoded_elsewhere(data, frames, "cpu") == "exact"
    assert tool.decoded_elsewhere(data, frames + 1, "cpu") == (
        "FAILED alone on cpu: other frames; FAILED on the CPU: other frames"
    )

    def refused(*_: object, **__: object) -> np.ndarray:
        raise tezip.TezipError("a checksum failed")

    monkeypatch.setattr(tezip, "unpack", refused)
    assert "FAILED on the CPU: a checksum failed" in tool.decoded_elsewhere(data, frames, "cpu")


def test_the_compile_check_names_every_kernel_with_its_arguments() -> None:
    """Every kernel is listed, each with as many arguments as it takes (a stale list made
    ``--ptx`` fail on the decoder once)."""
    from numba.cuda.simulator.kernel import FakeCUDAKernel

    tool = load_tool("gpu_check")
    listed = {
        (module, name): specs.split()
        for module, _, kernels in tool.KERNELS
        for name, specs in kernels.items()
    }
    defined = {
        (module.__name__, name): value
        for module in (cudakernels, gridcuda)
        for name, value in inspect.getmembers(module)
        if isinstance(value, FakeCUDAKernel) and not value._device
    }
    assert len(defined) == 10 and defined.keys() <= listed.keys()
    for key, kernel in defined.items():
        assert len(listed[key]) == len(inspect.signature(kernel.py_func).parameters), key
    examples = list(tool.kernel_examples())
    assert all(
        len(arguments) == len(listed[tuple(name.split("[")[0].rsplit(".", 1))])
        for name, _, arguments in examples
    )


def test_no_kernel_fuses_a_multiply_and_an_add() -> None:
    """Compiled for a GPU (where NVVM can: a CUDA toolkit or numba-cuda's wheels), no kernel
    has a fused multiply-add: its single rounding would reconstruct other floats than the
    CPU kernels (the float quantizer's second pass had one)."""
    tool = load_tool("gpu_check")
    environment = {**os.environ, "NUMBA_ENABLE_CUDASIM": "0"}
    result = subprocess.run(
        [sys.executable, str(tool.ROOT / "tools" / "gpu_check.py"), "--ptx"],
        env=environment,
        capture_output=True,
        text=True,
        check=False,
    )
    fused = tool.FUSED_FAILURE in result.stdout
    compiled = any(
        line.startswith("tezip.gridcuda._float_codes[f8]:") and "lines of PTX" in line
        for line in result.stdout.splitlines()
    )
    if not (fused or compiled):  # the float kernel, the one with a product and a sum
        pytest.skip(f"no CUDA compiler here: {(result.stdout + result.stderr)[-300:]}")
    assert not fused, result.stdout


def test_the_network_drift_row_measures_one_device_against_the_cpu() -> None:
    """Here the CPU against itself: no difference, and none beyond the band."""
    tool = load_tool("gpu_check")
    row = tool.network_drift(tool.cell_frames(24)[:4], "cpu")
    assert row.startswith("| PredNet corrections, cpu against the CPU, 4 frames of 24 x 24 |")
    assert "largest difference 0.0e+00" in row and "| 0 of 2304 elements moved" in row
