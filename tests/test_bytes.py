"""The bytes API (``tezip.encode`` / ``tezip.decode``) and packing in separable steps."""

from __future__ import annotations

import builtins
import io
import os
import random
from pathlib import Path

import numpy as np
import pytest

import tezip
from tezip.container.reader import ArchiveFile
from tezip.container.writer import ArchiveWriter, ContainerWriter
from tezip.errors import InputError, OptionError
from tezip.packing import Packer, prepare


@pytest.fixture(scope="module")
def frames() -> np.ndarray:
    rng = np.random.default_rng(5)
    return (np.cumsum(rng.normal(0, 1, (17, 12, 10)), axis=0) + 50).astype(np.float32)


@pytest.mark.parametrize("options", [{}, {"abs": 0.1, "gop": 4}, {"pwrel": 0.01, "level": 1}])
def test_encode_gives_the_bytes_pack_writes(
    frames: np.ndarray, tmp_path: Path, options: dict[str, object]
) -> None:
    data = tezip.encode(frames, **options)
    tezip.pack(frames, tmp_path / "a.tez", **options)
    assert data == (tmp_path / "a.tez").read_bytes()
    np.testing.assert_array_equal(tezip.decode(data), tezip.unpack(tmp_path / "a.tez"))


def test_encode_and_decode_open_no_file(
    frames: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    tezip.decode(tezip.encode(frames, abs=0.5))  # plugins loaded, kernels compiled and cached

    def refused(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"a file was opened: {args}")

    monkeypatch.setattr(builtins, "open", refused)
    monkeypatch.setattr(os, "open", refused)
    np.testing.assert_allclose(tezip.decode(tezip.encode(frames, abs=0.5)), frames, atol=0.5)


def test_decode_fills_out(frames: np.ndarray) -> None:
    data = tezip.encode(frames, gop=5)
    out = np.full_like(frames, np.nan)
    assert tezip.decode(bytearray(data), out=out) is out
    np.testing.assert_array_equal(out, frames)


@pytest.mark.parametrize(
    "out", [np.zeros((17, 12, 10), np.float64), np.zeros((16, 12, 10), np.float32)], ids=str
)
def test_decode_refuses_an_out_of_another_shape_or_dtype(
    frames: np.ndarray, out: np.ndarray
) -> None:
    with pytest.raises(InputError, match="the archive holds float32"):
        tezip.decode(tezip.encode(frames), out=out)


def test_encode_checks_its_options(frames: np.ndarray) -> None:
    with pytest.raises(OptionError, match="level"):
        tezip.encode(frames, level=10)


def gop_payloads(data: bytes) -> list[tuple[int, int, bytes]]:
    archive = ArchiveFile(data)
    return [(g.first, g.count, bytes(archive.payload(g.section))) for g in archive.gops]


def test_the_writer_takes_gops_in_any_order(frames: np.ndarray) -> None:
    data = tezip.encode(frames, gop=3)
    gops = gop_payloads(data)
    for seed in range(5):
        random.Random(seed).shuffle(gops)
        stream = io.BytesIO()
        writer = ContainerWriter(stream, ArchiveFile(data).header)
        for first, count, payload in gops:
            writer.add_gop(first, count, payload)
        writer.finish()
        assert stream.getvalue() == data


def test_the_writer_refuses_overlapping_or_missing_gops(frames: np.ndarray) -> None:
    data = tezip.encode(frames, gop=3)
    header = ArchiveFile(data).header
    first, count, payload = gop_payloads(data)[1]
    writer = ContainerWriter(io.BytesIO(), header)
    writer.add_gop(first, count, payload)
    assert writer.waiting == 1  # GOP 0 is missing: GOP 1 waits
    with pytest.raises(ValueError, match="overlaps"):
        writer.add_gop(first, count, payload)
    with pytest.raises(ValueError, match="cover frames 0:0 and not 0:3"):
        writer.finish()


def test_an_incomplete_archive_is_never_published(frames: np.ndarray, tmp_path: Path) -> None:
    data = tezip.encode(frames, gop=3)
    writer = ArchiveWriter(tmp_path / "a.tez", ArchiveFile(data).header)
    with pytest.raises(ValueError, match="of the header's 17 frames"), writer:
        for first, count, payload in gop_payloads(data)[:-1]:
            writer.add_gop(first, count, payload)
    assert not list(tmp_path.iterdir())


def test_a_worker_encodes_gops_from_the_header_alone(frames: np.ndarray) -> None:
    packer, source = prepare(frames, abs=0.05, gop=4, level=8)
    worker = Packer.from_header(packer.header, packer.pipeline.encoding)
    stream = io.BytesIO()
    writer = ContainerWriter(stream, packer.header)
    groups = list(worker.groups(source, 8, 17)) + list(worker.groups(source, 0, 8))
    for first, group in groups:
        worker.write(writer, worker.encode(first, group))
    writer.finish()
    assert stream.getvalue() == tezip.encode(frames, abs=0.05, gop=4, level=8)
