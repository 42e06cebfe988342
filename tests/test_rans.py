"""``tezip.rans``: exact round trips, element-level invariants, damaged streams fail cleanly."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from residuals import DTYPES, force_predictor, residual_arrays

from tezip.costs import estimated_bits, mode_costs, row_bands, row_pairs
from tezip.errors import InputError, StreamError
from tezip.parallel import budget
from tezip.spatial import channel_difference, difference
from tezip_rans import choices, elements, field, kernels, model, rans, stream
from tezip_rans import stage as rans_stage
from tezip_rans.stage import DRAFT_SHARE, DRAFT_SLACK, EFFORTS, RansStage


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(residual_arrays())
def test_round_trip(array: np.ndarray) -> None:
    stage = RansStage()
    data = stage.encode(array)
    assert data == RansStage().encode(array)  # deterministic
    out = stage.decode(data, array.shape, array.dtype)
    assert out.dtype == array.dtype and out.shape == array.shape
    np.testing.assert_array_equal(out, array)


@pytest.mark.parametrize("dtype", DTYPES)
def test_extremes(dtype: str) -> None:
    info = np.iinfo(dtype)
    array = np.array([[[0, 1, info.max, info.max - 1, 1 << (info.bits - 1)] * 3] * 4], dtype)
    stage = RansStage()
    np.testing.assert_array_equal(
        stage.decode(stage.encode(array), array.shape, array.dtype), array
    )


def test_partitions_are_bands_of_rows() -> None:
    rng = np.random.default_rng(3)
    array = rng.integers(0, 4, (2, 300, 20000 // 1), dtype=np.uint8)
    stage = RansStage()
    data = stage.encode(array)
    parsed = stream.read(data, array.shape, 8)
    assert len(parsed.rans) == -(-300 // parsed.rows) > 1
    assert len(parsed.rans) % 2 == 0  # 64-row partitions would be 5: one would decode alone
    np.testing.assert_array_equal(stage.decode(data, array.shape, array.dtype), array)


@pytest.mark.parametrize(
    ("shape", "rows"),
    [
        ((31, 1, 184, 71), 92),  # a small radar GOP: too few elements for two, yet a pair
        ((31, 1, 127, 71), 127),  # too short for two partitions of 64 rows
        ((60, 3, 144, 176), 72),  # three of 64 rows would leave one alone
        ((8, 1, 511, 511), 129),
    ],
)
def test_partitions_come_in_pairs_where_the_rows_allow(shape: tuple[int, ...], rows: int) -> None:
    assert rans_stage.partition_rows(shape) == rows


@pytest.fixture(scope="module")
def banded() -> tuple[bytes, np.ndarray]:
    """A stream of four partitions of rows."""
    rng = np.random.default_rng(8)
    array = (np.cumsum(rng.integers(-2, 3, (2, 500, 2000)), axis=2) % 251).astype(np.uint8)
    with budget(1):
        data = RansStage().encode(array)
    assert len(stream.read(data, array.shape, 8).rans) == 4
    return data, array


@pytest.mark.parametrize("threads", [2, 3, 8])
def test_partitions_are_coded_on_threads_into_the_same_bytes(
    banded: tuple[bytes, np.ndarray], threads: int
) -> None:
    data, array = banded
    with budget(threads):
        assert RansStage().encode(array) == data
        np.testing.assert_array_equal(RansStage().decode(data, array.shape, array.dtype), array)


def test_partitions_on_threads_report_the_first_damaged_one(
    banded: tuple[bytes, np.ndarray],
) -> None:
    data, array = banded
    spans = stream.read(data, array.shape, 8).rans
    damaged = bytearray(data)
    for partition in (2, 1):
        start, end = spans[partition]
        damaged[(start + end) // 2] ^= 0x10
        for threads in (1, 3):
            with budget(threads), pytest.raises(StreamError, match=f"partition {partition} "):
                RansStage().decode(bytes(damaged), array.shape, array.dtype)


@given(st.lists(st.integers(1, 1000), min_size=1, max_size=40), st.integers(1, 64))
def test_partition_ranges_cover_every_partition_once(counts: list[int], threads: int) -> None:
    ranges = kernels.partition_ranges(np.array(counts), threads)
    assert len(ranges) == min(len(counts), threads)
    assert [first for first, _ in ranges] == [0] + [stop for _, stop in ranges[:-1]]
    assert ranges[-1][1] == len(counts) and all(first < stop for first, stop in ranges)


def test_compresses_what_it_should() -> None:
    """Sparse residuals cost a fraction of a bit each; a smooth intra ramp almost nothing."""
    rng = np.random.default_rng(5)
    sparse = np.where(rng.random((4, 64, 64)) < 0.02, 1, 0).astype(np.uint8)
    assert len(RansStage().encode(sparse)) < sparse.size / 20
    ramp = np.broadcast_to(np.arange(64, dtype=np.uint16) * 7, (4, 64, 64)).copy()
    assert len(RansStage().encode(ramp)) < 400


@pytest.mark.parametrize("mode", elements.PREDICTORS)
def test_every_spatial_predictor_round_trips_and_older_versions_refuse_newer_ones(
    mode: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Streams of the older versions (their layouts lack later fields) decode in
    ``make_vectors --check``, from the golden vectors."""
    array = np.random.default_rng(mode).integers(0, 4000, (3, 20, 24, 3), dtype=np.uint16)
    weights = [11, -3, 9, -7] if mode == elements.FITTED else [0] * 4
    force_predictor(monkeypatch, mode, weights)
    data = RansStage().encode(array)
    parameters = stream.read(data, array.shape, 16).choices.parameters
    assert parameters[:, 0].tolist() == [mode] * 3
    assert parameters[:, elements.WEIGHTS : elements.CLASSES].tolist() == [weights] * 3
    np.testing.assert_array_equal(RansStage().decode(data, array.shape, array.dtype), array)
    for version, known in elements.PREDICTORS_OF_VERSION.items():
        if mode not in known:
            older = RansStage()
            older.version = version  # what the registry makes of a header naming that version
            with pytest.raises(StreamError, match=f"unknown to version {version}"):
                older.decode(data, array.shape, array.dtype)


