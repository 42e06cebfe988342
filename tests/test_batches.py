"""GOPs coded and decoded in batches (for a GPU): the bytes and frames of one GOP at a time."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tezip
from tezip import batching
from tezip.container.reader import ArchiveFile
from tezip.errors import TezipError
from tezip.pipeline import Pipeline


@given(st.lists(st.integers(0, 50), max_size=30), st.integers(1, 60), st.integers(1, 5))
def test_batches_keep_order_and_hold_at_most_the_limits(
    sizes: list[int], limit: int, most: int
) -> None:
    made = list(batching.batches(sizes, lambda size: size, most, limit))
    assert [size for batch in made for size in batch] == sizes
    for batch in made:
        assert 1 <= len(batch) <= most and (len(batch) == 1 or sum(batch) <= limit)
    for batch, after in itertools.pairwise(made):  # closed only when the next would not fit
        assert sum(batch) + after[0] > limit or len(batch) == most


def test_a_batch_holds_one_frame_of_each_gop_within_the_network_budget() -> None:
    assert batching.gops_per_batch((256, 256)) == 64
    assert batching.gops_per_batch((4096, 4096)) == 1  # a frame beyond it is a batch alone
    assert batching.gops_per_batch((1024, 1024, 3)) == 1


def test_batches_are_taken_as_they_fill() -> None:
    taken = []

    def items() -> object:
        for number in range(6):
            taken.append(number)
            yield number

    first = next(batching.batches(items(), lambda _: 1, 9, 2))
    assert first == [0, 1] and taken == [0, 1, 2]


def sequence() -> np.ndarray:
    """Frames that the built-in predictors code differently GOP by GOP (several finalists),
    cut into GOPs of 4, 4 and 3 frames."""
    rng = np.random.default_rng(11)
    still = np.tile(rng.integers(0, 120, (1, 12, 10)), (4, 1, 1))
    drift = np.cumsum(rng.integers(0, 3, (4, 12, 10)), axis=0) + 40
    noise = rng.integers(0, 250, (3, 12, 10))
    return np.concatenate([still, drift, noise]).astype(np.uint8)


@pytest.fixture
def batched(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Every pipeline codes in batches, as on a GPU; the sizes of the batches decoded."""
    sizes: list[int] = []
    decode_batch = Pipeline.decode_batch

    def recorded(self: Pipeline, records: list) -> list[np.ndarray]:
        sizes.append(len(records))
        return decode_batch(self, records)

    monkeypatch.setattr(Pipeline, "on_gpu", property(lambda self: True))
    monkeypatch.setattr(Pipeline, "decode_batch", recorded)
    return sizes


@pytest.mark.parametrize("bound", [{}, {"abs": 2}, {"level": 8}])
def test_a_batch_codes_the_bytes_of_one_gop_at_a_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, bound: dict
) -> None:
    data = sequence()
    one = tezip.encode(data, gop=4, **bound)
    with monkeypatch.context() as patched:
        patched.setattr(Pipeline, "on_gpu", property(lambda self: True))
        assert tezip.encode(data, gop=4, **bound) == one


def test_a_batch_decodes_the_frames_of_one_gop_at_a_time(
    tmp_path: Path, batched: list[int]
) -> None:
    data = sequence()
    path = tmp_path / "a.tez"
    tezip.pack(data, path, gop=4, abs=1)
    assert tezip.unpack(path).shape == data.shape and batched == [3]
    np.testing.assert_allclose(tezip.unpack(path), data, atol=1)
    part = tezip.unpack(path, slice(5, 9))
    assert batched[-1] == 2  # only the GOPs holding the frames asked for
    np.testing.assert_array_equal(part, tezip.unpack(path)[5:9])


def test_a_damaged_gop_in_a_batch_fails_where_it_does_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = sequence()
    path = tmp_path / "a.tez"
    tezip.pack(data, path, gop=4)
    section = ArchiveFile(path.read_bytes()).gops[1].section
    damaged = bytearray(path.read_bytes())
    damaged[(section.offset + section.end) // 2] ^= 0x10
    with pytest.raises(TezipError) as alone:
        tezip.decode(bytes(damaged))
    out = np.zeros_like(data)
    monkeypatch.setattr(Pipeline, "on_gpu", property(lambda self: True))
    with pytest.raises(TezipError) as batch:
        tezip.decode(bytes(damaged), out)
    assert str(batch.value) == str(alone.value)
    np.testing.assert_array_equal(out[:4], data[:4])  # the GOP before the damaged one
