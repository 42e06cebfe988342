"""Partitioned entropy coding: hybrid-integer tokens, one canonical Huffman table per partition,
and chunked lanes that decode in lockstep.

A partition is a sequence of unsigned symbols, coded in one of two modes:

- *runs*: each non-zero symbol ``v`` and the run ``r`` of zeros before it form one token
  ``rt * NV + vt`` (``rt``, ``vt``: hybrid-integer buckets of ``r`` and ``v - 1``); trailing
  zeros cost nothing. For sparse partitions.
- *dense*: every symbol is one token, the bucket of ``v`` itself.

A token's Huffman code is followed by the raw low bits of its run and then of its value. Each
partition's bitstream is cut into fixed-size chunks; a chunk records only the offset (its
*gap*) of the first codeword starting in it, so every chunk is an independent lane: NumPy
decodes all lanes of all partitions in lockstep (one vector step per token), a GPU gives each
lane a thread.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from tezip.errors import StreamError
from tezip_density import huffman
from tezip_density.bits import (
    Reader,
    Writer,
    bit_length,
    pack_bits,
    padded,
    read_bits,
    read_short,
    windows24,
    windows32,
)

RUNS, DENSE = 0, 1
#: run buckets: 0..3 direct, then one bucket per bit length 3..64
RUN_DIRECT_BITS, RUN_MSB = 2, 0
#: value buckets: 0..7 direct, then two buckets per bit length 4..64
VALUE_DIRECT_BITS, VALUE_MSB = 3, 1
RUN_TOKENS = (1 << RUN_DIRECT_BITS) + (64 - RUN_DIRECT_BITS) * (1 << RUN_MSB)
#: a partition with more than this fraction of non-zero symbols is coded dense
DENSE_FRACTION = 0.5
#: symbols a partition may hold
MAX_SYMBOLS = 1 << 40
#: tokens per lane the encoder aims for at least, and the lane count it aims for
MIN_LANE_TOKENS, TARGET_LANES = 128, 16384
#: lockstep steps between two removals of finished lanes (after a first, longer round)
ROUND_STEPS = 8
WHERE = "tezip.density entropy stream"


def value_tokens(bits: int) -> int:
    """Number of value buckets for symbols below ``2**bits``."""
    return (1 << VALUE_DIRECT_BITS) + (bits - VALUE_DIRECT_BITS) * (1 << VALUE_MSB)


def _bucket_tables(count: int, direct: int, msb: int) -> tuple[np.ndarray, np.ndarray]:
    """For buckets ``0..count-1``: smallest member (uint64) and raw bit count (int64)."""
    token = np.arange(count, dtype=np.int64)
    j = np.maximum(token - (1 << direct), 0)
    nextra = np.where(token < (1 << direct), 0, (j >> msb) + direct - msb)
    lead = np.where(token < (1 << direct), token, (1 << msb) | (j & ((1 << msb) - 1)))
    return lead.astype(np.uint64) << nextra.astype(np.uint64), nextra


def _bucket_general(x: np.ndarray, direct: int, msb: int) -> tuple[np.ndarray, np.ndarray]:
    length = bit_length(x)
    small = x < np.uint64(1 << direct)
    shift = np.where(small, 0, length - 1 - msb).astype(np.uint64)
    top = ((x >> shift) & np.uint64((1 << msb) - 1)).astype(np.int64)
    token = np.where(
        small, x.astype(np.int64), (1 << direct) + ((length - direct - 1) << msb) + top
    )
    return token, shift.astype(np.int64)


_SMALL = 1 << 16
_SMALL_BUCKETS = {
    (direct, msb): _bucket_general(np.arange(_SMALL, dtype=np.uint64), direct, msb)
    for direct, msb in ((RUN_DIRECT_BITS, RUN_MSB), (VALUE_DIRECT_BITS, VALUE_MSB))
}


def _bucket(x: np.ndarray, direct: int, msb: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Bucket of each unsigned ``x``, the raw low bits below the bucket, and their count."""
    if len(x) and int(x.max()) < _SMALL:
        tokens, nextra = _SMALL_BUCKETS[direct, msb]
        index = x.astype(np.intp, copy=False)
        token, count = tokens[index], nextra[index]
    else:
        x = x.astype(np.uint64, copy=False)
        token, count = _bucket_general(x, direct, msb)
    extra = x.astype(np.uint64, copy=False) & (
        (np.uint64(1) << count.astype(np.uint64)) - np.uint64(1)
    )
    return token, extra, count


