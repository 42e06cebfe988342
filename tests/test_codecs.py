"""tezip as a chunk codec: the Zarr v3 array-to-bytes codec and the numcodecs codec."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

import tezip
from tezip.codecs.chunk import ChunkCoder, frames_shape
from tezip.codes import SUPPORTED_DTYPES
from tezip.errors import FormatError, OptionError

zarr = pytest.importorskip("zarr")
numcodecs = pytest.importorskip("numcodecs")
common = pytest.importorskip("numcodecs.tests.common")

from tezip.codecs.numcodecs import Tezip  # noqa: E402 - needs numcodecs
from tezip.codecs.zarr import TezipCodec  # noqa: E402 - needs zarr

SHAPE, CHUNKS = (21, 19, 14), (8, 16, 16)  # edge chunks included


def smooth(dtype: str, shape: tuple[int, ...] = SHAPE, seed: int = 0) -> np.ndarray:
    """Temporally correlated data spanning a good part of the dtype's range."""
    rng = np.random.default_rng(seed)
    walk = np.cumsum(rng.normal(0, 4, shape), axis=0) + 60
    if np.dtype(dtype).kind in "ui":
        info = np.iinfo(dtype)
        walk = np.clip(np.rint(walk), max(info.min, -100), min(info.max, 200))
    return walk.astype(dtype)


#: a bound mode, its codec options, and the error each element may have at most
BOUNDS: dict[str, tuple[dict[str, Any], Any]] = {
    "lossless": ({}, lambda original: 0),
    "abs": ({"abs": 2}, lambda original: 2),
    "pwrel": ({"pwrel": 0.05}, lambda original: 0.05 * np.abs(original.astype(np.float64))),
}


def assert_within(original: np.ndarray, decoded: np.ndarray, mode: str) -> None:
    assert decoded.dtype == original.dtype and decoded.shape == original.shape
    error = np.abs(decoded.astype(np.float64) - original.astype(np.float64))
    assert (error <= BOUNDS[mode][1](original)).all()


@pytest.mark.parametrize("mode", list(BOUNDS))
@pytest.mark.parametrize("dtype", SUPPORTED_DTYPES)
def test_a_zarr_v3_array_round_trips_within_its_bound(dtype: str, mode: str) -> None:
    original = smooth(dtype)
    store = zarr.storage.MemoryStore()
    codec = TezipCodec(**BOUNDS[mode][0])
    array = zarr.create_array(
        store, shape=SHAPE, chunks=CHUNKS, dtype=dtype, serializer=codec, compressors=None
    )
    array[:] = original
    reopened = zarr.open_array(store)
    assert reopened.metadata.to_dict()["codecs"][0] == codec.to_dict()
    assert_within(original, reopened[:], mode)
    assert_within(original[3:17, 5], reopened[3:17, 5], mode)


def test_the_codec_is_found_by_name_in_stored_metadata(tmp_path: Path) -> None:
    original = smooth("uint16")
    path = tmp_path / "a.zarr"
    array = zarr.create_array(
        path, shape=SHAPE, chunks=CHUNKS, dtype="uint16", serializer=TezipCodec(abs=1)
    )
    array[:] = original
    # a fresh reader resolves {"name": "tezip"} through the zarr.codecs entry point
    assert_within(original, zarr.open_array(path, mode="r")[:], "abs")


def test_xarray_opens_a_store_written_with_the_codec(tmp_path: Path) -> None:
    xr = pytest.importorskip("xarray")
    original = smooth("float32")
    group = zarr.open_group(tmp_path / "run.zarr", mode="w")
    array = group.create_array(
        "frames",
        shape=SHAPE,
        chunks=CHUNKS,
        dtype="float32",
        serializer=TezipCodec(abs=0.01),
        dimension_names=("t", "y", "x"),
    )
    array[:] = original
    dataset = xr.open_zarr(tmp_path / "run.zarr", consolidated=False)
    frames = dataset["frames"]
    assert frames.dims == ("t", "y", "x")
    assert np.abs(frames.isel(t=slice(2, 9)).values - original[2:9]).max() <= 0.01


