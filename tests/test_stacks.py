"""Inputs and outputs beyond .npy files and image folders: TIFF stacks, single images, HDF5
datasets, Zarr arrays, stdin and stdout."""

from __future__ import annotations

import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

import tezip
from tezip.cli import cli
from tezip.errors import DependencyError, InputError, OutputExistsError

tifffile = pytest.importorskip("tifffile")


def frames(
    dtype: str = "uint16", shape: tuple[int, ...] = (7, 12, 10), seed: int = 3
) -> np.ndarray:
    rng = np.random.default_rng(seed)
    walk = np.cumsum(rng.integers(-3, 4, shape), axis=0) + 100
    return walk.astype(dtype)


def roundtrip(source: object, tmp_path: Path, **options: object) -> np.ndarray:
    tezip.pack(source, tmp_path / "a.tez", overwrite=True, **options)  # type: ignore[arg-type]
    return tezip.unpack(tmp_path / "a.tez")


# --- TIFF stacks -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("dtype", "shape", "photometric"),
    [
        ("uint8", (5, 9, 8), "minisblack"),
        ("int8", (5, 9, 8), "minisblack"),
        ("uint16", (5, 9, 8, 3), "rgb"),
        ("int16", (5, 9, 8), "minisblack"),
        ("uint32", (5, 9, 8), "minisblack"),
        ("int32", (5, 9, 8), "minisblack"),
        ("float32", (5, 9, 8, 4), "rgb"),
        ("float64", (5, 9, 8), "minisblack"),
    ],
)
def test_a_tiff_stack_round_trips_exactly(
    dtype: str, shape: tuple[int, ...], photometric: str, tmp_path: Path
) -> None:
    original = frames(dtype, shape)
    extra = ["unassalpha"] if shape[-1] == 4 else None
    tifffile.imwrite(tmp_path / "in.tif", original, photometric=photometric, extrasamples=extra)
    np.testing.assert_array_equal(roundtrip(tmp_path / "in.tif", tmp_path), original)
    result = tezip.unpack_to(tmp_path / "a.tez", tmp_path / "out.tiff")
    assert result.path == tmp_path / "out.tiff"
    written = tifffile.TiffFile(tmp_path / "out.tiff")
    assert len(written.pages) == shape[0] and written.pages[0].photometric.name.lower() == (
        photometric
    )
    np.testing.assert_array_equal(written.asarray(), original)
    written.close()


def test_planar_pages_and_big_endian_samples_are_read_exactly(tmp_path: Path) -> None:
    original = frames("uint16", (4, 6, 5, 3))
    planar = np.moveaxis(original, -1, 1).astype(">u2")
    tifffile.imwrite(tmp_path / "p.tif", planar, photometric="rgb", planarconfig="separate")
    np.testing.assert_array_equal(roundtrip(tmp_path / "p.tif", tmp_path), original)


def test_hyperstack_axes_become_frames_in_page_order(tmp_path: Path) -> None:
    original = frames("uint16", (2, 3, 6, 5))
    tifffile.imwrite(tmp_path / "h.tif", original, imagej=True, metadata={"axes": "TZYX"})
    np.testing.assert_array_equal(
        roundtrip(tmp_path / "h.tif", tmp_path), original.reshape(6, 6, 5)
    )


@pytest.mark.parametrize(
    ("write", "message"),
    [
        ({"photometric": "palette", "colormap": np.zeros((3, 256), np.uint16)}, "PALETTE"),
        ({"photometric": "miniswhite"}, "MINISWHITE"),
    ],
)
def test_a_tiff_a_reader_would_convert_is_refused(
    write: dict[str, object], message: str, tmp_path: Path
) -> None:
    tifffile.imwrite(tmp_path / "c.tif", frames("uint8"), **write)
    with pytest.raises(InputError, match=f"{message} would need converting"):
        tezip.pack(tmp_path / "c.tif", tmp_path / "a.tez")


def test_a_single_image_file_is_one_frame(tmp_path: Path) -> None:
    image = frames("uint8", (1, 9, 8, 3))[0]
    Image.fromarray(image).save(tmp_path / "one.png")
    np.testing.assert_array_equal(roundtrip(tmp_path / "one.png", tmp_path), image[None])
    tezip.unpack_to(tmp_path / "a.tez", tmp_path / "out/")
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["one.png"]


