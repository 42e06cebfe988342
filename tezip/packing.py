"""Packing in steps that can run apart.

:func:`prepare` checks the options, reads what the header needs from the input and builds the
header and pipeline once, as a :class:`Packer`; any thread (or, from the header alone, any
worker process: :meth:`Packer.from_header`) then encodes GOPs from it, and
:meth:`Packer.write` hands each coded GOP to a container writer, which takes them in any
order. ``tezip.pack``, ``tezip.encode``, the codecs and the Dask scale-out are these steps
arranged differently.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tezip import __version__, parameters
from tezip.abc import ArrayToArrayStage, ArrayToBytesStage, Predictor, RunContext
from tezip.archive import read_model
from tezip.bounds import ErrorBound
from tezip.container.gop import GopRecord
from tezip.container.header import Header
from tezip.container.layout import MODEL_SECTION
from tezip.container.writer import ContainerWriter
from tezip.device import check_device
from tezip.devicearrays import host_array, on_gpu
from tezip.errors import OptionError, TezipWarning
from tezip.gops import GopPolicy, fewest_gops, plan
from tezip.io import ArraySource, FrameSource, open_source
from tezip.pipeline import Encoding, Pipeline
from tezip.quantize import Quantizer, make_quantizer
from tezip.registry import Registry, get_registry

DEFAULT_ENTROPY = "tezip.rans"
#: speed / ratio levels (as zstd's): 1 is fastest, 9 smallest; the default holds tezip's
#: speed targets (BENCHMARKS.md)
LEVELS = range(1, 10)
DEFAULT_LEVEL = 5
#: from this level on, every built-in predictor codes each GOP in full and the smallest wins
THOROUGH_LEVEL = 8
#: from this level on, ``auto`` offers the screened predictors too (motion compensation)
SCREENED_LEVEL = 4
#: from this level on, bounded integers may have GOPs coded lossless (format 1.2) where the
#: entropy stage can weigh them (``ranks_quantizations``): weighing costs a trial per GOP
#: and, where the two come close, a second draft, which levels 1-3 do not spend
LOSSLESS_GOPS_LEVEL = 4
DEFAULT_SPATIAL = "tezip.lorenzo"

#: what ``tezip.pack`` reads frames from
PackInput = np.ndarray | str | os.PathLike[str] | FrameSource


def frame_source(data: PackInput) -> FrameSource:
    """``data`` as a frame source: an array (also one on a GPU, copied to the host), a path
    any input plugin reads, or a source."""
    if isinstance(data, FrameSource):
        return data
    if isinstance(data, np.ndarray) or on_gpu(data):
        return ArraySource(host_array(data))
    return open_source(data)


def _predictor_ids(
    registry: Registry, predictor: str, screened: bool
) -> tuple[list[str], set[str]]:
    """Candidate predictors chosen among per GOP, from a comma-separated list of ids, in
    which ``auto`` stands for tezip's own point-wise predictors and, with ``screened``, its
    screened ones (so that what an archive needs to decode does not depend on which
    third-party plugins happened to be installed); and the ids that only ``auto`` offered."""
    automatic = sorted(
        i
        for i, cls in registry.predictors.items()
        if (cls.pointwise or (screened and cls.screened)) and i.startswith("tezip.")
    )
    names = [name.strip() for name in predictor.split(",") if name.strip()]
    if not names:
        raise OptionError(
            f"names no predictor, got {predictor!r}; give 'auto' or ids such as tezip.linear",
            "predictor",
        )
    expanded = [i for name in names for i in (automatic if name == "auto" else [name])]
    return list(dict.fromkeys(expanded)), set(automatic) - set(names)


def _predictors(
    registry: Registry, predictor: str, options: dict[str, Any] | None, screened: bool
) -> tuple[list[Predictor], set[str]]:
    """The candidate predictors (``auto`` with its screened ones where ``screened``), each
    given the ``options`` it declares, and the ids that only ``auto`` offered; an option that
    no candidate declares is an ``OptionError`` naming what each one takes."""
    ids, offered = _predictor_ids(registry, predictor, screened)
    classes = {i: registry.predictor_class(i) for i in ids}
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
    ], offered


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


def _predictor_record(predictor: Any) -> dict[str, Any]:
    record = predictor.describe()
    if predictor.fingerprint is not None:
        record["fingerprint"] = predictor.fingerprint
    if predictor.device is not None:
        record["device"] = predictor.device
    return record


@dataclass
class Packer:
    """A pack's header and pipeline, built once: GOPs are encoded from it in any thread, and
    written in any order."""

    header: Header
    pipeline: Pipeline
    quantizer: Quantizer
    policy: GopPolicy
    #: the candidate predictors, bound to the device and models the pack was given
    predictors: Sequence[Predictor]
    embed_model: bool = False
    #: fingerprints of the models written so far (:meth:`write`)
    _embedded: set[str | None] = field(default_factory=set)

    @classmethod
    def from_header(cls, header: Header, encoding: Encoding | None = None) -> Packer:
        """The packer a worker rebuilds from a header (classical predictors; no models)
        and the pack's ``encoding``."""
        pipeline = Pipeline.from_header(header, get_registry(), encoding=encoding)
        policy = GopPolicy(header.gop.get("policy") == "auto", int(header.gop["size"]))
        return cls(header, pipeline, pipeline.quantizer, policy, pipeline.predictors)

    def groups(
        self, source: FrameSource, start: int = 0, stop: int | None = None
    ) -> Iterator[tuple[int, np.ndarray]]:
        """``(first frame, frames)`` of each GOP of frames ``start:stop`` of ``source``."""
        stop = len(source) if stop is None else stop
        part = source if (start, stop) == (0, len(source)) else FrameRange(source, start, stop)
        estimate = self.pipeline.entropy.estimate
        for first, frames in plan(part, self.policy, self.quantizer, estimate):
            yield start + first, frames

    def fewest_gops(self, source: FrameSource) -> int:
        """The fewest GOPs :meth:`groups` can cut ``source`` into."""
        return fewest_gops(len(source), source.frame_shape, source.dtype, self.policy)

    def encode(self, first: int, frames: np.ndarray) -> GopRecord:
        """Code the GOP of ``frames`` starting at frame ``first`` (thread-safe)."""
        return self.pipeline.encode(frames, first)

    def encode_batch(self, groups: Sequence[tuple[int, np.ndarray]]) -> list[GopRecord]:
        """Code GOPs ``(first frame, frames)`` in one batch (for a GPU), the bytes of
        :meth:`encode`."""
        return self.pipeline.encode_batch(groups)

    def write(self, writer: ContainerWriter, record: GopRecord) -> None:
        """Add a coded GOP to ``writer`` (in any order), after the model it needs when the
        model is embedded and not yet written."""
        used = self.predictors[record.predictor]
        model_file = used.model_file() if self.embed_model else None
        if model_file is not None and used.fingerprint not in self._embedded:
            writer.add_section(MODEL_SECTION, model_file)  # before the first GOP using it
            self._embedded.add(used.fingerprint)
        writer.add_gop(record.first, record.count, record.encode())


