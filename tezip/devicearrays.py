"""Frames held on a GPU at the API's boundary: CuPy's, numba's or torch's arrays.

Any array exposing ``__cuda_array_interface__`` (a CuPy array, a numba-cuda device array, a
torch CUDA tensor) is accepted as input and copied to the host once, where the quantizer
and predictors run; ``tezip.decode(..., device="cuda")`` hands its frames back on the GPU.
CuPy does the copies where it is installed, else numba-cuda (both in ``tezip[gpu]``), and
any of these libraries takes the other's arrays through that interface, torch too.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tezip.device import gpu_failures
from tezip.errors import DependencyError

_NEEDED = "arrays on a GPU need CuPy or numba-cuda: pip install 'tezip[gpu]'"


def on_gpu(data: Any) -> bool:
    """True for an array that lives on a CUDA GPU."""
    return hasattr(data, "__cuda_array_interface__")


def host_array(data: Any) -> np.ndarray:
    """``data`` as a NumPy array: copied from the GPU where it lives there, else as
    ``np.asarray`` reads it (a list, a torch CPU tensor ...)."""
    if not on_gpu(data):
        return np.asarray(data)
    with gpu_failures("copying the frames from the GPU"):
        cupy = _cupy()
        if cupy is not None:
            return cupy.asnumpy(cupy.asarray(data))
        return _numba_cuda().as_cuda_array(data).copy_to_host()


def device_array(frames: np.ndarray) -> Any:
    """``frames`` copied to the GPU: a CuPy array where CuPy is installed, else a numba-cuda
    device array."""
    with gpu_failures("copying the frames to the GPU"):
        cupy = _cupy()
        if cupy is not None:
            return cupy.asarray(frames)
        return _numba_cuda().to_device(frames)


def _cupy() -> Any:
    try:
        import cupy
    except ImportError:
        return None
    return cupy


def _numba_cuda() -> Any:
    try:
        from numba import cuda
    except ImportError:
        raise DependencyError(_NEEDED) from None
    return cuda
