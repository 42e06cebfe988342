"""Reversible changes of dtype that let a peer take data it does not accept natively.

A user of such a peer would do the same: widen uint8 to int32 for SZ3, shift 17-bit counts into
uint16 for an image codec, or hand integers to ZFP as floats and round the result.  The offset and
dtype are metadata of a few bytes that the benchmark does not count.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from .data import value_range


@dataclass(frozen=True)
class Repr:
    """Data of dtype ``orig`` carried as ``dtype``, minus ``offset``."""

    orig: np.dtype
    dtype: np.dtype
    offset: int = 0

    def fwd(self, a: np.ndarray) -> np.ndarray:
        """The data as the peer takes it."""
        if self.dtype == self.orig:
            return a
        if self.offset:
            return (a.astype(np.int64) - self.offset).astype(self.dtype)
        return a.astype(self.dtype)

    def inv(self, w: np.ndarray) -> np.ndarray:
        """The peer's output back in the original dtype: rounded and clipped to its range."""
        if self.dtype == self.orig:
            return w
        lo, hi = np.iinfo(self.orig).min - self.offset, np.iinfo(self.orig).max - self.offset
        if np.issubdtype(w.dtype, np.floating):
            w = np.rint(w)
        else:
            lo, hi = max(lo, np.iinfo(w.dtype).min), min(hi, np.iinfo(w.dtype).max)
        w = np.clip(w, lo, hi)
        if self.offset:
            return (w.astype(np.int64) + self.offset).astype(self.orig)
        return w.astype(self.orig)


def native(x: np.ndarray) -> Repr:
    return Repr(x.dtype, x.dtype)


def _is_int(x: np.ndarray) -> bool:
    return np.issubdtype(x.dtype, np.integer)


def widened(x: np.ndarray, targets: Iterable[type]) -> Repr | None:
    """``x`` as is if its dtype is a target, else integers in the first target that holds them."""
    dtypes = [np.dtype(t) for t in targets]
    if x.dtype in dtypes:
        return native(x)
    if not _is_int(x):
        return None
    lo, hi = value_range(x)
    fits = [d for d in dtypes if d.kind in "iu" and np.iinfo(d).min <= lo and hi <= np.iinfo(d).max]
    return Repr(x.dtype, fits[0]) if fits else None


def unsigned(x: np.ndarray, bits: int = 16) -> Repr | None:
    """Integers as uint8 or uint16, shifted by their minimum when needed; None if they span more."""
    if x.dtype in (np.uint8, np.uint16) and x.dtype.itemsize * 8 <= bits:
        return native(x)
    if not _is_int(x):
        return None
    lo, hi = (int(v) for v in value_range(x))
    if hi - lo >= 1 << bits:
        return None
    dtype = np.dtype(np.uint8 if hi - lo < 256 else np.uint16)
    offset = 0 if lo >= 0 and hi <= np.iinfo(dtype).max else lo
    return Repr(x.dtype, dtype, offset)


def floating(x: np.ndarray) -> Repr | None:
    """Floats as they are; integers as float32 (exact up to 2**24) or float64 (up to 2**53)."""
    if x.dtype in (np.float32, np.float64):
        return native(x)
    if not _is_int(x):
        return None
    lo, hi = value_range(x)
    top = max(abs(lo), abs(hi))
    if top > 2**53:
        return None
    return Repr(x.dtype, np.dtype(np.float32 if top <= 2**24 else np.float64))