class FrameRange(FrameSource):
    """Frames ``start:stop`` of another source."""

    def __init__(self, source: FrameSource, start: int, stop: int) -> None:
        source.check_range(start, stop)
        self._source, self._start, self._stop = source, start, stop
        self.frame_shape, self.dtype = source.frame_shape, source.dtype

    def __len__(self) -> int:
        return self._stop - self._start

    def read(self, start: int, stop: int) -> np.ndarray:
        self.check_range(start, stop)
        return self._source.read(self._start + start, self._start + stop)

    def describe(self) -> dict[str, Any]:
        return self._source.describe()


@dataclass
class Settings:
    """A pack's options, checked and turned into the objects they name (:func:`configure`):
    everything a :class:`Packer` needs but the input."""

    registry: Registry
    bound: ErrorBound
    policy: GopPolicy
    predictors: list[Predictor]
    stages: list[ArrayToArrayStage | ArrayToBytesStage]
    context: RunContext
    encoding: Encoding
    embed_model: bool
    grid_phase: bool
    lossless_gops: bool
    #: ids of the predictors that only ``auto`` offered: left out for frames they are not
    #: useful for (``Predictor.useful_for``)
    offered: frozenset[str] = frozenset()

    def quantizer(
        self, bound: ErrorBound, dtype: np.dtype, value_range: tuple[float, float] | None
    ) -> Quantizer:
        """The quantizer of ``bound`` (fitted to the data) for data of ``dtype`` and
        ``value_range``, its grid placed as these options say."""
        return make_quantizer(bound, dtype, value_range, self.grid_phase, self.lossless_gops)

    def packer(
        self, frames: FrameSource, quantizer: Quantizer, policy: GopPolicy | None = None
    ) -> Packer:
        """The header and pipeline for ``frames`` quantized by ``quantizer`` (cut into GOPs
        by ``policy``, the options' by default)."""
        shape = tuple(frames.frame_shape)
        policy = (policy or self.policy).for_frames(shape)
        predictors = [p for p in self.predictors if p.id not in self.offered or p.useful_for(shape)]
        header = Header(
            frames=len(frames),
            frame_shape=shape,
            dtype=frames.dtype.name,
            source=frames.describe(),
            bound=self.bound.record(getattr(quantizer, "tolerance", None)),
            quantizer=quantizer.configuration,
            predictors=[_predictor_record(p) for p in predictors],
            stages=[s.describe() for s in self.stages],
            gop=policy.record(),
            writer=f"tezip {__version__}",
        )
        pipeline = Pipeline.from_header(header, self.registry, self.context, self.encoding)
        return Packer(header, pipeline, quantizer, policy, predictors, self.embed_model)


