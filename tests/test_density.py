"""``tezip.density``: round trips over dtypes, shapes and sparsity; corrupt streams fail cleanly."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tezip.errors import InputError, StreamError
from tezip_density import DensityStage, entropy, plugin

DTYPES = ("uint8", "uint16", "uint32", "uint64")


@st.composite
def residual_arrays(draw: st.DrawFn) -> np.ndarray:
    dtype = np.dtype(draw(st.sampled_from(DTYPES)))
    shape = (
        draw(st.integers(1, 3)),
        draw(st.integers(1, 21)),
        draw(st.integers(1, 21)),
    )
    if draw(st.booleans()):
        shape += (draw(st.integers(1, 4)),)
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    bits = dtype.itemsize * 8
    scale = draw(st.sampled_from((1, 4, 64, 1 << (bits - 1))))
    top = 2.0 ** min(bits - 1, 62)
    signed = rng.laplace(0, scale, shape).clip(-top, top - 1)
    array = signed.astype(np.int64).astype(dtype)  # wraps negatives: two's complement
    if draw(st.booleans()):  # full-range values too
        wide = rng.integers(0, np.iinfo(dtype).max, shape, dtype=dtype, endpoint=True)
        array = np.where(rng.random(shape) < 0.1, wide, array)
    array[rng.random(shape) < draw(st.sampled_from((0.0, 0.5, 0.95, 1.0)))] = 0
    return array


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(residual_arrays(), st.sampled_from((4, 5, 8, 16)))
def test_round_trip(array: np.ndarray, tile: int) -> None:
    stage = DensityStage(tile=tile)
    data = stage.encode(array)
    out = stage.decode(data, array.shape, array.dtype)
    assert out.dtype == array.dtype and out.shape == array.shape
    np.testing.assert_array_equal(out, array)


@pytest.mark.parametrize("dtype", DTYPES)
def test_extremes(dtype: str) -> None:
    info = np.iinfo(dtype)
    array = np.array([[[0, 1, info.max, info.max - 1, 1 << (info.bits - 1)]]], dtype)
    stage = DensityStage()
    np.testing.assert_array_equal(
        stage.decode(stage.encode(array), array.shape, array.dtype), array
    )


@pytest.mark.parametrize("shape", [(0, 4, 4), (1, 0, 5), (1, 5, 0), (2, 3, 3, 0), (2, 0, 0, 2)])
def test_empty_shapes(shape: tuple[int, ...]) -> None:
    array = np.zeros(shape, np.uint16)
    stage = DensityStage()
    assert stage.decode(stage.encode(array), shape, array.dtype).shape == shape


def test_entropy_partitions_round_trip() -> None:
    rng = np.random.default_rng(7)
    parts = [
        (np.zeros(0, np.uint64), 8),
        (np.zeros(9, np.uint64), 8),
        (rng.integers(0, 2**64 - 1, 300, dtype=np.uint64, endpoint=True), 64),
        ((rng.geometric(0.4, 5000) - 1).astype(np.uint64), 16),
    ]
    data = entropy.encode(parts)
    out, sizes = entropy.decode(data, [b for _, b in parts], 10**6, np.dtype(np.uint64))
    assert sizes == [len(s) for s, _ in parts]
    np.testing.assert_array_equal(out, np.concatenate([s for s, _ in parts]))


def test_configuration_rebuilds() -> None:
    stage = DensityStage(tile=12)
    assert DensityStage(**stage.configuration).configuration == {"tile": 12}
    assert stage.describe()["id"] == "tezip.density"


@pytest.mark.parametrize("tile", [0, 3, 257, 8.0, True, "8"])
def test_bad_tile(tile: object) -> None:
    with pytest.raises(InputError):
        DensityStage(tile=tile)  # type: ignore[arg-type]


def test_rejects_signed_or_flat_input() -> None:
    with pytest.raises(InputError):
        DensityStage().encode(np.zeros((1, 2, 2), np.int16))
    with pytest.raises(InputError):
        DensityStage().encode(np.zeros((4,), np.uint8))


def test_plugin_registers_stage() -> None:
    assert plugin.tezip_register_stages() == [DensityStage]


def _sample() -> tuple[DensityStage, np.ndarray, bytes]:
    rng = np.random.default_rng(3)
    array = rng.laplace(0, 6, (2, 13, 11, 3)).astype(np.int64).astype(np.uint16)
    array[:, :5] = 0
    stage = DensityStage(tile=4)
    return stage, array, stage.encode(array)


def test_truncations_raise_stream_error() -> None:
    stage, array, data = _sample()
    for size in range(len(data)):
        with pytest.raises(StreamError):
            stage.decode(data[:size], array.shape, array.dtype)
    with pytest.raises(StreamError):
        stage.decode(data + b"\0", array.shape, array.dtype)


def test_byte_flips_fail_cleanly() -> None:
    """A damaged stream raises ``StreamError`` or decodes to some array; nothing else."""
    stage, array, data = _sample()
    for index in range(len(data)):
        for mask in (0x01, 0x80, 0xFF):
            damaged = bytearray(data)
            damaged[index] ^= mask
            try:
                out = stage.decode(bytes(damaged), array.shape, array.dtype)
            except StreamError:
                continue
            assert out.shape == array.shape and out.dtype == array.dtype


def test_wrong_shape_is_rejected() -> None:
    stage, array, data = _sample()
    with pytest.raises(StreamError):
        stage.decode(data, (2, 13, 13, 3), array.dtype)


def test_crafted_huge_counts_are_rejected_before_allocating() -> None:
    shape = (1, 4, 4)
    stage = DensityStage(tile=4)
    valid = stage.encode(np.ones(shape, np.uint8))
    # format byte, plane modes, partition count, then a 2**40-symbol header partition
    crafted = valid[:2] + valid[2:3] + bytes([0x80, 0x80, 0x80, 0x80, 0x80, 0x20]) + valid[4:]
    with pytest.raises(StreamError):
        stage.decode(crafted, shape, np.dtype(np.uint8))
