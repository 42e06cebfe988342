"""Where decoded frames go: a ``.npy`` file or a folder of PNG/TIFF images, written atomically.

A sink writes into a temporary file or folder (:mod:`tezip.atomic`) and only
:meth:`FrameSink.commit` moves it into place, so a failure or interruption never leaves a
partial output behind. Without ``overwrite`` nothing existing is replaced, even if it appears
while the frames are decoded; with it, only the files the sink writes are replaced. Everything
that can be checked (format vs. dtype, target folder, the archive's record of the input) is
checked by :func:`open_sink`, before anything is written.
"""

from __future__ import annotations

import os
import shutil
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from types import TracebackType
from typing import Any, BinaryIO

import numpy as np

from tezip.atomic import create_file, publish, remove_stale, temporary_path
from tezip.container.display import printable
from tezip.errors import FormatError, InputError, OptionError, OutputExistsError
from tezip.io.imagefiles import MODES, PNG_OWN, TIFFFILE_ONLY, tifffile_available, write_image
from tezip.io.images import image_extensions
from tezip.io.source import reason
from tezip.parallel import thread_map

FORMATS = ("npy", "png", "tiff")

_PNG_MODES = frozenset({"1", "L", "P", "LA", "RGB", "RGBA", "I;16", "I;16L", "I;16B"} | PNG_OWN)
_EXTENSION = {"png": ".png", "tiff": ".tif"}
_KEEP_EXTENSIONS = {"png": (".png",), "tiff": (".tif", ".tiff")}


def _format_modes(fmt: str | None) -> frozenset[str]:
    """Image modes a writable format holds exactly (none for other formats): PNG through
    Pillow and :mod:`tezip.io.png`, TIFF through Pillow and, when installed, tifffile."""
    if fmt == "png":
        return _PNG_MODES
    if fmt == "tiff":
        return frozenset(MODES) - (frozenset() if tifffile_available() else TIFFFILE_ONLY)
    return frozenset()


class FrameSink(ABC):
    """Receives consecutive chunks of decoded frames and publishes them atomically.

    Use as a context manager: leaving the block normally commits, an exception aborts. Any
    failure inside :meth:`write` or :meth:`commit` aborts too, removing everything written.
    """

    def __init__(self, path: Path, count: int, frame_shape: tuple[int, ...], dtype: np.dtype):
        self.path = path
        self.count = count
        self.frame_shape = frame_shape
        self.dtype = dtype
        self._written = 0
        self._temp: Path | None = None
        self._state = "open"

    def write(self, frames: np.ndarray) -> None:
        """Append ``frames`` shaped ``(n, *frame_shape)`` of ``dtype``."""
        self._require_open()
        if frames.shape[1:] != self.frame_shape or frames.dtype != self.dtype:
            raise ValueError(
                f"frames {frames.dtype}{frames.shape} do not match sink "
                f"{self.dtype}(n, {', '.join(map(str, self.frame_shape))})"
            )
        if self._written + len(frames) > self.count:
            raise ValueError(f"more than the {self.count} frames this sink was opened for")
        with self._aborting():
            if self._temp is None:
                self._temp = self._start()
            self._write(frames, self._written)
        self._written += len(frames)

    def commit(self) -> None:
        """Finish the output and rename it into place."""
        self._require_open()
        if self._written != self.count:
            self.abort()
            raise ValueError(f"sink got {self._written} of {self.count} frames; output discarded")
        with self._aborting():
            if self._temp is None:
                self._temp = self._start()
            self._publish(self._temp)
        self._state = "committed"

    def abort(self) -> None:
        """Remove everything written; a no-op once committed or aborted."""
        if self._state != "open":
            return
        self._state = "aborted"
        if self._temp is not None:
            self._discard(self._temp)

    def __enter__(self) -> FrameSink:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is not None:
            self.abort()
        elif self._state == "open":
            self.commit()

    def _require_open(self) -> None:
        if self._state != "open":
            raise ValueError(f"sink for {self.path} is already {self._state}")

    @contextmanager
    def _aborting(self) -> Iterator[None]:
        """Abort when the block raises (``KeyboardInterrupt`` included), then re-raise."""
        try:
            yield
        except BaseException:
            self.abort()
            raise

    @abstractmethod
    def _start(self) -> Path:
        """Create the temporary output and return its path."""

    @abstractmethod
    def _write(self, frames: np.ndarray, first: int) -> None:
        """Write ``frames``, the first being output frame number ``first``."""

    @abstractmethod
    def _publish(self, temp: Path) -> None:
        """Finish the temporary output and rename it onto :attr:`path`."""

    @abstractmethod
    def _discard(self, temp: Path) -> None:
        """Remove the temporary output (it may be partly written)."""


