"""Plugin discovery: the pluggy manager and the id-keyed registries of predictors and stages."""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from typing import Any, TypeVar

import pluggy

from tezip import hookspecs, parameters
from tezip.abc import ArrayToArrayStage, ArrayToBytesStage, Plugin, Predictor
from tezip.errors import DuplicateIdError, InputError, OptionError, PluginError, UnknownIdError
from tezip.io import FrameSource

P = TypeVar("P", bound=Plugin)


def plugin_manager(load_entry_points: bool = True) -> pluggy.PluginManager:
    """A manager with tezip's hookspecs and, by default, every installed ``tezip`` plugin."""
    manager = pluggy.PluginManager(hookspecs.PROJECT)
    manager.add_hookspecs(hookspecs)
    if load_entry_points:
        manager.load_setuptools_entrypoints(hookspecs.PROJECT)
    return manager


def _check_hooks(manager: pluggy.PluginManager) -> None:
    """Refuse a hook implementation that matches no tezip hook (a misspelt name)."""
    try:
        manager.check_pending()
    except pluggy.PluginValidationError as exc:
        known = ", ".join(sorted(name for name in dir(hookspecs) if name.startswith("tezip_")))
        raise PluginError(f"{exc}; tezip's hooks are {known}") from None


def _index(kind: str, classes: Iterable[type[P]]) -> dict[str, type[P]]:
    index: dict[str, type[P]] = {}
    for cls in classes:
        identifier = getattr(cls, "id", None)
        if not isinstance(identifier, str) or not identifier:
            raise PluginError(f"{kind} class {cls.__module__}.{cls.__qualname__} has no string id")
        if identifier in index:
            first, second = (f"{c.__module__}.{c.__qualname__}" for c in (index[identifier], cls))
            raise DuplicateIdError(
                f"{kind} id {identifier!r} is registered twice: by {first} and by {second}"
            )
        index[identifier] = cls
    return index


class Registry:
    """Predictors and stages by id, plus the input-format hook, from one plugin manager."""

    def __init__(self, manager: pluggy.PluginManager) -> None:
        _check_hooks(manager)
        self.manager = manager
        hook = manager.hook
        self.predictors = _index(
            "predictor", (c for group in hook.tezip_register_predictors() for c in group)
        )
        self.stages: dict[str, type[ArrayToArrayStage] | type[ArrayToBytesStage]] = _index(
            "stage", (c for group in hook.tezip_register_stages() for c in group)
        )

    def predictor_class(self, identifier: str) -> type[Predictor]:
        """The predictor class registered under ``identifier``."""
        return _lookup("predictor", self.predictors, identifier)

    def predictor(self, identifier: str, configuration: dict[str, Any] | None = None) -> Predictor:
        """Instantiate a predictor by id; invalid options raise ``OptionError``."""
        return _build("predictor", self.predictors, identifier, configuration, OptionError)

    def stage(
        self, identifier: str, configuration: dict[str, Any] | None = None
    ) -> ArrayToArrayStage | ArrayToBytesStage:
        """Instantiate a stage by id; invalid options raise ``OptionError``."""
        return _build("stage", self.stages, identifier, configuration, OptionError)

    def from_record(self, kind: str, record: dict[str, Any]) -> Any:
        """Rebuild a predictor or stage from its header record, checking the version.

        The instance's ``version`` is the record's, so it decodes what that version wrote.
        """
        table: dict[str, Any] = self.predictors if kind == "predictor" else self.stages
        identifier, version = record["id"], record["version"]
        cls = _lookup(kind, table, identifier)
        if version > cls.version:
            raise PluginError(
                f"{kind} {identifier!r} version {version} is newer than the installed "
                f"version {cls.version}; upgrade the plugin that provides it"
            )
        instance = _build(kind, table, identifier, record["configuration"], InputError)
        instance.version = version
        return instance

    def open_input(self, path: Path) -> FrameSource:
        """Ask the plugins for a frame source reading ``path``."""
        source = self.manager.hook.tezip_open_input(path=path)
        if source is not None:
            return source
        if not path.exists():
            raise InputError(f"{path}: no such file or folder")
        raise InputError(
            f"{path}: not a .npy file, an image or a folder of images, a TIFF stack, "
            "an HDF5 file or a Zarr store"
        )

    def __reduce__(self) -> tuple[Any, tuple[()]]:
        """The registry of installed plugins pickles as a reference to the receiving
        process's own (Dask ships pack settings to workers); a hand-made one does not."""
        if self is get_registry():
            return get_registry, ()
        raise TypeError("only the registry of installed plugins can be pickled")

    def distributions(self) -> dict[str, str]:
        """Installed plugin module -> 'distribution version' (for ``tezip plugins``)."""
        found = {}
        for plugin, dist in self.manager.list_plugin_distinfo():
            found[getattr(plugin, "__name__", repr(plugin))] = f"{dist.project_name} {dist.version}"
        return found


def _lookup(kind: str, table: dict[str, type[P]], identifier: str) -> type[P]:
    try:
        return table[identifier]
    except KeyError:
        installed = ", ".join(sorted(table)) or "none"
        raise UnknownIdError(f"unknown {kind} id {identifier!r}; installed: {installed}") from None


def _build(
    kind: str,
    table: dict[str, type[P]],
    identifier: str,
    configuration: dict[str, Any] | None,
    invalid: type[InputError],
) -> P:
    """``cls(**configuration)``, refused with ``invalid`` (naming what is allowed) when the
    class's declared parameters do not admit the configuration."""
    cls = _lookup(kind, table, identifier)
    options = configuration or {}
    if reason := parameters.problem(cls, identifier, options):
        raise invalid(reason)
    try:
        return cls(**options)
    except TypeError as exc:
        raise invalid(f"invalid configuration for {kind} {identifier!r}: {exc}") from None
    except InputError as exc:
        if isinstance(exc, invalid):
            raise
        raise invalid(str(exc)) from None


@lru_cache(maxsize=1)
def get_registry() -> Registry:
    """The registry of every installed plugin (built once per process)."""
    return Registry(plugin_manager())


def version_of(distribution: str) -> str:
    """Installed version of a distribution, or 'unknown'."""
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "unknown"
