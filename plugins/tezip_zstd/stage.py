"""The ``tezip.zstd`` entropy stage."""

from __future__ import annotations

from typing import Any

import numpy as np

from tezip.abc import ArrayToBytesStage
from tezip.codes import unzigzag, zigzag
from tezip.errors import InputError
from tezip.zstd_frames import compress, decompress_exact


class ZstdStage(ArrayToBytesStage):
    """Zig-zag the wrapped residuals, split multi-byte symbols into byte planes, zstd them.

    Byte planes put the (mostly zero) high bytes of small residuals together, which zstd
    then codes in almost nothing. The level trades speed for ratio (1..22); on residuals,
    level 1 is both faster and smaller than levels 2-3 (its matches are longer: short matches
    in noise cost more than the literals they replace), so it is the default.
    """

    id = "tezip.zstd"
    version = 1

    def __init__(self, level: int = 1, shuffle: bool = True) -> None:
        if not isinstance(level, int) or not 1 <= level <= 22:
            raise InputError(f"tezip.zstd level must be an integer in 1..22, got {level!r}")
        self.level = level
        self.shuffle = bool(shuffle)

    @property
    def configuration(self) -> dict[str, Any]:
        return {"level": self.level, "shuffle": self.shuffle}

    def encode(self, residuals: np.ndarray) -> bytes:
        symbols = zigzag(np.ascontiguousarray(residuals)).astype(
            residuals.dtype.newbyteorder("<"), copy=False
        )
        width = symbols.dtype.itemsize
        if self.shuffle and width > 1:
            data = np.ascontiguousarray(symbols.view(np.uint8).reshape(-1, width).T)
        else:
            data = symbols
        return compress(memoryview(data).cast("B"), self.level)

    def decode(self, data: bytes, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
        count = int(np.prod(shape))
        width = dtype.itemsize
        raw = np.frombuffer(decompress_exact(data, count * width, "tezip.zstd"), np.uint8)
        if self.shuffle and width > 1:
            raw = np.ascontiguousarray(raw.reshape(width, count).T)
        symbols = raw.view(dtype.newbyteorder("<")).astype(dtype, copy=False).reshape(shape)
        return unzigzag(symbols)
