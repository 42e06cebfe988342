"""CUDA twins of numba ``@njit`` functions: one Python source compiled for both targets.

A twin is the very Python function a CPU dispatcher compiles, compiled instead as a numba
CUDA device function (``cuda.jit(device=True)``). The twins of one module share a namespace
in which every twinned name, and every module named in ``modules``, resolves to its twin: a
chain of element functions that calls itself by name runs wholly on the device, with the
arithmetic of the CPU kernels and no copy of it. What the sources call that numba's CUDA
target lacks (numba's ``leading_zeros``, NumPy's ``rint``, named as globals) gets a device
stand-in.

Under numba's CUDA simulator (``NUMBA_ENABLE_CUDASIM=1``) the twins run as Python on NumPy
scalars, which is how CI proves them byte-identical to the CPU kernels without a GPU.
"""

from __future__ import annotations

import types
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
from numba import cuda
from numba.core import config
from numba.cpython.unsafe.numbers import leading_zeros


def simulated() -> bool:
    """True when numba's CUDA target is its simulator (``NUMBA_ENABLE_CUDASIM=1``)."""
    return bool(config.ENABLE_CUDASIM)


def _leading_zeros_by_halving(value: np.uint64) -> np.uint64:
    """Leading zero bits of a 64-bit value in plain arithmetic (the simulator's ``cuda.clz``
    counts in 32 bits)."""
    count = np.uint64(0)
    width = np.uint64(32)
    while width > np.uint64(0):
        high = value >> (np.uint64(64) - width)
        count = count if high else count + width
        value = value if high else value << width
        width >>= np.uint64(1)
    return count + np.uint64(value == np.uint64(0))


def _leading_zeros_by_instruction(value: np.uint64) -> np.uint64:
    """Leading zero bits of a 64-bit value: one ``clz`` instruction."""
    return np.uint64(cuda.clz(value))


def _stand_ins() -> dict[int, Any]:
    """Device stand-ins of what the sources name that numba's CUDA target lacks, by the id
    of the object named (the simulator runs NumPy's own ``rint``)."""
    if simulated():
        return {id(leading_zeros): cuda.jit(device=True)(_leading_zeros_by_halving)}
    from numba.cuda import libdevice

    return {
        id(leading_zeros): cuda.jit(device=True)(_leading_zeros_by_instruction),
        id(np.rint): libdevice.rint,
    }


def twin_module(
    module: types.ModuleType,
    names: Iterable[str],
    modules: Mapping[str, types.ModuleType] | None = None,
) -> types.ModuleType:
    """``module`` with its dispatchers ``names`` replaced by their CUDA twins, and each global
    that ``modules`` names (``{"el": twin_of_elements}``) by that twin module; its constants
    stay as they are."""
    stand_ins = _stand_ins()
    namespace = {name: stand_ins.get(id(value), value) for name, value in vars(module).items()}
    namespace.update(modules or {})
    for name in names:
        source = getattr(module, name).py_func
        function = types.FunctionType(
            source.__code__, namespace, name, source.__defaults__, source.__closure__
        )
        function.__doc__ = source.__doc__
        namespace[name] = cuda.jit(device=True)(function)
    twin = types.ModuleType(f"{module.__name__}[cuda]", module.__doc__)
    vars(twin).update({k: v for k, v in namespace.items() if not k.startswith("__")})
    return twin
