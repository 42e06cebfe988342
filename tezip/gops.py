"""Keyframe policy: how the frame sequence is cut into independent groups of frames (GOPs).

``fixed`` cuts every N frames. ``auto`` also starts a new GOP where frames *become* cheaper
to code on their own (intra, spatial only) than predicted from the frame before, e.g. a scene
cut or a detector reset; the original TEZip's static and dynamic windows, but decided on the
estimated coded size rather than a threshold on the raw difference. A GOP whose frames are all
cheaper alone is cut every ``INTRA_GOP_BYTES`` of raw frames instead: the per-GOP predictor
choice codes it intra, so the cuts cost no prediction, and the shorter GOPs encode and decode
in parallel. ``auto`` shares frames evenly among the GOPs a stretch needs (120 frames at
most 64 to a GOP: 60 and 60, not 64 and 56), so that GOPs coded at once take equal time.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from tezip.costs import Estimate, row_pairs, spatial_cost
from tezip.errors import OptionError
from tezip.io import FrameSource
from tezip.quantize import Quantizer

#: raw bytes one GOP may hold (bounds memory for large frames)
MAX_GOP_BYTES = 64 * 1024 * 1024
#: raw bytes after which ``auto`` cuts a GOP of frames that are all cheaper coded alone
INTRA_GOP_BYTES = 2 * 1024 * 1024
DEFAULT_MAX_FRAMES = 64
#: ``auto`` with no length given lets a GOP of small frames grow past DEFAULT_MAX_FRAMES to
#: this many elements, so that what each GOP costs whatever its size (an entropy stage's
#: tables and its search on samples of tens of thousands of elements, a first frame that
#: nothing predicts) stays a small share
DEFAULT_GOP_ELEMENTS = 1 << 20


@dataclass(frozen=True)
class GopPolicy:
    """``size`` is the fixed interval, or the longest GOP ``auto`` may make; ``default``:
    ``auto`` with no length given, which :meth:`for_frames` settles for a frame shape."""

    auto: bool
    size: int
    default: bool = False

    @classmethod
    def parse(cls, value: int | str) -> GopPolicy:
        """Accept ``"auto"``, ``"auto:N"`` or a positive integer."""
        text = str(value).strip().lower()
        auto = text.startswith("auto")
        number = text.partition(":")[2] if auto else text
        try:
            size = int(number) if number else DEFAULT_MAX_FRAMES
        except ValueError:
            raise OptionError(
                f"must be a positive integer or 'auto', got {value!r}", "gop"
            ) from None
        if size < 1:
            raise OptionError(f"must be >= 1, got {size}", "gop")
        return cls(auto, size, auto and not number)

    def for_frames(self, frame_shape: tuple[int, ...]) -> GopPolicy:
        """The policy for frames of ``frame_shape``: with no length given, ``auto``'s longest
        GOP is DEFAULT_MAX_FRAMES frames or DEFAULT_GOP_ELEMENTS elements, the longer."""
        if not self.default:
            return self
        return GopPolicy(
            True, max(self.size, -(-DEFAULT_GOP_ELEMENTS // _frame_elements(frame_shape)))
        )

    def record(self) -> dict[str, object]:
        return {"policy": "auto" if self.auto else "fixed", "size": self.size}

    def frames_per_gop(self, frame_bytes: int, limit: int = MAX_GOP_BYTES) -> int:
        """The interval, reduced so that one GOP stays within ``limit`` raw bytes."""
        return max(1, min(self.size, limit // max(frame_bytes, 1)))


#: a GOP starts where intra coding costs less than this fraction of temporal prediction...
ONSET_RATIO = 0.75
#: ...after a frame that was at least as cheap to predict as to code alone (hysteresis),
#: and where the GOP it closes holds this many elements: the estimates of fewer are noise
#: (100,000 random frames of 2 x 2 cut into 12,984 GOPs), and the GOP would cost more
#: (its tables, its search) than the cut saves
ONSET_ELEMENTS = 1 << 13


def intra_to_temporal(
    frames: np.ndarray, before: np.ndarray, quantizer: Quantizer, estimate: Estimate = spatial_cost
) -> np.ndarray:
    """Per frame, estimated intra cost over the cost of predicting it from its predecessor.

    ``before`` holds the frame preceding ``frames[0]`` (or nothing at the start, which counts
    as predictable). Costs are estimated on the quantized codes of a sample of row pairs.
    """
    stack = np.concatenate([before, frames]) if len(before) else frames
    if stack.shape[1] < 2 or len(stack) < 2:
        return np.ones(len(frames))
    sample = quantizer.quantize(row_pairs(stack), phase=0).codes  # rows, not frames: no choice
    intra = estimate(sample[1:]) + 1.0
    ratios = intra / (estimate(sample[1:] - sample[:-1]) + 1.0)
    return ratios if len(before) else np.concatenate([[1.0], ratios])


def fewest_gops(
    frames: int, frame_shape: tuple[int, ...], dtype: np.dtype, policy: GopPolicy
) -> int:
    """The fewest GOPs :func:`plan` cuts ``frames`` frames into (it never makes a GOP longer
    than the policy's interval for their size)."""
    return -(-frames // policy.frames_per_gop(_frame_bytes(frame_shape, dtype)))


def _frame_bytes(frame_shape: tuple[int, ...], dtype: np.dtype) -> int:
    return _frame_elements(frame_shape) * np.dtype(dtype).itemsize


def _frame_elements(frame_shape: tuple[int, ...]) -> int:
    return max(1, int(np.prod(frame_shape)))


def even_share(frames: int, longest: int) -> int:
    """The first of the fewest GOPs of at most ``longest`` frames that hold ``frames``, their
    lengths differing by at most one."""
    return -(-frames // -(-frames // longest))


def plan(
    source: FrameSource, policy: GopPolicy, quantizer: Quantizer, estimate: Estimate = spatial_cost
) -> Iterator[tuple[int, np.ndarray]]:
    """Yield ``(first frame index, frames)`` for each GOP, reading each frame once;
    ``estimate`` is the entropy stage's cost estimate (it decides where ``auto`` cuts)."""
    frame_bytes = _frame_bytes(source.frame_shape, source.dtype)
    length = policy.frames_per_gop(frame_bytes)
    shortest = -(-ONSET_ELEMENTS // _frame_elements(source.frame_shape))  # onset cuts
    intra_length = policy.frames_per_gop(frame_bytes, INTRA_GOP_BYTES)
    start, total = 0, len(source)
    pending = source.read(0, 0)
    ratios = np.zeros(0)  # intra / temporal cost of each pending frame
    while start < total:
        want = min(length, total - start)
        if len(pending) < want:  # read a whole GOP's worth so each frame is copied once more
            fresh = source.read(start + len(pending), min(total, start + len(pending) + length))
            if policy.auto:
                fresh_ratios = intra_to_temporal(fresh, pending[-1:], quantizer, estimate)
                ratios = np.concatenate([ratios, fresh_ratios])
            pending = np.concatenate([pending, fresh]) if len(pending) else fresh
        onsets = (ratios[1:want] < ONSET_RATIO) & (ratios[: want - 1] >= 1)
        onsets[: shortest - 1] = False
        found = np.flatnonzero(onsets) if policy.auto else ()
        if len(found):
            cut = 1 + int(found[0])
        else:  # auto shares what is left evenly; fixed cuts every ``length`` frames
            cut = even_share(total - start, length) if policy.auto else want
        if policy.auto and cut > intra_length and (ratios[1:cut] < 1).all():
            cut = even_share(cut, intra_length)
        yield start, pending[:cut]
        pending, ratios, start = pending[cut:], ratios[cut:], start + cut
