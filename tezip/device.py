"""Which compute device a run uses: ``auto``, ``cpu`` or ``cuda``."""

from __future__ import annotations

from functools import lru_cache

from tezip.errors import DependencyError, InputError

DEVICES = ("auto", "cpu", "cuda")


@lru_cache(maxsize=1)
def cuda_available() -> bool:
    """True when CuPy imports and sees at least one CUDA device."""
    try:
        import cupy

        return bool(cupy.cuda.runtime.getDeviceCount())
    except Exception:  # ImportError, or CUDA runtime errors on a machine without a GPU
        return False


def resolve_device(name: str) -> str:
    """``cpu`` or ``cuda``; ``auto`` picks CUDA when it is usable."""
    if name not in DEVICES:
        raise InputError(f"--device must be one of {', '.join(DEVICES)}, got {name!r}")
    if name == "auto":
        return "cuda" if cuda_available() else "cpu"
    if name == "cuda" and not cuda_available():
        raise DependencyError(
            "--device cuda needs CuPy and a CUDA GPU: pip install 'tezip[gpu]' "
            "on a machine with an NVIDIA driver, or use --device cpu"
        )
    return name
