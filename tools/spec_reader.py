#!/usr/bin/env python3
"""An independent structural reader of ``.tez`` files, written from FORMAT.md alone.

It walks the signature, preamble, header, sections, GOP index and trailer, verifies the CRC of
every section it knows (unknown ancillary sections are skipped) and the container-level fields
of each GOP (FORMAT.md section 10, steps 1-20 and 26-29), and prints a summary. It decodes no
stage and loads no plugin or model: codecs are out of scope.
It deliberately imports nothing from ``tezip`` (only the standard library and msgpack), so that
it checks the specification rather than the implementation.

    python tools/spec_reader.py FILE [--json]

Exit status: 0 for a structurally valid file, 1 for an invalid one (one line on stderr with the
error code of FORMAT.md section 10), 2 for usage errors.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import struct
import sys
import zlib
from dataclasses import asdict, dataclass
from typing import IO, Any

import msgpack

SIGNATURE = bytes.fromhex("8954455a0d0a1a0a")  # \x89 T E Z CR LF ^Z LF
END_MAGIC = b"TZND"
MAJOR = 1
MAX_HEADER = 16 * 1024 * 1024
MAX_META = 64 * 1024 * 1024
MAX_FRAME_ELEMENTS = 2**32
MAX_NESTING = 32
DTYPE_BITS = {
    "uint8": 8, "int8": 8, "uint16": 16, "int16": 16,
    "uint32": 32, "int32": 32, "float32": 32, "float64": 64,
}  # fmt: skip
QUANTIZER_KEYS = {"lossless": set(), "grid": {"tolerance"}, "log": {"pwrel"}}
OPTIONAL_KEYS = {"grid": {"phase", "lossless"}}  # format 1.1 and 1.2
KNOWN_SECTIONS = {"GOPD", "GIDX", "MODL"}
INDEX_ENTRY = struct.Struct("<QQII")
CHUNK = 1 << 20


class SpecError(Exception):
    """A violation of FORMAT.md; ``code`` is the error code of its section 10."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Section:
    type: str
    offset: int
    length: int
    critical: bool
    known: bool


def _int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _crc(handle: IO[bytes], offset: int, length: int) -> int:
    """CRC-32 of a byte range, read in chunks (sections may be large)."""
    handle.seek(offset)
    value = 0
    while length:
        chunk = handle.read(min(length, CHUNK))
        value = zlib.crc32(chunk, value)
        length -= len(chunk)
    return value


def _msgpack(data: bytes, what: str, code: str) -> dict[str, Any]:
    try:
        value = msgpack.unpackb(data, raw=False, strict_map_key=True)
    except Exception as exc:  # msgpack signals damage with many exception types
        raise SpecError(code, f"{what} is not valid msgpack ({type(exc).__name__})") from None
    if not isinstance(value, dict):
        raise SpecError(code, f"{what} is not a map")
    if _depth(value) > MAX_NESTING:
        raise SpecError(code, f"{what} nests arrays and maps more than {MAX_NESTING} deep")
    return value


def _depth(value: Any) -> int:
    """Nesting depth of arrays and maps (a scalar is 0), level by level, without recursion."""
    depth, level = 0, [value]
    while depth <= MAX_NESTING:
        containers = [node for node in level if isinstance(node, dict | list)]
        if not containers:
            break
        depth += 1
        level = [
            v for node in containers for v in (node.values() if isinstance(node, dict) else node)
        ]
    return depth


def _stage_record(value: Any, predictor: bool) -> None:
    if not (
        isinstance(value, dict)
        and isinstance(value.get("id"), str)
        and _int(value.get("version"))
        and value["version"] >= 1
        and isinstance(value.get("configuration"), dict)
        and (not predictor or isinstance(value.get("fingerprint", ""), str))
    ):
        raise SpecError("format.header", f"invalid stage record {value!r}")


def check_header(header: dict[str, Any]) -> None:
    """FORMAT.md section 4."""
    schema = {
        "frames": int, "frame_shape": list, "dtype": str, "checksum": str, "quantizer": dict,
        "predictors": list, "stages": list, "bound": dict, "gop": dict, "source": dict,
        "writer": str,
    }  # fmt: skip
    for key, kind in schema.items():
        if key not in header:
            raise SpecError("format.header", f"header lacks the required field {key!r}")
        value = header[key]
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise SpecError("format.header", f"header field {key!r} has the wrong type")
    shape = header["frame_shape"]
    if header["frames"] < 1:
        raise SpecError("format.header", "header declares no frames")
    if not 2 <= len(shape) <= 3 or not all(_int(n) and n >= 1 for n in shape):
        raise SpecError("format.header", f"frame_shape {shape!r} is not [H, W] or [H, W, C]")
    if math.prod(shape) > MAX_FRAME_ELEMENTS:
        raise SpecError("format.header", f"frame_shape {shape!r} exceeds 2**32 elements")
    if header["dtype"] not in DTYPE_BITS:
        raise SpecError("format.header", f"unknown dtype {header['dtype']!r}")
    if header["checksum"] != "crc32":
        raise SpecError("format.header", f"unknown frame checksum {header['checksum']!r}")
    if not header["predictors"] or not header["stages"]:
        raise SpecError("format.header", "header lists no predictor or no stage")
    for record in header["predictors"]:
        _stage_record(record, predictor=True)
    for record in header["stages"]:
        _stage_record(record, predictor=False)


