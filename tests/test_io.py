"""Specification of tezip.io: frame sources (arrays, .npy, image folders) and frame sinks."""

from __future__ import annotations

import os
import random
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from tezip.errors import FormatError, InputError
from tezip.io import (
    ArraySource,
    FrameSink,
    ImageFolderSource,
    NpySource,
    natural_key,
    open_sink,
)
from tezip.io import source as source_module
from tezip_io.plugin import tezip_open_input

RNG = np.random.default_rng(1234)


def one_line_error(excinfo: pytest.ExceptionInfo[BaseException], *needles: str) -> str:
    """The error message, checked to be one line and to mention every needle."""
    message = str(excinfo.value)
    assert "\n" not in message
    for needle in needles:
        assert needle in message, (needle, message)
    return message


def save_frames(folder: Path, frames: np.ndarray, names: list[str], **save: object) -> None:
    """Write each frame with ``Image.fromarray`` under the given file names."""
    folder.mkdir(exist_ok=True)
    for frame, name in zip(frames, names, strict=True):
        Image.fromarray(frame).save(folder / name, **save)


def listing(folder: Path) -> list[str]:
    """Every entry of ``folder``, hidden ones included."""
    return sorted(os.listdir(folder))


# --- natural order ---------------------------------------------------------------------------


def test_natural_key_orders_numbers_by_value() -> None:
    names = ["f10.png", "f2.png", "f1.png", "F3.png", "f02.png", "g1.png"]
    assert sorted(names, key=natural_key) == [
        "f1.png",
        "f02.png",
        "f2.png",
        "F3.png",
        "f10.png",
        "g1.png",
    ]


def test_natural_key_handles_non_ascii_digits() -> None:
    assert sorted(["a²", "a1", "a٣"], key=natural_key)[0] == "a1"


@given(st.lists(st.text(alphabet="ab01 9.-_²Aé", max_size=8), unique=True, max_size=12))
def test_natural_order_is_total_and_deterministic(names: list[str]) -> None:
    shuffled = names[:]
    random.Random(0).shuffle(shuffled)
    assert sorted(names, key=natural_key) == sorted(shuffled, key=natural_key)


# --- in-memory arrays ------------------------------------------------------------------------


def test_array_source_reads_fresh_native_contiguous_frames() -> None:
    data = RNG.integers(0, 60000, (5, 4, 3), dtype=np.uint16).astype(">u2")
    source = ArraySource(data.transpose(0, 2, 1))
    assert (len(source), source.frame_shape, source.dtype) == (5, (3, 4), np.dtype("uint16"))
    frames = source.read(1, 4)
    assert frames.dtype == np.dtype("uint16") and frames.dtype.isnative
    assert frames.flags.c_contiguous and frames.flags.writeable
    np.testing.assert_array_equal(frames, data.transpose(0, 2, 1)[1:4])
    frames[:] = 0
    np.testing.assert_array_equal(source.read(1, 4), data.transpose(0, 2, 1)[1:4])
    assert source.read(2, 2).shape == (0, 3, 4)
    assert source.describe() == {"kind": "array", "names": None, "modes": None, "format": None}


@pytest.mark.parametrize(("start", "stop"), [(-1, 2), (3, 2), (0, 6)])
def test_read_out_of_range(start: int, stop: int) -> None:
    with pytest.raises(IndexError):
        ArraySource(np.zeros((5, 2, 2), np.uint8)).read(start, stop)


@pytest.mark.parametrize(
    ("array", "needle"),
    [
        (np.zeros((4, 4), np.uint8), "shape"),
        (np.zeros((1, 2, 3, 4, 5), np.uint8), "shape"),
        (np.zeros((0, 4, 4), np.uint8), "no frames"),
        (np.zeros((2, 0, 4), np.uint8), "empty"),
        (np.zeros((2, 4, 4), np.complex64), "unsupported dtype"),
        (np.zeros((2, 4, 4), np.int64), "unsupported dtype"),
        (np.zeros((2, 4, 4), bool), "unsupported dtype"),
    ],
)
def test_array_source_rejects_bad_arrays(array: np.ndarray, needle: str) -> None:
    with pytest.raises(InputError) as excinfo:
        ArraySource(array)
    one_line_error(excinfo, "input array", needle)


def test_value_range_of_integers_and_floats() -> None:
    ints = np.array([[[3, -7]], [[12, 0]]], np.int16)
    assert ArraySource(ints).value_range() == (-7.0, 12.0)
    floats = np.array([[[np.nan, 1.5]], [[-np.inf, -2.0]], [[np.inf, 0.0]]], np.float32)
    assert ArraySource(floats).value_range() == (-2.0, 1.5)
    assert ArraySource(np.full((2, 2, 2), np.nan, np.float64)).value_range() is None


def test_value_range_reads_in_bounded_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(source_module, "CHUNK_BYTES", 3 * 16 * 4)
    data = RNG.normal(size=(10, 4, 4)).astype(np.float32)
    data[9, 3, 3] = 100.0
    data[0, 0, 0] = np.nan
    source = ArraySource(data)
    spans: list[int] = []
    real_peek = source.peek
    monkeypatch.setattr(source, "peek", lambda a, b: spans.append(b - a) or real_peek(a, b))
    low, high = source.value_range()  # type: ignore[misc]
    assert (low, high) == (float(np.nanmin(data)), 100.0)
    assert spans == [3, 3, 3, 1]


def test_an_array_is_scanned_without_copying_it() -> None:
    data = np.arange(24, dtype=np.uint16).reshape(2, 3, 4)
    assert np.shares_memory(ArraySource(data).peek(0, 2), data)
    assert not np.shares_memory(ArraySource(data).read(0, 2), data)


