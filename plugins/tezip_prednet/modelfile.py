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
import struct
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tezip.errors import ModelError

MAGIC = b"\x89TEZM\r\n\x1a\n"
FORMAT = 1
MAX_HEADER = 16 << 20
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
        """Parse and validate; every failure is a ``ModelError`` saying what is wrong."""
        if data[: len(MAGIC)] != MAGIC:
            raise ModelError("not a tezip model file (.tezm): bad signature")
        if len(data) < len(MAGIC) + 4:
            raise ModelError("model file truncated before its header length")
        (size,) = struct.unpack_from("<I", data, len(MAGIC))
        start = len(MAGIC) + 4
        if size > MAX_HEADER or start + size > len(data):
            raise ModelError(f"model header length {size} is oversized or past the end")
        try:
            header = json.loads(data[start : start + size].decode())
            if header["format"] != FORMAT:
                raise ModelError(f"model file format {header['format']} is not supported")
            offset = start + size
            tensors = {}
            for entry in header["tensors"]:
                shape = tuple(int(n) for n in entry["shape"])
                count = int(np.prod(shape, dtype=np.int64))
                if min(shape, default=1) < 0 or offset + 4 * count > len(data):
                    raise ModelError(f"model tensor {entry['name']!r} runs past the end")
                array = np.frombuffer(data, _F32, count, offset).reshape(shape)
                tensors[str(entry["name"])] = array.astype(np.float32)
                offset += 4 * count
            if offset != len(data):
                raise ModelError(f"model file has {len(data) - offset} trailing bytes")
            return cls(
                dict(header["architecture"]),
                dict(header["normalisation"]),
                dict(header["training"]),
                tensors,
            )
        except (KeyError, TypeError, ValueError, UnicodeDecodeError) as exc:
            if isinstance(exc, ModelError):
                raise
            raise ModelError(f"malformed model header: {exc}") from None
