"""Ratio and speed of ``tezip.density`` against zstd level 19 on real residual codes.

Residual codes are made as the core makes them for the ``tezip.previous`` predictor: each
GOP's codes from tezip's own quantizer (``tezip.quantize.make_quantizer`` for the bound, ``rel``
resolved on the value range of the frames benchmarked), minus the previous frame of the same
GOP, wrapped (the first frame of a GOP is predicted as 0). The baseline is zstd-19 on the
zig-zagged residual bytes, byte-shuffled for wider codes (the ``tezip.zstd`` stage at level
19). Prints a Markdown table; speeds are MB/s of input frame data (the original dtype), best of
``--repeat`` runs.

    python tools/bench_entropy.py [--frames 32] [--gop 32] [--repeat 2] [--tile 8] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np

from tezip.bounds import ErrorBound
from tezip.quantize import Quantizer, make_quantizer
from tezip_density import DensityStage, entropy
from tezip_zstd.stage import ZstdStage

DATA = Path("/tmp/tezip-bench-data")
INT_BOUNDS: tuple[tuple[str, float | None], ...] = (("lossless", None), ("abs 1", 1), ("abs 4", 4))
FLOAT_BOUNDS: tuple[tuple[str, float | None], ...] = (
    ("lossless", None),
    ("rel 1e-2", 1e-2),
    ("rel 1e-3", 1e-3),
    ("rel 1e-4", 1e-4),
)


def quantizer_of(frames: np.ndarray, label: str, bound: float | None) -> Quantizer:
    """tezip's quantizer for a bound row of the table (``abs``/``rel``/lossless)."""
    if bound is None:
        options = ErrorBound.from_options(lossless=True)
    elif label.startswith("rel"):
        options = ErrorBound.from_options(rel=bound)
    else:
        options = ErrorBound.from_options(abs=bound)
    value_range = (float(frames.min()), float(frames.max()))
    return make_quantizer(options, frames.dtype, value_range)


def residuals_of(codes: np.ndarray) -> np.ndarray:
    """Previous-frame residuals of one GOP, wrapped; the first frame is kept."""
    out = codes.copy()
    np.subtract(codes[1:], codes[:-1], out=out[1:])
    return out


def timed(function, repeat: int) -> tuple[float, object]:
    best, result = math.inf, None
    for _ in range(repeat):
        start = time.perf_counter()
        result = function()
        best = min(best, time.perf_counter() - start)
    return best, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=32, help="frames per dataset (0: all)")
    parser.add_argument("--gop", type=int, default=32)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--tile", type=int, default=8)
    parser.add_argument("--only", help="comma-separated dataset names")
    parser.add_argument(
        "--threads", type=int, help=f"threads of tezip.density (default {entropy.THREADS})"
    )
    args = parser.parse_args()
    if args.threads:
        entropy.THREADS = args.threads
    stage, zstd = DensityStage(tile=args.tile), ZstdStage(level=19)
    index = json.loads((DATA / "index.json").read_text())
    names = args.only.split(",") if args.only else list(index)
    print(
        "| dataset | bound | codes | zstd-19 ratio | density ratio | gain | enc MB/s | dec MB/s |"
    )
    print("|---|---|---|---|---|---|---|---|")
    gains = []
    for name in names:
        frames = np.load(DATA / name / f"{name}.npy", mmap_mode="r")
        frames = np.asarray(frames[: args.frames or None])
        bounds = FLOAT_BOUNDS if frames.dtype.kind == "f" else INT_BOUNDS
        for label, bound in bounds:
            quantizer = quantizer_of(frames, label, bound)
            gops = [
                residuals_of(quantizer.quantize(frames[i : i + args.gop]).codes)
                for i in range(0, len(frames), args.gop)
            ]
            base = sum(len(zstd.encode(g)) for g in gops)
            enc_time, blobs = timed(lambda g=gops: [stage.encode(x) for x in g], args.repeat)
            dec_time, decoded = timed(
                lambda b=blobs, g=gops: [
                    stage.decode(x, y.shape, y.dtype) for x, y in zip(b, g, strict=True)
                ],
                args.repeat,
            )
            assert all(np.array_equal(x, y) for x, y in zip(decoded, gops, strict=True))
            size = sum(len(b) for b in blobs)
            gain = base / size
            gains.append(gain)
            mb = frames.nbytes / 1e6
            print(
                f"| {name} | {label} | {gops[0].dtype} | {frames.nbytes / base:.2f} "
                f"| {frames.nbytes / size:.2f} | {100 * (gain - 1):+.1f}% "
                f"| {mb / enc_time:.0f} | {mb / dec_time:.0f} |",
                flush=True,
            )
    geo = math.exp(sum(math.log(g) for g in gains) / len(gains))
    print(f"\ngeometric mean size gain over zstd-19: {100 * (geo - 1):+.1f}%")


if __name__ == "__main__":
    main()