# --- .npy files ------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [">f4", ">u2", "<i4", ">f8", "|u1", "<i2"])
def test_npy_source_any_byte_order(tmp_path: Path, dtype: str) -> None:
    data = (RNG.normal(size=(4, 3, 5, 2)) * 100).astype(dtype)
    np.save(tmp_path / "a.npy", data)
    source = NpySource(tmp_path / "a.npy")
    assert source.dtype == np.dtype(data.dtype.name) and source.dtype.isnative
    assert (len(source), source.frame_shape) == (4, (3, 5, 2))
    frames = source.read(1, 3)
    assert frames.dtype.isnative and frames.flags.c_contiguous and frames.flags.writeable
    np.testing.assert_array_equal(frames, data[1:3])
    assert source.describe() == {"kind": "npy", "names": None, "modes": None, "format": None}


def test_npy_source_fortran_order(tmp_path: Path) -> None:
    data = np.asfortranarray(RNG.integers(0, 255, (3, 4, 5), dtype=np.uint8))
    np.save(tmp_path / "f.npy", data)
    frames = NpySource(tmp_path / "f.npy").read(0, 3)
    assert frames.flags.c_contiguous
    np.testing.assert_array_equal(frames, data)


def test_npy_source_does_not_write_through(tmp_path: Path) -> None:
    np.save(tmp_path / "a.npy", np.ones((2, 2, 2), np.uint8))
    NpySource(tmp_path / "a.npy").read(0, 2)[:] = 9
    np.testing.assert_array_equal(np.load(tmp_path / "a.npy"), 1)


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        (b"not an array at all", "not a valid .npy file"),
        (None, "not a valid .npy file"),  # object array (would need pickle)
        (np.zeros((3, 3), np.uint8), "shape"),
        (np.zeros((0, 3, 3), np.uint8), "no frames"),
        (np.zeros((2, 3, 3), np.complex64), "unsupported dtype"),
    ],
)
def test_npy_source_rejects_bad_files(tmp_path: Path, content: object, needle: str) -> None:
    path = tmp_path / "bad.npy"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is None:
        np.save(path, np.array([1, None], dtype=object), allow_pickle=True)
    else:
        np.save(path, content)
    with pytest.raises(InputError) as excinfo:
        NpySource(path)
    one_line_error(excinfo, str(path), needle)


def test_npy_source_truncated_file(tmp_path: Path) -> None:
    path = tmp_path / "t.npy"
    np.save(path, np.zeros((4, 8, 8), np.uint16))
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(InputError) as excinfo:
        NpySource(path)
    one_line_error(excinfo, str(path))


# --- image folders ---------------------------------------------------------------------------


def test_image_folder_natural_order_and_describe(tmp_path: Path) -> None:
    names = ["f10.png", "f2.png", "f1.png"]
    frames = np.stack([np.full((3, 4), v, np.uint8) for v in (10, 2, 1)])
    save_frames(tmp_path / "in", frames, names)
    source = ImageFolderSource(tmp_path / "in")
    assert (len(source), source.frame_shape, source.dtype) == (3, (3, 4), np.dtype("uint8"))
    assert source.read(0, 3)[:, 0, 0].tolist() == [1, 2, 10]
    assert source.describe() == {
        "kind": "images",
        "names": ["f1.png", "f2.png", "f10.png"],
        "modes": ["L", "L", "L"],
        "format": "png",
    }
    assert source.value_range() == (1.0, 10.0)


def _gray16() -> np.ndarray:
    return RNG.integers(0, 65536, (3, 5, 6), dtype=np.uint16)


def _int32() -> np.ndarray:
    return RNG.integers(-(2**31), 2**31 - 1, (3, 5, 6), dtype=np.int32)


def _float32() -> np.ndarray:
    data = RNG.normal(size=(3, 5, 6)).astype(np.float32)
    data[0, 0, :3] = [np.nan, -0.0, np.inf]
    return data


def _uint8(*shape: int) -> np.ndarray:
    return RNG.integers(0, 256, (3, 5, 6, *shape), dtype=np.uint8)


#: (frames, file suffix, Pillow mode, dtype) for every mode an image folder reads directly.
MODE_CASES = [
    (_uint8(), ".png", "L", "uint8"),
    (_uint8(2), ".png", "LA", "uint8"),
    (_uint8(3), ".png", "RGB", "uint8"),
    (_uint8(4), ".png", "RGBA", "uint8"),
    (_gray16(), ".png", "I;16", "uint16"),
    (_gray16(), ".tif", "I;16", "uint16"),
    (_int32(), ".tif", "I", "int32"),
    (_float32(), ".tif", "F", "float32"),
    (_uint8(3), ".tif", "RGB", "uint8"),
]


@pytest.mark.parametrize(("frames", "suffix", "mode", "dtype"), MODE_CASES)
def test_image_folder_modes(
    tmp_path: Path, frames: np.ndarray, suffix: str, mode: str, dtype: str
) -> None:
    names = [f"img{i}{suffix}" for i in range(len(frames))]
    save_frames(tmp_path / "in", frames, names)
    source = ImageFolderSource(tmp_path / "in")
    assert (source.dtype, source.frame_shape) == (np.dtype(dtype), frames.shape[1:])
    assert source.describe()["modes"] == [mode] * 3
    read = source.read(0, 3)
    assert read.dtype.isnative
    assert read.view(f"u{read.itemsize}").tobytes() == frames.view(f"u{read.itemsize}").tobytes()


def test_image_folder_big_endian_16_bit_tiff(tmp_path: Path) -> None:
    frames = _gray16()
    save_frames(tmp_path / "in", frames.astype(">u2"), ["a.tif", "b.tif", "c.tif"])
    source = ImageFolderSource(tmp_path / "in")
    assert source.dtype == np.dtype("uint16") and source.describe()["modes"] == ["I;16B"] * 3
    np.testing.assert_array_equal(source.read(0, 3), frames)


