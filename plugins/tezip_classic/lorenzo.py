"""``tezip.lorenzo``: per-frame spatial decorrelation of residuals in wrapped arithmetic."""

from __future__ import annotations

from typing import Any

import numpy as np

from tezip.abc import ArrayToArrayStage
from tezip.costs import (
    CHANNEL,
    LEFT,
    UP,
    add_reference_channel,
    channel_difference,
    channels_of,
    difference,
    estimated_bits,
    mode_costs,
    prefix_sum,
    row_pairs,
    spatial_modes,
)
from tezip.errors import StreamError


def transform(frame: np.ndarray, mode: int) -> np.ndarray:
    """Apply a mode to one frame ``(H, W[, C])``."""
    if mode & CHANNEL:
        frame = channel_difference(frame)
    if mode & LEFT:
        frame = difference(frame, 1)
    if mode & UP:
        frame = difference(frame, 0)
    return frame


def untransform(frame: np.ndarray, mode: int) -> np.ndarray:
    """Invert :func:`transform` on one frame."""
    return untransform_frames(frame[np.newaxis], bytes([mode]))[0]


def untransform_frames(frames: np.ndarray, modes: bytes) -> np.ndarray:
    """Invert :func:`transform` on frames ``(n, H, W[, C])`` with one mode each.

    Wrapped prefix sums, each run once over all the frames whose mode has that bit.
    """
    out = frames.copy()
    chosen_modes = np.frombuffer(modes, np.uint8)
    steps = (
        (UP, lambda part: prefix_sum(part, 1)),
        (LEFT, lambda part: prefix_sum(part, 2)),
        (CHANNEL, add_reference_channel),
    )
    for bit, invert in steps:
        chosen = (chosen_modes & bit).astype(bool)
        if chosen.all():
            invert(out)
        elif chosen.any():
            part = out[chosen]
            invert(part)
            out[chosen] = part
    return out


def best_modes(residuals: np.ndarray) -> list[int]:
    """Per frame, the mode with the smallest estimated cost on a sample of row pairs."""
    if residuals.shape[1] < 2:  # one row: only left differences make sense
        left = estimated_bits(difference(residuals, 2), frames_axis=True)
        none = estimated_bits(residuals, frames_axis=True)
        return [LEFT if a < b else 0 for a, b in zip(left, none, strict=True)]
    modes = spatial_modes(channels_of(residuals, 3))
    return [modes[i] for i in mode_costs(row_pairs(residuals)).argmin(axis=0)]


class LorenzoStage(ArrayToArrayStage):
    """Per frame: none / left / up / 2-D Lorenzo differences, optionally channels against G.

    Each frame gets the spatial difference of its residuals that the encoder estimates
    cheapest, optionally followed by differencing the channels against the G (second) one.

    Temporal residuals of smooth motion and intra-coded keyframes keep spatial structure;
    a first or second order difference removes it, and colour channels share most of it.
    Metadata: one mode byte per frame.
    """

    id = "tezip.lorenzo"
    version = 1

    @property
    def configuration(self) -> dict[str, Any]:
        return {}

    def encode(self, residuals: np.ndarray) -> tuple[np.ndarray, Any]:
        modes = best_modes(residuals)
        out = np.empty_like(residuals)
        for index, (frame, mode) in enumerate(zip(residuals, modes, strict=True)):
            out[index] = transform(frame, mode)
        return out, bytes(modes)

    def decode(self, residuals: np.ndarray, meta: Any) -> np.ndarray:
        if not isinstance(meta, bytes) or len(meta) != len(residuals):
            raise StreamError("tezip.lorenzo: metadata must hold one mode byte per frame")
        allowed = spatial_modes(channels_of(residuals, 3))
        if any(mode not in allowed for mode in meta):
            raise StreamError("tezip.lorenzo: unknown mode byte")
        return untransform_frames(residuals, meta)
