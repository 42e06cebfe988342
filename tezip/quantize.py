"""Prequantization: frames <-> unsigned integer codes, with the bound checked in the output dtype.

Three quantizers (DESIGN.md section 2):

- ``lossless``: integers map to codes by offset binary, floats by an order-preserving map of
  their bit patterns; a bijection, so NaN payloads and -0.0 survive.
- ``grid`` (abs/rel): ``q = round((x - p) / step)``; integer data with tolerance ``t`` use
  the odd step ``2t + 1`` in exact integer arithmetic, floats use ``step = 2E``. The grid's
  phase ``p`` (where its bins sit) is chosen per GOP from the data when the quantizer is
  ``phased``: noise that straddles a bin edge turns into codes of +-1 that a bin centred on
  it would not produce.
- ``log`` (pwrel): ``q = round(K * log2|x|)`` with the sign folded in and zero kept exact;
  reconstruction uses a correctly rounded table of ``2**(j/K)`` and ``ldexp``, so it is the
  same on every machine.

Every lossy reconstruction is compared with the input in the output dtype; elements that miss
(rounding, overflow, NaN, Inf) become *outliers* stored exactly by the caller.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass
from decimal import Decimal, localcontext
from functools import lru_cache
from typing import Any

import numpy as np

from tezip import gridkernels
from tezip.abc import CodeSpace
from tezip.bounds import MIN_PWREL, ErrorBound
from tezip.codes import bits_for, canonical_dtype, from_ordered_bits, ordered_bits, unsigned
from tezip.costs import row_pairs, spatial_cost
from tezip.errors import BoundError, HeaderError, StreamError
from tezip.lookup import lookup

_Q_LIMIT = 2.0**62  # |q| beyond this would overflow int64 arithmetic: stored as outliers
#: most grid phases a GOP chooses among, and frames of a GOP sampled to choose
PHASES = 16
PHASE_FRAMES = 4


@dataclass
class Quantized:
    """One GOP's codes plus what the decoder needs beside them."""

    codes: np.ndarray  # uint{bits}, frames' shape
    offset: int  # codes + offset = the quantizer's signed integers
    outliers: np.ndarray  # bool mask: elements to store exactly
    reconstruction: np.ndarray  # decoded frames, outliers already exact
    phase: int | float = 0  # where the grid sits (phased grids), else 0


class Quantizer(ABC):
    """Maps frames of one dtype to unsigned codes and back."""

    mode: str
    #: True when each GOP chooses where the grid sits and records it
    phased: bool = False
    #: True when a GOP may be coded losslessly instead (integer grids, format 1.2)
    lossless_gops: bool = False

    def __init__(self, dtype: np.dtype | str) -> None:
        self.dtype = canonical_dtype(dtype)

    @property
    def configuration(self) -> dict[str, Any]:
        return {"mode": self.mode, "dtype": self.dtype.name}

    @abstractmethod
    def quantize(self, frames: np.ndarray, phase: int | float | None = None) -> Quantized:
        """Codes for one GOP, with the bound checked element by element; a phased grid sits
        at ``phase``, or where the frames show it should when ``phase`` is None."""

    @abstractmethod
    def dequantize(self, codes: np.ndarray, offset: int, phase: int | float = 0) -> np.ndarray:
        """Frames (outliers not yet patched) from codes."""

    @abstractmethod
    def space(self, offset: int, bits: int, phase: int | float = 0) -> CodeSpace:
        """The code domain of a GOP, for predictors."""

    def check_phase(self, phase: int | float | None) -> int | float:
        """The phase a GOP record gives, validated (``StreamError``): only phased grids have
        one, and it lies in ``[0, step)``."""
        if phase is None:
            return 0
        raise StreamError("GOP records a grid phase, but the quantizer has none")

    def for_gop(self, lossless: bool) -> Quantizer:
        """The quantizer of a GOP: this one, or for a lossless GOP (:attr:`lossless_gops`)
        the lossless quantizer of the dtype."""
        return LosslessQuantizer(self.dtype) if lossless else self


