"""Residual arrays <-> the int64 field the kernels code, exactly.

Residuals are ``uint{bits}`` codes ``(frames, H, W[, C])``; the field is ``(frames, planes,
H, W)`` int64 with one plane per channel. 64-bit codes are split into two 32-bit planes per
channel (high word first), so that no sum in the kernels can leave the int64 range: the
compiled code treats signed overflow as impossible, and encoder and decoder must never
depend on what it would do. Each plane is read either as two's complement (temporal
residuals cluster around zero and its wrap-around) or in offset binary (codes of an intra GOP
fill ``0 .. max`` and must not jump half-way); colour planes other than the reference (G of
RGB) may then be taken relative to it.
"""

from __future__ import annotations

import numpy as np
from numba import njit

#: the channel the others are taken relative to
REFERENCE = 1
_WORD = np.dtype(np.uint32)


def planes_of(shape: tuple[int, ...], bits: int) -> int:
    """Field planes of residuals of ``shape`` and ``bits``-bit codes."""
    channels = shape[3] if len(shape) == 4 else 1
    return channels * (2 if bits == 64 else 1)


def can_relate(shape: tuple[int, ...], bits: int) -> bool:
    """True when colour planes may be coded relative to the reference channel."""
    return len(shape) == 4 and shape[3] > REFERENCE and bits <= 32


def value_ranges(bits: int, relative: np.ndarray) -> np.ndarray:
    """Per plane, the ``(low, high)`` its field values lie in (predictions are clamped):
    a plane taken relative to the reference needs one bit more than its words."""
    width = min(bits, 32) + relative.astype(np.int64)
    return np.stack([-(1 << (width - 1)), (1 << (width - 1)) - 1], axis=1).astype(np.int64)


def field_dtype(bits: int) -> np.dtype:
    """The integer type of a field: the narrowest that holds its values (codes of up to 8
    bits taken relative to another plane need 10 bits, of 16 bits 18): int16, int32, or
    int64 for wider codes; predictions and sums are computed in 64 bits."""
    return np.dtype(np.int16 if bits <= 8 else np.int32 if bits <= 16 else np.int64)


def _planes(residuals: np.ndarray) -> np.ndarray:
    """``(frames, planes, H, W)`` unsigned codes of at most 32 bits."""
    stacked = residuals[:, None] if residuals.ndim == 3 else np.moveaxis(residuals, 3, 1)
    if residuals.dtype.itemsize < 8:
        return stacked
    high = (stacked >> np.uint64(32)).astype(_WORD)
    low = (stacked & np.uint64(0xFFFFFFFF)).astype(_WORD)
    return np.stack([high, low], axis=2).reshape(len(stacked), -1, *stacked.shape[2:])


def to_field(residuals: np.ndarray, offset_binary: np.ndarray, relative: np.ndarray) -> np.ndarray:
    """The field of residuals; ``offset_binary`` and ``relative`` (to the reference) per
    plane."""
    planes = _planes(residuals)
    field = np.empty(planes.shape, field_dtype(residuals.dtype.itemsize * 8))
    _read(planes, np.asarray(offset_binary, bool), np.asarray(relative, bool), field)
    return field


def from_field(
    field: np.ndarray,
    offset_binary: np.ndarray,
    relative: np.ndarray,
    shape: tuple[int, ...],
    dtype: np.dtype,
) -> np.ndarray:
    """Invert :func:`to_field` into residuals of ``shape``, ``dtype``."""
    dtype = np.dtype(dtype)
    flags, related = np.asarray(offset_binary, bool), np.asarray(relative, bool)
    if dtype.itemsize == 8:
        words = np.empty(field.shape, _WORD)
        _write(field, flags, related, words)
        pairs = words.reshape(len(words), -1, 2, *words.shape[2:]).astype(np.uint64)
        codes = (pairs[:, :, 0] << np.uint64(32)) | pairs[:, :, 1]
        return codes[:, 0] if len(shape) == 3 else np.ascontiguousarray(np.moveaxis(codes, 1, 3))
    out = np.empty(shape, dtype)
    _write(field, flags, related, out[:, None] if len(shape) == 3 else np.moveaxis(out, 3, 1))
    return out


@njit(cache=True, nogil=True)
def _read(planes: np.ndarray, offset_binary: np.ndarray, relative: np.ndarray, field: np.ndarray):
    """Fill ``field`` from words ``planes`` (same shape, any strides): each word read as two's
    complement or, where ``offset_binary``, less half its range; ``relative`` planes less
    the reference plane."""
    frames, count, height, width = planes.shape
    half = np.int64(1) << (planes.itemsize * 8 - 1)
    for f in range(frames):
        for p in range(count):
            shift = half if offset_binary[p] else np.int64(0)
            for y in range(height):
                for x in range(width):
                    value = np.int64(planes[f, p, y, x]) - shift
                    field[f, p, y, x] = value - 2 * half if value >= half else value
        for p in range(count):
            if relative[p]:
                for y in range(height):
                    for x in range(width):
                        field[f, p, y, x] -= field[f, REFERENCE, y, x]


@njit(cache=True, nogil=True)
def _write(field: np.ndarray, offset_binary: np.ndarray, relative: np.ndarray, words: np.ndarray):
    """Invert :func:`_read` into ``words`` (same shape as ``field``, any strides): each value
    modulo the words' range. Row by row, every plane of a row before the next: the planes
    of colour words interleave in memory (1.7 times faster than plane by plane)."""
    frames, count, height, width = field.shape
    half = np.int64(1) << (words.itemsize * 8 - 1)
    mask = 2 * half - 1
    for f in range(frames):
        for y in range(height):
            reference = field[f, REFERENCE, y]
            for p in range(count):
                shift = half if offset_binary[p] else np.int64(0)
                values, out = field[f, p, y], words[f, p, y]
                if relative[p]:
                    for x in range(width):
                        out[x] = (np.int64(values[x]) + shift + np.int64(reference[x])) & mask
                else:
                    for x in range(width):
                        out[x] = (np.int64(values[x]) + shift) & mask
