"""The coding model of a GOP: which context uses which table, and the tables themselves.

The encoder counts tokens per ``(plane, context)``, then merges contexts into clusters that
share a table where the bytes a table costs exceed what separate statistics save (contexts
sorted by their mean token, neighbours merged greedily: JPEG XL's histogram clustering in
one dimension), then moves each context to the table that codes it in the fewest bits and
sums the tables again, as k-means does, while that saves bits. Each cluster's counts become
frequencies summing to ``TOTAL`` with every seen token kept at least 1, so every coded token
stays codable.
"""

from __future__ import annotations

import heapq

import numpy as np
from numba import njit

from tezip.errors import StreamError
from tezip_rans.rans import PROBABILITY_BITS, TOTAL

#: most tables one GOP may use (their decode tables stay in cache)
MAX_TABLES = 64
#: most rounds of moving contexts between tables after the merge (:func:`cluster`)
REFINE_ROUNDS = 2


@njit(cache=True)
def _bits(counts: np.ndarray, share: float = 1.0) -> float:
    """Information content of a histogram, in bits, plus ``share`` of its table's
    approximate size."""
    return _summed_bits(counts, counts, False, share)


@njit(cache=True)
def _pair_bits(first: np.ndarray, second: np.ndarray) -> float:
    """:func:`_bits` of the sum of two histograms, without making it (the same float)."""
    return _summed_bits(first, second, True, 1.0)


@njit(cache=True)
def _summed_bits(first: np.ndarray, second: np.ndarray, paired: bool, share: float) -> float:
    """:func:`_bits` of ``first + second`` where ``paired``, else of ``first``: ``n log2 n``
    minus the sum of ``c log2 c`` over the counts ``c`` (summing to ``n``)."""
    total = 0.0
    weighted = 0.0
    used = 0
    for index in range(len(first)):
        count = first[index] + second[index] if paired else first[index]
        if count > 0:
            total += count
            weighted += _x_log2_x(count)
            used += 1
    if total == 0:
        return 0.0
    return _x_log2_x(total) - weighted + _table_bits(used, share)


#: ``c log2 c`` of the counts below its length: most counts that a merge of contexts weighs
#: are small, and a lookup takes half the time of a logarithm
_X_LOG2_X = np.arange(4096.0) * np.log2(np.maximum(np.arange(4096.0), 1.0))


@njit(cache=True, inline="always")
def _x_log2_x(count: float) -> float:
    """``count log2 count`` of a positive whole count."""
    if count < len(_X_LOG2_X):
        return _X_LOG2_X[np.int64(count)]
    return count * np.log2(count)


@njit(cache=True)
def _table_bits(used: int, share: float) -> float:
    """``share`` of the approximate size of a table with ``used`` tokens."""
    return share * 8.0 * (1.0 + 1.5 * used)


@njit(cache=True)
def _merge_sorted(histograms: np.ndarray, limit: int) -> np.ndarray:
    """Greedy adjacent merging of histograms (already in order); returns each one's
    segment number. Merges while a merge saves bits, then until ``limit`` segments remain;
    each step merges the pair whose merge costs fewest extra bits, the first of equals
    (found through a heap whose outdated entries are skipped as they come up)."""
    count = len(histograms)
    merged = histograms.astype(np.float64).copy()
    alive = np.ones(count, np.bool_)
    following = np.arange(1, count + 1)
    preceding = np.arange(-1, count - 1)
    cost = np.empty(count)
    for i in range(count):
        cost[i] = _bits(merged[i])
    joined = np.full(count, np.inf)  # bits of i merged with its follower
    gain = np.full(count, np.inf)  # extra bits of merging i with its follower
    heap = [(np.inf, count)]  # (gain, i): typed by this entry, taken out below
    heap.pop()
    for i in range(count - 1):
        joined[i] = _pair_bits(merged[i], merged[i + 1])
        gain[i] = joined[i] - cost[i] - cost[i + 1]
        heap.append((gain[i], i))
    heapq.heapify(heap)
    segments = count
    while segments > 1 and heap:
        extra, best = heapq.heappop(heap)
        if not alive[best] or following[best] >= count or gain[best] != extra:
            continue  # outdated: the segment was merged or its gain changed since
        if extra >= 0 and segments <= limit:
            break
        other = following[best]
        for token in range(merged.shape[1]):  # no slice: see tezip.costs._mode_bits
            merged[best, token] += merged[other, token]
        cost[best] = joined[best]  # the same float as _bits(merged[best])
        alive[other] = False
        following[best] = following[other]
        if following[best] < count:
            preceding[following[best]] = best
            nxt = following[best]
            joined[best] = _pair_bits(merged[best], merged[nxt])
            gain[best] = joined[best] - cost[best] - cost[nxt]
            heapq.heappush(heap, (gain[best], best))
        else:
            gain[best] = np.inf
        before = preceding[best]
        if before >= 0:
            joined[before] = _pair_bits(merged[before], merged[best])
            gain[before] = joined[before] - cost[before] - cost[best]
            heapq.heappush(heap, (gain[before], before))
        segments -= 1
    label = np.zeros(count, np.int64)
    current = -1
    for i in range(count):
        if alive[i]:
            current += 1
        label[i] = current
    return label