def check_quantizer(quantizer: dict[str, Any], dtype: str) -> None:
    """FORMAT.md section 5 (the map only; no value is reconstructed)."""
    mode = quantizer.get("mode")
    if not isinstance(mode, str) or mode not in QUANTIZER_KEYS:
        raise SpecError("format.header", f"invalid quantizer mode {mode!r}")
    required = {"mode", "dtype"} | QUANTIZER_KEYS[mode]
    if not required <= set(quantizer) <= required | OPTIONAL_KEYS.get(mode, set()):
        raise SpecError("format.header", f"invalid quantizer map {quantizer!r}")
    if quantizer.get("phase", "gop") != "gop":
        raise SpecError("format.header", f"invalid grid phase {quantizer['phase']!r}")
    integer = dtype.startswith(("int", "uint"))
    if quantizer.get("lossless", "gop") != "gop" or ("lossless" in quantizer and not integer):
        raise SpecError("format.header", f"invalid grid lossless {quantizer['lossless']!r}")
    if quantizer["dtype"] != dtype:
        raise SpecError("format.header", "quantizer dtype differs from the header dtype")
    if mode == "lossless":
        return
    value = quantizer["tolerance" if mode == "grid" else "pwrel"]
    if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
        raise SpecError("format.header", f"invalid quantizer parameter {value!r}")
    if mode == "log" and not 1e-5 <= value < 1:
        raise SpecError("format.header", f"pwrel {value} is outside [1e-5, 1)")
    if mode == "grid" and not (math.floor(value) >= 1 if integer else value > 0):
        raise SpecError("format.header", f"grid tolerance {value} is too small")


