"""Numbers for the report: formatting, geometric means and sizes taken from a results document."""

from __future__ import annotations

import math
from collections.abc import Iterable


def num(v: float | None, digits: int = 3) -> str:
    """``digits`` significant figures, no exponent below 1e6; '-' for None."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    if v == 0 or not math.isfinite(v):
        return f"{v:g}"
    if 1e-3 <= abs(v) < 1e6:
        return f"{v:.{max(0, digits - 1 - math.floor(math.log10(abs(v))))}f}"
    return f"{v:.{digits - 1}e}"


def geomean(values: Iterable[float]) -> float | None:
    vals = [v for v in values if v and v > 0]
    return math.exp(sum(map(math.log, vals)) / len(vals)) if vals else None


def passed(r: dict | None) -> bool:
    """Whether a result row exists and passed its check."""
    return r is not None and r["status"] == "ok"


def over(a: dict | None, b: dict | None) -> float | None:
    """``a``'s ratio over ``b``'s, when both passed their checks."""
    return a["ratio"] / b["ratio"] if passed(a) and passed(b) else None


def data_mb(doc: dict, row: dict) -> float:
    """Size in MB of the data a frame-scaling row ran on."""
    return next(
        d["nbytes"] / 1e6
        for d in doc["scaling_datasets"]
        if d["name"] == row["dataset"] and d["shape"][0] == row["frames"]
    )


def peak_data(doc: dict, frames: int) -> float:
    """Size in MB of the frame-scaling data with ``frames`` frames."""
    return next(d["nbytes"] / 1e6 for d in doc["scaling_datasets"] if d["shape"][0] == frames)