def test_a_tiff_file_without_tifffile_names_the_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tifffile.imwrite(tmp_path / "s.tif", frames())
    monkeypatch.setitem(sys.modules, "tifffile", None)
    result = CliRunner().invoke(cli, ["pack", str(tmp_path / "s.tif"), "-o", str(tmp_path / "a")])
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        "Error: reading and writing TIFF stacks needs tifffile: pip install 'tezip[tiff]' "
        "[dependency]"
    ]


# --- HDF5 ------------------------------------------------------------------------------------


@pytest.fixture
def h5py() -> object:
    return pytest.importorskip("h5py")


def test_an_hdf5_dataset_is_read_chunked_and_compressed(h5py: object, tmp_path: Path) -> None:
    original = frames("uint16").astype(">u2")
    with h5py.File(tmp_path / "run.nxs", "w") as file:  # type: ignore[attr-defined]
        file.create_dataset(
            "/entry/data/data", data=original, chunks=(2, 12, 10), compression="gzip"
        )
        file.create_dataset("/entry/monitor", data=np.arange(7.0))
    np.testing.assert_array_equal(roundtrip(tmp_path / "run.nxs", tmp_path), original)
    named = roundtrip(f"{tmp_path / 'run.nxs'}:/entry/data/data", tmp_path)
    np.testing.assert_array_equal(named, original)
    with tezip.open(tmp_path / "a.tez") as archive:
        assert archive.header.source["dataset"] == "/entry/data/data"


@pytest.mark.parametrize(
    ("inner", "message"),
    [
        (":/entry", "is a group, not a dataset"),
        (":/nothing", "no such dataset"),
        (":/entry/monitor", "is not (frames, height, width)"),
        ("", "holds 2 datasets of frames (/a, /entry/data); name one"),
    ],
)
def test_an_hdf5_name_that_is_no_dataset_of_frames_is_refused(
    h5py: object, inner: str, message: str, tmp_path: Path
) -> None:
    with h5py.File(tmp_path / "run.h5", "w") as file:  # type: ignore[attr-defined]
        file["/entry/data"] = frames()
        file["/a"] = frames()
        file["/entry/monitor"] = np.arange(7.0)
    with pytest.raises(InputError, match=message.replace("(", r"\(").replace(")", r"\)")):
        tezip.pack(f"{tmp_path / 'run.h5'}{inner}", tmp_path / "a.tez")


def test_unpack_writes_an_hdf5_dataset(h5py: object, tmp_path: Path) -> None:
    original = frames("float32")
    tezip.pack(original, tmp_path / "a.tez")
    tezip.unpack_to(tmp_path / "a.tez", f"{tmp_path / 'out.h5'}:/entry/data")
    with h5py.File(tmp_path / "out.h5") as file:  # type: ignore[attr-defined]
        np.testing.assert_array_equal(file["/entry/data"][:], original)
    with pytest.raises(OutputExistsError):
        tezip.unpack_to(tmp_path / "a.tez", tmp_path / "out.h5")
    tezip.unpack_to(tmp_path / "a.tez", tmp_path / "out.h5", overwrite=True)
    with h5py.File(tmp_path / "out.h5") as file:  # type: ignore[attr-defined]
        assert list(file) == ["data"]  # the file is replaced as a whole
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.tez", "out.h5"]


def test_an_hdf5_name_without_h5py_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "h5py", None)
    with pytest.raises(DependencyError, match=r"needs h5py: pip install 'tezip\[hdf5\]'"):
        tezip.pack("run.h5:/entry/data", "a.tez")


# --- Zarr ------------------------------------------------------------------------------------


@pytest.fixture
def zarr() -> object:
    return pytest.importorskip("zarr")


