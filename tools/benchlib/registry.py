"""All contenders, their availability, and the --only / --skip selection."""

from __future__ import annotations

from collections.abc import Iterable
from fnmatch import fnmatch

from .baseline import baseline
from .codec import Compressor
from .peers import peers
from .tezip_adapter import tezip_compressors


def compressors(device: str = "cpu") -> dict[str, Compressor]:
    """tezip entries, the baseline, then the peers, by name."""
    return {c.name: c for c in [*tezip_compressors(device), baseline(), *peers()]}


def unavailable(comp: Compressor) -> str | None:
    """Why ``comp`` cannot run here (not installed, broken import), or None."""
    try:
        comp.probe()
    except Exception as exc:  # any import failure means "skipped", never a crash
        return f"{type(exc).__name__}: {exc}".splitlines()[0]
    return None


def select(
    axes: dict[str, list[str]], only: Iterable[str], skip: Iterable[str]
) -> dict[str, list[str]]:
    """Filter each axis (e.g. datasets, compressors) by fnmatch patterns.

    A pattern applies to the axes it matches; an axis with ``only`` patterns keeps only their
    matches, and anything matching a ``skip`` pattern goes.  A pattern matching nothing is an error.
    """
    only, skip = list(only), list(skip)
    for p in only + skip:
        if not any(fnmatch(n, p) for names in axes.values() for n in names):
            raise ValueError(f"pattern {p!r} matches no {' or '.join(axes)} name")
    out = {}
    for axis, names in axes.items():
        mine = [p for p in only if any(fnmatch(n, p) for n in names)]
        out[axis] = [
            n
            for n in names
            if (not mine or any(fnmatch(n, p) for p in mine))
            and not any(fnmatch(n, p) for p in skip)
        ]
    return out
