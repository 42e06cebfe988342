"""Cheap estimates of how many bits residuals will cost, used to choose between options.

The spatial modes live here too because both the ``tezip.lorenzo`` stage and the encoder's
predictor and keyframe choices rank candidates by the cost after the best spatial mode.
"""

from __future__ import annotations

import numpy as np

LEFT, UP, CHANNEL = 1, 2, 4
#: none, left difference, up difference, 2-D Lorenzo (N + W - NW)
MODES = (0, LEFT, UP, LEFT | UP)
#: the channel that the other channels are differenced against (G of RGB)
REFERENCE_CHANNEL = 1


def spatial_modes(channels: int) -> tuple[int, ...]:
    """The modes open to frames with ``channels`` channels (1 without a channel axis)."""
    return MODES + tuple(mode | CHANNEL for mode in MODES) if channels >= 2 else MODES


def channels_of(frames: np.ndarray, element_axes: int) -> int:
    """Channel count of an array whose last ``element_axes`` axes are ``H, W[, C]``-like."""
    return frames.shape[-1] if frames.ndim > element_axes else 1


def estimated_bits(residuals: np.ndarray, frames_axis: bool = False) -> np.ndarray:
    """Approximate coded size of residuals: the sum of ``log2(1 + |r|)``.

    Unsigned arrays are read as wrapped two's-complement residuals. A Laplacian-like residual
    costs about that many bits per element beyond a constant, so these sums rank predictors
    and spatial modes the way an entropy coder would. With ``frames_axis`` the sum is taken
    per entry of the first axis.
    """
    if residuals.dtype.kind == "u":
        residuals = residuals.view(f"int{residuals.dtype.itemsize * 8}")
    # floor(log2(1 + |r|)) read off the float32 exponent: no transcendental function needed
    one_plus = np.abs(residuals.astype(np.float32)) + np.float32(1.0)
    magnitude = (one_plus.view(np.int32) >> 23) - 127
    if frames_axis:
        return magnitude.sum(axis=tuple(range(1, magnitude.ndim)), dtype=np.float64)
    return np.asarray(magnitude.sum(dtype=np.float64))


def difference(frame: np.ndarray, axis: int) -> np.ndarray:
    """First difference along ``axis`` (wrapping for unsigned); the first slice is kept."""
    out = frame.copy()
    head = [slice(None)] * frame.ndim
    tail = [slice(None)] * frame.ndim
    head[axis], tail[axis] = slice(1, None), slice(None, -1)
    np.subtract(frame[tuple(head)], frame[tuple(tail)], out=out[tuple(head)])
    return out


def prefix_sum(frames: np.ndarray, axis: int) -> None:
    """In place: the wrapped prefix sum of a stack along ``axis`` (not 0), inverting
    :func:`difference`.

    NumPy's ``cumsum`` over an inner axis runs element by element. Adding whole slices in a
    loop over the axis is 2-8x faster when the slices are large and their innermost runs are
    single elements or long, but slower for short runs such as the 3 channels of a pixel.
    """
    length = frames.shape[axis]
    run = int(np.prod(frames.shape[axis + 1 :]))
    if frames.size < 256 * length or 1 < run < 64:
        frames[...] = np.cumsum(frames, axis=axis, dtype=frames.dtype)
        return
    steps = np.moveaxis(frames, axis, 0)
    for index in range(1, length):
        np.add(steps[index - 1], steps[index], out=steps[index])


def channel_difference(frames: np.ndarray) -> np.ndarray:
    """Every channel but the reference minus the reference channel (last axis, wrapping)."""
    out = frames.copy()
    reference = frames[..., REFERENCE_CHANNEL]
    for channel in range(frames.shape[-1]):  # one strided pass each beats broadcasting
        if channel != REFERENCE_CHANNEL:
            np.subtract(frames[..., channel], reference, out=out[..., channel])
    return out


def add_reference_channel(frames: np.ndarray) -> None:
    """In place: add the reference channel back to every other one, inverting
    :func:`channel_difference`."""
    reference = frames[..., REFERENCE_CHANNEL]
    for channel in range(frames.shape[-1]):
        if channel != REFERENCE_CHANNEL:
            frames[..., channel] += reference


def row_pairs(frames: np.ndarray, budget: int = 4096) -> np.ndarray:
    """Evenly spread pairs of adjacent rows of frames ``(n, H, W[, C])``, about ``budget``
    elements per frame (at least 2 and at most 16 pairs).

    Returns ``(n, k, 2, W[, C])``: enough to compare spatial modes and point-wise predictors
    at a small fraction of the cost of whole frames. Frames of one row give ``k = 0``.
    """
    height, row = frames.shape[1], int(np.prod(frames.shape[2:]))
    count = min(16, max(2, budget // (2 * row)), height - 1)
    rows = np.unique(np.linspace(1, height - 1, count).astype(np.intp))
    return np.stack([frames[:, rows - 1], frames[:, rows]], axis=2)


def mode_costs(pairs: np.ndarray) -> np.ndarray:
    """Estimated bits ``(len(modes), n)`` of each of :func:`spatial_modes` on row pairs
    ``(n, k, 2, W[, C])``."""
    above, below = pairs[:, :, 0], pairs[:, :, 1]
    left_above, left_below = difference(above, 2), difference(below, 2)
    candidates = [below, left_below, below - above, left_below - left_above]
    if channels_of(pairs, 4) >= 2:
        candidates += [channel_difference(c) for c in candidates]
    return np.stack([estimated_bits(c, frames_axis=True) for c in candidates])


def spatial_cost(pairs: np.ndarray) -> np.ndarray:
    """Per-frame cost ``(n,)`` after each frame's best spatial mode."""
    if pairs.shape[1] == 0:
        return np.zeros(len(pairs))
    return mode_costs(pairs).min(axis=0)