class NpySink(FrameSink):
    """Streams frames into one ``.npy`` file (format 1.0, C order, native byte order).

    Frames are appended with plain file writes (not a memory map, whose writes fail with a
    fatal ``SIGBUS`` when the disk fills up), so memory stays flat in the frame count. An
    existing file at :attr:`path` is replaced on commit only with ``overwrite``.
    """

    def __init__(
        self,
        path: Path,
        count: int,
        frame_shape: tuple[int, ...],
        dtype: np.dtype,
        overwrite: bool = False,
    ) -> None:
        super().__init__(path, count, frame_shape, dtype)
        check_file_output(path, "a .npy file", overwrite)
        self.overwrite = overwrite
        self._file: BinaryIO | None = None

    def _start(self) -> Path:
        remove_stale(self.path.parent)
        temp = temporary_path(self.path, ".tmp")
        self._file = create_file(temp)
        write_npy_header(self._file, self.count, self.frame_shape, self.dtype)
        return temp

    def _write(self, frames: np.ndarray, first: int) -> None:
        assert self._file is not None
        self._file.write(np.ascontiguousarray(frames).data)

    def _publish(self, temp: Path) -> None:
        assert self._file is not None
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        try:
            publish(temp, self.path, self.overwrite)
        except FileExistsError:
            raise appeared(self.path) from None

    def _discard(self, temp: Path) -> None:
        try:
            if self._file is not None:
                with suppress(OSError):  # closing flushes, which fails on a full disk
                    self._file.close()
        finally:
            temp.unlink(missing_ok=True)


def write_npy_header(
    file: BinaryIO, count: int, frame_shape: tuple[int, ...], dtype: np.dtype
) -> None:
    """The ``.npy`` header (format 1.0, C order) of ``count`` frames."""
    header = {
        "descr": np.lib.format.dtype_to_descr(dtype),
        "fortran_order": False,
        "shape": (count, *frame_shape),
    }
    np.lib.format.write_array_header_1_0(file, header)


class NpyStreamSink(FrameSink):
    """Writes a ``.npy`` array to a binary stream (``tezip unpack ... -o -``) as frames come.

    A stream cannot be taken back: a failure leaves the ``.npy`` data written so far, which
    declares more frames than it holds, so ``numpy.load`` refuses it.
    """

    def __init__(
        self, stream: BinaryIO, count: int, frame_shape: tuple[int, ...], dtype: np.dtype
    ) -> None:
        super().__init__(Path("-"), count, frame_shape, dtype)
        self._stream = stream

    def _start(self) -> Path:
        write_npy_header(self._stream, self.count, self.frame_shape, self.dtype)
        return self.path

    def _write(self, frames: np.ndarray, first: int) -> None:
        self._stream.write(np.ascontiguousarray(frames).data)

    def _publish(self, temp: Path) -> None:
        self._stream.flush()

    def _discard(self, temp: Path) -> None:
        """Nothing to remove: what reached the stream stays there."""


