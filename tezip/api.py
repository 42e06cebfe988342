"""The Python API: ``pack``, ``encode``, ``decode``, ``open``, ``unpack``, ``unpack_to``
(re-exported by ``tezip``)."""

from __future__ import annotations

import io
import logging
import operator
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from tezip.abc import ArrayToBytesStage, Predictor
from tezip.archive import Archive
from tezip.batching import batches, gops_per_batch
from tezip.container.gop import GopRecord
from tezip.container.storage import ArchiveSource
from tezip.container.writer import ArchiveWriter, ContainerWriter
from tezip.devicearrays import device_array, host_array
from tezip.errors import InputError, OptionError
from tezip.io import ArraySource, FrameSource, open_sink
from tezip.packing import DEFAULT_LEVEL, Packer, PackInput, prepare
from tezip.packing import level_coder as level_coder  # the command line's, from here
from tezip.parallel import budget, check_threads, ordered_map
from tezip.registry import Registry

Progress = Callable[[int], None]
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PackResult:
    """What ``pack`` wrote."""

    path: Path | None  # None for a stream
    frames: int
    gops: int
    input_bytes: int
    output_bytes: int
    #: the devices learned predictors ran on, for people (e.g. ``cuda (NVIDIA H100)``), and
    #: ``cuda`` where the entropy stage ran on a GPU
    devices: tuple[str, ...] = ()

    @property
    def ratio(self) -> float:
        return self.input_bytes / self.output_bytes


@dataclass(frozen=True)
class UnpackResult:
    """What ``unpack_to`` wrote."""

    path: Path | None  # None for a stream
    frames: int
    #: the image format written (``png``, ``tiff``), ``None`` for a ``.npy`` file
    image_format: str | None = None
    #: the input's image format when the output is written in another one (e.g. ``jpeg``
    #: originals come back as PNG with the same pixels), else ``None``
    converted_from: str | None = None
    #: the devices learned predictors ran on, for people (e.g. ``cuda (NVIDIA H100)``), and
    #: ``cuda`` where the entropy stage ran on a GPU
    devices: tuple[str, ...] = ()


def pack(
    data: PackInput,
    path: str | os.PathLike[str] | BinaryIO,
    *,
    lossless: bool = False,
    abs: float | None = None,
    rel: float | None = None,
    pwrel: float | None = None,
    predictor: str = "auto",
    predictor_options: dict[str, Any] | None = None,
    level: int = DEFAULT_LEVEL,
    entropy: str | None = None,
    entropy_options: dict[str, Any] | None = None,
    spatial: str = "auto",
    gop: int | str = "auto",
    model: str | os.PathLike[str] | None = None,
    embed_model: bool = False,
    device: str = "auto",
    threads: int | None = None,
    overwrite: bool = False,
    progress: Progress | None = None,
    quiet: bool = True,
    registry: Registry | None = None,
    grid_phase: bool = True,
    lossless_gops: bool = True,
) -> PackResult:
    """Compress frames (an array ``(n, H, W[, C])``, NumPy's or one on a GPU such as CuPy's,
    or a path an input plugin reads: a ``.npy`` file, an image folder, a TIFF stack ...).

    Lossless by default; ``abs``/``rel``/``pwrel`` bound the error of every element in the
    output dtype (:meth:`ErrorBound.fitted` says when a bound is coded losslessly or warned
    about). ``level`` trades speed (1) for ratio (9); ``entropy`` overrides its choice of
    entropy stage. ``grid_phase=False`` keeps bounded grids where format 1.0 puts them
    (readable by tezip before 0.2), instead of choosing each GOP's grid from the data;
    ``lossless_gops=False`` keeps every GOP of bounded integers on the grid (format 1.2 lets
    the encoder code a GOP losslessly where that is smaller, from ``level`` 4 on, with an
    entropy stage that can weigh it: ``tezip.rans``).
    ``model`` is a model file for learned predictors, stored in the archive with
    ``embed_model``. ``threads`` caps the threads used (all cores by default; see
    :mod:`tezip.parallel`). ``progress`` is called with the number of frames finished after each
    GOP. An existing file at ``path`` is replaced only with ``overwrite``; ``path`` may also be
    a binary stream, which gets the archive as its GOPs are coded (``PackResult.path`` is
    then ``None``). Invalid options raise ``OptionError`` before the input is read.
    """
    del quiet  # the API never prints; the CLI draws progress bars from ``progress``
    check_threads(threads)
    packer, source = prepare(
        data,
        lossless=lossless,
        abs=abs,
        rel=rel,
        pwrel=pwrel,
        predictor=predictor,
        predictor_options=predictor_options,
        level=level,
        entropy=entropy,
        entropy_options=entropy_options,
        spatial=spatial,
        gop=gop,
        model=model,
        embed_model=embed_model,
        device=device,
        registry=registry,
        grid_phase=grid_phase,
        lossless_gops=lossless_gops,
    )
    if isinstance(path, str | os.PathLike):
        with budget(threads), ArchiveWriter(path, packer.header, overwrite=overwrite) as writer:
            gops = _write_all(packer, source, writer, progress)
        output, size = Path(path), Path(path).stat().st_size
    else:
        stream = ContainerWriter(path, packer.header)
        with budget(threads):
            gops = _write_all(packer, source, stream, progress)
        stream.finish()
        path.flush()
        output, size = None, stream.size
    input_bytes = packer.header.frame_bytes * len(source)
    devices = _devices(packer.predictors, packer.pipeline.entropy)
    return PackResult(output, len(source), gops, input_bytes, size, devices)


