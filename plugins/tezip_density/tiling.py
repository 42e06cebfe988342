"""Channel modes, planes, tiles and their density classes.

A plane is one channel of one frame; each gets its own spatial mode (``tezip.spatial``). The
zig-zagged result is cut into ``tile x tile`` tiles (zero-padded at the right and bottom
edges), and every tile is classified by the bits its non-zero symbols need: class 0 is an
empty tile, class ``1 + floor(2 * log2(sum of bit lengths))`` otherwise, so classes step by
half an octave of coded size and separate sparse, low-magnitude tiles from dense, noisy ones.
"""

from __future__ import annotations

import numpy as np

from tezip.codes import zigzag
from tezip.spatial import channel_difference
from tezip_density.bits import bit_length

#: frames sampled for the channel mode choice: this many evenly spread rows
SAMPLE_ROWS = 16


def _lengths(values: np.ndarray) -> np.ndarray:
    """Bit length of each unsigned value (a table lookup for 8 and 16 bits)."""
    bits = values.dtype.itemsize * 8
    if bits in _SMALL_LENGTHS:
        return _SMALL_LENGTHS[bits][values]
    return bit_length(values.ravel()).reshape(values.shape)


def choose_channel_modes(residuals: np.ndarray) -> np.ndarray:
    """Per frame of ``(F, H, W, C)``, 1 if subtracting the reference channel from the others
    saves estimated bits on sampled rows, else 0."""
    frames, height = residuals.shape[:2]
    rows = np.unique(np.linspace(0, height - 1, min(SAMPLE_ROWS, height)).astype(np.int64))
    sample = np.ascontiguousarray(residuals[:, rows])
    costs = [
        _lengths(zigzag(option)).reshape(frames, -1).sum(axis=1, dtype=np.int64)
        for option in (sample, channel_difference(sample))
    ]
    return (costs[1] < costs[0]).astype(np.uint8)


def to_planes(residuals: np.ndarray) -> np.ndarray:
    """``(F, H, W)`` or ``(F, H, W, C)`` to ``(F * C, H, W)`` (channel planes of each frame)."""
    if residuals.ndim == 3:
        return np.ascontiguousarray(residuals)
    frames, height, width, channels = residuals.shape
    return np.ascontiguousarray(residuals.transpose(0, 3, 1, 2)).reshape(
        frames * channels, height, width
    )


def from_planes(planes: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Invert :func:`to_planes` for an array of ``shape``."""
    if len(shape) == 3:
        return planes.reshape(shape)
    frames, height, width, channels = shape
    return np.ascontiguousarray(
        planes.reshape(frames, channels, height, width).transpose(0, 2, 3, 1)
    )


def grid(height: int, width: int, tile: int) -> tuple[int, int]:
    """Tiles down and across a plane."""
    return -(-height // tile), -(-width // tile)


def to_tiles(symbols: np.ndarray, tile: int) -> np.ndarray:
    """Planes ``(P, H, W)`` to tiles ``(P * rows * cols, tile * tile)``, zero-padded."""
    count, height, width = symbols.shape
    rows, cols = grid(height, width, tile)
    if (rows * tile, cols * tile) != (height, width):
        full = np.zeros((count, rows * tile, cols * tile), symbols.dtype)
        full[:, :height, :width] = symbols
        symbols = full
    # move whole tile rows (one opaque item of ``tile`` symbols each): far fewer, larger copies
    rows_of = np.ascontiguousarray(symbols).view(_row_type(symbols.dtype, tile))
    tiles = rows_of.reshape(count, rows, tile, cols).transpose(0, 1, 3, 2)
    return np.ascontiguousarray(tiles).view(symbols.dtype).reshape(-1, tile * tile)


def from_tiles(tiles: np.ndarray, count: int, height: int, width: int, tile: int) -> np.ndarray:
    """Invert :func:`to_tiles`, cropping the padding."""
    rows, cols = grid(height, width, tile)
    rows_of = np.ascontiguousarray(tiles).view(_row_type(tiles.dtype, tile))
    planes = rows_of.reshape(count, rows, cols, tile).transpose(0, 1, 3, 2)
    planes = np.ascontiguousarray(planes).view(tiles.dtype).reshape(count, rows * tile, cols * tile)
    if (rows * tile, cols * tile) == (height, width):
        return planes
    return np.ascontiguousarray(planes[:, :height, :width])


def _row_type(dtype: np.dtype, tile: int) -> np.dtype:
    """An opaque item as wide as ``tile`` symbols."""
    return np.dtype(("V", tile * dtype.itemsize))


_SMALL_LENGTHS = {
    bits: bit_length(np.arange(1 << bits, dtype=np.uint64)).astype(np.uint8) for bits in (8, 16)
}
#: bit lengths of the two bytes of a (little-endian) uint16, summed
_PAIR_LENGTHS = (_SMALL_LENGTHS[8][:, None] + _SMALL_LENGTHS[8][None, :]).ravel()


def classes(count: int, tile: int) -> int:
    """Number of density classes (including the empty class 0) for tiles of ``tile**2``
    symbols of up to ``count`` bits."""
    return 2 + int(np.floor(2 * np.log2(count * tile * tile)))


def classify(tiles: np.ndarray) -> np.ndarray:
    """Density class of each tile (0: empty)."""
    if tiles.dtype == np.uint8 and tiles.shape[1] % 2 == 0:  # look up pairs of symbols
        cost = _PAIR_LENGTHS[tiles.view(np.uint16)].sum(axis=1, dtype=np.int64)
    else:
        cost = _lengths(tiles).sum(axis=1, dtype=np.int64)
    top = tiles.dtype.itemsize * 8 * tiles.shape[1]
    if top < 1 << 16:  # a table of classes by cost
        return _class_of(np.arange(top + 1))[cost]
    return _class_of(cost)


def _class_of(cost: np.ndarray) -> np.ndarray:
    out = np.zeros(len(cost), np.int64)
    busy = cost > 0
    out[busy] = 1 + np.floor(2 * np.log2(cost[busy])).astype(np.int64)
    return out
