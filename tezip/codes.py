"""Integer code arithmetic shared by every stage: dtypes, wrapping, zig-zag, ordered floats."""

from __future__ import annotations

import numpy as np

from tezip.errors import InputError

#: dtypes tezip packs, by canonical (little-endian) name.
SUPPORTED_DTYPES: tuple[str, ...] = (
    "uint8",
    "int8",
    "uint16",
    "int16",
    "uint32",
    "int32",
    "float32",
    "float64",
)


def canonical_dtype(dtype: np.dtype | str) -> np.dtype:
    """Return the native little-endian form of a supported dtype, or raise ``InputError``."""
    packs = f"tezip packs {', '.join(SUPPORTED_DTYPES)}"
    try:
        dt = np.dtype(dtype)
    except (TypeError, ValueError, SyntaxError):  # NumPy parses ",int8" as Python: SyntaxError
        raise InputError(f"unsupported dtype {dtype!r}; {packs}") from None
    if dt.kind not in "uif" or dt.newbyteorder("<").name not in SUPPORTED_DTYPES:
        raise InputError(f"unsupported dtype {dt.str!r}; {packs}")
    return np.dtype(dt.name)


def unsigned(bits: int) -> np.dtype:
    """The unsigned code dtype of a width in bits."""
    return np.dtype(f"uint{bits}")


def bits_for(max_code: int) -> int:
    """Smallest code width (8, 16, 32 or 64 bits) that holds ``0..max_code``."""
    for bits in (8, 16, 32, 64):
        if max_code < 1 << bits:
            return bits
    raise InputError(f"code range {max_code} exceeds 64 bits")


def zigzag(residuals: np.ndarray) -> np.ndarray:
    """Map wrapped residuals (unsigned, two's complement) to small unsigned symbols.

    0, -1, 1, -2, 2 ... become 0, 1, 2, 3, 4 ...; a bijection on the code width.
    """
    bits = residuals.dtype.itemsize * 8
    signed = residuals.view(f"int{bits}")
    return ((signed << 1) ^ (signed >> (bits - 1))).view(residuals.dtype)


def unzigzag(symbols: np.ndarray) -> np.ndarray:
    """Invert :func:`zigzag`."""
    one = symbols.dtype.type(1)
    return (symbols >> one) ^ (-(symbols & one)).astype(symbols.dtype, copy=False)


def ordered_bits(values: np.ndarray) -> np.ndarray:
    """Order-preserving bijection from float (or signed int) bit patterns to unsigned codes.

    Floats: negative numbers have all bits flipped, non-negative ones get the sign bit set
    (as fpzip does), so code order follows value order and NaN payloads and -0.0 survive.
    Signed integers: the sign bit is flipped (offset binary).
    """
    code = unsigned(values.dtype.itemsize * 8)
    bits = values.view(code)
    top = code.type(1 << (code.itemsize * 8 - 1))
    if values.dtype.kind == "f":
        negative = (bits & top) != 0
        return np.where(negative, ~bits, bits | top)
    return bits ^ top


def from_ordered_bits(codes: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """Invert :func:`ordered_bits` into ``dtype``."""
    top = codes.dtype.type(1 << (codes.dtype.itemsize * 8 - 1))
    if dtype.kind == "f":
        positive = (codes & top) != 0
        bits = np.where(positive, codes ^ top, ~codes)
    else:
        bits = codes ^ top
    return bits.view(dtype)
