"""Error-bound modes: lossless plus three absolute bounds chosen from the data type."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from .data import value_range

CLASSES = ("lossless", "tight", "medium", "loose")
INT_BOUNDS = (1, 2, 4)  # absolute, in data units
REL_BOUNDS = ("1e-4", "1e-3", "1e-2")  # times the value range (SZ3's convention)


@dataclass(frozen=True)
class Mode:
    """One error bound: ``bound`` is the absolute bound E (None means lossless)."""

    label: str  # "lossless", "abs 2" or "rel 1e-3"
    cls: str  # bound class, one of CLASSES, to compare integer and float datasets
    bound: int | float | None = None

    @property
    def lossless(self) -> bool:
        return self.bound is None

    def to_dict(self) -> dict:
        return asdict(self)


def modes_for(x: np.ndarray) -> list[Mode]:
    """Lossless, then abs 1/2/4 for integer data or rel 1e-4/1e-3/1e-2 for float data."""
    modes = [Mode("lossless", "lossless")]
    if np.issubdtype(x.dtype, np.integer):
        return modes + [
            Mode(f"abs {e}", c, e) for e, c in zip(INT_BOUNDS, CLASSES[1:], strict=False)
        ]
    lo, hi = value_range(x)
    if hi > lo:
        modes += [
            Mode(f"rel {r}", c, float(r) * (hi - lo))
            for r, c in zip(REL_BOUNDS, CLASSES[1:], strict=False)
        ]
    return modes