def encode(data: Any, *, threads: int | None = None, **options: Any) -> bytes:
    """The ``.tez`` archive of an array ``(n, H, W[, C])`` as bytes, built in memory (a
    NumPy array, or one on a GPU: :mod:`tezip.devicearrays`); ``options`` are
    :func:`pack`'s (``abs=``, ``level=``, ``gop=`` ...)."""
    check_threads(threads)
    packer, source = prepare(ArraySource(host_array(data)), **options)
    stream = io.BytesIO()
    writer = ContainerWriter(stream, packer.header)
    with budget(threads):
        _write_all(packer, source, writer)
    writer.finish()
    return stream.getvalue()


def decode(
    data: bytes | bytearray | memoryview,
    out: np.ndarray | None = None,
    *,
    threads: int | None = None,
    device: str = "auto",
) -> Any:
    """The frames of an archive held in memory (as :func:`encode` returns it), decoded into
    ``out`` when given (an array of the archive's shape and dtype; when decoding fails, the
    frames before the failing group of frames are already in it), on ``threads``.
    ``device="cuda"`` decodes on a GPU and returns the frames there (a CuPy array, or
    numba-cuda's without CuPy: :mod:`tezip.devicearrays`) instead of filling ``out``."""
    if out is not None and device == "cuda":
        raise OptionError("fills a NumPy array; with device='cuda' the frames are returned", "out")
    with Archive(data, threads=threads, device=device) as archive:
        if out is None:
            frames = archive[...]
            return device_array(frames) if device == "cuda" else frames
        if out.shape != archive.shape or out.dtype != archive.dtype:
            raise InputError(
                f"out is {out.dtype}{list(out.shape)}, the archive holds "
                f"{archive.dtype}{list(archive.shape)}"
            )
        for number, frames in archive.iter_gops():
            entry = archive.gops[number]
            out[entry.first : entry.first + entry.count] = frames
        return out


def _write_all(
    packer: Packer,
    source: FrameSource,
    writer: ContainerWriter | ArchiveWriter,
    progress: Progress | None = None,
) -> int:
    """Encode every GOP of ``source`` into ``writer``, on the thread budget in effect;
    returns the number of GOPs."""
    gops = 0
    for record in _encoded(packer, source):
        packer.write(writer, record)
        log.debug(
            "GOP at frame %d: %d frames, %s, %d bytes coded, %d outliers",
            record.first,
            record.count,
            packer.predictors[record.predictor].id,
            len(record.residuals) + len(record.exact),
            record.outliers,
        )
        gops += 1
        if progress:
            progress(record.count)
    return gops


def _encoded(packer: Packer, source: FrameSource) -> Iterator[GopRecord]:
    """Every GOP of ``source`` coded, in order: on the threads of the budget in effect, or on
    a GPU a batch at a time (:mod:`tezip.batching`), each batch's host work on them all."""
    groups = packer.groups(source)
    if packer.pipeline.on_gpu:
        most = gops_per_batch(packer.header.frame_shape)
        for batch in batches(groups, lambda group: group[1].nbytes, most):
            yield from packer.encode_batch(batch)
        return
    fewest = packer.fewest_gops(source)
    for _, record in ordered_map(lambda group: packer.encode(*group), groups, at_least=fewest):
        yield record


