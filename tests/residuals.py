"""A hypothesis strategy for residual arrays, and ways to force ``tezip.rans``'s spatial
predictor and its weighing of intensity classes, shared by the entropy-stage tests."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from hypothesis import strategies as st

from tezip_rans import elements, kernels
from tezip_rans import stage as rans_stage
from tezip_rans.choices import Choices, _octiles
from tezip_rans.field import to_field

DTYPES = ("uint8", "uint16", "uint32", "uint64")


@st.composite
def residual_arrays(draw: st.DrawFn, frames: int = 4, side: int = 23) -> np.ndarray:
    """Residuals as predictors leave them: Laplacian around zero (wrapped), intra codes
    spread over the range, extremes, runs of zeros, colour channels; up to ``frames``
    frames of up to ``side`` x ``side`` elements and 4 channels."""
    dtype = np.dtype(draw(st.sampled_from(DTYPES)))
    shape = (draw(st.integers(1, frames)), draw(st.integers(1, side)), draw(st.integers(1, side)))
    if draw(st.booleans()):
        shape += (draw(st.integers(1, 4)),)
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    bits = dtype.itemsize * 8
    scale = draw(st.sampled_from((0.3, 4, 300, 2.0 ** (bits - 2))))
    top = 2.0 ** min(bits - 1, 62)
    signed = rng.laplace(0, scale, shape).clip(-top, top - 1).astype(np.int64)
    if draw(st.booleans()):  # intra codes: a smooth ramp over much of the range
        ramp = np.linspace(0, min(2.0**bits - 1, 2.0**62), shape[2]).astype(np.int64)
        signed = signed + (ramp if len(shape) == 3 else ramp[:, None])
    array = signed.astype(dtype)  # wraps negatives: two's complement
    if draw(st.booleans()):  # full-range values too
        wide = rng.integers(0, np.iinfo(dtype).max, shape, dtype=dtype, endpoint=True)
        array = np.where(rng.random(shape) < 0.05, wide, array)
    array[rng.random(shape) < draw(st.sampled_from((0.0, 0.5, 0.99, 1.0)))] = 0
    return array


def force_predictor(
    monkeypatch: pytest.MonkeyPatch, mode: int, weights: list[int], bounds: list[int] = ()
) -> None:
    """Make ``tezip.rans`` code every plane with spatial predictor ``mode`` (the fitted one
    with these ``weights``) and intensity classes split at ``bounds`` (none: one class),
    whatever its sample would choose."""
    chosen = rans_stage.choose

    def forced(residuals: np.ndarray, effort: int) -> Choices:
        choices = chosen(residuals, effort)
        parameters = choices.parameters
        parameters[:, 0] = mode
        parameters[:, elements.WEIGHTS : elements.CLASSES] = weights
        for row in parameters:
            kernels.split_at(row, bounds)
        return Choices(choices.offset_binary, choices.relative, kernels.placed(parameters))

    monkeypatch.setattr(rans_stage, "choose", forced)


def force_octiles(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make ``tezip.rans`` weigh intensity classes on every GOP whatever its sample says:
    each plane's octiles are taken from its whole field."""
    chosen = rans_stage.choose

    def forced(residuals: np.ndarray, effort: int) -> Choices:
        made = chosen(residuals, effort)
        values = to_field(residuals, made.offset_binary, made.relative)
        octiles = np.stack([_octiles(values[:, p]) for p in range(values.shape[1])])
        return replace(made, octiles=octiles)

    monkeypatch.setattr(rans_stage, "choose", forced)
