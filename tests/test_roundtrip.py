"""Property tests: the error bound holds for every element; lossless is bit-exact."""

from __future__ import annotations

import tempfile
from decimal import Decimal, localcontext
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import tezip
from tezip.bounds import MIN_PWREL
from tezip.codes import SUPPORTED_DTYPES
from tezip.quantize import LogQuantizer, _power_table, power_mantissas

SHAPES = st.tuples(
    st.integers(1, 5), st.integers(1, 9), st.integers(1, 9), st.sampled_from([None, 1, 3])
).map(lambda t: t[:3] if t[3] is None else t)
OPTIONS = st.fixed_dictionaries(
    {
        "predictor": st.sampled_from(
            ["auto", "tezip.zero", "tezip.previous", "tezip.linear", "tezip.motion"]
        ),
        "gop": st.sampled_from([1, 2, "auto", 64]),
    }
)


def frames(dtype: str) -> st.SearchStrategy[np.ndarray]:
    """Arrays of a dtype with the full value range (NaN, Inf, -0.0, subnormals for floats)."""
    return hnp.arrays(np.dtype(dtype), SHAPES)


def smooth_frames(dtype: str) -> st.SearchStrategy[np.ndarray]:
    """Temporally correlated frames, the data tezip is built for."""

    def build(seed: int, shape: tuple[int, ...]) -> np.ndarray:
        rng = np.random.default_rng(seed)
        walk = np.cumsum(rng.normal(0, 3, shape), axis=0) + 100
        info = np.iinfo(dtype) if np.dtype(dtype).kind in "ui" else None
        if info is not None:
            walk = np.clip(np.rint(walk), info.min, info.max)
        return walk.astype(dtype)

    return st.builds(build, st.integers(0, 2**32 - 1), SHAPES)


def roundtrip(data: np.ndarray, **options: object) -> np.ndarray:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "a.tez"
        tezip.pack(data, path, **options)
        out = tezip.unpack(path)
    assert out.shape == data.shape and out.dtype == data.dtype
    return out


def assert_within(original: np.ndarray, decoded: np.ndarray, tolerance: np.ndarray) -> None:
    """|decoded - original| <= tolerance element-wise, non-finite values kept exactly."""
    x, y = original.astype(np.float64), decoded.astype(np.float64)
    finite = np.isfinite(x)
    assert np.array_equal(x[~finite], y[~finite], equal_nan=True)
    assert np.all(np.abs(y[finite] - x[finite]) <= np.broadcast_to(tolerance, x.shape)[finite])


@pytest.mark.parametrize("dtype", SUPPORTED_DTYPES)
@given(data=st.data())
def test_lossless_is_bit_exact(dtype: str, data: st.DataObject) -> None:
    array = data.draw(st.one_of(frames(dtype), smooth_frames(dtype)))
    out = roundtrip(array, **data.draw(OPTIONS))
    assert out.tobytes() == array.tobytes()


@pytest.mark.parametrize("dtype", SUPPORTED_DTYPES)
@given(data=st.data(), bound=st.sampled_from([0.5, 1, 2, 3.7, 100, 1e-3]))
def test_abs_bound_holds(dtype: str, data: st.DataObject, bound: float) -> None:
    array = data.draw(st.one_of(frames(dtype), smooth_frames(dtype)))
    out = roundtrip(array, abs=bound, **data.draw(OPTIONS))
    assert_within(array, out, np.float64(bound))
    if array.dtype.kind in "ui" and bound < 1:
        assert np.array_equal(out, array)


@pytest.mark.parametrize("dtype", ["uint8", "int16", "int32", "float32", "float64"])
@given(data=st.data(), rel=st.sampled_from([1e-2, 1e-4]), also_abs=st.booleans())
def test_rel_bound_holds(dtype: str, data: st.DataObject, rel: float, also_abs: bool) -> None:
    array = data.draw(st.one_of(frames(dtype), smooth_frames(dtype)))
    finite = array[np.isfinite(array)].astype(np.float64)
    spread = float(finite.max()) - float(finite.min()) if finite.size else 0.0
    tolerance = rel * spread if np.isfinite(spread) else np.inf
    options = {"rel": rel, **({"abs": 0.5} if also_abs else {})}
    out = roundtrip(array, **options, **data.draw(OPTIONS))
    assert_within(array, out, np.float64(min(tolerance, 0.5) if also_abs else tolerance))


PWRELS = [1e-1, 1e-3, 1e-4, MIN_PWREL]


