"""Multi-page TIFF files as frame sequences, read and written with ``tifffile`` (``pip install
'tezip[tiff]'``): one page per frame, grey or RGB samples of every dtype tezip packs, exact.

A stack is the file's one image series: pages ``(Y, X)``, ``(Y, X, S)`` or planar
``(S, Y, X)``; the series' leading axes (pages, or an ImageJ hyperstack's T, Z and C) become
frames in page order. Photometric interpretations that a reader would have to convert
(palette, inverted grey, CMYK, YCbCr) are refused, as are dtypes tezip does not pack.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from tezip.errors import InputError
from tezip.extras import require
from tezip.io.sinks import LibraryFileSink
from tezip.io.source import FrameSource, OpenFile, check_layout, reason

SUFFIXES = (".tif", ".tiff")
#: TIFF photometric interpretations read as they are: 1 grey (min is black), 2 RGB
_PHOTOMETRIC = {1: "minisblack", 2: "rgb"}
#: files above this size are written as BigTIFF (classic TIFF offsets end at 4 GiB)
BIGTIFF_BYTES = 2**32 - 2**25


def tifffile() -> Any:
    return require("tifffile", "tiff", "reading and writing TIFF stacks")


class TiffStackSource(OpenFile, FrameSource):
    """The pages of one TIFF file as frames (see the module's documentation)."""

    kind = "tiff"

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        super().__init__()
        tiff = self._file()
        try:
            series_count, series = len(tiff.series), tiff.series[0]
            page, pages = series.keyframe, len(series.pages)
            stored_size, photometric = int(series.size), int(page.photometric)
        except Exception as err:  # tifffile raises many types on damaged files
            raise InputError(f"{self.path}: cannot read as a TIFF stack ({reason(err)})") from None
        if series_count > 1:
            raise InputError(
                f"{self.path}: TIFF holds {series_count} image series; tezip reads a file "
                "with one (save each series as its own stack)"
            )
        if photometric not in _PHOTOMETRIC:
            raise InputError(
                f"{self.path}: TIFF of photometric interpretation {page.photometric.name} "
                "would need converting; tezip reads grey (minisblack) and RGB samples exactly"
            )
        if page.axes not in ("YX", "YXS", "SYX"):
            raise InputError(f"{self.path}: TIFF pages with axes {page.axes!r} are not images")
        if stored_size != pages * page.size:
            raise InputError(f"{self.path}: TIFF stores several frames in one page")
        self._planar = page.axes == "SYX"
        self._page_shape = tuple(page.shape)
        layout = (pages, *self._page_shape[self._planar :], *self._page_shape[: self._planar])
        self.dtype = check_layout(layout, np.dtype(page.dtype), str(self.path))
        self.frame_shape = layout[1:]
        self._photometric = _PHOTOMETRIC[photometric]
        self.read(0, 1)  # the first page decodes (a compression tifffile cannot read fails here)

    def _file(self) -> Any:
        if self._handle is None:
            reader = tifffile().TiffFile
            try:
                self._handle = reader(self.path)
            except OSError as err:
                raise InputError(f"{self.path}: cannot read the file ({reason(err)})") from None
            except Exception as err:  # tifffile raises many types on foreign files
                raise InputError(f"{self.path}: not a TIFF file ({reason(err)})") from None
        return self._handle

    def __len__(self) -> int:
        return len(self._file().series[0].pages)

    def read(self, start: int, stop: int) -> np.ndarray:
        """Frames ``start:stop``: each page decoded as stored, samples last."""
        self.check_range(start, stop)
        out = np.empty((stop - start, *self.frame_shape), self.dtype)
        try:
            with self._lock:
                pages = self._file().series[0].pages
                for k in range(stop - start):
                    page = np.asarray(pages[start + k].asarray()).reshape(self._page_shape)
                    out[k] = np.moveaxis(page, 0, -1) if self._planar else page
        except Exception as err:  # decoders raise many types on damaged pages
            raise InputError(
                f"{self.path}: cannot read TIFF page {start + k} ({reason(err)})"
            ) from None
        return out

    def describe(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "names": None,
            "modes": None,
            "format": "tiff",
            "photometric": self._photometric,
        }


class TiffStackSink(LibraryFileSink):
    """Writes the frames as one multi-page TIFF (a page per frame, uncompressed; BigTIFF
    past 4 GiB), RGB where the frames have 3 or 4 channels, grey otherwise."""

    def __init__(
        self,
        path: Path,
        count: int,
        frame_shape: tuple[int, ...],
        dtype: np.dtype,
        overwrite: bool = False,
    ) -> None:
        tifffile()  # a missing tifffile is an error before anything is decoded
        super().__init__(path, count, frame_shape, dtype, "a TIFF stack", overwrite)
        channels = frame_shape[2] if len(frame_shape) == 3 else 1
        self._photometric = "rgb" if channels in (3, 4) else "minisblack"
        extra = channels - (3 if self._photometric == "rgb" else 1)
        self._extrasamples = ["unassalpha"] * extra if extra else None

    def _open(self, temp: Path) -> Any:
        total = self.count * int(np.prod(self.frame_shape)) * self.dtype.itemsize
        return tifffile().TiffWriter(temp, bigtiff=total > BIGTIFF_BYTES)

    def _write(self, frames: np.ndarray, first: int) -> None:
        for frame in frames:
            self._handle.write(
                frame,
                contiguous=True,
                photometric=self._photometric,
                extrasamples=self._extrasamples,
            )
