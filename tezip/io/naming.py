"""Natural ordering of frame file names: ``f2`` sorts before ``f10``."""

from __future__ import annotations

import re

_DIGITS = re.compile(r"([0-9]+)")


def natural_key(name: str) -> tuple[tuple[str | int, ...], str]:
    """Sort key comparing runs of ASCII digits as numbers and text case-insensitively.

    ``re.split`` with a capturing group alternates text and digit runs, so text always meets
    text and numbers meet numbers. The name itself breaks ties (``f01`` vs ``f1``, ``A`` vs
    ``a``), which keeps the order total and deterministic.
    """
    parts = _DIGITS.split(name)
    return tuple(int(p) if i % 2 else p.casefold() for i, p in enumerate(parts)), name
