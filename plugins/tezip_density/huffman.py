"""Length-limited canonical Huffman codes: lengths from counts, LSB-first codes, decode tables
and the compact serialisation of a table (its code lengths).
"""

from __future__ import annotations

import heapq

import numpy as np

from tezip_density.bits import Reader

#: longest code any table may hold (also the largest decode-table index width)
MAX_CODE_LENGTH = 15


def code_lengths(counts: np.ndarray, limit: int) -> np.ndarray:
    """Huffman code lengths (uint8, 0 = unused) for symbol ``counts``, none longer than ``limit``.

    A single used symbol gets length 1. Over-long trees are avoided by halving the counts
    (keeping every used symbol) until the tree fits.
    """
    counts = counts.astype(np.int64)
    used = np.flatnonzero(counts)
    lengths = np.zeros(len(counts), np.uint8)
    if len(used) == 1:
        lengths[used] = 1
        return lengths
    weights = counts[used]
    while True:
        depth = _tree_depths(weights.tolist())
        if max(depth) <= limit:
            lengths[used] = depth
            return lengths
        weights = (weights + 1) >> 1


def _tree_depths(weights: list[int]) -> list[int]:
    heap = [(w, i, i) for i, w in enumerate(weights)]
    heapq.heapify(heap)
    parent = [0] * len(weights)
    node = len(weights)
    while len(heap) > 1:
        w1, _, a = heapq.heappop(heap)
        w2, _, b = heapq.heappop(heap)
        parent.append(0)
        parent[a] = parent[b] = node
        heapq.heappush(heap, (w1 + w2, node, node))
        node += 1
    depth = [0] * node
    for i in range(node - 2, -1, -1):
        depth[i] = depth[parent[i]] + 1
    return depth[: len(weights)]


def canonical_codes(lengths: np.ndarray) -> np.ndarray:
    """LSB-first (bit-reversed canonical) codes for ``lengths``, as uint64."""
    order = np.lexsort((np.arange(len(lengths)), lengths))
    order = order[lengths[order] > 0]
    ordered = lengths[order].astype(np.int64)
    codes = np.zeros(len(lengths), np.uint64)
    code = 0
    previous = int(ordered[0]) if len(ordered) else 0
    canonical = []
    for length in ordered.tolist():
        code <<= length - previous
        previous = length
        canonical.append(code)
        code += 1
    for symbol, value, length in zip(order.tolist(), canonical, ordered.tolist(), strict=True):
        codes[symbol] = int(f"{value:0{length}b}"[::-1], 2)
    return codes


def decode_table(lengths: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Tables indexed by the next ``width`` stream bits: (symbol or -1, code length or 1)."""
    symbols = np.full(1 << width, -1, np.int32)
    sizes = np.ones(1 << width, np.int32)
    codes = canonical_codes(lengths)
    used = np.flatnonzero(lengths)
    for length in np.unique(lengths[used]).tolist():
        group = used[lengths[used] == length]
        step = np.arange(1 << (width - length), dtype=np.int64) << length
        index = (codes[group].astype(np.int64)[:, None] + step[None, :]).ravel()
        symbols[index] = np.repeat(group, len(step))
        sizes[index] = length
    return symbols, sizes


def kraft_complete(lengths: np.ndarray) -> bool:
    """True if the lengths form a complete prefix code (or a single length-1 code)."""
    used = lengths[lengths > 0].astype(np.int64)
    if len(used) == 1:
        return int(used[0]) == 1
    return int(np.sum(np.int64(1) << (MAX_CODE_LENGTH - used))) == 1 << MAX_CODE_LENGTH


def write_lengths(lengths: np.ndarray) -> bytes:
    """Nibbles, low nibble first: 1..15 a code length; 0 n (n < 15) n+1 unused symbols;
    0 15 a b c: 16 + (a | b << 4 | c << 8) unused symbols.
    """
    nibbles: list[int] = []
    values = lengths.tolist()
    i = 0
    while i < len(values):
        if values[i]:
            nibbles.append(values[i])
            i += 1
            continue
        run = 1
        while i + run < len(values) and values[i + run] == 0 and run < 16 + 4095:
            run += 1
        if run <= 15:
            nibbles += [0, run - 1]
        else:
            extra = run - 16
            nibbles += [0, 15, extra & 15, (extra >> 4) & 15, extra >> 8]
        i += run
    if len(nibbles) % 2:
        nibbles.append(0)
    pairs = np.array(nibbles, np.uint8).reshape(-1, 2)
    return (pairs[:, 0] | (pairs[:, 1] << 4)).tobytes()


def read_lengths(reader: Reader, count: int) -> np.ndarray | None:
    """Read ``count`` code lengths written by :func:`write_lengths`; None if malformed."""
    lengths = np.zeros(count, np.uint8)
    i = 0
    pending: list[int] = []

    def nibble() -> int:
        if not pending:
            byte = reader.raw(1, "code lengths")[0]
            pending.extend((byte & 15, byte >> 4))
        return pending.pop(0)

    while i < count:
        value = nibble()
        if value:
            lengths[i] = value
            i += 1
            continue
        n = nibble()
        if n < 15:
            i += n + 1
        else:
            i += 16 + (nibble() | nibble() << 4 | nibble() << 8)
        if i > count:
            return None
    return lengths