def _devices(predictors: Sequence[Predictor], entropy: ArrayToBytesStage) -> tuple[str, ...]:
    """The devices the (bound) learned predictors run on, and a GPU the (bound) entropy stage
    runs on, each once."""
    stage = [entropy.device] if entropy.device != "cpu" else []
    devices = [p.device for p in predictors] + stage
    return tuple(dict.fromkeys(device for device in devices if device))


def open(
    source: ArchiveSource,
    *,
    model: str | os.PathLike[str] | None = None,
    device: str = "auto",
    threads: int | None = None,
) -> Archive:
    """Open an archive (a path, a seekable binary file object or bytes) as a read-only array
    (:class:`Archive`): ``a.shape``, ``a.dtype``, ``a[10:20, 100:200]``, ``a.header``."""
    return Archive(source, model=model, device=device, threads=threads)


def select_frames(frames: slice | None, count: int) -> range:
    """The frames ``frames`` selects among ``count``, strictly (unlike NumPy slicing):
    negative indices count from the end, and a step, a selection past the end or an empty one
    is an ``OptionError``. ``None`` selects every frame."""
    if frames is None:
        return range(count)
    if frames.step not in (None, 1):
        raise OptionError(f"takes start:stop without a step, got {_slice_text(frames)}", "frames")
    try:
        start = 0 if frames.start is None else operator.index(frames.start)
        stop = count if frames.stop is None else operator.index(frames.stop)
    except TypeError:
        raise OptionError(f"takes integers, got {_slice_text(frames)}", "frames") from None
    first, end = (value + count if value < 0 else value for value in (start, stop))
    if not (0 <= first <= count and 0 <= end <= count):
        raise OptionError(
            f"{_slice_text(frames)} reaches outside the archive's frames 0:{count}", "frames"
        )
    if first >= end:
        raise OptionError(f"{_slice_text(frames)} selects no frames", "frames")
    return range(first, end)


def _slice_text(frames: slice) -> str:
    text = ":".join("" if v is None else str(v) for v in (frames.start, frames.stop))
    return text if frames.step is None else f"{text}:{frames.step}"


def unpack(
    path: ArchiveSource,
    frames: slice | None = None,
    *,
    model: str | os.PathLike[str] | None = None,
    device: str = "auto",
    threads: int | None = None,
) -> np.ndarray:
    """Decode an archive (or ``frames``, a slice of it: see :func:`select_frames`) into one
    array, on ``threads`` (all cores by default)."""
    with Archive(path, model=model, device=device, threads=threads) as archive:
        selected = select_frames(frames, len(archive))
        return archive.read(selected.start, selected.stop)


def unpack_to(
    path: ArchiveSource,
    output: str | os.PathLike[str] | BinaryIO,
    *,
    frames: slice | None = None,
    fmt: str | None = None,
    threads: int | None = None,
    progress: Progress | None = None,
    model: str | os.PathLike[str] | None = None,
    device: str = "auto",
    overwrite: bool = False,
) -> UnpackResult:
    """Decode into an output like the original input: a ``.npy`` file, an image folder, a
    TIFF stack, an HDF5 or Zarr dataset (:func:`tezip.io.open_sink`), or a ``.npy`` array
    written to a binary stream.

    ``frames`` selects as in :func:`select_frames`. An existing output is replaced, once
    decoding has succeeded, only with ``overwrite``. ``threads`` caps the threads used (all
    cores by default).
    """
    with Archive(path, model=model, device=device, threads=threads) as archive, budget(threads):
        indices = select_frames(frames, len(archive))
        start, stop = indices.start, indices.stop
        header = archive.header
        with open_sink(
            output,
            fmt=fmt,
            source=header.source,
            frame_shape=header.frame_shape,
            dtype=header.numpy_dtype,
            indices=indices,
            overwrite=overwrite,
        ) as sink:
            for number, decoded in archive.iter_gops(start, stop):
                entry = archive.gops[number]
                low, high = max(start, entry.first), min(stop, entry.first + entry.count)
                sink.write(decoded[low - entry.first : high - entry.first])
                if progress:
                    progress(high - low)
        written = getattr(sink, "format", None)
        converted = getattr(sink, "original_format", None)
        devices = _devices(archive.pipeline.predictors, archive.pipeline.entropy)
        target = Path(output) if isinstance(output, str | os.PathLike) else None
        return UnpackResult(target, len(indices), written, converted, devices)