def configure(
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
    registry: Registry | None = None,
    grid_phase: bool = True,
    lossless_gops: bool = True,
) -> Settings:
    """``tezip.pack``'s options, checked (``OptionError``) without touching any input."""
    registry = registry or get_registry()
    bound = ErrorBound.from_options(lossless=lossless, abs=abs, rel=rel, pwrel=pwrel)
    policy = GopPolicy.parse(gop)
    screened = isinstance(level, int) and level >= SCREENED_LEVEL
    predictors, offered = _predictors(registry, predictor, predictor_options, screened)
    entropy, entropy_options = level_coder(level, entropy, entropy_options)
    stages = _stages(registry, entropy, entropy_options, spatial)
    coder = stages[-1]
    assert isinstance(coder, ArrayToBytesStage)  # _stages made it so
    lossless_gops = lossless_gops and level >= LOSSLESS_GOPS_LEVEL and coder.ranks_quantizations
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
            stacklevel=4,  # the caller of tezip.pack
        )
    encoding = Encoding(level >= THOROUGH_LEVEL, tuple(entropy_options.items()))
    return Settings(
        registry,
        bound,
        policy,
        predictors,
        stages,
        context,
        encoding,
        embed_model,
        grid_phase,
        lossless_gops,
        frozenset(offered),
    )


def prepare(
    data: PackInput, settings: Settings | None = None, **options: Any
) -> tuple[Packer, FrameSource]:
    """The packer for ``data`` with ``tezip.pack``'s ``options`` (or ``settings`` made from
    them), and ``data`` as a frame source. Every option is checked before the input is
    opened; then the input is read once more where the bound needs its range."""
    settings = settings or configure(**options)
    frames = frame_source(data)
    bound = settings.bound
    stats = frames.value_stats() if bound.needs_range else None
    value_range = None if stats is None else (stats.low, stats.high)
    # fitted here, so that its warnings name the caller of tezip.pack / encode
    quantizer = settings.quantizer(bound.fitted(stats), frames.dtype, value_range)
    return settings.packer(frames, quantizer), frames
