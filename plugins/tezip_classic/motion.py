"""``tezip.motion``: the previous frame moved block by block (motion compensation).

Where a scene moves (camera video, ultrasound, anything pushed across the detector), the
previous frame predicts the next one well only once each block of it is moved by its own
vector. The encoder searches the vectors (:mod:`tezip_classic.motion_search`) and stores them
as each frame's side information (:mod:`tezip_classic.motion_field`); the decoder moves its
own previous frame by them. With no motion this is ``tezip.previous`` plus a few bytes, so
the encoder screens it per GOP on a few frames (``Predictor.screened``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import njit

from tezip.abc import CodeSpace, Predictor, PredictorState
from tezip.errors import InputError, StreamError
from tezip.spatial import REFERENCE_CHANNEL
from tezip_classic.motion_field import MAX_RANGE, decode_field, encode_field
from tezip_classic.motion_search import SHORT_STEPS, STEPS, search

BLOCKS = range(4, 257)
RANGES = range(1, MAX_RANGE + 1)


@njit(cache=True, nogil=True)
def compensate(previous: np.ndarray, field: np.ndarray, block: int, out: np.ndarray) -> None:
    """``out[y, x] = previous[y + dy, x + dx]`` with ``(dy, dx, mode)`` the field of the
    block of ``(y, x)``, coordinates clamped to the frame (all ``(H, W, C)``); in mode 1 the
    channels other than the reference take the reference channel's value."""
    height, width, channels = previous.shape
    reference = REFERENCE_CHANNEL if channels > REFERENCE_CHANNEL else 0
    for row in range(field.shape[0]):
        for column in range(field.shape[1]):
            dy, dx, mode = field[row, column, 0], field[row, column, 1], field[row, column, 2]
            left, right = column * block, min(width, (column + 1) * block)
            for y in range(row * block, min(height, (row + 1) * block)):
                source = min(max(y + dy, 0), height - 1)
                for x in range(left, right):
                    origin = min(max(x + dx, 0), width - 1)
                    for channel in range(channels):
                        taken = reference if mode else channel
                        out[y, x, channel] = previous[source, origin, taken]


def _planes(frame: np.ndarray) -> np.ndarray:
    """A frame ``(H, W[, C])`` as ``(H, W, C)``."""
    return frame.reshape(*frame.shape[:2], -1)


class _MotionState(PredictorState):
    """The previous reconstructed frame and its field; the frame to code (encoder)."""

    def __init__(
        self, block: int, reach: int, space: CodeSpace, shape: tuple[int, ...], steps: np.ndarray
    ) -> None:
        self.block, self.reach, self.steps = block, reach, steps
        self.shape = shape
        self.fields = (-(-shape[0] // block), -(-shape[1] // block), 3)
        self.modes = len(shape) > 2 and shape[2] > REFERENCE_CHANNEL
        self.dtype = space.dtype
        self.previous: np.ndarray | None = None
        self.target: np.ndarray | None = None
        self.field = np.zeros(self.fields, np.int64)

    def observe(self, codes: np.ndarray) -> None:
        self.target = codes

    def predict(self, side: bytes | None) -> tuple[np.ndarray, bytes]:
        if self.previous is None:
            if side:
                raise StreamError("tezip.motion side information on a keyframe")
            return np.zeros(self.shape, self.dtype), b""
        previous = _planes(self.previous)
        if side is not None:
            self.field = decode_field(side, *self.fields[:2], self.reach, self.modes)
        elif self.target is not None:
            target = _planes(np.ascontiguousarray(self.target))
            self.field = search(previous, target, self.block, self.reach, self.field, self.steps)
        else:  # an encoder that does not show the frame: no motion
            self.field = np.zeros(self.fields, np.int64)
        prediction = np.empty(self.shape, self.dtype)
        compensate(previous, self.field, self.block, _planes(prediction))
        return prediction, encode_field(self.field, self.modes) if side is None else side

    def update(self, codes: np.ndarray) -> None:
        self.previous = np.ascontiguousarray(codes)
        self.target = None


class MotionPredictor(Predictor):
    """Predicts the previous reconstructed frame moved block by block by vectors the encoder
    searches and stores (``block`` elements a side, components within ``[-reach, reach]``)."""

    id = "tezip.motion"
    screened = True

    def __init__(self, block: int = 16, reach: int = 32) -> None:
        for name, value, allowed in (("block", block, BLOCKS), ("reach", reach, RANGES)):
            if isinstance(value, bool) or not isinstance(value, int) or value not in allowed:
                raise InputError(
                    f"tezip.motion {name} must be an integer from {allowed[0]} to "
                    f"{allowed[-1]}, got {value!r}"
                )
        self.block, self.reach = block, reach
        #: how far the encoder's search walks (motion_search.search)
        self.steps = STEPS

    @property
    def configuration(self) -> dict[str, Any]:
        return {"block": self.block, "reach": self.reach}

    def useful_for(self, frame_shape: tuple[int, ...]) -> bool:
        """Frames of fewer than two blocks a side have no field to speak of."""
        return min(frame_shape[:2]) >= 2 * self.block

    def screening(self) -> Predictor:
        """The same predictor with a short search."""
        short = MotionPredictor(self.block, self.reach)
        short.steps = SHORT_STEPS
        return short

    def start(self, space: CodeSpace, frame_shape: tuple[int, ...]) -> PredictorState:
        return _MotionState(self.block, self.reach, space, frame_shape, self.steps)