@pytest.mark.parametrize("dtype", ["int64", "bool", "complex64"])
def test_an_array_of_a_dtype_tezip_does_not_code_is_refused_when_created(dtype: str) -> None:
    with pytest.raises(OptionError, match=f"not {dtype}"):
        zarr.create_array(
            zarr.storage.MemoryStore(), shape=(4, 4), dtype=dtype, serializer=TezipCodec()
        )


@pytest.mark.parametrize(
    ("options", "match"),
    [({"rel": 0.01}, "rel: a chunk cannot know"), ({"gop": 4}, "gop: a chunk codec takes")],
)
def test_relative_bounds_and_file_options_are_refused(options: dict[str, Any], match: str) -> None:
    with pytest.raises(OptionError, match=match):
        TezipCodec(**options)
    with pytest.raises(OptionError, match=match):
        Tezip(**options)


def test_a_chunk_archive_of_another_shape_or_dtype_is_refused() -> None:
    data = ChunkCoder().encode(smooth("uint8", (2, 3, 4)))
    with pytest.raises(FormatError, match="elements"):
        ChunkCoder.decode(data, (2, 3, 5))
    with pytest.raises(FormatError, match="holds uint8, not int8"):
        ChunkCoder.decode(data, (2, 3, 4), np.dtype("int8"))


@pytest.mark.parametrize(
    ("shape", "frames"),
    [((), (1, 1, 1)), ((7,), (1, 1, 7)), ((3, 4), (1, 3, 4)), ((2, 3, 4, 5, 6), (6, 4, 5, 6))],
)
def test_chunks_of_any_rank_round_trip(shape: tuple[int, ...], frames: tuple[int, ...]) -> None:
    assert frames_shape(shape) == frames
    chunk = smooth("int16", shape)
    np.testing.assert_array_equal(ChunkCoder.decode(ChunkCoder().encode(chunk), shape), chunk)


def test_a_chunk_archive_is_compact_and_plain() -> None:
    """Empty informative maps and only the predictors used: a 16 x 64 x 64 chunk of zeros
    takes 529 bytes instead of the 704 of ``tezip.encode``, and reads as any archive."""
    chunk = np.zeros((16, 64, 64), np.uint16)
    data = ChunkCoder().encode(chunk)
    with tezip.open(data) as archive:
        header = archive.header
        np.testing.assert_array_equal(archive[...], chunk)
    assert (header.source, header.bound, header.gop) == ({}, {}, {})
    assert len(header.predictors) == 1 and len(archive.gops) == 1
    assert len(data) < len(tezip.encode(chunk, gop=16))


@pytest.mark.parametrize("dtype", SUPPORTED_DTYPES)
@pytest.mark.parametrize("order", ["C", "F"])
def test_numcodecs_checks_pass(dtype: str, order: str) -> None:
    codec = Tezip()
    array = np.asarray(smooth(dtype, (6, 10, 9)), order=order)
    common.check_encode_decode(array, codec)
    common.check_config(codec)
    common.check_err_encode_object_buffer(codec)
    # check_err_decode_object_buffer's, with a dtype tezip codes (it takes int64)
    with pytest.raises(TypeError):
        codec.decode(codec.encode(array), out=np.empty(array.size, dtype=object))


def test_numcodecs_finds_the_codec_by_id() -> None:
    codec = numcodecs.get_codec({"id": "tezip", "abs": 0.5, "level": 2})
    assert codec == Tezip(abs=0.5, level=2)
    original = smooth("float64", (5, 8, 8))
    assert_within(original, codec.decode(codec.encode(original)).reshape(5, 8, 8), "abs")


def test_a_zarr_v2_array_takes_the_numcodecs_codec() -> None:
    original = np.asfortranarray(smooth("int32"))
    store = zarr.storage.MemoryStore()
    array = zarr.create_array(
        store,
        shape=SHAPE,
        chunks=CHUNKS,
        dtype="int32",
        order="F",
        zarr_format=2,
        compressors=Tezip(abs=2),
    )
    array[:] = original
    assert_within(original, zarr.open_array(store)[:], "abs")
