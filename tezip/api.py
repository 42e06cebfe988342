"""The Python API: ``pack``, ``unpack``, ``open`` (re-exported by ``tezip``)."""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tezip import __version__
from tezip.abc import ArrayToArrayStage, ArrayToBytesStage, Predictor, RunContext
from tezip.archive import Archive, read_model
from tezip.bounds import ErrorBound
from tezip.container.header import Header
from tezip.container.layout import MODEL_SECTION
from tezip.container.writer import ArchiveWriter
from tezip.device import check_device
from tezip.errors import InputError
from tezip.gops import GopPolicy, plan
from tezip.io import ArraySource, FrameSource, open_sink, open_source
from tezip.parallel import ordered_map
from tezip.pipeline import Pipeline
from tezip.quantize import make_quantizer
from tezip.registry import Registry, get_registry

Progress = Callable[[int], None]
DEFAULT_ENTROPY = "tezip.zstd"
DEFAULT_SPATIAL = "tezip.lorenzo"


@dataclass(frozen=True)
class PackResult:
    """What ``pack`` wrote."""

    path: Path
    frames: int
    gops: int
    input_bytes: int
    output_bytes: int
    #: the devices learned predictors ran on, for people (e.g. ``cuda (NVIDIA H100)``)
    devices: tuple[str, ...] = ()

    @property
    def ratio(self) -> float:
        return self.input_bytes / self.output_bytes


@dataclass(frozen=True)
class UnpackResult:
    """What ``unpack_to`` wrote."""

    path: Path
    frames: int
    #: the image format written (``png``, ``tiff``), ``None`` for a ``.npy`` file
    image_format: str | None = None
    #: the input's image format when the output is written in another one (e.g. ``jpeg``
    #: originals come back as PNG with the same pixels), else ``None``
    converted_from: str | None = None
    #: the devices learned predictors ran on, for people (e.g. ``cuda (NVIDIA H100)``)
    devices: tuple[str, ...] = ()


def _source(data: np.ndarray | str | os.PathLike[str] | FrameSource) -> FrameSource:
    if isinstance(data, FrameSource):
        return data
    if isinstance(data, np.ndarray):
        return ArraySource(data)
    return open_source(data)


def _predictor_ids(registry: Registry, predictor: str) -> list[str]:
    """Candidate predictors chosen among per GOP: a comma-separated list of ids, in which
    ``auto`` stands for tezip's own point-wise predictors (so that what an archive needs to
    decode does not depend on which third-party plugins happened to be installed)."""
    automatic = sorted(
        i for i, cls in registry.predictors.items() if cls.pointwise and i.startswith("tezip.")
    )
    names = [name.strip() for name in predictor.split(",") if name.strip()]
    expanded = [i for name in names for i in (automatic if name == "auto" else [name])]
    return list(dict.fromkeys(expanded))


def _stages(
    registry: Registry,
    entropy: str,
    entropy_options: dict[str, Any] | None,
    spatial: str,
) -> list[ArrayToArrayStage | ArrayToBytesStage]:
    coder = registry.stage(entropy, entropy_options)
    if not isinstance(coder, ArrayToBytesStage):
        raise InputError(f"--entropy {entropy!r} is not an entropy (array-to-bytes) stage")
    if spatial == "auto":
        spatial = "none" if coder.decorrelates else DEFAULT_SPATIAL
    if spatial == "none":
        return [coder]
    transform = registry.stage(spatial)
    if not isinstance(transform, ArrayToArrayStage):
        raise InputError(f"--spatial {spatial!r} is not an array-to-array stage")
    return [transform, coder]


