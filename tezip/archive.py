"""An open ``.tez`` archive as a read-only array: ``shape``, ``dtype``, ``ndim``, ``len`` and
NumPy-style basic indexing that decodes only the GOPs holding the frames asked for."""

from __future__ import annotations

import bisect
import itertools
import operator
import os
import warnings
from collections.abc import Callable, Iterator, Sequence
from types import EllipsisType, TracebackType
from typing import Any

import numpy as np

from tezip.abc import RunContext
from tezip.batching import batches, gops_per_batch
from tezip.container.gop import GopRecord, decode_gop
from tezip.container.header import Header
from tezip.container.reader import ArchiveFile, GopEntry
from tezip.container.storage import ArchiveSource
from tezip.device import check_device
from tezip.errors import InputError, StreamError, TezipError, TezipWarning
from tezip.parallel import available, check_threads, ordered_map, within
from tezip.pipeline import Pipeline
from tezip.registry import Registry, get_registry

#: one entry of an index tuple: what basic (view-making) NumPy indexing takes, less ``None``
IndexItem = int | slice | EllipsisType


def read_model(path: str | os.PathLike[str]) -> bytes:
    """The bytes of a model file given with ``--model``."""
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except OSError as exc:
        raise InputError(f"{path}: cannot read model file ({exc.strerror})") from None


def _supplied_models(
    archive: ArchiveFile, model: str | os.PathLike[str] | None
) -> tuple[bytes, ...]:
    """The model file given to decode with, read only when the archive's predictors need one
    (a warning says it is ignored otherwise)."""
    if model is None:
        return ()
    if not any(record.get("fingerprint") is not None for record in archive.header.predictors):
        warnings.warn(
            f"the model is ignored: {archive.name} needs none (no learned predictor)",
            TezipWarning,
            stacklevel=4,  # the caller of tezip.open, tezip.unpack or tezip.unpack_to
        )
        return ()
    return (read_model(model),)


