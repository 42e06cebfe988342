"""Importing torch lazily, with the settings that make inference reproducible."""

from __future__ import annotations

from types import ModuleType

from tezip.device import resolve_device
from tezip.errors import DependencyError
from tezip.parallel import available


def require_torch() -> ModuleType:
    """Import torch with deterministic settings, or raise a one-line ``DependencyError``."""
    try:
        import torch
    except ImportError:
        raise DependencyError("tezip.prednet needs PyTorch: pip install 'tezip[torch]'") from None
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cudnn.benchmark = False
    torch.use_deterministic_algorithms(True, warn_only=True)
    return torch


def torch_device(name: str) -> str:
    """``cpu`` or ``cuda`` for torch (``auto``: CUDA when torch sees a GPU)."""
    require_torch()
    return resolve_device(name, "torch")


def describe_device(device: str) -> str:
    """A torch device for people: ``cpu``, or ``cuda (<GPU name>)``."""
    if device.startswith("cuda"):
        return f"cuda ({require_torch().cuda.get_device_name(device)})"
    return device


def use_threads(torch: ModuleType, threads: int | None = None) -> None:
    """Give PyTorch's CPU pool ``threads``, by default the calling code's thread budget
    (:mod:`tezip.parallel`: one thread inside a pool of GOPs, so pools do not nest)."""
    wanted = threads or available()
    if torch.get_num_threads() != wanted:
        torch.set_num_threads(wanted)