class ImageFolderSink(FrameSink):
    """Writes one image per frame into a folder (PNG at zlib level 1, TIFF uncompressed).

    A new folder is written as a hidden sibling and renamed into place. Into an existing
    folder, which must be empty unless ``overwrite``, the images are written in a hidden
    subfolder and then moved in one by one: without ``overwrite`` none may exist (or all that
    were moved are taken back), with it files of the same names are replaced and every other
    file is left as it is. ``original_format`` is the format the frames were packed from, when
    this sink writes another one (a lossy or unwritable original).
    """

    def __init__(
        self,
        path: Path,
        fmt: str,
        names: list[str],
        modes: list[str],
        frame_shape: tuple[int, ...],
        dtype: np.dtype,
        overwrite: bool = False,
        palette: tuple[bytes | None, int | bytes | None] = (None, None),
        original_format: str | None = None,
    ) -> None:
        super().__init__(path, len(names), frame_shape, dtype)
        check_parent(path)
        if path.exists() and not path.is_dir():
            raise InputError(f"{path}: exists and is not a folder; cannot write images there")
        self._existing = path.is_dir()
        if self._existing and not overwrite and any(path.iterdir()):
            raise OutputExistsError(f"{path}: folder is not empty")
        folders = [name for name in names if self._existing and (path / name).is_dir()]
        if folders:
            where = printable(str(path / folders[0]))
            raise InputError(f"{where}: is a folder; cannot write an image there")
        self.format = fmt
        self.names = names
        self.modes = modes
        self.overwrite = overwrite
        self.palette = palette
        self.original_format = original_format

    def _start(self) -> Path:
        folder = self.path if self._existing else self.path.parent
        remove_stale(folder)
        temp = folder / temporary_path(self.path, ".tmp").name
        temp.mkdir()
        return temp

    def _write(self, frames: np.ndarray, first: int) -> None:
        assert self._temp is not None
        temp = self._temp

        for k, frame in enumerate(frames):
            self._check_values(first + k, frame)

        def save(k: int) -> None:
            path, mode = temp / self.names[first + k], self.modes[first + k]
            write_image(path, frames[k], mode, self.format, *self.palette)

        thread_map(save, range(len(frames)))

    def _check_values(self, number: int, frame: np.ndarray) -> None:
        """``FormatError`` unless the recorded mode holds the frame exactly: a bilevel ``1``
        frame only 0 and 1, a palette ``P`` frame only indices into the palette (the archive's
        record of the input is informative, and it may disagree with the frames)."""
        mode, palette = self.modes[number], self.palette[0] or b""
        limit = {"1": 2, "P": len(palette) // 3}.get(mode)
        if limit is not None and int(frame.max(initial=0)) >= limit:
            raise FormatError(
                f"frame {printable(self.names[number])} holds the value {int(frame.max())}, "
                f"which its recorded image mode {mode!r} cannot ({limit} values); write a .npy "
                "output instead"
            )

    def _publish(self, temp: Path) -> None:
        if len(os.listdir(temp)) != len(self.names):  # e.g. "A.png", "a.png" on macOS
            raise InputError(
                f"{self.path}: the recorded file names collide on this file system; "
                "write a .npy output instead"
            )
        try:
            if self._existing:
                self._move_into(temp)
            else:
                os.rename(temp, self.path)
        except OSError as err:  # the target appeared or changed meanwhile
            raise InputError(
                f"{self.path}: cannot move the written images into place ({reason(err)})"
            ) from None

    def _move_into(self, temp: Path) -> None:
        """Move every image from ``temp`` into the existing target folder."""
        moved: list[Path] = []
        try:
            for name in self.names:
                publish(temp / name, self.path / name, self.overwrite)
                moved.append(self.path / name)
        except BaseException as err:
            if not self.overwrite:  # take back what this sink put there; nothing was replaced
                for path in moved:
                    path.unlink(missing_ok=True)
            if isinstance(err, FileExistsError):
                raise appeared(self.path / self.names[len(moved)]) from None
            raise
        shutil.rmtree(temp, ignore_errors=True)

    def _discard(self, temp: Path) -> None:
        shutil.rmtree(temp, ignore_errors=True)


def open_sink(
    path: str | os.PathLike[str] | BinaryIO,
    *,
    fmt: str | None,
    source: dict[str, Any],
    frame_shape: tuple[int, ...],
    dtype: np.dtype,
    indices: Sequence[int],
    overwrite: bool = False,
) -> FrameSink:
    """Open the sink for frames ``indices`` of an archive whose input record is ``source``.

    ``path`` is a path or a binary stream (which gets a ``.npy`` array). ``fmt`` is
    ``"npy"``, ``"png"``, ``"tiff"`` or ``None``. Without ``fmt``, an output plugin may take
    the path (``tezip_open_output``: HDF5 and Zarr datasets); otherwise the kind of output
    follows from ``path`` (:func:`output_kind`). A folder gets the images under their
    original names and modes, in the original format where that is PNG or TIFF (else PNG,
    or TIFF for data PNG cannot hold). With an explicit image format, names keep their stem
    and take the format's extension (``frame_000000.png`` when there are no names). Data a
    format cannot hold exactly raises ``InputError`` here, before anything is written. An
    existing output is an ``OutputExistsError`` unless ``overwrite``.
    """
    if fmt is not None and fmt not in FORMATS:
        raise OptionError(f"unknown output format {fmt!r}; choose one of {', '.join(FORMATS)}")
    frame_shape, dtype = tuple(frame_shape), np.dtype(dtype)
    if not isinstance(path, str | os.PathLike):
        if fmt not in (None, "npy"):
            raise OptionError(f"a stream gets a .npy array, not {fmt} images", "fmt")
        return NpyStreamSink(path, len(indices), frame_shape, dtype)
    if fmt is None:
        plugged = _plugin_sink(Path(path), len(indices), frame_shape, dtype, overwrite)
        if plugged is not None:
            return plugged
    kind = output_kind(os.fspath(path), fmt, source.get("kind"))
    path = Path(path)
    if kind == "npy":
        return NpySink(path, len(indices), frame_shape, dtype, overwrite)
    if kind == "tiff":
        from tezip.io.tiffstack import TiffStackSink  # imports this module

        return TiffStackSink(path, len(indices), frame_shape, dtype, overwrite)
    modes = _frame_modes(_recorded_list(source, "modes"), indices, frame_shape, dtype)
    original = source.get("format")
    fmt = fmt or _default_format(original, modes)
    _check_format(fmt, modes, dtype)
    names = _frame_names(_recorded_list(source, "names"), indices, fmt)
    palette = _palette(source, modes)
    changed = original if isinstance(original, str) and original != fmt else None
    return ImageFolderSink(path, fmt, names, modes, frame_shape, dtype, overwrite, palette, changed)


def _plugin_sink(
    path: Path, count: int, frame_shape: tuple[int, ...], dtype: np.dtype, overwrite: bool
) -> FrameSink | None:
    """The sink of the first output plugin that writes ``path`` (``tezip_open_output``)."""
    from tezip.registry import get_registry  # deferred: the registry loads plugins using tezip.io

    hook = get_registry().manager.hook.tezip_open_output
    return hook(path=path, count=count, frame_shape=frame_shape, dtype=dtype, overwrite=overwrite)


def output_kind(output: str, fmt: str | None, source_kind: object) -> str:
    """``"npy"`` (a ``.npy`` file), ``"tiff"`` (a multi-page TIFF) or ``"images"`` (a folder)
    for the output named ``output``.

    A name ending in ``.npy`` is a ``.npy`` file; a name ending in a separator or naming an
    existing folder is a folder of images; a name ending in ``.tif`` or ``.tiff`` is a TIFF
    stack; a name with the extension of another single file (an image, ``.npz``, ``.tez``) is
    refused, since tezip writes no such file. Other names follow ``fmt``, else the kind of
    input the archive was packed from. ``OptionError`` when the name and ``fmt`` disagree.
    """
    path = Path(output)
    suffix = path.suffix.lower()
    folder = output.endswith(("/", os.sep))
    if suffix == ".npy" and not folder:
        if fmt not in (None, "npy"):
            raise OptionError(
                f"{output} names a .npy file; name a folder for {fmt} images", "output", "fmt"
            )
        return "npy"
    if folder or path.is_dir():
        if fmt == "npy":
            raise OptionError(f"{output} is a folder; name a .npy file instead", "output", "fmt")
        return "images"
    if suffix in _KEEP_EXTENSIONS["tiff"]:
        if fmt not in (None, "tiff"):
            raise OptionError(f"{output} names a TIFF stack, not {fmt} output", "output", "fmt")
        return "tiff"
    if suffix in image_extensions() | {".npz", ".tez"}:
        raise OptionError(
            f"{output} names a single {suffix} file, but tezip writes a .npy file or a folder "
            f"of images: name a .npy file, or a folder such as {path.with_suffix('')}/ and "
            "the image format",
            "output",
        )
    if fmt is not None:
        return "npy" if fmt == "npy" else "images"
    return "images" if source_kind == "images" else "npy"


class LibraryFileSink(FrameSink):
    """A sink whose one file a library writes by name through a handle (tifffile, h5py):
    the file is claimed exclusively under a temporary name and the handle opened on it; on
    commit the handle is closed and the file published, on failure closed quietly and the
    file removed."""

    def __init__(
        self,
        path: Path,
        count: int,
        frame_shape: tuple[int, ...],
        dtype: np.dtype,
        kind: str,
        overwrite: bool,
    ) -> None:
        super().__init__(path, count, frame_shape, dtype)
        check_file_output(path, kind, overwrite)
        self.overwrite = overwrite
        self._handle: Any = None

    @abstractmethod
    def _open(self, temp: Path) -> Any:
        """The library's handle, writing the file ``temp``."""

    def _start(self) -> Path:
        remove_stale(self.path.parent)
        temp = temporary_path(self.path, ".tmp")
        create_file(temp).close()  # claimed exclusively; the library writes it by name
        self._handle = self._open(temp)
        return temp

    def _publish(self, temp: Path) -> None:
        self._handle.close()
        publish_written(temp, self.path, self.overwrite)

    def _discard(self, temp: Path) -> None:
        try:
            with suppress(Exception):  # the output is removed anyway
                if self._handle is not None:
                    self._handle.close()
        finally:
            temp.unlink(missing_ok=True)


def publish_written(temp: Path, path: Path, overwrite: bool) -> None:
    """Flush ``temp``, a file another library wrote and closed, to disk and give it the name
    ``path`` (:func:`tezip.atomic.publish`)."""
    with open(temp, "rb+") as written:
        os.fsync(written.fileno())
    try:
        publish(temp, path, overwrite)
    except FileExistsError:
        raise appeared(path) from None


def appeared(path: Path) -> OutputExistsError:
    return OutputExistsError(f"{printable(str(path))}: appeared while the frames were decoded")


def check_parent(path: Path) -> None:
    if not path.parent.is_dir():
        raise InputError(f"{path}: output folder {path.parent} does not exist")


def check_file_output(path: Path, kind: str, overwrite: bool) -> None:
    """Refuse to write a ``kind`` file (".npy", "TIFF stack" ...) at ``path`` when its folder
    is missing, it is a folder, or it exists and may not be replaced."""
    check_parent(path)
    if path.is_dir():
        raise InputError(f"{path}: is a folder; cannot write {kind} there")
    if path.exists() and not overwrite:
        raise OutputExistsError(f"{path}: exists")


def _recorded_list(source: dict[str, Any], key: str) -> list[Any] | None:
    """The per-frame list ``source[key]`` of the archive's input record (``None`` if absent)."""
    values = source.get(key)
    if values is not None and not isinstance(values, list):
        raise FormatError(
            f"the archive records {key} as {type(values).__name__}, not as a list; "
            "write a .npy output instead"
        )
    return values


def _recorded(values: Sequence[Any] | None, index: int, what: str) -> Any:
    """``values[index]`` from the archive's input record, or ``FormatError``."""
    if values is None or not 0 <= index < len(values):
        raise FormatError(f"the archive records no {what} for frame {index}")
    return values[index]


def _mode_for(frame_shape: tuple[int, ...], dtype: np.dtype) -> str:
    """The image mode holding frames of this layout, or ``InputError``."""
    for mode in ("L", "LA", "RGB", "RGBA", "I;16", "I", "F"):
        layout = MODES[mode]
        if layout.dtype == dtype and layout.frame_shape(*frame_shape[:2]) == frame_shape:
            return mode
    raise InputError(
        f"frames of {dtype} shaped {frame_shape} cannot be written as PNG or TIFF images; "
        "write a .npy output instead"
    )


def _frame_modes(
    recorded: Sequence[str] | None,
    indices: Sequence[int],
    frame_shape: tuple[int, ...],
    dtype: np.dtype,
) -> list[str]:
    """Per output frame, the image mode to write: the recorded one, or one fitting the data."""
    if recorded is None:
        return [_mode_for(frame_shape, dtype)] * len(indices)
    modes = [_recorded(recorded, i, "image mode") for i in indices]
    for mode in modes:
        layout = MODES.get(mode) if isinstance(mode, str) else None
        if (
            layout is None
            or layout.frame_shape(*frame_shape[:2]) != frame_shape
            or layout.dtype != dtype
        ):
            raise FormatError(
                f"the archive records image mode {mode!r} for {dtype} frames shaped {frame_shape}"
            )
    return modes


def _default_format(original: str | None, modes: list[str]) -> str:
    """The original format when tezip writes it exactly, else PNG, else TIFF."""
    for fmt in [original, "png"]:
        if isinstance(fmt, str) and _format_modes(fmt).issuperset(modes):
            return fmt
    return "tiff"


def _check_format(fmt: str, modes: list[str], dtype: np.dtype) -> None:
    """Raise ``InputError`` unless ``fmt`` holds every mode exactly."""
    misfit = sorted(set(modes) - _format_modes(fmt))
    if misfit:
        if fmt == "tiff" and misfit[0] in TIFFFILE_ONLY:
            raise InputError(
                f"TIFF images of mode {misfit[0]!r} ({dtype}) are written with tifffile: "
                "pip install 'tezip[tiff]', or write a .npy output"
            )
        hint = "--format tiff or " if fmt != "tiff" else ""
        raise InputError(
            f"{fmt.upper()} cannot hold {dtype} frames of image mode {misfit[0]!r} exactly; "
            f"use {hint}a .npy output"
        )


def _palette(source: dict[str, Any], modes: list[str]) -> tuple[bytes | None, int | bytes | None]:
    """The recorded palette and transparency of palette frames, validated."""
    if "P" not in modes:
        return None, None
    palette, transparency = source.get("palette"), source.get("transparency")
    if not isinstance(palette, bytes) or len(palette) % 3 or not 3 <= len(palette) <= 768:
        raise FormatError("the archive records palette frames without a valid palette")
    valid_index = type(transparency) is int and 0 <= transparency < 256
    valid_alphas = isinstance(transparency, bytes) and len(transparency) <= len(palette) // 3
    if not (transparency is None or valid_index or valid_alphas):
        raise FormatError("the archive records an invalid palette transparency")
    return palette, transparency


def _frame_names(names: Sequence[str] | None, indices: Sequence[int], fmt: str) -> list[str]:
    """Output file names: recorded names (extension fitted to ``fmt``) or numbered ones."""
    extension = _EXTENSION[fmt]
    if names is None:
        width = max(6, len(str(max(indices, default=0))))
        return [f"frame_{i:0{width}d}{extension}" for i in indices]
    out: list[str] = []
    owner: dict[str, str] = {}  # output name -> the recorded name it came from
    recorded: set[str] = set()
    for i in indices:
        original = _plain_name(_recorded(names, i, "file name"))
        if original in recorded:
            raise FormatError(f"the archive records the file name {original!r} more than once")
        recorded.add(original)
        stem, suffix = os.path.splitext(original)
        name = original if suffix.lower() in _KEEP_EXTENSIONS[fmt] else stem + extension
        if owner.setdefault(name, original) != original:
            raise InputError(
                f"frames {printable(owner[name])} and {printable(original)} would both be "
                f"written as {printable(name)}; "
                "write a .npy output instead"
            )
        out.append(name)
    return out


def _plain_name(name: object) -> str:
    """``name`` if it is a plain file name (no folders, no ``..``), else ``FormatError``."""
    if not isinstance(name, str) or name in ("", ".", "..") or any(c in name for c in "/\\\0"):
        raise FormatError(f"the archive records an unsafe frame file name {name!r}")
    return name
