"""The Python API: ``pack``, ``unpack``, ``open`` (re-exported by ``tezip``)."""

from __future__ import annotations

import operator
import os
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tezip import __version__, parameters
from tezip.abc import ArrayToArrayStage, ArrayToBytesStage, Predictor, RunContext
from tezip.archive import Archive, read_model
from tezip.bounds import ErrorBound
from tezip.container.header import Header
from tezip.container.layout import MODEL_SECTION
from tezip.container.writer import ArchiveWriter
from tezip.device import check_device
from tezip.errors import OptionError, TezipWarning
from tezip.gops import GopPolicy, plan
from tezip.io import ArraySource, FrameSource, open_sink, open_source
from tezip.parallel import ordered_map
from tezip.pipeline import Pipeline
from tezip.quantize import Quantizer, make_quantizer
from tezip.registry import Registry, get_registry

Progress = Callable[[int], None]
DEFAULT_ENTROPY = "tezip.rans"
#: speed / ratio levels (as zstd's): 1 is fastest, 9 smallest; the default holds tezip's
#: speed targets (BENCHMARKS.md)
LEVELS = range(1, 10)
DEFAULT_LEVEL = 5
#: from this level on, every built-in predictor codes each GOP in full and the smallest wins
THOROUGH_LEVEL = 8
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
    if not names:
        raise OptionError(
            f"names no predictor, got {predictor!r}; give 'auto' or ids such as tezip.linear",
            "predictor",
        )
    expanded = [i for name in names for i in (automatic if name == "auto" else [name])]
    return list(dict.fromkeys(expanded))


def _predictors(
    registry: Registry, predictor: str, options: dict[str, Any] | None
) -> list[Predictor]:
    """The candidate predictors, each given the ``options`` it declares; an option that no
    candidate declares is an ``OptionError`` naming what each one takes."""
    classes = {i: registry.predictor_class(i) for i in _predictor_ids(registry, predictor)}
    options = options or {}
    for key in options:
        if not any(parameters.takes(cls, key) for cls in classes.values()):
            takes = "; ".join(f"{i} options: {parameters.allowed(c)}" for i, c in classes.items())
            raise OptionError(
                f"no selected predictor has an option {key!r} ({takes})", "predictor_options"
            )
    return [
        registry.predictor(i, {k: v for k, v in options.items() if parameters.takes(cls, k)})
        for i, cls in classes.items()
    ]


def level_coder(
    level: int, entropy: str | None, options: dict[str, Any] | None
) -> tuple[str, dict[str, Any]]:
    """The entropy stage and its options for a speed level, unless the caller named them:
    level 1 is ``tezip.zstd`` behind ``tezip.lorenzo``, the others ``tezip.rans`` at effort
    1 (levels 2-3), 2 (4-6) or 3 (7-9)."""
    if isinstance(level, bool) or not isinstance(level, int) or level not in LEVELS:
        raise OptionError(
            f"must be an integer from 1 (fastest) to 9 (smallest), got {level!r}", "level"
        )
    options = dict(options or {})
    if entropy is None:
        entropy = "tezip.zstd" if level == 1 else DEFAULT_ENTROPY
    if entropy == DEFAULT_ENTROPY:
        options.setdefault("effort", 1 if level <= 3 else 2 if level <= 6 else 3)
    return entropy, options


def _stages(
    registry: Registry,
    entropy: str,
    entropy_options: dict[str, Any] | None,
    spatial: str,
) -> list[ArrayToArrayStage | ArrayToBytesStage]:
    coder = registry.stage(entropy, entropy_options)
    if not isinstance(coder, ArrayToBytesStage):
        raise OptionError(f"{entropy!r} is not an entropy (array-to-bytes) stage", "entropy")
    if spatial == "auto":
        spatial = "none" if coder.decorrelates else DEFAULT_SPATIAL
    if spatial == "none":
        return [coder]
    transform = registry.stage(spatial)
    if not isinstance(transform, ArrayToArrayStage):
        raise OptionError(f"{spatial!r} is not an array-to-array stage", "spatial")
    return [transform, coder]


