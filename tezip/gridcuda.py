"""CUDA twins of the grid quantizer's passes (:mod:`tezip.gridkernels`), element-parallel.

Each pass runs the CPU pass's own per-element function, compiled as a device function
(:func:`tezip.devicetwins.twin_module`), one element per thread in a grid-stride loop; the
range of ``q`` is reduced per block in shared memory and the blocks' ranges on the host.
The functions take the CPU passes' arguments (NumPy arrays, or device arrays that stay on
the device) and give their results, element for element.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import cuda

from tezip import gridkernels
from tezip.devicetwins import simulated, twin_module


def _rounded_product() -> Any:
    """The device's product that no compiler fuses with an addition (the simulator runs the
    CPU's, which rounds the same)."""
    if simulated():
        return cuda.jit(device=True)(gridkernels.product.py_func)
    from numba.cuda import libdevice

    return libdevice.dmul_rn


grid = twin_module(
    gridkernels,
    ("integer_q", "integer_value", "float_q", "float_q_checked", "integer_code", "float_code"),
    {"product": _rounded_product()},
)

#: threads per block (a power of two: the range reduction halves it)
THREADS = 256
#: most blocks a pass launches (each thread then strides over the rest)
BLOCKS = 4096
#: the range of no ``q`` at all
_EMPTY = (2**62, -(2**62))


@cuda.jit(device=True)
def _block_range(low: np.int64, high: np.int64, lows: np.ndarray, highs: np.ndarray) -> None:
    """Reduce the threads' ranges of a block to ``lows[block]``, ``highs[block]``."""
    shared_low = cuda.shared.array(THREADS, np.int64)
    shared_high = cuda.shared.array(THREADS, np.int64)
    thread = cuda.threadIdx.x
    shared_low[thread], shared_high[thread] = low, high
    cuda.syncthreads()
    half = THREADS // 2
    while half > 0:
        if thread < half:
            shared_low[thread] = min(shared_low[thread], shared_low[thread + half])
            shared_high[thread] = max(shared_high[thread], shared_high[thread + half])
        cuda.syncthreads()
        half //= 2
    if thread == 0:
        lows[cuda.blockIdx.x], highs[cuda.blockIdx.x] = shared_low[0], shared_high[0]


@cuda.jit
def _integers(frames, tolerance, step, phase, q, lows, highs):  # type: ignore[no-untyped-def]
    low, high = np.int64(_EMPTY[0]), np.int64(_EMPTY[1])
    for index in range(cuda.grid(1), frames.size, cuda.gridsize(1)):
        value = grid.integer_q(np.int64(frames[index]), tolerance, step, phase)
        q[index] = value
        low, high = min(low, value), max(high, value)
    _block_range(low, high, lows, highs)


@cuda.jit
def _floats(frames, step, phase, q, invalid, lows, highs):  # type: ignore[no-untyped-def]
    low, high = np.int64(_EMPTY[0]), np.int64(_EMPTY[1])
    for index in range(cuda.grid(1), frames.size, cuda.gridsize(1)):
        value, bad = grid.float_q_checked(np.float64(frames[index]), step, phase)
        q[index] = value
        invalid[index] = bad
        if not bad:
            low, high = min(low, value), max(high, value)
    _block_range(low, high, lows, highs)


@cuda.jit
def _integer_codes(  # type: ignore[no-untyped-def]
    frames, q, offset, step, phase, low, high, tolerance, codes, reconstruction, outliers, missed
):
    for index in range(cuda.grid(1), frames.size, cuda.gridsize(1)):
        if grid.integer_code(
            frames,
            q,
            index,
            offset,
            step,
            phase,
            low,
            high,
            tolerance,
            codes,
            reconstruction,
            outliers,
        ):
            cuda.atomic.add(missed, 0, 1)


@cuda.jit
def _float_codes(  # type: ignore[no-untyped-def]
    frames, q, invalid, offset, step, phase, tolerance, codes, reconstruction, outliers, missed
):
    for index in range(cuda.grid(1), frames.size, cuda.gridsize(1)):
        if grid.float_code(
            frames,
            q,
            invalid,
            index,
            offset,
            step,
            phase,
            tolerance,
            codes,
            reconstruction,
            outliers,
        ):
            cuda.atomic.add(missed, 0, 1)


def _blocks(size: int) -> int:
    return max(1, min(BLOCKS, -(-size // THREADS)))


def _ranged(kernel: Any, size: int, *arguments: Any) -> tuple[int, int]:
    """Run a first pass and reduce the blocks' ranges of ``q``."""
    blocks = _blocks(size)
    lows, highs = cuda.device_array(blocks, np.int64), cuda.device_array(blocks, np.int64)
    kernel[blocks, THREADS](*arguments, lows, highs)
    return int(lows.copy_to_host().min()), int(highs.copy_to_host().max())


def _counted(kernel: Any, size: int, *arguments: Any) -> int:
    """Run a second pass; returns how many outliers it marked."""
    missed = cuda.to_device(np.zeros(1, np.int64))
    kernel[_blocks(size), THREADS](*arguments, missed)
    return int(missed.copy_to_host()[0])


def integers(frames: Any, tolerance: int, step: int, phase: int, q: Any) -> tuple[int, int]:
    """The twin of :func:`tezip.gridkernels.integers`."""
    return _ranged(_integers, frames.size, frames, tolerance, step, phase, q)


def floats(frames: Any, step: float, phase: float, q: Any, invalid: Any) -> tuple[int, int]:
    """The twin of :func:`tezip.gridkernels.floats`."""
    low, high = _ranged(_floats, frames.size, frames, step, phase, q, invalid)
    return (low, high) if low <= high else (0, 0)


def integer_codes(
    frames: Any,
    q: Any,
    offset: int,
    step: int,
    phase: int,
    bounds: tuple[int, int],
    tolerance: int,
    codes: Any,
    reconstruction: Any,
    outliers: Any,
) -> int:
    """The twin of :func:`tezip.gridkernels.integer_codes`."""
    low, high = bounds
    return _counted(
        _integer_codes,
        frames.size,
        frames,
        q,
        offset,
        step,
        phase,
        low,
        high,
        tolerance,
        codes,
        reconstruction,
        outliers,
    )


def float_codes(
    frames: Any,
    q: Any,
    invalid: Any,
    offset: int,
    step: float,
    phase: float,
    tolerance: float,
    codes: Any,
    reconstruction: Any,
    outliers: Any,
) -> int:
    """The twin of :func:`tezip.gridkernels.float_codes`."""
    return _counted(
        _float_codes,
        frames.size,
        frames,
        q,
        invalid,
        offset,
        step,
        phase,
        tolerance,
        codes,
        reconstruction,
        outliers,
    )
