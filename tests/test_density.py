"""``tezip.density``: round trips over dtypes, shapes and sparsity; corrupt streams fail cleanly."""

from __future__ import annotations

import contextlib

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from residuals import DTYPES, residual_arrays

from tezip.errors import InputError, StreamError
from tezip.parallel import budget
from tezip_density import DensityStage, entropy, plugin


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


def _assert_truncations_raise(stage: DensityStage, array: np.ndarray, data: bytes) -> None:
    for size in range(len(data)):
        with pytest.raises(StreamError):
            stage.decode(data[:size], array.shape, array.dtype)


def _assert_flips_fail_cleanly(
    stage: DensityStage, array: np.ndarray, data: bytes, masks: tuple[int, ...]
) -> None:
    """A damaged stream raises ``StreamError`` or decodes to some array; nothing else."""
    for index in range(len(data)):
        for mask in masks:
            damaged = bytearray(data)
            damaged[index] ^= mask
            try:
                out = stage.decode(bytes(damaged), array.shape, array.dtype)
            except StreamError:
                continue
            assert out.shape == array.shape and out.dtype == array.dtype


def test_truncations_raise_stream_error() -> None:
    stage, array, data = _sample()
    _assert_truncations_raise(stage, array, data)
    with pytest.raises(StreamError):
        stage.decode(data + b"\0", array.shape, array.dtype)


def test_byte_flips_fail_cleanly() -> None:
    _assert_flips_fail_cleanly(*_sample(), masks=(0x01, 0x80, 0xFF))


def test_wrong_shape_is_rejected() -> None:
    stage, array, data = _sample()
    with pytest.raises(StreamError):
        stage.decode(data, (2, 13, 13, 3), array.dtype)


def test_crafted_huge_counts_are_rejected_before_allocating() -> None:
    shape = (1, 4, 4)
    stage = DensityStage(tile=4)
    valid = stage.encode(np.ones(shape, np.uint8))
    # format byte, plane modes, partition count, lane size, then a 2**40-symbol class partition
    assert valid[5] == 1
    crafted = valid[:5] + bytes([0x80, 0x80, 0x80, 0x80, 0x80, 0x20]) + valid[6:]
    with pytest.raises(StreamError):
        stage.decode(crafted, shape, np.dtype(np.uint8))


@pytest.mark.parametrize("lane_tokens", [1, 2, 3, 7, 64])
@pytest.mark.parametrize("dtype", DTYPES)
def test_small_lanes_round_trip(
    monkeypatch: pytest.MonkeyPatch, lane_tokens: int, dtype: str
) -> None:
    """Any lane size decodes (the encoder picks even sizes of 256 and up), sparse and dense."""
    monkeypatch.setattr(entropy, "_lane_tokens", lambda total: lane_tokens)
    rng = np.random.default_rng(lane_tokens)
    bits = np.dtype(dtype).itemsize * 8
    array = rng.laplace(0, 2.0 ** min(bits - 2, 40), (3, 17, 19)).astype(np.int64).astype(dtype)
    array[0, :9] = rng.laplace(0, 3, (9, 19)).astype(np.int64).astype(dtype)
    array[1] = 0
    array[2, ::2] = 0
    stage = DensityStage(tile=4)
    data = stage.encode(array)
    np.testing.assert_array_equal(stage.decode(data, array.shape, array.dtype), array)


def test_large_uint8_uses_symbol_pairs() -> None:
    """8-bit dense partitions above ``PAIR_SYMBOLS`` are coded through the pair table."""
    rng = np.random.default_rng(11)
    array = rng.laplace(0, 9, (4, 192, 256)).astype(np.int64).astype(np.uint8)
    assert array.size >= entropy.PAIR_SYMBOLS
    stage = DensityStage()
    np.testing.assert_array_equal(
        stage.decode(stage.encode(array), array.shape, array.dtype), array
    )


