"""Writing ``.tez`` containers: to any binary stream (:class:`ContainerWriter`), or to a file
that appears only when complete (:class:`ArchiveWriter`)."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

from tezip.atomic import create_file, publish, remove_stale, temporary_path
from tezip.container.header import Header, pack_msgpack
from tezip.container.layout import (
    END_MAGIC,
    GOP_SECTION,
    HEADER_CRC,
    INDEX_COUNT,
    INDEX_ENTRY,
    INDEX_SECTION,
    MAJOR,
    MAX_HEADER,
    PREAMBLE,
    SECTION_CRC,
    SECTION_HEAD,
    SIGNATURE,
    TRAILER,
    crc32,
    valid_type,
)
from tezip.errors import InputError, OutputExistsError


def encoded_header(header: Header) -> bytes:
    """The header's msgpack bytes; ``InputError`` past the format's 16 MiB cap."""
    header_bytes = pack_msgpack(header.to_record())
    if len(header_bytes) > MAX_HEADER:
        raise InputError(f"archive header would be {len(header_bytes)} bytes (limit {MAX_HEADER})")
    return header_bytes


class ContainerWriter:
    """Writes preamble and header at once, then sections, then (:meth:`finish`) the GOP index
    and trailer, to a binary stream.

    GOP payloads may be added in any order (workers finish in any order): each is written
    once every GOP before it is, since ``GOPD`` sections follow frame order (FORMAT.md
    section 7); the ones waiting are held in memory (:attr:`waiting`).
    """

    def __init__(self, stream: BinaryIO, header: Header) -> None:
        header_bytes = encoded_header(header)
        self._stream = stream
        self._frames = header.frames
        self._position = 0
        self._index: list[tuple[int, int, int]] = []
        self._waiting: dict[int, tuple[int, bytes]] = {}
        self._next = 0  # the first frame of the next GOP to write
        preamble = PREAMBLE.pack(SIGNATURE, MAJOR, header.format_minor, 0, len(header_bytes))
        self._write(preamble, header_bytes, HEADER_CRC.pack(crc32(preamble[8:], header_bytes)))

    @property
    def size(self) -> int:
        """Bytes written so far."""
        return self._position

    @property
    def waiting(self) -> int:
        """GOPs added but not yet written (a GOP before them is still missing)."""
        return len(self._waiting)

    def _write(self, *parts: bytes) -> None:
        for part in parts:
            self._stream.write(part)
            self._position += len(part)

    def add_section(self, kind: bytes, payload: bytes) -> int:
        """Append a section now; returns its offset."""
        if not valid_type(kind):
            raise ValueError(f"section type {kind!r} is not four ASCII letters")
        offset = self._position
        head = SECTION_HEAD.pack(kind, len(payload))
        self._write(head, payload, SECTION_CRC.pack(crc32(head, payload)))
        return offset

    def add_gop(self, first: int, count: int, payload: bytes) -> None:
        """Add the GOP of frames ``first:first + count``, in any order."""
        if count < 1 or first < self._next or first in self._waiting:
            raise ValueError(f"a GOP of {count} frames at frame {first} overlaps another one")
        self._waiting[first] = (count, payload)
        while self._next in self._waiting:
            count, payload = self._waiting.pop(self._next)
            self._index.append((self.add_section(GOP_SECTION, payload), self._next, count))
            self._next += count

    def finish(self) -> None:
        """Write the GOP index and the trailer; ``ValueError`` unless the GOPs cover every
        frame of the header exactly."""
        if self._waiting or self._next != self._frames:
            missing = min(self._waiting, default=self._frames)
            raise ValueError(
                f"the GOPs cover frames 0:{self._next} and not {self._next}:{missing} of the "
                f"header's {self._frames} frames"
            )
        entries = b"".join(INDEX_ENTRY.pack(o, f, c, 0) for o, f, c in self._index)
        index_offset = self.add_section(INDEX_SECTION, INDEX_COUNT.pack(len(self._index)) + entries)
        offset_bytes = index_offset.to_bytes(8, "little")
        self._write(TRAILER.pack(index_offset, crc32(offset_bytes), END_MAGIC))


class ArchiveWriter:
    """Writes header, sections, GOP index and trailer; only ``commit`` makes the file appear.

    Use as a context manager: leaving the block normally commits, an exception (including
    KeyboardInterrupt) removes the temporary file so no partial archive is ever left; so does
    a failing commit (a full disk at the final flush). Without ``overwrite`` the archive is
    created exclusively: an archive that appears at the path meanwhile is never replaced.
    """

    def __init__(self, path: str | os.PathLike[str], header: Header, overwrite: bool = False):
        self.path = Path(path)
        if self.path.exists() and not overwrite:
            raise OutputExistsError(f"{self.path} already exists")
        if self.path.is_dir():
            raise InputError(f"{self.path} is a folder, not an archive path")
        encoded_header(header)  # refused before any file is created
        folder = self.path.parent
        if not folder.is_dir():
            raise InputError(f"{folder}: output folder does not exist")
        remove_stale(folder)
        self._overwrite = overwrite
        self._temp = temporary_path(self.path, ".part")
        self._file = create_file(self._temp)
        try:
            self._container = ContainerWriter(self._file, header)
        except BaseException:
            self.abort()
            raise

    def add_section(self, kind: bytes, payload: bytes) -> int:
        """Append a section; returns its offset."""
        return self._container.add_section(kind, payload)

    def add_gop(self, first: int, count: int, payload: bytes) -> None:
        """Add one GOP, in any order (:meth:`ContainerWriter.add_gop`)."""
        self._container.add_gop(first, count, payload)

    def commit(self) -> None:
        """Write the index and trailer, flush to disk and move into place; on any failure
        the temporary file is removed."""
        try:
            self._container.finish()
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()
            publish(self._temp, self.path, self._overwrite)
        except FileExistsError:
            self.abort()
            raise InputError(
                f"{self.path} appeared while the archive was written; it was left as it is "
                "(use --force to overwrite)"
            ) from None
        except BaseException:
            self.abort()
            raise

    def abort(self) -> None:
        """Discard everything written."""
        try:
            with contextlib.suppress(OSError):  # closing flushes, which fails on a full disk
                self._file.close()
        finally:
            self._temp.unlink(missing_ok=True)

    def __enter__(self) -> ArchiveWriter:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if kind is None:
            self.commit()
        else:
            self.abort()
