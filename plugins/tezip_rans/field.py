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
    """The integer type of a field: int32 for codes of up to 16 bits (values, sums and
    differences stay far below 2**31), int64 for wider ones."""
    return np.dtype(np.int32 if bits <= 16 else np.int64)


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
    signed = np.dtype(f"int{planes.dtype.itemsize * 8}")  # the words read as two's complement
    top = planes.dtype.type(1 << (planes.dtype.itemsize * 8 - 1))
    field = np.empty(planes.shape, field_dtype(residuals.dtype.itemsize * 8))
    for plane, flag in enumerate(offset_binary):
        codes = planes[:, plane] ^ top if flag else planes[:, plane]
        field[:, plane] = np.ascontiguousarray(codes).view(signed)
    for plane in np.flatnonzero(relative):
        field[:, plane] -= field[:, REFERENCE]
    return field


def from_field(
    field: np.ndarray,
    offset_binary: np.ndarray,
    relative: np.ndarray,
    shape: tuple[int, ...],
    dtype: np.dtype,
) -> np.ndarray:
    """Invert :func:`to_field` (``field`` is modified) into residuals of ``shape``, ``dtype``."""
    for plane in np.flatnonzero(relative):
        field[:, plane] += field[:, REFERENCE]
    word = _WORD if dtype.itemsize == 8 else dtype
    codes = field.astype(word)  # modulo 2**bits of the plane
    top = word.type(1 << (word.itemsize * 8 - 1))
    for plane, flag in enumerate(offset_binary):
        if flag:
            codes[:, plane] ^= top
    if dtype.itemsize == 8:
        pairs = codes.reshape(len(codes), -1, 2, *codes.shape[2:]).astype(np.uint64)
        codes = (pairs[:, :, 0] << np.uint64(32)) | pairs[:, :, 1]
    return codes[:, 0] if len(shape) == 3 else np.ascontiguousarray(np.moveaxis(codes, 1, 3))
