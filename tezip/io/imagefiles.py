"""One image file as one frame, read and written exactly or refused.

Pillow decodes most formats, but it converts some sample layouts on the way (16-bit colour
PNG and TIFF to 8 bits, 2- and 4-bit grey to 0..255, 15-bit BMP colour to 8 bits), so a
"lossless" pack of such files would silently lose data. Every file therefore goes to a reader
that delivers its stored samples unchanged:

- TIFF: ``tifffile`` when installed (``pip install 'tezip[tiff]'``; every dtype tezip packs),
  else Pillow for the layouts it reads exactly;
- 16-bit colour PNG (RGB, RGBA, grey+alpha): :mod:`tezip.io.png`;
- everything else: Pillow, after checking that it keeps the stored sample depth.

Anything else is refused with a one-line ``InputError`` naming the file and what to do.
Palette images are read as their indices (mode ``P``), with the palette kept for writing.
"""

from __future__ import annotations

import functools
import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from tezip.errors import InputError
from tezip.io import png
from tezip.io.source import reason


@dataclass(frozen=True)
class Layout:
    """How frames of one image mode look as arrays: dtype and channels (``None``: 2-D)."""

    dtype: np.dtype
    channels: int | None

    def frame_shape(self, height: int, width: int) -> tuple[int, ...]:
        return (height, width) if self.channels is None else (height, width, self.channels)


_U8, _U16 = np.dtype("uint8"), np.dtype("uint16")

#: Image modes tezip reads and writes: Pillow's names, and tezip's own (``RGB;16`` ...) for
#: layouts Pillow has no mode for. Mode ``"1"`` frames hold 0/1 and ``"P"`` frames palette
#: indices, both in ``uint8``.
MODES: dict[str, Layout] = {
    "1": Layout(_U8, None),
    "L": Layout(_U8, None),
    "P": Layout(_U8, None),
    "LA": Layout(_U8, 2),
    "RGB": Layout(_U8, 3),
    "RGBA": Layout(_U8, 4),
    "I;16": Layout(_U16, None),
    "I;16L": Layout(_U16, None),
    "I;16B": Layout(_U16, None),
    "I": Layout(np.dtype("int32"), None),
    "F": Layout(np.dtype("float32"), None),
    "LA;16": Layout(_U16, 2),
    "RGB;16": Layout(_U16, 3),
    "RGBA;16": Layout(_U16, 4),
    "I;8S": Layout(np.dtype("int8"), None),
    "I;16S": Layout(np.dtype("int16"), None),
    "I;32U": Layout(np.dtype("uint32"), None),
    "F;64": Layout(np.dtype("float64"), None),
}
#: Modes of 8-bit samples, where Pillow must not have converted another depth.
_EIGHT_BIT = frozenset({"L", "LA", "RGB", "RGBA"})
_TIFF_SUFFIXES = (".tif", ".tiff")
#: Modes only tifffile writes (Pillow has no mode for them or writes them inexactly).
TIFFFILE_ONLY = frozenset({"LA;16", "RGB;16", "RGBA;16", "I;8S", "I;16S", "I;32U", "F;64"})
#: PNG modes written by :mod:`tezip.io.png` rather than Pillow.
PNG_OWN = frozenset({"LA;16", "RGB;16", "RGBA;16"})


@functools.cache
def tifffile_available() -> bool:
    """True when the optional ``tifffile`` package is installed."""
    return importlib.util.find_spec("tifffile") is not None


def mode_of(dtype: np.dtype, channels: int | None) -> str | None:
    """The first mode of :data:`MODES` with this layout (``None`` when there is none)."""
    for mode, layout in MODES.items():
        if mode not in ("1", "P") and (layout.dtype, layout.channels) == (dtype, channels):
            return mode
    return None


