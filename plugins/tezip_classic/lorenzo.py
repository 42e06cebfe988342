"""``tezip.lorenzo``: per-frame spatial decorrelation of residuals in wrapped arithmetic."""

from __future__ import annotations

from typing import Any

import numpy as np

from tezip.abc import ArrayToArrayStage
from tezip.costs import best_modes
from tezip.errors import StreamError
from tezip.spatial import (
    apply_modes,
    channels_of,
    invert_modes,
    spatial_modes,
)


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
        return apply_modes(residuals, modes), modes.tobytes()

    def decode(self, residuals: np.ndarray, meta: Any) -> np.ndarray:
        if not isinstance(meta, bytes) or len(meta) != len(residuals):
            raise StreamError("tezip.lorenzo: metadata must hold one mode byte per frame")
        allowed = spatial_modes(channels_of(residuals, 3))
        if any(mode not in allowed for mode in meta):
            raise StreamError("tezip.lorenzo: unknown mode byte")
        out = residuals.copy()
        invert_modes(out, np.frombuffer(meta, np.uint8))
        return out
