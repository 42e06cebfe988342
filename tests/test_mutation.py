"""Mutation tests of the reader (FORMAT.md section 10): damage is an error, never wrong data.

The golden valid vectors are mutated with seeded RNGs: single bytes changed at random and at
every structural boundary, truncation to every length, runs of random garbage, length and
offset fields set huge (raw, and with the CRCs fixed up so that the damage reaches the parsers
behind them), random bytes changed behind fixed-up CRCs, and msgpack fields of the header and
of GOP metadata edited. Every mutant must raise a ``TezipError`` of the family its damage
allows (for raw damage: the exact class FORMAT.md's validation order implies, and the code
``tools/spec_reader.py`` reports) or decode to exactly the expected frames (damage in an
ancillary section, an informative header field). ``tezip inspect`` must cope as well.

Each batch runs in a subprocess under an address-space limit, so a size field that drives a
huge allocation fails (as a ``MemoryError``) instead of swapping the machine; an alarm catches
hangs. One batch by hand, printing its JSON report::

    python tests/test_mutation.py FAMILY [SEED [SCALE]]
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import os
import random
import resource
import signal
import struct
import subprocess
import sys
import tempfile
import traceback
import tracemalloc
import zlib
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

import msgpack
import numpy as np
import pytest
from tool_modules import load_tool

import tezip
from tezip import errors
from tezip.inspection import describe_archive, format_description

ROOT = Path(__file__).resolve().parents[1]
VALID = sorted((ROOT / "spec" / "vectors" / "valid").glob("*.tez"))
INVALID = sorted((ROOT / "spec" / "vectors" / "invalid").glob("*.tez"))
#: address space a batch may add after warming up; every vector decodes in a few MiB
HEADROOM = 512 << 20
ALARM_SECONDS = 10  # per mutant


# ---------------------------------------------------------------------------- what may happen

OK = "decoded"
SIG, VER, FMT = "SignatureError", "VersionError", "FormatError"
TRUNC, CRC, HEAD, SECT = "TruncatedError", "ChecksumError", "HeaderError", "SectionError"
#: a single changed byte in a region of an unmodified file: the outcomes section 10 allows
RAW = {
    "signature": {SIG},
    "major": {VER},
    "minor": {CRC},
    "flags": {FMT},
    "header_length": {HEAD, TRUNC, CRC},
    "header": {CRC},
    "header_crc": {CRC},
    "critical.type": {SECT},
    "critical.length": {TRUNC, SECT, CRC},
    "critical.payload": {CRC},
    "critical.crc": {CRC},
    "ancillary.type": {SECT, OK},  # letters 2-4 carry no meaning; a critical one is unknown
    "ancillary.length": {TRUNC, SECT, CRC},
    "ancillary.payload": {OK},  # readers skip unknown ancillary sections unread
    "ancillary.crc": {OK},
    "index_offset": {CRC},
    "trailer_crc": {CRC},
    "end_magic": {TRUNC},
}


@dataclass(frozen=True)
class Expect:
    """The outcomes a mutant allows: exact class names (raw damage) or error families."""

    families: tuple[str, ...] = ()
    names: frozenset[str] = frozenset()
    raw: bool = True  # the spec reader must then report the same code as tezip

    def allows(self, error: BaseException | None) -> bool:
        if error is None:
            return OK in self.names or "decodes" in self.families
        if isinstance(error, errors.DuplicateIdError | errors.DependencyError):
            return False
        if type(error).__name__ in self.names:
            return True
        return any(isinstance(error, getattr(errors, f)) for f in self.families if f != "decodes")


#: damage behind fixed-up CRCs: in the header anything section 10 names, in a GOP format errors
HEADER_DAMAGE = Expect(
    ("FormatError", "IntegrityError", "InputError", "PluginError", "ModelError", "decodes"),
    raw=False,
)
GOP_DAMAGE = Expect(families=("FormatError", "IntegrityError", "decodes"), raw=False)


def raw(*regions: str) -> Expect:
    """Raw damage to bytes of these regions (a key of RAW each)."""
    return Expect(names=frozenset[str]().union(*(RAW[r] for r in regions)))


def exactly(*names: str, raw_damage: bool = False) -> Expect:
    """Only these error classes."""
    return Expect(names=frozenset(names), raw=raw_damage)


# ---------------------------------------------------------------------------- file structure


#: shape, dtype and SHA-256 of decoded frames
Digest = tuple[list[int], str, str]
#: GIDX entry fields that hold sizes or offsets: (start in the entry, width, name)
ENTRY_FIELDS = ((0, 8, "offset"), (8, 8, "first"), (16, 4, "frames"))


@dataclass(frozen=True)
class Field:
    region: str  # a key of RAW
    start: int
    end: int
    name: str  # for reports


@dataclass
class Vector:
    """A valid vector: its bytes, expected output and fields (found by the spec reader)."""

    path: Path
    data: bytes
    digest: Digest
    fields: list[Field]
    boundaries: list[tuple[int, str]]  # first and last byte of every field and sub-field
    lengths: list[tuple[int, int, str]]  # (offset, width, name) of every size/offset field
    header: dict[str, Any]
    sections: list[tuple[bytes, bytes]]  # everything before GIDX, for re-assembly
    entries: list[tuple[int, int]]

    @classmethod
    def load(cls, path: Path) -> Vector:
        spec = load_tool("spec_reader").SpecReader(str(path))
        data = path.read_bytes()
        decoded = json.loads(path.with_suffix(".json").read_text())["decoded"]
        n, size = spec.header_length, len(data)
        fields = [
            Field("signature", 0, 8, "signature"),
            Field("major", 8, 9, "major"),
            Field("minor", 9, 10, "minor"),
            Field("flags", 10, 12, "flags"),
            Field("header_length", 12, 16, "header_length"),
            Field("header", 16, 16 + n, "header"),
            Field("header_crc", 16 + n, 20 + n, "header_crc"),
        ]
        subfields: list[tuple[int, int, str]] = []
        lengths = [(12, 4, "header_length"), (size - 16, 8, "index_offset")]
        for s in spec.sections:
            kind = "critical" if s.critical else "ancillary"
            o, end = s.offset, s.offset + 12 + s.length
            fields += [
                Field(f"{kind}.type", o, o + 4, f"{s.type}@{o}.type"),
                Field(f"{kind}.length", o + 4, o + 12, f"{s.type}@{o}.length"),
                Field(f"{kind}.payload", o + 12, end, f"{s.type}@{o}.payload"),
                Field(f"{kind}.crc", end, end + 4, f"{s.type}@{o}.crc"),
            ]
            lengths.append((o + 4, 8, f"{s.type}@{o}.length"))
            if s.type == "GOPD":
                (meta,) = struct.unpack_from("<I", data, o + 12)
                blobs = msgpack.unpackb(data[o + 16 : o + 16 + meta])["blobs"]
                split = o + 16 + meta + blobs[0]
                subfields += [(o + 12, o + 16, "meta_length"), (o + 16, o + 16 + meta, "meta")]
                subfields += [(o + 16 + meta, split, "residuals"), (split, end, "exact")]
                lengths.append((o + 12, 4, f"GOPD@{o}.meta_length"))
            elif s.type == "GIDX":
                subfields.append((o + 12, o + 16, "count"))
                lengths.append((o + 12, 4, "GIDX.count"))
                for i in range(len(spec.index)):
                    e = o + 16 + 24 * i
                    for start, width, name in ENTRY_FIELDS:
                        subfields.append((e + start, e + start + width, f"entry{i}.{name}"))
                        lengths.append((e + start, width, f"GIDX.entry{i}.{name}"))
                    subfields.append((e + 20, e + 24, f"entry{i}.reserved"))
        fields += [
            Field("index_offset", size - 16, size - 8, "index_offset"),
            Field("trailer_crc", size - 8, size - 4, "trailer_crc"),
            Field("end_magic", size - 4, size, "end_magic"),
        ]
        spans = [(f.start, f.end, f.name) for f in fields] + subfields
        boundaries = sorted(
            {(p, name) for start, end, name in spans if end > start for p in (start, end - 1)}
        )
        source = load_tool("make_vectors").Source(path)
        header, sections, entries = source.parts()
        return cls(
            path,
            data,
            (decoded["shape"], decoded["dtype"], decoded["sha256"]),
            fields,
            boundaries,
            lengths,
            header,
            sections,
            entries,
        )

    def region(self, position: int) -> str:
        for f in self.fields:
            if f.start <= position < f.end:
                return f.region
        raise ValueError(f"{position} is outside {self.path.name}")


# ---------------------------------------------------------------------------- byte editing


def fix_crcs(data: bytes) -> bytes:
    """Recompute the header, section and trailer CRCs wherever the structure still parses."""
    out = bytearray(data)
    if len(out) < 36:
        return data
    (n,) = struct.unpack_from("<I", out, 12)
    if 20 + n > len(out) - 16:
        return data
    out[16 + n : 20 + n] = struct.pack("<I", zlib.crc32(out[8 : 16 + n]))
    position, end = 20 + n, len(out) - 16
    while position + 12 <= end:
        (length,) = struct.unpack_from("<Q", out, position + 4)
        if position + 16 + length > end:
            break
        crc_at = position + 12 + length
        out[crc_at : crc_at + 4] = struct.pack("<I", zlib.crc32(out[position:crc_at]))
        position += 16 + length
    out[-8:-4] = struct.pack("<I", zlib.crc32(out[-16:-8]))
    return bytes(out)


def put(data: bytes, offset: int, value: bytes) -> bytes:
    """``data`` with ``value`` written over it at ``offset``."""
    return data[:offset] + value + data[offset + len(value) :]


def extremes(width: int, current: int) -> list[int]:
    """Values worth trying in an unsigned field of ``width`` bytes that holds ``current``."""
    top = (1 << 8 * width) - 1
    values = {top, top - 1, 1 << (8 * width - 1), 0, 1, current + 1, max(current - 1, 0)}
    if width >= 4:
        values |= {(16 << 20) + 1, 1 << 31, (1 << 32) - 1}
    if width == 8:
        values |= {1 << 40, 1 << 63}
    return sorted(v for v in values if v <= top and v != current)


@dataclass(frozen=True)
class Mutant:
    label: str
    data: bytes
    expect: Expect


# ---------------------------------------------------------------------------- mutation families


def boundary_flips(vector: Vector, rng: random.Random, scale: int) -> Iterator[Mutant]:
    """Every first and last byte of every field and sub-field, with three masks (or nine)."""
    masks = (0x01, 0x80, 0xFF) if scale == 1 else (*(1 << bit for bit in range(8)), 0xFF)
    for position, name in vector.boundaries:
        region = vector.region(position)
        for mask in masks:
            data = put(vector.data, position, bytes([vector.data[position] ^ mask]))
            yield Mutant(f"{name}[{position}]^{mask:#04x}", data, raw(region))


def random_flips(vector: Vector, rng: random.Random, scale: int) -> Iterator[Mutant]:
    for _ in range(100 * scale):
        position = rng.randrange(len(vector.data))
        mask = rng.randrange(1, 256)
        data = put(vector.data, position, bytes([vector.data[position] ^ mask]))
        yield Mutant(f"[{position}]^{mask:#04x}", data, raw(vector.region(position)))


def garbage(vector: Vector, rng: random.Random, scale: int) -> Iterator[Mutant]:
    """Runs of random bytes (overwritten, inserted or deleted) anywhere."""
    size = len(vector.data)
    for _ in range(40 * scale):
        start, count = rng.randrange(size), rng.randint(2, 64)
        junk = rng.randbytes(count)
        how = rng.choice(("overwrite", "insert", "delete"))
        if how == "overwrite":
            data = (vector.data[:start] + junk + vector.data[start + count :])[:size]
            regions = {vector.region(p) for p in range(start, min(start + count, size))}
            expect = raw(*regions)
        elif how == "insert":
            data = vector.data[:start] + junk + vector.data[start:]
            expect = Expect(families=("FormatError",))
        else:
            data = vector.data[:start] + vector.data[start + count :]
            expect = Expect(families=("FormatError",))
        if data != vector.data:
            yield Mutant(f"{how} {count} at {start}", data, expect)


def truncations(vector: Vector, rng: random.Random, scale: int) -> Iterator[Mutant]:
    """Every prefix of the file, and the whole file with junk appended."""
    for length in range(len(vector.data)):
        data = vector.data[:length]
        if scale > 1 or length < 64 or rng.random() < 0.25 or vector.path.stem == "single_frame":
            yield Mutant(f"first {length} bytes", data, truncated(data))
    for count in (1, 3, 4, 16, 17):
        data = vector.data + rng.randbytes(count)
        yield Mutant(f"{count} bytes appended", data, truncated(data))
    yield Mutant("trailer repeated", vector.data + vector.data[-16:], raw("critical.type"))


def truncated(data: bytes) -> Expect:
    if data.endswith(b"TZND"):  # by chance looks complete: any format error will do
        return Expect(families=("FormatError",))
    return exactly(TRUNC, raw_damage=True)


def huge_lengths(vector: Vector, rng: random.Random, scale: int) -> Iterator[Mutant]:
    """Every size and offset field set to extremes: raw, and with every CRC fixed up."""
    for offset, width, name in vector.lengths:
        current = int.from_bytes(vector.data[offset : offset + width], "little")
        for value in extremes(width, current):
            data = put(vector.data, offset, value.to_bytes(width, "little"))
            yield Mutant(f"{name}={value}", data, raw(vector.region(offset)))
            fixed = fix_crcs(data)
            if name.startswith("GIDX.") or name == "index_offset":
                expect = exactly(SECT)  # the index or trailer now contradicts the sections
            elif name.endswith("meta_length"):
                expect = exactly(SECT)
            else:
                expect = Expect(families=("FormatError",), raw=False)
            yield Mutant(f"{name}={value} (CRCs fixed)", fixed, expect)


def fixed_flips(vector: Vector, rng: random.Random, scale: int) -> Iterator[Mutant]:
    """Random bytes of the header or a GOP changed, CRCs fixed: the parsers behind them."""
    gops = [f for f in vector.fields if f.name.startswith("GOPD") and f.region.endswith("payload")]
    header = next(f for f in vector.fields if f.region == "header")
    for _ in range(60 * scale):
        target = header if rng.random() < 0.4 else rng.choice(gops)
        position = rng.randrange(target.start, target.end)
        count = rng.choice((1, 1, 1, 2, 4))
        data = put(vector.data, position, rng.randbytes(count)[: target.end - position])
        if data == vector.data:
            continue
        expect = HEADER_DAMAGE if target is header else GOP_DAMAGE
        yield Mutant(f"{target.name}[{position}] x{count} (CRCs fixed)", fix_crcs(data), expect)


INTS = (0, 1, -1, 2, 7, 8, 16, 255, 256, 1 << 16, (1 << 31) - 1, 1 << 31, (1 << 32) - 1, 1 << 32)
INTS += (1 << 40, 1 << 62, (1 << 63) - 1, -(1 << 63), (1 << 64) - 1, -(1 << 31))
OTHERS: tuple[Any, ...] = (None, True, 1.5, float("nan"), float("inf"), -0.0, 1e300, "", "x")
OTHERS += (b"", b"\x00" * 9, [], {}, [0], {"x": 1}, "uint64", "float16", "tezip.density")


def edit(value: Any, rng: random.Random) -> Any:
    """A copy of a msgpack value with one node changed, removed or added."""
    value = copy.deepcopy(value)
    nodes: list[tuple[Any, Any]] = []  # (container, key) of every node

    def walk(node: Any) -> None:
        items = node.items() if isinstance(node, dict) else enumerate(node)
        for key, child in items:
            nodes.append((node, key))
            if isinstance(child, dict | list):
                walk(child)

    walk(value)
    container, key = rng.choice(nodes)
    old = container[key]
    choice = rng.random()
    if choice < 0.15:
        del container[key]
    elif choice < 0.25 and isinstance(old, dict | list):
        extra = rng.choice(INTS + OTHERS)
        if isinstance(old, list):
            old.append(extra)
        else:
            old[rng.choice(("surprise", *old))] = extra
    elif isinstance(old, int) and not isinstance(old, bool) and choice < 0.7:
        container[key] = rng.choice((*INTS, old + 1, old - 1, -old))
    elif isinstance(old, bytes) and old and choice < 0.7:
        flipped = bytearray(old)
        flipped[rng.randrange(len(old))] ^= rng.randrange(1, 256)
        container[key] = bytes(flipped)
    else:
        container[key] = rng.choice(INTS + OTHERS)
    return value


def field_edits(vector: Vector, rng: random.Random, scale: int) -> Iterator[Mutant]:
    """msgpack fields of the header or of one GOP's metadata edited; the file re-assembled."""
    make_vectors = load_tool("make_vectors")
    gops = [i for i, (kind, _) in enumerate(vector.sections) if kind == b"GOPD"]
    for _ in range(80 * scale):
        sections = list(vector.sections)
        if rng.random() < 0.4:
            header, expect, where = edit(vector.header, rng), HEADER_DAMAGE, "header"
        else:
            header, expect = vector.header, GOP_DAMAGE
            number = rng.choice(gops)
            payload = sections[number][1]

            def replace(meta: dict[str, Any]) -> None:
                edited = edit(meta, rng)
                meta.clear()
                meta.update(edited)

            gop = make_vectors.edit_gop(payload, replace)
            sections[number], where = (b"GOPD", gop), f"GOP section {number}"
            if len(gops) > 1 and rng.random() < 0.1:  # also swap two GOPs: the index is stale
                a, b = rng.sample(gops, 2)
                sections[a], sections[b] = sections[b], sections[a]
        try:
            data = make_vectors.assemble(header, sections, vector.entries)
        except (TypeError, ValueError, OverflowError):
            continue  # msgpack cannot encode the edit (e.g. an integer beyond 64 bits)
        if data != vector.data:
            yield Mutant(f"{where} edited", data, expect)