@dataclass(frozen=True)
class ImageInfo:
    """What tezip learned about one image file before reading its pixels."""

    height: int
    width: int
    mode: str
    format: str
    reader: str  # "pillow", "png" or "tifffile"
    palette: bytes | None = None  # RGB triplets of a ``P`` image
    transparency: int | bytes | None = None  # a ``P`` image's transparent index or alphas
    planar: bool = False  # tifffile: samples stored plane by plane (axes SYX)

    def describe(self) -> str:
        return f"{self.width}x{self.height} {self.mode}"


def unreadable(file: Path, err: Exception) -> InputError:
    return InputError(f"{file}: cannot read as an image ({reason(err)})")


def _stored_rawmode(image: Image.Image) -> str:
    """The sample layout Pillow decodes the file from (``""`` when it does not say)."""
    tile = getattr(image, "tile", None) or []
    if not tile:
        return ""
    args = tile[0][3]  # (codec, extents, offset, args): a plain tuple before Pillow 11
    rawmode = args if isinstance(args, str) else (args[0] if args else "")
    return rawmode if isinstance(rawmode, str) else ""


def _sample_bits(rawmode: str) -> int | None:
    """Bits per sample named in a Pillow raw mode such as ``RGB;16B`` (``None``: default)."""
    _, _, suffix = rawmode.partition(";")
    digits = "".join(c for c in suffix[:2] if c.isdigit())
    return int(digits) if digits else None


def _frames_in(image: Image.Image) -> int:
    return int(getattr(image, "n_frames", 1))


def _refuse_frames(file: Path, frames: int) -> InputError:
    return InputError(f"{file}: holds {frames} frames; tezip reads one frame per image file")


def _tiff_hint() -> str:
    return "" if tifffile_available() else ", or pip install 'tezip[tiff]' to read TIFF exactly"


def probe(file: Path) -> ImageInfo:
    """Read one image's header (not its pixels) and choose the reader that keeps it exact."""
    if file.suffix.lower() in _TIFF_SUFFIXES and tifffile_available():
        info = _probe_tifffile(file)
        if info is not None:
            return info
    try:
        with Image.open(file) as image:
            frames = _frames_in(image)
            fmt = (image.format or "").lower()
            mode, rawmode = image.mode, _stored_rawmode(image)
            size = image.height, image.width
            palette = bytes(image.getpalette() or []) if mode == "P" else None
            transparency = image.info.get("transparency") if mode == "P" else None
    except Exception as err:  # Pillow raises many types on damaged or foreign files
        raise unreadable(file, err) from None
    if frames > 1:
        raise _refuse_frames(file, frames)
    bits = _sample_bits(rawmode)
    if mode in _EIGHT_BIT and bits not in (None, 8):
        return _probe_converted(file, fmt, mode, rawmode)
    if mode not in MODES or mode in TIFFFILE_ONLY:
        raise InputError(
            f"{file}: image mode {mode!r} is not supported (tezip reads "
            f"{', '.join(m for m in MODES if m not in TIFFFILE_ONLY)}{_tiff_hint()})"
        )
    if not isinstance(transparency, bytes | int):
        transparency = None
    return ImageInfo(*size, mode, fmt, "pillow", palette, transparency)


def _probe_converted(file: Path, fmt: str, mode: str, rawmode: str) -> ImageInfo:
    """A file whose samples Pillow would convert: tezip's PNG reader, or a refusal."""
    if fmt == "png":
        with open(file, "rb") as handle:
            info = png.read_info(handle.read(33), str(file))
        if info.depth == 16 and info.channels > 1 and not info.interlaced:
            names = {2: "LA;16", 3: "RGB;16", 4: "RGBA;16"}
            return ImageInfo(info.height, info.width, names[info.channels], fmt, "png")
    raise InputError(
        f"{file}: {fmt.upper() or 'the'} image stores {rawmode} samples, which Pillow would "
        f"convert to 8-bit {mode}; tezip reads only exact samples (convert the frames to "
        f"16-bit TIFF or a .npy array{_tiff_hint()})"
    )


