"""Per-GOP normalisation: values -> network units, fixed by the GOP's keyframe.

A GOP decodes on its own, so its scale comes from its first (reconstructed) frame: minimum
0, maximum 1, clipped to ``CLIP`` beyond. Training normalises each clip by its first frame
the same way, so one model fits data of any dtype and range. ``bits`` is the fixed-point
resolution of predictions: a few bits finer than the code grid, at most ``MAX_BITS``.
Values come back from the grid in ``snapping``, in the same pass as the rounding.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numba import njit

from tezip.abc import CodeSpace

SCHEME = "keyframe-minmax"
CLIP = (-2.0, 3.0)
EXTRA_BITS = 2
MIN_BITS, MAX_BITS = 4, 16


@dataclass(frozen=True)
class Normaliser:
    """Affine map ``(values - low) / scale`` and the prediction resolution ``2**-bits``."""

    low: float
    scale: float
    bits: int

    @classmethod
    def from_keyframe(cls, values: np.ndarray, space: CodeSpace | None = None) -> Normaliser:
        """Scale from the keyframe's finite values; ``bits`` from the code grid's step there."""
        finite = values[np.isfinite(values)]
        low = float(finite.min()) if finite.size else 0.0
        high = float(finite.max()) if finite.size else 1.0
        scale = high - low
        if not (math.isfinite(scale) and scale > 0):
            scale = 1.0
        bits = MAX_BITS if space is None else _bits(space, low + scale / 2, scale)
        return cls(low, scale, bits)

    def forward(self, values: np.ndarray) -> np.ndarray:
        """Normalised float64 values, in ``CLIP``; NaN becomes 0."""
        values = np.ascontiguousarray(values, dtype=np.float64)
        out = np.empty(values.shape, np.float64)
        _forward(values.reshape(-1), self.low, self.scale, out.reshape(-1))
        return out


@njit(cache=True, nogil=True)
def _forward(values: np.ndarray, low: float, scale: float, out: np.ndarray) -> None:
    for i in range(values.size):
        x = (values[i] - low) / scale
        out[i] = 0.0 if np.isnan(x) else min(max(x, CLIP[0]), CLIP[1])


def _bits(space: CodeSpace, middle: float, scale: float) -> int:
    code = space.from_values(np.array([middle]))
    neighbour = code - 1 if int(code[0]) == space.max_code else code + 1
    step = abs(float(space.to_values(neighbour)[0] - space.to_values(code)[0]))
    if not (math.isfinite(step) and step > 0):
        return MAX_BITS
    return int(np.clip(math.ceil(math.log2(scale / step)) + EXTRA_BITS, MIN_BITS, MAX_BITS))