def test_image_folder_bilevel_is_zero_one(tmp_path: Path) -> None:
    bits = RNG.integers(0, 2, (2, 5, 11), dtype=np.uint8)
    save_frames(tmp_path / "in", bits.astype(bool), ["a.png", "b.png"])
    source = ImageFolderSource(tmp_path / "in")
    assert source.describe()["modes"] == ["1", "1"]
    np.testing.assert_array_equal(source.read(0, 2), bits)


def test_image_folder_keeps_palette_indices(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    palette = Image.fromarray(_uint8(3)[0]).quantize(colors=16)
    palette.save(folder / "a.png")
    palette.save(folder / "b.gif")
    source = ImageFolderSource(folder)
    record = source.describe()
    assert source.frame_shape == (5, 6) and record["modes"] == ["P", "P"]
    assert record["palette"] == bytes(palette.getpalette())
    expected = np.asarray(palette)
    np.testing.assert_array_equal(source.read(0, 2), np.stack([expected, expected]))


def test_palette_round_trip_is_file_exact(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    palette = Image.fromarray(_uint8(3)[0]).quantize(colors=8)
    palette.save(folder / "a.png", transparency=0)
    original = ImageFolderSource(folder)
    assert original.describe()["transparency"] == 0
    copy_through_sink(original, tmp_path / "out")
    with Image.open(tmp_path / "out" / "a.png") as image:
        assert image.mode == "P" and image.info.get("transparency") == 0
        assert image.getpalette() == palette.getpalette()
        np.testing.assert_array_equal(np.asarray(image), np.asarray(palette))


def test_image_folder_rejects_differing_palettes(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    Image.fromarray(_uint8(3)[0]).quantize(colors=8).save(folder / "a.png")
    Image.fromarray(_uint8(3)[1]).quantize(colors=8).save(folder / "b.png")
    with pytest.raises(InputError) as excinfo:
        ImageFolderSource(folder)
    one_line_error(excinfo, "b.png", "palette")


def _rgb16(channels: int = 3) -> np.ndarray:
    """Frames whose high and low bytes both vary, so keeping only one is visible."""
    return RNG.integers(0, 65536, (3, 5, 6, channels), dtype=np.uint16)


@pytest.mark.parametrize("channels", [2, 3, 4])
def test_sixteen_bit_colour_png_is_read_and_written_exactly(tmp_path: Path, channels: int) -> None:
    from tezip.io import png

    frames = _rgb16(channels)
    folder = tmp_path / "in"
    folder.mkdir()
    for i, frame in enumerate(frames):
        (folder / f"f{i}.png").write_bytes(png.encode(frame))
    source = ImageFolderSource(folder)
    assert source.dtype == np.uint16 and source.frame_shape == (5, 6, channels)
    np.testing.assert_array_equal(source.read(0, 3), frames)
    copy_through_sink(source, tmp_path / "out")
    assert ImageFolderSource(tmp_path / "out").describe() == source.describe()
    np.testing.assert_array_equal(ImageFolderSource(tmp_path / "out").read(0, 3), frames)


def test_png_reader_matches_pillow_on_every_filter(tmp_path: Path) -> None:
    from tezip.io import png

    frame = _uint8(3)[0]
    path = tmp_path / "a.png"
    Image.fromarray(frame).save(path, optimize=True)  # Pillow picks filters per row
    np.testing.assert_array_equal(png.decode(path.read_bytes(), "a.png"), frame)
    big = RNG.integers(0, 255, (40, 50, 4), dtype=np.uint8)
    for strategy in range(5):
        Image.fromarray(big).save(path, compress_type=strategy)
        np.testing.assert_array_equal(png.decode(path.read_bytes(), "a.png"), big)


def test_sixteen_bit_colour_tiff_is_exact(tmp_path: Path) -> None:
    tifffile = pytest.importorskip("tifffile")
    frames = _rgb16()
    folder = tmp_path / "in"
    folder.mkdir()
    for i, frame in enumerate(frames):
        tifffile.imwrite(folder / f"f{i}.tif", frame, photometric="rgb")
    source = ImageFolderSource(folder)
    assert source.describe()["modes"] == ["RGB;16"] * 3
    np.testing.assert_array_equal(source.read(0, 3), frames)
    copy_through_sink(source, tmp_path / "out")
    np.testing.assert_array_equal(ImageFolderSource(tmp_path / "out").read(0, 3), frames)


@pytest.mark.parametrize("dtype", ["int8", "int16", "uint32", "float64"])
def test_tiff_dtypes_pillow_lacks_are_exact(tmp_path: Path, dtype: str) -> None:
    tifffile = pytest.importorskip("tifffile")
    frames = RNG.normal(0, 50, (2, 4, 5)).astype(dtype)
    folder = tmp_path / "in"
    folder.mkdir()
    for i, frame in enumerate(frames):
        tifffile.imwrite(folder / f"f{i}.tif", frame)
    source = ImageFolderSource(folder)
    assert source.dtype == np.dtype(dtype)
    copy_through_sink(source, tmp_path / "out")
    assert ImageFolderSource(tmp_path / "out").read(0, 2).tobytes() == frames.tobytes()


def test_without_tifffile_converted_tiff_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tifffile = pytest.importorskip("tifffile")
    from tezip.io import imagefiles

    folder = tmp_path / "in"
    folder.mkdir()
    tifffile.imwrite(folder / "a.tif", _rgb16()[0], photometric="rgb")
    monkeypatch.setattr(imagefiles, "tifffile_available", lambda: False)
    with pytest.raises(InputError) as excinfo:
        ImageFolderSource(folder)
    one_line_error(excinfo, "a.tif", "RGB;16", "tezip[tiff]")


def test_low_depth_grey_png_is_refused_not_rescaled(tmp_path: Path) -> None:
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + data))
        return struct.pack(">I", len(data)) + kind + data + crc

    ihdr = struct.pack(">IIBBBBB", 4, 1, 2, 0, 0, 0, 0)  # 2-bit grey
    body = chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00\x1b")) + chunk(b"IEND", b"")
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a.png").write_bytes(b"\x89PNG\r\n\x1a\n" + body)
    with pytest.raises(InputError) as excinfo:
        ImageFolderSource(folder)
    one_line_error(excinfo, "a.png", "L;2")


def test_damaged_sixteen_bit_png_is_a_clear_error(tmp_path: Path) -> None:
    from tezip.io import png

    folder = tmp_path / "in"
    folder.mkdir()
    data = bytearray(png.encode(_rgb16()[0]))
    data[-20] ^= 0xFF  # inside the IDAT payload: its CRC fails
    (folder / "a.png").write_bytes(bytes(data))
    source = ImageFolderSource(folder)  # the header is intact
    with pytest.raises(InputError) as excinfo:
        source.read(0, 1)
    one_line_error(excinfo, "a.png")


def test_image_folder_ignores_dotfiles_and_subfolders(tmp_path: Path) -> None:
    save_frames(tmp_path / "in", _uint8(), ["a.png", "b.png", "c.png"])
    (tmp_path / "in" / ".DS_Store").write_bytes(b"junk")
    (tmp_path / "in" / "sub").mkdir()
    assert ImageFolderSource(tmp_path / "in").describe()["names"] == ["a.png", "b.png", "c.png"]


def test_image_folder_ignores_files_that_are_not_images(tmp_path: Path) -> None:
    save_frames(tmp_path / "in", _uint8(), ["a.png", "b.png", "c.png"])
    (tmp_path / "in" / "README.md").write_text("where these frames come from")
    (tmp_path / "in" / "meta.JSON").write_text("{}")
    assert ImageFolderSource(tmp_path / "in").describe()["names"] == ["a.png", "b.png", "c.png"]


def test_image_folder_without_images_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "notes.txt").write_text("hello")
    with pytest.raises(InputError) as excinfo:
        ImageFolderSource(tmp_path / "in")
    one_line_error(excinfo, "no image files")