FAMILIES: dict[str, Callable[[Vector, random.Random, int], Iterator[Mutant]]] = {
    "boundary_flips": boundary_flips,
    "random_flips": random_flips,
    "garbage": garbage,
    "truncations": truncations,
    "huge_lengths": huge_lengths,
    "fixed_flips": fixed_flips,
    "field_edits": field_edits,
}


# ---------------------------------------------------------------------------- the worker


class Hang(BaseException):
    """A mutant took longer than ALARM_SECONDS."""


def _alarm(signum: int, frame: FrameType | None) -> None:
    raise Hang(f"no result after {ALARM_SECONDS} s")


def _limit_memory() -> int | None:
    """Cap the address space at what is mapped now plus HEADROOM (Linux only)."""
    try:
        status = Path("/proc/self/status").read_text()
    except OSError:
        return None
    mapped = next(int(line.split()[1]) << 10 for line in status.splitlines() if "VmSize" in line)
    limit = mapped + HEADROOM
    resource.setrlimit(resource.RLIMIT_AS, (limit, resource.getrlimit(resource.RLIMIT_AS)[1]))
    return limit


def _digest(frames: np.ndarray) -> Digest:
    little = np.ascontiguousarray(frames.astype(frames.dtype.newbyteorder("<"), copy=False))
    return list(frames.shape), frames.dtype.name, hashlib.sha256(little.tobytes()).hexdigest()


