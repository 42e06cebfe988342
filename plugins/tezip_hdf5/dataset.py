"""Frames in an HDF5 dataset ``(frames, H, W[, C])``: read in chunks of frames (chunked and
compressed datasets included, with the filters h5py or ``hdf5plugin`` provides), written into
a new file that appears only when complete."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import numpy as np

from tezip.errors import InputError
from tezip.extras import require
from tezip.io import FrameSource
from tezip.io.sinks import LibraryFileSink
from tezip.io.source import OpenFile, check_layout, reason

SUFFIXES = (".h5", ".hdf5", ".hdf", ".he5", ".nxs", ".nx5")
#: the dataset unpack writes when the output names none
DEFAULT_DATASET = "/data"
#: datasets listed by name when a file holds several candidates
SHOWN = 5


def h5py() -> Any:
    return require("h5py", "hdf5", "reading and writing HDF5 files")


def _frame_datasets(file: Any) -> list[str]:
    """Paths of the numeric datasets of rank 3 or 4 in ``file``."""
    found: list[str] = []

    def visit(name: str, node: Any) -> None:
        if isinstance(node, h5py().Dataset) and node.ndim in (3, 4) and node.dtype.kind in "uif":
            found.append("/" + name)

    file.visititems(visit)
    return found


class Hdf5Source(OpenFile, FrameSource):
    """The dataset ``dataset`` of the HDF5 file ``path`` (the file's only dataset of rank 3
    or 4 when ``None``)."""

    kind = "hdf5"

    def __init__(self, path: Path, dataset: str | None) -> None:
        h5py()  # a missing h5py first: it is what the user has to fix
        self.path = path
        super().__init__()
        if importlib.util.find_spec("hdf5plugin") is not None:
            import hdf5plugin  # noqa: F401 - registers more compression filters with HDF5
        file = self._open()
        self.dataset = dataset or self._only_dataset(file)
        node = file.get(self.dataset)
        what = f"{path}:{self.dataset}"
        if node is None:
            raise InputError(f"{what}: no such dataset")
        if not isinstance(node, h5py().Dataset):
            raise InputError(f"{what}: is a group, not a dataset")
        self._check_filters(node, what)
        self.dtype = check_layout(node.shape, node.dtype, what)
        self.frame_shape = tuple(node.shape[1:])
        self._frames = node.shape[0]

    def _open(self) -> Any:
        if self._handle is None:
            if not self.path.is_file():
                raise InputError(f"{self.path}: no such file")
            try:
                self._handle = h5py().File(self.path, "r")
            except OSError as err:
                raise InputError(f"{self.path}: cannot open as HDF5 ({reason(err)})") from None
        return self._handle

    def _only_dataset(self, file: Any) -> str:
        found = _frame_datasets(file)
        if len(found) == 1:
            return found[0]
        if not found:
            raise InputError(f"{self.path}: holds no numeric dataset of rank 3 or 4")
        listed = ", ".join(found[:SHOWN]) + (", ..." if len(found) > SHOWN else "")
        raise InputError(
            f"{self.path}: holds {len(found)} datasets of frames ({listed}); name one, "
            f"e.g. {self.path}:{found[0]}"
        )

    @staticmethod
    def _check_filters(node: Any, what: str) -> None:
        """``InputError`` naming a compression filter this HDF5 library cannot decode."""
        plist = node.id.get_create_plist()
        for index in range(plist.get_nfilters()):
            code, _, _, name = plist.get_filter(index)
            if not h5py().h5z.filter_avail(code):
                label = name.decode(errors="replace") if isinstance(name, bytes) else name
                raise InputError(
                    f"{what}: compressed with HDF5 filter {code} ({label}), which is not "
                    "installed (pip install hdf5plugin)"
                )

    def __len__(self) -> int:
        return self._frames

    def read(self, start: int, stop: int) -> np.ndarray:
        self.check_range(start, stop)
        try:
            with self._lock:
                frames = self._open()[self.dataset][start:stop]
        except OSError as err:
            raise InputError(
                f"{self.path}:{self.dataset}: cannot read frames {start}:{stop} ({reason(err)})"
            ) from None
        return np.ascontiguousarray(frames, self.dtype)

    def describe(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "names": None,
            "modes": None,
            "format": None,
            "dataset": self.dataset,
        }


class Hdf5Sink(LibraryFileSink):
    """Writes the frames as dataset ``dataset`` (default ``/data``, chunked one frame per
    chunk, uncompressed) of a new HDF5 file; an existing file is replaced, as a whole, only
    with ``overwrite``."""

    def __init__(
        self,
        path: Path,
        dataset: str | None,
        count: int,
        frame_shape: tuple[int, ...],
        dtype: np.dtype,
        overwrite: bool = False,
    ) -> None:
        h5py()  # a missing h5py is an error before anything is decoded
        super().__init__(path, count, frame_shape, dtype, "an HDF5 file", overwrite)
        self.dataset = dataset or DEFAULT_DATASET

    def _open(self, temp: Path) -> Any:
        handle = h5py().File(temp, "w")
        handle.create_dataset(
            self.dataset,
            shape=(self.count, *self.frame_shape),
            dtype=self.dtype,
            chunks=(1, *self.frame_shape),
        )
        return handle

    def _write(self, frames: np.ndarray, first: int) -> None:
        self._handle[self.dataset][first : first + len(frames)] = frames