def test_entropy_many_lanes_round_trip() -> None:
    """Partitions of several lanes, long codes and raw bits beyond the decode table."""
    rng = np.random.default_rng(5)
    wide = rng.integers(0, 2**40, 70_000, dtype=np.uint64) >> rng.integers(0, 40, 70_000).astype(
        np.uint64
    )
    sparse = np.zeros(200_000, np.uint64)
    sparse[rng.integers(0, len(sparse), 900)] = rng.integers(1, 2**16, 900, dtype=np.uint64)
    parts = [(wide, 40), (sparse, 16), (rng.integers(0, 256, 5001).astype(np.uint64), 8)]
    data = entropy.encode(parts)
    out, sizes = entropy.decode(data, [b for _, b in parts], 10**7, np.dtype(np.uint64))
    assert sizes == [len(s) for s, _ in parts]
    np.testing.assert_array_equal(out, np.concatenate([s for s, _ in parts]))


def _laned_sample(monkeypatch: pytest.MonkeyPatch) -> tuple[DensityStage, np.ndarray, bytes]:
    monkeypatch.setattr(entropy, "_lane_tokens", lambda total: 6)
    stage, array, _ = _sample()
    return stage, array, stage.encode(array)


def test_laned_stream_corruption_fails_cleanly(monkeypatch: pytest.MonkeyPatch) -> None:
    stage, array, data = _laned_sample(monkeypatch)
    _assert_truncations_raise(stage, array, data)
    _assert_flips_fail_cleanly(stage, array, data, masks=(0x01, 0x10, 0xFF))


@pytest.mark.parametrize("lane_tokens", [b"\x00", b"\x81\x80\x04"])
def test_bad_lane_size_is_rejected(lane_tokens: bytes) -> None:
    """Lane sizes of 0 or above ``MAX_LANE_TOKENS`` (here 2**16 + 1) are stream errors."""
    shape = (1, 4, 4)
    stage = DensityStage(tile=4)
    valid = stage.encode(np.ones(shape, np.uint8))
    # format byte, plane modes, partition count, lane size (one byte: 256 = 0x80 0x02)
    assert valid[3:5] == b"\x80\x02"
    crafted = valid[:3] + lane_tokens + valid[5:]
    with pytest.raises(StreamError):
        stage.decode(crafted, shape, np.dtype(np.uint8))


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_threaded_round_trip_and_errors(monkeypatch: pytest.MonkeyPatch, threads: int) -> None:
    """Splitting lanes and partitions between threads changes nothing, errors included."""
    monkeypatch.setattr(entropy, "PARALLEL_WORK", 0)
    monkeypatch.setattr(entropy, "_lane_tokens", lambda total: 8)
    with budget(threads):
        rng = np.random.default_rng(threads)
        for dtype in DTYPES:
            array = rng.laplace(0, 50, (2, 30, 31)).astype(np.int64).astype(dtype)
            array[0, :20] = 0
            stage = DensityStage(tile=4)
            data = stage.encode(array)
            np.testing.assert_array_equal(stage.decode(data, array.shape, array.dtype), array)
            with pytest.raises(StreamError):
                stage.decode(data[:-1], array.shape, array.dtype)
            damaged = bytearray(data)
            damaged[len(data) // 2] ^= 0xFF
            with contextlib.suppress(StreamError):  # or some array: never another error
                out = stage.decode(bytes(damaged), array.shape, array.dtype)
                assert out.shape == array.shape


@pytest.mark.parametrize("bits", [8, 9, 12, 16, 20, 32, 64])
@pytest.mark.parametrize("density", [0.2, 0.9])
def test_entropy_widths_and_dtypes(bits: int, density: float) -> None:
    """Any symbol width in any wide enough dtype, sparse (runs) and dense, past the table paths."""
    rng = np.random.default_rng(bits)
    for dtype in DTYPES:
        if np.dtype(dtype).itemsize * 8 < bits:
            continue
        top = rng.integers(0, 2 ** min(bits, 63), 70_000, dtype=np.uint64)
        symbols = top >> rng.integers(0, bits, 70_000).astype(np.uint64)
        symbols[rng.random(70_000) > density] = 0
        symbols = symbols.astype(dtype)
        data = entropy.encode([(symbols, bits)])
        out, _ = entropy.decode(data, [bits], 10**6, np.dtype(np.uint64))
        np.testing.assert_array_equal(out, symbols.astype(np.uint64))
