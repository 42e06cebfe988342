"""The bar of issue 2: previous-frame prediction of the quantized data, then zstd -9.

Quantization as tezip's: integers ``q = (x + E) // (2E + 1)`` (reconstruction ``q (2E + 1)``),
floats ``q = rint(x / 2E)`` (reconstruction ``2E q``), lossless integers ``q = x`` and lossless
floats ``q`` = the bit pattern.  The residual ``q[t] - q[t-1]`` (first frame as is) is stored as
int32 when it fits, else int64, and compressed with zstd level 9.  Elements whose reconstruction
misses the bound in the output dtype (float rounding, NaN, Inf) are stored exactly after the
residual, as tezip does, so that the bar itself always holds the bound.
"""

from __future__ import annotations

import numpy as np

from .codec import Blob, Codec, Compressor, module_probe
from .modes import Mode

LEVEL = 9
HEAD = np.dtype([("itemsize", "<u1"), ("outliers", "<u8")])
MAX_Q = 2.0**52  # quantized floats beyond this are outliers


def _bits(dtype: np.dtype) -> np.dtype:
    return np.dtype(f"<i{dtype.itemsize}")


def _quantize(x: np.ndarray, bound: float | None) -> np.ndarray:
    """The integer grid values q of x, as int64."""
    if bound is None:
        return (x if x.dtype.kind in "iu" else x.view(_bits(x.dtype))).astype(np.int64)
    if x.dtype.kind in "iu":
        return (x.astype(np.int64) + int(bound)) // (2 * int(bound) + 1)
    q = np.rint(x.astype(np.float64) / (2.0 * bound))
    q[~(np.abs(q) <= MAX_Q)] = 0
    return q.astype(np.int64)


def _reconstruct(q: np.ndarray, bound: float | None, dtype: np.dtype) -> np.ndarray:
    if bound is None:
        return q.astype(dtype) if dtype.kind in "iu" else q.astype(_bits(dtype)).view(dtype)
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        return np.clip(q * (2 * int(bound) + 1), info.min, info.max).astype(dtype)
    return (q * (2.0 * bound)).astype(dtype)


def _make(x: np.ndarray, mode: Mode) -> Codec:
    import zstandard

    shape, dtype, bound = x.shape, x.dtype, mode.bound

    def enc(a: np.ndarray) -> Blob:
        q = _quantize(a, bound)
        r = q.copy()
        r[1:] -= q[:-1]
        i32 = np.iinfo(np.int32)
        fits = r.size == 0 or (i32.min <= r.min() and r.max() <= i32.max)
        r = r.astype(np.int32 if fits else np.int64)
        if bound is None:
            where = np.empty(0, np.int64)
        else:
            rec = _reconstruct(q, bound, dtype).astype(np.float64)
            where = np.flatnonzero(~(np.abs(rec - a) <= bound))
        head = np.array([(r.itemsize, where.size)], HEAD)
        parts = (head.tobytes(), r.tobytes(), where.tobytes(), a.reshape(-1)[where].tobytes())
        return zstandard.ZstdCompressor(level=LEVEL).compress(b"".join(parts))

    def dec(blob: Blob) -> np.ndarray:
        raw = memoryview(zstandard.ZstdDecompressor().decompress(blob))
        head = np.frombuffer(raw[: HEAD.itemsize], HEAD)[0]
        n, k = int(np.prod(shape)), int(head["outliers"])
        start = HEAD.itemsize
        r = np.frombuffer(raw[start:], f"<i{head['itemsize']}", n).reshape(shape)
        start += r.nbytes
        where = np.frombuffer(raw[start:], np.int64, k)
        values = np.frombuffer(raw[start + where.nbytes :], dtype, k)
        out = _reconstruct(np.cumsum(r, axis=0, dtype=np.int64), bound, dtype)
        out.reshape(-1)[where] = values
        return out

    return Codec(enc, dec)


def baseline() -> Compressor:
    return Compressor(
        "baseline",
        "baseline",
        _make,
        module_probe("zstandard"),
        "previous frame + quantize + zstd -9 (issue 2's bar)",
    )
