"""Partitioned entropy coding: hybrid-integer tokens, one canonical Huffman table per partition,
and lanes of a fixed token count that decode in lockstep.

A partition is a sequence of unsigned symbols, coded in one of two modes:

- *runs*: each non-zero symbol ``v`` and the run ``r`` of zeros before it form one token
  ``rt * NV + vt`` (``rt``, ``vt``: hybrid-integer buckets of ``r`` and ``v - 1``); trailing
  zeros cost nothing. For sparse partitions.
- *dense*: every symbol is one token: an 8-bit symbol itself, the bucket of a wider one.

A token's Huffman code is followed by the raw low bits of its run and then of its value. Each
partition's tokens are cut into *lanes* of a fixed token count; the header records every lane's
bit length, so every lane is independent: NumPy decodes all lanes of all partitions in lockstep
(one vector step per token, whose output index is known in advance), a GPU gives each lane a
thread.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from tezip.errors import StreamError
from tezip.parallel import available, thread_map
from tezip_density import huffman
from tezip_density.bits import Reader, Writer, bit_length, pack_bits, padded, read_bits

RUNS, DENSE = 0, 1
#: run buckets: 0..3 direct, then one bucket per bit length 3..64
RUN_DIRECT_BITS, RUN_MSB = 2, 0
#: value buckets: 0..7 direct, then two buckets per bit length 4..64
VALUE_DIRECT_BITS, VALUE_MSB = 3, 1
#: dense partitions of symbols this wide code every symbol as its own token (no raw bits)
DIRECT_BITS = 8
RUN_TOKENS = (1 << RUN_DIRECT_BITS) + (64 - RUN_DIRECT_BITS) * (1 << RUN_MSB)
#: a partition with more than this fraction of non-zero symbols is coded dense
DENSE_FRACTION = 0.5
#: symbols a partition may hold
MAX_SYMBOLS = 1 << 40
#: tokens per lane the encoder aims for at least, and the lane count it aims for
MIN_LANE_TOKENS, TARGET_LANES = 256, 16384
#: 8-bit dense partitions at least this long are coded by pairs of symbols (a 64k table)
PAIR_SYMBOLS = 1 << 17
#: partitions of at least this many tokens may use codes of up to 15 bits (else 12)
LONG_CODE_TOKENS = 1 << 16
#: decoder steps whose symbols are gathered before one copy to the lane-major output
VALUE_BLOCK = 8
#: most threads for one input (NumPy releases the GIL in its loops; the thread budget of
#: :mod:`tezip.parallel` may allow fewer), and the work (tokens) from which an input is split
MAX_THREADS = 4
PARALLEL_WORK = 1 << 18
#: largest tokens-per-lane value a stream may declare
MAX_LANE_TOKENS = 1 << 16
#: widest lane-length field
MAX_LANE_WIDTH = 48
#: decode-table index bits (a decoder choice): at least the longest code, else at most this;
#: codewords this short, raw bits included, decode from the table alone
MAX_TABLE_BITS = 12
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


def _small_tables(direct: int, msb: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    token, count = _bucket_general(np.arange(_SMALL, dtype=np.uint64), direct, msb)
    mask = (np.uint64(1) << count.astype(np.uint64)) - np.uint64(1)
    return token.astype(np.int32), count.astype(np.uint8), mask.astype(np.uint16)


_SMALL_BUCKETS = {
    (direct, msb): _small_tables(direct, msb)
    for direct, msb in ((RUN_DIRECT_BITS, RUN_MSB), (VALUE_DIRECT_BITS, VALUE_MSB))
}


def _bucket(x: np.ndarray, direct: int, msb: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Bucket of each unsigned ``x``, the raw low bits below the bucket, and their count."""
    if len(x) and (x.dtype.itemsize <= 2 or int(x.max()) < _SMALL):  # table lookups
        tokens, nextra, masks = _SMALL_BUCKETS[direct, msb]
        index = x.astype(np.intp, copy=False)
        token, count = tokens.take(index), nextra.take(index)
        return token, (x & masks.take(index)).astype(np.uint64), count
    x = x.astype(np.uint64, copy=False)
    token, count = _bucket_general(x, direct, msb)
    extra = x & ((np.uint64(1) << count.astype(np.uint64)) - np.uint64(1))
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
    lane_base: int = 0
    lane_width: int = 0
    lane_extra: np.ndarray | None = None


