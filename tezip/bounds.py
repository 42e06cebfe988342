"""Error-bound options: what the user asked for, validated and resolved to numbers."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from tezip.errors import BoundError

MODES = ("lossless", "abs", "rel", "abs+rel", "pwrel")


def _positive(name: str, value: float | None) -> float | None:
    if value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise BoundError(f"--{name} must be a number, got {value!r}") from None
    if not math.isfinite(number) or number < 0:
        raise BoundError(f"--{name} must be a finite number >= 0, got {value!r}")
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
        abs_, rel_, pw = _positive("abs", abs), _positive("rel", rel), _positive("pwrel", pwrel)
        given = [name for name, v in (("abs", abs_), ("rel", rel_), ("pwrel", pw)) if v is not None]
        if lossless and given:
            raise BoundError(f"--lossless cannot be combined with --{given[0]}")
        if pw is not None and (abs_ is not None or rel_ is not None):
            raise BoundError("--pwrel cannot be combined with --abs or --rel")
        if pw is not None:
            if not 0 < pw < 1:
                raise BoundError(f"--pwrel must be in (0, 1), got {pw}")
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
        """True when resolving needs the value range of the whole input."""
        return self.rel is not None

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

    def record(self, resolved: float | None) -> dict[str, Any]:
        """The header's ``bound`` record."""
        return {
            "mode": self.mode,
            "abs": self.abs,
            "rel": self.rel,
            "pwrel": self.pwrel,
            "resolved": resolved,
        }
