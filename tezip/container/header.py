"""The archive header: a msgpack map with a fixed schema (FORMAT.md section 4)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import msgpack
import numpy as np

from tezip.codes import SUPPORTED_DTYPES
from tezip.container.display import printable, shown
from tezip.errors import HeaderError

#: largest frame accepted from a header, in elements (guards allocations from crafted files)
MAX_FRAME_ELEMENTS = 1 << 32
#: deepest nesting of arrays and maps in a msgpack region (FORMAT.md section 11): keeps every
#: recursive consumer (printing, copying, messages) far from Python's recursion limit
MAX_NESTING = 32


@dataclass(frozen=True)
class Header:
    """Everything the decoder needs before the first GOP, plus provenance."""

    frames: int
    frame_shape: tuple[int, ...]
    dtype: str
    source: dict[str, Any]
    bound: dict[str, Any]
    quantizer: dict[str, Any]
    predictors: list[dict[str, Any]]
    stages: list[dict[str, Any]]
    gop: dict[str, Any]
    writer: str
    checksum: str = "crc32"
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def numpy_dtype(self) -> np.dtype:
        return np.dtype(self.dtype)

    @property
    def format_minor(self) -> int:
        """The oldest format minor that can represent this header: 2 for a grid quantizer
        whose GOPs may be lossless (FORMAT.md 5.2), 1 for one whose GOPs choose its phase
        (5.2), else 0."""
        if "lossless" in self.quantizer:
            return 2
        return 1 if "phase" in self.quantizer else 0

    @property
    def frame_bytes(self) -> int:
        return int(np.prod(self.frame_shape)) * self.numpy_dtype.itemsize

    def to_record(self) -> dict[str, Any]:
        record = asdict(self)
        record["frame_shape"] = list(self.frame_shape)
        extra = record.pop("extra")
        return {**extra, **record}


def informative_text(record: dict[str, Any], key: str) -> str | None:
    """An informative string field of a record, printable and cut to 120 characters; None
    when absent, empty or not a string (a decoder never needs it)."""
    value = record.get(key)
    return printable(value[:120]) if isinstance(value, str) and value else None


def _require(record: dict[str, Any], key: str, kind: type | tuple[type, ...]) -> Any:
    if key not in record:
        raise HeaderError(f"header lacks the required field {key!r}")
    value = record[key]
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is int):
        raise HeaderError(f"header field {key!r} has the wrong type ({type(value).__name__})")
    return value


def _stage_record(value: Any, where: str) -> dict[str, Any]:
    if not (
        isinstance(value, dict)
        and isinstance(value.get("id"), str)
        and type(value.get("version")) is int
        and value["version"] >= 1
        and isinstance(value.get("configuration"), dict)
        and (where != "predictor" or isinstance(value.get("fingerprint", ""), str))
    ):
        raise HeaderError(f"{where}: expected {{id, version, configuration}}, got {shown(value)}")
    return value


def header_from_record(record: Any) -> Header:
    """Validate a decoded header map; unknown keys are kept in ``extra``."""
    if not isinstance(record, dict):
        raise HeaderError("header is not a map")
    frames = _require(record, "frames", int)
    shape = _require(record, "frame_shape", list)
    dtype = _require(record, "dtype", str)
    if frames < 1:
        raise HeaderError(f"header declares {frames} frames")
    if not 2 <= len(shape) <= 3 or not all(type(n) is int and n >= 1 for n in shape):
        raise HeaderError(f"header frame_shape {shown(shape)} is not (H, W) or (H, W, C)")
    if int(np.prod(shape, dtype=np.float64)) > MAX_FRAME_ELEMENTS:
        raise HeaderError(f"header frame_shape {shape!r} exceeds {MAX_FRAME_ELEMENTS} elements")
    if dtype not in SUPPORTED_DTYPES:
        raise HeaderError(
            f"header dtype '{shown(dtype)}' is not one of {', '.join(SUPPORTED_DTYPES)}"
        )
    checksum = _require(record, "checksum", str)
    if checksum != "crc32":
        raise HeaderError(f"unknown frame checksum '{shown(checksum)}'")
    predictors = _require(record, "predictors", list)
    stages = _require(record, "stages", list)
    if not predictors or not stages:
        raise HeaderError("header lists no predictor or no stage")
    known = set(Header.__dataclass_fields__) - {"extra"}
    return Header(
        frames=frames,
        frame_shape=tuple(shape),
        dtype=dtype,
        source=_require(record, "source", dict),
        bound=_require(record, "bound", dict),
        quantizer=_require(record, "quantizer", dict),
        predictors=[_stage_record(p, "predictor") for p in predictors],
        stages=[_stage_record(s, "stage") for s in stages],
        gop=_require(record, "gop", dict),
        writer=_require(record, "writer", str),
        checksum=checksum,
        extra={k: v for k, v in record.items() if k not in known},
    )


def pack_msgpack(value: Any) -> bytes:
    """Deterministic msgpack (bin type for bytes, str for text)."""
    return msgpack.packb(value, use_bin_type=True)


def unpack_msgpack(data: bytes | memoryview, what: str, error: type[Exception]) -> Any:
    """Decode msgpack, turning every malformation (and nesting deeper than
    :data:`MAX_NESTING`) into ``error`` naming ``what``."""
    try:
        value = msgpack.unpackb(data, raw=False, strict_map_key=True, use_list=True)
    except Exception as exc:  # msgpack raises many unrelated types on damage
        raise error(f"{what} is not valid msgpack ({type(exc).__name__}: {exc})") from None
    if _nesting(value) > MAX_NESTING:
        raise error(f"{what} nests arrays and maps more than {MAX_NESTING} deep")
    return value


def _nesting(value: Any) -> int:
    """How deep arrays and maps nest in ``value`` (0 for a scalar), counted without recursion
    and in memory proportional to the depth; counting stops past :data:`MAX_NESTING`."""
    if not isinstance(value, dict | list):
        return 0
    deepest, open_ = 1, [iter(_children(value))]
    while open_ and deepest <= MAX_NESTING:
        for child in open_[-1]:
            if isinstance(child, dict | list):
                open_.append(iter(_children(child)))
                deepest = max(deepest, len(open_))
                break
        else:
            open_.pop()
    return deepest


def _children(node: dict[Any, Any] | list[Any]) -> Any:
    return node.values() if isinstance(node, dict) else node
