"""Validating ``.tez`` reader: structure and CRCs checked, GOP payloads read on demand."""

from __future__ import annotations

from dataclasses import dataclass

from tezip.container.header import Header, header_from_record, unpack_msgpack
from tezip.container.layout import (
    END_MAGIC,
    GOP_SECTION,
    HEADER_CRC,
    INDEX_COUNT,
    INDEX_ENTRY,
    INDEX_SECTION,
    MAJOR,
    MAX_HEADER,
    MODEL_SECTION,
    PREAMBLE,
    SECTION_CRC,
    SECTION_HEAD,
    SECTION_OVERHEAD,
    SIGNATURE,
    TRAILER,
    crc32,
    is_critical,
    valid_type,
)
from tezip.container.storage import ArchiveSource, open_storage
from tezip.errors import (
    ChecksumError,
    FormatError,
    HeaderError,
    SectionError,
    SignatureError,
    TruncatedError,
    VersionError,
)

#: section types this reader understands
KNOWN_SECTIONS = (GOP_SECTION, INDEX_SECTION, MODEL_SECTION)


@dataclass(frozen=True)
class Section:
    kind: bytes
    offset: int  # of the section's type field
    length: int  # of the payload

    @property
    def critical(self) -> bool:
        return is_critical(self.kind)

    @property
    def end(self) -> int:
        return self.offset + SECTION_OVERHEAD + self.length


@dataclass(frozen=True)
class GopEntry:
    section: Section
    first: int
    count: int


