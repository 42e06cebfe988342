#!/usr/bin/env python3
"""Write the golden vectors of ``spec/vectors/`` (FORMAT.md section 14); never overwrite one.

    python tools/make_vectors.py             # write the vectors that do not exist yet
    python tools/make_vectors.py --check     # verify every existing vector against its sidecar
    python tools/make_vectors.py --out DIR   # the same into DIR/valid and DIR/invalid

Valid vectors are packed by tezip (or re-assembled from one, for ancillary sections and a
future minor version); each ``.json`` sidecar records the header summary and the decoded
array's SHA-256, shape, dtype and per-frame CRC-32s. Invalid vectors are derived from valid ones
by byte edits (CRCs fixed up where the defect must lie behind them); each sidecar names the
expected ``TezipError`` class, its ``code``, a message fragment and whether the defect is
structural (``tools/spec_reader.py`` must then reject it with the same code). A new vector is
checked before it is written; a vector whose check fails is not written.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import struct
import sys
import tempfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgpack
import numpy as np

import tezip
from tezip import errors
from tezip.errors import TezipError
from tezip_prednet.modelfile import ModelFile

sys.path.insert(0, str(Path(__file__).resolve().parent))
from spec_reader import SIGNATURE, SpecReader  # a sibling script, not a package

ROOT = Path(__file__).resolve().parents[1]
VECTORS = ROOT / "spec" / "vectors"
RNG_SEED = 20261123


# --------------------------------------------------------------------------- decoded summaries


def decoded_summary(path: Path) -> dict[str, Any]:
    """SHA-256, shape and dtype of the decoded array, and each frame's CRC-32 (little-endian)."""
    frames = tezip.unpack(path)
    little = np.ascontiguousarray(frames.astype(frames.dtype.newbyteorder("<"), copy=False))
    return {
        "shape": list(frames.shape),
        "dtype": frames.dtype.name,
        "sha256": hashlib.sha256(little.tobytes()).hexdigest(),
        "frame_crc": [zlib.crc32(frame.tobytes()) for frame in little],
    }


def header_summary(path: Path) -> dict[str, Any]:
    """What tezip's reader reports about the header and the GOP index."""
    with tezip.open(path) as archive:
        header = archive.header
        return {
            "format_version": list(archive.file.version),
            "frames": header.frames,
            "frame_shape": list(header.frame_shape),
            "dtype": header.dtype,
            "quantizer": header.quantizer,
            "predictors": [p["id"] for p in header.predictors],
            "stages": [s["id"] for s in header.stages],
            "gops": [[gop.first, gop.count] for gop in archive.gops],
            "sections": [s.kind.decode() for s in archive.file.sections],
        }


def raised(path: Path) -> TezipError | None:
    """The ``TezipError`` that fully decoding ``path`` raises, or None."""
    try:
        tezip.unpack(path)
    except TezipError as error:
        return error
    return None


def error_problem(error: TezipError | None, expected: dict[str, Any]) -> str | None:
    """Why ``error`` is not the error an invalid vector's sidecar expects (None if it is)."""
    if error is None:
        return "decoded without error"
    got = (type(error).__name__, error.code)
    if got != (expected["error"], expected["code"]) or expected["message"] not in str(error):
        return f"raised {got[0]} [{got[1]}] {error}"
    return None


# ------------------------------------------------------------------------------ byte editing


def u32(value: int) -> bytes:
    return struct.pack("<I", value)


def u64(value: int) -> bytes:
    return struct.pack("<Q", value)


def crc(*parts: bytes) -> int:
    value = 0
    for part in parts:
        value = zlib.crc32(part, value)
    return value


def section(kind: bytes, payload: bytes) -> bytes:
    head = struct.pack("<4sQ", kind, len(payload))
    return head + payload + u32(crc(head, payload))


def assemble(
    header: dict[str, Any],
    sections: list[tuple[bytes, bytes]],
    entries: list[tuple[int, int]],
    version: tuple[int, int] = (1, 0),
) -> bytes:
    """A complete file: ``sections`` in order, then a GIDX over its GOPD sections."""
    body = msgpack.packb(header, use_bin_type=True)
    preamble = struct.pack("<BBHI", *version, 0, len(body))
    out = bytearray(SIGNATURE + preamble + body + u32(crc(preamble, body)))
    offsets = []
    for kind, payload in sections:
        if kind == b"GOPD":
            offsets.append(len(out))
        out += section(kind, payload)
    index = u32(len(entries)) + b"".join(
        struct.pack("<QQII", offset, first, count, 0)
        for offset, (first, count) in zip(offsets, entries, strict=True)
    )
    index_offset = len(out)
    out += section(b"GIDX", index)
    return bytes(out + trailer(index_offset))


def trailer(index_offset: int) -> bytes:
    offset = u64(index_offset)
    return offset + u32(crc(offset)) + b"TZND"


def edit_gop(payload: bytes, edit: Callable[[dict[str, Any]], Any]) -> bytes:
    """A GOPD payload with its metadata map changed in place by ``edit``."""
    (size,) = struct.unpack_from("<I", payload)
    meta = msgpack.unpackb(payload[4 : 4 + size], raw=False)
    edit(meta)
    packed = msgpack.packb(meta, use_bin_type=True)
    return u32(len(packed)) + packed + payload[4 + size :]


def zstd_block_offset(frame: bytes) -> int:
    """Offset of the first block header in a zstd frame (RFC 8878 section 3.1.1)."""
    descriptor = frame[4]
    single = descriptor >> 5 & 1
    content_size = (single, 2, 4, 8)[descriptor >> 6]
    return 5 + (not single) + (0, 1, 2, 4)[descriptor & 3] + content_size