def test_the_fitted_predictor_is_the_weighted_sum_the_spec_gives() -> None:
    """``W + ((a (N - W) + b (NW - W) + c (NE - W) + d (WW - W) + 16) >> 5)``, rounding
    half up and flooring negative sums, clamped to the plane's range."""
    weights = (np.int64(40), np.int64(-8), np.int64(12), np.int64(-13))
    west, north, northwest, northeast, westwest = 1000, 1010, 990, 1030, 1020
    total = 40 * 10 - 8 * -10 + 12 * 30 - 13 * 20
    expected = 1000 + ((total + 16) >> 5)
    assert expected == 1000 + (580 + 16) // 32
    got = elements.predict(
        elements.FITTED, west, north, northwest, northeast, westwest, weights, -(2**15), 2**15
    )
    assert got == expected
    assert elements.predict(elements.FITTED, 5, 0, 0, 0, 0, weights, 0, 100) == 5 + (
        (40 * -5 + 8 * 5 - 12 * 5 + 13 * 5 + 16) >> 5
    )
    assert elements.predict(elements.FITTED, 90, 200, 90, 90, 90, weights, 0, 100) == 100


def test_a_fit_finds_the_weights_that_made_the_frames() -> None:
    """Frames made by a known linear rule of their west, north-east and west-west neighbours,
    plus a little noise, give those weights back (in the format's units of 1/32)."""
    rng = np.random.default_rng(3)
    frames = np.zeros((2, 64, 80))
    frames[:, 0] = rng.normal(0, 50, (2, 80))
    frames[:, :, :2] = rng.normal(0, 50, (2, 64, 2))
    for y in range(1, 64):
        for x in range(2, 79):
            west, northeast, westwest = (
                frames[:, y, x - 1],
                frames[:, y - 1, x + 1],
                frames[:, y, x - 2],
            )
            frames[:, y, x] = (
                west + 0.5 * (northeast - west) - 0.25 * (westwest - west) + rng.normal(0, 2, 2)
            )
    weights = choices.fit_weights(np.round(frames).astype(np.int64)[:, None])
    assert np.abs(weights - [0, 0, 16, -8]).max() <= 1