def test_a_zarr_array_is_an_input(zarr: object, tmp_path: Path) -> None:
    original = frames("int16")
    array = zarr.create_array(tmp_path / "a.zarr", shape=original.shape, dtype="int16")  # type: ignore[attr-defined]
    array[:] = original
    np.testing.assert_array_equal(roundtrip(tmp_path / "a.zarr", tmp_path), original)
    group = zarr.open_group(tmp_path / "g.zarr", mode="w", zarr_format=2)  # type: ignore[attr-defined]
    group.create_array("run/frames", shape=original.shape, dtype="int16")[:] = original
    np.testing.assert_array_equal(roundtrip(tmp_path / "g.zarr", tmp_path), original)
    named = roundtrip(f"{tmp_path / 'g.zarr'}:/run/frames", tmp_path)
    np.testing.assert_array_equal(named, original)


def test_unpack_writes_a_zarr_store(zarr: object, tmp_path: Path) -> None:
    original = frames("uint8", (6, 10, 9, 3))
    tezip.pack(original, tmp_path / "a.tez")
    tezip.unpack_to(tmp_path / "a.tez", tmp_path / "out.zarr")
    np.testing.assert_array_equal(zarr.open_array(tmp_path / "out.zarr")[:], original)  # type: ignore[attr-defined]
    tezip.unpack_to(tmp_path / "a.tez", f"{tmp_path / 'out.zarr'}:/x/y", overwrite=True)
    reopened = zarr.open_array(tmp_path / "out.zarr", path="x/y")  # type: ignore[attr-defined]
    np.testing.assert_array_equal(reopened[:], original)
    (tmp_path / "mine.zarr").mkdir()
    (tmp_path / "mine.zarr" / "notes.txt").write_text("mine")
    with pytest.raises(InputError, match="is not a Zarr store; not replacing it"):
        tezip.unpack_to(tmp_path / "a.tez", tmp_path / "mine.zarr", overwrite=True)
    assert (tmp_path / "mine.zarr" / "notes.txt").read_text() == "mine"


def test_a_zarr_store_without_zarr_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "zarr", None)
    with pytest.raises(DependencyError, match=r"needs zarr: pip install 'tezip\[zarr\]'"):
        tezip.unpack_to(tezip.encode(frames()), "out.zarr")


# --- stdin and stdout ------------------------------------------------------------------------


def tezip_command(*args: str, stdin: bytes) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-c", "from tezip.cli import main; main()", *args],
        input=stdin,
        capture_output=True,
        check=False,
    )


def test_dash_reads_stdin_and_writes_stdout(tmp_path: Path) -> None:
    original = frames("float64")
    np.save(tmp_path / "in.npy", original)
    packed = tezip_command(
        "pack", "-", "-o", "-", "--abs", "0.5", stdin=(tmp_path / "in.npy").read_bytes()
    )
    assert packed.returncode == 0, packed.stderr
    assert packed.stderr.decode().startswith("-: 7 frames")
    unpacked = tezip_command("unpack", "-", "-o", "-", "-q", stdin=packed.stdout)
    assert unpacked.returncode == 0, unpacked.stderr
    (tmp_path / "out.npy").write_bytes(unpacked.stdout)
    assert np.abs(np.load(tmp_path / "out.npy") - original).max() <= 0.5
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.npy", "out.npy"]


def test_stdin_that_is_not_an_npy_array_is_a_one_line_error() -> None:
    result = tezip_command("pack", "-", "-o", "-", stdin=b"P6 not an array")
    assert result.returncode == 1
    assert result.stderr.decode().splitlines() == [
        "Error: stdin: not a .npy array (it does not start with the .npy signature) [input]"
    ]


def test_file_sources_pickle_without_their_open_file(h5py: object, tmp_path: Path) -> None:
    """Dask sends sources to workers: each reopens its file there."""
    original = frames()
    tifffile.imwrite(tmp_path / "s.tif", original, photometric="minisblack")
    with h5py.File(tmp_path / "s.h5", "w") as file:  # type: ignore[attr-defined]
        file["/data"] = original
    for name in ("s.tif", "s.h5", "s.h5:/data"):
        source = tezip.io.open_source(f"{tmp_path}/{name}")
        copy = pickle.loads(pickle.dumps(source))
        np.testing.assert_array_equal(copy.read(2, 5), original[2:5])