class SpecReader:
    """Validates one file on construction; ``summary()`` describes it."""

    def _phase_fits(self, meta: dict[str, Any]) -> bool:
        """FORMAT.md section 7: ``phase`` present exactly for phased grids but in lossless
        GOPs, in ``[0, step)`` and an integer for integer dtypes."""
        quantizer = self.header["quantizer"]
        if "phase" not in quantizer or meta.get("lossless") is True:
            return "phase" not in meta
        phase, tolerance = meta.get("phase"), quantizer["tolerance"]
        integer = self.header["dtype"].startswith(("int", "uint"))
        step = 2 * math.floor(tolerance) + 1 if integer else 2.0 * tolerance
        kinds = (int,) if integer else (int, float)
        return isinstance(phase, kinds) and not isinstance(phase, bool) and 0 <= phase < step

    def __init__(self, path: str) -> None:
        self.path = path
        with open(path, "rb") as handle:
            self.size = os.fstat(handle.fileno()).st_size
            self._handle = handle
            self._read_preamble()
            self._read_trailer()
            self._walk()
            self._read_index()
            for section in self.sections:
                if section.type == "MODL":
                    self._payload(section, 0)  # an embedded model: its CRC only
            check_quantizer(self.header["quantizer"], self.header["dtype"])
            self.gops = [self._read_gop(number) for number in range(len(self.index))]

    def _bytes(self, offset: int, length: int, what: str) -> bytes:
        if offset + length > self.size:
            raise SpecError("format.truncated", f"file ends inside the {what}")
        self._handle.seek(offset)
        return self._handle.read(length)

    def _read_preamble(self) -> None:
        start = self._handle.read(16)
        if len(start) < 8 and SIGNATURE.startswith(start):
            raise SpecError("format.truncated", "file ends inside the signature")
        if start[:8] != SIGNATURE:
            raise SpecError("format.signature", "bad signature")
        if len(start) < 16:
            raise SpecError("format.truncated", "file ends inside the preamble")
        self.major, self.minor, self.flags, length = struct.unpack_from("<BBHI", start, 8)
        if self.major != MAJOR:
            raise SpecError("format.version", f"format version {self.major}.{self.minor}")
        if self.flags:
            raise SpecError("format", f"reserved flags {self.flags:#06x} are set")
        if length > MAX_HEADER:
            raise SpecError("format.header", f"header length {length} exceeds the 16 MiB cap")
        self.header_length = length
        data = self._bytes(16, length, "header")
        (stored,) = struct.unpack("<I", self._bytes(16 + length, 4, "header CRC"))
        if zlib.crc32(data, zlib.crc32(start[8:16])) != stored:
            raise SpecError("format.crc", "header CRC mismatch")
        self.header = _msgpack(data, "header", "format.header")
        check_header(self.header)
        self.body = 20 + length

    def _read_trailer(self) -> None:
        if self.size < self.body + 16 + 16:
            raise SpecError("format.truncated", "no room for a section and the trailer")
        offset, stored, magic = struct.unpack("<QI4s", self._bytes(self.size - 16, 16, "trailer"))
        if magic != END_MAGIC:
            raise SpecError("format.truncated", "no end magic: truncated or damaged at the end")
        if zlib.crc32(struct.pack("<Q", offset)) != stored:
            raise SpecError("format.crc", "trailer CRC mismatch")
        self.index_offset = offset

    def _walk(self) -> None:
        end, position = self.size - 16, self.body
        self.sections: list[Section] = []
        while position < end:
            kind, length = struct.unpack("<4sQ", self._bytes(position, 12, "section head"))
            if not (kind.isascii() and kind.isalpha()):
                raise SpecError("format.section", f"invalid section type {kind!r} at {position}")
            name = kind.decode()
            if position + 16 + length > end:
                raise SpecError(
                    "format.truncated", f"{name} section at {position} runs past the end"
                )
            critical = name[0].isupper()
            if critical and name not in KNOWN_SECTIONS:
                raise SpecError("format.section", f"unknown critical section {name!r}")
            self.sections.append(Section(name, position, length, critical, name in KNOWN_SECTIONS))
            position += 16 + length
        indexes = [s for s in self.sections if s.type == "GIDX"]
        last = self.sections[-1] if self.sections else None
        if last is None or last.type != "GIDX" or last.offset != self.index_offset:
            raise SpecError("format.section", "the trailer does not point at a final GIDX")
        if len(indexes) > 1:
            raise SpecError("format.section", "more than one GIDX section")

    def _payload(self, section: Section, length: int | None = None) -> bytes:
        """Verify a section's CRC, then return (the first ``length`` bytes of) its payload."""
        (stored,) = struct.unpack("<I", self._bytes(section.offset + 12 + section.length, 4, "CRC"))
        if _crc(self._handle, section.offset, 12 + section.length) != stored:
            raise SpecError("format.crc", f"CRC mismatch in {section.type} at {section.offset}")
        size = section.length if length is None else min(length, section.length)
        return self._bytes(section.offset + 12, size, "section")

    def _read_index(self) -> None:
        data = self._payload(self.sections[-1])
        gops = [s for s in self.sections if s.type == "GOPD"]
        if len(data) < 4:
            raise SpecError("format.section", "GIDX payload too short")
        (count,) = struct.unpack_from("<I", data)
        if len(data) != 4 + INDEX_ENTRY.size * count:
            raise SpecError("format.section", f"GIDX length does not match its {count} entries")
        if count != len(gops):
            raise SpecError("format.section", f"GIDX lists {count} GOPs, file has {len(gops)}")
        self.index: list[tuple[Section, int, int]] = []
        total = 0
        for number, section in enumerate(gops):
            offset, first, frames, reserved = INDEX_ENTRY.unpack_from(data, 4 + 24 * number)
            if offset != section.offset:
                raise SpecError("format.section", f"GIDX entry {number}: stale offset {offset}")
            if reserved or first != total or frames < 1:
                raise SpecError("format.section", f"GIDX entry {number} is inconsistent")
            self.index.append((section, first, frames))
            total += frames
        if total != self.header["frames"]:
            declared = self.header["frames"]
            raise SpecError("format.section", f"GIDX covers {total} frames, header {declared}")

    def _read_gop(self, number: int) -> dict[str, Any]:
        """FORMAT.md section 7 and steps 26-29 of section 10 (no stage is decoded)."""
        section, first, frames = self.index[number]
        head = self._payload(section, 4)
        if len(head) < 4:
            raise SpecError("format.section", f"GOP {number}: payload too short")
        (size,) = struct.unpack("<I", head)
        if size > MAX_META or 4 + size > section.length:
            raise SpecError("format.section", f"GOP {number}: metadata length {size} too large")
        meta = _msgpack(
            self._bytes(section.offset + 16, size, "GOP metadata"), "GOP metadata", "format.section"
        )
        fields = {
            "first": int, "count": int, "predictor": int, "bits": int, "offset": int,
            "side": list, "stages": list, "crc": list, "outliers": int, "blobs": list,
        }  # fmt: skip
        for key, kind in fields.items():
            value = meta.get(key)
            if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
                raise SpecError("format.section", f"GOP {number}: field {key!r} missing or wrong")
        count, blobs, side = meta["count"], meta["blobs"], meta["side"]
        if len(blobs) != 2 or not all(_int(b) and b >= 0 for b in blobs):
            raise SpecError("format.section", f"GOP {number}: 'blobs' must list two lengths")
        if 4 + size + sum(blobs) != section.length:
            raise SpecError("format.section", f"GOP {number}: blob lengths do not add up")
        if count < 1 or len(meta["crc"]) != count or (side and len(side) != count):
            raise SpecError("format.section", f"GOP {number}: frame counts disagree")
        if not all(_int(c) for c in meta["crc"]) or not all(isinstance(s, bytes) for s in side):
            raise SpecError("format.section", f"GOP {number}: 'crc' or 'side' has the wrong type")
        if meta["bits"] not in (8, 16, 32, 64):
            raise SpecError("format.section", f"GOP {number}: code width {meta['bits']}")
        if meta.get("lossless", True) is not True:
            raise SpecError("format.section", f"GOP {number}: 'lossless' must be true")
        if (meta["first"], count) != (first, frames):
            raise SpecError("format.stream", f"GOP {number}: metadata disagrees with GIDX")
        width = DTYPE_BITS[self.header["dtype"]]
        allowed = "lossless" in self.header["quantizer"]
        lossless = self.header["quantizer"]["mode"] == "lossless" or "lossless" in meta
        if (
            ("lossless" in meta and not allowed)
            or not 0 <= meta["predictor"] < len(self.header["predictors"])
            or len(meta["stages"]) != len(self.header["stages"]) - 1
            or not -(2**63) <= meta["offset"] < 2**63
            or (lossless and (meta["bits"], meta["offset"]) != (width, 0))
            or not self._phase_fits(meta)
        ):
            raise SpecError("format.stream", f"GOP {number}: metadata contradicts the header")
        return {
            "section": section.offset,
            "first": first,
            "frames": frames,
            "predictor": self.header["predictors"][meta["predictor"]]["id"],
            "bits": meta["bits"],
            "outliers": meta["outliers"],
            "blobs": blobs,
        }

    def summary(self) -> dict[str, Any]:
        """A JSON-serialisable description of the file's structure."""
        return {
            "path": self.path,
            "size": self.size,
            "version": [self.major, self.minor],
            "header_length": self.header_length,
            "header": _plain(self.header),
            "sections": [asdict(s) for s in self.sections],
            "index_offset": self.index_offset,
            "gops": self.gops,
        }


