"""Frames on a GPU at the API's boundary: packed from a device array, decoded onto the device."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from numba import cuda

import tezip
from tezip import device
from tezip.devicetwins import simulated
from tezip.errors import OptionError


def frames() -> np.ndarray:
    return (np.arange(3 * 6 * 5).reshape(3, 6, 5) * 7 % 251).astype(np.uint8)


class DeviceFrames:
    """A stand-in for an array on a GPU (CuPy's, torch's): it exposes the CUDA array
    interface, and only numba-cuda's ``as_cuda_array`` reads it."""

    def __init__(self, host: np.ndarray) -> None:
        self.host = host
        self.__cuda_array_interface__ = {"shape": host.shape, "typestr": host.dtype.str}


class Viewed:
    def __init__(self, frames: DeviceFrames) -> None:
        self.frames = frames

    def copy_to_host(self) -> np.ndarray:
        return self.frames.host.copy()


@pytest.fixture
def numba_reads_device_arrays(monkeypatch: pytest.MonkeyPatch) -> None:
    """numba-cuda's view of a device array (the simulator has none); no CuPy."""
    monkeypatch.setattr(cuda, "as_cuda_array", Viewed, raising=False)
    monkeypatch.setitem(sys.modules, "cupy", None)


def test_frames_on_a_gpu_pack_as_their_host_copy(
    tmp_path: Path, numba_reads_device_arrays: None
) -> None:
    host = frames()
    expected = tezip.encode(host, abs=1)
    assert tezip.encode(DeviceFrames(host), abs=1) == expected
    tezip.pack(DeviceFrames(host), tmp_path / "a.tez", abs=1)
    assert (tmp_path / "a.tez").read_bytes() == expected


def test_a_torch_tensor_on_the_cpu_packs_as_its_array() -> None:
    torch = pytest.importorskip("torch")
    host = frames()
    assert tezip.encode(torch.from_numpy(host)) == tezip.encode(host)


@pytest.mark.skipif(not simulated(), reason="runs numba's CUDA simulator")
def test_decoding_on_cuda_returns_the_frames_on_the_device(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(device.DETECTORS, "numba-cuda", lambda: True)
    monkeypatch.setitem(sys.modules, "cupy", None)
    device.sees_gpu.cache_clear()
    try:
        on_device = tezip.decode(tezip.encode(frames()), device="cuda")
    finally:
        device.sees_gpu.cache_clear()
    assert not isinstance(on_device, np.ndarray)
    np.testing.assert_array_equal(on_device.copy_to_host(), frames())


def test_decoding_onto_the_device_fills_no_host_array() -> None:
    with pytest.raises(OptionError, match="out"):
        tezip.decode(tezip.encode(frames()), np.empty_like(frames()), device="cuda")


@pytest.mark.gpu
@pytest.mark.skipif(
    simulated() or not device.sees_gpu("CuPy"), reason="needs CuPy and a CUDA device"
)
def test_cupy_frames_in_and_out() -> None:
    import cupy

    host = frames()
    data: Any = tezip.encode(cupy.asarray(host), abs=1)
    assert data == tezip.encode(host, abs=1)
    decoded = tezip.decode(data, device="cuda")
    assert isinstance(decoded, cupy.ndarray)
    np.testing.assert_array_equal(cupy.asnumpy(decoded), tezip.decode(data))