@dataclass
class _Encoded:
    """Everything the encoder writes for one partition."""

    symbols: int
    mode: int = RUNS
    tokens: int = 0
    lengths: np.ndarray | None = None
    payload: bytes = b""
    nbits: int = 0
    chunk: int = 0
    gaps: np.ndarray | None = None
    gap_width: int = 0


def _tokens(symbols: np.ndarray, bits: int, mode: int) -> tuple[np.ndarray, list, list]:
    """Tokens and their raw fields (values, bit counts), in stream order."""
    if mode == DENSE:
        token, extra, count = _bucket(symbols, VALUE_DIRECT_BITS, VALUE_MSB)
        return token, [extra], [count]
    nonzero = np.flatnonzero(symbols)
    runs = np.diff(nonzero, prepend=-1) - 1
    values = symbols[nonzero] - symbols.dtype.type(1)
    rt, rx, rn = _bucket(runs, RUN_DIRECT_BITS, RUN_MSB)
    vt, vx, vn = _bucket(values, VALUE_DIRECT_BITS, VALUE_MSB)
    return rt * value_tokens(bits) + vt, [rx, vx], [rn, vn]


def _encode_part(symbols: np.ndarray, bits: int, lane_tokens: int) -> _Encoded:
    part = _Encoded(len(symbols))
    nonzero = int(np.count_nonzero(symbols))
    if not nonzero:
        return part
    part.mode = DENSE if nonzero > DENSE_FRACTION * len(symbols) else RUNS
    token, extras, counts = _tokens(symbols, bits, part.mode)
    frequencies = np.bincount(token)
    limit = 12 if np.count_nonzero(frequencies) <= 1024 else huffman.MAX_CODE_LENGTH
    lengths = huffman.code_lengths(frequencies, limit)
    pieces = [(huffman.canonical_codes(lengths)[token], lengths.astype(np.int64)[token])]
    for extra, count in zip(extras, counts, strict=True):
        if not count.any():
            continue
        field, size = pieces[-1]
        if int((size + count).max()) <= 64:
            pieces[-1] = (field | (extra << size.astype(np.uint64)), size + count)
        else:  # rare: codewords longer than 64 bits go in pieces
            pieces.append((extra, count))
    if len(pieces) == 1:
        payload, nbits = pack_bits(*pieces[0])
    else:
        payload, nbits = pack_bits(
            np.stack([f for f, _ in pieces], axis=1).ravel(),
            np.stack([s for _, s in pieces], axis=1).ravel(),
        )
    total = sum(s for _, s in pieces)
    start = np.cumsum(total) - total
    longest = int(total.max())
    chunk = max(longest + 1, min(nbits, math.ceil(lane_tokens * nbits / len(token))))
    bounds = np.arange(0, nbits, chunk, dtype=np.int64)
    first = np.searchsorted(start, bounds)
    part.gaps = np.append(start, nbits)[first] - bounds
    part.tokens, part.lengths, part.payload, part.nbits, part.chunk = (
        len(token),
        lengths,
        payload,
        nbits,
        chunk,
    )
    part.gap_width = int(part.gaps.max()).bit_length()
    return part


