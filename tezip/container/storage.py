"""Where an archive's bytes are read from: a file path, a seekable binary file object, or
bytes in memory, each read at absolute offsets (no ``os.pread``, so any platform and any
file-like object works)."""

from __future__ import annotations

import io
import os
import threading
from pathlib import Path
from typing import BinaryIO, Protocol

from tezip.errors import InputError

#: what an archive can be read from
ArchiveSource = str | os.PathLike[str] | BinaryIO | bytes | bytearray | memoryview


class Storage(Protocol):
    """Random-access bytes of known size."""

    name: str
    size: int

    def read_at(self, offset: int, length: int) -> bytes | memoryview:
        """Up to ``length`` bytes from ``offset`` (fewer only past the end)."""

    def close(self) -> None:
        """Release what this storage opened (never a caller's file object)."""


class FileStorage:
    """A seekable binary file object; reads are serialised, so threads may share it. The
    object's position is moved; it is closed only when this storage opened it."""

    def __init__(self, file: BinaryIO, name: str, owned: bool) -> None:
        self.name = name
        self._file, self._owned = file, owned
        self._lock = threading.Lock()
        self.size = file.seek(0, io.SEEK_END)

    def read_at(self, offset: int, length: int) -> bytes:
        with self._lock:
            self._file.seek(offset)
            data = self._file.read(length)
        if not isinstance(data, bytes | bytearray):
            raise InputError(f"{self.name}: the file object is not binary (open it with 'rb')")
        return bytes(data)

    def close(self) -> None:
        if self._owned:
            self._file.close()


class MemoryStorage:
    """Bytes in memory, read without copying."""

    name = "in-memory archive"

    def __init__(self, data: bytes | bytearray | memoryview) -> None:
        view = memoryview(data)
        if not view.c_contiguous:
            raise InputError("an in-memory archive must be a contiguous buffer")
        self._view = view.cast("B") if view.format != "B" or view.ndim != 1 else view
        self.size = len(self._view)

    def read_at(self, offset: int, length: int) -> memoryview:
        return self._view[offset : offset + length]

    def close(self) -> None:
        """Nothing to release: the caller owns the bytes."""


def open_storage(source: ArchiveSource) -> Storage:
    """The storage for a path, a seekable binary file object or a bytes-like object;
    ``InputError`` for anything else (a folder, a text or unseekable stream)."""
    if isinstance(source, bytes | bytearray | memoryview):
        return MemoryStorage(source)
    if isinstance(source, str | os.PathLike):
        path = Path(source)
        try:
            file = open(path, "rb")  # noqa: SIM115 - closed by FileStorage.close()
        except IsADirectoryError:
            raise InputError(f"{path} is a folder, not a .tez archive") from None
        except OSError as exc:
            raise InputError(f"{path}: {exc.strerror}") from None
        return FileStorage(file, str(path), owned=True)
    return FileStorage(_checked_file(source), _file_name(source), owned=False)


def _checked_file(file: object) -> BinaryIO:
    if isinstance(file, io.TextIOBase):
        raise InputError("the archive file object is open in text mode; open it with 'rb'")
    if not (hasattr(file, "read") and hasattr(file, "seek")):
        raise InputError(
            f"cannot read an archive from {type(file).__name__}: give a path, a seekable "
            "binary file object or bytes"
        )
    seekable = getattr(file, "seekable", None)
    if seekable is not None and not seekable():
        raise InputError(
            "the archive file object is not seekable (a pipe?); read it into bytes first"
        )
    return file  # type: ignore[return-value]


def _file_name(file: object) -> str:
    name = getattr(file, "name", None)
    return str(name) if isinstance(name, str | os.PathLike) else "archive file object"