def _probe_tifffile(file: Path) -> ImageInfo | None:
    """A TIFF's layout through tifffile; ``None`` for photometric interpretations other
    than grey and RGB (palette, inverted grey, CMYK, YCbCr ...), which go to Pillow's checks."""
    import tifffile

    try:
        with tifffile.TiffFile(file) as tiff:
            pages = len(tiff.pages)
            page = tiff.pages[0]
            photometric = int(page.photometric)
            axes, shape, dtype = page.axes, page.shape, np.dtype(page.dtype)
            big_endian = tiff.byteorder == ">"
    except Exception as err:  # tifffile raises many types on damaged or foreign files
        raise unreadable(file, err) from None
    if pages > 1:
        raise _refuse_frames(file, pages)
    if photometric not in (1, 2) or dtype.kind == "b":  # grey, RGB; bilevel goes to Pillow
        return None
    layouts = {"YX": (0, 1, None), "YXS": (0, 1, 2), "SYX": (1, 2, 0)}
    if axes not in layouts:
        raise InputError(f"{file}: TIFF with axes {axes!r}; tezip reads one 2-D image per file")
    y, x, s = layouts[axes]
    channels = None if s is None else shape[s]
    mode = mode_of(dtype.newbyteorder("="), channels)
    if mode == "I;16" and big_endian:
        mode = "I;16B"  # as Pillow names it, so the copy is written big-endian too
    if mode is None:
        what = f"{channels} channels of {dtype.name}" if channels else dtype.name
        raise InputError(f"{file}: TIFF of {what} is not an image layout tezip reads")
    return ImageInfo(shape[y], shape[x], mode, "tiff", "tifffile", planar=axes == "SYX")


def read_pixels(file: Path, info: ImageInfo) -> np.ndarray:
    """The pixels of ``file`` with the reader ``info`` chose, as a native-order array.

    Raises ``InputError`` if the file cannot be decoded.
    """
    try:
        if info.reader == "png":
            return png.decode(file.read_bytes(), str(file))
        if info.reader == "tifffile":
            import tifffile

            pixels = tifffile.imread(file, key=0)
            if info.planar:
                pixels = np.moveaxis(pixels, 0, -1)
            return np.ascontiguousarray(pixels, pixels.dtype.newbyteorder("="))
        with Image.open(file) as image:
            return np.asarray(image)
    except InputError:
        raise
    except Exception as err:  # the decoders raise many types on damaged files
        raise unreadable(file, err) from None


def write_image(
    path: Path,
    frame: np.ndarray,
    mode: str,
    fmt: str,
    palette: bytes | None = None,
    transparency: int | bytes | None = None,
) -> None:
    """Write one frame as a PNG or TIFF image of ``mode``, exactly."""
    if fmt == "png" and mode in PNG_OWN:
        path.write_bytes(png.encode(frame))
        return
    if fmt == "tiff" and mode in TIFFFILE_ONLY:
        import tifffile

        colour = mode.startswith("RGB")
        alpha = mode.startswith(("RGBA", "LA"))
        tifffile.imwrite(
            path,
            frame,
            photometric="rgb" if colour else "minisblack",
            extrasamples=["unassalpha"] if alpha else None,
        )
        return
    if mode == "P":
        image = Image.frombytes("P", frame.shape[::-1], np.ascontiguousarray(frame).tobytes())
        image.putpalette(palette or b"")
    else:
        image = Image.fromarray(frame.astype(_ARRAY_DTYPE.get(mode, frame.dtype)))
    options: dict[str, Any] = {"compress_level": 1} if fmt == "png" else {}
    if mode == "P" and transparency is not None:
        options["transparency"] = transparency
    image.save(path, {"png": "PNG", "tiff": "TIFF"}[fmt], **options)


#: Array dtype handed to ``Image.fromarray`` to get each mode (others use the frame's own).
_ARRAY_DTYPE = {
    "1": np.dtype(bool),  # nonzero -> 1: never moves a value further from a 0/1 original
    "I;16": np.dtype("<u2"),
    "I;16L": np.dtype("<u2"),
    "I;16B": np.dtype(">u2"),
}
