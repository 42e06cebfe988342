"""Fitting a PredNet to frame sequences: seeded, resumable, best checkpoint by validation loss."""

from __future__ import annotations

import math
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from tezip.atomic import create_file, publish, remove_stale, temporary_path
from tezip.errors import InputError, ModelError
from tezip.parallel import check_threads
from tezip_prednet.architecture import BASES, PRESETS, Architecture
from tezip_prednet.clips import Clip, crop_side, cut, load_sequences, split
from tezip_prednet.modelfile import ModelFile
from tezip_prednet.models import build, to_model_file
from tezip_prednet.torchenv import describe_device, require_torch, torch_device, use_threads

if TYPE_CHECKING:
    from torch import Tensor
    from torch.optim import Optimizer

    from tezip_prednet.network import PredNet


class Progress(Protocol):
    """What ``train`` reports as it goes."""

    def begin(self, device: str, crop: int, epochs: int) -> None:
        """Training starts on ``device`` (e.g. ``cuda (NVIDIA H100)``) with square crops of
        side ``crop``; its last epoch is ``epochs`` (``--steps`` may end it sooner)."""

    def begin_epoch(self, epoch: int, batches: int) -> None:
        """Epoch ``epoch`` (from 1) starts; it has ``batches`` optimiser steps."""

    def step(self, loss: float) -> None:
        """One optimiser step finished with this training loss."""

    def end_epoch(self, epoch: int, loss: float, validation: float, improved: bool) -> None:
        """Mean training loss, validation loss, and whether the model file was replaced."""


@dataclass(frozen=True)
class TrainConfig:
    """Options of ``tezip train``."""

    inputs: tuple[str, ...]
    output: str
    epochs: int = 50
    arch: str = "slim"
    nt: int = 10
    seed: int = 0
    #: crop side; ``None``: chosen from the frames (``clips.crop_side``)
    crop: int | None = None
    crops: int = 4
    lr: float = 1e-3
    validation: float = 0.15
    device: str = "auto"
    per_channel: bool = False
    resume: str | None = None
    init: str | None = None
    base: str = "previous"
    #: stop after this many optimiser steps (the epoch in progress ends early)
    steps: int | None = None
    #: replace an existing model file
    force: bool = False
    #: CPU threads (``None``: all cores)
    threads: int | None = None


def checkpoint_path(output: str) -> Path:
    """Where the last epoch's state is kept for ``--resume``."""
    return Path(output + ".ckpt")


def train(config: TrainConfig, progress: Progress | None = None) -> float:
    """Train and write the best model to ``config.output``; returns its validation loss."""
    torch = require_torch()
    from tezip_prednet.network import PredNet

    if config.arch not in PRESETS:
        raise InputError(f"--arch must be one of {', '.join(PRESETS)}, got {config.arch!r}")
    if config.base not in BASES:
        raise InputError(f"--base must be one of {', '.join(BASES)}, got {config.base!r}")
    if config.steps is not None and config.steps < 1:
        raise InputError(f"--steps must be at least 1, got {config.steps}")
    _check_output(config)
    use_threads(torch, check_threads(config.threads))
    device = torch_device(config.device)
    sequences = load_sequences(list(config.inputs), config.per_channel)
    clips, validation = split(cut(sequences, config.nt), config.validation, config.seed)
    torch.manual_seed(config.seed)
    architecture = Architecture.preset(config.arch, sequences[0].shape[1], base=config.base)
    network = PredNet(architecture).to(device)
    optimizer = torch.optim.Adam(network.parameters(), lr=config.lr)
    first, best = 0, float("inf")
    if config.init:
        _load_weights(config.init, network)
    if config.resume:
        first, best = _resume(config.resume, network, optimizer)
    size = crop_side(config.crop, sequences, architecture.multiple)
    remaining = config.steps
    output, replace = Path(config.output), _may_replace(config)
    if progress:
        progress.begin(describe_device(device), size, _last_epoch(config, first, len(clips)))
    for epoch in range(first, config.epochs):
        batches = len(clips) if remaining is None else min(len(clips), remaining)
        if not batches:
            break
        rng = np.random.default_rng((config.seed, epoch))
        torch.manual_seed(config.seed * 100_003 + epoch)
        for group in optimizer.param_groups:  # cosine schedule
            group["lr"] = config.lr * 0.5 * (1 + math.cos(math.pi * epoch / config.epochs))
        network.train()
        losses = []
        if progress:
            progress.begin_epoch(epoch + 1, batches)
        for index in rng.permutation(len(clips))[:batches]:
            batch = torch.from_numpy(clips[index].crops(size, config.crops, rng)).to(device)
            loss = _loss(network, batch)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
            if progress:
                progress.step(losses[-1])
        if remaining is not None:
            remaining -= batches
        score = _validate(network, validation, size, device)
        improved = score < best
        training = {
            "epoch": epoch + 1,
            "validation_loss": score,
            "config": asdict(config),
            "crop": size,
            "sequences": [list(s.shape) for s in sequences],
        }
        if improved:
            best = score
            _write(output, to_model_file(network, {**training, "best": best}), replace)
            replace = True  # the model at the output is now this training's own
        _write(checkpoint_path(config.output), _checkpoint(network, optimizer, training, best))
        if progress:
            progress.end_epoch(epoch + 1, float(np.mean(losses)), score, improved)
    return best