def _plain(value: Any) -> Any:
    """msgpack values made JSON-friendly (bytes as hex)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value.hex() if isinstance(value, bytes) else value


def _printable(text: str) -> str:
    """``text`` with control characters escaped (FORMAT.md section 10: strings from a file
    must not reach a terminal raw)."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def render(summary: dict[str, Any]) -> str:
    """The human-readable structure listing."""
    header = summary["header"]
    lines = [
        f"{_printable(summary['path'])}: .tez {summary['version'][0]}.{summary['version'][1]}, "
        f"{summary['size']} bytes, header {summary['header_length']} bytes",
        f"  {header['frames']} frames of {header['frame_shape']} {header['dtype']}, "
        f"quantizer {header['quantizer']['mode']}, stages "
        + " -> ".join(_printable(s["id"]) for s in header["stages"]),
        "  offset      length  type  kind",
    ]
    for section in summary["sections"]:
        kind = "critical" if section["critical"] else "ancillary"
        known = "" if section["known"] else " (unknown, skipped)"
        lines.append(
            f"  {section['offset']:<10}  {section['length']:<6}  {section['type']}  {kind}{known}"
        )
    for number, gop in enumerate(summary["gops"]):
        lines.append(
            f"  GOP {number}: frames {gop['first']}..{gop['first'] + gop['frames'] - 1}, "
            f"{_printable(gop['predictor'])}, {gop['bits']}-bit codes, {gop['outliers']} outliers"
        )
    lines.append(
        f"  GIDX at {summary['index_offset']}; CRCs of the header, trailer, GIDX and every "
        "GOPD and MODL verified"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    args = parser.parse_args(argv)
    try:
        summary = SpecReader(args.file).summary()
    except SpecError as exc:
        print(f"{args.file}: invalid [{exc.code}]: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"{args.file}: {exc.strerror}", file=sys.stderr)
        return 1
    print(json.dumps(summary, indent=1) if args.json else render(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