def _same_frames(got: Digest, expected: Digest, exact_shape: bool) -> bool:
    """Bit-identical frames; an edited header may legitimately reshape them (``[H, W, 1]``)."""
    if exact_shape or got[1:] != expected[1:]:
        return got == expected
    return bool(np.prod(got[0]) == np.prod(expected[0]))


def _attempt(action: Callable[[], Any]) -> tuple[Any, BaseException | None]:
    try:
        return action(), None
    except Hang:
        raise
    except BaseException as error:  # judged by the caller, MemoryError included
        return None, error


def judge(path: Path, mutant: Mutant, expected: Digest) -> str | None:
    """Why a mutant's outcome is not allowed (None if it is); its outcome is counted."""
    spec_reader = load_tool("spec_reader")
    path.write_bytes(mutant.data)
    signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(ALARM_SECONDS)
    try:
        frames, error = _attempt(lambda: tezip.unpack(path))
        _, spec_error = _attempt(lambda: spec_reader.SpecReader(str(path)))
        _, inspect_error = _attempt(lambda: format_description(describe_archive(path)))
    except Hang as hang:
        return f"{mutant.label}: hangs ({hang})"
    finally:
        signal.alarm(0)
    OUTCOMES[type(error).__name__ if error else OK] += 1
    if error is not None and not isinstance(error, errors.TezipError):
        text = "".join(traceback.format_exception(error)[-3:]).strip()
        return f"{mutant.label}: {type(error).__name__} escaped: {text}"
    if not mutant.expect.allows(error):
        return f"{mutant.label}: {type(error).__name__ if error else OK} ({error}) not allowed"
    if error is None and not _same_frames(_digest(frames), expected, mutant.expect.raw):
        return f"{mutant.label}: decoded to other frames {_digest(frames)[:2]}"
    if error is not None and (not str(error).strip() or "\n" in str(error)):
        return f"{mutant.label}: unhelpful message {str(error)!r}"
    if inspect_error is not None and not isinstance(inspect_error, errors.FormatError):
        return f"{mutant.label}: inspect raised {type(inspect_error).__name__}: {inspect_error}"
    if error is None and inspect_error is not None:
        return f"{mutant.label}: decodes, but inspect fails: {inspect_error}"
    if spec_error is not None and not hasattr(spec_error, "code"):
        return f"{mutant.label}: spec reader raised {type(spec_error).__name__}: {spec_error}"
    if error is None and spec_error is not None:
        return f"{mutant.label}: decodes, but the spec reader says {spec_error}"
    if mutant.expect.raw and isinstance(error, errors.FormatError):
        spec_code = getattr(spec_error, "code", None)
        if spec_code != error.code:
            return f"{mutant.label}: tezip says [{error.code}] {error}, spec reader [{spec_code}]"
    return None


