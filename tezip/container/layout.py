"""Byte-level constants of the ``.tez`` format (FORMAT.md sections 2, 3, 6, 7 and 9)."""

from __future__ import annotations

import struct

from zlib_ng import zlib_ng

#: PNG-style signature: a high-bit byte, the name, CR LF, EOF, LF expose transfer damage.
SIGNATURE = b"\x89TEZ\r\n\x1a\n"
#: the format major version; writers write the oldest minor that can represent a file
#: (:meth:`tezip.container.header.Header.format_minor`), readers accept every minor
MAJOR = 1
#: signature, major u8, minor u8, flags u16, header length u32 (all little-endian)
PREAMBLE = struct.Struct("<8sBBHI")
HEADER_CRC = struct.Struct("<I")
MAX_HEADER = 16 * 1024 * 1024

#: section: type (4 ASCII letters), payload length u64, then payload, then CRC32 u32
SECTION_HEAD = struct.Struct("<4sQ")
SECTION_CRC = struct.Struct("<I")
SECTION_OVERHEAD = SECTION_HEAD.size + SECTION_CRC.size

#: trailer: index section offset u64, CRC32 of those 8 bytes u32, end magic
END_MAGIC = b"TZND"
TRAILER = struct.Struct("<QI4s")

#: GOP index payload: entry count u32, then entries
INDEX_COUNT = struct.Struct("<I")
INDEX_ENTRY = struct.Struct("<QQII")  # section offset, first frame, frame count, reserved (0)

GOP_SECTION = b"GOPD"
#: a model file a learned predictor needs, embedded so the archive decodes on its own
MODEL_SECTION = b"MODL"
INDEX_SECTION = b"GIDX"
#: GOP payload: metadata length u32, msgpack metadata, then the blobs it lists
GOP_META_LENGTH = struct.Struct("<I")
MAX_GOP_META = 64 * 1024 * 1024


def is_critical(kind: bytes) -> bool:
    """Critical sections have an upper-case first letter (as in PNG)."""
    return 65 <= kind[0] <= 90


def valid_type(kind: bytes) -> bool:
    """A section type is four ASCII letters."""
    return len(kind) == 4 and kind.isalpha() and kind.isascii()


def crc32(*parts: bytes | memoryview) -> int:
    """CRC-32 (ISO-HDLC, as zlib and PNG) over the concatenation of ``parts``: zlib-ng's,
    which folds with carry-less multiplication (61 GB/s here, 6.8 for zlib's, which took 3%
    of an unpack's time)."""
    value = 0
    for part in parts:
        value = zlib_ng.crc32(part, value)
    return value
