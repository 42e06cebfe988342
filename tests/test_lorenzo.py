"""The ``tezip.lorenzo`` stage: every mode inverts exactly, the encoder's choices are sensible."""

from __future__ import annotations

import numpy as np
import pytest

from tezip.errors import StreamError
from tezip.spatial import (
    CHANNEL,
    LEFT,
    UP,
    apply_modes,
    difference,
    invert_modes,
    prefix_sum,
    spatial_modes,
)
from tezip_classic.lorenzo import LorenzoStage


def _inverted(coded: np.ndarray, modes: np.ndarray) -> np.ndarray:
    out = coded.copy()
    invert_modes(out, modes)
    return out


@pytest.mark.parametrize("dtype", ["uint8", "uint16", "uint32", "uint64"])
@pytest.mark.parametrize("mode", spatial_modes(3))
def test_every_mode_inverts_exactly(dtype: str, mode: int) -> None:
    rng = np.random.default_rng(mode)
    info = np.iinfo(dtype)
    frames = rng.integers(0, info.max, (2, 5, 7, 3), dtype=dtype, endpoint=True)
    modes = np.full(2, mode, np.uint8)
    assert np.array_equal(_inverted(apply_modes(frames, modes), modes), frames)


def _correlated_rgb(frames: int = 3) -> np.ndarray:
    """Wrapped residuals whose channels share one smooth-ish signal plus small noise."""
    rng = np.random.default_rng(7)
    shared = rng.integers(-60, 60, (frames, 32, 40, 1))
    noise = rng.integers(-1, 2, (frames, 32, 40, 3))
    return (shared + noise).astype(np.int64).astype(np.uint16)


def test_encoder_differences_correlated_channels_and_round_trips() -> None:
    stage = LorenzoStage()
    residuals = _correlated_rgb()
    coded, meta = stage.encode(residuals)
    assert all(mode & CHANNEL for mode in meta)
    assert np.array_equal(stage.decode(coded, meta), residuals)


def test_gray_frames_never_get_the_channel_mode() -> None:
    stage = LorenzoStage()
    ramp = np.add.outer(np.arange(32), np.arange(40)).astype(np.uint8)
    coded, meta = stage.encode(np.stack([ramp, ramp]))
    assert set(meta) <= {0, LEFT, UP, LEFT | UP}
    with pytest.raises(StreamError, match="unknown mode byte"):
        stage.decode(coded, bytes([CHANNEL, 0]))


@pytest.mark.parametrize("meta", [b"\x00", b"\x08\x00\x00", "abc"])
def test_bad_metadata_is_a_stream_error(meta: object) -> None:
    stage = LorenzoStage()
    with pytest.raises(StreamError):
        stage.decode(np.zeros((3, 4, 4, 3), np.uint8), meta)


@pytest.mark.parametrize("shape", [(8, 40, 300, 3), (8, 3, 2, 3), (8, 50, 70)])
def test_a_gop_of_mixed_modes_inverts_exactly(shape: tuple[int, ...]) -> None:
    """Whole-GOP prefix sums (loop and cumsum paths) over frames with differing modes."""
    rng = np.random.default_rng(3)
    frames = rng.integers(0, 1 << 16, shape, dtype=np.uint16)
    modes = spatial_modes(shape[-1] if len(shape) == 4 else 1)
    chosen = np.array([modes[index % len(modes)] for index in range(shape[0])], np.uint8)
    coded = apply_modes(frames, chosen)
    assert np.array_equal(_inverted(coded, chosen), frames)
    for frame, mode, result in zip(frames, chosen, coded, strict=True):  # each mode, spelled out
        if mode & CHANNEL:
            frame = frame - frame[..., 1:2] * (np.arange(frame.shape[-1]) != 1)
        if mode & LEFT:
            frame = difference(frame, 1)
        if mode & UP:
            frame = difference(frame, 0)
        assert np.array_equal(result, frame)


@pytest.mark.parametrize("dtype", ["uint8", "uint64"])
@pytest.mark.parametrize(
    "shape", [(2, 3, 4), (4, 300, 300), (4, 300, 200, 3), (3, 100, 70, 80), (1, 1, 1)]
)
def test_prefix_sum_matches_cumsum(shape: tuple[int, ...], dtype: str) -> None:
    """Both ways of summing (slice loop, cumsum) along every inner axis, wrapping."""
    frames = np.random.default_rng(5).integers(0, np.iinfo(dtype).max, shape, dtype=dtype)
    for axis in range(1, len(shape)):
        summed = frames.copy()
        prefix_sum(summed, axis)
        assert np.array_equal(summed, np.cumsum(frames, axis=axis, dtype=frames.dtype))
        assert np.array_equal(difference(summed, axis), frames)