def check_invalid_vectors() -> list[str]:
    """The invalid vectors raise their recorded errors under the memory limit too."""
    problems = []
    for path in INVALID:
        expected = json.loads(path.with_suffix(".json").read_text())
        _, error = _attempt(lambda path=path: tezip.unpack(path))
        OUTCOMES[type(error).__name__ if error else OK] += 1
        if type(error).__name__ != expected["error"]:
            problems.append(f"{path.name}: {type(error).__name__} ({error})")
    return problems


OUTCOMES: Counter[str] = Counter()


def run_batch(family: str, seed: int, scale: int) -> dict[str, Any]:
    """Mutate every valid vector with one family; the report the tests read."""
    vectors = [Vector.load(path) for path in VALID]
    for vector in vectors:  # warm up (imports, tables, thread pools) before the limit
        tezip.unpack(vector.path)
    limit = _limit_memory()
    failures, count = [], 0
    with tempfile.TemporaryDirectory() as folder:
        if family == "invalid_vectors":
            failures, count = check_invalid_vectors(), len(INVALID)
        for vector in vectors if family in FAMILIES else ():
            rng = random.Random(f"{seed}:{family}:{vector.path.stem}")
            target = Path(folder) / f"mutant-of-{vector.path.name}"
            for mutant in FAMILIES[family](vector, rng, scale):
                count += 1
                problem = judge(target, mutant, vector.digest)
                if problem:
                    failures.append(f"{vector.path.stem}: {problem}")
    return {
        "family": family,
        "mutants": count,
        "outcomes": dict(OUTCOMES),
        "failures": failures[:25],
        "failure_count": len(failures),
        "memory_limit": limit,
    }


