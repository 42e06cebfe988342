"""The ``tezip train`` command: fit a PredNet model file to frame sequences."""

from __future__ import annotations

import sys
from typing import Any

import click

from tezip.device import DEVICES
from tezip_prednet.architecture import BASES, PRESETS


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
@click.option("--crop", type=click.IntRange(1), default=128, show_default=True, help="Crop side.")
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
@click.option("-q", "--quiet", is_flag=True, help="No progress output.")
def train_command(
    inputs: tuple[str, ...],
    output: str,
    epochs: int,
    arch: str,
    base: str,
    nt: int,
    seed: int,
    crop: int,
    lr: float,
    per_channel: bool,
    resume: str | None,
    init: str | None,
    device: str,
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
    )

    best = train(config, None if quiet else ProgressBars(epochs))
    if not quiet:
        click.echo(f"{output}: best validation loss {best:.5f}", err=True)


class ProgressBars:
    """One progress bar per epoch on stderr with the running loss, then a summary line."""

    def __init__(self, epochs: int) -> None:
        self.epochs = epochs
        self.bar: Any = None
        self.total = self.count = 0.0

    def begin_epoch(self, epoch: int, batches: int) -> None:
        self.total = self.count = 0.0
        self.bar = click.progressbar(
            length=batches,
            label=f"epoch {epoch}/{self.epochs}",
            item_show_func=lambda _: f"loss {self.total / max(self.count, 1):.5f}",
            file=sys.stderr,
        )
        self.bar.__enter__()

    def step(self, loss: float) -> None:
        self.total, self.count = self.total + loss, self.count + 1
        self.bar.update(1)

    def end_epoch(self, epoch: int, loss: float, validation: float, improved: bool) -> None:
        self.bar.__exit__(None, None, None)
        mark = "  (best, saved)" if improved else ""
        click.echo(
            f"epoch {epoch}/{self.epochs}  train {loss:.5f}  validation {validation:.5f}{mark}",
            err=True,
        )
