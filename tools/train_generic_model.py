"""Train the generic PredNet model shipped in ``tezip_prednet/data/generic.tezm``.

A slim, single-channel model (colour data is seen one channel at a time) fitted to the first
half of every core dataset (BENCHMARKS.md, Reproduce), so ``--predictor
tezip.prednet`` works without training. Seeded, so a rerun on a CPU gives the same file.

    python tools/train_generic_model.py --epochs 30
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

from tezip_prednet.command import ProgressBars
from tezip_prednet.training import TrainConfig, checkpoint_path, train

DATA = Path("/tmp/tezip-bench-data")
DATASETS = ("carphone", "cell_timelapse", "aps_saxs", "grayscott")
OUTPUT = Path(__file__).resolve().parents[1] / "plugins/tezip_prednet/data/generic.tezm"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--crop", type=int, default=32)
    parser.add_argument("--output", type=Path, default=OUTPUT)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        inputs = []
        for name in DATASETS:
            frames = np.load(args.data / name / f"{name}.npy")
            path = Path(folder) / f"{name}-first-half.npy"
            np.save(path, frames[: len(frames) // 2])
            inputs.append(str(path))
        config = TrainConfig(
            tuple(inputs),
            str(args.output),
            epochs=args.epochs,
            crop=args.crop,
            nt=8,
            per_channel=True,
            device="cpu",
            force=True,  # replacing the shipped model is the point
        )
        best = train(config, ProgressBars())
    checkpoint_path(str(args.output)).unlink(missing_ok=True)
    print(f"{args.output}: validation loss {best:.5f}", file=sys.stderr)


if __name__ == "__main__":
    main()
