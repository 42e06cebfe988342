"""Error-bound options: what the user asked for, validated and resolved to numbers."""

from __future__ import annotations

import math
import numbers
import warnings
from dataclasses import dataclass
from typing import Any

from tezip.errors import BoundError, TezipWarning
from tezip.io.source import ValueStats

MODES = ("lossless", "abs", "rel", "abs+rel", "pwrel")
#: smallest pwrel accepted: the reconstruction table has about 0.35/R entries.
MIN_PWREL = 1e-5


def _nonnegative(name: str, value: float | None) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise BoundError(f"must be a number, got {value!r}", name)
    number = float(value)
    if not math.isfinite(number) or number < 0:
        raise BoundError(f"must be a finite number >= 0, got {value!r}", name)
    return number


@dataclass(frozen=True)
class ErrorBound:
    """A requested error bound; ``resolve`` turns it into an absolute tolerance."""

    mode: str
    abs: float | None = None
    rel: float | None = None
    pwrel: float | None = None

    @classmethod
    def from_options(
        cls,
        *,
        lossless: bool = False,
        abs: float | None = None,
        rel: float | None = None,
        pwrel: float | None = None,
    ) -> ErrorBound:
        """Validate CLI/API options: ``abs`` and ``rel`` combine (both hold); others exclude."""
        abs_, rel_ = _nonnegative("abs", abs), _nonnegative("rel", rel)
        pw = _nonnegative("pwrel", pwrel)
        given = [name for name, v in (("abs", abs_), ("rel", rel_), ("pwrel", pw)) if v is not None]
        if lossless and given:
            raise BoundError("cannot be combined", "lossless", given[0])
        if pw is not None and len(given) > 1:
            raise BoundError("cannot be combined", *given)
        if pw is not None:
            if not MIN_PWREL <= pw < 1:
                raise BoundError(f"must be in [{MIN_PWREL:g}, 1), got {pw:g}", "pwrel")
            return cls("pwrel", pwrel=pw)
        if abs_ is not None and rel_ is not None:
            return cls("abs+rel", abs=abs_, rel=rel_)
        if abs_ is not None:
            return cls("abs", abs=abs_) if abs_ > 0 else cls("lossless")
        if rel_ is not None:
            return cls("rel", rel=rel_) if rel_ > 0 else cls("lossless")
        return cls("lossless")

    @property
    def needs_range(self) -> bool:
        """True for the bounds resolved against the input's values (abs, rel, both):
        packing scans the input first (:meth:`fitted`)."""
        return self.mode in ("abs", "rel", "abs+rel")

    def resolve(self, value_range: tuple[float, float] | None) -> float | None:
        """Absolute tolerance E for ``abs``/``rel`` modes (``None`` for lossless and pwrel).

        ``rel R`` means ``E = R * (max - min)`` over the whole input (SZ3's convention);
        with ``abs`` too, the smaller tolerance wins so both hold.
        """
        if self.mode in ("lossless", "pwrel"):
            return None
        candidates = [] if self.abs is None else [self.abs]
        if self.rel is not None:
            low, high = value_range if value_range is not None else (0.0, 0.0)
            candidates.append(self.rel * (high - low))
        return min(candidates)

    def fitted(self, stats: ValueStats | None) -> ErrorBound:
        """The bound to quantize with, judged against the input's values.

        A tolerance below half the gap between neighbouring values of the data's dtype
        (:attr:`ValueStats.resolution`) cannot save anything: a grid of step ``2E`` would keep
        every two values apart and reproduce the data exactly, with more and wider codes
        (values beyond ``2**62`` steps even become outliers). Exact data meets any bound, so
        such a bound is coded losslessly. A tolerance beyond the data's range is kept, with a
        :class:`TezipWarning`: every value may decode to one constant.
        """
        tolerance = self.resolve(None if stats is None else (stats.low, stats.high))
        if stats is None or not tolerance:
            return self
        if 2 * tolerance < stats.resolution:
            return ErrorBound("lossless")
        if tolerance > stats.high - stats.low > 0:
            warnings.warn(
                f"the error bound {tolerance:g} exceeds the range of the data "
                f"({stats.low:g} to {stats.high:g}): the frames may decode to almost nothing",
                TezipWarning,
                stacklevel=4,  # the caller of tezip.pack
            )
        return self

    def record(self, resolved: float | None) -> dict[str, Any]:
        """The header's ``bound`` record."""
        return {
            "mode": self.mode,
            "abs": self.abs,
            "rel": self.rel,
            "pwrel": self.pwrel,
            "resolved": resolved,
        }