def _tokens(symbols: np.ndarray, bits: int, mode: int) -> tuple[np.ndarray, list, list]:
    """Tokens and their raw fields (values, bit counts), in stream order."""
    if mode == DENSE:
        token, extra, count = _bucket(symbols, VALUE_DIRECT_BITS, VALUE_MSB)
        return token, [extra], [count]
    nonzero = np.flatnonzero(symbols != 0)  # a bool mask: much faster
    runs = np.diff(nonzero, prepend=-1) - 1
    values = symbols[nonzero] - symbols.dtype.type(1)
    rt, rx, rn = _bucket(runs, RUN_DIRECT_BITS, RUN_MSB)
    vt, vx, vn = _bucket(values, VALUE_DIRECT_BITS, VALUE_MSB)
    return rt * value_tokens(bits) + vt, [rx, vx], [rn, vn]


def _huffman(frequencies: np.ndarray, count: int) -> np.ndarray:
    """Code lengths for ``count`` tokens of these frequencies: short codes (small decode
    tables) for small partitions with small alphabets, up to 15 bits otherwise."""
    short = count < LONG_CODE_TOKENS and np.count_nonzero(frequencies) <= 1024
    return huffman.code_lengths(frequencies, 12 if short else huffman.MAX_CODE_LENGTH)


def _dense_codewords(
    symbols: np.ndarray, bits: int, pairs: bool = True
) -> tuple[np.ndarray, list, np.ndarray]:
    """Dense mode for 8- and 16-bit symbols: one codeword table over all symbol values, then a
    lookup per symbol (per pair of symbols for 8 bits). Returns the code lengths, the codewords
    as one piece (fields, sizes) and the size of each symbol's codeword."""
    domain = np.arange(1 << bits, dtype=np.uint64)  # every symbol is below 2**bits
    if bits == DIRECT_BITS:
        token, extra, count = domain.astype(np.int64), domain * np.uint64(0), np.zeros(256, int)
    else:
        token, extra, count = _bucket(domain, VALUE_DIRECT_BITS, VALUE_MSB)
    pairs = pairs and symbols.dtype == np.uint8 and len(symbols) % 2 == 0
    pairs = pairs and len(symbols) >= PAIR_SYMBOLS
    if pairs:  # a histogram of symbol pairs gives that of the symbols too
        pair_index = symbols.view(np.uint16).astype(np.intp)  # converted once, used thrice
        joint = np.bincount(pair_index, minlength=1 << 16).reshape(256, 256)
        histogram = joint.sum(axis=0) + joint.sum(axis=1)
    else:
        histogram = np.bincount(symbols, minlength=len(domain))
    frequencies = np.bincount(token, weights=histogram).astype(np.int64)
    lengths = _huffman(frequencies, len(symbols))
    size = lengths.astype(np.int64)[token]
    word = huffman.canonical_codes(lengths)[token] | (extra << size.astype(np.uint64))
    size += count
    if pairs:  # little-endian: the first symbol of a pair is the low byte
        pair_word = word[None, :] | (word[:, None] << size[None, :].astype(np.uint64))
        pair_size = (size[None, :] + size[:, None]).astype(np.uint8)
        pieces = [(pair_word.ravel().take(pair_index), pair_size.ravel().take(pair_index))]
        return lengths, pieces, size
    kind = np.uint32 if int(size.max()) <= 32 else np.uint64
    return lengths, [(word.astype(kind)[symbols], size.astype(np.uint8)[symbols])], size