def main(argv: list[str]) -> int:
    family, seed, scale = [*argv, "1", "1"][:3]
    print(json.dumps(run_batch(family, int(seed), int(scale))))
    return 0


# ---------------------------------------------------------------------------- the tests


def run_batches(jobs: list[tuple[str, int, int]], timeout: int = 600) -> dict[str, dict[str, Any]]:
    """Run batches ``(family, seed, scale)`` as subprocesses, one per CPU at a time.

    Few malloc arenas: each reserves address space, which the batch's limit counts.
    """
    env = {**os.environ, "MALLOC_ARENA_MAX": "2", "OPENBLAS_NUM_THREADS": "1"}
    queue, running, reports = list(jobs), [], {}
    while queue or running:
        while queue and len(running) < (os.cpu_count() or 1):
            family, seed, scale = queue.pop(0)
            command = [sys.executable, __file__, family, str(seed), str(scale)]
            process = subprocess.Popen(
                command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
            )
            running.append((family, process))
        family, process = running.pop(0)
        try:
            out, err = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            out, err = process.communicate()
        reports[family] = (
            json.loads(out) if process.returncode == 0 else {"crashed": err[-4000:] or out}
        )
    return reports


#: family -> (least mutants, outcomes that must occur: the test sees the damage it aims at)
DEFAULT = {
    "huge_lengths": (2500, {HEAD, TRUNC, CRC, SECT}),
    "boundary_flips": (2500, {SIG, VER, FMT, HEAD, TRUNC, CRC, SECT, OK}),
    "random_flips": (1500, {CRC}),
    "truncations": (5000, {TRUNC}),
    "fixed_flips": (800, {HEAD, SECT, "StreamError", "IntegrityError", OK}),
    "field_edits": (1000, {HEAD, SECT, "StreamError", "IntegrityError", "UnknownIdError", OK}),
    "garbage": (500, {CRC, TRUNC, SECT}),
    "invalid_vectors": (len(INVALID), {"ModelError", "InputError", "PluginError"}),
}
#: the wider sweep: family -> (seed, scale)
SLOW = {
    "random_flips": (2, 4),
    "field_edits": (2, 4),
    "fixed_flips": (2, 4),
    "boundary_flips": (1, 2),  # nine masks instead of three
    "truncations": (1, 2),  # every length of every vector
    "garbage": (2, 4),
}