class LosslessQuantizer(Quantizer):
    """Bit-exact bijection between values and codes."""

    mode = "lossless"

    def quantize(self, frames: np.ndarray, phase: int | float | None = None) -> Quantized:
        codes = frames if self.dtype.kind == "u" else ordered_bits(frames)
        return Quantized(codes, 0, np.zeros(frames.shape, bool), frames)

    def dequantize(self, codes: np.ndarray, offset: int, phase: int | float = 0) -> np.ndarray:
        return codes if self.dtype.kind == "u" else from_ordered_bits(codes, self.dtype)

    def space(self, offset: int, bits: int, phase: int | float = 0) -> CodeSpace:
        code = unsigned(bits)

        def to_values(codes: np.ndarray) -> np.ndarray:
            return self.dequantize(codes, 0).astype(np.float64)

        def from_values(values: np.ndarray) -> np.ndarray:
            if self.dtype.kind == "f":
                return ordered_bits(np.asarray(values).astype(self.dtype))
            info = np.iinfo(self.dtype)
            exact = np.clip(np.rint(values), info.min, info.max).astype(self.dtype)
            return self.quantize(exact).codes.astype(code, copy=False)

        return CodeSpace(bits, (1 << bits) - 1, to_values, from_values)


class _SignedQuantizer(Quantizer):
    """Lossy quantizers: signed integers ``q`` shifted by a per-GOP offset into codes."""

    @abstractmethod
    def _integers(self, frames: np.ndarray, phase: int | float) -> tuple[np.ndarray, np.ndarray]:
        """Signed integers ``q`` and a mask of elements that cannot be represented."""

    @abstractmethod
    def _values(self, q: np.ndarray, phase: int | float) -> np.ndarray:
        """Reconstruction in the output dtype from signed integers (int64)."""

    def choose_phase(self, frames: np.ndarray) -> int | float:
        """Where this GOP's grid sits (0 for quantizers without a phase)."""
        return 0

    @abstractmethod
    def _within_bound(self, reconstruction: np.ndarray, frames: np.ndarray) -> np.ndarray:
        """Element-wise check of the bound, computed on output-dtype values."""

    def quantize(self, frames: np.ndarray, phase: int | float | None = None) -> Quantized:
        return self._quantize(frames, self.choose_phase(frames) if phase is None else phase)

    def _quantize(self, frames: np.ndarray, phase: int | float) -> Quantized:
        if _small_integers(frames.dtype) and frames.size > 1 << 8 * frames.dtype.itemsize:
            return self._quantize_by_table(frames, phase)
        q, invalid = self._integers(frames, phase)
        valid_q = q[~invalid] if invalid.any() else q
        low = int(valid_q.min()) if valid_q.size else 0
        high = int(valid_q.max()) if valid_q.size else 0
        if invalid.any():
            q = np.where(invalid, low, q)
        code = unsigned(bits_for(high - low))
        codes = (q - low).astype(code)
        reconstruction = self.dequantize(codes, low, phase)
        outliers = invalid | ~self._within_bound(reconstruction, frames)
        if outliers.any():
            reconstruction = np.where(outliers, frames, reconstruction)
        return Quantized(codes, low, outliers, reconstruction, phase)

    def _quantize_by_table(self, frames: np.ndarray, phase: int | float) -> Quantized:
        """8/16-bit integers: quantize every possible value once, then look frames up."""
        unsigned_view = unsigned(frames.dtype.itemsize * 8)
        domain = np.arange(1 << 8 * frames.dtype.itemsize, dtype=np.int64)
        if frames.dtype.kind == "i":
            domain += np.iinfo(frames.dtype).min
        table = self._quantize(domain.astype(frames.dtype), phase)
        index = frames.view(unsigned_view)
        if frames.dtype.kind == "i":  # value order: flip the sign bit
            index = index ^ unsigned_view.type(1 << (8 * frames.dtype.itemsize - 1))
        outliers = (
            lookup(table.outliers, index) if table.outliers.any() else np.zeros(frames.shape, bool)
        )
        return Quantized(
            lookup(table.codes, index),
            table.offset,
            outliers,
            lookup(table.reconstruction, index),
            phase,
        )

    #: signed integer type wide enough for ``q`` and the reconstruction arithmetic
    work: type[np.signedinteger] = np.int64

    def dequantize(self, codes: np.ndarray, offset: int, phase: int | float = 0) -> np.ndarray:
        size = 1 << 8 * codes.dtype.itemsize
        if codes.dtype.itemsize <= 2 and codes.size > size:  # evaluate each code once
            return lookup(self.dequantize(np.arange(size, dtype=codes.dtype), offset, phase), codes)
        return self._values(codes.astype(np.int64) + np.int64(offset), phase)

    def space(self, offset: int, bits: int, phase: int | float = 0) -> CodeSpace:
        max_code = (1 << bits) - 1
        code = unsigned(bits)

        def to_values(codes: np.ndarray) -> np.ndarray:
            return self.dequantize(codes, offset, phase).astype(np.float64)

        def from_values(values: np.ndarray) -> np.ndarray:
            q, _ = self._integers(np.asarray(values, dtype=np.float64), phase)
            return np.clip(q - offset, 0, max_code).astype(code)

        return CodeSpace(bits, max_code, to_values, from_values)


