"""The bitstream container: LEB128 varints, a bounds-checked byte reader, and vectorised
LSB-first bit packing and unaligned bit reads.

Bit ``i`` of a bitstream is ``(data[i >> 3] >> (i & 7)) & 1``; a field of ``n`` bits written
at bit ``p`` holds its least significant bit at ``p``.
"""

from __future__ import annotations

import numpy as np

from tezip.errors import StreamError

#: the most bits one unaligned 64-bit window read returns whatever the bit offset
WINDOW_BITS = 57


class Writer:
    """Appends varints, bytes and byte-aligned bit fields."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []

    def varint(self, value: int) -> None:
        value = int(value)
        if value < 0:
            raise ValueError("varints are unsigned")
        out = bytearray()
        while True:
            byte = value & 0x7F
            value >>= 7
            if value:
                out.append(byte | 0x80)
            else:
                out.append(byte)
                break
        self.parts.append(bytes(out))

    def raw(self, data: bytes) -> None:
        self.parts.append(bytes(data))

    def getvalue(self) -> bytes:
        return b"".join(self.parts)


class Reader:
    """Reads what :class:`Writer` wrote; every overrun or oversize value is a ``StreamError``."""

    def __init__(self, data: bytes, where: str) -> None:
        self.data = memoryview(data).cast("B")
        self.pos = 0
        self.where = where

    def fail(self, message: str) -> StreamError:
        return StreamError(f"{self.where}: {message}")

    def varint(self, limit: int, what: str) -> int:
        """A varint that must be ``<= limit``."""
        value = shift = 0
        while True:
            if self.pos >= len(self.data):
                raise self.fail(f"truncated while reading {what}")
            byte = self.data[self.pos]
            self.pos += 1
            value |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                break
            if shift > 63:
                raise self.fail(f"overlong varint for {what}")
        if value > limit:
            raise self.fail(f"{what} = {value} exceeds its limit {limit}")
        return value

    def raw(self, count: int, what: str) -> memoryview:
        if count > len(self.data) - self.pos:
            raise self.fail(f"truncated: {what} needs {count} bytes")
        out = self.data[self.pos : self.pos + count]
        self.pos += count
        return out

    @property
    def remaining(self) -> int:
        return len(self.data) - self.pos


def pack_bits(values: np.ndarray, lengths: np.ndarray) -> tuple[bytes, int]:
    """Concatenate fields LSB-first; ``values`` uint64 (no bits above ``lengths``), lengths <= 64.

    Returns the bytes (zero-padded to a byte boundary) and the exact bit count.
    """
    lengths = lengths.astype(np.int64, copy=False)
    longest = int(lengths.max()) if len(lengths) else 0
    while 0 < longest <= 32 and len(values) > 1:  # merge neighbours: fewer, fuller fields
        if len(values) % 2:
            values, lengths = np.append(values, np.uint64(0)), np.append(lengths, 0)
        values = values[0::2] | (values[1::2] << lengths[0::2].astype(np.uint64))
        lengths = lengths[0::2] + lengths[1::2]
        longest *= 2
    count = len(lengths)
    start = np.zeros(count + 1, np.int64)
    np.cumsum(lengths, out=start[1:])
    total = int(start[-1])
    words = np.zeros(total // 64 + 2, np.uint64)
    if total:
        start = start[:-1]
        word = start >> 6
        offset = start.view(np.uint64) & np.uint64(63)
        low = values.astype(np.uint64, copy=False) << offset
        # fields sharing a word are OR-ed together; a field crossing into the next word can
        # only be the last of its group
        first = np.flatnonzero(word[1:] != word[:-1]) + 1
        last = np.append(first - 1, count - 1)
        first = np.concatenate(([0], first))
        words[word[first]] = np.bitwise_or.reduceat(low, first)
        high = (values[last].astype(np.uint64) >> np.uint64(1)) >> (np.uint64(63) - offset[last])
        words[word[last] + 1] |= high
    return words.astype("<u8", copy=False).tobytes()[: (total + 7) // 8], total


def padded(data: bytes | memoryview | np.ndarray) -> np.ndarray:
    """The bytes as uint8 with 16 zero bytes appended, so that windows never run off the end."""
    buf = np.zeros(len(data) + 16, np.uint8)
    buf[: len(data)] = np.frombuffer(data, np.uint8)
    return buf


def read_bits(buf: np.ndarray, pos: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Read fields of ``lengths`` (<= 64) bits at bit offsets ``pos`` from a padded buffer."""
    view = np.ndarray((len(buf) - 8,), dtype="<u8", buffer=buf, strides=(1,))
    pos = pos.astype(np.int64, copy=False)
    lengths = lengths.astype(np.uint64, copy=False)
    if len(lengths) and int(lengths.max()) > WINDOW_BITS:
        low = read_bits(buf, pos, np.minimum(lengths, np.uint64(32)))
        rest = lengths - np.minimum(lengths, np.uint64(32))
        return low | (read_bits(buf, pos + 32, rest) << np.uint64(32))
    window = view[pos >> 3] >> (pos & 7).astype(np.uint64)
    mask = (np.uint64(1) << lengths) - np.uint64(1)
    return window & mask


def bit_length(values: np.ndarray) -> np.ndarray:
    """Number of significant bits of each unsigned value (0 for 0), as int64."""
    values = values.astype(np.uint64, copy=False)
    # the biased exponent of the (exact below 2**53) float64: bit length + 1022 for x >= 1
    exponent = (values.astype(np.float64).view(np.int64) >> 52) - 1022
    np.maximum(exponent, 0, out=exponent)
    big = values >= np.uint64(1 << 53)
    if big.any():  # float rounding may have carried into the next power of two
        e = exponent[big]
        exponent[big] = e - ((values[big] >> (e - 1).astype(np.uint64)) == 0)
    return exponent