@pytest.fixture(scope="module")
def reports() -> dict[str, dict[str, Any]]:
    return run_batches([(family, 1, 1) for family in DEFAULT])


@pytest.fixture(scope="module")
def slow_reports() -> dict[str, dict[str, Any]]:
    return run_batches([(family, seed, scale) for family, (seed, scale) in SLOW.items()])


def _check(report: dict[str, Any], least: int, outcomes: set[str]) -> None:
    assert "crashed" not in report, report.get("crashed")
    assert report["failure_count"] == 0, "\n".join(report["failures"])
    assert report["mutants"] >= least, report
    missing = outcomes - set(report["outcomes"])
    assert not missing, f"never saw {missing}: {report['outcomes']}"
    if sys.platform.startswith("linux"):
        assert report["memory_limit"], "the address-space limit was not set"


@pytest.mark.parametrize("family", list(DEFAULT))
def test_mutants_fail_cleanly(family: str, reports: dict[str, dict[str, Any]]) -> None:
    least, outcomes = DEFAULT[family]
    _check(reports[family], least, outcomes)


@pytest.mark.slow
@pytest.mark.parametrize("family", list(SLOW))
def test_mutants_fail_cleanly_wider(family: str, slow_reports: dict[str, dict[str, Any]]) -> None:
    least, outcomes = DEFAULT[family]
    _check(slow_reports[family], SLOW[family][1] * least, outcomes)


