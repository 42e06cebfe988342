"""rANS with 16-bit renormalisation, and the raw-bit streams beside it.

A state ``x`` lives in ``[LOWER, 2**32)``; a symbol of frequency ``f`` at cumulative start
``c`` (out of ``TOTAL = 2**12``) is pushed as ``x -> (x // f << 12) + x % f + c`` after
shifting one 16-bit word out if ``x >= f << 20``. The encoder runs backwards over the
symbols and writes from the end of a buffer towards its start; the decoder reads forwards,
at most one word per symbol, and must end in the state the encoder started from. Raw bits
are written forwards, least significant first, in a separate stream.

Decoders read through a padded copy with every address clamped into it, so a damaged
stream can never make them read outside their buffer; whether a stream was consumed
exactly is checked once, at the end of its partition. All functions are scalar (numba
``@njit``) so that GPU twins can share them.
"""

from __future__ import annotations

import numpy as np
from numba import njit

PROBABILITY_BITS = 12
TOTAL = 1 << PROBABILITY_BITS
LOWER = 1 << 16
#: bytes of a flushed state
STATE_BYTES = 4
#: zero bytes after a stream in a decoder's buffer (the bit reader loads 4 bytes at a time)
PADDING = 8


@njit(cache=True, inline="always")
def encode_symbol(
    state: np.int64, start: np.int64, frequency: np.int64, out: np.ndarray, position: np.int64
) -> tuple[np.int64, np.int64]:
    """Push one symbol; a word goes to ``out[position - 2 : position]`` (little-endian).
    Returns the new state and position."""
    if state >= frequency << (32 - PROBABILITY_BITS):
        position -= 2
        out[position] = state & 0xFF
        out[position + 1] = (state >> 8) & 0xFF
        state >>= 16
    quotient = np.uint32(state) // np.uint32(frequency)  # 32-bit division: the state fits
    remainder = state - np.int64(quotient) * frequency
    return (np.int64(quotient) << PROBABILITY_BITS) + remainder + start, position


@njit(cache=True, inline="always")
def flush(state: np.int64, out: np.ndarray, position: np.int64) -> np.int64:
    """Write the final state (little-endian) before ``position``; returns the new position."""
    position -= STATE_BYTES
    for index in range(STATE_BYTES):
        out[position + index] = (state >> (8 * index)) & 0xFF
    return position


@njit(cache=True, inline="always")
def load(data: np.ndarray, position: np.int64, count: int) -> np.int64:
    """``count`` little-endian bytes at ``position``, the address clamped into ``data``."""
    position = min(position, np.int64(len(data) - count))
    value = np.int64(0)
    for index in range(count):
        value |= np.int64(data[position + index]) << (8 * index)
    return value


@njit(cache=True, inline="always")
def decode_step(
    state: np.int64, frequency: np.int64, offset: np.int64, data: np.ndarray, position: np.int64
) -> tuple[np.int64, np.int64]:
    """Advance past a symbol of ``frequency`` whose slot lies ``offset`` past its start, and
    pull a word when the state drops below ``LOWER`` (without a branch)."""
    state = frequency * (state >> PROBABILITY_BITS) + offset
    refill = state < LOWER
    word = load(data, position, 2)
    state = (state << 16) | word if refill else state
    return state, position + 2 * np.int64(refill)


@njit(cache=True, inline="always")
def write_bits(
    value: np.uint64,
    count: np.int64,
    out: np.ndarray,
    position: np.int64,
    buffer: np.uint64,
    filled: np.int64,
) -> tuple[np.int64, np.uint64, np.int64]:
    """Append ``count`` (0 .. 63) low bits of ``value`` to a forward bit stream."""
    while count > 0:
        take = min(count, np.int64(32))
        part = value & ((np.uint64(1) << np.uint64(take)) - np.uint64(1))
        buffer |= part << np.uint64(filled)
        filled += take
        value >>= np.uint64(take)
        count -= take
        while filled >= 8:
            out[position] = np.uint8(buffer & np.uint64(0xFF))
            position += 1
            buffer >>= np.uint64(8)
            filled -= 8
    return position, buffer, filled


@njit(cache=True, inline="always")
def finish_bits(
    out: np.ndarray, position: np.int64, buffer: np.uint64, filled: np.int64
) -> np.int64:
    """Write the last partial byte (zero-padded); returns the stream's end."""
    if filled > 0:
        out[position] = np.uint8(buffer & np.uint64(0xFF))
        position += 1
    return position


@njit(cache=True, inline="always")
def read_bits(
    count: np.int64, data: np.ndarray, position: np.int64, buffer: np.uint64, filled: np.int64
) -> tuple[np.uint64, np.int64, np.uint64, np.int64]:
    """Take ``count`` (0 .. 32) bits from a forward bit stream held in ``buffer``,
    refilling 32 bits at a time from ``data[position:]`` (clamped)."""
    if filled < count:
        buffer |= np.uint64(load(data, position, 4)) << np.uint64(filled)
        position += 4
        filled += 32
    value = buffer & ((np.uint64(1) << np.uint64(count)) - np.uint64(1))
    return value, position, buffer >> np.uint64(count), filled - count