def pack(
    data: np.ndarray | str | os.PathLike[str] | FrameSource,
    path: str | os.PathLike[str],
    *,
    lossless: bool = False,
    abs: float | None = None,
    rel: float | None = None,
    pwrel: float | None = None,
    predictor: str = "auto",
    predictor_options: dict[str, Any] | None = None,
    entropy: str = DEFAULT_ENTROPY,
    entropy_options: dict[str, Any] | None = None,
    spatial: str = "auto",
    gop: int | str = "auto",
    model: str | os.PathLike[str] | None = None,
    embed_model: bool = False,
    device: str = "auto",
    workers: int | None = None,
    overwrite: bool = True,
    progress: Progress | None = None,
    quiet: bool = True,
    registry: Registry | None = None,
) -> PackResult:
    """Compress frames (an array ``(n, H, W[, C])``, a ``.npy`` path or an image folder).

    Lossless by default; ``abs``/``rel``/``pwrel`` bound the error of every element in the
    output dtype. ``model`` is a model file for learned predictors, stored in the archive
    with ``embed_model``. ``progress`` is called with the number of frames finished after
    each GOP.
    """
    del quiet  # the API never prints; the CLI draws progress bars from ``progress``
    registry = registry or get_registry()
    context = RunContext(check_device(device), () if model is None else (read_model(model),))
    source = _source(data)
    bound = ErrorBound.from_options(lossless=lossless, abs=abs, rel=rel, pwrel=pwrel)
    value_range = source.value_range() if bound.needs_range else None
    quantizer = make_quantizer(bound, source.dtype, value_range)
    policy = GopPolicy.parse(gop)
    predictors = [
        registry.predictor(i, predictor_options) for i in _predictor_ids(registry, predictor)
    ]
    for candidate in predictors:
        candidate.bind(context)
    uses_model = any(p.model_file() is not None for p in predictors)
    if embed_model and not uses_model:
        raise InputError("--embed-model given, but no selected predictor uses a model")
    if model is not None and not uses_model:
        warnings.warn(
            "the model is ignored: no selected predictor uses one (select a learned "
            "predictor, e.g. tezip.prednet)",
            stacklevel=2,
        )
    stages = _stages(registry, entropy, entropy_options, spatial)
    header = Header(
        frames=len(source),
        frame_shape=tuple(source.frame_shape),
        dtype=source.dtype.name,
        source=source.describe(),
        bound=bound.record(getattr(quantizer, "tolerance", None)),
        quantizer=quantizer.configuration,
        predictors=[_predictor_record(p) for p in predictors],
        stages=[s.describe() for s in stages],
        gop=policy.record(),
        writer=f"tezip {__version__}",
    )
    pipeline = Pipeline.from_header(header, registry, context)
    workers = workers or os.cpu_count() or 1
    gops = 0
    embedded: set[str | None] = set()  # fingerprints of the models written so far
    with ArchiveWriter(path, header, overwrite=overwrite) as writer:
        for first, record in _encode_all(pipeline, plan(source, policy, quantizer), workers):
            used = predictors[record.predictor]
            model_file = used.model_file() if embed_model else None
            if model_file is not None and used.fingerprint not in embedded:
                writer.add_section(MODEL_SECTION, model_file)  # before the first GOP using it
                embedded.add(used.fingerprint)
            writer.add_gop(first, record.count, record.encode())
            gops += 1
            if progress:
                progress(record.count)
    frame_bytes = int(np.prod(source.frame_shape)) * source.dtype.itemsize
    return PackResult(
        Path(path),
        len(source),
        gops,
        frame_bytes * len(source),
        Path(path).stat().st_size,
        _devices(predictors),
    )


def _devices(predictors: Sequence[Predictor]) -> tuple[str, ...]:
    """The devices the (bound) learned predictors run on, each once."""
    return tuple(dict.fromkeys(p.device for p in predictors if p.device))


def _predictor_record(predictor: Any) -> dict[str, Any]:
    record = predictor.describe()
    if predictor.fingerprint is not None:
        record["fingerprint"] = predictor.fingerprint
    if predictor.device is not None:
        record["device"] = predictor.device
    return record


def _encode_all(
    pipeline: Pipeline, groups: Iterator[tuple[int, np.ndarray]], workers: int
) -> Iterator[tuple[int, Any]]:
    """Encode GOPs in a thread pool, yielding in order with at most ``workers + 1`` in flight."""

    def encode(group: tuple[int, np.ndarray]) -> Any:
        return pipeline.encode(group[1], group[0])

    for group, record in ordered_map(encode, groups, workers):
        yield group[0], record


def open(
    path: str | os.PathLike[str],
    *,
    model: str | os.PathLike[str] | None = None,
    device: str = "auto",
) -> Archive:
    """Open an archive for random access: ``len(a)``, ``a[i]``, ``a[i:j]``, ``a.header``."""
    return Archive(path, model=model, device=device)


def unpack(
    path: str | os.PathLike[str],
    frames: slice | None = None,
    *,
    model: str | os.PathLike[str] | None = None,
    device: str = "auto",
) -> np.ndarray:
    """Decode an archive (or ``frames``, a slice of it) into one array."""
    with Archive(path, model=model, device=device) as archive:
        return archive[frames if frames is not None else slice(None)]


def unpack_to(
    path: str | os.PathLike[str],
    output: str | os.PathLike[str],
    *,
    frames: slice | None = None,
    fmt: str | None = None,
    workers: int | None = None,
    progress: Progress | None = None,
    model: str | os.PathLike[str] | None = None,
    device: str = "auto",
    overwrite: bool = False,
) -> UnpackResult:
    """Decode into a ``.npy`` file or image folder like the original input.

    An existing output is replaced, once decoding has succeeded, only with ``overwrite``.
    """
    with Archive(path, model=model, device=device) as archive:
        start, stop, step = (frames or slice(None)).indices(len(archive))
        if step != 1:
            raise InputError("--frames takes start:stop without a step")
        indices: Sequence[int] = range(start, max(start, stop))
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
            for number, decoded in archive.iter_gops(start, stop, workers or os.cpu_count() or 1):
                entry = archive.gops[number]
                low, high = max(start, entry.first), min(stop, entry.first + entry.count)
                sink.write(decoded[low - entry.first : high - entry.first])
                if progress:
                    progress(high - low)
        written = getattr(sink, "format", None)
        converted = getattr(sink, "original_format", None)
        devices = _devices(archive.pipeline.predictors)
        return UnpackResult(Path(output), len(indices), written, converted, devices)