def test_worker_reports_a_wrong_decode(tmp_path: Path) -> None:
    """The judge is not vacuous: a mutant that 'decodes' to other frames is reported."""
    vector = Vector.load(VALID[0])
    other = (vector.digest[0], vector.digest[1], "0" * 64)
    OUTCOMES.clear()
    problem = judge(tmp_path / "m.tez", Mutant("same bytes", vector.data, raw("header")), other)
    assert problem is not None and "not allowed" in problem
    skipped = raw("ancillary.crc")  # allows a decode, so the frames are compared
    problem = judge(tmp_path / "m.tez", Mutant("same bytes", vector.data, skipped), other)
    assert problem is not None and "decoded to other frames" in problem
    flipped = put(vector.data, 0, b"\x00")
    assert judge(tmp_path / "m.tez", Mutant("flip", flipped, raw("signature")), other) is None
    assert judge(tmp_path / "m.tez", Mutant("flip", flipped, raw("major")), other) is not None


# ---------------------------------------------------------------------------- regressions


@pytest.mark.parametrize("dtype", ["uint8", "int8", "uint16", "int16", "uint32", "int32"])
@pytest.mark.parametrize("tolerance", [1, 2.5, 1000, 3e9, 1e300])
def test_integer_grid_decoding_is_exact_for_every_q(dtype: str, tolerance: float) -> None:
    """``min(max(q * step, MIN), MAX)`` with an exact product (FORMAT.md 5.2).

    Found by the mutation tests: a large GOP offset or tolerance raised ``OverflowError``.
    """
    from tezip.quantize import GridQuantizer

    info = np.iinfo(dtype)
    step = 2 * math.floor(tolerance) + 1
    quantizer = GridQuantizer(dtype, tolerance)
    codes = [0, 1, 2, 3, 255, 1 << 16, 1 << 31, 1 << 32, 1 << 62, 1 << 63, (1 << 64) - 1]
    for offset in (0, -1, -(1 << 31), 1 << 40, -(1 << 62), (1 << 62) - 1, -(1 << 63)):
        usable = [c for c in codes if -(1 << 63) <= c + offset < 1 << 63]
        got = quantizer.dequantize(np.array(usable, np.uint64), offset)
        expected = [min(max((c + offset) * step, int(info.min)), int(info.max)) for c in usable]
        assert got.dtype == np.dtype(dtype) and got.tolist() == expected, offset