def histogram_bits(histogram: np.ndarray, share: float = 1.0) -> float:
    """The bits a histogram (contexts x tokens) would cost if each context had a table of
    its own: the information content of every row plus the approximate size of its table;
    for a sample that is ``share`` of what the tables will code, that share of the tables."""
    return _histogram_bits(histogram, share)


@njit(cache=True)
def _histogram_bits(histogram: np.ndarray, share: float) -> float:
    bits = 0.0
    for row in histogram:
        bits += _bits(row, share)
    return bits


def cluster(histogram: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Map every row of ``histogram`` (contexts x tokens) to a table; returns the map and
    the tables' summed counts. Unused contexts map to table 0."""
    used, mean = _used_rows(histogram)
    mapping = np.zeros(len(histogram), np.int64)
    if len(used) == 0:
        return mapping, np.zeros((1, histogram.shape[1]), np.int64)
    order = np.argsort(mean, kind="stable")
    rows = histogram[used[order]]
    labels, tables = _summed(rows, _merge_sorted(rows, MAX_TABLES))
    labels, tables = _refined(rows, labels, tables)
    mapping[used[order]] = labels
    return mapping, tables


@njit(cache=True, nogil=True)
def _used_rows(histogram: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The rows of a histogram that count something, and the mean token of each."""
    used = np.empty(len(histogram), np.int64)
    mean = np.empty(len(histogram))
    count = 0
    for row in range(len(histogram)):
        total = 0
        weighted = 0
        for token in range(histogram.shape[1]):
            total += histogram[row, token]
            weighted += token * histogram[row, token]
        if total:
            used[count], mean[count] = row, weighted / total
            count += 1
    return used[:count], mean[:count]


@njit(cache=True, nogil=True)
def _refined(
    rows: np.ndarray, labels: np.ndarray, tables: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The merge's clusters improved by reassignment, as k-means does: each context moves to
    the table that codes its tokens in the fewest bits (its own unless another is strictly
    cheaper), the tables are summed again, and again, while the tokens' bits plus the
    tables' estimated size go down. (Plain loops throughout: NumPy's functions compile for
    seconds in numba, and this runs in every first pack.)"""
    cost = _neg_log(tables)
    bits = _clustered_bits(rows, labels, tables, cost)
    for _ in range(REFINE_ROUNDS):
        moved, changed = _nearest_tables(rows, labels, cost)
        if not changed:
            break
        moved, summed = _summed(rows, moved)
        moved_cost = _neg_log(summed)
        moved_bits = _clustered_bits(rows, moved, summed, moved_cost)
        if moved_bits >= bits:
            break
        labels, tables, cost, bits = moved, summed, moved_cost, moved_bits
    return labels, tables


@njit(cache=True, nogil=True)
def _neg_log(tables: np.ndarray) -> np.ndarray:
    """Bits of each token in each table, as :func:`normalise` makes its frequencies, token
    by token (``(tokens, tables)``); infinite where a table cannot code the token."""
    cost = np.empty((tables.shape[1], tables.shape[0]))
    for table in range(tables.shape[0]):
        frequencies = _normalised(tables[table])
        for token in range(tables.shape[1]):
            frequency = frequencies[token]
            cost[token, table] = PROBABILITY_BITS - np.log2(frequency) if frequency else np.inf
    return cost


@njit(cache=True, nogil=True)
def _nearest_tables(
    rows: np.ndarray, labels: np.ndarray, cost: np.ndarray
) -> tuple[np.ndarray, bool]:
    """Each row's cheapest table under ``cost`` (:func:`_neg_log`), its own where no other is
    strictly cheaper; and whether any row moved."""
    tables = cost.shape[1]
    bits = np.empty(tables)
    out = labels.copy()
    changed = False
    for i in range(rows.shape[0]):
        for table in range(tables):
            bits[table] = 0.0
        for token in range(rows.shape[1]):
            count = rows[i, token]
            if count:
                for table in range(tables):
                    bits[table] += count * cost[token, table]
        best, chosen = bits[labels[i]], labels[i]
        for table in range(tables):
            if bits[table] < best:
                best, chosen = bits[table], table
        if chosen != labels[i]:
            out[i], changed = chosen, True
    return out, changed


@njit(cache=True, nogil=True)
def _summed(rows: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Labels renumbered without the tables no row chose, and each table's summed counts."""
    renumbered = np.zeros(len(rows) + 1, np.int64)  # labels are fewer than the rows
    for label in labels:
        renumbered[label] = 1
    count = 0
    for label in range(len(renumbered)):
        if renumbered[label]:
            renumbered[label] = count
            count += 1
    summed = np.zeros((count, rows.shape[1]), np.int64)
    out = np.empty(len(labels), np.int64)
    for i in range(rows.shape[0]):
        out[i] = renumbered[labels[i]]
        for token in range(rows.shape[1]):
            summed[out[i], token] += rows[i, token]
    return out, summed


@njit(cache=True, nogil=True)
def _clustered_bits(
    rows: np.ndarray, labels: np.ndarray, tables: np.ndarray, cost: np.ndarray
) -> float:
    """The tokens' bits under the tables (``cost``: :func:`_neg_log`), plus the tables'
    estimated size."""
    bits = 0.0
    for i in range(rows.shape[0]):
        for token in range(rows.shape[1]):
            if rows[i, token]:
                bits += rows[i, token] * cost[token, labels[i]]
    for table in range(tables.shape[0]):
        used = 0
        for token in range(tables.shape[1]):
            used += tables[table, token] > 0
        bits += _table_bits(used, 1.0)
    return bits


def normalise(counts: np.ndarray) -> np.ndarray:
    """Frequencies summing to ``TOTAL`` from counts: each seen token at least 1, none all of
    ``TOTAL`` (a table has two tokens at least, so that every token costs some bits and a
    stream's length bounds how many elements it can hold: spec/stages/tezip.rans.md)."""
    return _normalised(np.asarray(counts, np.int64))


@njit(cache=True, nogil=True)
def _normalised(counts: np.ndarray) -> np.ndarray:
    seen = 0
    for count in counts:
        seen += count > 0
    if seen < 2:  # give the only token (or token 0) a neighbour of frequency 1
        only = 0
        for token in range(len(counts)):
            if counts[token] > 0:
                only = token
        widened = np.zeros(len(counts), np.int64)
        widened[only] = max(counts[only], TOTAL)
        widened[only - 1 if only else 1] = 1
        counts = widened
    total = 0
    for count in counts:
        total += count
    frequencies = np.zeros(len(counts), np.int64)
    difference = TOTAL
    for token in range(len(counts)):
        if counts[token] > 0:
            frequencies[token] = max(1, counts[token] * TOTAL // total)
            difference -= frequencies[token]
    # hand the rounding difference to the largest entries, never below 1
    order = _by_size(frequencies)
    index = 0
    while difference != 0:
        target = order[index % len(order)]
        if frequencies[target] > 0:
            step = difference if difference > 0 else max(difference, 1 - frequencies[target])
            frequencies[target] += step
            difference -= step
        index += 1
    return frequencies


@njit(cache=True, nogil=True)
def _by_size(values: np.ndarray) -> np.ndarray:
    """Indices of ``values`` from the largest down, equals in index order (a stable
    insertion sort: a library sort compiles for seconds, and tables are short)."""
    order = np.arange(len(values))
    for i in range(1, len(values)):
        index = order[i]
        j = i
        while j > 0 and values[order[j - 1]] < values[index]:
            order[j] = order[j - 1]
            j -= 1
        order[j] = index
    return order


def tables(histogram: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A GOP's coding model from its histogram (contexts x tokens): the context-to-table map
    (:func:`cluster`) and each table's frequencies (:func:`normalise`)."""
    mapping, counts = cluster(histogram)
    return mapping, np.array([normalise(row) for row in counts], np.int64)


def coded_bits(histogram: np.ndarray, mapping: np.ndarray, frequencies: np.ndarray) -> float:
    """The information content of a histogram's tokens (contexts x tokens) coded with the
    tables of :func:`tables`: what the rANS bytes come to, within a few bytes."""
    return _coded_bits(histogram, mapping, frequencies)


@njit(cache=True, nogil=True)
def _coded_bits(histogram: np.ndarray, mapping: np.ndarray, frequencies: np.ndarray) -> float:
    bits = 0.0
    for row in range(len(histogram)):
        table = mapping[row]
        for token in range(histogram.shape[1]):
            count = histogram[row, token]
            if count:
                bits += count * (PROBABILITY_BITS - np.log2(frequencies[table, token]))
    return bits


#: entries per table in :func:`decode_tables`' symbol array (a power of two above the
#: largest token)
SYMBOL_STRIDE = 128


def decode_tables(frequencies: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """What a decoder looks up, per table: the token of every slot ``0 .. TOTAL - 1``
    (uint8, ``(tables, TOTAL)``), and per token its frequency minus one (bits 0-11) and
    cumulative start (bits 12-23) (uint32, ``(tables, SYMBOL_STRIDE)``). One byte per slot
    keeps 64 tables within 256 kB, near the processor, where four bytes per slot (the
    frequency and start beside the token) made decoding 1.2 times slower."""
    count, width = frequencies.shape
    every = np.tile(np.arange(width, dtype=np.uint8), count)
    tokens = np.repeat(every, frequencies.ravel()).reshape(count, TOTAL)
    starts = np.cumsum(frequencies, axis=1) - frequencies
    packed = np.where(frequencies > 0, (frequencies - 1) | starts << 12, 0)
    symbols = np.zeros((count, SYMBOL_STRIDE), np.uint32)
    symbols[:, :width] = packed
    return tokens, symbols


def varints(values: np.ndarray) -> bytes:
    """Unsigned LEB128 encoding of non-negative integers (below ``2**63``)."""
    values = np.asarray(values, np.int64)
    out = np.empty(values.size * 10, np.uint8)
    return out[: _write_varints(values, out, 0)].tobytes()


def write_tables(frequencies: np.ndarray) -> bytes:
    """Each table as its token count then one varint per frequency."""
    out = np.empty(frequencies.size * 10 + len(frequencies) * 10, np.uint8)
    return out[: _write_tables(np.asarray(frequencies, np.int64), out)].tobytes()


@njit(cache=True)
def _write_varints(values: np.ndarray, out: np.ndarray, position: int) -> int:
    """Write ``values`` (non-negative) as varints from ``out[position:]``; returns the end."""
    for value in values:
        while value >= 0x80:
            out[position] = value & 0x7F | 0x80
            position += 1
            value >>= 7
        out[position] = value
        position += 1
    return position


@njit(cache=True)
def _write_tables(frequencies: np.ndarray, out: np.ndarray) -> int:
    """:func:`write_tables` into ``out``; returns the bytes written."""
    position = 0
    for row in frequencies:
        length = 0
        for token in range(len(row)):
            if row[token]:
                length = token + 1
        position = _write_varints(np.array([length], np.int64), out, position)
        position = _write_varints(row[:length], out, position)
    return position


class Reader:
    """Varints from a byte string, each read checked against its end."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self._bytes = np.frombuffer(data, np.uint8)
        self.position = 0

    def varint(self, limit: int) -> int:
        """One varint, which must be at most ``limit``."""
        return int(self.varints(1, limit)[0])

    def varints(self, count: int, limit: int) -> np.ndarray:
        """``count`` varints, each at most ``limit`` (below ``2**63``)."""
        values = np.empty(count, np.int64)
        status, self.position = _read_varints(self._bytes, self.position, limit, values)
        _check(status, limit)
        return values

    def tables(self, count: int, tokens: int, width: int) -> np.ndarray:
        """``count`` tables of at most ``tokens`` tokens (as ``(count, width)`` rows), each
        its token count then one varint per frequency, summing to ``TOTAL`` with no
        frequency all of it: one compiled pass (a call per table took 0.7 ms per GOP)."""
        frequencies = np.zeros((count, width), np.int64)
        status, self.position = _read_tables(self._bytes, self.position, tokens, frequencies)
        _check(status, TOTAL - 1)
        return frequencies

    def byte(self) -> int:
        if self.position >= len(self.data):
            raise StreamError("tezip.rans stream is truncated")
        self.position += 1
        return self.data[self.position - 1]

    def take(self, count: int) -> bytes:
        if self.position + count > len(self.data):
            raise StreamError("tezip.rans stream is truncated")
        self.position += count
        return self.data[self.position - count : self.position]


_TRUNCATED, _TOO_LARGE, _NOT_TOTAL, _LONG_TABLE = 1, 2, 3, 4


def _check(status: int, limit: int) -> None:
    """Raise what a reading's status says went wrong (0: nothing)."""
    if status == _TRUNCATED:
        raise StreamError("tezip.rans stream ends inside a number")
    if status == _TOO_LARGE:
        raise StreamError(f"tezip.rans stream holds a number above {limit}")
    if status == _NOT_TOTAL:
        raise StreamError("tezip.rans table frequencies do not sum to the total")
    if status == _LONG_TABLE:
        raise StreamError("tezip.rans table has more tokens than its alphabet")


@njit(cache=True)
def _read_varint(data: np.ndarray, position: int, limit: int) -> tuple[int, int, int]:
    """The varint at ``data[position:]``: a status (0, or what stopped the reading), its
    value (at most ``limit``) and the position after it."""
    value, shift = np.uint64(0), 0
    while True:
        if position >= len(data) or shift > 63:
            return _TRUNCATED, 0, position
        byte = np.uint64(data[position])
        position += 1
        part = byte & np.uint64(0x7F)
        if shift == 63 and part > np.uint64(1):  # at least 2**64
            return _TOO_LARGE, 0, position
        value |= part << np.uint64(shift)
        shift += 7
        if byte < np.uint64(0x80):
            break
    if value > np.uint64(limit):
        return _TOO_LARGE, 0, position
    return 0, np.int64(value), position


@njit(cache=True)
def _read_varints(data: np.ndarray, position: int, limit: int, out: np.ndarray) -> tuple[int, int]:
    """Fill ``out`` with the varints from ``data[position:]``; returns a status (0, or
    what stopped the reading) and the position after the last one read."""
    for index in range(len(out)):
        status, out[index], position = _read_varint(data, position, limit)
        if status:
            return status, position
    return 0, position


@njit(cache=True)
def _read_tables(data: np.ndarray, position: int, tokens: int, out: np.ndarray) -> tuple[int, int]:
    """Fill the rows of ``out`` with tables (:meth:`Reader.tables`); returns a status and
    the position after the last table read."""
    for table in range(out.shape[0]):
        status, length, position = _read_varint(data, position, tokens)
        if status:
            return _LONG_TABLE if status == _TOO_LARGE else status, position
        status, position = _read_varints(data, position, TOTAL - 1, out[table, :length])
        if status:
            return status, position
        if out[table].sum() != TOTAL:
            return _NOT_TOTAL, position
    return 0, position
