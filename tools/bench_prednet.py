"""PredNet vs previous frame: train on the first half of each dataset, pack the second half.

For every core dataset (BENCHMARKS.md, Reproduce) a slim single-channel PredNet
is fine-tuned from the generic model on the first half of the frames (about ``--batches``
steps; with ``--base linear`` a model correcting the linear extrapolation of the last two
frames is trained from scratch, as the generic model corrects the previous frame). The
second half is then packed at lossless and each lossy bound (integers: abs 1, 2, 4; floats:
rel 1e-4, 1e-3, 1e-2) with ``--predictor tezip.prednet --model``, with ``--predictor
tezip.prednet,auto`` (per GOP the smaller of PredNet and the best built-in predictor), with
the default ``auto`` (the built-in predictors alone, to tell the network's share of that
gain) and with ``--predictor tezip.previous``. Every archive is unpacked and checked
(bit-exact, or within the bound). Prints a Markdown table with the ratios, the gains and
the CPU frames/s of PredNet pack and unpack; ``--write`` replaces the "PredNet vs previous
frame" section of BENCHMARKS.md (", linear base" for ``--base linear``).

    python tools/bench_prednet.py --batches 1800 --write
"""

from __future__ import annotations

import argparse
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import tezip
from tezip_prednet.models import generic_model
from tezip_prednet.training import TrainConfig, checkpoint_path, train

DATA = Path("/tmp/tezip-bench-data")
DATASETS = ("carphone", "cell_timelapse", "aps_saxs", "grayscott")
ROOT = Path(__file__).resolve().parents[1]
HEADING = "## PredNet vs previous frame"
INTEGER_BOUNDS = ({}, {"abs": 1}, {"abs": 2}, {"abs": 4})
FLOAT_BOUNDS = ({}, {"rel": 1e-4}, {"rel": 1e-3}, {"rel": 1e-2})
#: the Row order: PredNet alone, PredNet or the built-in predictors per GOP, the built-in
#: predictors alone, the baseline
PREDICTORS = ("tezip.prednet", "tezip.prednet,auto", "auto", "tezip.previous")


@dataclass
class Row:
    dataset: str
    bound: str
    prednet: float
    fallback: float
    builtin: float
    previous: float
    pack_fps: float
    unpack_fps: float

    @property
    def gain(self) -> float:
        return self.prednet / self.previous - 1

    @property
    def fallback_gain(self) -> float:
        return self.fallback / self.previous - 1

    @property
    def builtin_gain(self) -> float:
        return self.builtin / self.previous - 1


def label(bound: dict[str, float]) -> str:
    return " ".join(f"{k} {v:g}" for k, v in bound.items()) or "lossless"


def check(decoded: np.ndarray, original: np.ndarray, bound: dict[str, float]) -> None:
    if not bound:
        assert decoded.tobytes() == original.tobytes(), "lossless round trip differs"
        return
    tolerance = bound.get("abs") or bound["rel"] * float(np.ptp(original.astype(np.float64)))
    error = np.abs(decoded.astype(np.float64) - original.astype(np.float64)).max()
    assert error <= tolerance, f"bound missed: {error} > {tolerance}"