def encode(parts: list[tuple[np.ndarray, int]]) -> bytes:
    """Encode partitions given as (1-D unsigned symbols, bit width of their symbols)."""
    total_symbols = sum(len(s) for s, _ in parts)
    lane_tokens = max(MIN_LANE_TOKENS, -(-total_symbols // TARGET_LANES))
    coded = [_encode_part(s, bits, lane_tokens) for s, bits in parts]
    out = Writer()
    out.varint(len(coded))
    for part in coded:
        out.varint(part.symbols)
        if part.symbols:
            out.varint(part.tokens)
        if part.tokens:
            out.raw(bytes([part.mode]))
            out.varint(len(part.lengths))
            out.raw(huffman.write_lengths(part.lengths))
            out.varint(part.nbits)
            out.varint(part.chunk)
            out.raw(bytes([part.gap_width]))
    with_tokens = [p for p in coded if p.tokens]
    if with_tokens:
        gaps = np.concatenate([p.gaps for p in with_tokens]).astype(np.uint64)
        widths = np.concatenate([np.full(len(p.gaps), p.gap_width) for p in with_tokens])
        out.raw(pack_bits(gaps, widths)[0])
    for part in with_tokens:
        out.raw(part.payload)
    return out.getvalue()


@dataclass
class _Layout:
    """A partition as the decoder parsed it."""

    symbols: int
    bits: int
    offset: int = 0
    tokens: int = 0
    mode: int = RUNS
    lengths: np.ndarray | None = None
    nbits: int = 0
    chunk: int = 0
    gap_width: int = 0

    @property
    def lanes(self) -> int:
        return -(-self.nbits // self.chunk) if self.tokens else 0

    def token_tables(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Per token: smallest run, run raw bits, smallest symbol, symbol raw bits."""
        nv = value_tokens(self.bits)
        value_base, value_bits = _bucket_tables(nv, VALUE_DIRECT_BITS, VALUE_MSB)
        if self.mode == DENSE:
            return np.zeros(nv, np.uint64), np.zeros(nv, np.int64), value_base, value_bits
        run_base, run_bits = _bucket_tables(RUN_TOKENS, RUN_DIRECT_BITS, RUN_MSB)
        rt, vt = np.divmod(np.arange(RUN_TOKENS * nv), nv)
        return run_base[rt], run_bits[rt], value_base[vt] + np.uint64(1), value_bits[vt]


def _parse_layout(reader: Reader, bits: list[int], max_symbols: int) -> list[_Layout]:
    count = reader.varint(len(bits), "partition count")
    if count != len(bits):
        raise reader.fail(f"{count} partitions where {len(bits)} are expected")
    layouts = []
    budget = 8 * len(reader.data)
    offset = 0
    for width in bits:
        layout = _Layout(reader.varint(max_symbols - offset, "partition size"), width, offset)
        offset += layout.symbols
        if layout.symbols:
            layout.tokens = reader.varint(layout.symbols, "token count")
        if layout.tokens:
            layout.mode = reader.raw(1, "partition mode")[0]
            if layout.mode not in (RUNS, DENSE):
                raise reader.fail(f"unknown partition mode {layout.mode}")
            if layout.mode == DENSE and layout.tokens != layout.symbols:
                raise reader.fail("a dense partition needs one token per symbol")
            alphabet = len(layout.token_tables()[0])
            lengths = huffman.read_lengths(reader, reader.varint(alphabet, "alphabet size"))
            if lengths is None or not huffman.kraft_complete(lengths):
                raise reader.fail("invalid Huffman code lengths")
            layout.lengths = lengths
            layout.nbits = reader.varint(budget, "bitstream length")
            layout.chunk = reader.varint(budget + 256, "chunk size")
            layout.gap_width = reader.raw(1, "gap width")[0]
            if (
                layout.nbits < layout.tokens
                or layout.chunk < 1
                or layout.gap_width > 16
                or layout.lanes > layout.tokens + 1
            ):
                raise reader.fail("inconsistent partition layout")
        layouts.append(layout)
    return layouts


def decode(
    data: bytes | memoryview, bits: list[int], max_symbols: int, dtype: np.dtype
) -> tuple[np.ndarray, list[int]]:
    """Decode partitions of the given symbol bit widths into one array of ``dtype``.

    Returns the concatenated symbols and the size of each partition. ``max_symbols`` bounds
    their total (and so every allocation).
    """
    reader = Reader(data, WHERE)
    layouts = _parse_layout(reader, bits, min(max_symbols, MAX_SYMBOLS))
    active = [p for p in layouts if p.tokens]
    gap_bits = sum(p.lanes * p.gap_width for p in active)
    gap_buf = padded(reader.raw((gap_bits + 7) // 8, "chunk gaps"))
    sizes = [(p.nbits + 7) // 8 for p in active]
    if reader.remaining != sum(sizes):
        raise reader.fail(f"{reader.remaining} payload bytes where {sum(sizes)} are declared")
    out = np.zeros(sum(p.symbols for p in layouts), dtype)
    if active:
        stream = padded(reader.raw(sum(sizes), "bitstreams"))
        _decode_active(active, sizes, gap_buf, stream, out)
    return out, [p.symbols for p in layouts]


class _Tables:
    """Decode tables of all active partitions, concatenated, indexed by table entry."""

    def __init__(self, active: list[_Layout]) -> None:
        self.width = max(int(p.lengths.max()) for p in active)
        columns: list[list[np.ndarray]] = [[] for _ in range(6)]
        for part in active:
            token, size = huffman.decode_table(part.lengths, self.width)
            valid = token >= 0
            token = np.maximum(token, 0)
            run_base, run_bits, value_base, value_bits = (t[token] for t in part.token_tables())
            raw = run_bits + value_bits
            for column, values in zip(
                columns,
                (valid, np.where(valid, size + raw, 1), size, run_bits, run_base, value_base),
                strict=True,
            ):
                column.append(values)
        self.valid, self.advance, self.size, self.run_bits, self.run_base, self.value_base = (
            np.concatenate(c) for c in columns
        )
        self.raw_bits = self.advance - self.size


def _decode_active(
    active: list[_Layout],
    sizes: list[int],
    gap_buf: np.ndarray,
    stream: np.ndarray,
    out: np.ndarray,
) -> None:
    tables = _Tables(active)
    base_bits = np.cumsum([0, *sizes[:-1]], dtype=np.int64) * 8
    lane_part = np.repeat(np.arange(len(active)), [p.lanes for p in active])
    first_lane = np.cumsum([0] + [p.lanes for p in active])
    chunk = np.array([p.chunk for p in active], np.int64)[lane_part]
    local = np.arange(len(lane_part), dtype=np.int64) - first_lane[lane_part]
    gap_width = np.array([p.gap_width for p in active], np.int64)[lane_part]
    gaps = read_bits(gap_buf, np.cumsum(gap_width) - gap_width, gap_width).astype(np.int64)
    nbits = np.array([p.nbits for p in active], np.int64)[lane_part]
    if np.any(local * chunk + gaps > nbits):
        raise StreamError(f"{WHERE}: a chunk gap points past its bitstream")
    start = base_bits[lane_part] + local * chunk + gaps
    end = base_bits[lane_part] + np.minimum((local + 1) * chunk, nbits)
    tokens = sum(p.tokens for p in active)
    at, entry, counts = _lockstep(tables, stream, start, end, lane_part, tokens)
    counts = np.add.reduceat(counts, first_lane[:-1])
    if not tables.valid[entry].all():
        raise StreamError(f"{WHERE}: invalid code")
    done = 0
    short = windows32(stream)
    for part, count in zip(active, counts.tolist(), strict=True):
        if count != part.tokens:
            raise StreamError(f"{WHERE}: a partition decodes {count} of {part.tokens} tokens")
        _place(
            part, tables, entry[done : done + count], at[done : done + count], stream, short, out
        )
        done += count


def _lockstep(
    tables: _Tables,
    stream: np.ndarray,
    pos: np.ndarray,
    end: np.ndarray,
    lane_part: np.ndarray,
    tokens: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Decode every lane up to its end; return its codewords' positions and table entries
    (lane after lane) and the count of each lane.

    All lanes take one codeword per step; finished lanes are dropped after each round, so the
    positions recorded (the memory used) stay within the token count plus a round per lane.
    """
    width = tables.width
    limit = 8 * len(stream) + int(tables.advance.max()) * (tokens + ROUND_STEPS) + 64
    itype = np.int32 if limit < 2**31 else np.int64
    windows = windows24(stream).astype(itype, copy=False)
    advance = tables.advance.astype(itype)
    pos, end = pos.astype(itype), end.astype(itype)
    table_base = (lane_part << width).astype(itype)
    lane = np.arange(len(pos))
    mask = itype((1 << width) - 1)
    rounds: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []
    steps, decoded = -(-tokens // len(pos)), 0
    while len(pos):
        at = np.empty((steps, len(pos)), itype)
        entry = np.empty((steps, len(pos)), itype)
        byte, window = np.empty_like(pos), np.empty_like(pos)
        for step in range(steps):
            at[step] = pos
            np.right_shift(pos, 3, out=byte)
            np.take(windows, byte, out=window, mode="clip")
            np.bitwise_and(pos, 7, out=byte)
            np.right_shift(window, byte, out=window)
            np.bitwise_and(window, mask, out=window)
            np.add(window, table_base, out=entry[step])
            np.take(advance, entry[step], out=byte)
            np.add(pos, byte, out=pos)
        valid = (at < end).T
        rounds.append((lane, valid.sum(axis=1), at.T[valid], entry.T[valid]))
        decoded += len(rounds[-1][2])
        if decoded > tokens:
            raise StreamError(f"{WHERE}: the lanes hold more codewords than declared")
        going = pos < end
        pos, end, table_base, lane = pos[going], end[going], table_base[going], lane[going]
        steps = ROUND_STEPS
    # reorder the rounds' records lane after lane
    counts = np.zeros(len(lane_part), np.int64)
    for ids, count, _, _ in rounds:
        counts[ids] += count
    done = np.cumsum(counts) - counts
    total = int(counts.sum())
    all_at, all_entry = np.empty(total, itype), np.empty(total, itype)
    for ids, count, at, entry in rounds:
        target = np.repeat(done[ids] - (np.cumsum(count) - count), count) + np.arange(len(at))
        all_at[target], all_entry[target] = at, entry
        done[ids] += count
    return all_at, all_entry, counts


def _place(
    part: _Layout,
    tables: _Tables,
    entry: np.ndarray,
    at: np.ndarray,
    stream: np.ndarray,
    short: np.ndarray,
    out: np.ndarray,
) -> None:
    """Turn one partition's decoded table entries into symbols in ``out``."""
    raw_bits = tables.raw_bits[entry]
    start = at + tables.size[entry]
    values = tables.value_base[entry]
    longest = int(raw_bits.max())
    if part.mode == DENSE:
        if longest:
            read = read_short if longest <= 25 else read_bits
            values += read(short if longest <= 25 else stream, start, raw_bits)
        _check_width(values, part.bits, dense=True)
        out[part.offset : part.offset + part.symbols] = values
        return
    run_bits = tables.run_bits[entry]
    runs = tables.run_base[entry]
    if longest and longest <= 64:
        raw = (
            read_short(short, start, raw_bits)
            if longest <= 25
            else read_bits(stream, start, raw_bits)
        )
        shift = run_bits.astype(np.uint64)
        runs += raw & ((np.uint64(1) << shift) - np.uint64(1))
        values += raw >> shift
    elif longest:  # run and value bits together exceed 64: read them apart
        runs += read_bits(stream, start, run_bits)
        values += read_bits(stream, start + run_bits, raw_bits - run_bits)
    if int(runs.max()) >= part.symbols or float(runs.sum(dtype=np.float64)) + len(runs) > (
        part.symbols
    ):
        raise StreamError(f"{WHERE}: runs overflow their partition")
    _check_width(values, part.bits, dense=False)
    index = np.cumsum(runs.astype(np.int64) + 1) - 1 + part.offset
    out[index] = values


def _check_width(values: np.ndarray, bits: int, dense: bool) -> None:
    """Symbols must fit ``bits`` (a run-mode value of 0 means it wrapped past 2**64)."""
    too_big = bits < 64 and int(values.max()) >> bits
    if too_big or (not dense and bits == 64 and not values.all()):
        raise StreamError(f"{WHERE}: a symbol exceeds {bits} bits")