def test_image_folder_rejects_unreadable_image(tmp_path: Path) -> None:
    save_frames(tmp_path / "in", _uint8(), ["a.png", "b.png", "c.png"])
    (tmp_path / "in" / "d.png").write_text("hello")
    with pytest.raises(InputError) as excinfo:
        ImageFolderSource(tmp_path / "in")
    one_line_error(excinfo, "d.png", "cannot read")


def test_image_folder_rejects_differing_size(tmp_path: Path) -> None:
    save_frames(tmp_path / "in", _uint8()[:2], ["f1.png", "f2.png"])
    save_frames(tmp_path / "in", np.zeros((2, 5, 7), np.uint8), ["f10.png", "f3.png"])
    with pytest.raises(InputError) as excinfo:
        ImageFolderSource(tmp_path / "in")
    one_line_error(excinfo, "f3.png", "7x5 L", "f1.png", "6x5 L")


def test_image_folder_rejects_differing_mode(tmp_path: Path) -> None:
    save_frames(tmp_path / "in", _uint8()[:1], ["a.png"])
    save_frames(tmp_path / "in", _uint8(3)[:1], ["b.png"])
    with pytest.raises(InputError) as excinfo:
        ImageFolderSource(tmp_path / "in")
    one_line_error(excinfo, "b.png", "RGB", "a.png", "6x5 L")


@pytest.mark.parametrize("setup", ["missing", "file", "empty", "only_dotfiles"])
def test_image_folder_rejects_no_images(tmp_path: Path, setup: str) -> None:
    path = tmp_path / "in"
    if setup == "file":
        path.write_text("x")
    elif setup != "missing":
        path.mkdir()
    if setup == "only_dotfiles":
        (path / ".hidden.png").write_bytes(b"")
    with pytest.raises(InputError) as excinfo:
        ImageFolderSource(path)
    one_line_error(excinfo, str(path))


