"""Frames in a Zarr array ``(frames, H, W[, C])`` of a local store: read in chunks of frames
(with whatever codecs the store names, tezip's own included), written into a new store that
appears only when complete."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from tezip.atomic import remove_stale, temporary_path
from tezip.errors import InputError, OutputExistsError
from tezip.extras import require
from tezip.io import FrameSink, FrameSource
from tezip.io.sinks import appeared, check_parent
from tezip.io.source import check_layout, reason

SUFFIXES = (".zarr",)
#: what marks a folder as a Zarr store (format 3, format 2 array and group)
MARKERS = ("zarr.json", ".zarray", ".zgroup")
SHOWN = 5


def zarr() -> Any:
    return require("zarr", "zarr", "reading and writing Zarr stores")


class ZarrSource(FrameSource):
    """The array ``array`` of the Zarr store ``path`` (the store itself when it is an array,
    else its only array of rank 3 or 4 when ``None``)."""

    kind = "zarr"

    def __init__(self, path: Path, array: str | None) -> None:
        self.path = path
        if not path.is_dir():
            raise InputError(f"{path}: no such Zarr store")
        try:
            node = zarr().open(path, mode="r")
            if array is not None:
                node = node[array.strip("/")] if array.strip("/") else node
        except KeyError:
            raise InputError(f"{path}:{array}: no such array in the store") from None
        except Exception as err:  # zarr raises many types on foreign folders
            raise InputError(f"{path}: cannot open as a Zarr store ({reason(err)})") from None
        if not isinstance(node, zarr().Array):
            node = self._only_array(node)
        self.array = node.path or "/"
        what = f"{path}:{self.array}"
        self.dtype = check_layout(node.shape, np.dtype(node.dtype), what)
        self.frame_shape = tuple(node.shape[1:])
        self._frames = node.shape[0]
        self._node = node

    def _only_array(self, group: Any) -> Any:
        found = [
            node
            for _, node in group.members(max_depth=None)
            if isinstance(node, zarr().Array) and node.ndim in (3, 4)
        ]
        if len(found) == 1:
            return found[0]
        if not found:
            raise InputError(f"{self.path}: holds no array of rank 3 or 4")
        names = sorted("/" + node.path for node in found)
        listed = ", ".join(names[:SHOWN]) + (", ..." if len(names) > SHOWN else "")
        raise InputError(
            f"{self.path}: holds {len(names)} arrays of frames ({listed}); name one, "
            f"e.g. {self.path}:{names[0]}"
        )

    def __len__(self) -> int:
        return self._frames

    def read(self, start: int, stop: int) -> np.ndarray:
        self.check_range(start, stop)
        try:
            frames = self._node[start:stop]
        except Exception as err:  # codecs raise many types on damaged chunks
            raise InputError(
                f"{self.path}:{self.array}: cannot read frames {start}:{stop} ({reason(err)})"
            ) from None
        return np.ascontiguousarray(frames, self.dtype)

    def describe(self) -> dict[str, Any]:
        return {"kind": self.kind, "names": None, "modes": None, "format": None}


class ZarrSink(FrameSink):
    """Writes the frames as a Zarr (format 3) array, at the store's root or at ``array``
    inside it, with Zarr's default chunks and codecs. The store is written as a hidden
    sibling and renamed into place; an existing store is replaced only with ``overwrite``,
    and only if it is a Zarr store (a folder without Zarr metadata is never removed)."""

    def __init__(
        self,
        path: Path,
        array: str | None,
        count: int,
        frame_shape: tuple[int, ...],
        dtype: np.dtype,
        overwrite: bool = False,
    ) -> None:
        super().__init__(path, count, frame_shape, dtype)
        zarr()  # a missing zarr is an error before anything is decoded
        check_parent(path)
        if path.exists():
            if not overwrite:
                raise OutputExistsError(f"{path}: exists")
            if not any((path / marker).is_file() for marker in MARKERS):
                raise InputError(f"{path}: exists and is not a Zarr store; not replacing it")
        self.array = (array or "").strip("/")
        self.overwrite = overwrite
        self._node: Any = None

    def _start(self) -> Path:
        remove_stale(self.path.parent)
        temp = temporary_path(self.path, ".tmp")
        temp.mkdir()
        shape = (self.count, *self.frame_shape)
        if self.array:
            group = zarr().open_group(temp, mode="w")
            self._node = group.create_array(self.array, shape=shape, dtype=self.dtype)
        else:
            self._node = zarr().create_array(temp, shape=shape, dtype=self.dtype)
        return temp

    def _write(self, frames: np.ndarray, first: int) -> None:
        self._node[first : first + len(frames)] = frames

    def _publish(self, temp: Path) -> None:
        if not self.path.exists():
            try:
                os.rename(temp, self.path)
            except OSError:  # appeared meanwhile (rename onto a non-empty folder fails)
                raise appeared(self.path) from None
            return
        if not self.overwrite:
            raise appeared(self.path)
        old = temporary_path(self.path, ".tmp")
        os.rename(self.path, old)
        os.rename(temp, self.path)
        shutil.rmtree(old, ignore_errors=True)

    def _discard(self, temp: Path) -> None:
        shutil.rmtree(temp, ignore_errors=True)