@pytest.mark.parametrize("dtype", ["uint8", "int16", "int32"])
def test_pack_with_a_tolerance_beyond_the_dtype(tmp_path: Path, dtype: str) -> None:
    """``--abs 1e30`` on integers once raised ``OverflowError``; every value now becomes 0."""
    info = np.iinfo(dtype)
    frames = np.linspace(info.min, info.max, 2 * 6 * 7).astype(dtype).reshape(2, 6, 7)
    tezip.pack(frames, tmp_path / "a.tez", abs=1e30)
    with tezip.open(tmp_path / "a.tez") as archive:
        assert archive.header.quantizer["tolerance"] <= max(-int(info.min), int(info.max))
        assert not archive[:].any()


def test_outlier_positions_may_not_wrap_around() -> None:
    """Deltas whose sum passes 2**64 once indexed the array with a negative position."""
    path = ROOT / "spec" / "vectors" / "invalid" / "outlier_positions_wrap.tez"
    with pytest.raises(errors.StreamError, match="outlier positions"):
        tezip.unpack(path)


def test_a_forged_frame_shape_allocates_nothing_before_decoding() -> None:
    """A 1 KiB file claiming 48 GiB of frames fails at its first GOP, not in ``np.empty``."""
    path = ROOT / "spec" / "vectors" / "invalid" / "header_forged_shape.tez"
    tracemalloc.start()
    try:
        with pytest.raises(errors.StreamError):
            tezip.unpack(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 16 << 20


@pytest.mark.parametrize("name", ["zstd_claims_4_gib", "zstd_claims_256_mib"])
def test_a_stream_too_small_for_its_claim_allocates_nothing(name: str) -> None:
    """A 17-byte zstd frame declaring a 4 GiB frame once made the decoder allocate 4 GiB
    (a raw ``MemoryError`` under a memory limit) before finding the stream damaged."""
    path = ROOT / "spec" / "vectors" / "invalid" / f"{name}.tez"
    tracemalloc.start()
    try:
        with pytest.raises(errors.StreamError, match="cannot hold"):
            tezip.unpack(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 16 << 20


@pytest.mark.parametrize("level", [1, 3, 19])
@pytest.mark.parametrize("size", [1, 4096, 131072, 131073, 3 << 20, 1 << 26])
def test_genuine_zstd_frames_are_within_the_expansion_bound(level: int, size: int) -> None:
    """The bound on a zstd frame's expansion is sound: zeros, the best case, still decode."""
    from tezip.zstd_frames import compress, decompress_exact

    frame = compress(bytes(size), level)
    assert decompress_exact(frame, size, "zeros") == bytes(size)


def test_inspect_shows_whatever_the_informative_fields_hold(tmp_path: Path) -> None:
    """``tezip inspect`` once required ``gop.policy`` and numeric bounds (FORMAT.md 4)."""
    source = load_tool("make_vectors").Source(VALID[0])

    def strip(header: dict[str, Any]) -> None:
        header.update(gop={}, bound={"abs": "two"}, source={})

    path = tmp_path / "odd.tez"
    path.write_bytes(source.rebuild(header=strip))
    text = format_description(describe_archive(path, verify=True))
    assert "abs two" in text and "(unknown, max None)" in text and "verify     ok" in text


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
