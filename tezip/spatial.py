"""Spatial modes: wrapped differences that remove what residuals share with their neighbours.

A mode combines three bits: ``CHANNEL`` differences colour channels against the reference
channel, ``LEFT`` each element against its left neighbour, ``UP`` against the one above (both:
2-D Lorenzo). Every operation wraps in the unsigned code width, so they commute and invert
exactly by wrapped prefix sums. ``tezip.lorenzo`` picks a mode per frame, ``tezip.density``
one per channel plane; the cost estimates that choose them are in ``tezip.costs``.
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


def apply_modes(frames: np.ndarray, modes: np.ndarray) -> np.ndarray:
    """A stack ``(n, H, W[, C])`` with each frame's mode applied (one pass per mode used)."""
    out = np.empty_like(frames)
    for mode in np.unique(modes):
        chosen = modes == mode
        part = frames if chosen.all() else frames[chosen]
        if mode & CHANNEL:
            part = channel_difference(part)
        if mode & LEFT:
            part = difference(part, 2)
        if mode & UP:
            part = difference(part, 1)
        out[chosen] = part
    return out


def invert_modes(frames: np.ndarray, modes: np.ndarray) -> None:
    """In place: invert :func:`apply_modes`, each prefix sum run once over all the frames
    whose mode has that bit."""
    steps = (
        (UP, lambda part: prefix_sum(part, 1)),
        (LEFT, lambda part: prefix_sum(part, 2)),
        (CHANNEL, add_reference_channel),
    )
    for bit, invert in steps:
        chosen = (modes & bit).astype(bool)
        if chosen.all():
            invert(frames)
        elif chosen.any():
            part = frames[chosen]
            invert(part)
            frames[chosen] = part