@pytest.mark.parametrize("dtype", ["uint16", "int32", "float32", "float64"])
@given(data=st.data(), pwrel=st.sampled_from(PWRELS))
def test_pwrel_bound_holds(dtype: str, data: st.DataObject, pwrel: float) -> None:
    array = data.draw(st.one_of(frames(dtype), smooth_frames(dtype)))
    out = roundtrip(array, pwrel=pwrel, **data.draw(OPTIONS))
    assert_within(array, out, pwrel * np.abs(array.astype(np.float64)))
    assert np.all(out[array == 0] == 0)


def test_special_floats_survive_lossless() -> None:
    values = np.array([np.nan, -0.0, 0.0, np.inf, -np.inf, 5e-324, -1.5], np.float64)
    payload = np.array([0x7FF8000000000001], np.uint64).view(np.float64)
    array = np.concatenate([values, payload]).reshape(1, 2, 4)
    out = roundtrip(np.repeat(array, 3, axis=0))
    assert out.tobytes() == np.repeat(array, 3, axis=0).tobytes()


def test_integer_bound_gives_integer_steps() -> None:
    array = np.arange(256, dtype=np.uint8).reshape(1, 16, 16).repeat(3, axis=0)
    out = roundtrip(array, abs=2, lossless_gops=False)  # a ramp codes smaller lossless
    assert np.abs(out.astype(int) - array).max() == 2
    assert len(np.unique(out)) <= 256 // 5 + 2


def test_rel_with_a_range_beyond_float64_stays_within_bound() -> None:
    array = np.array([[[-1.7e308, 1.7e308], [0.0, 1.0]]] * 3)
    assert np.array_equal(roundtrip(array, rel=0.5), array)


def test_outliers_are_stored_exactly() -> None:
    array = np.linspace(0, 1, 3 * 8 * 8, dtype=np.float32).reshape(3, 8, 8)
    array[1, 2, 3], array[2, 0, 0], array[0, 7, 7] = np.nan, np.inf, 3e38
    out = roundtrip(array, abs=1e-3)
    assert np.isnan(out[1, 2, 3]) and out[2, 0, 0] == np.inf and out[0, 7, 7] == np.float32(3e38)
    assert_within(array, out, np.float64(1e-3))


def _decimal_powers(steps: int, indices: list[int]) -> list[float]:
    """``2**(j/steps)`` the way tezip computed its table before issue 10 (slowly)."""
    with localcontext() as context:
        context.prec = 30
        two, k = Decimal(2), Decimal(steps)
        return [float(two ** (Decimal(j) / k)) for j in indices]


PWREL_STEPS = sorted({1, 2, 3, 7, *(LogQuantizer("float32", r).steps for r in PWRELS)})


@pytest.mark.parametrize("steps", PWREL_STEPS)
def test_power_table_equals_the_decimal_table(steps: int) -> None:
    """Issue 10: the table (FORMAT.md 5.3) took 5.8 s at pwrel 1e-5; it must not change."""
    indices = sorted({*range(0, steps, max(1, steps // 400)), *range(max(0, steps - 50), steps)})
    assert _power_table(steps)[indices].tolist() == _decimal_powers(steps, indices)


@pytest.mark.parametrize("steps", [2, 3, 100, 1000])
def test_power_table_is_correctly_rounded(steps: int) -> None:
    """Exactly: ``(m - 1/2) / 2**52 < 2**(j/steps) < (m + 1/2) / 2**52`` for every entry."""
    for j, mantissa in enumerate(power_mantissas(steps)):
        exact = 1 << (53 * steps + j)  # (2**53 * 2**(j/steps)) ** steps
        assert (2 * mantissa - 1) ** steps < exact < (2 * mantissa + 1) ** steps or j == 0
    assert power_mantissas(steps)[0] == 1 << 52


def test_power_table_entries_near_a_midpoint_are_decided_exactly() -> None:
    """With 64 fixed-point bits almost every entry is near a midpoint for the error bound."""
    assert power_mantissas(1000, fraction_bits=64) == power_mantissas(1000)


def test_power_table_takes_no_decimal_arithmetic_per_entry(monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 10: one decimal power per entry took 5.8 s at the smallest pwrel."""
    made: list[object] = []

    class CountedDecimal(Decimal):
        def __new__(cls, *args: object) -> CountedDecimal:
            made.append(args)
            return super().__new__(cls, *args)

    monkeypatch.setattr(tezip.quantize, "Decimal", CountedDecimal)
    steps = LogQuantizer("float32", MIN_PWREL).steps
    assert len(_power_table.__wrapped__(steps)) == steps  # type: ignore[attr-defined]
    assert len(made) <= 2
