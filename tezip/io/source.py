"""Where frames come from: the :class:`FrameSource` contract and an in-memory source."""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

import numpy as np

from tezip.codes import canonical_dtype
from tezip.errors import InputError

#: Bytes of frames read at a time by whole-input scans such as :meth:`FrameSource.value_range`.
CHUNK_BYTES = 64 << 20


class FrameSource(ABC):
    """A sequence of equally shaped frames, read in chunks of consecutive frames.

    Subclasses set ``frame_shape`` (``(H, W)`` or ``(H, W, C)``) and ``dtype`` (canonical,
    native byte order) in their constructor and validate everything they can there, so a bad
    input fails before any work starts.
    """

    frame_shape: tuple[int, ...]
    dtype: np.dtype

    @abstractmethod
    def __len__(self) -> int:
        """Number of frames."""

    @abstractmethod
    def read(self, start: int, stop: int) -> np.ndarray:
        """Frames ``start:stop`` as a fresh, writable, C-contiguous, native-order array.

        Implementations call :meth:`check_range` first.
        """

    def peek(self, start: int, stop: int) -> np.ndarray:
        """Frames ``start:stop`` to look at only: may share memory with the source (never
        write to it); by default :meth:`read`."""
        return self.read(start, stop)

    @abstractmethod
    def describe(self) -> dict[str, Any]:
        """Msgpack-able record of the input for the archive header.

        Keys: ``kind`` (``"images"``, ``"npy"`` or ``"array"``), ``names`` and ``modes``
        (per-frame file names and Pillow modes, or ``None``), ``format`` (lowercase Pillow
        format of the first image, or ``None``).
        """

    def check_range(self, start: int, stop: int) -> None:
        """Raise ``IndexError`` unless ``0 <= start <= stop <= len(self)``."""
        if not 0 <= start <= stop <= len(self):
            raise IndexError(f"frames {start}:{stop} out of range for {len(self)} frames")

    def chunk_frames(self) -> int:
        """How many frames make about :data:`CHUNK_BYTES` (at least one)."""
        frame_bytes = int(np.prod(self.frame_shape)) * self.dtype.itemsize
        return max(1, CHUNK_BYTES // max(1, frame_bytes))

    def value_range(self) -> tuple[float, float] | None:
        """``(min, max)`` over all finite values, or ``None`` if there is none."""
        stats = self.value_stats()
        return None if stats is None else (stats.low, stats.high)

    def value_stats(self) -> ValueStats | None:
        """What one scan of the finite values finds, or ``None`` if there is none.

        Reads :meth:`chunk_frames` frames at a time, so memory stays flat in the frame count.
        """
        low, high, smallest = np.inf, -np.inf, np.inf
        step = self.chunk_frames()
        for start in range(0, len(self), step):
            chunk = self.peek(start, min(start + step, len(self)))
            if self.dtype.kind == "f":
                chunk = chunk[np.isfinite(chunk)]
                magnitudes = np.abs(chunk[chunk != 0])
                if magnitudes.size:
                    smallest = min(smallest, float(magnitudes.min()))
                if chunk.size == 0:
                    continue
            low, high = min(low, float(chunk.min())), max(high, float(chunk.max()))
        if low > high:
            return None
        if self.dtype.kind != "f":
            return ValueStats(low, high, 1.0)
        return ValueStats(low, high, float(np.spacing(self.dtype.type(smallest))))


@dataclass(frozen=True)
class ValueStats:
    """The finite values of an input: their extremes and the spacing of the dtype among them."""

    low: float
    high: float
    #: the smallest gap between two values of the dtype at the data's nonzero magnitudes:
    #: 1 for integers, the spacing at the smallest nonzero magnitude for floats (``nan`` when
    #: every finite value is zero)
    resolution: float


def check_layout(shape: tuple[int, ...], dtype: np.dtype, what: str) -> np.dtype:
    """Validate a ``(frames, H, W[, C])`` layout and return the canonical dtype.

    ``what`` names the input in the one-line ``InputError`` (a path, or ``"input array"``).
    """
    if len(shape) not in (3, 4):
        raise InputError(
            f"{what}: shape {shape} is not (frames, height, width) or "
            "(frames, height, width, channels)"
        )
    if shape[0] == 0:
        raise InputError(f"{what}: contains no frames")
    if 0 in shape:
        raise InputError(f"{what}: frames of shape {shape[1:]} are empty")
    try:
        return canonical_dtype(dtype)
    except InputError as err:
        raise InputError(f"{what}: {err}") from None


class ArraySource(FrameSource):
    """Frames held in an in-memory array shaped ``(frames, H, W)`` or ``(frames, H, W, C)``."""

    kind = "array"

    def __init__(self, array: np.ndarray, what: str = "input array") -> None:
        self._array = np.asarray(array)
        self.dtype = check_layout(self._array.shape, self._array.dtype, what)
        self.frame_shape = tuple(self._array.shape[1:])

    def __len__(self) -> int:
        return self._array.shape[0]

    def read(self, start: int, stop: int) -> np.ndarray:
        self.check_range(start, stop)
        return np.array(self._array[start:stop], dtype=self.dtype, order="C")

    def peek(self, start: int, stop: int) -> np.ndarray:
        self.check_range(start, stop)
        return np.asarray(self._array[start:stop], dtype=self.dtype)  # a view where it can

    def describe(self) -> dict[str, Any]:
        return {"kind": self.kind, "names": None, "modes": None, "format": None}


class OpenFile:
    """A source that keeps its input file open (:attr:`_handle`) and reads it under a lock:
    pickled without either (Dask sends sources to workers), reopened when first read."""

    _handle: Any = None

    def __init__(self) -> None:
        self._lock = threading.Lock()

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_handle": None, "_lock": None}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state, _lock=threading.Lock())


def reason(err: BaseException) -> str:
    """The first line of an exception's message, to quote inside a one-line error."""
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__