class ArchiveFile:
    """An open archive whose structure has been validated (FORMAT.md section 10, steps 1-18)."""

    def __init__(self, source: ArchiveSource) -> None:
        """Open ``source``: a path, a seekable binary file object (left open on close) or a
        bytes-like object."""
        self._storage = open_storage(source)
        self.name = self._storage.name
        self.size = self._storage.size
        try:
            self.version, self.header, body = self._read_header()
            index_offset = self._read_trailer(body)
            self.sections = self._walk(body, index_offset)
            self.gops = self._read_index(self.sections[-1])
        except BaseException:
            self._storage.close()
            raise

    def _read(self, offset: int, length: int, what: str) -> bytes | memoryview:
        if offset < 0 or offset + length > self.size:
            raise TruncatedError(f"{self.name}: archive ends inside the {what}")
        data = self._storage.read_at(offset, length)
        if len(data) != length:
            raise TruncatedError(f"{self.name}: archive ends inside the {what}")
        return data

    def _read_header(self) -> tuple[tuple[int, int], Header, int]:
        start = bytes(self._storage.read_at(0, PREAMBLE.size))
        if not SIGNATURE.startswith(start[:8]) or len(start) < 8:
            if SIGNATURE.startswith(start):
                raise TruncatedError(f"{self.name}: archive ends inside the signature")
            raise SignatureError(
                f"{self.name}: not a .tez archive (bad signature; damaged in transfer?)"
            )
        if len(start) < PREAMBLE.size:
            raise TruncatedError(f"{self.name}: archive ends inside the preamble")
        _, major, minor, flags, length = PREAMBLE.unpack(start)
        if major != MAJOR:
            raise VersionError(
                f"{self.name}: format version {major}.{minor}; this tezip reads {MAJOR}.x"
            )
        if flags:
            raise FormatError(f"{self.name}: reserved preamble flags are set ({flags:#06x})")
        if length > MAX_HEADER:
            raise HeaderError(f"{self.name}: header length {length} exceeds the {MAX_HEADER} cap")
        header_bytes = self._read(PREAMBLE.size, length, "header")
        (stored,) = HEADER_CRC.unpack(self._read(PREAMBLE.size + length, 4, "header CRC"))
        if crc32(start[8:], header_bytes) != stored:
            raise ChecksumError(f"{self.name}: header CRC mismatch")
        record = unpack_msgpack(header_bytes, "header", HeaderError)
        return (major, minor), header_from_record(record), PREAMBLE.size + length + 4

    def _read_trailer(self, body: int) -> int:
        if self.size < body + SECTION_OVERHEAD + TRAILER.size:
            raise TruncatedError(f"{self.name}: archive is truncated (no GOP index or trailer)")
        trailer = self._read(self.size - TRAILER.size, TRAILER.size, "trailer")
        offset, stored, magic = TRAILER.unpack(trailer)
        if magic != END_MAGIC:
            raise TruncatedError(f"{self.name}: archive is truncated or its end is damaged")
        if crc32(offset.to_bytes(8, "little")) != stored:
            raise ChecksumError(f"{self.name}: trailer CRC mismatch")
        return offset

    def _walk(self, position: int, index_offset: int) -> list[Section]:
        """Read every section head from the header to the trailer; the index must be last."""
        end = self.size - TRAILER.size
        sections: list[Section] = []
        while position < end:
            kind, length = SECTION_HEAD.unpack(self._read(position, SECTION_HEAD.size, "section"))
            if not valid_type(kind):
                raise SectionError(f"{self.name}: invalid section type {kind!r} at {position}")
            section = Section(kind, position, length)
            if section.end > end:
                raise TruncatedError(
                    f"{self.name}: {kind.decode()} section at {position} runs past the end"
                )
            if section.critical and kind not in KNOWN_SECTIONS:
                raise SectionError(
                    f"{self.name}: unknown critical section {kind.decode()!r}; "
                    "a newer tezip wrote it"
                )
            sections.append(section)
            position = section.end
        last = sections[-1] if sections else None
        if last is None or last.offset != index_offset or last.kind != INDEX_SECTION:
            raise SectionError(f"{self.name}: the trailer does not point at a final GOP index")
        if any(s.kind == INDEX_SECTION for s in sections[:-1]):
            raise SectionError(f"{self.name}: more than one GOP index section")
        return sections

    def payload(self, section: Section) -> memoryview:
        """A section's payload, its CRC verified."""
        data = self._read(section.offset, section.end - section.offset, "section")
        body = memoryview(data)[: SECTION_HEAD.size + section.length]
        (stored,) = SECTION_CRC.unpack_from(data, len(body))
        if crc32(body) != stored:
            raise ChecksumError(
                f"{self.name}: CRC mismatch in {section.kind.decode()} section at {section.offset}"
            )
        return body[SECTION_HEAD.size :]

    def _read_index(self, index: Section) -> list[GopEntry]:
        data = self.payload(index)
        if len(data) < INDEX_COUNT.size:
            raise SectionError(f"{self.name}: GOP index too short")
        (count,) = INDEX_COUNT.unpack_from(data)
        if len(data) != INDEX_COUNT.size + count * INDEX_ENTRY.size:
            raise SectionError(f"{self.name}: GOP index length does not match its {count} entries")
        gop_sections = [s for s in self.sections if s.kind == GOP_SECTION]
        if len(gop_sections) != count:
            raise SectionError(
                f"{self.name}: GOP index lists {count} groups but the file holds "
                f"{len(gop_sections)}"
            )
        entries, expected_first = [], 0
        for number, section in enumerate(gop_sections):
            offset, first, frames, reserved = INDEX_ENTRY.unpack_from(
                data, INDEX_COUNT.size + number * INDEX_ENTRY.size
            )
            if offset != section.offset:
                raise SectionError(
                    f"{self.name}: GOP index entry {number} points at {offset}, "
                    f"not at a GOP section (overlapping or stale offset)"
                )
            if reserved or first != expected_first or frames < 1:
                raise SectionError(f"{self.name}: GOP index entry {number} is inconsistent")
            entries.append(GopEntry(section, first, frames))
            expected_first += frames
        if expected_first != self.header.frames:
            raise SectionError(
                f"{self.name}: GOP index covers {expected_first} frames, "
                f"header declares {self.header.frames}"
            )
        return entries

    def models(self) -> tuple[bytes, ...]:
        """Payloads of the embedded model sections, CRC-verified."""
        return tuple(bytes(self.payload(s)) for s in self.sections if s.kind == MODEL_SECTION)

    def close(self) -> None:
        self._storage.close()