def test_image_folder_rejects_multi_frame_files(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    pages = [Image.fromarray(frame) for frame in _uint8()]
    pages[0].save(folder / "stack.tif", save_all=True, append_images=pages[1:])
    with pytest.raises(InputError) as excinfo:
        ImageFolderSource(folder)
    one_line_error(excinfo, "stack.tif", "3 frames")


def test_image_folder_rejects_unsupported_mode(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    Image.new("CMYK", (4, 4)).save(folder / "a.tif")
    with pytest.raises(InputError) as excinfo:
        ImageFolderSource(folder)
    one_line_error(excinfo, "a.tif", "'CMYK'")


def test_image_folder_truncated_pixels_fail_on_read(tmp_path: Path) -> None:
    save_frames(tmp_path / "in", _uint8(), ["a.png", "b.png", "c.png"])
    damaged = tmp_path / "in" / "b.png"
    damaged.write_bytes(damaged.read_bytes()[:60])
    source = ImageFolderSource(tmp_path / "in")  # headers are intact
    assert source.read(0, 1).shape == (1, 5, 6)
    with pytest.raises(InputError) as excinfo:
        source.read(0, 3)
    one_line_error(excinfo, "b.png")


def test_image_folder_file_changed_after_open(tmp_path: Path) -> None:
    save_frames(tmp_path / "in", _uint8(), ["a.png", "b.png", "c.png"])
    source = ImageFolderSource(tmp_path / "in")
    Image.new("L", (9, 9)).save(tmp_path / "in" / "c.png")
    with pytest.raises(InputError) as excinfo:
        source.read(2, 3)
    one_line_error(excinfo, "c.png", "9x9")


# --- the plugin ------------------------------------------------------------------------------


def test_plugin_answers_npy_files_and_folders(tmp_path: Path) -> None:
    with open(tmp_path / "a.NPY", "wb") as file:  # np.save would append ".npy"
        np.save(file, np.zeros((2, 3, 3), np.uint8))
    save_frames(tmp_path / "in", _uint8(), ["a.png", "b.png", "c.png"])
    (tmp_path / "x.txt").write_text("x")
    assert isinstance(tezip_open_input(path=tmp_path / "a.NPY"), NpySource)
    assert isinstance(tezip_open_input(path=tmp_path / "in"), ImageFolderSource)
    assert tezip_open_input(path=tmp_path / "x.txt") is None
    assert tezip_open_input(path=tmp_path / "missing.npy") is None


def test_open_source_through_the_registry(tmp_path: Path) -> None:
    pytest.importorskip("tezip.registry")
    from tezip.io import open_source

    np.save(tmp_path / "a.npy", np.zeros((2, 3, 3), np.uint8))
    assert isinstance(open_source(tmp_path / "a.npy"), NpySource)
    save_frames(tmp_path / "in", _uint8(), ["a.png", "b.png", "c.png"])
    assert isinstance(open_source(str(tmp_path / "in")), ImageFolderSource)


# --- sinks: .npy -----------------------------------------------------------------------------


def npy_sink(path: Path, data: np.ndarray, **kwargs: object) -> FrameSink:
    options: dict[str, object] = {
        "fmt": None,
        "source": {"kind": "npy", "names": None, "modes": None, "format": None},
        "frame_shape": data.shape[1:],
        "dtype": data.dtype,
        "indices": range(len(data)),
    }
    options.update(kwargs)
    return open_sink(path, **options)  # type: ignore[arg-type]


@pytest.mark.parametrize("name", ["out.npy", "out.raw"])
def test_npy_sink_streams_chunks(tmp_path: Path, name: str) -> None:
    data = RNG.normal(size=(7, 4, 5, 3)).astype(np.float32)
    with npy_sink(tmp_path / name, data) as sink:
        for start in range(0, 7, 3):
            sink.write(data[start : start + 3])
        assert listing(tmp_path) != [name]  # not visible before commit
    assert listing(tmp_path) == [name]
    np.testing.assert_array_equal(np.load(tmp_path / name), data)


def test_npy_sink_zero_frames_and_overwrite(tmp_path: Path) -> None:
    target = tmp_path / "out.npy"
    target.write_bytes(b"old")
    with pytest.raises(InputError) as excinfo:
        npy_sink(target, np.zeros((0, 2, 2), np.uint16))
    one_line_error(excinfo, "out.npy", "exists", "overwrite=True")
    assert target.read_bytes() == b"old"
    with npy_sink(target, np.zeros((0, 2, 2), np.uint16), overwrite=True):
        pass
    loaded = np.load(target)
    assert loaded.shape == (0, 2, 2) and loaded.dtype == np.uint16


def test_npy_sink_respects_umask(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        with npy_sink(tmp_path / "out.npy", np.zeros((1, 2, 2), np.uint8)) as sink:
            sink.write(np.zeros((1, 2, 2), np.uint8))
    finally:
        os.umask(old)
    assert (tmp_path / "out.npy").stat().st_mode & 0o777 == 0o644


def test_npy_sink_exception_leaves_nothing(tmp_path: Path) -> None:
    data = np.ones((4, 3, 3), np.int16)
    with pytest.raises(RuntimeError), npy_sink(tmp_path / "out.npy", data) as sink:
        sink.write(data[:2])
        raise RuntimeError("decoder failed")
    assert listing(tmp_path) == []


def test_sink_commit_with_missing_frames_discards(tmp_path: Path) -> None:
    data = np.ones((4, 3, 3), np.int16)
    sink = npy_sink(tmp_path / "out.npy", data)
    sink.write(data[:3])
    with pytest.raises(ValueError, match="3 of 4"):
        sink.commit()
    assert listing(tmp_path) == []


def test_sink_rejects_misuse(tmp_path: Path) -> None:
    data = np.ones((2, 3, 3), np.int16)
    sink = npy_sink(tmp_path / "out.npy", data)
    with pytest.raises(ValueError, match="do not match"):
        sink.write(data.astype(np.int32))
    with pytest.raises(ValueError, match="do not match"):
        sink.write(data[:, :2])
    with pytest.raises(ValueError, match="more than"):
        sink.write(np.ones((3, 3, 3), np.int16))
    sink.write(data)
    sink.commit()
    with pytest.raises(ValueError, match="committed"):
        sink.write(data)
    sink.abort()  # no-op once committed
    assert listing(tmp_path) == ["out.npy"]


def test_npy_sink_bad_targets(tmp_path: Path) -> None:
    data = np.ones((1, 3, 3), np.uint8)
    (tmp_path / "dir.npy").mkdir()
    with pytest.raises(InputError) as excinfo:
        npy_sink(tmp_path / "dir.npy", data)
    one_line_error(excinfo, "dir.npy", "folder")
    with pytest.raises(InputError) as excinfo:
        npy_sink(tmp_path / "nowhere" / "out.npy", data)
    one_line_error(excinfo, "nowhere", "does not exist")


def test_unknown_format(tmp_path: Path) -> None:
    with pytest.raises(InputError) as excinfo:
        npy_sink(tmp_path / "out", np.ones((1, 3, 3), np.uint8), fmt="jpeg")
    one_line_error(excinfo, "'jpeg'", "npy, png, tiff")


# --- sinks: image folders --------------------------------------------------------------------


def copy_through_sink(source: ImageFolderSource, target: Path, **kwargs: object) -> None:
    """Decode-side simulation: write every frame of ``source`` through ``open_sink``."""
    indices = kwargs.pop("indices", range(len(source)))
    with open_sink(
        target,
        fmt=kwargs.pop("fmt", None),  # type: ignore[arg-type]
        source=source.describe(),
        frame_shape=source.frame_shape,
        dtype=source.dtype,
        indices=indices,  # type: ignore[arg-type]
    ) as sink:
        for i in indices:  # type: ignore[attr-defined]
            sink.write(source.read(i, i + 1))


@pytest.mark.parametrize(("frames", "suffix", "mode", "dtype"), MODE_CASES)
def test_image_round_trip_keeps_names_modes_format(
    tmp_path: Path, frames: np.ndarray, suffix: str, mode: str, dtype: str
) -> None:
    names = [f"img{i}{suffix}" for i in (1, 2, 10)]
    save_frames(tmp_path / "in", frames, names)
    original = ImageFolderSource(tmp_path / "in")
    copy_through_sink(original, tmp_path / "out")
    assert listing(tmp_path / "out") == sorted(names)
    copy = ImageFolderSource(tmp_path / "out")
    assert copy.describe() == original.describe()
    assert copy.read(0, 3).tobytes() == original.read(0, 3).tobytes()


@pytest.mark.parametrize("mode", ["1", "I;16B"])
def test_image_round_trip_special_modes(tmp_path: Path, mode: str) -> None:
    frames = (
        RNG.integers(0, 2, (2, 5, 9)).astype(bool) if mode == "1" else _gray16()[:2].astype(">u2")
    )
    save_frames(tmp_path / "in", frames, ["a.tif", "b.tif"])
    original = ImageFolderSource(tmp_path / "in")
    copy_through_sink(original, tmp_path / "out")
    copy = ImageFolderSource(tmp_path / "out")
    assert copy.describe() == original.describe() and original.describe()["modes"][0] == mode
    np.testing.assert_array_equal(copy.read(0, 2), original.read(0, 2))


def test_sixteen_bit_png_is_exact_through_pillow(tmp_path: Path) -> None:
    data = _gray16()
    with open_sink(
        tmp_path / "out",
        fmt="png",
        source={"kind": "array", "names": None, "modes": None, "format": None},
        frame_shape=data.shape[1:],
        dtype=data.dtype,
        indices=range(3),
    ) as sink:
        sink.write(data)
    for i, name in enumerate(listing(tmp_path / "out")):
        with Image.open(tmp_path / "out" / name) as image:
            assert image.mode == "I;16"
            np.testing.assert_array_equal(np.asarray(image), data[i])


@pytest.mark.parametrize(
    ("mode", "extra"), [("1", {}), ("P", {"palette": bytes(range(6)), "transparency": b"\0"})]
)
def test_recorded_mode_must_hold_the_decoded_values(
    tmp_path: Path, mode: str, extra: dict[str, object]
) -> None:
    """A forged bilevel mode once turned grey frames into 0/1 images; a palette of two
    entries cannot index 5 either. Frames that fit are written in the recorded mode."""
    source = {"kind": "images", "names": ["a.png", "b.png"], "modes": [mode] * 2, **extra}
    frames = np.array([[[0, 1, 1, 0]], [[0, 1, 5, 0]]], np.uint8)
    kwargs = {"fmt": None, "source": source, "frame_shape": (1, 4), "dtype": np.uint8}
    sink = open_sink(tmp_path / "out", indices=[0, 1], **kwargs)  # type: ignore[arg-type]
    with pytest.raises(FormatError) as excinfo, sink:
        sink.write(frames[:1])
        sink.write(frames[1:])
    one_line_error(excinfo, "b.png", "value 5", repr(mode), ".npy")
    assert listing(tmp_path) == []
    with open_sink(tmp_path / "out", indices=[0], **kwargs) as sink:  # type: ignore[arg-type]
        sink.write(frames[:1])
    copy = ImageFolderSource(tmp_path / "out")
    assert copy.describe()["modes"] == [mode]
    np.testing.assert_array_equal(copy.read(0, 1), frames[:1])


def test_image_sink_subset_of_frames(tmp_path: Path) -> None:
    frames = _uint8()
    save_frames(tmp_path / "in", frames, ["f1.png", "f2.png", "f10.png"])
    copy_through_sink(ImageFolderSource(tmp_path / "in"), tmp_path / "out", indices=[0, 2])
    copy = ImageFolderSource(tmp_path / "out")
    assert copy.describe()["names"] == ["f1.png", "f10.png"]
    np.testing.assert_array_equal(copy.read(0, 2), frames[[0, 2]])


def test_explicit_format_renames_extensions(tmp_path: Path) -> None:
    frames = _uint8(3)
    save_frames(tmp_path / "in", frames, ["a.png", "b.PNG", "c.jpeg.png"])
    copy_through_sink(ImageFolderSource(tmp_path / "in"), tmp_path / "out", fmt="tiff")
    assert listing(tmp_path / "out") == ["a.tif", "b.tif", "c.jpeg.tif"]
    copy = ImageFolderSource(tmp_path / "out")
    assert copy.describe()["format"] == "tiff"
    np.testing.assert_array_equal(copy.read(0, 3), frames)


def test_numbered_names_without_recorded_names(tmp_path: Path) -> None:
    data = _uint8()
    with npy_sink(tmp_path / "out", data[1:], fmt="png", indices=[3, 7]) as sink:
        sink.write(data[1:])
    assert listing(tmp_path / "out") == ["frame_000003.png", "frame_000007.png"]
    with npy_sink(tmp_path / "wide", data[:1], fmt="tiff", indices=[12345678]) as sink:
        sink.write(data[:1])
    assert listing(tmp_path / "wide") == ["frame_12345678.tif"]


def test_lossy_original_format_is_written_as_png(tmp_path: Path) -> None:
    save_frames(tmp_path / "in", _uint8(3), ["a.jpg", "b.jpg", "c.jpg"])
    source = ImageFolderSource(tmp_path / "in")
    assert source.describe()["format"] == "jpeg"
    copy_through_sink(source, tmp_path / "out")
    assert listing(tmp_path / "out") == ["a.png", "b.png", "c.png"]
    np.testing.assert_array_equal(ImageFolderSource(tmp_path / "out").read(0, 3), source.read(0, 3))


def test_images_source_to_npy_path(tmp_path: Path) -> None:
    frames = _uint8()
    save_frames(tmp_path / "in", frames, ["a.png", "b.png", "c.png"])
    copy_through_sink(ImageFolderSource(tmp_path / "in"), tmp_path / "out.npy")
    np.testing.assert_array_equal(np.load(tmp_path / "out.npy"), frames)


@pytest.mark.parametrize(
    ("data", "fmt", "needles"),
    [
        (_float32(), "png", ("PNG", "--format tiff", ".npy")),
        (_int32(), "png", ("PNG", "--format tiff", ".npy")),
        (RNG.integers(0, 9, (2, 4, 4), dtype=np.int16), "tiff", ("int16", ".npy")),
        (RNG.integers(0, 9, (2, 4, 4, 3), dtype=np.uint16), "png", ("uint16", ".npy")),
        (RNG.integers(0, 9, (2, 4, 4, 1), dtype=np.uint8), "tiff", ("(4, 4, 1)", ".npy")),
    ],
)
def test_image_sink_refuses_unrepresentable_data_before_writing(
    tmp_path: Path, data: np.ndarray, fmt: str, needles: tuple[str, ...]
) -> None:
    with pytest.raises(InputError) as excinfo:
        npy_sink(tmp_path / "out", data, fmt=fmt)
    one_line_error(excinfo, *needles)
    assert listing(tmp_path) == []


def test_recorded_float_mode_refused_for_png(tmp_path: Path) -> None:
    save_frames(tmp_path / "in", _float32(), ["a.tif", "b.tif", "c.tif"])
    with pytest.raises(InputError) as excinfo:
        copy_through_sink(ImageFolderSource(tmp_path / "in"), tmp_path / "out", fmt="png")
    one_line_error(excinfo, "'F'", "--format tiff")
    assert listing(tmp_path) == ["in"]


def test_image_sink_target_rules(tmp_path: Path) -> None:
    data = _uint8()
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "keep.txt").write_text("mine")
    with pytest.raises(InputError) as excinfo:
        npy_sink(tmp_path / "full", data, fmt="png")
    one_line_error(excinfo, "full", "not empty", "overwrite=True")
    (tmp_path / "file").write_text("x")
    with pytest.raises(InputError) as excinfo:
        npy_sink(tmp_path / "file", data, fmt="png")
    one_line_error(excinfo, "file", "not a folder")
    (tmp_path / "empty").mkdir()
    with npy_sink(tmp_path / "empty", data, fmt="png") as sink:
        sink.write(data)
    assert len(listing(tmp_path / "empty")) == 3
    (tmp_path / "full" / "frame_000001.png").write_text("old")
    with npy_sink(tmp_path / "full", data, fmt="png", overwrite=True) as sink:
        sink.write(data)  # replaces its own names only: keep.txt stays, nothing else is left
    assert listing(tmp_path / "full") == [*listing(tmp_path / "empty"), "keep.txt"]
    assert (tmp_path / "full" / "keep.txt").read_text() == "mine"
    np.testing.assert_array_equal(ImageFolderSource(tmp_path / "full").read(0, 3), data)
    assert listing(tmp_path) == ["empty", "file", "full"]


def test_image_sink_exception_mid_write_leaves_nothing(tmp_path: Path) -> None:
    data = _uint8()
    with pytest.raises(KeyboardInterrupt), npy_sink(tmp_path / "out", data, fmt="png") as sink:
        sink.write(data[:2])
        raise KeyboardInterrupt
    assert listing(tmp_path) == []


def test_image_sink_failing_save_aborts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = _uint8()
    calls: list[int] = []
    real_save = Image.Image.save

    def flaky_save(self: Image.Image, *args: object, **kwargs: object) -> None:
        calls.append(1)
        if len(calls) == 3:
            raise OSError("disk full")
        real_save(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Image.Image, "save", flaky_save)
    sink = npy_sink(tmp_path / "out", data, fmt="png")
    sink.write(data[:2])
    with pytest.raises(OSError, match="disk full"):
        sink.write(data[2:])
    assert listing(tmp_path) == []
    with pytest.raises(ValueError, match="aborted"):
        sink.commit()


def test_image_sink_refuses_target_that_appears(tmp_path: Path) -> None:
    data = _uint8()
    sink = npy_sink(tmp_path / "out", data, fmt="png")
    sink.write(data)
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "intruder.txt").write_text("x")
    with pytest.raises(InputError) as excinfo:
        sink.commit()
    one_line_error(excinfo, "out")
    assert listing(tmp_path) == ["out"] and listing(tmp_path / "out") == ["intruder.txt"]


@pytest.mark.parametrize("bad", ["../evil.png", "/abs.png", "a\\b.png", "..", "", 7])
def test_image_sink_rejects_unsafe_recorded_names(tmp_path: Path, bad: object) -> None:
    source = {"kind": "images", "names": ["ok.png", bad], "modes": ["L", "L"], "format": "png"}
    with pytest.raises(FormatError) as excinfo:
        npy_sink(tmp_path / "out", _uint8()[:2], source=source)
    one_line_error(excinfo, "unsafe")
    assert listing(tmp_path) == []


def test_image_sink_rejects_inconsistent_records(tmp_path: Path) -> None:
    data = _uint8()[:2]
    short = {"kind": "images", "names": ["a.png"], "modes": ["L", "L"], "format": "png"}
    with pytest.raises(FormatError, match="frame 1"):
        npy_sink(tmp_path / "out", data, source=short)
    wrong = {"kind": "images", "names": ["a.png", "b.png"], "modes": ["F", "F"], "format": "png"}
    with pytest.raises(FormatError, match="'F'"):
        npy_sink(tmp_path / "out", data, source=wrong)


def test_image_sink_rejects_colliding_names(tmp_path: Path) -> None:
    source = {"kind": "images", "names": ["a.jpg", "a.gif"], "modes": ["L", "L"], "format": "jpeg"}
    with pytest.raises(InputError) as excinfo:
        npy_sink(tmp_path / "out", _uint8()[:2], source=source)
    one_line_error(excinfo, "a.jpg", "a.gif", "a.png")


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("names", float("nan")),
        ("names", True),
        ("names", {"0": "a.png"}),
        ("modes", 1.5),
        ("modes", "L"),
    ],
)
def test_image_sink_rejects_wrong_typed_records(tmp_path: Path, key: str, value: object) -> None:
    """Wrong-typed lists in the archive's input record once ended in tracebacks."""
    source = {"kind": "images", "names": ["a.png", "b.png"], "modes": ["L", "L"], key: value}
    with pytest.raises(FormatError) as excinfo:
        npy_sink(tmp_path / "out", _uint8()[:2], source=source)
    one_line_error(excinfo, key, type(value).__name__, ".npy")
    assert listing(tmp_path) == []


