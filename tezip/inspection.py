"""What ``tezip inspect`` reports: header, pipeline, GOPs, sizes and optional verification."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable
from typing import Any

from tezip.archive import Archive
from tezip.container.display import printable, shown
from tezip.container.gop import decode_gop
from tezip.container.header import informative_text
from tezip.container.reader import ArchiveFile


def _stage_text(record: dict[str, Any]) -> str:
    options = ", ".join(f"{shown(k)}={shown(v)}" for k, v in record["configuration"].items())
    text = f"{shown(record['id'])} v{record['version']}" + (f" ({options})" if options else "")
    if fingerprint := informative_text(record, "fingerprint"):
        text += f" model {fingerprint[:16]}"
    if device := informative_text(record, "device"):
        text += f" packed on {device}"
    return text


def describe_archive(
    path: str | os.PathLike[str], verify: bool = False, model: str | None = None
) -> dict[str, Any]:
    """A JSON-serialisable description of an archive (``inspect --json``).

    Reading the structure needs no plugin or model; ``verify`` decodes every frame and so
    needs the plugins (and the model) the archive names.
    """
    file = ArchiveFile(path)
    try:
        header = file.header
        gops, used = [], Counter()
        for entry in file.gops:
            record = decode_gop(file.payload(entry.section))
            predictor = (
                header.predictors[record.predictor]["id"]
                if 0 <= record.predictor < len(header.predictors)
                else f"#{record.predictor}"
            )
            used[predictor] += 1
            gops.append(
                {
                    "first": entry.first,
                    "frames": entry.count,
                    "offset": entry.section.offset,
                    "bytes": entry.section.length,
                    "predictor": predictor,
                    "bits": record.bits,
                    "outliers": record.outliers,
                    "lossless": record.lossless,
                }
            )
        input_bytes = header.frame_bytes * header.frames
        description: dict[str, Any] = {
            "path": str(path),
            "format_version": list(file.version),
            "header": _plain(header.to_record()),
            "gops": gops,
            "predictor_use": dict(used),
            "sections": dict(Counter(s.kind.decode() for s in file.sections)),
            "input_bytes": input_bytes,
            "archive_bytes": file.size,
            "ratio": input_bytes / file.size,
        }
    finally:
        file.close()
    if verify:
        verify_archive(path, model)
        description["verified"] = True
    return description


def verify_archive(
    path: str | os.PathLike[str],
    model: str | None = None,
    progress: Callable[[int], None] | None = None,
    threads: int | None = None,
) -> None:
    """Decode every frame on the CPU (on ``threads``), checking every CRC and frame checksum;
    ``progress`` is called with the number of frames checked after each GOP."""
    with Archive(path, model=model, device="cpu", threads=threads) as archive:
        archive.verify(progress)


def _plain(value: Any) -> Any:
    """Make msgpack values JSON-friendly (bytes become hex)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, bytes):
        return value.hex()
    return value


def _number(value: Any) -> str:
    """A number in ``%g`` style; anything else (informative fields are unchecked) as is."""
    number = isinstance(value, int | float) and not isinstance(value, bool)
    return f"{value:g}" if number else shown(value)


def format_description(d: dict[str, Any]) -> str:
    """Human-readable rendering of :func:`describe_archive`.

    The informative header maps (``bound``, ``gop``, ``source``) may lack keys or hold other
    types in a file from another writer (FORMAT.md section 4): they are shown as found. Every
    value from the archive is shown printable (``\x1b`` for the escape character, so that a
    header cannot drive the terminal) and cut to a line.
    """
    h = d["header"]
    bound, gop = h["bound"], h["gop"]
    lossless = sum(entry["lossless"] for entry in d["gops"])
    bound_text = ", ".join(
        f"{key} {_number(bound[key])}"
        for key in ("abs", "rel", "pwrel")
        if bound.get(key) is not None
    ) or shown(bound.get("mode", "unknown"))
    if bound.get("resolved") is not None:
        bound_text += f" (resolved E = {_number(bound['resolved'])})"
    sizes = [g["frames"] for g in d["gops"]]
    source = h["source"]
    lines = [
        f"{printable(d['path'])}: tez format {'.'.join(map(str, d['format_version']))}, "
        f"written by {shown(h['writer'])}",
        f"frames     {h['frames']} x {tuple(h['frame_shape'])} {h['dtype']}, "
        f"source {shown(source.get('kind'))}"
        + (f" ({shown(source['format'])})" if source.get("format") else ""),
        f"bound      {bound_text}",
        f"quantizer  {', '.join(f'{shown(k)}={shown(v)}' for k, v in h['quantizer'].items())}",
        "predictors " + ", ".join(_stage_text(p) for p in h["predictors"]),
        "stages     " + " -> ".join(_stage_text(s) for s in h["stages"]),
        f"gops       {len(sizes)} ({shown(gop.get('policy', 'unknown'))}, "
        f"max {shown(gop.get('size'))}), frames per GOP {min(sizes)}..{max(sizes)}; "
        "predictor use "
        + ", ".join(f"{shown(k)} x{v}" for k, v in d["predictor_use"].items())
        + (f"; lossless x{lossless}" if lossless else ""),
        f"size       {d['input_bytes']} -> {d['archive_bytes']} bytes, ratio {d['ratio']:.3f}",
        "sections   " + ", ".join(f"{k} x{v}" for k, v in d["sections"].items()),
    ]
    if d.get("verified"):
        lines.append(f"verify     ok: {h['frames']} frames match their checksums")
    return "\n".join(lines)