def _small_integers(dtype: np.dtype) -> bool:
    return dtype.kind in "ui" and dtype.itemsize <= 2


class GridQuantizer(_SignedQuantizer):
    """Uniform grid: every element within ``tolerance`` of the input."""

    mode = "grid"

    def __init__(
        self,
        dtype: np.dtype | str,
        tolerance: float,
        phase: str | None = None,
        lossless: str | None = None,
    ) -> None:
        super().__init__(dtype)
        if phase not in (None, "gop"):
            raise BoundError(f"grid quantizer phase must be 'gop' or absent, got {phase!r}")
        if lossless not in (None, "gop") or (lossless and self.dtype.kind == "f"):
            raise BoundError(
                f"grid quantizer lossless must be 'gop' (integers only) or absent: {lossless!r}"
            )
        self.phased = phase == "gop"
        self.lossless_gops = lossless == "gop"
        if not math.isfinite(tolerance):
            raise BoundError(f"grid quantizer needs a positive finite tolerance, got {tolerance}")
        if self.dtype.kind == "f":
            self.tolerance = float(tolerance)
            self.step: float | int = 2.0 * self.tolerance
        else:
            # a tolerance beyond the dtype's reach quantizes like the reach: every q is 0
            info = np.iinfo(self.dtype)
            reach = max(-int(info.min), int(info.max))
            self.tolerance = float(min(math.floor(tolerance), reach))
            self.step = 2 * int(self.tolerance) + 1
            if self.dtype.itemsize <= 2 and self.step < 1 << 16:
                self.work = np.int32  # q * step and x + tolerance stay far below 2**31
        if not self.tolerance > 0 or not math.isfinite(self.step):
            raise BoundError(f"grid quantizer needs a positive finite tolerance, got {tolerance}")

    @property
    def configuration(self) -> dict[str, Any]:
        phase = {"phase": "gop"} if self.phased else {}
        lossless = {"lossless": "gop"} if self.lossless_gops else {}
        return {**super().configuration, "tolerance": self.tolerance, **phase, **lossless}

    def phases(self) -> list[int | float]:
        """The phases a GOP may choose among: every integer below a step of at most
        :data:`PHASES`, else that many spread over the step."""
        if self.dtype.kind == "f":
            return [self.step * k / PHASES for k in range(PHASES)]
        count = min(int(self.step), PHASES)
        return sorted({int(k * self.step // count) for k in range(count)})

    def choose_phase(self, frames: np.ndarray) -> int | float:
        """The phase under which a sample of the GOP's rows costs the fewest estimated bits
        after spatial decorrelation (the first of equals, so constant data keeps 0)."""
        if not self.phased or frames.shape[1] < 2:
            return self.phases()[0]
        chosen = frames[np.unique(np.linspace(0, len(frames) - 1, PHASE_FRAMES).astype(int))]
        sample = row_pairs(chosen)
        costs = [spatial_cost(self._integers(sample, p)[0]).sum() for p in self.phases()]
        return self.phases()[int(np.argmin(costs))]

    def _quantize(self, frames: np.ndarray, phase: int | float) -> Quantized:
        if _small_integers(frames.dtype) and frames.size > 1 << 8 * frames.dtype.itemsize:
            return self._quantize_by_table(frames, phase)
        flat = np.ascontiguousarray(frames).reshape(-1)
        q = np.empty(flat.size, np.int64)
        if self.dtype.kind == "f":
            invalid = np.empty(flat.size, np.bool_)
            low, high = gridkernels.floats(flat, self.step, float(phase), q, invalid)
        else:
            low, high = gridkernels.integers(
                flat, int(self.tolerance), int(self.step), int(phase), q
            )
        codes = np.empty(flat.size, unsigned(bits_for(high - low)))
        reconstruction = np.empty(flat.size, self.dtype)
        outliers = np.empty(flat.size, np.bool_)
        if self.dtype.kind == "f":
            gridkernels.float_codes(
                flat,
                q,
                invalid,
                low,
                self.step,
                float(phase),
                self.tolerance,
                codes,
                reconstruction,
                outliers,
            )
        else:
            info = np.iinfo(self.dtype)
            gridkernels.integer_codes(
                flat,
                q,
                low,
                int(self.step),
                int(phase),
                (int(info.min), int(info.max)),
                int(self.tolerance),
                codes,
                reconstruction,
                outliers,
            )
        shape = frames.shape
        return Quantized(
            codes.reshape(shape),
            low,
            outliers.reshape(shape),
            reconstruction.reshape(shape),
            phase,
        )

    def check_phase(self, phase: int | float | None) -> int | float:
        if not self.phased:
            return super().check_phase(phase)
        kinds = (int, float) if self.dtype.kind == "f" else (int,)  # FORMAT.md 1: int for float
        if isinstance(phase, bool) or not isinstance(phase, kinds) or not 0 <= phase < self.step:
            raise StreamError(f"GOP grid phase {phase!r} is not a number in [0, step)")
        return float(phase) if self.dtype.kind == "f" else phase

    def _integers(self, frames: np.ndarray, phase: int | float) -> tuple[np.ndarray, np.ndarray]:
        if frames.dtype.kind in "ui":
            work = self.work
            q = (frames.astype(work) + work(self.tolerance - phase)) // work(self.step)
            return q, np.zeros(frames.shape, bool)
        with np.errstate(invalid="ignore", over="ignore"):
            scaled = np.rint((frames.astype(np.float64) - phase) / self.step)
            invalid = ~(np.abs(scaled) < _Q_LIMIT)
            scaled[invalid] = 0
        return scaled.astype(np.int64), invalid

    def _values(self, q: np.ndarray, phase: int | float) -> np.ndarray:
        if self.dtype.kind == "f":
            with np.errstate(over="ignore"):
                return (q.astype(np.float64) * self.step + phase).astype(self.dtype)
        info = np.iinfo(self.dtype)
        # beyond +-reach every q clamps to MIN or MAX alike, whatever the phase (< step):
        # clip first, so q * step is exact
        reach = max(-int(info.min), int(info.max)) // self.step + 2
        if q.size and (q.min() < -reach or q.max() > reach):
            q = np.clip(q, -reach, reach)
        values = q.astype(self.work, copy=False) * self.work(self.step) + self.work(phase)
        if values.size and (values.min() < info.min or values.max() > info.max):
            np.clip(values, info.min, info.max, out=values)
        return values.astype(self.dtype)

    def _within_bound(self, reconstruction: np.ndarray, frames: np.ndarray) -> np.ndarray:
        if self.dtype.kind in "ui":  # exact integer arithmetic in the work type
            error = np.abs(reconstruction.astype(self.work) - frames.astype(self.work))
            return error <= self.work(self.tolerance)
        with np.errstate(invalid="ignore", over="ignore"):
            error = np.abs(reconstruction.astype(np.float64) - frames.astype(np.float64))
        return error <= self.tolerance


@lru_cache(maxsize=4)
def _power_table(steps: int) -> np.ndarray:
    """``2**(j/steps)`` for ``j < steps``, correctly rounded to float64 (no libm involved)."""
    return np.ldexp(np.array(power_mantissas(steps), np.float64), -52)


def power_mantissas(steps: int, fraction_bits: int = 128) -> list[int]:
    """The integers ``m_j = 2**52 * 2**(j/steps)`` rounded to nearest, for ``j < steps``.

    ``2**(j/steps)`` is irrational for ``0 < j < steps``, so no tie arises. The powers are
    carried in fixed point with ``fraction_bits`` bits, each the previous one times
    ``2**(1/steps)`` (from decimal ``ln`` and ``exp``, both correctly rounded, at 60 digits).
    Truncating the ratio and each product adds under 3 units of the last bit per step, and
    later steps grow an error at most ``2**(j/steps) < 2``-fold, so the ``j``-th power is
    within ``6j + 1`` units of the exact one: farther than ``8j + 8`` units from a rounding
    midpoint, it rounds like the exact value. The rare nearer ones (a window of ``16j + 16``
    units in ``2**(fraction_bits - 52)``) are decided exactly (:func:`_exact_mantissa`).
    """
    shift = fraction_bits - 52
    half, mask = 1 << (shift - 1), (1 << shift) - 1
    with localcontext() as context:
        context.prec = 60
        ratio = int((Decimal(2).ln() / steps).exp() * (1 << fraction_bits))
    power = 1 << fraction_bits
    mantissas = []
    for j in range(steps):
        offset = (power & mask) - half
        nearest = (power + half) >> shift
        if abs(offset) <= 8 * j + 8:
            nearest = _exact_mantissa(nearest, steps, j)
        mantissas.append(nearest)
        power = power * ratio >> fraction_bits
    return mantissas


def _exact_mantissa(guess: int, steps: int, j: int) -> int:
    """The integer nearest ``2**52 * 2**(j/steps)``, found from ``guess`` in exact integer
    arithmetic: ``m`` is it if and only if ``(2m - 1)**steps < 2**(53 steps + j) <
    (2m + 1)**steps`` (both sides of ``(m -+ 1/2) / 2**52 < 2**(j/steps)`` raised to the
    power ``steps`` and scaled by ``2**(53 steps)``)."""
    target = 1 << (53 * steps + j)
    while (2 * guess + 1) ** steps < target:
        guess += 1
    while (2 * guess - 1) ** steps > target:
        guess -= 1
    return guess


class LogQuantizer(_SignedQuantizer):
    """Point-wise relative bound: ``|x' - x| <= R * |x|``; zero stays zero."""

    mode = "log"

    def __init__(self, dtype: np.dtype | str, pwrel: float) -> None:
        super().__init__(dtype)
        if not MIN_PWREL <= pwrel < 1:
            raise BoundError(f"--pwrel must be in [{MIN_PWREL:g}, 1), got {pwrel}")
        self.pwrel = float(pwrel)
        # q = round(K * log2|x|): the reconstruction is within 2**(0.5/K) of |x|
        self.steps = math.ceil(0.5 / math.log2(1 + self.pwrel))
        if self.dtype.kind == "f":
            info = np.finfo(self.dtype)
            tiny = math.log2(float(info.smallest_subnormal))
        else:
            tiny = 0.0
        self._base = math.floor(tiny * self.steps) - 1  # magnitudes are >= 1 after folding

    @property
    def configuration(self) -> dict[str, Any]:
        return {**super().configuration, "pwrel": self.pwrel}

    def _integers(self, frames: np.ndarray, phase: int | float) -> tuple[np.ndarray, np.ndarray]:
        values = frames.astype(np.float64)
        magnitude = np.abs(values)
        nonzero = magnitude != 0
        with np.errstate(divide="ignore", invalid="ignore"):
            level = np.rint(np.log2(magnitude) * self.steps)
        invalid = ~np.isfinite(level) & nonzero
        level[~nonzero | invalid] = self._base
        sign = np.where(np.signbit(values), -1, 1)
        return (level.astype(np.int64) - self._base) * sign, invalid

    def _values(self, q: np.ndarray, phase: int | float) -> np.ndarray:
        level = np.abs(q) + self._base
        exponent, fraction = np.divmod(level, self.steps)
        with np.errstate(over="ignore"):
            magnitude = np.ldexp(_power_table(self.steps)[fraction], exponent)
        values = np.where(q == 0, 0.0, np.copysign(magnitude, q))
        if self.dtype.kind == "f":
            with np.errstate(over="ignore"):
                return values.astype(self.dtype)
        info = np.iinfo(self.dtype)
        return np.clip(np.rint(values), info.min, info.max).astype(self.dtype)

    def _within_bound(self, reconstruction: np.ndarray, frames: np.ndarray) -> np.ndarray:
        original = frames.astype(np.float64)
        with np.errstate(invalid="ignore", over="ignore"):
            error = np.abs(reconstruction.astype(np.float64) - original)
            return error <= self.pwrel * np.abs(original)


def make_quantizer(
    bound: ErrorBound,
    dtype: np.dtype,
    value_range: tuple[float, float] | None,
    grid_phase: bool = True,
    lossless_gops: bool = True,
) -> Quantizer:
    """The quantizer that implements ``bound`` for data of ``dtype``; bounded grids choose
    their phase per GOP unless ``grid_phase`` is false, and those of integers may code a GOP
    losslessly instead unless ``lossless_gops`` is false."""
    if bound.mode == "pwrel":
        assert bound.pwrel is not None
        return LogQuantizer(dtype, bound.pwrel)
    tolerance = bound.resolve(value_range)
    if (
        tolerance is None
        or tolerance == 0
        or not math.isfinite(tolerance)  # a value range beyond float64: store exactly
        or (dtype.kind in "ui" and tolerance < 1)
    ):
        return LosslessQuantizer(dtype)
    lossless = "gop" if lossless_gops and dtype.kind in "ui" else None
    return GridQuantizer(dtype, tolerance, phase="gop" if grid_phase else None, lossless=lossless)


def quantizer_from_configuration(configuration: dict[str, Any]) -> Quantizer:
    """Rebuild a quantizer from the header record; ``HeaderError`` if it is malformed."""
    try:
        options = dict(configuration)
        mode = options.pop("mode")
        kinds: dict[str, type[Quantizer]] = {
            "lossless": LosslessQuantizer,
            "grid": GridQuantizer,
            "log": LogQuantizer,
        }
        if any(isinstance(value, bool) for value in options.values()):
            raise TypeError("a boolean is not a number")  # FORMAT.md 1: never a boolean
        return kinds[mode](**options)
    except (KeyError, TypeError, ValueError) as exc:
        raise HeaderError(f"invalid quantizer record {configuration!r}: {exc}") from None