@dataclass
class Source:
    """A valid vector, parsed by the independent reader, to derive invalid ones from."""

    path: Path
    data: bytes = field(init=False)
    spec: SpecReader = field(init=False)

    def __post_init__(self) -> None:
        self.data = self.path.read_bytes()
        self.spec = SpecReader(str(self.path))

    @property
    def header_end(self) -> int:
        return 16 + self.spec.header_length

    def offset(self, kind: str, number: int = 0) -> int:
        return [s.offset for s in self.spec.sections if s.type == kind][number]

    def payload(self, offset: int) -> bytes:
        (length,) = struct.unpack_from("<Q", self.data, offset + 4)
        return self.data[offset + 12 : offset + 12 + length]

    def patch(self, offset: int, new: bytes, fix: str | int | None = None) -> bytes:
        """Overwrite bytes; then fix the ``"header"``, ``"trailer"`` or section-at-``fix`` CRC."""
        out = bytearray(self.data)
        out[offset : offset + len(new)] = new
        if fix == "header":
            out[self.header_end : self.header_end + 4] = u32(crc(out[8 : self.header_end]))
        elif fix == "trailer":
            out[-8:] = u32(crc(out[-16:-8])) + b"TZND"
        elif isinstance(fix, int):
            (length,) = struct.unpack_from("<Q", out, fix + 4)
            out[fix + 12 + length : fix + 16 + length] = u32(crc(out[fix : fix + 12 + length]))
        return bytes(out)

    def parts(self) -> tuple[dict[str, Any], list[tuple[bytes, bytes]], list[tuple[int, int]]]:
        """Header map, sections other than GIDX, and the GIDX (first, frames) entries."""
        sections = [
            (s.type.encode(), self.payload(s.offset))
            for s in self.spec.sections
            if s.type != "GIDX"
        ]
        entries = [(first, frames) for _, first, frames in self.spec.index]
        return dict(self.spec.header), sections, entries

    def rebuild(
        self,
        header: Callable[[dict[str, Any]], Any] | None = None,
        gop: Callable[[dict[str, Any]], Any] | None = None,
        insert: tuple[int, bytes, bytes] | None = None,
        version: tuple[int, int] | None = None,
    ) -> bytes:
        """Re-assemble with the header edited, GOP 0's metadata edited, a section inserted;
        in the source's format version unless ``version`` is given."""
        record, sections, entries = self.parts()
        if header:
            header(record)
        if gop:
            sections[0] = (b"GOPD", edit_gop(sections[0][1], gop))
        if insert:
            sections.insert(insert[0], insert[1:])
        return assemble(record, sections, entries, version or self.version)

    @property
    def version(self) -> tuple[int, int]:
        return self.spec.major, self.spec.minor

    def gop_blob(self, number: int, blob: int) -> int:
        """File offset of a GOP's residual (0) or outlier (1) blob."""
        start = self.offset("GOPD", number) + 12
        (size,) = struct.unpack_from("<I", self.data, start)
        meta = msgpack.unpackb(self.data[start + 4 : start + 4 + size], raw=False)
        return start + 4 + size + (meta["blobs"][0] if blob else 0)


# ---------------------------------------------------------------------------- valid vectors


#: options the released vectors were written with where tezip's defaults have changed since,
#: so that a fresh run still reproduces them (a vector's own options take precedence)
WRITTEN_WITH: dict[str, Any] = {
    "entropy": "tezip.zstd",
    "entropy_options": {"level": 3},
    "grid_phase": False,
    "lossless_gops": False,  # format 1.2
    "gop": "auto:64",  # plain auto now lets GOPs of small frames grow past 64 frames
}


#: the options that give tezip's defaults back over WRITTEN_WITH (vectors of format 1.1)
NEW_DEFAULTS: dict[str, Any] = {"entropy": None, "entropy_options": None, "grid_phase": True}


@dataclass(frozen=True)
class ValidVector:
    name: str
    description: str
    make: Callable[[np.random.Generator], np.ndarray]
    options: dict[str, Any]


def _smooth(rng: np.random.Generator, shape: tuple[int, ...], scale: float) -> np.ndarray:
    """Moving ramps plus a little noise: data the predictors have something to do on."""
    frames, height, width = shape[:3]
    t, y, x = np.meshgrid(np.arange(frames), np.arange(height), np.arange(width), indexing="ij")
    base = np.sin((x + 2 * t) / 5.0) + np.cos((y - t) / 4.0)
    if len(shape) == 4:
        base = base[..., None] + np.arange(shape[3]) * 0.3
    return scale * base + rng.normal(0, scale * 0.02, shape)


def _uint8(rng: np.random.Generator) -> np.ndarray:
    return np.clip(_smooth(rng, (6, 16, 16), 60) + 128, 0, 255).astype(np.uint8)


def _uint16(rng: np.random.Generator) -> np.ndarray:
    return (_smooth(rng, (5, 12, 20), 900) + 3000).astype(np.uint16)


def _int16(rng: np.random.Generator) -> np.ndarray:
    frames = _smooth(rng, (4, 10, 12), 8000).astype(np.int16)
    frames[0, 0, :2] = (-32768, 32767)
    return frames


def _int32(rng: np.random.Generator) -> np.ndarray:
    return (_smooth(rng, (4, 8, 8), 4e6) - 1e5).astype(np.int32)


def _float32_special(rng: np.random.Generator) -> np.ndarray:
    frames = _smooth(rng, (4, 12, 12), 10).astype(np.float32)
    frames[0, 1, 1], frames[1, 2, 3], frames[3, 5, 7] = np.nan, np.inf, -np.inf
    return frames


def _float32_bits(rng: np.random.Generator) -> np.ndarray:
    frames = _smooth(rng, (3, 6, 6), 1).astype(np.float32)
    bits = frames.view(np.uint32)
    bits[0, 0, :4] = (0x7FC00001, 0xFFC0BEEF, 0x80000000, 0x00000001)  # NaN payloads, -0, tiny
    return frames


def _float64(rng: np.random.Generator) -> np.ndarray:
    frames = _smooth(rng, (3, 10, 10), 100) * np.exp(rng.normal(0, 3, (3, 10, 10)))
    frames[0, 0, :4] = (0.0, -0.0, 5e-324, -1e300)
    frames[1, ::3, ::3] = 0.0
    return frames


def _rgb(rng: np.random.Generator) -> np.ndarray:
    return np.clip(_smooth(rng, (3, 8, 10, 3), 50) + 100, 0, 255).astype(np.uint8)


def _single(rng: np.random.Generator) -> np.ndarray:
    return rng.integers(0, 65536, (1, 9, 7), dtype=np.uint16)


def _gops(rng: np.random.Generator) -> np.ndarray:
    return np.clip(_smooth(rng, (12, 8, 8), 40) + 100, 0, 255).astype(np.uint8)


def _int8(rng: np.random.Generator) -> np.ndarray:
    return np.clip(_smooth(rng, (3, 8, 8), 50), -128, 127).astype(np.int8)


