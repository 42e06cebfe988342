"""Training data: sequences cut into normalised clips of ``nt`` frames and random crops."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tezip.errors import InputError
from tezip.registry import get_registry
from tezip_prednet.normalise import Normaliser

#: the default crop side for frames larger than it
DEFAULT_CROP = 128


@dataclass(frozen=True)
class Clip:
    """``nt`` consecutive frames ``(T, C, H, W)`` of one sequence, normalised by the first."""

    frames: np.ndarray

    def crops(self, size: int, count: int, rng: np.random.Generator | None) -> np.ndarray:
        """``count`` crops ``(count, T, C, size, size)``: random, or centred without ``rng``."""
        frames = self.frames
        short = [(0, 0), (0, 0), *((0, max(0, size - n)) for n in frames.shape[2:])]
        if any(after for _, after in short):
            frames = np.pad(frames, short, mode="edge")
        height, width = frames.shape[2:]
        out = []
        for _ in range(count):
            if rng is None:
                top, left = (height - size) // 2, (width - size) // 2
            else:
                top = int(rng.integers(0, height - size + 1))
                left = int(rng.integers(0, width - size + 1))
            out.append(frames[:, :, top : top + size, left : left + size])
        return np.stack(out).astype(np.float32)


def crop_side(crop: int | None, sequences: list[np.ndarray], multiple: int) -> int:
    """A multiple of ``multiple``: ``crop`` rounded down, or by default the frames' shorter
    side (at most ``DEFAULT_CROP``) rounded down, so that crops need no padding."""
    if crop is None:
        crop = min(DEFAULT_CROP, *(min(s.shape[2:]) for s in sequences))
    return max(multiple, crop // multiple * multiple)


def load_sequences(paths: list[str], per_channel: bool = False) -> list[np.ndarray]:
    """Every input as float64 ``(N, C, H, W)``; ``per_channel`` splits channels into sequences."""
    registry = get_registry()
    sequences = []
    for path in paths:
        source = registry.open_input(Path(path))
        frames = source.read(0, len(source)).astype(np.float64)
        if frames.ndim == 3:
            frames = frames[..., None]
        planes = frames.transpose(0, 3, 1, 2)
        if per_channel:
            sequences.extend(planes[:, c : c + 1] for c in range(planes.shape[1]))
        else:
            sequences.append(planes)
    if not sequences:
        raise InputError("no training inputs given")
    if len({s.shape[1] for s in sequences}) > 1:
        raise InputError("training inputs have different channel counts")
    if max(len(s) for s in sequences) < 2:
        raise InputError("training needs sequences of at least 2 frames")
    return sequences


def cut(sequences: list[np.ndarray], nt: int) -> list[Clip]:
    """Clips of ``min(nt, len)`` frames starting every ``nt // 2`` frames."""
    clips = []
    for sequence in sequences:
        length = min(nt, len(sequence))
        if length < 2:
            continue
        for start in range(0, len(sequence) - length + 1, max(1, length // 2)):
            frames = sequence[start : start + length]
            normaliser = Normaliser.from_keyframe(frames[0])
            clips.append(Clip(normaliser.forward(frames)))
    return clips


def split(clips: list[Clip], fraction: float, seed: int) -> tuple[list[Clip], list[Clip]]:
    """Seeded train / validation split; one clip serves as both when there is only one."""
    order = np.random.default_rng(seed).permutation(len(clips))
    count = min(len(clips) - 1, max(1, round(fraction * len(clips)))) if len(clips) > 1 else 0
    validation = [clips[i] for i in order[:count]]
    train = [clips[i] for i in order[count:]]
    return train, validation or train
