"""The ``.tezm`` model file: a JSON header and raw little-endian float32 tensors.

Layout (safetensors-like; nothing is ever unpickled)::

    magic  b"\\x89TEZM\\r\\n\\x1a\\n"   8 bytes (PNG-style: exposes text-mode transfer damage)
    length u32 little-endian        size of the JSON header, at most 16 MiB
    header UTF-8 JSON object        {"format": 1, "architecture", "normalisation",
                                     "training", "tensors": [{"name", "shape"}...]}
    data   float32 little-endian    tensors back to back in header order, nothing after

The fingerprint of a model is the sha256 of the whole file.
"""

from __future__ import annotations

import hashlib
import json
import math
import struct
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tezip.errors import ModelError

MAGIC = b"\x89TEZM\r\n\x1a\n"
FORMAT = 1
MAX_HEADER = 16 << 20
MAX_RANK = 8
_F32 = np.dtype("<f4")


def fingerprint(data: bytes) -> str:
    """sha256 of a model file's bytes, in hex."""
    return hashlib.sha256(data).hexdigest()


@dataclass
class ModelFile:
    """A decoded model file: configuration dictionaries and named float32 tensors."""

    architecture: dict[str, Any]
    normalisation: dict[str, Any]
    training: dict[str, Any] = field(default_factory=dict)
    tensors: dict[str, np.ndarray] = field(default_factory=dict)

    def to_bytes(self) -> bytes:
        """Serialise (deterministically: same content, same bytes, same fingerprint)."""
        header = {
            "format": FORMAT,
            "architecture": self.architecture,
            "normalisation": self.normalisation,
            "training": self.training,
            "tensors": [{"name": k, "shape": list(v.shape)} for k, v in self.tensors.items()],
        }
        text = json.dumps(header, sort_keys=True, separators=(",", ":")).encode()
        blobs = [np.ascontiguousarray(v, _F32).tobytes() for v in self.tensors.values()]
        return b"".join([MAGIC, struct.pack("<I", len(text)), text, *blobs])

    @classmethod
    def from_bytes(cls, data: bytes) -> ModelFile:
        """Parse and validate the layout; every failure is a ``ModelError`` saying what is
        wrong. (Whether the content describes a usable network is ``models``' concern.)"""
        if data[: len(MAGIC)] != MAGIC:
            raise ModelError("not a tezip model file (.tezm): bad signature")
        if len(data) < len(MAGIC) + 4:
            raise ModelError("model file truncated before its header length")
        (size,) = struct.unpack_from("<I", data, len(MAGIC))
        start = len(MAGIC) + 4
        if size > MAX_HEADER or start + size > len(data):
            raise ModelError(f"model header length {size} is oversized or past the end")
        header = _json_object(data[start : start + size])
        if header.get("format") != FORMAT:
            raise ModelError("model file format is not 1 (a newer tezip wrote it, or damage)")
        sections = [header.get(key) for key in ("architecture", "normalisation", "training")]
        entries = header.get("tensors")
        if not all(isinstance(section, dict) for section in sections):
            raise ModelError(
                "malformed model header: architecture, normalisation and training must be objects"
            )
        if not isinstance(entries, list):
            raise ModelError("malformed model header: tensors must be a list")
        tensors, offset = {}, start + size
        for entry in entries:
            name, shape = _tensor_entry(entry)
            if name in tensors:
                raise ModelError(f"model tensor {name!r:.80} is listed twice")
            count = math.prod(shape)
            if offset + 4 * count > len(data):
                raise ModelError(f"model tensor {name!r:.80} runs past the end")
            tensors[name] = (
                np.frombuffer(data, _F32, count, offset).reshape(shape).astype(np.float32)
            )
            offset += 4 * count
        if offset != len(data):
            raise ModelError(f"model file has {len(data) - offset} trailing bytes")
        return cls(*sections, tensors)


def _json_object(text: bytes) -> dict[str, Any]:
    """The header's JSON object; nesting too deep for the parser is a ``ModelError`` too."""
    try:
        header = json.loads(text.decode())
    except (UnicodeDecodeError, ValueError) as exc:
        raise ModelError(f"malformed model header: {exc}") from None
    except RecursionError:
        raise ModelError("malformed model header: nested too deeply") from None
    if not isinstance(header, dict):
        raise ModelError("malformed model header: not a JSON object")
    return header


def _tensor_entry(entry: Any) -> tuple[str, tuple[int, ...]]:
    """``(name, shape)`` of one ``tensors`` entry: a string and non-negative integers."""
    name = entry.get("name") if isinstance(entry, dict) else None
    shape = entry.get("shape") if isinstance(entry, dict) else None
    if not isinstance(name, str) or not isinstance(shape, list):
        raise ModelError("malformed model header: a tensor entry lacks a string name or a shape")
    if len(shape) > MAX_RANK or not all(type(n) is int and n >= 0 for n in shape):
        raise ModelError(
            f"model tensor {name!r:.80} has a shape that is not at most {MAX_RANK} "
            "non-negative integers"
        )
    return name, tuple(shape)
