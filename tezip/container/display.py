"""Archive content shown to people: control characters escaped, length bounded.

A header is untrusted input. Its strings may hold terminal control sequences (clear the
screen, set the window title, move the cursor) and its values may be huge; whatever tezip
prints or puts in a message from an archive goes through :func:`printable` or :func:`shown`.
"""

from __future__ import annotations

from typing import Any

#: characters of one value shown, at most
LIMIT = 120


def printable(text: str) -> str:
    """``text`` with every non-printable character (control, format, separator other than
    space) escaped as Python writes it, e.g. ``\\x1b``, ``\\u202e``."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def shown(value: Any, limit: int = LIMIT) -> str:
    """A msgpack value as one printable line of at most about ``limit`` characters: strings
    as they are, byte strings in hex, arrays and maps in brackets."""
    text = _render(value, limit)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _render(value: Any, limit: int) -> str:
    # every container stops once its text exceeds ``limit``: work stays bounded by the
    # nesting depth times ``limit``, whatever the size of the value
    if isinstance(value, dict):
        return _joined(
            (f"{_render(k, limit)}: {_render(v, limit)}" for k, v in value.items()), "{}", limit
        )
    if isinstance(value, list | tuple):
        return _joined((_render(v, limit) for v in value), "[]", limit)
    if isinstance(value, bytes):
        return value[: limit // 2 + 1].hex()
    return printable(str(value)[: limit + 1])


def _joined(items: Any, brackets: str, limit: int) -> str:
    parts, size = [], 0
    for item in items:
        parts.append(item)
        size += len(item) + 2
        if size > limit:
            break
    return brackets[0] + ", ".join(parts) + brackets[1]
