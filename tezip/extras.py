"""Optional dependencies, imported when first needed: a missing one is a one-line
``DependencyError`` naming the extra that installs it."""

from __future__ import annotations

import importlib
from types import ModuleType

from tezip.errors import DependencyError


def require(module: str, extra: str, purpose: str) -> ModuleType:
    """``import module``, or ``DependencyError`` saying that ``purpose`` needs
    ``pip install 'tezip[extra]'``."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise DependencyError(
            f"{purpose} needs {module.partition('.')[0]}: pip install 'tezip[{extra}]'"
        ) from None
