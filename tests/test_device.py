"""Device choice: a GPU seen by torch, numba-cuda or CuPy, each asked only when needed."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import tezip
from tezip import device
from tezip.cli import cli
from tezip.errors import DependencyError, DeviceError, InputError


@pytest.fixture
def detectors(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Callable[[], bool]]]:
    """Fake detectors (no library is imported); what each library 'sees' is set per test."""
    fake: dict[str, Callable[[], bool]] = {}
    monkeypatch.setattr(device, "DETECTORS", fake)
    device.sees_gpu.cache_clear()
    yield fake
    device.sees_gpu.cache_clear()


def missing() -> bool:
    raise ImportError("not installed")


def never_asked() -> bool:
    raise AssertionError("a library was asked for a GPU although nothing needed one")


def test_a_gpu_seen_by_torch_is_usable_without_cupy(
    detectors: dict[str, Callable[[], bool]], tmp_path: Path
) -> None:
    detectors.update({"CuPy": missing, "numba-cuda": lambda: False, "torch": lambda: True})
    assert device.check_device("cuda") == "cuda"
    assert device.resolve_device("auto", "torch") == "cuda"
    assert device.resolve_device("cuda", "torch") == "cuda"
    data = np.arange(48, dtype=np.uint8).reshape(3, 4, 4)
    tezip.pack(data, tmp_path / "a.tez", device="cuda")
    assert np.array_equal(tezip.unpack(tmp_path / "a.tez", device="cuda"), data)


def test_a_gpu_seen_by_numba_cuda_counts(detectors: dict[str, Callable[[], bool]]) -> None:
    detectors.update({"CuPy": missing, "numba-cuda": lambda: True, "torch": lambda: False})
    assert device.check_device("cuda") == "cuda"
    assert device.resolve_device("auto", "numba-cuda") == "cuda"


def test_auto_asks_only_the_library_that_runs_the_work(
    detectors: dict[str, Callable[[], bool]],
) -> None:
    detectors.update({"CuPy": never_asked, "numba-cuda": never_asked, "torch": never_asked})
    assert device.check_device("auto") == "auto"
    assert device.check_device("cpu") == "cpu"
    detectors.update({"CuPy": lambda: True, "torch": lambda: False})
    assert device.resolve_device("auto", "torch") == "cpu"


def test_cuda_that_the_working_library_cannot_see_is_a_clear_error(
    detectors: dict[str, Callable[[], bool]],
) -> None:
    detectors.update({"CuPy": lambda: True, "numba-cuda": lambda: False, "torch": lambda: False})
    with pytest.raises(DependencyError, match="torch sees no CUDA GPU"):
        device.resolve_device("cuda", "torch")


def test_cuda_without_any_gpu_names_every_library(
    detectors: dict[str, Callable[[], bool]],
) -> None:
    detectors.update({"CuPy": missing, "numba-cuda": lambda: False, "torch": missing})
    with pytest.raises(DependencyError, match="CuPy, numba-cuda, torch"):
        device.check_device("cuda")
    with pytest.raises(InputError, match="--device must be one of"):
        device.check_device("gpu")


def test_numbas_cuda_simulator_is_no_gpu() -> None:
    """The suite runs numba's CUDA target as its simulator (conftest.py), which says a device
    is available: neither ``auto`` nor ``cuda`` may take it for a GPU."""
    from tezip.devicetwins import simulated

    if not simulated():
        pytest.skip("numba's CUDA target is not its simulator in this run")
    assert not device.DETECTORS["numba-cuda"]()


def _gpu_exception(module: str, name: str, text: str) -> Exception:
    """An exception of a GPU library's kind, without the library."""
    return type(name, (RuntimeError,), {"__module__": module})(text)


@pytest.mark.parametrize(
    ("module", "name", "text"),
    [
        ("numba.cuda.cudadrv.driver", "CudaAPIError", "[2] Call to cuMemAlloc results in OOM"),
        ("numba_cuda.numba.cuda.cudadrv.driver", "CudaAPIError", "[700] launch failed"),
        ("cupy.cuda.memory", "OutOfMemoryError", "Out of memory allocating 4 GiB"),
        ("torch", "OutOfMemoryError", "CUDA out of memory. Tried to allocate 2 GiB"),
        ("builtins", "RuntimeError", "CUDA error: an illegal memory access\nmore lines"),
    ],
)
def test_a_gpu_failure_is_a_one_line_device_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, module: str, name: str, text: str
) -> None:
    """A GPU running out of memory once surfaced as a library's traceback."""
    from tezip_rans.stage import RansStage

    if module == "builtins":  # torch's plain RuntimeError for CUDA faults
        module = "torch"
    frames = np.arange(2 * 6 * 5, dtype=np.uint8).reshape(2, 6, 5)
    tezip.pack(frames, tmp_path / "a.tez")

    def fails(*_: object) -> np.ndarray:
        raise _gpu_exception(module, name, text)

    monkeypatch.setattr(RansStage, "decode_batch", fails)
    monkeypatch.setattr(RansStage, "draft", fails)
    with pytest.raises(
        DeviceError, match=f"decoding the frames from 0 failed on the GPU \\({name}"
    ):
        tezip.unpack(tmp_path / "a.tez")
    with pytest.raises(DeviceError, match="coding the frames from 0 failed on the GPU"):
        tezip.encode(frames)
    result = CliRunner().invoke(
        cli, ["unpack", str(tmp_path / "a.tez"), "-o", str(tmp_path / "o.npy")]
    )
    assert result.exit_code == 1 and result.output.count("\n") == 1
    assert "[device]" in result.output


def test_other_failures_of_a_stage_are_not_device_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    from tezip_rans.stage import RansStage

    def fails(*_: object) -> np.ndarray:
        raise RuntimeError("CUDA error lookalike from elsewhere")

    monkeypatch.setattr(RansStage, "draft", fails)
    with pytest.raises(RuntimeError, match="lookalike"):
        tezip.encode(np.zeros((2, 4, 4), np.uint8))


@pytest.mark.skipif(device.driver_present(), reason="this machine has a CUDA driver")
def test_without_a_driver_no_gpu_library_is_imported_to_look_for_a_gpu() -> None:
    """Looking for a GPU imported numba.cuda (a twentieth of a second) on every pack."""
    code = (
        "import sys, numpy as np, tezip; tezip.encode(np.zeros((2, 8, 8), np.uint8));"
        "print(sorted(m for m in ('numba.cuda', 'torch', 'cupy') if m in sys.modules))"
    )
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_ENABLE_CUDASIM"}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
