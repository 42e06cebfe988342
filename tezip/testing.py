"""Conformance kit for plugin authors: run these checks against your predictor or stage.

>>> from tezip.testing import check_predictor, check_stage
>>> check_predictor(MyPredictor)          # raises AssertionError naming what is wrong
>>> check_stage(MyEntropyStage)

The checks build the plugin from its own ``configuration`` (as a decoder would), code
assorted integer arrays (every code width, frames of one row and one column, channels,
extreme values) through the real pipeline, and require bit-exact round trips and identical
output from two independent instances.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import msgpack
import numpy as np

from tezip import parameters
from tezip.abc import ArrayToArrayStage, ArrayToBytesStage, CodeSpace, Plugin, Predictor
from tezip.pipeline import reconstruct, run_predictor

SHAPES = ((4, 1, 1), (3, 1, 9), (3, 7, 1), (5, 16, 12), (4, 9, 7, 3))


def sample_arrays(seed: int = 0) -> Iterator[np.ndarray]:
    """Unsigned code arrays of every width: smooth, noisy, constant and extreme."""
    rng = np.random.default_rng(seed)
    for bits in (8, 16, 32, 64):
        dtype = np.dtype(f"uint{bits}")
        top = np.iinfo(dtype).max
        for shape in SHAPES:
            smooth = np.cumsum(rng.integers(0, 3, shape), axis=0) + 100
            yield smooth.astype(dtype)
            yield rng.integers(0, top, shape, dtype=dtype, endpoint=True)
            yield np.full(shape, top, dtype)
            yield np.zeros(shape, dtype)


def _rebuilt(cls: type[Plugin], configuration: dict[str, Any]) -> Plugin:
    record = msgpack.unpackb(msgpack.packb(configuration, use_bin_type=True), raw=False)
    assert record == configuration, f"{cls.__name__}.configuration does not survive msgpack"
    refused = parameters.problem(cls, cls.id, record)
    assert refused is None, f"a decoder refuses {cls.__name__}.configuration: {refused}"
    return cls(**record)


def check_stage(cls: type[ArrayToArrayStage] | type[ArrayToBytesStage], **options: Any) -> None:
    """Round-trip every sample array through a stage built as the decoder would build it."""
    assert isinstance(getattr(cls, "id", None), str) and cls.id, "stage needs a string id"
    encoder = cls(**options)
    decoder = _rebuilt(cls, encoder.configuration)
    for array in sample_arrays():
        if isinstance(encoder, ArrayToBytesStage):
            data = encoder.encode(array)
            assert isinstance(data, bytes), f"{cls.id}.encode must return bytes"
            assert data == cls(**options).encode(array), f"{cls.id} encoding is not deterministic"
            draft = cls(**options).draft(array)
            assert draft.finish() == data, f"{cls.id}.draft finishes other bytes than encode"
            assert abs(draft.size - len(data)) <= draft.error, (
                f"{cls.id}.draft says {draft.size} +- {draft.error} bytes, not {len(data)}"
            )
            decoded = decoder.decode(data, array.shape, array.dtype)
            _check_batches(cls(**options), decoder, array, data)
        else:
            transformed, meta = encoder.encode(array)
            assert transformed.shape == array.shape and transformed.dtype == array.dtype
            meta = msgpack.unpackb(msgpack.packb(meta, use_bin_type=True), raw=False)
            decoded = decoder.decode(transformed, meta)
        assert decoded.dtype == array.dtype and decoded.shape == array.shape, (
            f"{cls.id} decoded shape/dtype differs for {array.dtype} {array.shape}"
        )
        assert np.array_equal(decoded, array), f"{cls.id} round trip differs ({array.dtype})"


def _check_batches(
    encoder: ArrayToBytesStage, decoder: ArrayToBytesStage, array: np.ndarray, data: bytes
) -> None:
    """A batch of GOPs (as on a GPU) is drafted and decoded as each GOP alone is."""
    name = encoder.id
    first = array[:1]
    finished = [draft.finish() for draft in encoder.draft_batch([array, first])]
    assert finished == [data, encoder.encode(first)], (
        f"{name}.draft_batch finishes other bytes than encode"
    )
    streams = [(data, array.shape, array.dtype), (finished[1], first.shape, first.dtype)]
    decoded = decoder.decode_batch(streams)
    assert len(decoded) == 2 and all(
        np.array_equal(values, wanted)
        for values, wanted in zip(decoded, (array, first), strict=True)
    ), f"{name}.decode_batch differs from decode ({array.dtype})"


def space_for(dtype: np.dtype) -> CodeSpace:
    """Codes that are the values themselves (as for lossless unsigned data)."""
    top = np.iinfo(dtype).max

    def to_values(codes: np.ndarray) -> np.ndarray:
        return codes.astype(np.float64)

    def from_values(values: np.ndarray) -> np.ndarray:
        rounded = np.nan_to_num(np.rint(values), nan=0.0)
        at_top = rounded >= float(top)  # float(top) rounds up to 2**64 for 64-bit codes
        codes = np.clip(np.where(at_top, 0.0, rounded), 0, None).astype(dtype)
        codes[at_top] = top
        return codes

    return CodeSpace(dtype.itemsize * 8, int(top), to_values, from_values)


def check_predictor(cls: type[Predictor], **options: Any) -> None:
    """Closed-loop encode/decode of every sample array, predictions matching exactly; also
    in batches of GOPs of different lengths (:meth:`Predictor.start_batch`, as on a GPU),
    coded in a batch and decoded alone, and the other way round."""
    assert isinstance(getattr(cls, "id", None), str) and cls.id, "predictor needs a string id"
    encoder = cls(**options)
    decoder = _rebuilt(cls, encoder.configuration)
    assert decoder.fingerprint == encoder.fingerprint, "fingerprint changes when rebuilt"
    for codes in sample_arrays():
        space = space_for(codes.dtype)
        gops = [codes, codes[::-1][: max(1, len(codes) - 1)], codes[: max(1, len(codes) // 2)]]
        alone = [_coded_alone(cls.id, encoder, space, gop) for gop in gops]
        batched = run_predictor(encoder, [space] * len(gops), gops)
        for gop, (residuals, sides) in zip(gops * 2, alone + batched, strict=True):
            _check_decoded_alone(cls.id, decoder, space, gop, residuals, sides)
        rebuilt = [residuals.copy() for residuals, _ in alone]
        reconstruct(decoder, [space] * len(gops), rebuilt, [sides for _, sides in alone])
        for gop, codes_back in zip(gops, rebuilt, strict=True):
            assert np.array_equal(codes_back, gop), f"{cls.id} decoder diverged in a batch"


def _coded_alone(
    name: str, encoder: Predictor, space: CodeSpace, codes: np.ndarray
) -> tuple[np.ndarray, list[bytes]]:
    """One GOP's residuals and side information from the encoder's own state."""
    writer = encoder.start(space, codes.shape[1:])
    residuals, sides = np.empty_like(codes), []
    for index, frame in enumerate(codes):
        prediction, side = writer.predict(None)
        assert prediction.shape == frame.shape and prediction.dtype == frame.dtype, (
            f"{name} prediction has shape {prediction.shape} / {prediction.dtype}"
        )
        assert isinstance(side, bytes), f"{name} side information must be bytes"
        residuals[index] = frame - prediction
        sides.append(side)
        writer.update(frame)
    return residuals, sides


def _check_decoded_alone(
    name: str,
    decoder: Predictor,
    space: CodeSpace,
    codes: np.ndarray,
    residuals: np.ndarray,
    sides: list[bytes],
) -> None:
    reader = decoder.start(space, codes.shape[1:])
    for index, frame in enumerate(codes):
        prediction, _ = reader.predict(sides[index])
        rebuilt = prediction + residuals[index]
        assert np.array_equal(rebuilt, frame), f"{name} decoder diverged at frame {index}"
        reader.update(rebuilt)