def _codewords(
    symbols: np.ndarray, bits: int, mode: int, pairs: bool = True
) -> tuple[np.ndarray, list, np.ndarray | None]:
    """Code lengths, the codewords as pieces (fields, sizes) of at most 64 bits, and for the
    table-driven dense mode the codeword size of every symbol value (else None)."""
    if mode == DENSE and bits == DIRECT_BITS:
        return _dense_codewords(symbols.astype(np.uint8, copy=False), bits, pairs)
    if mode == DENSE and 8 < bits <= 16 and len(symbols) >= 1 << (bits - 2):
        return _dense_codewords(symbols.astype(np.uint16, copy=False), bits)
    if mode == RUNS and bits == DIRECT_BITS:
        return _runs_codewords(symbols.astype(np.uint8, copy=False))
    token, extras, counts = _tokens(symbols, bits, mode)
    lengths = _huffman(np.bincount(token), len(token))
    pieces = [(huffman.canonical_codes(lengths)[token], lengths.astype(np.int64)[token])]
    for extra, count in zip(extras, counts, strict=True):
        if not count.any():
            continue
        field, size = pieces[-1]
        if int((size + count).max()) <= 64:
            pieces[-1] = (field | (extra << size.astype(np.uint64)), size + count)
        else:  # rare: codewords longer than 64 bits go in pieces
            pieces.append((extra, count))
    return lengths, pieces, None


def _runs_codewords(symbols: np.ndarray) -> tuple[np.ndarray, list, None]:
    """Runs mode for 8-bit symbols: codewords from one table over (run bucket, symbol), plus
    the run's raw bits."""
    nonzero = np.flatnonzero(symbols != 0)  # a bool mask: much faster
    runs = np.empty_like(nonzero)
    runs[:1] = nonzero[:1]
    np.subtract(nonzero[1:], nonzero[:-1], out=runs[1:])
    runs[1:] -= 1
    rt, rx, _ = _bucket(runs, RUN_DIRECT_BITS, RUN_MSB)
    pair = rt * 256 + symbols[nonzero]  # (run bucket, symbol)
    nv = value_tokens(8)
    value = np.arange(256, dtype=np.uint64)
    vt, vx, vn = _bucket(np.maximum(value, 1) - np.uint64(1), VALUE_DIRECT_BITS, VALUE_MSB)
    run_bits = _bucket_tables(RUN_TOKENS, RUN_DIRECT_BITS, RUN_MSB)[1]
    token = (np.arange(RUN_TOKENS)[:, None] * nv + vt[None, :]).ravel()
    histogram = np.bincount(pair, minlength=RUN_TOKENS * 256)
    lengths = _huffman(np.bincount(token, weights=histogram).astype(np.int64), len(pair))
    code_size = lengths.astype(np.int64)[token].reshape(RUN_TOKENS, 256)
    value_at = (code_size + run_bits[:, None]).astype(np.uint64)
    word = huffman.canonical_codes(lengths)[token].reshape(RUN_TOKENS, 256) | (vx << value_at)
    size = (value_at + vn.astype(np.uint64)).astype(np.uint8)
    field = word.ravel().take(pair) | (rx << code_size.ravel().take(pair).astype(np.uint64))
    return lengths, [(field, size.ravel().take(pair))], None


