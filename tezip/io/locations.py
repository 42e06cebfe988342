"""Names of datasets inside container files: ``run.h5:/entry/data/data``, ``store.zarr:/a``."""

from __future__ import annotations

import os
from pathlib import Path


def split_location(
    path: str | os.PathLike[str], suffixes: tuple[str, ...]
) -> tuple[Path, str | None] | None:
    """``(file, inner path or None)`` when ``path`` names a file with one of ``suffixes``
    (lower case, with the dot), alone or followed by ``:`` and a path inside it; else
    ``None``."""
    text = os.fspath(path)
    lower = text.lower()
    for suffix in suffixes:
        if lower.endswith(suffix):
            return Path(text), None
        at = lower.find(suffix + ":")
        if at >= 0:
            end = at + len(suffix)
            return Path(text[:end]), text[end + 1 :] or None
    return None
