"""Peak resident memory of a block of code, C allocations included (Linux).

Before the block, freed heap memory is handed back to the kernel (glibc ``malloc_trim``) and the
kernel's high-water mark VmHWM is reset to the current RSS (``/proc/self/clear_refs``).  The peak
is VmHWM after the block minus VmRSS before it: everything the block touched and held at its worst
moment, from Python, NumPy or a codec's C library alike, including its output.
"""

from __future__ import annotations

import ctypes
from pathlib import Path

STATUS = Path("/proc/self/status")
CLEAR_REFS = Path("/proc/self/clear_refs")
METHOD = (
    "peak RSS growth during the call: VmHWM after minus VmRSS before, with VmHWM reset "
    "through /proc/self/clear_refs and malloc_trim(0) first, in a fresh process per run"
)


def _status_kb(field: str) -> int:
    for line in STATUS.read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise OSError(f"{field} missing from {STATUS}")


def _trim() -> None:
    """Give freed heap pages back to the kernel, so that reusing them shows in the peak."""
    trim = getattr(ctypes.CDLL(None), "malloc_trim", None)
    if trim is not None:
        trim(0)


class PeakMeter:
    """``with meter: ...`` then ``meter.peak_mb`` (MB = 1e6 bytes), None where unsupported."""

    peak_mb: float | None = None

    def __enter__(self) -> PeakMeter:
        _trim()
        try:
            CLEAR_REFS.write_text("5")
            self._base = _status_kb("VmRSS")
        except OSError:
            self._base = None
        return self

    def __exit__(self, *exc: object) -> None:
        if self._base is not None:
            self.peak_mb = (_status_kb("VmHWM") - self._base) * 1024 / 1e6
