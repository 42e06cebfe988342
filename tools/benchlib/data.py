"""Benchmark inputs: resolve names and paths, load frames, crop (quick mode) or tile (scaling)."""

from __future__ import annotations

import os
import re
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

DATA_ROOT = Path(os.environ.get("TEZIP_BENCH_OUT", "/tmp/tezip-bench-data"))
CORE = ("carphone", "cell_timelapse", "aps_saxs", "grayscott")
IMAGE_SUFFIXES = {".png", ".tif", ".tiff", ".bmp", ".jpg", ".jpeg", ".pgm", ".ppm", ".webp"}


class DataError(Exception):
    """A dataset that cannot be found or read."""


@dataclass(frozen=True)
class DataSpec:
    """Where a dataset lives and how the benchmark reshapes it after loading."""

    name: str
    path: str  # a .npy file or a folder of images
    frames: int | None = None  # keep only the first N frames (quick mode)
    size: int | None = None  # centre-crop height and width to at most this (quick mode)
    tile_to: int | None = None  # repeat in time, forwards then backwards, to N frames

    def to_dict(self) -> dict:
        return asdict(self)


def resolve(arg: str) -> DataSpec:
    """A dataset name from get_data.py, a .npy file or an image folder."""
    path = Path(arg)
    if path.suffix == ".npy" and path.is_file():
        return DataSpec(path.stem, str(path))
    if path.is_dir():  # named with its parent: image folders are often just "png" or "frames"
        return DataSpec(f"{path.resolve().parent.name}-{path.name}", str(path))
    named = DATA_ROOT / arg / f"{arg}.npy"
    if named.is_file():
        return DataSpec(arg, str(named))
    raise DataError(
        f"{arg}: no such .npy file, image folder or dataset under {DATA_ROOT} "
        "(materialise the datasets first: BENCHMARKS.md, Reproduce)"
    )


def _natural_key(name: str) -> list:
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", name)]


def _load_folder(folder: Path) -> np.ndarray:
    from PIL import Image

    files = sorted(
        (f for f in folder.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES),
        key=lambda f: _natural_key(f.name),
    )
    if not files:
        raise DataError(f"{folder}: no images")
    frames = []
    for f in files:
        with Image.open(f) as im:
            frames.append(np.asarray(im))
        if frames[-1].shape != frames[0].shape or frames[-1].dtype != frames[0].dtype:
            raise DataError(
                f"{f}: {frames[-1].shape} {frames[-1].dtype} differs from the "
                f"first image's {frames[0].shape} {frames[0].dtype}"
            )
    return np.stack(frames)


def _pingpong(n: int, total: int) -> np.ndarray:
    """Frame indices 0..n-1, n-2..1, 0.. repeated: time runs on without a cut."""
    if n == 1:
        return np.zeros(total, dtype=np.intp)
    i = np.arange(total) % (2 * n - 2)
    return np.where(i < n, i, 2 * n - 2 - i)


def load(spec: DataSpec) -> np.ndarray:
    """The frames of ``spec`` in memory (never a memory map), shape (T, H, W) or (T, H, W, C)."""
    path = Path(spec.path)
    x = np.load(path, mmap_mode="r") if path.suffix == ".npy" else _load_folder(path)
    if x.ndim not in (3, 4):
        raise DataError(f"{path}: shape {x.shape} is not (frames, H, W[, C])")
    if spec.frames:
        x = x[: spec.frames]
    if spec.size:
        h0, w0 = (max(0, (d - spec.size) // 2) for d in x.shape[1:3])
        x = x[:, h0 : h0 + spec.size, w0 : w0 + spec.size]
    if spec.tile_to:
        x = x[_pingpong(len(x), spec.tile_to)]
    return np.array(x, order="C")


def value_range(x: np.ndarray) -> tuple[float, float]:
    """Minimum and maximum of the finite values, as float64 (0, 0 when there are none)."""
    if np.issubdtype(x.dtype, np.integer):
        return float(x.min()), float(x.max())
    finite = x[np.isfinite(x)]
    return (float(finite.min()), float(finite.max())) if finite.size else (0.0, 0.0)
