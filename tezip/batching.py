"""GOPs in batches, for a pipeline that runs on a GPU (:attr:`Pipeline.on_gpu`).

A GPU kernel launch or network call pays a fixed cost and fills the device only with many
independent pieces of work: one GOP's partitions or frames are far too few. Where a stage or
predictor runs on a GPU, GOPs are therefore coded and decoded a batch at a time, consecutive
GOPs up to :data:`BATCH_BYTES` of frames and :data:`BATCH_FRAME_ELEMENTS` elements of one frame
each, so that memory stays bounded however long the input.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")

#: the most bytes of frames (in the input's dtype) the GOPs of one batch hold; a larger GOP
#: makes a batch of its own. The host holds a few times this (codes, residuals, streams),
#: the device the field and its workspace.
BATCH_BYTES = 256 << 20
#: the most elements one frame of each GOP of a batch sum to: a network steps through a
#: frame of every GOP at once, its memory a few hundred bytes per element (up to 8 KiB that
#: ``tezip.prednet`` allows a model), so this keeps it below what one frame of 2^22 elements
#: would need alone
BATCH_FRAME_ELEMENTS = 1 << 22


def gops_per_batch(frame_shape: tuple[int, ...]) -> int:
    """The most GOPs of frames of ``frame_shape`` in one batch (at least one)."""
    return max(1, BATCH_FRAME_ELEMENTS // max(1, math.prod(frame_shape)))


def batches(
    items: Iterable[T], size: Callable[[T], int], most: int, limit: int = BATCH_BYTES
) -> Iterator[list[T]]:
    """Consecutive ``items`` in lists of at most ``most`` items and ``limit`` bytes by
    ``size`` (an item larger than ``limit`` alone), taken from ``items`` only as each list
    is filled."""
    batch: list[T] = []
    held = 0
    for item in items:
        bytes_ = size(item)
        if batch and (held + bytes_ > limit or len(batch) == most):
            yield batch
            batch, held = [], 0
        batch.append(item)
        held += bytes_
    if batch:
        yield batch