def test_image_sink_rejects_duplicate_recorded_names(tmp_path: Path) -> None:
    """Two frames recorded under one name once wrote fewer files than frames, silently."""
    source = {"kind": "images", "names": ["a.png", "b.png", "a.png"], "modes": ["L"] * 3}
    with pytest.raises(FormatError) as excinfo:
        npy_sink(tmp_path / "out", _uint8(), source=source)
    one_line_error(excinfo, "'a.png'", "more than once")
    assert listing(tmp_path) == []


@pytest.mark.parametrize("transparency", [bytes(3), 256, -1, "0", [0]])
def test_image_sink_rejects_invalid_transparency(tmp_path: Path, transparency: object) -> None:
    source = {
        "kind": "images",
        "names": ["a.png"],
        "modes": ["P"],
        "palette": bytes(6),
        "transparency": transparency,
    }
    with pytest.raises(FormatError) as excinfo:
        npy_sink(tmp_path / "out", _uint8()[:1], source=source)
    one_line_error(excinfo, "transparency")


def test_npy_sink_never_replaces_a_file_that_appears(tmp_path: Path) -> None:
    """The existence check and the creation are one step: two unpacks cannot both win."""
    data = np.ones((2, 3, 3), np.uint8)
    sink = npy_sink(tmp_path / "out.npy", data)
    sink.write(data)
    (tmp_path / "out.npy").write_bytes(b"the other one")
    with pytest.raises(InputError) as excinfo:
        sink.commit()
    one_line_error(excinfo, "out.npy", "appeared", "overwrite=True")
    assert (tmp_path / "out.npy").read_bytes() == b"the other one"
    assert listing(tmp_path) == ["out.npy"]


