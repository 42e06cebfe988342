"""The ``tezip train`` command: fit a PredNet model file to frame sequences."""

from __future__ import annotations

import sys
from typing import Any

import click

from tezip.device import DEVICES
from tezip_prednet.architecture import BASES, PRESETS
from tezip_prednet.clips import DEFAULT_CROP


@click.command("train")
@click.argument("inputs", nargs=-1, required=True, type=click.Path(path_type=str))
@click.option("-o", "--output", required=True, type=click.Path(path_type=str), help="Model file.")
@click.option("--epochs", type=click.IntRange(1), default=50, show_default=True)
@click.option("--arch", type=click.Choice(sorted(PRESETS)), default="slim", show_default=True)
@click.option(
    "--base",
    type=click.Choice(BASES),
    default="previous",
    show_default=True,
    help="What the network corrects: the previous frame, or the linear extrapolation of two.",
)
@click.option("--nt", type=click.IntRange(2), default=10, show_default=True, help="Clip frames.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option(
    "--crop",
    type=click.IntRange(1),
    help=f"Crop side (default: the frames' shorter side, at most {DEFAULT_CROP}).",
)
@click.option("--steps", type=click.IntRange(1), help="Stop after this many optimiser steps.")
@click.option("--lr", type=click.FloatRange(0, min_open=True), default=1e-3, show_default=True)
@click.option("--per-channel", is_flag=True, help="Train a 1-channel model on every channel.")
@click.option("--resume", type=click.Path(path_type=str), help="Checkpoint (OUTPUT.ckpt).")
@click.option("--init", type=click.Path(path_type=str), help="Start from this model's weights.")
@click.option(
    "--device",
    type=click.Choice(DEVICES),
    default="auto",
    show_default=True,
    help="Where training runs.",
)
@click.option("-f", "--force", is_flag=True, help="Replace an existing model file.")
@click.option(
    "-T", "--threads", type=click.IntRange(1), help="CPU threads to use (default: all cores)."
)
@click.option("-q", "--quiet", is_flag=True, help="No progress output.")
def train_command(
    inputs: tuple[str, ...],
    output: str,
    epochs: int,
    arch: str,
    base: str,
    nt: int,
    seed: int,
    crop: int | None,
    steps: int | None,
    lr: float,
    per_channel: bool,
    resume: str | None,
    init: str | None,
    device: str,
    force: bool,
    threads: int | None,
    quiet: bool,
) -> None:
    """Train a PredNet model on INPUTS (.npy files or image folders) for tezip.prednet."""
    from tezip_prednet.training import TrainConfig, train

    config = TrainConfig(
        inputs,
        output,
        epochs,
        arch,
        nt,
        seed,
        crop,
        lr=lr,
        device=device,
        per_channel=per_channel,
        resume=resume,
        init=init,
        base=base,
        steps=steps,
        force=force,
        threads=threads,
    )
    progress = ProgressBars() if sys.stderr.isatty() else ProgressLines()
    best = train(config, None if quiet else progress)
    if not quiet:
        click.echo(f"{output}: best validation loss {best:.5f}", err=True)


class ProgressLines:
    """Progress as lines on stderr (for logs): the setup, about every tenth of an epoch,
    and each epoch's result."""

    def __init__(self) -> None:
        self.epochs = self.epoch = self.batches = self.count = 0
        self.total = 0.0

    def begin(self, device: str, crop: int, epochs: int) -> None:
        self.epochs = epochs
        click.echo(
            f"training on {device} with {crop} x {crop} crops until epoch {epochs}", err=True
        )

    def begin_epoch(self, epoch: int, batches: int) -> None:
        self.epoch, self.batches, self.count, self.total = epoch, batches, 0, 0.0

    def step(self, loss: float) -> None:
        self.count, self.total = self.count + 1, self.total + loss
        self.show_step()

    def show_step(self) -> None:
        if self.count < self.batches and self.count % max(1, self.batches // 10) == 0:
            click.echo(
                f"epoch {self.epoch}/{self.epochs}  step {self.count}/{self.batches}  "
                f"loss {self.total / self.count:.5f}",
                err=True,
            )

    def end_epoch(self, epoch: int, loss: float, validation: float, improved: bool) -> None:
        mark = "  (best, saved)" if improved else ""
        click.echo(
            f"epoch {epoch}/{self.epochs}  train {loss:.5f}  validation {validation:.5f}{mark}",
            err=True,
        )


class ProgressBars(ProgressLines):
    """On a terminal: one progress bar per epoch with the running loss instead of lines."""

    def __init__(self) -> None:
        super().__init__()
        self.bar: Any = None

    def begin_epoch(self, epoch: int, batches: int) -> None:
        super().begin_epoch(epoch, batches)
        self.bar = click.progressbar(
            length=batches,
            label=f"epoch {epoch}/{self.epochs}",
            item_show_func=lambda _: f"loss {self.total / max(self.count, 1):.5f}",
            file=sys.stderr,
        )
        self.bar.__enter__()

    def show_step(self) -> None:
        self.bar.update(1)

    def end_epoch(self, epoch: int, loss: float, validation: float, improved: bool) -> None:
        self.bar.__exit__(None, None, None)
        super().end_epoch(epoch, loss, validation, improved)
