"""Streaming, atomic ``.tez`` writer: sections go to a temporary file renamed into place."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from types import TracebackType

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
        header_bytes = pack_msgpack(header.to_record())
        if len(header_bytes) > MAX_HEADER:
            raise InputError(
                f"archive header would be {len(header_bytes)} bytes (limit {MAX_HEADER})"
            )
        folder = self.path.parent
        if not folder.is_dir():
            raise InputError(f"{folder}: output folder does not exist")
        remove_stale(folder)
        self._overwrite = overwrite
        self._temp = temporary_path(self.path, ".part")
        self._file = create_file(self._temp)
        self._position = 0
        self._index: list[tuple[int, int, int]] = []
        preamble = PREAMBLE.pack(SIGNATURE, MAJOR, header.format_minor, 0, len(header_bytes))
        try:
            self._write(preamble, header_bytes, HEADER_CRC.pack(crc32(preamble[8:], header_bytes)))
        except BaseException:
            self.abort()
            raise

    def _write(self, *parts: bytes) -> None:
        for part in parts:
            self._file.write(part)
            self._position += len(part)

    def add_section(self, kind: bytes, payload: bytes) -> int:
        """Append a section; returns its offset."""
        if not valid_type(kind):
            raise ValueError(f"section type {kind!r} is not four ASCII letters")
        offset = self._position
        head = SECTION_HEAD.pack(kind, len(payload))
        self._write(head, payload, SECTION_CRC.pack(crc32(head, payload)))
        return offset

    def add_gop(self, first: int, count: int, payload: bytes) -> None:
        """Append one GOP's section and remember it for the index."""
        self._index.append((self.add_section(GOP_SECTION, payload), first, count))

    def commit(self) -> None:
        """Write the index and trailer, flush to disk and move into place; on any failure
        the temporary file is removed."""
        try:
            entries = b"".join(INDEX_ENTRY.pack(o, f, c, 0) for o, f, c in self._index)
            index = INDEX_COUNT.pack(len(self._index)) + entries
            index_offset = self.add_section(INDEX_SECTION, index)
            offset_bytes = index_offset.to_bytes(8, "little")
            self._write(TRAILER.pack(index_offset, crc32(offset_bytes), END_MAGIC))
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
