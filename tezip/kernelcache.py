"""numba's on-disk cache of tezip's kernels, kept fresh across modules.

numba stamps a cached kernel with its own source file only. A kernel that inlines functions
or constants of another module keeps its old machine code when only that module changes (an
editable install after a pull, say): an encoder would then write streams that the current
decoder does not read, which the frame checksums catch only at unpack. So tezip puts a
locator before numba's own: for a function of ``tezip`` or of a ``tezip_*`` package it is
the locator numba would have chosen, and its stamp adds a digest of every source the kernel
can reach: its module and, transitively, each module of those packages that it imports.
Kernels then compile again whenever one of those sources changes, and only then.

Importing this module installs the locator; ``tezip`` and its kernel-bearing plugin packages
import it before any kernel is defined.
"""

from __future__ import annotations

import ast
import hashlib
import importlib.util
import os
import sys
from abc import ABC
from collections.abc import Callable, Iterator
from functools import cache
from typing import Any

try:
    from numba.core.caching import CacheImpl, _CacheLocator
except ImportError:  # a numba without these internals: its own stamps only (a test fails)
    CacheImpl, _CacheLocator = None, ABC  # type: ignore[assignment,misc]


def is_tracked(module: str) -> bool:
    """True for a module of ``tezip`` or of a ``tezip_*`` package (the default plugins')."""
    top = module.partition(".")[0]
    return top == "tezip" or top.startswith("tezip_")


class FreshKernelLocator(_CacheLocator):
    """The locator numba would choose for a tracked function, its stamp extended by the
    digest of the sources the function can reach."""

    def __init__(self, inner: _CacheLocator, module: str) -> None:
        self._inner, self._module = inner, module

    def ensure_cache_path(self) -> None:
        self._inner.ensure_cache_path()

    def get_cache_path(self) -> str:
        return self._inner.get_cache_path()

    def get_disambiguator(self) -> str:
        return self._inner.get_disambiguator()

    def get_source_stamp(self) -> tuple[Any, str]:
        return self._inner.get_source_stamp(), sources_digest(self._module)

    @classmethod
    def from_function(cls, py_func: Callable[..., Any], py_file: str) -> _CacheLocator | None:
        module = getattr(py_func, "__module__", None) or ""
        if not is_tracked(module):
            return None
        for locator in CacheImpl._locator_classes:
            if locator is not cls:
                inner = locator.from_function(py_func, py_file)
                if inner is not None:
                    return cls(inner, module)
        return None


def keep_kernel_caches_fresh() -> None:
    """Put :class:`FreshKernelLocator` first among numba's locators (idempotent); it applies
    to the kernels defined after this call."""
    locators = getattr(CacheImpl, "_locator_classes", None)
    if isinstance(locators, list) and FreshKernelLocator not in locators:
        locators.insert(0, FreshKernelLocator)


@cache
def sources_digest(module: str) -> str:
    """SHA-256 over the sources of ``module`` and of the tracked modules it imports,
    transitively (once per process: numba asks when each kernel is defined)."""
    digest = hashlib.sha256()
    for name, path in sorted(_reachable(module).items()):
        digest.update(name.encode() + b"\0" + hashlib.sha256(_read(path)).digest())
    return digest.hexdigest()


def _reachable(module: str) -> dict[str, str]:
    """Source file of ``module`` and of every tracked module it reaches through imports."""
    found: dict[str, str] = {}
    pending = [module]
    while pending:
        name = pending.pop()
        path = None if name in found else _source_file(name)
        if path is not None:
            found[name] = path
            pending.extend(other for other in _imports(path, name) if is_tracked(other))
    return found


@cache
def _imports(path: str, module: str) -> frozenset[str]:
    """Modules that the source at ``path`` imports at module level (where a kernel's names
    come from), relative imports resolved. ``from package import name`` imports the
    submodule ``package.name`` where there is one, else an attribute of ``package``."""
    package = module if path.endswith("__init__.py") else module.rpartition(".")[0]
    names: set[str] = set()
    for node in _module_level(ast.parse(_read(path), path)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = "." * node.level + (node.module or "")
            try:
                source = importlib.util.resolve_name(base, package) if node.level else base
            except ImportError:
                continue
            for alias in node.names:
                submodule = f"{source}.{alias.name}"
                names.add(submodule if _source_file(submodule) else source)
    return frozenset(names)


def _module_level(node: ast.AST) -> Iterator[ast.AST]:
    """``node``'s descendants outside function and class bodies."""
    for child in ast.iter_child_nodes(node):
        if not isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            yield child
            yield from _module_level(child)


def _source_file(module: str) -> str | None:
    """The ``.py`` file of ``module``, found without running anything: the loaded module's,
    else the matching file under its top-level package; ``None`` for a name that is no
    module (an attribute) or has no source file."""
    loaded = sys.modules.get(module)
    if loaded is not None:
        path = getattr(loaded, "__file__", None)
        return path if path is not None and path.endswith(".py") else None
    parent = sys.modules.get(module.rpartition(".")[0])
    if parent is not None and not hasattr(parent, "__path__"):
        return None  # a name inside a module, not a submodule
    top, _, rest = module.partition(".")
    try:
        spec = importlib.util.find_spec(top)  # a top-level name: locates, runs nothing
    except (ImportError, ValueError):
        return None
    if spec is None:
        return None
    if not rest:
        return spec.origin if spec.origin and spec.origin.endswith(".py") else None
    parts = rest.split(".")
    for directory in spec.submodule_search_locations or ():
        for candidate in (
            f"{os.path.join(directory, *parts)}.py",
            os.path.join(directory, *parts, "__init__.py"),
        ):
            if os.path.isfile(candidate):
                return candidate
    return None


def _read(path: str) -> bytes:
    with open(path, "rb") as file:
        return file.read()


keep_kernel_caches_fresh()
