"""The ``tezip.density`` stage: density-based spatial encoding with partitioned entropy coding."""

from __future__ import annotations

from typing import Any

import numpy as np

from tezip.abc import ArrayToBytesStage
from tezip.codes import unzigzag, zigzag
from tezip.costs import best_modes
from tezip.errors import InputError, StreamError
from tezip.spatial import CHANNEL, apply_modes, invert_modes
from tezip_density import entropy, tiling
from tezip_density.bits import Reader

#: first byte of every stream; other values are reserved
FORMAT = 0
#: bit width of the tile-class symbols
CLASS_BITS = 8


class DensityStage(ArrayToBytesStage):
    """Spatially decorrelate each plane, tile it, and entropy-code the tiles by density class.

    Empty tiles cost a fraction of a bit (zero runs in the class stream); the symbols of the
    other tiles are coded as run/value tokens in one partition per class, each with its own
    Huffman table, so sparse and dense regions get the statistics they need. Every partition
    and every lane of one decodes independently. ``tile`` is the tile edge in elements.
    """

    id = "tezip.density"
    decorrelates = True
    version = 1

    def __init__(self, tile: int = 8) -> None:
        if isinstance(tile, bool) or not isinstance(tile, int) or not 4 <= tile <= 256:
            raise InputError(f"tezip.density tile must be an integer in 4..256, got {tile!r}")
        self.tile = tile

    @property
    def configuration(self) -> dict[str, Any]:
        return {"tile": self.tile}

    def encode(self, residuals: np.ndarray) -> bytes:
        if residuals.dtype.kind != "u" or residuals.ndim not in (3, 4):
            raise InputError("tezip.density encodes unsigned arrays (frames, H, W[, C])")
        residuals = residuals.astype(residuals.dtype.newbyteorder("="), copy=False)
        channel_modes = np.zeros(len(residuals), np.uint8)
        if _has_channels(residuals.shape) and residuals.size:
            channel_modes = tiling.choose_channel_modes(residuals)
            residuals = apply_modes(residuals, channel_modes * CHANNEL)
        planes = tiling.to_planes(residuals)
        modes = best_modes(planes)
        symbols = zigzag(apply_modes(planes, modes))
        tiles = tiling.to_tiles(symbols, self.tile)
        classes = tiling.classify(tiles)
        order = np.argsort(classes, kind="stable")
        counts = np.bincount(classes, minlength=self._classes(residuals.dtype))
        busy = tiles[order[counts[0] :]].ravel()
        bits = residuals.dtype.itemsize * 8
        parts = [(classes.astype(np.uint8), CLASS_BITS)]
        sizes = counts[1:] * self.tile * self.tile
        parts += [(chunk, bits) for chunk in np.split(busy, np.cumsum(sizes)[:-1])]
        head = bytes([FORMAT])
        if _has_channels(residuals.shape):
            head += np.packbits(channel_modes, bitorder="little").tobytes()
        head += np.packbits(_two_bit(modes), bitorder="little").tobytes()
        return head + entropy.encode(parts)

    def decode(self, data: bytes, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
        dtype = np.dtype(dtype)
        if dtype.kind != "u" or len(shape) not in (3, 4) or min(shape, default=0) < 0:
            raise InputError("tezip.density decodes unsigned arrays (frames, H, W[, C])")
        count = shape[0] * (shape[3] if len(shape) == 4 else 1)
        height, width = shape[1], shape[2]
        rows, cols = tiling.grid(height, width, self.tile)
        ntiles = count * rows * cols
        reader = Reader(data, "tezip.density stream")
        if reader.raw(1, "format byte")[0] != FORMAT:
            raise reader.fail("unknown format byte")
        channel_modes = None
        if _has_channels(shape):
            channel_modes = np.unpackbits(
                np.frombuffer(reader.raw((shape[0] + 7) // 8, "channel modes"), np.uint8),
                bitorder="little",
            )[: shape[0]]
        modes = np.unpackbits(
            np.frombuffer(reader.raw((count + 3) // 4, "plane modes"), np.uint8), bitorder="little"
        )
        modes = (modes[0::2] | (modes[1::2] << 1))[:count]
        nclasses = self._classes(dtype)
        bits = [CLASS_BITS] + [dtype.itemsize * 8] * (nclasses - 1)
        limit = ntiles * (1 + self.tile * self.tile)
        flat, sizes = entropy.decode(data[reader.pos :], bits, limit, dtype)
        classes = flat[:ntiles].astype(np.int64)
        if sizes[0] != ntiles or (ntiles and int(classes.max()) >= nclasses):
            raise StreamError("tezip.density stream: tile classes do not match the shape")
        counts = np.bincount(classes, minlength=nclasses)
        if list(counts[1:] * self.tile * self.tile) != sizes[1:]:
            raise StreamError("tezip.density stream: partition sizes do not match the tiles")
        tiles = np.zeros((ntiles, self.tile * self.tile), dtype)
        order = np.argsort(classes, kind="stable")
        tiles[order[counts[0] :]] = flat[ntiles:].reshape(-1, self.tile * self.tile)
        symbols = tiling.from_tiles(tiles, count, height, width, self.tile)
        planes = unzigzag(symbols)
        invert_modes(planes, modes)
        out = tiling.from_planes(planes, tuple(shape))
        if channel_modes is not None:
            invert_modes(out, channel_modes * np.uint8(CHANNEL))
        return out

    def _classes(self, dtype: np.dtype) -> int:
        return tiling.classes(dtype.itemsize * 8, self.tile)


def _has_channels(shape: tuple[int, ...]) -> bool:
    return len(shape) == 4 and shape[3] > 1


def _two_bit(modes: np.ndarray) -> np.ndarray:
    """Modes as bit pairs, low bit first."""
    return np.stack([modes & 1, modes >> 1], axis=1).ravel()