def _may_replace(config: TrainConfig) -> bool:
    """Whether an existing model at the output may be replaced: with ``force``, or when
    resuming from the output's own checkpoint (continuing that training)."""
    return config.force or (
        config.resume is not None
        and Path(config.resume).resolve() == checkpoint_path(config.output).resolve()
    )


def _exists(output: Path) -> InputError:
    return InputError(
        f"{output} already exists; archives packed with it need it to unpack "
        "(use --force to replace it)"
    )


def _check_output(config: TrainConfig) -> None:
    """Refuse before any work to replace a model without ``force`` (archives packed with it
    need it), or to write where the model cannot be written. Resuming from the output's own
    checkpoint continues that training and may replace its model."""
    output = Path(config.output)
    if output.is_dir():
        raise InputError(f"{output} is a folder, not a model file path")
    if output.exists() and not _may_replace(config):
        raise _exists(output)
    folder = output.parent
    if not folder.is_dir():
        raise InputError(f"{folder}: output folder does not exist")
    remove_stale(folder)
    try:
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        raise InputError(f"{folder}: cannot write the model there ({exc.strerror})") from None


def _last_epoch(config: TrainConfig, first: int, batches: int) -> int:
    """The number of the last epoch that will run, ``--steps`` counted."""
    if config.steps is None:
        return config.epochs
    return min(config.epochs, first + -(-config.steps // batches))


def _loss(network: PredNet, batch: Tensor) -> Tensor:
    """Prediction error of every frame after the first (multi-step), as the coder sees it.

    Mean absolute error plus that of its 2-D Lorenzo difference: the spatial stage removes
    smooth errors, so fine-scale noise in a prediction costs more than a smooth offset.
    """
    error = network(batch)[:, 1:] - batch[:, 1:]
    lorenzo = error[..., 1:, 1:] - error[..., :-1, 1:] - error[..., 1:, :-1] + error[..., :-1, :-1]
    return error.abs().mean() + lorenzo.abs().mean()


def _validate(network: PredNet, clips: list[Clip], size: int, device: str) -> float:
    torch = require_torch()
    network.eval()
    with torch.no_grad():
        losses = [
            float(_loss(network, torch.from_numpy(c.crops(size, 1, None)).to(device)))
            for c in clips
        ]
    return float(np.mean(losses))


def _checkpoint(
    network: PredNet, optimizer: Optimizer, training: dict[str, Any], best: float
) -> ModelFile:
    """The model plus Adam's moments, to resume from exactly where training stopped."""
    file = to_model_file(network, {**training, "best": best})
    for name, parameter in network.named_parameters():
        moments = optimizer.state.get(parameter, {})
        for key in ("exp_avg", "exp_avg_sq"):
            if key in moments:
                file.tensors[f"adam/{key}/{name}"] = moments[key].detach().cpu().numpy()
        if "step" in moments:
            file.training.setdefault("adam_step", float(moments["step"]))
    return file


def _load_weights(path: str, network: PredNet) -> ModelFile:
    """Copy a model file's (or checkpoint's) weights into ``network``; returns the file."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: cannot read model file ({exc.strerror})") from None
    file = ModelFile.from_bytes(data)
    weights = {k: v for k, v in file.tensors.items() if not k.startswith("adam/")}
    loaded = build(ModelFile(file.architecture, file.normalisation, file.training, weights))
    if loaded.architecture != network.architecture:
        raise ModelError(
            f"{path}: its architecture differs from --arch, --base and the inputs' channels"
        )
    network.load_state_dict(loaded.state_dict())
    return file


def _resume(path: str, network: PredNet, optimizer: Optimizer) -> tuple[int, float]:
    torch = require_torch()
    file = _load_weights(path, network)
    adam = {k: v for k, v in file.tensors.items() if k.startswith("adam/")}
    device = next(network.parameters()).device
    for name, parameter in network.named_parameters():
        if f"adam/exp_avg/{name}" in adam:
            optimizer.state[parameter] = {
                "step": torch.tensor(float(file.training.get("adam_step", 0))),
                "exp_avg": torch.from_numpy(adam[f"adam/exp_avg/{name}"].copy()).to(device),
                "exp_avg_sq": torch.from_numpy(adam[f"adam/exp_avg_sq/{name}"].copy()).to(device),
            }
    return int(file.training.get("epoch", 0)), float(file.training.get("best", float("inf")))


def _write(path: Path, file: ModelFile, overwrite: bool = True) -> None:
    """Give ``path`` the contents of ``file`` atomically; a failure leaves no temporary file
    and names ``path``. Without ``overwrite``, a file that appeared at ``path`` meanwhile (a
    concurrent ``tezip train``) is kept and refused, as ``_check_output`` refuses one."""
    temporary = temporary_path(path, ".tmp")
    try:
        with create_file(temporary) as handle:
            handle.write(file.to_bytes())
        publish(temporary, path, overwrite)
    except BaseException as exc:
        temporary.unlink(missing_ok=True)
        if isinstance(exc, FileExistsError):
            raise _exists(path) from None
        if isinstance(exc, OSError):
            raise OSError(exc.errno, exc.strerror, str(path)) from None
        raise