def _lane_lengths(
    symbols: np.ndarray, pieces: list, per_symbol: np.ndarray | None, lane_tokens: int
) -> np.ndarray:
    """Bit length of every lane of ``lane_tokens`` tokens."""
    tokens = len(symbols) if per_symbol is not None else len(pieces[0][1])
    starts = np.arange(0, tokens, lane_tokens)
    if per_symbol is None:
        total = sum(s.astype(np.int64) for _, s in pieces)
        return np.add.reduceat(total, starts, dtype=np.int64)
    size = pieces[0][1]
    if len(size) == tokens:
        return np.add.reduceat(size, starts, dtype=np.int64)
    return np.add.reduceat(size, starts // 2, dtype=np.int64)  # pairs (the lane size is even)


def _encode_part(symbols: np.ndarray, bits: int, lane_tokens: int) -> _Encoded:
    part = _Encoded(len(symbols))
    nonzero = int(np.count_nonzero(symbols))
    if not nonzero:
        return part
    part.mode = DENSE if nonzero > DENSE_FRACTION * len(symbols) else RUNS
    part.lengths, pieces, per_symbol = _codewords(symbols, bits, part.mode, lane_tokens % 2 == 0)
    if len(pieces) == 1:
        part.payload, part.nbits = pack_bits(*pieces[0])
    else:
        part.payload, part.nbits = pack_bits(
            np.stack([f for f, _ in pieces], axis=1).ravel(),
            np.stack([s for _, s in pieces], axis=1).ravel(),
        )
    part.tokens = len(symbols) if per_symbol is not None else len(pieces[0][1])
    if part.tokens > lane_tokens:  # bit length of every lane but the last
        lanes = _lane_lengths(symbols, pieces, per_symbol, lane_tokens)[:-1]
        part.lane_base = int(lanes.min())
        part.lane_extra = (lanes - part.lane_base).astype(np.uint64)
        part.lane_width = int(part.lane_extra.max()).bit_length()
    return part


def _lane_tokens(total_symbols: int) -> int:
    """Tokens per lane: about ``TARGET_LANES`` lanes for large inputs; even, so that 8-bit
    symbol pairs never straddle two lanes."""
    lane_tokens = max(MIN_LANE_TOKENS, -(-total_symbols // TARGET_LANES))
    return min(MAX_LANE_TOKENS, lane_tokens + lane_tokens % 2)


def encode(parts: list[tuple[np.ndarray, int]]) -> bytes:
    """Encode partitions given as (1-D unsigned symbols, bit width of their symbols)."""
    total = sum(len(s) for s, _ in parts)
    lane_tokens = _lane_tokens(total)
    if total >= PARALLEL_WORK and _threads() > 1:  # largest partitions first, on the pool
        order = sorted(range(len(parts)), key=lambda i: -len(parts[i][0]))
        done = _parallel(lambda i: _encode_part(*parts[i], lane_tokens), order)
        coded = [part for _, part in sorted(zip(order, done, strict=True), key=lambda x: x[0])]
    else:
        coded = [_encode_part(s, bits, lane_tokens) for s, bits in parts]
    out = Writer()
    out.varint(len(coded))
    out.varint(lane_tokens)
    for part in coded:
        out.varint(part.symbols)
        if part.symbols:
            out.varint(part.tokens)
        if part.tokens:
            out.raw(bytes([part.mode]))
            out.varint(len(part.lengths))
            out.raw(huffman.write_lengths(part.lengths))
            out.varint(part.nbits)
            out.varint(part.lane_base)
            out.raw(bytes([part.lane_width]))
    laned = [p for p in coded if p.lane_width]
    if laned:
        extra = np.concatenate([p.lane_extra for p in laned])
        widths = np.concatenate([np.full(len(p.lane_extra), p.lane_width) for p in laned])
        out.raw(pack_bits(extra, widths)[0])
    for part in coded:
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
    lane_base: int = 0
    lane_width: int = 0

    def lanes(self, lane_tokens: int) -> int:
        return -(-self.tokens // lane_tokens)

    def token_tables(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Per token: smallest run, run raw bits, smallest symbol, symbol raw bits."""
        nv = value_tokens(self.bits)
        if self.mode == DENSE:
            if self.bits == DIRECT_BITS:
                value_base, value_bits = np.arange(1 << 8, dtype=np.uint64), np.zeros(256, np.int64)
            else:
                value_base, value_bits = _bucket_tables(nv, VALUE_DIRECT_BITS, VALUE_MSB)
            none = np.zeros(len(value_base), np.int64)
            return none.astype(np.uint64), none, value_base, value_bits
        value_base, value_bits = _bucket_tables(nv, VALUE_DIRECT_BITS, VALUE_MSB)
        run_base, run_bits = _bucket_tables(RUN_TOKENS, RUN_DIRECT_BITS, RUN_MSB)
        rt, vt = np.divmod(np.arange(RUN_TOKENS * nv), nv)
        return run_base[rt], run_bits[rt], value_base[vt] + np.uint64(1), value_bits[vt]


def _parse_layout(reader: Reader, bits: list[int], max_symbols: int) -> tuple[list[_Layout], int]:
    count = reader.varint(len(bits), "partition count")
    if count != len(bits):
        raise reader.fail(f"{count} partitions where {len(bits)} are expected")
    lane_tokens = reader.varint(MAX_LANE_TOKENS, "tokens per lane")
    if lane_tokens < 1:
        raise reader.fail("a lane needs at least one token")
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
            layout.lane_base = reader.varint(layout.nbits, "lane length base")
            layout.lane_width = reader.raw(1, "lane length width")[0]
            if layout.nbits < layout.tokens or layout.lane_width > MAX_LANE_WIDTH:
                raise reader.fail("inconsistent partition layout")
        layouts.append(layout)
    return layouts, lane_tokens


def decode(
    data: bytes | memoryview, bits: list[int], max_symbols: int, dtype: np.dtype
) -> tuple[np.ndarray, list[int]]:
    """Decode partitions of the given symbol bit widths into one array of ``dtype``.

    Returns the concatenated symbols and the size of each partition. ``max_symbols`` bounds
    their total (and so every allocation).
    """
    reader = Reader(data, WHERE)
    layouts, lane_tokens = _parse_layout(reader, bits, min(max_symbols, MAX_SYMBOLS))
    active = [p for p in layouts if p.tokens]
    lanes = [p.lanes(lane_tokens) for p in active]
    lane_bits = sum((n - 1) * p.lane_width for p, n in zip(active, lanes, strict=True))
    lane_buf = padded(reader.raw((lane_bits + 7) // 8, "lane lengths"))
    sizes = [(p.nbits + 7) // 8 for p in active]
    if reader.remaining != sum(sizes):
        raise reader.fail(f"{reader.remaining} payload bytes where {sum(sizes)} are declared")
    out = np.zeros(sum(p.symbols for p in layouts), dtype)
    if active:
        stream = padded(reader.raw(sum(sizes), "bitstreams"))
        _decode_active(active, lanes, lane_tokens, lane_buf, sizes, stream, out)
    return out, [p.symbols for p in layouts]


class _Tables:
    """Decode tables of all active partitions, concatenated; partition *p* has ``2**width[p]``
    entries from ``offset[p]``, indexed by the next ``width[p]`` stream bits: the codeword's total
    size (code and raw bits) and, for codewords that fit the window, their run and symbol.
    ``slow`` marks codewords whose raw bits must be read from the stream, ``valid`` the entries
    that are codes (of a symbol that fits the partition's width)."""

    def __init__(self, active: list[_Layout], dtype: np.dtype) -> None:
        advance, value, widths = [], [], []
        #: per partition: the other columns, indexed by entry minus the partition's offset
        self.parts: list[dict[str, np.ndarray]] = []
        for part in active:
            table = _partition_table(part, part.token_tables(), dtype)
            widths.append(table.pop("width"))
            advance.append(table.pop("advance"))
            value.append(table.pop("value"))
            self.parts.append(table)
        self.advance, self.value = np.concatenate(advance), np.concatenate(value)
        self.width = np.array(widths, np.int64)
        entries = 1 << self.width
        self.offset = np.cumsum(entries) - entries


def _partition_table(
    part: _Layout, tables: tuple[np.ndarray, ...], dtype: np.dtype
) -> dict[str, np.ndarray]:
    """One partition's decode table (see :class:`_Tables`)."""
    run_base, run_bits, value_base, value_bits = tables
    used = np.flatnonzero(part.lengths)
    longest = int(part.lengths.max())
    codeword = part.lengths[used] + run_bits[used] + value_bits[used]
    width = max(longest, min(MAX_TABLE_BITS, int(codeword.max())))
    symbol, size = huffman.decode_table(part.lengths, width)
    valid = symbol >= 0
    token = np.maximum(symbol, 0)
    out = {"width": width, "token": symbol, "size": size, "tables": tables}
    if not run_bits[used].any() and not value_bits[used].any():  # no raw bits (8-bit dense)
        out["advance"] = size
        value = value_base[token]
        out["run"] = run_base[token].astype(np.int64)
        out["slow"] = None
    else:
        rb, vb = run_bits[token], value_bits[token]
        advance = size + rb + vb
        fits = advance <= width
        out["advance"] = np.where(valid, advance, 1)
        out["slow"] = valid & ~fits
        rest = np.arange(len(size)) >> size
        low = rest & ((1 << np.where(fits, rb, 0)) - 1)
        high = (rest >> rb) & ((1 << np.where(fits, vb, 0)) - 1)
        out["run"] = np.where(fits, run_base[token] + low.astype(np.uint64), 0).astype(np.int64)
        value = np.where(fits, value_base[token] + high.astype(np.uint64), np.uint64(0))
    if part.bits < 64:
        valid &= value >> np.uint64(part.bits) == 0
    out["valid"] = None if valid.all() else valid
    if out["slow"] is not None and not out["slow"].any():
        out["slow"] = None
    out["value"] = value.astype(dtype)
    return out


def _decode_active(
    active: list[_Layout],
    lanes: list[int],
    lane_tokens: int,
    lane_buf: np.ndarray,
    sizes: list[int],
    stream: np.ndarray,
    out: np.ndarray,
) -> None:
    tables = _Tables(active, out.dtype)
    base_bits = np.cumsum([0, *sizes[:-1]], dtype=np.int64) * 8
    nlanes = sum(lanes)
    lane_count = np.array(lanes, np.int64)
    lane_part = np.repeat(np.arange(len(active)), lanes)
    first_lane = np.cumsum([0, *lanes])
    last = first_lane[1:] - 1
    # lane lengths: stored for every lane but the last of a partition, which ends at nbits
    width = np.array([p.lane_width for p in active], np.int64)
    stored = np.repeat(width, lane_count - 1)
    length = read_bits(lane_buf, np.cumsum(stored) - stored, stored).astype(np.int64)
    length += np.repeat([p.lane_base for p in active], lane_count - 1)
    if float(length.sum(dtype=np.float64)) > 8 * len(stream):
        raise StreamError(f"{WHERE}: lane lengths exceed the bitstreams")
    start = np.zeros(nlanes, np.int64)
    not_last = np.ones(nlanes, bool)
    not_last[last] = False
    start[np.flatnonzero(not_last) + 1] = length
    start = np.cumsum(start)
    start -= np.repeat(start[first_lane[:-1]], lanes)
    nbits = np.array([p.nbits for p in active], np.int64)
    if np.any(start[last] > nbits):
        raise StreamError(f"{WHERE}: lane lengths exceed their bitstream")
    end = np.append(start[1:], 0)
    end[last] = nbits
    start += base_bits[lane_part]
    end += base_bits[lane_part]
    tokens = np.array([p.tokens for p in active], np.int64)
    counts = np.full(nlanes, lane_tokens, np.int64)
    counts[last] = tokens - (lane_count - 1) * lane_tokens
    entry, at, values = _lockstep(tables, stream, start, lane_part, int(counts.max()))
    if not np.array_equal(at[counts, np.arange(nlanes)], end):
        raise StreamError(f"{WHERE}: a lane does not end where the next one starts")
    _parallel(
        lambda index: _place(
            active[index], index, tables, entry, at, values, first_lane, counts, stream, out
        ),
        sorted(range(len(active)), key=lambda i: -active[i].tokens)
        if int(tokens.sum()) >= PARALLEL_WORK
        else list(range(len(active))),
    )


def _place(
    part: _Layout,
    index: int,
    tables: _Tables,
    entry: np.ndarray,
    at: np.ndarray,
    values: np.ndarray,
    first_lane: np.ndarray,
    counts: np.ndarray,
    stream: np.ndarray,
    out: np.ndarray,
) -> None:
    """Check one partition's decoded table entries and put its symbols into ``out``.

    The partition's lanes are ``first_lane[index]`` on; all but its last decoded
    ``counts[first]`` tokens, which is then the number of steps (a partition with several lanes
    has full lanes of ``len(entry)`` tokens).
    """
    first, stop = int(first_lane[index]), int(first_lane[index + 1])
    steps, tail = int(counts[first]), int(counts[stop - 1])
    table, offset = tables.parts[index], int(tables.offset[index])
    # the partition's entries (steps x lanes): all lanes but the last, then the last lane
    blocks = [entry[:steps, first : stop - 1], entry[:tail, stop - 1 : stop]]
    blocks = [b - entry.dtype.type(offset) for b in blocks] if offset else blocks
    if table["valid"] is not None and not all(table["valid"][b].all() for b in blocks):
        raise StreamError(f"{WHERE}: invalid code")
    slow = None
    if table["slow"] is not None and part.mode == DENSE:
        flags = [table["slow"][b] for b in blocks]
        if sum(int(f.sum()) for f in flags) > part.tokens // 4:  # mostly wide: read them all
            _read_all(table, blocks, at, values, (first, stop, steps, tail), stream, part.bits)
            out[part.offset : part.offset + part.symbols] = values[first:stop].ravel()[
                : part.tokens
            ]
            return
    symbols = values[first:stop].ravel()[: part.tokens]  # lane after lane: token order
    if table["slow"] is not None:  # codewords with raw bits beyond the table window
        found = [np.nonzero(table["slow"][b]) for b in blocks]
        step = np.concatenate([found[0][0], found[1][0]])
        lane = np.concatenate([found[0][1], found[1][1] + stop - 1 - first])
        slow = lane * values.shape[1] + step
        e = entry[step, lane + first] - offset
        token = table["token"][e]
        run_base, run_bits, value_base, value_bits = (t[token] for t in table["tables"])
        raw_at = at[step, lane + first] + table["size"][e]
        fix = value_base + read_bits(stream, raw_at + run_bits, value_bits)
        _check_width(fix, part.bits, part.mode == DENSE)
        symbols[slow] = fix
    if part.mode == DENSE:
        out[part.offset : part.offset + part.symbols] = symbols
        return
    ent = np.ascontiguousarray(entry[:steps, first:stop].T).ravel()[: part.tokens]
    runs = table["run"][ent - offset]
    if slow is not None:
        fix = run_base + read_bits(stream, raw_at, run_bits)
        if len(fix) and int(fix.max()) >= part.symbols:
            raise StreamError(f"{WHERE}: runs overflow their partition")
        runs[lane * steps + step] = fix.astype(np.int64)
    if int(runs.max()) >= part.symbols or int(runs.sum()) + len(runs) > part.symbols:
        raise StreamError(f"{WHERE}: runs overflow their partition")
    out[np.cumsum(runs + 1) - 1 + part.offset] = symbols


def _read_all(
    table: dict[str, np.ndarray],
    blocks: list[np.ndarray],
    at: np.ndarray,
    values: np.ndarray,
    span: tuple[int, int, int, int],
    stream: np.ndarray,
    bits: int,
) -> None:
    """Read the raw bits of every codeword of a dense partition (most of which are too wide for
    the table) into ``values``: step-major arrays, transposed once."""
    first, stop, steps, tail = span
    for block, lanes, count in (
        (blocks[0], slice(first, stop - 1), steps),
        (blocks[1], slice(stop - 1, stop), tail),
    ):
        if not block.size:
            continue
        token = table["token"][block]
        raw_at = at[:count, lanes] + table["size"][block]
        _, _, value_base, value_bits = table["tables"]
        fix = value_base[token] + read_bits(
            stream, raw_at.ravel(), value_bits[token].ravel()
        ).reshape(token.shape)
        _check_width(fix, bits, dense=True)
        values[lanes, :count] = fix.T


def _lockstep(
    tables: _Tables, stream: np.ndarray, start: np.ndarray, lane_part: np.ndarray, steps: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Decode ``steps`` codewords from every lane at once.

    Returns the table entry of each step (``steps x lanes``), the lanes' positions before each
    step and after the last (``steps + 1 x lanes``), and the symbols that the table gives
    (``lanes x steps``). A lane with fewer tokens decodes garbage after its last one; the caller
    ignores it. Large inputs are split into groups of lanes decoded by parallel threads.
    """
    limit = 8 * len(stream) + int(tables.advance.max()) * (steps + 1) + 64
    itype = np.int32 if limit < 2**31 else np.int64
    windows = np.ndarray((len(stream) - 3,), "<i4", stream, strides=(1,)).astype(itype)
    advance = tables.advance.astype(itype)
    table_base = tables.offset[lane_part].astype(itype)
    mask = ((1 << tables.width[lane_part]) - 1).astype(itype)
    lanes = len(start)
    at = np.empty((steps + 1, lanes), itype)
    at[0] = start
    entry = np.empty((steps, lanes), itype)
    values = np.empty((lanes, steps), tables.value.dtype)

    def run(group: slice) -> None:
        count = group.stop - group.start
        base, width = table_base[group], mask[group]
        # symbols go through a small step-major buffer, copied to the lane-major output every
        # ``VALUE_BLOCK`` steps: far cheaper than writing one symbol per lane and step
        block = np.empty((VALUE_BLOCK, count), tables.value.dtype)
        byte, window = np.empty(count, itype), np.empty(count, itype)
        for step in range(steps):
            pos = at[step, group]
            np.right_shift(pos, 3, out=byte)
            np.take(windows, byte, out=window, mode="clip")
            np.bitwise_and(pos, 7, out=byte)
            np.right_shift(window, byte, out=window)
            np.bitwise_and(window, width, out=window)
            current = entry[step, group]
            np.add(window, base, out=current)
            row = step % VALUE_BLOCK
            np.take(tables.value, current, out=block[row])
            if row == VALUE_BLOCK - 1 or step == steps - 1:
                values[group, step - row : step + 1] = block[: row + 1].T
            np.take(advance, current, out=byte)
            np.add(pos, byte, out=at[step + 1, group])

    _parallel(run, _groups(lanes, lanes * steps))
    return entry, at, values


def _groups(items: int, work: int) -> list[slice]:
    """``items`` cut into one contiguous group per thread (one group for small ``work``)."""
    threads = _threads()
    count = threads if work >= PARALLEL_WORK and items >= threads else 1
    bounds = [items * i // count for i in range(count + 1)]
    return [slice(lo, hi) for lo, hi in itertools.pairwise(bounds)]


def _threads() -> int:
    return min(MAX_THREADS, available())


def _parallel(function: Callable[[Any], Any], items: list) -> list:
    """``function`` over ``items``, on several threads when there are several."""
    return thread_map(function, items, _threads())


def _check_width(values: np.ndarray, bits: int, dense: bool) -> None:
    """Symbols must fit ``bits`` (a run-mode value of 0 means it wrapped past 2**64)."""
    too_big = bits < 64 and int(values.max()) >> bits
    if too_big or (not dense and bits == 64 and not values.all()):
        raise StreamError(f"{WHERE}: a symbol exceeds {bits} bits")