def fit(name: str, first: np.ndarray, folder: Path, args: argparse.Namespace) -> Path:
    source, model = folder / f"{name}-train.npy", folder / f"{name}.tezm"
    np.save(source, first)
    init = None
    if args.base == "previous":
        init = folder / "generic.tezm"
        init.write_bytes(generic_model())
    length = min(args.nt, len(first))
    clips = len(range(0, len(first) - length + 1, max(1, length // 2)))
    clips *= first.shape[3] if first.ndim == 4 else 1
    epochs = max(2, -(-args.batches // max(1, clips - max(1, round(0.15 * clips)))))
    config = TrainConfig(
        (str(source),),
        str(model),
        epochs=epochs,
        crop=args.crop,
        nt=args.nt,
        per_channel=True,
        device="cpu",
        init=str(init) if init else None,
        lr=args.lr,
        base=args.base,
    )
    started = time.perf_counter()
    best = train(config)
    checkpoint_path(str(model)).unlink(missing_ok=True)
    seconds = time.perf_counter() - started
    print(f"{name}: {epochs} epochs in {seconds:.0f} s, validation loss {best:.5f}")
    return model


def measure(name: str, second: np.ndarray, model: Path, folder: Path) -> list[Row]:
    rows = []
    bounds = FLOAT_BOUNDS if second.dtype.kind == "f" else INTEGER_BOUNDS
    for bound in bounds:
        ratios, rates = {}, []
        for predictor in PREDICTORS:
            archive = folder / f"{name}.tez"
            options = {"model": model} if "prednet" in predictor else {}
            started = time.perf_counter()
            result = tezip.pack(
                second, archive, predictor=predictor, overwrite=True, **options, **bound
            )
            packed = time.perf_counter()
            decoded = tezip.unpack(archive, **options)
            unpacked = time.perf_counter()
            check(decoded, second, bound)
            ratios[predictor] = result.ratio
            if predictor == "tezip.prednet":
                rates = [len(second) / (packed - started), len(second) / (unpacked - packed)]
        row = Row(name, label(bound), *(ratios[p] for p in PREDICTORS), *rates)
        print(
            f"{row.dataset:15} {row.bound:12} {row.prednet:8.3f} {row.fallback:8.3f} "
            f"{row.builtin:8.3f} {row.previous:8.3f} {row.gain:+7.1%} {row.fallback_gain:+7.1%} "
            f"{row.builtin_gain:+7.1%}",
            flush=True,
        )
        rows.append(row)
    return rows


def table(rows: list[Row], args: argparse.Namespace) -> str:
    origin = (
        "fine-tuned from the generic model"
        if args.base == "previous"
        else "correcting the linear extrapolation of the last two frames, trained from scratch"
    )
    lines = [
        heading(args.base),
        "",
        f"`python tools/bench_prednet.py --batches {args.batches} --crop {args.crop} "
        f"--nt {args.nt} --base {args.base}` on this 2-core CPU. Model: slim PredNet "
        f"(channels 16/32/64, 0.77 M parameters, one channel at a time), {origin} on "
        "the first half of each dataset; the second half is packed (defaults otherwise: "
        "auto GOPs, Lorenzo + zstd). Ratio = original bytes / archive bytes; PredNet = "
        "`--predictor tezip.prednet`; +fallback = `--predictor tezip.prednet,auto` (per GOP "
        "the smaller of PredNet and the best built-in predictor); built-in = `--predictor auto` "
        "(zero / previous / linear per GOP, no network); gain = ratio / previous - 1 (target: "
        ">= +15%). Every archive was unpacked and checked. Frames/s: PredNet pack / unpack on "
        "the CPU.",
        "",
        "| dataset | bound | PredNet | +fallback | built-in | previous | gain PredNet "
        "| gain +fallback | gain built-in | pack f/s | unpack f/s |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r.dataset} | {r.bound} | {r.prednet:.3f} | {r.fallback:.3f} | {r.builtin:.3f} "
            f"| {r.previous:.3f} | {r.gain:+.1%} | {r.fallback_gain:+.1%} "
            f"| {r.builtin_gain:+.1%} | {r.pack_fps:.1f} | {r.unpack_fps:.1f} |"
        )
    return "\n".join(lines) + "\n"


def heading(base: str) -> str:
    return HEADING if base == "previous" else f"{HEADING}, linear base"


def write(section: str, base: str) -> None:
    """Replace this base's section of BENCHMARKS.md (up to the next section), or append it."""
    path = ROOT / "BENCHMARKS.md"
    text = path.read_text()
    title = heading(base) + "\n"
    if title in text:
        start = text.index(title)
        end = text.find("\n## ", start + len(title))
        rest = text[end:] if end >= 0 else ""
        text = text[:start] + section + rest
    else:
        text = text.rstrip("\n") + "\n\n" + section
    path.write_text(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--datasets", default=",".join(DATASETS))
    parser.add_argument("--batches", type=int, default=600, help="Training steps (about).")
    parser.add_argument("--crop", type=int, default=32)
    parser.add_argument("--nt", type=int, default=10)
    parser.add_argument("--lr", type=float, default=5e-4)
    parser.add_argument("--base", choices=("previous", "linear"), default="previous")
    parser.add_argument("--write", action="store_true", help="Update BENCHMARKS.md.")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        for dataset in args.datasets.split(","):
            frames = np.load(args.data / dataset / f"{dataset}.npy")
            half = len(frames) // 2
            model = fit(dataset, frames[:half], folder, args)
            rows.extend(measure(dataset, frames[half:], model, folder))
    section = table(rows, args)
    print(section)
    if args.write:
        write(section, args.base)


if __name__ == "__main__":
    main()