def _wide(rng: np.random.Generator) -> np.ndarray:
    """Eight smooth frames of 130 x 1024: several partitions of tezip.rans, small when coded."""
    y, x = np.meshgrid(np.arange(130), np.arange(1024), indexing="ij")
    frames = np.stack([(x // 8 + y // 4 + 3 * t) % 200 for t in range(8)])
    frames[:, 60:70, 500:520] += rng.integers(0, 9, (8, 10, 20))
    return frames.astype(np.uint8)


def _noisy(signal: float) -> Callable[[np.random.Generator], np.ndarray]:
    """Detector-like 16-bit frames: a smooth signal under pixel noise of 60 counts, where
    ``tezip.rans``'s averages (version 2) code smallest: of west and north for a signal of
    300, of four neighbours for one of 100."""

    def make(rng: np.random.Generator) -> np.ndarray:
        frames = _smooth(rng, (3, 16, 24), signal) + 3000
        return (frames + rng.normal(0, 60, frames.shape)).astype(np.uint16)

    return make


def _streaked(rng: np.random.Generator) -> np.ndarray:
    """16-bit frames of pixel noise smeared along the rows (as a detector read out line by
    line with a slow amplifier), where ``tezip.rans``'s fitted predictor (version 3) codes
    smallest: its weights on the west-west and north-east neighbours follow the smear."""
    noise = rng.normal(0, 80, (3, 16, 28))
    smeared = noise[..., 2:-2] + 0.8 * (noise[..., 1:-3] + noise[..., 3:-1]) + 0.3 * (
        noise[..., :-4] + noise[..., 4:]
    )
    return (_smooth(rng, (3, 16, 24), 200) + 3000 + smeared).astype(np.uint16)


def _photon_counts(rng: np.random.Generator) -> np.ndarray:
    """A 16-bit frame of photon counts: a smooth signal of 5 to 3000 under its own Poisson
    noise, whose spread follows the signal, where ``tezip.rans`` (version 4) splits the
    contexts into eight intensity classes."""
    y, x = np.mgrid[0:128, 0:256]
    signal = 5 + 3000 * (0.5 + 0.5 * np.sin(x / 9.0) * np.cos(y / 11.0)) ** 2
    return rng.poisson(signal, (1, 128, 256)).astype(np.uint16)


def _mid_grey(rng: np.random.Generator) -> np.ndarray:
    """Smooth 8-bit frames around mid-grey: read as two's complement, their codes would
    jump between 127 and -128 wherever they cross 128, so ``tezip.rans`` reads them in
    offset binary."""
    return np.clip(_smooth(rng, (3, 16, 24), 40) + 128, 0, 255).astype(np.uint8)


def _uint32(rng: np.random.Generator) -> np.ndarray:
    values = _smooth(rng, (2, 6, 6), 1e9) + 2.5e9
    # values past the uint32 range become 0, as the unchecked cast that wrote the released
    # vector did on x86-64; spelled out, so that every platform regenerates the same bytes
    return np.where(values < 2**32, values, 0).astype(np.uint32)


def _decoded_video(rng: np.random.Generator) -> np.ndarray:
    """RGB frames made as a video decoder makes them: integer luma plus chroma offsets
    shared by blocks of 2 x 2 (4:2:0). The first four frames carry little luma noise, so
    their exact colour relations code them smaller lossless than on the grid of --abs 1;
    the last four carry more, and the grid wins."""
    frames, height, width = 8, 32, 48
    noise = np.where(np.arange(frames) < 4, 0.5, 8.0)[:, None, None]
    luma = _smooth(rng, (frames, height, width), 40) + 110
    luma = np.rint(luma + noise * rng.normal(0, 1, luma.shape))
    t, y, x = np.meshgrid(
        np.arange(frames), np.arange(height // 2), np.arange(width // 2), indexing="ij"
    )
    blue, red = np.rint(20 * np.sin((x + t) / 7.0)), np.rint(15 * np.cos((y - x) / 9.0))
    blue, red = (np.repeat(np.repeat(c, 2, 1), 2, 2) for c in (blue, red))
    offsets = np.rint(1.402 * red), np.rint(-0.344 * blue - 0.714 * red), np.rint(1.772 * blue)
    return np.clip(np.stack([luma + o for o in offsets], -1), 0, 255).astype(np.uint8)


def _panning(channels: int) -> Callable[[np.random.Generator], np.ndarray]:
    """Four frames of 40 x 48 that pan across a blocky scene by (1, -2) a frame, with a
    little noise: ``tezip.motion`` finds vectors; with colour, a difference between the
    channels that stays in place (the blocks take mode 1 where it pays)."""

    def make(rng: np.random.Generator) -> np.ndarray:
        scene = np.kron(rng.integers(40, 200, (14, 16)), np.ones((4, 4)))
        frames = np.stack([scene[4 + t : 44 + t, 12 - 2 * t : 60 - 2 * t] for t in range(4)])
        if channels > 1:
            still = np.kron(rng.integers(-20, 20, (10, 12)), np.ones((4, 4)))
            frames = np.stack([frames + still, frames, frames - still], axis=-1)
        return np.clip(frames + rng.integers(0, 3, frames.shape), 0, 255).astype(np.uint8)

    return make


VALID_VECTORS = [
    ValidVector("uint8_lossless", "uint8, lossless, default options", _uint8, {}),
    ValidVector(
        "uint16_abs",
        "uint16, --abs 3, tezip.previous, fixed GOP of 8",
        _uint16,
        {"abs": 3, "predictor": "tezip.previous", "gop": 8},
    ),
    ValidVector(
        "int16_lossless",
        "int16 with both extremes, lossless, tezip.linear",
        _int16,
        {"predictor": "tezip.linear"},
    ),
    ValidVector("int32_rel", "int32, --rel 1e-3 (integer grid)", _int32, {"rel": 1e-3}),
    ValidVector(
        "float32_rel_outliers",
        "float32, --rel 1e-3, with NaN, +Inf and -Inf stored as outliers",
        _float32_special,
        {"rel": 1e-3},
    ),
    ValidVector(
        "float32_lossless_bits",
        "float32 lossless: NaN payloads, -0.0 and a subnormal survive bit for bit",
        _float32_bits,
        {},
    ),
    ValidVector(
        "float64_pwrel",
        "float64, --pwrel 1e-3 (log quantizer), zeros, -0.0, subnormal, huge values",
        _float64,
        {"pwrel": 1e-3},
    ),
    ValidVector("rgb_uint8", "RGB uint8 frames (H, W, 3), lossless", _rgb, {}),
    ValidVector("single_frame", "one uint16 frame of odd size, lossless", _single, {}),
    ValidVector(
        "several_gops",
        "12 uint8 frames, --abs 2, fixed GOP of 4: three GOPD sections",
        _gops,
        {"abs": 2, "gop": 4},
    ),
    ValidVector(
        "zstd_plain",
        "uint16 lossless, tezip.zero, no spatial stage, tezip.zstd level 1 without shuffle",
        _uint16,
        {
            "predictor": "tezip.zero",
            "spatial": "none",
            "entropy_options": {"level": 1, "shuffle": False},
        },
    ),
    ValidVector("int8_abs", "int8, --abs 1", _int8, {"abs": 1}),
    ValidVector("uint32_lossless", "uint32, lossless", _uint32, {}),
    # format 1.1 and tezip.rans (spec/stages/tezip.rans.md); NEW_DEFAULTS undoes WRITTEN_WITH
    ValidVector(
        "rans_uint8_lossless",
        "uint8, lossless, tezip.rans (the defaults of format 1.1)",
        _uint8,
        NEW_DEFAULTS,
    ),
    ValidVector(
        "rans_rgb_abs",
        "RGB uint8, --abs 2: a phased grid, colour planes coded relative to G",
        _rgb,
        {**NEW_DEFAULTS, "abs": 2},
    ),
    ValidVector(
        "rans_uint16_previous",
        "uint16, --abs 3, tezip.previous, fixed GOP of 2: a phase per GOP, temporal residuals",
        _uint16,
        {**NEW_DEFAULTS, "abs": 3, "predictor": "tezip.previous", "gop": 2},
    ),
    ValidVector(
        "rans_float32_rel",
        "float32, --rel 1e-3 with NaN and infinities as outliers: a phased float grid",
        _float32_special,
        {**NEW_DEFAULTS, "rel": 1e-3},
    ),
    ValidVector(
        "rans_float64_lossless",
        "float64 lossless: 64-bit codes coded as two planes of 32-bit words",
        _float64,
        NEW_DEFAULTS,
    ),
    ValidVector(
        "rans_partitions",
        "uint8 frames 1024 wide, lossless, tezip.zero: several tezip.rans partitions",
        _wide,
        {**NEW_DEFAULTS, "predictor": "tezip.zero"},
    ),
    ValidVector(
        "rans_average",
        "noisy uint16, lossless, tezip.zero: tezip.rans version 2, predictor 5 (average)",
        _noisy(300),
        {**NEW_DEFAULTS, "predictor": "tezip.zero"},
    ),
    ValidVector(
        "rans_smooth",
        "noisier uint16, lossless, tezip.zero: tezip.rans version 2, predictor 6 (smooth)",
        _noisy(100),
        {**NEW_DEFAULTS, "predictor": "tezip.zero"},
    ),
    ValidVector(
        "rans_fitted",
        "row-smeared noisy uint16, lossless, tezip.zero: tezip.rans version 3, predictor 7 "
        "(fitted)",
        _streaked,
        {**NEW_DEFAULTS, "predictor": "tezip.zero"},
    ),
    ValidVector(
        "rans_intensity",
        "photon counts (Poisson) uint16, lossless, tezip.zero: tezip.rans version 4, eight "
        "intensity classes",
        _photon_counts,
        {**NEW_DEFAULTS, "predictor": "tezip.zero"},
    ),
    ValidVector(
        "rans_offset_binary",
        "uint8 around mid-grey, lossless, tezip.zero: tezip.rans version 2, offset binary",
        _mid_grey,
        {**NEW_DEFAULTS, "predictor": "tezip.zero"},
    ),
    ValidVector(
        "zstd_phase",
        "int32, --rel 1e-3, tezip.zstd level 3 behind tezip.lorenzo with a phased grid",
        _int32,
        {"rel": 1e-3, "grid_phase": True},
    ),
    ValidVector(
        "density_uint16",
        "uint16, --abs 1, tezip.density (tile 8)",
        _uint16,
        {**NEW_DEFAULTS, "abs": 1, "entropy": "tezip.density"},
    ),
    ValidVector(
        "motion_rgb",
        "RGB uint8 panning, lossless, tezip.motion: vectors and block modes as side information",
        _panning(3),
        {**NEW_DEFAULTS, "predictor": "tezip.motion"},
    ),
    ValidVector(
        "motion_abs",
        "uint8 panning, --abs 2, tezip.motion with blocks of 8 and reach 4",
        _panning(1),
        {
            **NEW_DEFAULTS,
            "abs": 2,
            "predictor": "tezip.motion",
            "predictor_options": {"block": 8, "reach": 4},
        },
    ),
    ValidVector(
        "prednet_uint8",
        "uint8 lossless, tezip.prednet with the shipped generic model (not embedded)",
        _uint8,
        {**NEW_DEFAULTS, "predictor": "tezip.prednet"},
    ),
    ValidVector(
        "lossless_gop",
        "RGB uint8 made as decoded video is, --abs 1, GOPs of 4 (format 1.2): the first GOP "
        "coded lossless, the second on the grid",
        _decoded_video,
        {**NEW_DEFAULTS, "abs": 1, "gop": 4, "lossless_gops": True},
    ),
]


def _ancillary(source: Source) -> bytes:
    record, sections, entries = source.parts()
    note = b"written by tools/make_vectors.py; readers skip this ancillary section"
    sections.insert(0, (b"noTE", note))
    sections.insert(2, (b"noTE", b"another one, between two GOPs"))
    return assemble(record, sections, entries)


def _future_minor(source: Source) -> bytes:
    record, sections, entries = source.parts()
    record["future_field"] = {"meaning": "added by a 1.1 writer; 1.0 readers ignore it"}
    sections = [(b"ftRe", b"\x00\x01\x02")] + [
        (kind, edit_gop(payload, lambda meta: meta.update(future_key=[1, 2, 3])))
        for kind, payload in sections
    ]
    return assemble(record, sections, entries, version=(1, 1))


#: valid vectors derived from another: name -> (description, source, builder)
DERIVED_VALID: dict[str, tuple[str, str, Callable[[Source], bytes]]] = {
    "ancillary_section": (
        "several_gops with two unknown ancillary 'noTE' sections, which must be skipped",
        "several_gops",
        _ancillary,
    ),
    "future_minor": (
        "version 1.1: an unknown header key, GOP metadata key and ancillary section",
        "uint8_lossless",
        _future_minor,
    ),
}


# -------------------------------------------------------------------------- invalid vectors


@dataclass(frozen=True)
class InvalidVector:
    name: str
    description: str
    error: str  # the TezipError subclass tezip must raise; its code is recorded too
    message: str  # a fragment of the error message
    build: Callable[[Source], bytes]
    structural: bool = True  # the spec reader must reject it (with the same code)
    source: str = "several_gops"


def _index_entry(s: Source, number: int, field_offset: int, value: bytes) -> bytes:
    """Overwrite a field of GIDX entry ``number`` and fix the GIDX CRC."""
    index = s.offset("GIDX")
    return s.patch(index + 16 + 24 * number + field_offset, value, fix=index)


def _reserved_block(s: Source, gop: int, blob: int) -> bytes:
    """Give the first zstd block of a blob the reserved block type 3; fix the GOPD CRC."""
    start = s.gop_blob(gop, blob)
    block = start + zstd_block_offset(s.data[start : start + 18])
    return s.patch(block, bytes([s.data[block] | 0b110]), fix=s.offset("GOPD", gop))


def _header(edit: Callable[[dict[str, Any]], Any]) -> Callable[[Source], bytes]:
    return lambda s: s.rebuild(header=edit)


def _gop(edit: Callable[[dict[str, Any]], Any]) -> Callable[[Source], bytes]:
    return lambda s: s.rebuild(gop=edit)


def _zstd_raw_frame(content: bytes) -> bytes:
    """A zstd frame holding ``content`` in one raw block (RFC 8878), independent of libzstd."""
    descriptor = 0b1010_0000  # 4-byte Frame_Content_Size, single segment, no checksum
    block = (len(content) << 3 | 1).to_bytes(3, "little")  # raw block, the last one
    return b"\x28\xb5\x2f\xfd" + bytes([descriptor]) + u32(len(content)) + block + content


def _outliers(deltas: list[int], values: bytes) -> Callable[[Source], bytes]:
    """GOP 0 with its outlier blob replaced by these position deltas and element values."""

    def edit(meta: dict[str, Any], blob: bytes) -> None:
        meta.update(outliers=len(deltas), blobs=[meta["blobs"][0], len(blob)])

    def build(s: Source) -> bytes:
        record, sections, entries = s.parts()
        blob = _zstd_raw_frame(b"".join(u64(d) for d in deltas) + values)
        payload = sections[0][1]
        (size,) = struct.unpack_from("<I", payload)
        residuals = payload[4 + size : s.gop_blob(0, 1) - s.offset("GOPD") - 12]
        gop = edit_gop(payload, lambda meta: edit(meta, blob))
        (new_size,) = struct.unpack_from("<I", gop)
        sections[0] = (b"GOPD", gop[: 4 + new_size] + residuals + blob)
        return assemble(record, sections, entries)

    return build


def _claimed_frame(shape: tuple[int, int], dtype: str) -> Callable[[Source], bytes]:
    """A lossless one-frame vector claiming a frame of ``shape`` and ``dtype``, its residual
    blob a 17-byte zstd frame whose Frame_Content_Size is what that frame needs: the header
    and the stream agree, but no zstd frame of 17 bytes can hold it."""
    bits = np.dtype(dtype).itemsize * 8

    def build(s: Source) -> bytes:
        record, sections, entries = s.parts()
        record.update(frame_shape=list(shape), dtype=dtype, quantizer={**record["quantizer"]})
        record["quantizer"]["dtype"] = dtype
        size = shape[0] * shape[1] * bits // 8
        rle = (1 << 17 << 3 | 0b011).to_bytes(3, "little") + b"\0"  # 128 KiB of zeros, last
        blob = b"\x28\xb5\x2f\xfd" + bytes([0b1110_0000]) + u64(size) + rle
        payload = edit_gop(sections[0][1], lambda m: m.update(bits=bits, blobs=[len(blob), 0]))
        (meta,) = struct.unpack_from("<I", payload)
        sections[0] = (b"GOPD", payload[: 4 + meta] + blob)
        return assemble(record, sections, entries)

    return build


def _flip_residual(s: Source) -> bytes:
    position = s.gop_blob(1, 0) + 10
    return s.patch(position, bytes([s.data[position] ^ 0x40]))


def _rans_stream(s: Source) -> Any:
    """GOP 0's tezip.rans stream of a 16-bit source, parsed at the version its header names."""
    from tezip_rans import stream

    blob = s.gop_blob(0, 0)
    shape = (s.spec.index[0][2], *s.spec.header["frame_shape"])
    version = s.spec.header["stages"][-1]["version"]
    data = s.payload(s.offset("GOPD"))[blob - s.offset("GOPD") - 12 :]
    return stream.read(data, shape, 16, version)


def _rans_initial_state(s: Source) -> bytes:
    """Flip a bit of the state a tezip.rans partition starts in (after its header)."""
    blob = s.gop_blob(0, 0)
    start, _ = _rans_stream(s).rans[0]
    return s.patch(blob + start, bytes([s.data[blob + start] ^ 0x10]), fix=s.offset("GOPD"))


def _rans_heavy_weight(s: Source) -> bytes:
    """Overwrite the first two weights of GOP 0's fitted plane (one byte each, after the
    layout byte, the plane's flags and its thresholds) with ``ff 7f``: one varint of 16383."""
    from tezip_rans import kernels, model

    thresholds = _rans_stream(s).choices.parameters[0, 1 : kernels.STORED]
    position = s.gop_blob(0, 0) + 2 + len(model.varints(thresholds))
    return s.patch(position, b"\xff\x7f", fix=s.offset("GOPD"))


def _rans_unordered_bounds(s: Source) -> bytes:
    """Write GOP 0's intensity bounds (one plane) in reverse order: the same bytes,
    rearranged, after the layout byte, the flags, the thresholds and any fitted weights."""
    from tezip_rans import elements, kernels, model

    blob = s.gop_blob(0, 0)
    row = _rans_stream(s).choices.parameters[0]
    bounds = row[elements.BOUNDS : elements.BOUNDS + row[elements.CLASSES] - 1]
    numbers = list(row[1 : kernels.STORED])
    if row[0] == elements.FITTED:
        numbers += [int(elements.zigzag(w)) for w in row[elements.WEIGHTS : elements.CLASSES]]
    start = blob + 2 + len(model.varints(np.array(numbers, np.int64)))
    reversed_bounds = [len(bounds), *(int(elements.zigzag(b)) for b in bounds[::-1])]
    return s.patch(start, model.varints(np.array(reversed_bounds)), fix=s.offset("GOPD"))


def _rans_short_stream(s: Source) -> bytes:
    """GOP 0's residual blob one byte shorter, metadata and section re-assembled."""

    def edit(meta: dict[str, Any]) -> None:
        meta["blobs"][0] -= 1

    record, sections, entries = s.parts()
    payload = sections[0][1]
    size = struct.unpack_from("<I", payload)[0]
    meta = msgpack.unpackb(payload[4 : 4 + size], raw=False)
    residual_end = 4 + size + meta["blobs"][0]
    shortened = payload[: residual_end - 1] + payload[residual_end:]
    sections[0] = (b"GOPD", edit_gop(shortened, edit))
    return assemble(record, sections, entries, s.version)


def _hostile_model(channels: list[int]) -> Callable[[Source], bytes]:
    """Every GOP coded with tezip.prednet and a model of ``channels`` embedded (no tensors:
    the architecture alone is beyond the limits of spec/stages/tezip.prednet.md)."""
    architecture = {"name": "prednet", "channels": channels, "kernel": 3}
    model = ModelFile(architecture, {"scheme": "keyframe-minmax"}).to_bytes()

    def build(s: Source) -> bytes:
        record, sections, entries = s.parts()
        record["predictors"] = [
            {
                "id": "tezip.prednet",
                "version": 2,
                "configuration": {"margin": 1e-5},
                "fingerprint": hashlib.sha256(model).hexdigest(),
            }
        ]
        sections = [(b"MODL", model)] + [
            (kind, edit_gop(payload, lambda meta: meta.update(predictor=0, side=[])))
            for kind, payload in sections
        ]
        return assemble(record, sections, entries)

    return build


TRUNC, SECT, HEAD, STREAM = "TruncatedError", "SectionError", "HeaderError", "StreamError"
END = "truncated or its end is damaged"
STALE = "overlapping or stale offset"

# fmt: off
INVALID_VECTORS = [
    InvalidVector("bad_signature", "'TEZ' became 'TEX'", "SignatureError", "bad signature",
                  lambda s: s.patch(3, b"X")),
    InvalidVector("crlf_to_lf", "CR LF in the signature became LF (text-mode transfer)",
                  "SignatureError", "bad signature", lambda s: s.data[:4] + s.data[5:]),
    InvalidVector("empty", "a file of zero bytes", TRUNC, "inside the signature",
                  lambda s: b""),
    InvalidVector("truncated_signature", "the first 5 bytes", TRUNC, "inside the signature",
                  lambda s: s.data[:5]),
    InvalidVector("truncated_preamble", "the first 12 bytes", TRUNC, "inside the preamble",
                  lambda s: s.data[:12]),
    InvalidVector("truncated_header", "cut in the middle of the header", TRUNC,
                  "inside the header", lambda s: s.data[: 16 + s.spec.header_length // 2]),
    InvalidVector("truncated_header_crc", "cut inside the header CRC", TRUNC,
                  "inside the header CRC", lambda s: s.data[: s.header_end + 2]),
    InvalidVector("truncated_gop", "cut in the middle of the second GOPD section", TRUNC, END,
                  lambda s: s.data[: s.offset("GOPD", 1) + 40]),
    InvalidVector("truncated_index", "cut inside the GIDX section", TRUNC, END,
                  lambda s: s.data[: s.offset("GIDX") + 20]),
    InvalidVector("truncated_last_byte", "the last byte is missing", TRUNC, END,
                  lambda s: s.data[:-1]),
    InvalidVector("header_length_past_end", "header_length (under the cap) past the file end",
                  TRUNC, "inside the header", lambda s: s.patch(12, u32(len(s.data)))),
    InvalidVector("header_oversized", "header_length is 16 MiB + 1, one over the cap", HEAD,
                  "exceeds the 16777216 cap", lambda s: s.patch(12, u32((16 << 20) + 1))),
    InvalidVector("header_crc_mismatch", "one byte of the header changed", "ChecksumError",
                  "header CRC mismatch", lambda s: s.patch(s.data.index(b"tezip 0"), b"T")),
    InvalidVector("header_not_msgpack", "the header starts with 0xC1 (never used), CRC fixed",
                  HEAD, "not valid msgpack", lambda s: s.patch(16, b"\xc1", fix="header")),
    InvalidVector("header_missing_dtype", "the header map lacks 'dtype'", HEAD,
                  "lacks the required field 'dtype'", _header(lambda h: h.pop("dtype"))),
    InvalidVector("header_bad_shape", "frame_shape has one entry", HEAD, "frame_shape",
                  _header(lambda h: h.update(frame_shape=[64]))),
    InvalidVector("header_bad_quantizer", "a grid quantizer with tolerance 0", HEAD,
                  "invalid quantizer record",
                  _header(lambda h: h["quantizer"].update(tolerance=0.0))),
    InvalidVector("header_bool_tolerance", "a grid tolerance of true (a boolean, not 1.0)",
                  HEAD, "invalid quantizer record",
                  _header(lambda h: h["quantizer"].update(tolerance=True)), source="int8_abs"),
    InvalidVector("reserved_flags", "preamble flags = 1, header CRC fixed", "FormatError",
                  "reserved preamble flags", lambda s: s.patch(10, b"\x01", fix="header")),
    InvalidVector("newer_major", "major version 2, header CRC fixed", "VersionError",
                  "format version 2.0", lambda s: s.patch(8, b"\x02", fix="header")),
    InvalidVector("trailer_bad_magic", "end magic 'TZNX'", TRUNC, END,
                  lambda s: s.patch(len(s.data) - 1, b"X")),
    InvalidVector("trailer_crc_mismatch", "the trailer CRC zeroed", "ChecksumError",
                  "trailer CRC mismatch", lambda s: s.patch(len(s.data) - 8, bytes(4))),
    InvalidVector("trailer_stale_offset", "the trailer points at the first GOPD, CRC fixed",
                  SECT, "does not point at a final GOP index",
                  lambda s: s.patch(len(s.data) - 16, u64(s.offset("GOPD")), fix="trailer")),
    InvalidVector("section_crc_mismatch", "one byte of the second GOPD payload changed",
                  "ChecksumError", "CRC mismatch in GOPD section", _flip_residual),
    InvalidVector("index_crc_mismatch", "one byte of the GIDX payload changed", "ChecksumError",
                  "CRC mismatch in GIDX section",
                  lambda s: s.patch(s.offset("GIDX") + 24, b"\x07")),
    InvalidVector("invalid_section_type", "section type 'GO1D', section CRC fixed", SECT,
                  "invalid section type",
                  lambda s: s.patch(s.offset("GOPD"), b"GO1D", fix=s.offset("GOPD"))),
    InvalidVector("unknown_critical_section", "a critical section 'FUTR' before the GOPs", SECT,
                  "unknown critical section 'FUTR'",
                  lambda s: s.rebuild(insert=(0, b"FUTR", b"a future critical feature"))),
    InvalidVector("section_past_end", "a GOPD length field of 2**40", TRUNC,
                  "runs past the end",
                  lambda s: s.patch(s.offset("GOPD", 1) + 4, u64(1 << 40))),
    InvalidVector("section_length_overlaps", "a GOPD length 4 too long: it overlaps the next",
                  SECT, "invalid section type",
                  lambda s: s.patch(s.offset("GOPD") + 4, u64(s.spec.sections[0].length + 4))),
    InvalidVector("two_indexes", "an extra GIDX section between the GOPs", SECT,
                  "more than one GOP index section",
                  lambda s: s.rebuild(insert=(1, b"GIDX", s.payload(s.offset("GIDX"))))),
    InvalidVector("missing_index", "no GIDX; the trailer points at the last GOPD", SECT,
                  "does not point at a final GOP index",
                  lambda s: s.data[: s.offset("GIDX")] + trailer(s.offset("GOPD", 2))),
    InvalidVector("index_stale_offset", "GIDX entry 1 points 1 byte into its GOPD, CRC fixed",
                  SECT, STALE, lambda s: _index_entry(s, 1, 0, u64(s.offset("GOPD", 1) + 1))),
    InvalidVector("index_overlapping_offset", "GIDX entries 0 and 1 name one GOPD, CRC fixed",
                  SECT, STALE, lambda s: _index_entry(s, 1, 0, u64(s.offset("GOPD")))),
    InvalidVector("index_frame_count_mismatch", "the last GIDX entry claims 5 frames, CRC fixed",
                  SECT, "covers 13 frames, header declares 12",
                  lambda s: _index_entry(s, 2, 16, u32(5))),
    InvalidVector("index_entry_count_mismatch", "GIDX count 2 with 3 entries, CRC fixed", SECT,
                  "does not match its 2 entries",
                  lambda s: s.patch(s.offset("GIDX") + 12, u32(2), fix=s.offset("GIDX"))),
    InvalidVector("index_reserved_set", "GIDX entry 0's reserved field is 1, CRC fixed", SECT,
                  "entry 0 is inconsistent", lambda s: _index_entry(s, 0, 20, u32(1))),
    InvalidVector("gop_first_mismatch", "GOP 0 metadata says first = 1, GIDX says 0", STREAM,
                  "metadata disagrees with the GOP index",
                  _gop(lambda m: m.update(first=1))),
    InvalidVector("gop_blob_lengths", "GOP 0 blob lengths exceed the payload", SECT,
                  "do not add up", _gop(lambda m: m["blobs"].insert(0, m["blobs"].pop(0) + 1))),
    InvalidVector("gop_meta_length", "GOP 0 meta_length exceeds the payload, CRC fixed", SECT,
                  "exceeds the payload",
                  lambda s: s.patch(s.offset("GOPD") + 12, u32(1 << 20), fix=s.offset("GOPD"))),
    InvalidVector("gop_predictor_out_of_range", "GOP 0 names predictor #7", STREAM,
                  "predictor #7", _gop(lambda m: m.update(predictor=7))),
    InvalidVector("unknown_stage_id", "the entropy stage is 'tezip.nope'", "UnknownIdError",
                  "unknown stage id 'tezip.nope'",
                  _header(lambda h: h["stages"][-1].update(id="tezip.nope")),
                  structural=False),
    InvalidVector("unknown_predictor_id", "a predictor 'acme.oracle'", "UnknownIdError",
                  "unknown predictor id 'acme.oracle'",
                  _header(lambda h: h["predictors"][0].update(id="acme.oracle")),
                  structural=False),
    InvalidVector("stage_version_newer", "tezip.zstd version 2", "PluginError",
                  "version 2 is newer",
                  _header(lambda h: h["stages"][-1].update(version=2)),
                  structural=False),
    InvalidVector("fingerprint_not_str", "a predictor fingerprint that is an int", HEAD,
                  "predictor: expected {id, version, configuration}",
                  _header(lambda h: h["predictors"][0].update(fingerprint=5))),
    InvalidVector("stage_bad_configuration", "tezip.zstd with level 99", "InputError",
                  "tezip.zstd level must be an integer in 1..22",
                  _header(lambda h: h["stages"][-1]["configuration"].update(level=99)),
                  structural=False),
    InvalidVector("fingerprint_mismatch", "a parameter-free predictor with a fingerprint",
                  "ModelError", "needs the model with fingerprint 0000",
                  _header(lambda h: h["predictors"][0].update(fingerprint="0" * 64)),
                  structural=False),
    InvalidVector("model_too_deep", "an embedded PredNet model of 14 layers (7.8 GB once)",
                  "ModelError", "has 14 layers", _hostile_model([1] * 14), structural=False),
    InvalidVector("model_too_wide", "an embedded PredNet model with a layer of 2000 channels",
                  "ModelError", "a layer of 2000 channels", _hostile_model([1, 2000]),
                  structural=False),
    InvalidVector("corrupt_zstd_blob", "GOP 1 residual zstd block of reserved type, CRC fixed",
                  STREAM, "tezip.zstd: damaged zstd data", lambda s: _reserved_block(s, 1, 0),
                  structural=False),
    InvalidVector("zstd_not_a_frame", "GOP 0 residual blob lacks the zstd magic, CRC fixed",
                  STREAM, "tezip.zstd: not a zstd frame",
                  lambda s: s.patch(s.gop_blob(0, 0), b"\x00", fix=s.offset("GOPD")),
                  structural=False),
    InvalidVector("corrupt_outlier_blob", "outlier zstd block of reserved type, CRC fixed",
                  STREAM, "outliers: damaged zstd data", lambda s: _reserved_block(s, 0, 1),
                  structural=False, source="float32_rel_outliers"),
    InvalidVector("lorenzo_bad_mode", "a tezip.lorenzo mode byte of 9", STREAM,
                  "tezip.lorenzo: unknown mode byte",
                  _gop(lambda m: m.update(stages=[b"\x09" + m["stages"][0][1:]])),
                  structural=False),
    InvalidVector("lf_to_crlf", "the signature's last LF became CR LF (text-mode transfer)",
                  "SignatureError", "bad signature", lambda s: s.data[:7] + b"\r" + s.data[7:]),
    InvalidVector("high_bit_cleared", "the signature's 0x89 became 0x09 (7-bit channel)",
                  "SignatureError", "bad signature", lambda s: s.patch(0, b"\x09")),
    InvalidVector("trailing_garbage", "three zero bytes after the end magic", TRUNC, END,
                  lambda s: s.data + bytes(3)),
    InvalidVector("header_huge_tolerance", "an integer grid tolerance of 1e300 (overflowed once)",
                  "IntegrityError", "frame 0 does not match its stored checksum",
                  _header(lambda h: h["quantizer"].update(tolerance=1e300)),
                  structural=False, source="int8_abs"),
    InvalidVector("gop_offset_huge", "GOP 0 code offset 2**62 on uint8 data (overflowed once)",
                  "IntegrityError", "frame 0 does not match its stored checksum",
                  _gop(lambda m: m.update(offset=1 << 62)), structural=False),
    InvalidVector("header_forged_shape", "frame_shape [65536, 65536]: 48 GiB for 12 frames",
                  STREAM, "zstd frame holds 256 bytes, expected 17179869184",
                  _header(lambda h: h.update(frame_shape=[65536, 65536])), structural=False),
    InvalidVector("outlier_positions_wrap", "outlier deltas 2**63, 2**63 + 5: the sum wraps",
                  STREAM, "outlier positions out of range",
                  _outliers([1 << 63, (1 << 63) + 5], bytes(8)), structural=False,
                  source="float32_rel_outliers"),
    InvalidVector("outlier_count_huge", "GOP 0 declares 10**6 outliers in 576 elements", STREAM,
                  "more outliers than elements", _gop(lambda m: m.update(outliers=10**6)),
                  structural=False, source="float32_rel_outliers"),
    InvalidVector("zstd_claims_4_gib", "one 65536 x 65536 uint8 frame, its zstd frame 17 bytes",
                  STREAM, "a zstd frame of 17 bytes cannot hold 4294967296 bytes",
                  _claimed_frame((65536, 65536), "uint8"), structural=False,
                  source="single_frame"),
    InvalidVector("zstd_claims_256_mib", "one 16384 x 16384 uint8 frame, its zstd frame 17 bytes",
                  STREAM, "a zstd frame of 17 bytes cannot hold 268435456 bytes",
                  _claimed_frame((16384, 16384), "uint8"), structural=False,
                  source="single_frame"),
    InvalidVector("frame_checksum_mismatch", "GOP 0's stored CRC of frame 1 changed, CRC fixed",
                  "IntegrityError", "frame 1 does not match its stored checksum",
                  _gop(lambda m: m["crc"].insert(1, m["crc"].pop(1) ^ 1)),
                  structural=False),
    InvalidVector("rans_layout_byte", "GOP 0's tezip.rans layout byte is 7, CRC fixed", STREAM,
                  "unknown layout byte",
                  lambda s: s.patch(s.gop_blob(0, 0), b"\x07", fix=s.offset("GOPD")),
                  structural=False, source="rans_uint16_previous"),
    InvalidVector("rans_average_in_version_1", "tezip.rans version 1 in the header, its stream "
                  "naming the average predictor of version 2", STREAM,
                  "spatial predictor unknown to version 1",
                  _header(lambda h: h["stages"][-1].update(version=1)),
                  structural=False, source="rans_average"),
    InvalidVector("rans_fitted_in_version_2", "tezip.rans version 2 in the header, its stream "
                  "naming the fitted predictor of version 3", STREAM,
                  "spatial predictor unknown to version 2",
                  _header(lambda h: h["stages"][-1].update(version=2)),
                  structural=False, source="rans_fitted"),
    InvalidVector("rans_fitted_weight", "GOP 0's fitted plane stores a weight as the varint "
                  "16383 (at most 256 may be stored), CRC fixed", STREAM,
                  "holds a number above 256",
                  _rans_heavy_weight,
                  structural=False, source="rans_fitted"),
    InvalidVector("rans_intensity_bounds", "GOP 0's intensity bounds written in reverse order, "
                  "CRC fixed", STREAM, "intensity bounds are not strictly increasing",
                  _rans_unordered_bounds, structural=False, source="rans_intensity"),
    InvalidVector("rans_intensity_in_version_3", "tezip.rans version 3 in the header over a "
                  "version-4 stream with intensity classes (its class count read as the partition "
                  "height, a bound as the table count)", STREAM, "holds a number above 64",
                  _header(lambda h: h["stages"][-1].update(version=3)),
                  structural=False, source="rans_intensity"),
    InvalidVector("rans_initial_state", "GOP 0's first tezip.rans partition starts in another "
                  "state, CRC fixed", STREAM, "partition 0 is damaged", _rans_initial_state,
                  structural=False, source="rans_uint16_previous"),
    InvalidVector("rans_partition_lengths", "GOP 0's tezip.rans stream lost its last byte, "
                  "lengths and CRCs fixed", STREAM, "do not add up", _rans_short_stream,
                  structural=False, source="rans_uint16_previous"),
    InvalidVector("phase_out_of_range", "GOP 0's grid phase is the step (7 for --abs 3)",
                  STREAM, "not a number in [0, step)", _gop(lambda m: m.update(phase=7)),
                  source="rans_uint16_previous"),
    InvalidVector("phase_missing", "GOP 0 of a phased grid records no phase", STREAM,
                  "not a number in [0, step)", _gop(lambda m: m.pop("phase")),
                  source="rans_uint16_previous"),
    InvalidVector("motion_side_cut", "frame 1's tezip.motion side information cut to a byte",
                  STREAM, "tezip.motion side information ends before the last vector",
                  _gop(lambda m: m["side"].__setitem__(1, m["side"][1][:1])),
                  structural=False, source="motion_rgb"),
    InvalidVector("motion_side_reach", "a tezip.motion vector beyond the reach of 4",
                  STREAM, "tezip.motion side information holds a vector beyond the search range",
                  _gop(lambda m: m["side"].__setitem__(1, b"\x01" + b"\xff" * 80)),
                  structural=False, source="motion_abs"),
    InvalidVector("phase_unphased", "a GOP of an unphased grid records a phase", STREAM,
                  "the quantizer has none", _gop(lambda m: m.update(phase=1))),
    InvalidVector("lossless_gop_phase", "GOP 0, coded lossless, also records a grid phase",
                  STREAM, "lossless GOP records a grid phase",
                  _gop(lambda m: m.update(phase=1)), source="lossless_gop"),
    InvalidVector("lossless_gop_unlisted", "GOP 0 is lossless, but the quantizer lacks "
                  "'lossless'", STREAM, "allows no lossless GOPs",
                  _header(lambda h: h["quantizer"].pop("lossless")), source="lossless_gop"),
    InvalidVector("lossless_gop_false", "GOP 0 records 'lossless': false (absent means so)",
                  SECT, "'lossless' must be true", _gop(lambda m: m.update(lossless=False)),
                  source="lossless_gop"),
    InvalidVector("lossless_gop_width", "GOP 0, coded lossless, declares 16-bit codes for "
                  "uint8", STREAM, "code width other than the dtype's",
                  _gop(lambda m: m.update(bits=16)), source="lossless_gop"),
    InvalidVector("lossless_float_grid", "a float32 grid that allows lossless GOPs", HEAD,
                  "invalid quantizer record",
                  _header(lambda h: h["quantizer"].update(lossless="gop")),
                  source="rans_float32_rel"),
]
# fmt: on


# ------------------------------------------------------------------------------ write, check


def _write(path: Path, data: bytes) -> None:
    with open(path, "xb") as handle:  # "x": never overwrite
        handle.write(data)


def _sidecar(path: Path, record: dict[str, Any]) -> None:
    with open(path.with_suffix(".json"), "x") as handle:
        json.dump(record, handle, indent=1)
        handle.write("\n")


def _bound_problem(original: np.ndarray, decoded: np.ndarray, bound: dict[str, Any]) -> str | None:
    """Why a freshly packed vector misses its bound (lossless and non-finite values: exactly)."""
    if bound["mode"] == "lossless":
        return None if original.tobytes() == decoded.tobytes() else "lossless vector differs"
    finite = np.isfinite(original)
    if original[~finite].tobytes() != decoded[~finite].tobytes():
        return "non-finite elements differ"
    values = original[finite].astype(np.float64)
    error = np.abs(decoded[finite].astype(np.float64) - values)
    limit = bound["pwrel"] * np.abs(values) if bound["mode"] == "pwrel" else bound["resolved"]
    return None if bool(np.all(error <= limit)) else "bound exceeded"


def write_valid(root: Path = VECTORS) -> list[str]:
    """Pack the missing valid vectors into ``root/valid``; returns problems."""
    valid, problems = root / "valid", []
    for vector in VALID_VECTORS:
        path = valid / f"{vector.name}.tez"
        if path.exists():
            continue
        frames = vector.make(np.random.default_rng(RNG_SEED))
        options = WRITTEN_WITH | vector.options
        tezip.pack(frames, path, overwrite=False, threads=1, **options)
        with tezip.open(path) as archive:
            problem = _bound_problem(frames, archive[:], archive.header.bound)
        if problem:
            path.unlink()
            problems.append(f"{path.name}: {problem}")
            continue
        _sidecar(path, _valid_record(path, vector.description, vector.options))
    for name, (description, source, build) in DERIVED_VALID.items():
        path = valid / f"{name}.tez"
        if not path.exists():
            _write(path, build(Source(valid / f"{source}.tez")))
            _sidecar(path, _valid_record(path, description, {"derived_from": source}))
    return problems


def _valid_record(path: Path, description: str, options: dict[str, Any]) -> dict[str, Any]:
    return {
        "description": description,
        "options": options,
        "header": header_summary(path),
        "decoded": decoded_summary(path),
    }


def write_invalid(root: Path = VECTORS) -> list[str]:
    """Derive the missing invalid vectors into ``root/invalid`` from those in ``root/valid``.

    A vector tezip does not reject as its sidecar says is reported and not written.
    """
    problems = []
    for vector in INVALID_VECTORS:
        path = root / "invalid" / f"{vector.name}.tez"
        if path.exists():
            continue
        data = vector.build(Source(root / "valid" / f"{vector.source}.tez"))
        record = {
            "description": vector.description,
            "derived_from": vector.source,
            "error": vector.error,
            "code": getattr(errors, vector.error).code,
            "message": vector.message,
            "structural": vector.structural,
        }
        with tempfile.TemporaryDirectory() as folder:
            trial = Path(folder) / path.name
            trial.write_bytes(data)
            problem = error_problem(raised(trial), record)
        if problem:
            problems.append(f"{path.name}: {problem}")
            continue
        _write(path, data)
        _sidecar(path, record)
    return problems


def check(root: Path = VECTORS) -> list[str]:
    """Every existing vector under ``root`` still behaves as its sidecar records."""
    problems = []
    for path in sorted((root / "valid").glob("*.tez")):
        expected = json.loads(path.with_suffix(".json").read_text())
        try:
            if decoded_summary(path) != expected["decoded"]:
                problems.append(f"{path.name}: decodes to other data")
            if header_summary(path) != expected["header"]:
                problems.append(f"{path.name}: header summary differs")
        except TezipError as error:
            problems.append(f"{path.name}: {type(error).__name__}: {error}")
    for path in sorted((root / "invalid").glob("*.tez")):
        expected = json.loads(path.with_suffix(".json").read_text())
        problem = error_problem(raised(path), expected)
        if problem:
            problems.append(f"{path.name}: {problem}")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="verify the existing vectors")
    parser.add_argument(
        "--out", type=Path, default=VECTORS, help="folder holding valid/ and invalid/"
    )
    args = parser.parse_args(argv)
    if args.check:
        problems = check(args.out)
    else:
        (args.out / "valid").mkdir(parents=True, exist_ok=True)
        (args.out / "invalid").mkdir(parents=True, exist_ok=True)
        problems = write_valid(args.out) + write_invalid(args.out)
    for problem in problems:
        print(problem, file=sys.stderr)
    total = len(list(args.out.glob("*/*.tez")))
    print(f"{total} vectors, {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
