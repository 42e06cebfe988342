"""Which compute device a run uses: ``auto``, ``cpu`` or ``cuda``.

Whatever runs on a GPU finds it through its own library (torch for ``tezip.prednet``; CuPy
or numba-cuda for GPU kernels), so a GPU counts as present when any of them sees one; none
of them is required. ``auto`` is settled by the code that runs on the device, with the
library it runs on: asking torch costs seconds, so a run that needs no device never asks.
"""

from __future__ import annotations

import ctypes
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import cache, wraps

from tezip.errors import DependencyError, DeviceError, InputError

DEVICES = ("auto", "cpu", "cuda")


@cache
def driver_present() -> bool:
    """True when NVIDIA's CUDA driver library loads (from the loader's path, or where
    ``NUMBA_CUDA_DRIVER`` says): no library sees a GPU without it, and asking this first
    spares a machine without one the import of numba.cuda or torch."""
    default = "nvcuda.dll" if sys.platform == "win32" else "libcuda.so.1"
    for name in filter(None, (os.environ.get("NUMBA_CUDA_DRIVER"), default)):
        try:
            ctypes.CDLL(name)
        except OSError:
            continue
        return True
    return False


def _needs_driver(detector: Callable[[], bool]) -> Callable[[], bool]:
    """``detector`` asked only where the driver is present."""

    @wraps(detector)
    def checked() -> bool:
        return driver_present() and detector()

    return checked


@_needs_driver
def _cupy_sees_gpu() -> bool:
    import cupy

    return bool(cupy.cuda.runtime.getDeviceCount())


@_needs_driver
def _numba_sees_gpu() -> bool:
    from numba import cuda
    from numba.core import config

    return not config.ENABLE_CUDASIM and bool(cuda.is_available())  # a simulator is no GPU


@_needs_driver
def _torch_sees_gpu() -> bool:
    import torch

    return bool(torch.cuda.is_available())


#: how each library finds a CUDA GPU, cheapest to ask first
DETECTORS: dict[str, Callable[[], bool]] = {
    "CuPy": _cupy_sees_gpu,
    "numba-cuda": _numba_sees_gpu,
    "torch": _torch_sees_gpu,
}


@cache
def sees_gpu(library: str) -> bool:
    """True when ``library`` (a key of ``DETECTORS``) imports and sees a CUDA GPU."""
    try:
        return DETECTORS[library]()
    except Exception:  # ImportError, or CUDA runtime errors on a machine without a GPU
        return False


def cuda_available() -> bool:
    """True when any of the libraries sees a CUDA GPU."""
    return any(sees_gpu(library) for library in DETECTORS)


def check_device(name: str) -> str:
    """Validate a ``--device`` request; ``cuda`` needs a GPU that some library sees.

    ``auto`` is returned as it is: whatever runs on a device settles it with
    :func:`resolve_device`.
    """
    if name not in DEVICES:
        raise InputError(f"--device must be one of {', '.join(DEVICES)}, got {name!r}")
    if name == "cuda" and not cuda_available():
        raise DependencyError(
            f"--device cuda: no CUDA GPU is visible to {', '.join(DETECTORS)}; use --device "
            "cpu, or on a machine with an NVIDIA driver install one of them with CUDA "
            "support (pip install 'tezip[gpu]' for CuPy and numba-cuda)"
        )
    return name


def resolve_device(name: str, library: str) -> str:
    """``cpu`` or ``cuda`` for work that runs on ``library``: ``auto`` picks CUDA when that
    library sees a GPU; ``cuda`` requires that it does."""
    check_device(name)
    if name == "auto":
        return "cuda" if sees_gpu(library) else "cpu"
    if name == "cuda" and not sees_gpu(library):
        raise DependencyError(
            f"--device cuda: {library} sees no CUDA GPU (another library does); install "
            f"{library} with CUDA support, or use --device cpu"
        )
    return name


#: modules whose exceptions report a GPU's failure (numba-cuda, CuPy, PyTorch's CUDA side)
_GPU_MODULES = ("numba.cuda", "numba_cuda", "cupy", "cupy_backends", "torch.cuda")


def _gpu_failure(error: BaseException) -> bool:
    kind = type(error)
    if kind.__module__.startswith(_GPU_MODULES):
        return True
    if kind.__module__.startswith("torch"):  # torch.OutOfMemoryError, "CUDA error: ..."
        return kind.__name__ == "OutOfMemoryError" or str(error).startswith("CUDA error")
    return False


@contextmanager
def gpu_failures(what: str) -> Iterator[None]:
    """Report a GPU library's failure inside the block as a one-line ``DeviceError`` naming
    ``what`` was being done; other errors pass unchanged."""
    try:
        yield
    except Exception as error:
        if not _gpu_failure(error):
            raise
        text = str(error).strip().splitlines()[0] if str(error).strip() else ""
        raise DeviceError(f"{what} failed on the GPU ({type(error).__name__}: {text})") from None
