"""An open archive as a read-only array: shape, dtype, NumPy indexing, file objects, Dask."""

from __future__ import annotations

import io
import pickle
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tezip
from tezip.archive import Archive
from tezip.errors import InputError, SignatureError

FRAMES, HEIGHT, WIDTH, GOP = 23, 6, 7, 4


@pytest.fixture(scope="module")
def frames() -> np.ndarray:
    rng = np.random.default_rng(11)
    walk = np.cumsum(rng.integers(-3, 4, (FRAMES, HEIGHT, WIDTH)), axis=0) + 1000
    return walk.astype(np.uint16)


@pytest.fixture(scope="module")
def path(frames: np.ndarray, tmp_path_factory: pytest.TempPathFactory) -> Path:
    archive = tmp_path_factory.mktemp("array") / "a.tez"
    tezip.pack(frames, archive, gop=GOP)
    return archive


@pytest.fixture
def archive(path: Path) -> Iterator[Archive]:
    with tezip.open(path) as opened:
        yield opened


def test_the_archive_has_the_array_attributes(archive: Archive, frames: np.ndarray) -> None:
    assert archive.shape == frames.shape
    assert archive.dtype == frames.dtype
    assert archive.ndim == 3
    assert len(archive) == FRAMES
    np.testing.assert_array_equal(np.asarray(archive), frames)


KEYS = [
    5,
    -1,
    np.int64(3),
    slice(None),
    slice(3, 17, 5),
    slice(None, None, -1),
    slice(20, 2, -3),
    slice(30, 40),
    slice(5, 5),
    (slice(2, 9), slice(1, 4), 3),
    (Ellipsis, 2),
    (3, Ellipsis),
    (Ellipsis,),
    (slice(None), 1),
    (-2, -1, -1),
    (slice(None, None, -7), slice(None, None, -2)),
    (slice(1, 22, 6), Ellipsis, slice(5, 0, -2)),
    (),
]


@pytest.mark.parametrize("key", KEYS, ids=repr)
def test_indexing_is_numpys(archive: Archive, frames: np.ndarray, key: Any) -> None:
    got, expected = archive[key], frames[key]
    assert type(got) is type(expected) and got.dtype == expected.dtype  # a scalar for (i, y, x)
    np.testing.assert_array_equal(got, expected)
    assert got.shape == expected.shape


def index_items(size: int) -> st.SearchStrategy[Any]:
    steps = st.integers(-4, 4).filter(bool)
    bounds = st.none() | st.integers(-size - 2, size + 2)
    return st.integers(-size, size - 1) | st.builds(slice, bounds, bounds, st.none() | steps)


@given(
    st.tuples(index_items(FRAMES), index_items(HEIGHT), index_items(WIDTH)),
    st.integers(0, 3),
    st.booleans(),
)
def test_every_basic_index_matches_numpy(
    archive_and_frames: tuple[Archive, np.ndarray], items: tuple[Any, ...], keep: int, dots: bool
) -> None:
    archive, frames = archive_and_frames
    key = (*items[:keep], Ellipsis) if dots else items[:keep]
    np.testing.assert_array_equal(archive[key], frames[key])


@pytest.fixture(scope="module")
def archive_and_frames(path: Path, frames: np.ndarray) -> Iterator[tuple[Archive, np.ndarray]]:
    with tezip.open(path) as opened:
        yield opened, frames


@pytest.mark.parametrize(
    "key", [1.5, "1", None, [1, 2], np.array([1, 2]), True, np.bool_(False), (0, 1.0)], ids=repr
)
def test_an_index_of_another_type_is_a_type_error(archive: Archive, key: Any) -> None:
    with pytest.raises(TypeError, match=r"integers, slices or '\.\.\.'"):
        archive[key]


@pytest.mark.parametrize(
    "key",
    [FRAMES, -FRAMES - 1, (0, HEIGHT), (0, 0, -WIDTH - 1), (0, 0, 0, 0), (Ellipsis, Ellipsis)],
    ids=repr,
)
def test_an_index_out_of_range_is_an_index_error(archive: Archive, key: Any) -> None:
    with pytest.raises(IndexError):
        archive[key]