def _quantizer(bound: ErrorBound, source: FrameSource, grid_phase: bool) -> Quantizer:
    """The quantizer for ``bound`` fitted to the input's values (:meth:`ErrorBound.fitted`)."""
    stats = source.value_stats() if bound.needs_range else None
    value_range = None if stats is None else (stats.low, stats.high)
    return make_quantizer(bound.fitted(stats), source.dtype, value_range, grid_phase)


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
    level: int = DEFAULT_LEVEL,
    entropy: str | None = None,
    entropy_options: dict[str, Any] | None = None,
    spatial: str = "auto",
    gop: int | str = "auto",
    model: str | os.PathLike[str] | None = None,
    embed_model: bool = False,
    device: str = "auto",
    workers: int | None = None,
    overwrite: bool = False,
    progress: Progress | None = None,
    quiet: bool = True,
    registry: Registry | None = None,
    grid_phase: bool = True,
) -> PackResult:
    """Compress frames (an array ``(n, H, W[, C])``, a ``.npy`` path or an image folder).

    Lossless by default; ``abs``/``rel``/``pwrel`` bound the error of every element in the
    output dtype (:meth:`ErrorBound.fitted` says when a bound is coded losslessly or warned
    about). ``level`` trades speed (1) for ratio (9); ``entropy`` overrides its choice of
    entropy stage. ``grid_phase=False`` keeps bounded grids where format 1.0 puts them
    (readable by tezip before 0.2), instead of choosing each GOP's grid from the data.
    ``model`` is a model file for learned predictors, stored in the archive with
    ``embed_model``. ``progress`` is called with the number of frames finished after each
    GOP. An existing file at ``path`` is replaced only with ``overwrite``. Invalid options
    raise ``OptionError`` before the input is read.
    """
    del quiet  # the API never prints; the CLI draws progress bars from ``progress``
    registry = registry or get_registry()
    bound = ErrorBound.from_options(lossless=lossless, abs=abs, rel=rel, pwrel=pwrel)
    policy = GopPolicy.parse(gop)
    predictors = _predictors(registry, predictor, predictor_options)
    entropy, entropy_options = level_coder(level, entropy, entropy_options)
    stages = _stages(registry, entropy, entropy_options, spatial)
    context = RunContext(check_device(device), () if model is None else (read_model(model),))
    for candidate in predictors:
        candidate.bind(context)
    uses_model = any(p.model_file() is not None for p in predictors)
    if embed_model and not uses_model:
        raise OptionError("no selected predictor uses a model", "embed_model")
    if model is not None and not uses_model:
        warnings.warn(
            "the model is ignored: no selected predictor uses one (select a learned "
            "predictor, e.g. tezip.prednet)",
            TezipWarning,
            stacklevel=2,
        )
    source = _source(data)
    quantizer = _quantizer(bound, source, grid_phase)
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
    pipeline.thorough = level >= THOROUGH_LEVEL
    workers = workers or os.cpu_count() or 1
    gops = 0
    embedded: set[str | None] = set()  # fingerprints of the models written so far
    with ArchiveWriter(path, header, overwrite=overwrite) as writer:
        groups = plan(source, policy, quantizer, pipeline.entropy.estimate)
        for first, record in _encode_all(pipeline, groups, workers):
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
    path: str | os.PathLike[str],
    frames: slice | None = None,
    *,
    model: str | os.PathLike[str] | None = None,
    device: str = "auto",
) -> np.ndarray:
    """Decode an archive (or ``frames``, a slice of it: see :func:`select_frames`) into one
    array."""
    with Archive(path, model=model, device=device) as archive:
        selected = select_frames(frames, len(archive))
        return archive.read(selected.start, selected.stop)


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

    ``frames`` selects as in :func:`select_frames`. An existing output is replaced, once
    decoding has succeeded, only with ``overwrite``.
    """
    with Archive(path, model=model, device=device) as archive:
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
