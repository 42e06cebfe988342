"""A plugin's options checked against the parameters its constructor declares.

A predictor or stage declares its options as keyword parameters of ``__init__``; their type
annotations ``bool``, ``int``, ``float`` and ``str`` (also in unions with ``None``) and
``Literal[...]`` are enforced, so ``shuffle="maybe"`` or ``level=1.5`` never reach a plugin.
Booleans come only from ``true``/``false`` and numbers only from numbers. A constructor taking
``**kwargs`` accepts any option; other annotations are left to the plugin to check.
"""

from __future__ import annotations

import functools
import inspect
import json
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

_NONE = type(None)
#: what each checked type is called in messages
_TYPE_WORDS = {
    bool: "true or false",
    int: "an integer",
    float: "a number",
    str: "a string",
    _NONE: "null",
}


@dataclass(frozen=True)
class Parameter:
    """One declared option: the values it accepts (``None``: any) and its default."""

    name: str
    accepts: tuple[Any, ...] | None
    literal: bool
    default: Any

    def admits(self, value: Any) -> bool:
        """True when ``value`` has a type (or, for ``Literal``, a value) this option accepts."""
        if self.accepts is None:
            return True
        if self.literal:
            return any(type(value) is type(v) and value == v for v in self.accepts)
        if isinstance(value, bool):  # never taken for a number
            return bool in self.accepts
        numbers = (int,) if float in self.accepts else ()  # an integer is a number too
        return isinstance(value, tuple(t for t in self.accepts if t is not bool) + numbers)

    @property
    def required(self) -> bool:
        return self.default is inspect.Parameter.empty

    def describe(self) -> str:
        """``name (what it takes, default D)`` for messages."""
        default = "required" if self.required else f"default {_literal(self.default)}"
        return f"{self.name} ({self.wanted()}, {default})"

    def wanted(self) -> str:
        """What the option takes, in words."""
        if self.accepts is None:
            return "any value"
        if self.literal:
            return "one of " + ", ".join(_literal(v) for v in self.accepts)
        return " or ".join(_TYPE_WORDS[t] for t in self.accepts)


@functools.cache  # a class's signature does not change; reading it took 0.1 ms a plugin
def declared(cls: type) -> Mapping[str, Parameter] | None:
    """The options ``cls(**options)`` takes by name; ``None`` when it takes any (``**kwargs``)."""
    signature = inspect.signature(cls)
    try:
        hints = typing.get_type_hints(cls.__init__)
    except Exception:  # annotations that do not resolve here: check names only
        hints = {}
    found: dict[str, Parameter] = {}
    for parameter in signature.parameters.values():
        if parameter.kind is parameter.VAR_KEYWORD:
            return None
        if parameter.kind in (parameter.POSITIONAL_OR_KEYWORD, parameter.KEYWORD_ONLY):
            accepts, literal = _accepted(hints.get(parameter.name))
            found[parameter.name] = Parameter(parameter.name, accepts, literal, parameter.default)
    return types.MappingProxyType(found)


def _accepted(annotation: Any) -> tuple[tuple[Any, ...] | None, bool]:
    """The types (or literal values, flagged) an annotation admits; ``None``: not checked."""
    if any(annotation is t for t in _TYPE_WORDS):
        return (annotation,), False
    origin = typing.get_origin(annotation)
    if origin is typing.Literal:
        return typing.get_args(annotation), True
    if origin in (typing.Union, types.UnionType):
        members = [_accepted(a) for a in typing.get_args(annotation)]
        if all(accepts is not None and not literal for accepts, literal in members):
            return tuple(t for accepts, _ in members for t in accepts or ()), False
    return None, False


def problem(cls: type, identifier: str, options: dict[str, Any]) -> str | None:
    """Why ``cls(**options)`` would be refused, naming what is allowed; ``None`` if it is not."""
    parameters = declared(cls)
    if parameters is None:
        return None
    for key, value in options.items():
        parameter = parameters.get(key)
        if parameter is None:
            return f"{identifier} has no option {key!r}; options: {allowed(cls)}"
        if not parameter.admits(value):
            return f"{identifier} option {key} must be {parameter.wanted()}, got {value!r}"
    missing = [p.name for p in parameters.values() if p.required and p.name not in options]
    if missing:
        return f"{identifier} needs option {missing[0]!r}; options: {allowed(cls)}"
    return None


def takes(cls: type, key: str) -> bool:
    """True when ``cls`` declares the option ``key`` (or takes any)."""
    parameters = declared(cls)
    return parameters is None or key in parameters


def allowed(cls: type) -> str:
    """The options ``cls`` takes, in words: ``none``, ``any`` or each with type and default."""
    parameters = declared(cls)
    if parameters is None:
        return "any"
    return ", ".join(p.describe() for p in parameters.values()) or "none"


def _literal(value: Any) -> str:
    """A value as it is written on the command line (JSON where it can be)."""
    try:
        return json.dumps(value)
    except (TypeError, ValueError):
        return repr(value)
