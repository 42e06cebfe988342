"""A ``GOPD`` section payload: msgpack metadata, then two blobs (FORMAT.md section 7)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tezip.container.header import pack_msgpack, unpack_msgpack
from tezip.container.layout import GOP_META_LENGTH, MAX_GOP_META
from tezip.errors import SectionError


@dataclass
class GopRecord:
    """One coded group of frames."""

    first: int  # index of its first frame in the archive
    count: int  # frames in the group
    predictor: int  # index into the header's predictor list
    bits: int  # code width: 8, 16, 32 or 64
    offset: int  # codes + offset = the quantizer's signed integers
    side: list[bytes]  # predictor side information per frame ([] when all empty)
    stages: list[Any]  # metadata of each array-to-array stage, in pipeline order
    crc: list[int]  # CRC-32 of each decoded frame's bytes
    outliers: int  # elements stored exactly
    residuals: bytes  # output of the array-to-bytes stage
    exact: bytes  # zstd(outlier index deltas u64 LE + outlier values), b"" when none
    phase: int | float | None = None  # where a phased grid sits, None for other quantizers
    lossless: bool = False  # coded losslessly in an archive whose grid allows it

    def encode(self) -> bytes:
        meta = pack_msgpack(
            {
                "first": self.first,
                "count": self.count,
                "predictor": self.predictor,
                "bits": self.bits,
                "offset": self.offset,
                "side": self.side,
                "stages": self.stages,
                "crc": self.crc,
                "outliers": self.outliers,
                "blobs": [len(self.residuals), len(self.exact)],
                **({} if self.phase is None else {"phase": self.phase}),
                **({"lossless": True} if self.lossless else {}),
            }
        )
        return b"".join((GOP_META_LENGTH.pack(len(meta)), meta, self.residuals, self.exact))


def _field(meta: dict[str, Any], key: str, kind: type) -> Any:
    value = meta.get(key)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise SectionError(f"GOP metadata field {key!r} is missing or has the wrong type")
    return value


def decode_gop(payload: memoryview) -> GopRecord:
    """Parse and validate a GOP payload (structure only; stages validate their own data)."""
    if len(payload) < GOP_META_LENGTH.size:
        raise SectionError("GOP payload too short")
    (size,) = GOP_META_LENGTH.unpack_from(payload)
    end = GOP_META_LENGTH.size + size
    if size > MAX_GOP_META or end > len(payload):
        raise SectionError(f"GOP metadata length {size} exceeds the payload")
    meta = unpack_msgpack(payload[GOP_META_LENGTH.size : end], "GOP metadata", SectionError)
    if not isinstance(meta, dict):
        raise SectionError("GOP metadata is not a map")
    blobs = _field(meta, "blobs", list)
    if len(blobs) != 2 or not all(type(b) is int and b >= 0 for b in blobs):
        raise SectionError("GOP metadata 'blobs' must list two lengths")
    if end + sum(blobs) != len(payload):
        raise SectionError("GOP blob lengths do not add up to the payload length")
    count = _field(meta, "count", int)
    crc, side = _field(meta, "crc", list), _field(meta, "side", list)
    if count < 1 or len(crc) != count or (side and len(side) != count):
        raise SectionError("GOP metadata frame counts disagree")
    if not all(type(c) is int for c in crc) or not all(isinstance(s, bytes) for s in side):
        raise SectionError("GOP metadata 'crc' or 'side' has the wrong type")
    bits = _field(meta, "bits", int)
    if bits not in (8, 16, 32, 64):
        raise SectionError(f"GOP code width {bits} is not 8, 16, 32 or 64")
    if meta.get("lossless", True) is not True:
        raise SectionError("GOP metadata field 'lossless' must be true where present")
    split = end + blobs[0]
    return GopRecord(
        first=_field(meta, "first", int),
        count=count,
        predictor=_field(meta, "predictor", int),
        bits=bits,
        offset=_field(meta, "offset", int),
        side=side,
        stages=_field(meta, "stages", list),
        crc=crc,
        outliers=_field(meta, "outliers", int),
        residuals=bytes(payload[end:split]),
        exact=bytes(payload[split:]),
        phase=meta.get("phase"),
        lossless="lossless" in meta,
    )
