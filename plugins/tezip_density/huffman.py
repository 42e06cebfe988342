"""Length-limited canonical Huffman codes: lengths from counts, LSB-first codes, decode tables
and the compact serialisation of a table (its code lengths).
"""

from __future__ import annotations

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
    order = np.argsort(counts[used], kind="stable")
    weights = counts[used][order]  # ascending
    while True:
        depth = _sorted_depths(weights.tolist())
        if depth[0] <= limit:  # the rarest symbol has the longest code
            lengths[used[order]] = depth
            return lengths
        weights = (weights + 1) >> 1


def _sorted_depths(weights: list[int]) -> list[int]:
    """Huffman code lengths for ascending weights (Moffat and Katajainen's in-place method)."""
    a = list(weights)
    n = len(a)
    leaf = root = 0  # next leaf, next internal node
    for node in range(n - 1):  # phase 1: internal node weights, then parent pointers
        if leaf >= n or (root < node and a[root] < a[leaf]):
            a[node] = a[root]
            a[root] = node
            root += 1
        else:
            a[node] = a[leaf]
            leaf += 1
        if leaf >= n or (root < node and a[root] < a[leaf]):
            a[node] += a[root]
            a[root] = node
            root += 1
        else:
            a[node] += a[leaf]
            leaf += 1
    a[n - 2] = 0  # phase 2: depths of internal nodes
    for node in range(n - 3, -1, -1):
        a[node] = a[a[node]] + 1
    available, used, depth, node, slot = 1, 0, 0, n - 2, n - 1  # phase 3: leaf depths
    while available > 0:
        while node >= 0 and a[node] == depth:
            used += 1
            node -= 1
        while available > used:
            a[slot] = depth
            slot -= 1
            available -= 1
        available, depth, used = 2 * used, depth + 1, 0
    return a


def canonical_codes(lengths: np.ndarray) -> np.ndarray:
    """LSB-first (bit-reversed canonical) codes for ``lengths``, as uint64."""
    lengths = np.asarray(lengths).astype(np.int64)
    codes = np.zeros(len(lengths), np.uint64)
    order = np.lexsort((np.arange(len(lengths)), lengths))
    order = order[lengths[order] > 0]
    if not len(order):
        return codes
    ordered = lengths[order]
    # canonical code = first code of its length + rank among codes of that length
    count = np.bincount(ordered, minlength=MAX_CODE_LENGTH + 2)
    first = np.zeros(len(count), np.int64)
    for length in range(1, len(count)):  # a few lengths
        first[length] = (first[length - 1] + count[length - 1]) << 1
    rank = np.arange(len(ordered)) - np.searchsorted(ordered, ordered)
    value = (first[ordered] + rank).astype(np.uint64)
    # reverse the low ``length`` bits: reverse 16 bits by bytes, then drop the excess
    low, high = value & np.uint64(0xFF), (value >> np.uint64(8)) & np.uint64(0xFF)
    reversed16 = (_REVERSED[low] << np.uint64(8)) | _REVERSED[high]
    codes[order] = reversed16 >> (16 - ordered).astype(np.uint64)
    return codes


#: each byte with its bits in reverse order
_REVERSED = np.array([int(f"{b:08b}"[::-1], 2) for b in range(256)], np.uint64)


def decode_table(lengths: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Tables indexed by the next ``width`` stream bits: (symbol or -1, code length or 1)."""
    symbols = np.full(1 << width, -1, np.int32)
    sizes = np.ones(1 << width, np.int32)
    used = np.flatnonzero(lengths)
    if not len(used):
        return symbols, sizes
    length = lengths[used].astype(np.int64)
    code = canonical_codes(lengths)[used].astype(np.int64)
    # a code of length L fills every index whose low L bits are the code
    fills = np.int64(1) << (width - length)
    total = int(fills.sum())
    owner = np.repeat(np.arange(len(used)), fills)
    k = np.arange(total) - np.repeat(np.cumsum(fills) - fills, fills)
    index = code[owner] + (k << length[owner])
    symbols[index] = used[owner]
    sizes[index] = length[owner]
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