def _weighted_least_squares(single: np.ndarray) -> np.ndarray:
    """:func:`tezip_rans.choices.fit_weights` as array expressions: the design matrix of
    every other inner element of the bands, reweighted and solved by ``np.linalg.lstsq``."""
    frames, _, height, width = single.shape
    bands = single[:, 0, : height // 8 * 8].reshape(frames, -1, 8, width).astype(np.float64)
    below, above = bands[:, :, 1:], bands[:, :, :-1]
    west = below[..., 1:-2]
    taps = (above[..., 2:-1], above[..., 1:-2], above[..., 3:], below[..., :-3])
    design = np.stack([(tap - west).ravel() for tap in taps], axis=1)[::2]
    target = (below[..., 2:-1] - west).ravel()[::2]
    weights = np.ones(len(target))
    for _ in range(4):
        solution = np.linalg.lstsq(design * weights[:, None], target * weights, rcond=None)[0]
        weights = 1.0 / np.sqrt(np.abs(target - design @ solution) + 1.0)
    units = np.rint(solution * (1 << elements.FIT_SHIFT))
    return np.clip(units, -elements.FIT_LIMIT, elements.FIT_LIMIT).astype(np.int64)


@pytest.mark.parametrize("seed", range(6))
def test_the_compiled_fit_solves_the_weighted_least_squares(seed: int) -> None:
    rng = np.random.default_rng(seed)
    frames, bands = int(rng.integers(1, 4)), int(rng.integers(1, 4))
    width = int(rng.integers(4, 90))
    smooth = np.cumsum(np.cumsum(rng.normal(0, 3, (frames, 8 * bands, width)), 1), 2)
    single = np.round(smooth + rng.normal(0, 2, smooth.shape)).astype(np.int64)[:, None]
    np.testing.assert_array_equal(choices.fit_weights(single), _weighted_least_squares(single))


def _fitted_texture_beside_stripes() -> np.ndarray:
    """Codes whose left five eighths follow the fitted predictor's weights, which the
    choices' sample (the middle columns) reads, and whose right three eighths are vertical
    stripes, which the median edge detector predicts and those weights do not."""
    rng = np.random.default_rng(5)
    frames, height, width = 4, 64, 512
    values = rng.normal(0, 40, (frames, height, width))
    for y in range(1, height):
        for x in range(2, width - 1):
            west, westwest = values[:, y, x - 1], values[:, y, x - 2]
            northeast = values[:, y - 1, x + 1]
            values[:, y, x] = west + (northeast - west) / 2 - (westwest - west) / 4
            values[:, y, x] += rng.normal(0, 2, frames)
    right = width * 5 // 8
    stripes = rng.integers(0, 200, width - right)
    values[:, :, right:] = stripes + rng.normal(0, 1.5, (frames, height, width - right))
    return (np.round(values).astype(np.int64) % 256).astype(np.uint8)


def test_options_are_ranked_on_whole_bands_where_the_sample_misleads() -> None:
    codes = _fitted_texture_beside_stripes()
    fitted = replace(choices.choose(codes, 2), octiles=None)  # one intensity class
    assert fitted.parameters[0, 0] == elements.FITTED
    parameters = fitted.parameters.copy()
    parameters[:, 0], parameters[:, elements.WEIGHTS : elements.CLASSES] = elements.MED, 0
    median = choices.Choices(fitted.offset_binary, fitted.relative, parameters)
    sample = row_bands(codes, choices.SAMPLE_ROWS, choices.sample_budget(codes, 32))
    share = sample.size / codes.size
    read = field.to_field(sample, fitted.offset_binary, fitted.relative)
    sampled = [choices.trial_bits(read, c.parameters, share) for c in (fitted, median)]
    drafts = [rans_stage._drafted(codes, c).size for c in (fitted, median)]
    assert sampled[0] < sampled[1] and drafts[1] < drafts[0]  # the sample misleads
    assert rans_stage._ranked(codes, [fitted, median], 2) == [median]
    assert rans_stage._ranked(codes, [fitted, median], rans_stage.EXHAUSTIVE) == [fitted, median]


@pytest.mark.parametrize(
    ("height", "rows", "previewed"),
    [(1000, 64, [2, 6, 10, 14]), (128, 64, [1]), (40, 64, [0]), (64 * 3, 64, [2]), (384, 64, [2])],
)
def test_options_are_ranked_on_every_fourth_partition_from_the_third(
    height: int, rows: int, previewed: list[int]
) -> None:
    assert rans_stage._previewed(height, rows) == previewed


def _misleading_overlay() -> np.ndarray:
    """RGB codes whose R and B planes hold isolated specks in exactly the rows the choices'
    sample reads, and smooth ramps in every row it skips: on the sample, no spatial
    prediction looks cheapest for them; over the GOP it codes them twice as large."""
    rng = np.random.default_rng(7)
    frames, height, width = 4, 96, 64
    rows, columns = np.arange(height)[None, :, None], np.arange(width)[None, None, :]
    green = columns + 2 * rows + rng.integers(0, 3, (frames, height, width))
    sampled = np.zeros(height, bool)
    tops = np.round(np.linspace(0, height - 8, 8)).astype(int)
    sampled[tops[:, None] + np.arange(8)] = True
    specks = (rng.random((frames, height, width)) < 0.05) * 40
    overlay = np.where(sampled[None, :, None], specks, (3 * columns + 5 * rows) % 120 + 60)
    return (np.stack([green + overlay, green, green + overlay], axis=-1) % 256).astype(np.uint8)


def test_the_exhaustive_effort_never_codes_larger_than_a_sampled_choice() -> None:
    overlay = _misleading_overlay()
    sizes = {effort: len(RansStage(effort).encode(overlay)) for effort in EFFORTS}
    assert sizes[2] > 1.5 * sizes[1]  # the sample misleads effort 2
    assert sizes[3] <= min(sizes[1], sizes[2]) + DRAFT_SLACK + DRAFT_SHARE * sizes[3]


@given(residual_arrays())
@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_every_effort_round_trips_and_the_exhaustive_one_is_smallest(array: np.ndarray) -> None:
    sizes = {}
    for effort in EFFORTS:
        data = RansStage(effort).encode(array)
        np.testing.assert_array_equal(RansStage().decode(data, array.shape, array.dtype), array)
        sizes[effort] = len(data)
    assert sizes[3] <= min(sizes[1], sizes[2]) + DRAFT_SLACK + DRAFT_SHARE * sizes[3]


@given(st.integers(-(2**33) + 1, 2**33 - 1))
def test_tokens_invert(error: int) -> None:
    """Every error a plane can hold (values and clamped predictions within 33 bits)."""
    symbol = elements.zigzag(np.int64(error))
    token, count, low = elements.tokenise(symbol)
    assert elements.token_extra_bits(np.int64(token)) == count
    assert token < elements.MAX_TOKENS
    assert elements.unzigzag(elements.detokenise(np.int64(token), np.uint64(low))) == error


@given(st.lists(st.tuples(st.integers(0, 2**64 - 1), st.integers(1, 32)), max_size=60))
def test_raw_bits_are_packed_least_significant_first_and_read_back(
    fields: list[tuple[int, int]],
) -> None:
    """The raw-bit stream is the fields' low bits end to end, least significant first, its
    last byte zero-padded (spec/stages/tezip.rans.md); only the written bytes count, the
    room after them may hold anything."""
    out = np.full(4 * len(fields) + 8, 0xAA, np.uint8)
    position, buffer, filled = np.int64(0), np.uint64(0), np.int64(0)
    for value, count in fields:
        position, buffer, filled = rans.write_bits(
            np.uint64(value), np.int64(count), out, position, buffer, filled
        )
    end = rans.finish_bits(out, position, buffer, filled)
    total = sum(count for _, count in fields)
    packed = sum(
        (value & ((1 << count) - 1)) << sum(c for _, c in fields[:i])
        for i, (value, count) in enumerate(fields)
    )
    assert out[:end].tobytes() == packed.to_bytes((total + 7) // 8, "little")
    padded = np.concatenate([out[:end], np.zeros(rans.PADDING, np.uint8)])
    position, buffer, filled = np.int64(0), np.uint64(0), np.int64(0)
    for value, count in fields:
        bits, position, buffer, filled = rans.read_bits(
            np.int64(count), padded, position, buffer, filled
        )
        assert bits == value & ((1 << count) - 1)


def test_fields_invert_for_every_width() -> None:
    rng = np.random.default_rng(11)
    for dtype in DTYPES:
        info = np.iinfo(dtype)
        residuals = rng.integers(0, info.max, (2, 3, 4, 3), dtype=dtype, endpoint=True)
        bits = info.bits
        planes = field.planes_of(residuals.shape, bits)
        for _ in range(4):
            flags = rng.random(planes) < 0.5
            relative = rng.random(planes) < 0.5 if field.can_relate(residuals.shape, bits) else 0
            relative = np.asarray(relative, bool) & (np.arange(planes) != field.REFERENCE)
            values = field.to_field(residuals, flags, relative)
            low, high = field.value_ranges(bits, relative).T
            assert (values.min(axis=(0, 2, 3)) >= low).all()
            assert (values.max(axis=(0, 2, 3)) <= high).all()
            back = field.from_field(values, flags, relative, residuals.shape, residuals.dtype)
            np.testing.assert_array_equal(back, residuals)


def test_frequencies_keep_every_seen_token() -> None:
    rng = np.random.default_rng(2)
    for _ in range(50):
        counts = np.where(rng.random(70) < 0.3, rng.integers(1, 10**9, 70), 0)
        counts[rng.integers(0, 70)] += 1
        frequencies = model.normalise(counts)
        assert frequencies.sum() == model.TOTAL
        assert ((frequencies > 0) == (counts > 0)).all()


def _med_estimate_by_arrays(pairs: np.ndarray) -> list[np.ndarray]:
    """What :func:`tezip_rans.choices.estimate` adds to the spatial modes' costs, written as
    array expressions: the median edge detector's estimated bits on each reading."""
    bits = pairs.dtype.itemsize * 8
    top = np.array(1 << (bits - 1), pairs.dtype)
    costs = []
    for values in (pairs.view(f"int{bits}"), (pairs ^ top).view(f"int{bits}")):
        values = values.astype(np.int64)
        readings = [values]
        if values.ndim == 5 and values.shape[4] >= 2:
            related = values.copy()
            related[..., [c for c in range(values.shape[4]) if c != field.REFERENCE]] -= values[
                ..., field.REFERENCE : field.REFERENCE + 1
            ]
            readings.append(related)
        for reading in readings:
            costs.append(_med_bits_by_arrays(reading[:, :, 0], reading[:, :, 1]))
    return costs


def _med_bits_by_arrays(above: np.ndarray, below: np.ndarray) -> np.ndarray:
    """Per entry of the first axis, the estimated bits of rows ``below`` (columns on axis 2)
    after the median edge detector, ``above`` their north (the first column's west and
    north-west its north)."""
    west = np.concatenate([above[:, :, :1], below[:, :, :-1]], axis=2)
    northwest = np.concatenate([above[:, :, :1], above[:, :, :-1]], axis=2)
    high, low = np.maximum(west, above), np.minimum(west, above)
    plane = west + above - northwest
    guess = np.where(northwest >= high, low, np.where(northwest <= low, high, plane))
    return estimated_bits(below - guess, frames_axis=True)


@given(
    st.tuples(st.integers(1, 3), st.integers(1, 3), st.integers(1, 6), st.integers(1, 7)),
    st.sampled_from((np.int16, np.int32, np.int64)),
    st.integers(0, 2**32 - 1),
)
def test_the_readings_estimate_is_the_median_edge_detectors_on_every_row_below_another(
    shape: tuple[int, int, int, int], dtype: type, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    reach = min(np.iinfo(dtype).max, (1 << 33) - 1)  # a field's values need at most 34 bits
    values = rng.integers(-reach, reach, shape, endpoint=True)
    values[rng.random(shape) < 0.5] = 0  # runs of equal neighbours: MED's edge cases
    field_ = values.astype(dtype)
    planes = np.moveaxis(field_.astype(np.int64), 1, 0)  # (planes, frames, H, W)
    expected = [_med_bits_by_arrays(p[:, :-1], p[:, 1:]).sum() for p in planes]
    np.testing.assert_array_equal(choices._med_estimates(field_), expected)


def _mode_costs_by_arrays(pairs: np.ndarray) -> np.ndarray:
    """:func:`tezip.costs.mode_costs` written as array expressions (wrapping in the pairs'
    dtype, signed or not)."""
    above, below = pairs[:, :, 0], pairs[:, :, 1]
    left_above, left_below = difference(above, 2), difference(below, 2)
    candidates = [below, left_below, below - above, left_below - left_above]
    if pairs.ndim == 5 and pairs.shape[4] >= 2:
        candidates += [channel_difference(c) for c in candidates]
    return np.stack([estimated_bits(c, frames_axis=True) for c in candidates])


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(residual_arrays(frames=5), st.booleans())
def test_the_compiled_mode_costs_equal_the_array_expressions(
    array: np.ndarray, signed: bool
) -> None:
    pairs = row_pairs(array)
    if signed:  # the grid quantizer's integers, before they become codes
        pairs = pairs.view(f"int{pairs.dtype.itemsize * 8}")
    np.testing.assert_array_equal(mode_costs(pairs), _mode_costs_by_arrays(pairs))


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(residual_arrays(frames=5))
def test_the_compiled_estimate_equals_the_array_expressions(array: np.ndarray) -> None:
    pairs = row_pairs(array)
    if not pairs.shape[1] or pairs.shape[3] < 2:
        return
    five = pairs if pairs.ndim == 5 else pairs[..., None]
    bits, related = pairs.dtype.itemsize * 8, (False, True) if five.shape[4] >= 2 else (False,)
    compiled = [
        choices._med_bits(five, bits, offset_binary, relative)
        for offset_binary in (False, True)
        for relative in related
    ]
    expected = _med_estimate_by_arrays(pairs)
    np.testing.assert_array_equal(np.array(compiled), np.array(expected))
    np.testing.assert_array_equal(
        choices.estimate(pairs), np.min([*mode_costs(pairs), *expected], axis=0)
    )


@given(
    st.tuples(st.integers(1, 6), st.integers(1, 9), st.integers(1, 9)),
    st.sampled_from((3, 1 << 17, 1 << 62, 1 << 63)),
    st.booleans(),
    st.integers(0, 2**32 - 1),
)
def test_the_typical_gradient_is_the_median_of_the_nonzero_vertical_steps(
    shape: tuple[int, int, int], spread: int, coarse: bool, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    plane = rng.integers(-spread, spread, shape, dtype=np.int64, endpoint=spread < 1 << 63)
    if coarse:  # a few distinct values: equal steps, middle ranks on one value
        plane = rng.integers(0, 4, shape, dtype=np.int64) * (spread // 4) + (plane & 1)
    steps = np.abs(np.diff(plane, axis=1)).ravel()  # wrapping, as the codes' arithmetic
    steps = steps[steps > 0]
    expected = float(np.median(steps)) if steps.size else 1.0
    assert choices._typical_gradient(plane) == expected


def test_a_step_of_two_to_the_63_among_small_steps_counts_as_none() -> None:
    # its magnitude does not fit int64; the small steps take the counting path
    plane = np.array([[[0, 1, 5], [-(2**63), 3, 5], [-(2**63), 4, 9]]], np.int64)
    assert choices._typical_gradient(plane) == 2.0  # median of 2, 1, 4 (the zeros left out)


@given(
    st.lists(st.lists(st.integers(0, 300), min_size=1, max_size=elements.MAX_TOKENS), min_size=1)
)
def test_decode_tables_give_each_slot_its_token_and_each_token_its_slots(
    counts: list[list[int]],
) -> None:
    padded = [row + [0] * (elements.MAX_TOKENS - len(row)) for row in counts]
    frequencies = np.array([model.normalise(np.array(row, np.int64)) for row in padded])
    tokens, symbols = model.decode_tables(frequencies)
    for table, row in enumerate(frequencies):
        starts = np.cumsum(row) - row
        for token in np.flatnonzero(row):
            slots = np.flatnonzero(tokens[table] == token)
            assert slots.tolist() == list(range(starts[token], starts[token] + row[token]))
            packed = int(symbols[table, token])
            assert (packed & 0xFFF) + 1 == row[token] and packed >> 12 == starts[token]


@given(st.integers(0, 2**32 - 1), st.integers(1, model.MAX_TABLES))
def test_keyed_tables_give_each_element_its_contexts_table_and_sign(seed: int, tables: int) -> None:
    """The decoder's one lookup agrees with the encoder's context and sign, and the map, in
    planes of one intensity class and of several."""
    rng = np.random.default_rng(seed)
    knobs = np.zeros((2, kernels.PARAMETERS), np.int64)
    knobs[:, :8] = [elements.MED, 2, 5, 9, 1, 4, -128, 127]
    kernels.split_at(knobs[0], [])
    kernels.split_at(knobs[1], [-20, 35])
    knobs = kernels.placed(knobs)
    clusters = rng.integers(0, tables, kernels.context_count(knobs)).astype(np.uint8)
    keyed = kernels.keyed_tables(clusters, knobs)
    upper = 81 * rng.integers(-4, 5, 400) + 9 * rng.integers(-4, 5, 400)
    before = rng.integers(0, elements.TEMPORAL_CLASSES, 400).astype(np.uint8)
    bases = np.empty(400, np.int64)
    kernels.row_bases(upper, before, bases)
    for x, west_gradient in enumerate(rng.integers(-12, 13, 400)):
        west = np.int64(0)
        northwest = west + west_gradient  # the gradient the decoder levels
        prediction = np.int64(rng.integers(-60, 60))
        key, sign = kernels._key(upper[x], northwest, west, before[x], knobs[0])
        level = elements.level(northwest - west, 2, 5, 9)
        for plane, row in enumerate(knobs):
            shade = elements.intensity(prediction, elements.bounds_of(row))
            assert shade == (0 if plane == 0 else int(prediction > -20) + int(prediction > 35))
            at = shade * kernels._SHADE_STRIDE + bases[x] + elements.TEMPORAL_CLASSES * level
            entry = int(keyed[plane, at])
            assert entry & 0x7F == clusters[kernels._placed(key, prediction, row)]
            assert (entry >> 7 == 1) == (sign < 0)


@pytest.mark.parametrize(
    ("blob", "message"),
    [
        (bytes([80]), "more tokens than its alphabet"),
        (bytes([2, 0x80]), "ends inside a number"),
        (bytes([2, 5, 5]), "do not sum to the total"),
        (bytes([2, 0xFF, 0x7F]), "a number above 4095"),
    ],
)
def test_damaged_tables_are_stream_errors(blob: bytes, message: str) -> None:
    with pytest.raises(StreamError, match=message):
        model.Reader(blob).tables(1, 76, elements.MAX_TOKENS)


def test_tables_read_back_as_written() -> None:
    frequencies = np.array([[2048, 2048, 0, 0], [1, 4094, 0, 1]], np.int64)
    reader = model.Reader(model.write_tables(frequencies) + b"tail")
    assert np.array_equal(reader.tables(2, 4, 4), frequencies)
    assert reader.take(4) == b"tail"


@pytest.fixture(scope="module")
def coded() -> tuple[bytes, np.ndarray]:
    rng = np.random.default_rng(9)
    array = (np.cumsum(rng.integers(-3, 4, (3, 40, 50)), axis=2) + 500).astype(np.uint16)
    return RansStage().encode(array), array


def test_every_truncation_fails_cleanly(coded: tuple[bytes, np.ndarray]) -> None:
    data, array = coded
    for end in range(0, len(data), max(1, len(data) // 300)):
        with pytest.raises(StreamError):
            RansStage().decode(data[:end], array.shape, array.dtype)


def test_damage_is_an_error_or_wrong_values_never_a_crash(
    coded: tuple[bytes, np.ndarray],
) -> None:
    """Flipped bytes either fail or decode to some array of the right shape (the frame
    checksums of the container reject the latter); nothing reads outside its buffers."""
    data, array = coded
    rng = np.random.default_rng(4)
    failures = 0
    for _ in range(400):
        damaged = bytearray(data)
        damaged[rng.integers(0, len(data))] ^= 1 << rng.integers(0, 8)
        try:
            out = RansStage().decode(bytes(damaged), array.shape, array.dtype)
        except StreamError:
            failures += 1
        else:
            assert out.shape == array.shape and out.dtype == array.dtype
    assert failures > 200


def test_bad_inputs() -> None:
    with pytest.raises(InputError):
        RansStage().encode(np.zeros((2, 3), np.uint8))
    with pytest.raises(InputError):
        RansStage().encode(np.zeros((2, 3, 3), np.int16))
    with pytest.raises(StreamError):
        RansStage().decode(b"\x07", (1, 2, 2), np.dtype(np.uint8))


def test_no_token_gets_the_whole_table() -> None:
    for counts in (
        np.zeros(30, np.int64),
        np.eye(1, 30, 0, np.int64)[0] * 999,
        np.eye(1, 30, 29, np.int64)[0],
    ):
        frequencies = model.normalise(counts)
        assert frequencies.sum() == model.TOTAL and frequencies.max() < model.TOTAL
        assert (frequencies > 0).sum() == 2 and frequencies[
            : len(counts)
        ].argmax() == counts.argmax()


def test_a_stream_bounds_the_elements_it_can_decode_to() -> None:
    """Every token costs some bits, so a stream cannot claim more elements than its bytes
    can hold (a forged shape fails before anything that size is allocated)."""
    from tezip_rans.stage import ELEMENTS_PER_BYTE

    zeros = np.zeros((1, 1024, 1024), np.uint8)
    data = RansStage().encode(zeros)
    assert zeros.size <= len(data) * ELEMENTS_PER_BYTE  # the bound holds for a real stream
    np.testing.assert_array_equal(RansStage().decode(data, zeros.shape, zeros.dtype), zeros)
    with pytest.raises(StreamError, match="too short for the elements it declares"):
        RansStage().decode(data, (64, 1024, 1024), zeros.dtype)


@settings(max_examples=30, deadline=None)
@given(residual_arrays(), st.lists(st.integers(-300, 300), max_size=7, unique=True))
def test_intensity_classes_round_trip(array: np.ndarray, bounds: list[int]) -> None:
    """Any bounds within a plane's range split its contexts by the prediction's class, and
    the stream decodes to the residuals (the forced bounds: those within every plane's
    range, increasing, as many as the encoder's class budget lets every plane have)."""
    bits = array.dtype.itemsize * 8
    top = 1 << (min(bits, 32) - 1)
    planes = field.planes_of(array.shape, bits)
    kept = sorted(b for b in bounds if -top <= b < top - 1)[: choices.CLASS_BUDGET // planes - 1]
    with pytest.MonkeyPatch.context() as patch:
        force_predictor(patch, elements.MED, [0] * 4, kept)
        data = RansStage().encode(array)
    parsed = stream.read(data, array.shape, bits).choices.parameters
    assert parsed[:, elements.CLASSES].tolist() == [len(kept) + 1] * len(parsed)
    assert parsed[:, elements.BOUNDS : elements.BOUNDS + len(kept)].tolist() == [kept] * len(parsed)
    np.testing.assert_array_equal(RansStage().decode(data, array.shape, array.dtype), array)


@settings(max_examples=25, deadline=None)
@given(
    st.integers(0, 2**32 - 1),
    st.lists(st.integers(-50, 250), min_size=1, max_size=7, unique=True),
    st.data(),
)
def test_a_coarser_forms_statistics_are_the_finer_ones_regrouped(
    seed: int, bounds: list[int], data: st.DataObject
) -> None:
    """What one statistics pass with the finest classes gathers, regrouped, is what a pass
    with fewer classes (a subset of the bounds) gathers: counts, contexts, tokens."""
    rng = np.random.default_rng(seed)
    codes = rng.poisson(rng.uniform(1, 200, (1, 9, 1, 1)), (3, 9, 11, 2)).astype(np.uint8)
    base = choices.choose(codes, 2)
    fine_bounds = sorted(bounds)
    coarse_bounds = sorted(data.draw(st.sets(st.sampled_from(fine_bounds))))

    def split(at: list[int]) -> np.ndarray:
        parameters = base.parameters.copy()
        for row in parameters:
            kernels.split_at(row, at)
        return kernels.placed(parameters)

    finer, coarser = split(fine_bounds), split(coarse_bounds)
    values = field.to_field(codes, base.offset_binary, base.relative)
    fine, coarse = (kernels.analysed(values, p, 4) for p in (finer, coarser))
    grouping = choices.regrouping(finer, coarser)
    regrouped = choices.regrouped(fine.histogram, grouping)
    np.testing.assert_array_equal(regrouped, coarse.histogram[: len(regrouped)])
    assert not coarse.histogram[len(regrouped) :].any()
    np.testing.assert_array_equal(grouping[fine.contexts], coarse.contexts)
    np.testing.assert_array_equal(fine.tokens, coarse.tokens)


def test_noise_that_grows_with_the_signal_takes_intensity_classes() -> None:
    """Photon counts (Poisson noise) are split by intensity; the same signal under noise of
    one spread is not: the encoder weighs the classes over the whole GOP."""
    rng = np.random.default_rng(3)
    y, x = np.mgrid[0:256, 0:256]
    signal = 20 + 4000 * (0.5 + 0.5 * np.sin(x / 23.0) * np.cos(y / 31.0))
    counted = rng.poisson(signal, (2, 256, 256)).astype(np.uint16)
    even = np.round(signal + rng.normal(0, 40, (2, 256, 256))).astype(np.uint16)
    for codes, classes in ((counted, 4), (even, 1)):
        data = RansStage().encode(codes)
        assert stream.read(data, codes.shape, 16).choices.parameters[0, elements.CLASSES] == (
            classes
        )
        np.testing.assert_array_equal(RansStage().decode(data, codes.shape, codes.dtype), codes)


@pytest.mark.parametrize(
    ("numbers", "message"),
    [
        ([8], "a number above 7"),
        ([2, 40, 20], "not strictly increasing"),
        ([1, int(elements.zigzag(np.int64(-129)))], "not strictly increasing"),
        ([1, int(elements.zigzag(np.int64(127)))], "not strictly increasing"),
        ([2, 40], "ends inside a number"),
    ],
)
def test_damaged_intensity_classes_are_stream_errors(numbers: list[int], message: str) -> None:
    """An 8-bit plane (values -128 .. 127): a class count above 7, bounds not increasing or
    outside ``[lo, hi)``, or a field cut short."""
    reader = model.Reader(
        model.varints(np.array(numbers, np.int64))[: None if numbers != [2, 20] else 2]
    )
    with pytest.raises(StreamError, match=message):
        row = np.zeros((1, kernels.PARAMETERS), np.int64)
        row[0, elements.LOW], row[0, elements.HIGH] = -128, 127
        stream._read_intensity_classes(reader, row)