def test_a_slice_of_floats_is_a_type_error(archive: Archive) -> None:
    with pytest.raises(TypeError):
        archive[1.0:3]


def decoded_gops(archive: Archive, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The GOP numbers ``archive`` decodes from now on, in order."""
    numbers: list[int] = []
    decode = archive._decode

    def counting(number: int) -> np.ndarray:
        numbers.append(number)
        return decode(number)

    monkeypatch.setattr(archive, "_decode", counting)
    return numbers


@pytest.mark.parametrize(
    ("key", "gops"),
    [
        ((slice(9, 11), slice(1, 3)), [2]),
        (slice(1, 22, 8), [0, 2, 4]),
        (slice(21, 0, -8), [5, 3, 1]),
        ((Ellipsis, 0), [0, 1, 2, 3, 4, 5]),
        (slice(4, 4), []),
    ],
    ids=repr,
)
def test_only_the_gops_holding_the_selected_frames_are_decoded(
    archive: Archive, monkeypatch: pytest.MonkeyPatch, key: Any, gops: list[int]
) -> None:
    decoded = decoded_gops(archive, monkeypatch)
    archive.threads = 1  # in order, so the list is deterministic
    archive[key]
    assert decoded == gops


def test_a_file_object_is_read_without_a_file_descriptor(path: Path, frames: np.ndarray) -> None:
    stream = io.BytesIO(path.read_bytes())  # no fileno(): os.pread would fail
    with tezip.open(stream, threads=4) as archive:
        np.testing.assert_array_equal(archive[::-1], frames[::-1])
    assert not stream.closed  # the caller's object stays the caller's


def test_an_open_file_and_bytes_read_like_the_path(path: Path, frames: np.ndarray) -> None:
    with path.open("rb") as handle, tezip.open(handle) as archive:
        np.testing.assert_array_equal(archive[2:9], frames[2:9])
    with tezip.open(memoryview(path.read_bytes())) as archive:
        np.testing.assert_array_equal(archive[-3], frames[-3])


def test_a_text_or_unseekable_stream_is_a_clear_error(path: Path) -> None:
    with path.open() as text, pytest.raises(InputError, match="text mode"):
        tezip.open(text)

    class Pipe(io.RawIOBase):
        def readable(self) -> bool:
            return True

    with pytest.raises(InputError, match="not seekable"):
        tezip.open(Pipe())
    with pytest.raises(InputError, match="cannot read an archive from int"):
        tezip.open(3)  # type: ignore[arg-type]


def test_damage_in_a_file_object_names_it(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[0] ^= 0xFF
    stream = io.BytesIO(bytes(data))
    stream.name = "upload.tez"  # type: ignore[attr-defined]
    with pytest.raises(SignatureError, match=r"^upload.tez: not a .tez archive"):
        tezip.open(stream)


def test_an_archive_opened_from_a_path_or_bytes_pickles(path: Path, frames: np.ndarray) -> None:
    for source in (path, path.read_bytes()):
        with tezip.open(source) as archive:
            copy = pickle.loads(pickle.dumps(archive))
        np.testing.assert_array_equal(copy[4:6], frames[4:6])
        copy.close()
    with path.open("rb") as handle, tezip.open(handle) as archive, pytest.raises(TypeError):
        pickle.dumps(archive)


def test_dask_wraps_the_archive_lazily(
    archive: Archive, frames: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    da = pytest.importorskip("dask.array")
    decoded = decoded_gops(archive, monkeypatch)
    lazy = da.from_array(archive, chunks=(GOP, 3, WIDTH))
    assert lazy.shape == frames.shape and lazy.dtype == frames.dtype
    assert not decoded  # wrapping decodes nothing
    assert lazy[8:12].sum().compute(scheduler="threads") == frames[8:12].sum()
    assert set(decoded) == {2}
    np.testing.assert_array_equal(lazy.compute(scheduler="sync"), frames)