def test_image_sink_into_a_folder_takes_back_its_files_when_one_appears(tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    data = _uint8()
    sink = npy_sink(tmp_path / "out", data, fmt="png")
    sink.write(data)
    (tmp_path / "out" / "frame_000001.png").write_text("written meanwhile")
    with pytest.raises(InputError) as excinfo:
        sink.commit()
    one_line_error(excinfo, "frame_000001.png", "appeared")
    assert listing(tmp_path / "out") == ["frame_000001.png"]
    assert (tmp_path / "out" / "frame_000001.png").read_text() == "written meanwhile"


def test_image_sink_refuses_a_folder_where_an_image_goes(tmp_path: Path) -> None:
    (tmp_path / "out" / "frame_000000.png").mkdir(parents=True)
    with pytest.raises(InputError) as excinfo:
        npy_sink(tmp_path / "out", _uint8(), fmt="png", overwrite=True)
    one_line_error(excinfo, "frame_000000.png", "is a folder")


def test_image_sink_refuses_names_that_collide_on_the_file_system(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a case-insensitive file system "A.png" and "a.png" are one file: fewer files than
    frames would be written, so nothing is (simulated here by folding the case)."""
    from tezip.io import sinks

    real_write = sinks.write_image

    def case_folding(path: Path, *args: object) -> None:
        real_write(path.with_name(path.name.lower()), *args)  # type: ignore[arg-type]

    monkeypatch.setattr(sinks, "write_image", case_folding)
    source = {"kind": "images", "names": ["A.png", "a.png"], "modes": ["L", "L"]}
    sink = npy_sink(tmp_path / "out", _uint8()[:2], source=source)
    with pytest.raises(InputError) as excinfo, sink:
        sink.write(_uint8()[:2])
    one_line_error(excinfo, "collide", ".npy")
    assert listing(tmp_path) == []


def test_messages_show_recorded_names_escaped(tmp_path: Path) -> None:
    """A recorded file name may hold terminal control characters; messages escape them."""
    name = "\x1b[2Jframe.png"
    source = {"kind": "images", "names": [name], "modes": ["1"]}
    sink = npy_sink(tmp_path / "out", _uint8()[:1], source=source)
    with pytest.raises(FormatError) as excinfo, sink:
        sink.write(np.full((1, 5, 6), 7, np.uint8))
    assert "\x1b" not in one_line_error(excinfo, "\\x1b[2Jframe.png")
