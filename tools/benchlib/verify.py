"""Strict checks of a decoded stack against the original, in float64 on the output dtype."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .data import value_range

CHUNK = 1 << 22  # elements compared at a time (three float64 buffers of 32 MB)


@dataclass(frozen=True)
class Check:
    """``status``: ok, MISS (bound exceeded), MISMATCH (lossless not bit-exact), SHAPE, DTYPE."""

    status: str
    max_err: float | None = None
    n_bad: int = 0  # elements beyond the bound, or differing bits when lossless
    psnr: float | None = None  # dB over the original's value range; None when exact


def check(x: np.ndarray, y: np.ndarray, bound: float | None) -> Check:
    """Compare decoded ``y`` with original ``x`` against ``bound`` (None: bit-exact)."""
    if y.shape != x.shape:
        return Check("SHAPE")
    step = max(1, CHUNK // max(1, x[:1].size))
    max_err, n_bad, sq = 0.0, 0, 0.0
    for i in range(0, len(x), step):
        a, b = x[i : i + step].astype(np.float64), y[i : i + step].astype(np.float64)
        with np.errstate(invalid="ignore"):  # inf - inf: handled below
            d = np.abs(b - a)
        d[(a == b) | (np.isnan(a) & np.isnan(b))] = 0.0
        d[np.isnan(d)] = np.inf
        max_err = max(max_err, float(d.max(initial=0.0)))
        sq += float(np.square(d).sum())
        if bound is not None:
            n_bad += int((d > bound).sum())
        elif y.dtype == x.dtype:
            bits = np.dtype(f"u{x.dtype.itemsize}")
            n_bad += int((x[i : i + step].view(bits) != y[i : i + step].view(bits)).sum())
    lo, hi = value_range(x)
    mse = sq / max(1, x.size)
    psnr = (
        20 * math.log10(hi - lo) - 10 * math.log10(mse) if 0 < mse < math.inf and hi > lo else None
    )
    if y.dtype != x.dtype:
        status = "DTYPE"
    else:
        status = "MISS" if bound is not None else "MISMATCH"
        status = "ok" if n_bad == 0 else status
    return Check(status, max_err, n_bad, psnr)
