"""rANS with 16-bit renormalisation, and the raw-bit streams beside it.

A state ``x`` lives in ``[LOWER, 2**31)``; a symbol of frequency ``f`` at cumulative start
``c`` (out of ``TOTAL = 2**12``) is pushed as ``x -> (x // f << 12) + x % f + c`` after
shifting one 16-bit word out if ``x >= f << 19``. States below ``2**31`` let the encoder
divide by a reciprocal multiplication that is exact for them. The encoder runs backwards over the
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
LOWER = 1 << 15
#: bytes of a flushed state
STATE_BYTES = 4
#: zero bytes after a stream in a decoder's buffer (the bit reader loads 4 bytes at a time)
PADDING = 8


def encoder_symbols(frequencies: np.ndarray) -> np.ndarray:
    """Per table and token, what :func:`encode_symbol` needs to push it without a division
    (ryg_rans's reciprocal form), packed in one uint64: the reciprocal (bits 0-31), shift
    (32-36), bias (37-50) and complement ``TOTAL - f`` (51-63). With them ``x // f`` is
    ``(x * reciprocal >> 32) >> shift`` for every state ``x < 2**31``. Array expressions:
    a compiled loop took half a second to compile on a first pack."""
    frequency = np.asarray(frequencies, np.int64)
    start = (np.cumsum(frequency, axis=1) - frequency).astype(np.uint64)
    used = np.maximum(frequency, 1).astype(np.uint64)
    ceiling = np.ceil(np.log2(used)).astype(np.uint64)  # the least with f <= 2**ceiling
    one = used == 1  # x // 1 == x: a reciprocal of 2**32 - 1 and a bias fix it
    reciprocal = np.where(one, (1 << 32) - 1, ((1 << (ceiling + 31)) + used - 1) // used)
    shift = np.where(one, 0, ceiling - 1)
    bias = np.where(one, start + (TOTAL - 1), start)
    complement = (TOTAL - used) << np.uint64(51)
    packed = reciprocal | shift << np.uint64(32) | bias << np.uint64(37) | complement
    return np.where(frequency > 0, packed, 0).astype(np.uint64)


@njit(cache=True)
def encode_symbol(
    state: np.int64, symbol: np.uint64, out: np.ndarray, position: np.int64
) -> tuple[np.int64, np.int64]:
    """Push one symbol given its :func:`encoder_symbols` entry; a word goes to
    ``out[position - 2 : position]`` (little-endian). Returns the new state and position."""
    reciprocal = symbol & np.uint64(0xFFFFFFFF)
    shift = (symbol >> np.uint64(32)) & np.uint64(31)
    bias = np.int64((symbol >> np.uint64(37)) & np.uint64(0x3FFF))
    complement = np.int64(symbol >> np.uint64(51))
    # the word is always stored, and kept only if it is due (no branch to mispredict):
    # ``out`` has room below every stream for it
    emit = state >= (TOTAL - complement) << (31 - PROBABILITY_BITS)
    out[position - 2] = state & 0xFF
    out[position - 1] = (state >> 8) & 0xFF
    position -= 2 * np.int64(emit)
    state = state >> 16 if emit else state
    quotient = np.int64(((np.uint64(state) * reciprocal) >> np.uint64(32)) >> shift)
    return state + bias + quotient * complement, position


@njit(cache=True)
def flush(state: np.int64, out: np.ndarray, position: np.int64) -> np.int64:
    """Write the final state (little-endian) before ``position``; returns the new position."""
    position -= STATE_BYTES
    for index in range(STATE_BYTES):
        out[position + index] = (state >> (8 * index)) & 0xFF
    return position


@njit(cache=True)
def load(data: np.ndarray, position: np.int64, count: int) -> np.int64:
    """``count`` little-endian bytes at ``position``, the address clamped into ``data``."""
    at = np.uint64(min(position, np.int64(len(data) - count)))
    value = np.int64(0)
    for index in range(count):
        value |= np.int64(data[at + np.uint64(index)]) << (8 * index)
    return value


@njit(cache=True)
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


@njit(cache=True)
def write_bits(
    value: np.uint64,
    count: np.int64,
    out: np.ndarray,
    position: np.int64,
    buffer: np.uint64,
    filled: np.int64,
) -> tuple[np.int64, np.uint64, np.int64]:
    """Append ``count`` (0 .. 32) low bits of ``value`` to a forward bit stream whose
    ``buffer`` holds ``filled`` (0 .. 31) bits not yet written; whole 32-bit words are
    written as they fill, without a branch: four bytes are always stored at ``position``,
    so ``out`` needs room for them past the stream's end."""
    buffer |= (value & ((np.uint64(1) << np.uint64(count)) - np.uint64(1))) << np.uint64(filled)
    filled += count
    for index in range(4):
        out[position + index] = np.uint8((buffer >> np.uint64(8 * index)) & np.uint64(0xFF))
    full = filled >= 32
    position += 4 * np.int64(full)
    buffer = buffer >> np.uint64(32) if full else buffer
    return position, buffer, filled - 32 * np.int64(full)


@njit(cache=True)
def finish_bits(
    out: np.ndarray, position: np.int64, buffer: np.uint64, filled: np.int64
) -> np.int64:
    """Write the bits left in the buffer, the last byte zero-padded; returns the stream's
    end."""
    for index in range((filled + 7) // 8):
        out[position + index] = np.uint8((buffer >> np.uint64(8 * index)) & np.uint64(0xFF))
    return position + (filled + 7) // 8


@njit(cache=True)
def read_bits(
    count: np.int64, data: np.ndarray, position: np.int64, buffer: np.uint64, filled: np.int64
) -> tuple[np.uint64, np.int64, np.uint64, np.int64]:
    """Take ``count`` (0 .. 32) bits from a forward bit stream held in ``buffer``,
    refilling 32 bits at a time from ``data[position:]`` (clamped), without a branch."""
    refill = filled < count
    word = np.uint64(load(data, position, 4)) << np.uint64(filled)
    buffer = buffer | word if refill else buffer
    position += 4 * np.int64(refill)
    filled += 32 * np.int64(refill)
    value = buffer & ((np.uint64(1) << np.uint64(count)) - np.uint64(1))
    return value, position, buffer >> np.uint64(count), filled - count
