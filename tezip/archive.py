"""Random-access reading of a ``.tez`` archive: ``len(a)``, ``a[i]``, ``a[i:j]``, ``a.header``."""

from __future__ import annotations

import bisect
import os
from collections.abc import Callable, Iterator
from types import TracebackType

import numpy as np

from tezip.abc import RunContext
from tezip.container.gop import decode_gop
from tezip.container.header import Header
from tezip.container.reader import ArchiveFile, GopEntry
from tezip.device import check_device
from tezip.errors import InputError, StreamError
from tezip.parallel import ordered_map
from tezip.pipeline import Pipeline
from tezip.registry import Registry, get_registry


def read_model(path: str | os.PathLike[str]) -> bytes:
    """The bytes of a model file given with ``--model``."""
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except OSError as exc:
        raise InputError(f"{path}: cannot read model file ({exc.strerror})") from None


class Archive:
    """An open archive. Indexing decodes only the GOPs that hold the requested frames."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        registry: Registry | None = None,
        *,
        model: str | os.PathLike[str] | None = None,
        device: str = "auto",
    ) -> None:
        self._file = ArchiveFile(path)
        try:
            supplied = () if model is None else (read_model(model),)
            context = RunContext(check_device(device), self._file.models() + supplied)
            self.pipeline = Pipeline.from_header(
                self._file.header, registry or get_registry(), context
            )
        except BaseException:
            self._file.close()
            raise
        self._starts = [entry.first for entry in self._file.gops]
        self._cached: tuple[int, np.ndarray] | None = None

    @property
    def header(self) -> Header:
        return self._file.header

    @property
    def gops(self) -> list[GopEntry]:
        return self._file.gops

    @property
    def file(self) -> ArchiveFile:
        return self._file

    def __len__(self) -> int:
        return self.header.frames

    def decode_gop(self, number: int) -> np.ndarray:
        """All frames of GOP ``number``, verified."""
        if self._cached is None or self._cached[0] != number:
            self._cached = (number, self._decode(number))
        return self._cached[1]

    def _gop_of(self, frame: int) -> int:
        return bisect.bisect_right(self._starts, frame) - 1

    def read(self, start: int, stop: int) -> np.ndarray:
        """Frames ``start:stop`` (clamped to the archive)."""
        start, stop = max(0, start), min(len(self), stop)
        shape = (max(0, stop - start), *self.header.frame_shape)
        out: np.ndarray | None = None
        for number, frames in self.iter_gops(start, stop, workers=os.cpu_count() or 1):
            if out is None:  # only once a GOP has decoded, so a forged frame shape costs nothing
                out = np.empty(shape, self.header.numpy_dtype)
            entry = self.gops[number]
            low, high = max(start, entry.first), min(stop, entry.first + entry.count)
            out[low - start : high - start] = frames[low - entry.first : high - entry.first]
        return np.empty(shape, self.header.numpy_dtype) if out is None else out

    def iter_gops(
        self, start: int = 0, stop: int | None = None, workers: int = 1
    ) -> Iterator[tuple[int, np.ndarray]]:
        """Decode the GOPs overlapping ``start:stop`` in order, ``workers`` at a time."""
        stop = len(self) if stop is None else stop
        if start >= stop:
            return
        numbers = range(self._gop_of(start), self._gop_of(stop - 1) + 1)
        if workers <= 1:
            for number in numbers:
                yield number, self.decode_gop(number)
            return
        yield from ordered_map(self._decode, numbers, workers)

    def _decode(self, number: int) -> np.ndarray:
        entry = self.gops[number]
        record = decode_gop(self._file.payload(entry.section))
        if (record.first, record.count) != (entry.first, entry.count):
            raise StreamError(f"GOP {number} metadata disagrees with the GOP index")
        return self.pipeline.decode(record)

    def __getitem__(self, key: int | slice) -> np.ndarray:
        if isinstance(key, slice):
            start, stop, step = key.indices(len(self))
            if step == 1:
                return self.read(start, stop)
            indices = range(start, stop, step)
            return np.stack([self[i] for i in indices]) if indices else self.read(0, 0)
        index = int(key)
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(f"frame {key} out of range for {len(self)} frames")
        number = self._gop_of(index)
        return self.decode_gop(number)[index - self.gops[number].first].copy()

    def __iter__(self) -> Iterator[np.ndarray]:
        for _, frames in self.iter_gops():
            yield from frames

    def verify(self, progress: Callable[[int], None] | None = None) -> None:
        """Decode every GOP, checking every CRC and frame checksum."""
        for _, frames in self.iter_gops(workers=os.cpu_count() or 1):
            if progress:
                progress(len(frames))

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> Archive:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()