class Archive:
    """An open archive, read like a NumPy array of shape ``(frames, H, W[, C])``.

    ``a[i]``, ``a[i:j:k]``, ``a[10:20, 100:200, :]``, ``a[..., 0]`` and negative indices work
    as on an ndarray and return a new ndarray (a NumPy scalar for one element); only the GOPs
    holding the selected frames are decoded (``threads`` at a time, all cores by default).
    An index of another type (a float, an array, ``None``) is a ``TypeError``, one out of
    range an ``IndexError``. ``np.asarray(a)`` decodes everything; ``dask.array.from_array(a,
    chunks=...)`` wraps it lazily.
    """

    def __init__(
        self,
        source: ArchiveSource,
        registry: Registry | None = None,
        *,
        model: str | os.PathLike[str] | None = None,
        device: str = "auto",
        threads: int | None = None,
    ) -> None:
        self._file = ArchiveFile(source)
        try:
            supplied = _supplied_models(self._file, model)
            context = RunContext(check_device(device), self._file.models() + supplied)
            self.pipeline = Pipeline.from_header(
                self._file.header, registry or get_registry(), context
            )
        except BaseException:
            self._file.close()
            raise
        #: GOPs decoded at a time (``None``: the thread budget, :mod:`tezip.parallel`)
        self.threads = check_threads(threads)
        self._starts = [entry.first for entry in self._file.gops]
        self._cached: tuple[int, np.ndarray] | None = None
        reopenable = isinstance(source, str | os.PathLike | bytes) and registry is None
        self._arguments = (source, model, device, threads) if reopenable else None

    @property
    def header(self) -> Header:
        return self._file.header

    @property
    def gops(self) -> list[GopEntry]:
        return self._file.gops

    @property
    def file(self) -> ArchiveFile:
        return self._file

    @property
    def shape(self) -> tuple[int, ...]:
        return (self.header.frames, *self.header.frame_shape)

    @property
    def dtype(self) -> np.dtype:
        return self.header.numpy_dtype

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def __len__(self) -> int:
        return self.header.frames

    def decode_gop(self, number: int) -> np.ndarray:
        """All frames of GOP ``number``, verified (the last one decoded is kept)."""
        cached = self._cached
        if cached is None or cached[0] != number:
            cached = self._cached = (number, self._decode(number))
        return cached[1]

    def _gop_of(self, frame: int) -> int:
        return bisect.bisect_right(self._starts, frame) - 1

    def read(self, start: int, stop: int) -> np.ndarray:
        """Frames ``start:stop`` (clamped to the archive)."""
        start, stop = max(0, start), min(len(self), stop)
        return self[start:stop] if start < stop else self[0:0]

    def iter_gops(
        self, start: int = 0, stop: int | None = None, threads: int | None = None
    ) -> Iterator[tuple[int, np.ndarray]]:
        """Decode the GOPs overlapping ``start:stop`` in order, ``threads`` at a time (by
        default the archive's ``threads``)."""
        stop = len(self) if stop is None else stop
        if start >= stop:
            return
        yield from self._decoded(range(self._gop_of(start), self._gop_of(stop - 1) + 1), threads)

    def _decoded(
        self, numbers: Sequence[int], threads: int | None = None
    ) -> Iterator[tuple[int, np.ndarray]]:
        threads = threads or self.threads or available()
        if self.pipeline.on_gpu:  # a batch at a time, its host work on every thread
            size = self.header.frame_bytes
            most = gops_per_batch(self.header.frame_shape)
            for batch in batches(numbers, lambda number: self.gops[number].count * size, most):
                yield from self._decoded_batch(batch, threads)
            return
        if min(threads, len(numbers)) <= 1:
            decode = within(threads, self.decode_gop)
            for number in numbers:
                yield number, decode(number)
            return
        yield from ordered_map(self._decode, numbers, threads)

    def _decode(self, number: int) -> np.ndarray:
        return self.pipeline.decode(self._record(number))

    def _decoded_batch(
        self, numbers: Sequence[int], threads: int
    ) -> Iterator[tuple[int, np.ndarray]]:
        """GOPs decoded in one batch; where that fails, one at a time, so that the GOPs
        before the failing one still come out and the error names it."""
        decode = within(threads, self.pipeline.decode_batch)
        try:
            decoded = decode([self._record(number) for number in numbers])
        except TezipError:
            for number in numbers:  # raises at the failing one
                yield number, within(threads, self._decode)(number)
            return
        yield from zip(numbers, decoded, strict=True)

    def _record(self, number: int) -> GopRecord:
        entry = self.gops[number]
        record = decode_gop(self._file.payload(entry.section))
        if (record.first, record.count) != (entry.first, entry.count):
            raise StreamError(f"GOP {number} metadata disagrees with the GOP index")
        return record

    def __getitem__(self, key: Any) -> np.ndarray:
        items = _basic_index(key, self.ndim)
        # NumPy checks the index (bounds, counts, slice types) on a view without memory
        shape = np.broadcast_to(np.empty((), self.dtype), self.shape)[items].shape
        first, rest = items[0], items[1:]
        if isinstance(first, slice):
            frames = range(len(self))[first]
            return self._select(frames, rest, shape)
        index = operator.index(first) % len(self)
        return self._select(range(index, index + 1), rest, (1, *shape))[0]

    def _select(
        self, frames: range, rest: tuple[IndexItem, ...], shape: tuple[int, ...]
    ) -> np.ndarray:
        """The frames ``frames`` (any step), each indexed by ``rest``, as one array."""
        if not frames:
            return np.empty(shape, self.dtype)
        selected = np.arange(frames.start, frames.stop, frames.step)
        numbers = np.searchsorted(self._starts, selected, side="right") - 1
        cuts = [0, *(np.flatnonzero(np.diff(numbers)) + 1).tolist(), len(frames)]
        runs = {int(numbers[low]): (low, high) for low, high in itertools.pairwise(cuts)}
        out: np.ndarray | None = None
        for number, decoded in self._decoded(list(runs)):
            if out is None:  # only once a GOP has decoded, so a forged frame shape costs nothing
                out = np.empty(shape, self.dtype)
            low, high = runs[number]
            local = frames[low:high]
            start, step = local.start - self.gops[number].first, local.step
            stop = start + step * len(local)
            out[low:high] = decoded[(slice(start, stop if stop >= 0 else None, step), *rest)]
        assert out is not None
        return out

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        if copy is False:
            raise ValueError("an archive's frames are decoded: they cannot be read without a copy")
        frames = self[...]
        return frames if dtype is None else frames.astype(dtype, copy=False)

    def __iter__(self) -> Iterator[np.ndarray]:
        for _, frames in self.iter_gops(threads=1):
            yield from frames

    def verify(self, progress: Callable[[int], None] | None = None) -> None:
        """Decode every GOP, checking every CRC and frame checksum."""
        for _, frames in self.iter_gops():
            if progress:
                progress(len(frames))

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickled as the arguments that open it again (for Dask's process schedulers)."""
        if self._arguments is None:
            raise TypeError(
                "an archive opened from a file object or with a registry cannot be pickled; "
                "open it from a path or bytes"
            )
        return _reopen, self._arguments

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


def _reopen(source: ArchiveSource, model: str | None, device: str, threads: int | None) -> Archive:
    return Archive(source, model=model, device=device, threads=threads)


def _basic_index(key: Any, ndim: int) -> tuple[IndexItem, ...]:
    """``key`` as one entry per axis (``...`` expanded, missing axes filled with ``:``);
    ``TypeError`` for what is not an integer, a slice or ``...``. Bounds are NumPy's to check."""
    items = key if isinstance(key, tuple) else (key,)
    for item in items:
        if item is Ellipsis or isinstance(item, slice):
            continue
        array = isinstance(item, np.ndarray) and item.ndim > 0
        if array or isinstance(item, bool | np.bool_) or not hasattr(type(item), "__index__"):
            raise TypeError(
                f"archive indices must be integers, slices or '...', not {type(item).__name__}"
            )
    ellipses = sum(item is Ellipsis for item in items)
    if ellipses > 1:
        raise IndexError("an index can only have a single ellipsis ('...')")
    if ellipses:
        at = items.index(Ellipsis)
        fill = (slice(None),) * max(0, ndim - len(items) + 1)
        items = items[:at] + fill + items[at + 1 :]
    return items + (slice(None),) * max(0, ndim - len(items))
