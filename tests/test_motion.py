"""tezip.motion: its side information, its search, its decoding and its place in ``auto``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tezip
from tezip.abc import CodeSpace
from tezip.errors import InputError, StreamError
from tezip.inspection import describe_archive
from tezip.packing import prepare
from tezip.pipeline import SCREEN_MARGIN, run_predictor, screen_windows
from tezip_classic.motion import MotionPredictor
from tezip_classic.motion_field import MAX_RANGE, decode_field, encode_field
from tezip_classic.predictors import PreviousPredictor

UINT8 = CodeSpace(8, 255, lambda c: c.astype(float), lambda v: v.astype(np.uint8))


def texture(shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    """A uint8 scene: overlapping rectangles of random brightness on smooth waves, with a
    little noise (edges a search can lock on, and no period that would fool it)."""
    rng = np.random.default_rng(seed)
    y, x = np.meshgrid(np.arange(shape[0]), np.arange(shape[1]), indexing="ij")
    scene = 60 + 30 * np.sin(x / 7.3 + 1.1) * np.cos(y / 5.9)
    for _ in range(shape[0] * shape[1] // 40):
        top, left = rng.integers(0, shape[0]), rng.integers(0, shape[1])
        height, width = rng.integers(2, 12, 2)
        scene[top : top + height, left : left + width] += rng.normal(0, 25)
    scene = scene.reshape(*shape[:2], *(1,) * (len(shape) - 2))
    channels = rng.normal(0, 10, shape[2:]) if len(shape) > 2 else 0
    noisy = scene + channels + rng.integers(0, 4, shape)
    return np.clip(noisy, 0, 255).astype(np.uint8)


def panning(frames: int, shape: tuple[int, ...], step: tuple[int, int]) -> np.ndarray:
    """A window moving ``step`` (rows, columns) a frame over a larger texture."""
    reach = frames * max(map(abs, step)) + 1
    scene = texture((shape[0] + 2 * reach, shape[1] + 2 * reach, *shape[2:]))
    out = []
    for t in range(frames):
        top, left = reach + t * step[0], reach + t * step[1]
        out.append(scene[top : top + shape[0], left : left + shape[1]])
    return np.stack(out)


@st.composite
def fields(draw: st.DrawFn) -> tuple[np.ndarray, int, bool]:
    rows, columns = draw(st.integers(1, 6)), draw(st.integers(1, 6))
    reach = draw(st.integers(1, MAX_RANGE))
    modes = draw(st.booleans())
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    field = np.zeros((rows, columns, 3), np.int64)
    field[..., :2] = rng.integers(-reach, reach + 1, (rows, columns, 2))
    field[..., :2] *= rng.random((rows, columns, 1)) < 0.7  # some zero vectors
    if modes:
        field[..., 2] = rng.integers(0, 2, (rows, columns))
    return field, reach, modes


@given(fields())
def test_a_field_decodes_to_itself(case: tuple[np.ndarray, int, bool]) -> None:
    field, reach, modes = case
    data = encode_field(field, modes)
    assert (data == b"") == (not field.any())
    assert np.array_equal(decode_field(data, *field.shape[:2], reach, modes), field)


@given(fields(), st.data())
def test_a_damaged_field_is_an_error_or_another_valid_field(
    case: tuple[np.ndarray, int, bool], data: st.DataObject
) -> None:
    """Any edit (a cut, a byte more, a flipped bit) raises StreamError or decodes to some
    field within reach (which the frame checksum then judges); never anything else."""
    field, reach, modes = case
    coded = bytearray(encode_field(field, modes) or b"\x80")
    edit = data.draw(st.sampled_from(["cut", "append", "flip"]))
    if edit == "cut":
        coded = coded[: data.draw(st.integers(0, len(coded) - 1))]
    elif edit == "append":
        coded.append(data.draw(st.integers(0, 255)))
    else:
        bit = data.draw(st.integers(0, 8 * len(coded) - 1))
        coded[bit // 8] ^= 0x80 >> (bit % 8)
    try:
        decoded = decode_field(bytes(coded), *field.shape[:2], reach, modes)
    except StreamError as error:
        assert "tezip.motion side information" in str(error)
    else:
        assert np.abs(decoded[..., :2]).max() <= reach


@pytest.mark.parametrize(
    ("data", "fault"),
    [
        (b"\x00", "ends before the last vector"),  # a prefix running off the end
        (b"\x00\x00\x80", "longer than any vector needs"),
        (b"\x01\x00", "beyond the search range"),  # dy = -64 > reach 8
        (b"\xe0", "left over"),  # (0, 0) and a one bit after it
        (b"\xc0\x00", "left over"),  # a byte past the last code
    ],
)
def test_hostile_side_information_is_a_stream_error(data: bytes, fault: str) -> None:
    with pytest.raises(StreamError, match=fault):
        decode_field(data, 1, 1, 8, False)


def test_the_search_finds_a_pan_and_predicts_it_exactly() -> None:
    frames = panning(3, (64, 80), (3, -2))
    [(residuals, sides)] = run_predictor(MotionPredictor(), [UINT8], [frames])
    field = decode_field(sides[1], 4, 5, 32, False)
    # frame t shows the scene at (3t, -2t): its block (y, x) is at (y + 3, x - 2) before
    assert (field[1:-1, 1:-1, :2] == (3, -2)).all()
    assert not residuals[1:, 16:-16, 16:-16].any()


def test_the_other_channels_may_follow_the_reference_channel() -> None:
    """Where colour differences do not move with the scene (e.g. chroma sampled on a coarser
    grid), blocks predict them from the moved reference channel: mode 1."""
    luma = panning(2, (64, 64), (1, 1)).astype(np.int16)
    still = texture((64, 64), seed=5).astype(np.int16) // 8
    frames = np.stack([luma, luma, luma], axis=-1)
    frames[..., 0] += still  # R - G stays where it is while G moves
    frames = np.clip(frames, 0, 255).astype(np.uint8)
    [(_, sides)] = run_predictor(MotionPredictor(), [UINT8], [frames])
    field = decode_field(sides[1], 4, 4, 32, True)
    assert field[1:-1, 1:-1, 2].all()


@pytest.mark.parametrize("shape", [(48, 64), (48, 64, 3), (20, 30, 2)])
@pytest.mark.parametrize("options", [{}, {"abs": 2}, {"predictor_options": {"block": 8}}])
def test_motion_archives_decode(tmp_path: Path, shape: tuple[int, ...], options: dict) -> None:
    frames = panning(6, shape, (1, 2))
    path = tmp_path / "a.tez"
    tezip.pack(frames, path, predictor="tezip.motion", **options)
    out = tezip.unpack(path)
    assert np.abs(out.astype(int) - frames).max() <= options.get("abs", 0)


def test_motion_decodes_64_bit_codes_exactly(tmp_path: Path) -> None:
    frames = panning(4, (40, 40), (2, 0)) * np.pi - 1e10  # float64, lossless: 64-bit codes
    path = tmp_path / "a.tez"
    tezip.pack(frames, path, predictor="tezip.motion")
    assert np.array_equal(tezip.unpack(path), frames)


def test_side_information_on_a_keyframe_is_an_error() -> None:
    state = MotionPredictor().start(UINT8, (32, 32))
    with pytest.raises(StreamError, match="keyframe"):
        state.predict(b"\x80")


def test_an_encoder_that_shows_no_frame_gets_the_previous_frame() -> None:
    frames = panning(3, (32, 32), (1, 1))
    state = MotionPredictor().start(UINT8, (32, 32))
    for frame in frames:
        prediction, side = state.predict(None)
        state.update(frame)
    assert side == b"" and np.array_equal(prediction, frames[1])


@pytest.mark.parametrize(
    "options", [{"block": 3}, {"block": 257}, {"reach": 0}, {"reach": 129}, {"block": True}]
)
def test_options_out_of_range_are_refused(options: dict) -> None:
    with pytest.raises(InputError, match=r"tezip\.motion"):
        MotionPredictor(**options)


def _predictor_ids(path: Path) -> list[str]:
    return [record["id"] for record in describe_archive(path)["header"]["predictors"]]


def _chosen(path: Path) -> set[str]:
    return set(describe_archive(path)["predictor_use"])


def test_auto_offers_motion_for_frames_of_two_blocks_or_more(tmp_path: Path) -> None:
    small, large = tmp_path / "small.tez", tmp_path / "large.tez"
    tezip.pack(panning(3, (31, 64), (0, 1)), small)
    tezip.pack(panning(3, (32, 32), (0, 1)), large)
    assert "tezip.motion" not in _predictor_ids(small)
    assert "tezip.motion" in _predictor_ids(large)
    explicit = tmp_path / "explicit.tez"
    tezip.pack(panning(3, (8, 8), (0, 1)), explicit, predictor="tezip.motion")
    assert _predictor_ids(explicit) == ["tezip.motion"]


def test_the_fast_levels_leave_motion_out_of_auto(tmp_path: Path) -> None:
    path = tmp_path / "fast.tez"
    tezip.pack(panning(3, (32, 32), (0, 1)), path, level=3)
    assert "tezip.motion" not in _predictor_ids(path)
    tezip.pack(
        panning(3, (32, 32), (0, 1)), path, level=3, predictor="auto,tezip.motion", overwrite=True
    )
    assert "tezip.motion" in _predictor_ids(path)


def test_auto_codes_a_pan_with_motion_and_smaller(tmp_path: Path) -> None:
    frames = panning(12, (96, 128, 3), (2, -3))
    auto, classic = tmp_path / "auto.tez", tmp_path / "classic.tez"
    tezip.pack(frames, auto)
    tezip.pack(frames, classic, predictor="tezip.zero,tezip.previous,tezip.linear")
    assert _chosen(auto) == {"tezip.motion"}
    assert auto.stat().st_size < 0.8 * classic.stat().st_size
    assert np.array_equal(tezip.unpack(auto), frames)


@pytest.mark.parametrize("entropy", ["tezip.density", "tezip.zstd"])
def test_motion_is_screened_for_every_entropy_stage(tmp_path: Path, entropy: str) -> None:
    """The screen ranks by what every entropy stage takes (its estimate and drafts), not by
    what only tezip.rans accepts."""
    frames = panning(12, (96, 128), (2, -3))
    path = tmp_path / "a.tez"
    tezip.pack(frames, path, entropy=entropy)
    assert "tezip.motion" in _predictor_ids(path)
    assert np.array_equal(tezip.unpack(path), frames)


def test_auto_leaves_motion_out_where_nothing_moves(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    frames = (texture((96, 96)) + rng.integers(0, 3, (10, 96, 96))).astype(np.uint8)
    path = tmp_path / "still.tez"
    tezip.pack(frames, path)
    assert "tezip.motion" not in _chosen(path)


@pytest.mark.parametrize(("behind", "kept"), [(1.2, True), (1.3, False)])
def test_the_screen_lets_drafts_overrule_the_estimate_within_its_margin(
    monkeypatch: pytest.MonkeyPatch, behind: float, kept: bool
) -> None:
    """The stage's estimate ranks less surely than its drafts (decoded camera video: motion
    compensation 11% behind in the estimate, ahead in the drafts and over the GOP): up to
    ``SCREEN_MARGIN`` behind, the drafts decide; further behind, no draft is spent."""
    frames = panning(8, (96, 128), (2, -3))
    packer, _ = prepare(frames)
    pipeline = packer.pipeline
    ids = [predictor.id for predictor in pipeline.predictors]
    motion, previous = ids.index("tezip.motion"), ids.index("tezip.previous")
    quantized = pipeline.quantizer.quantize(frames)
    space = pipeline.quantizer.space(quantized.offset, 8, quantized.phase)
    assert [len(bands) for bands in screen_windows(quantized.codes)] == [1]  # one estimate each
    draft, plain, drafts = pipeline.entropy.draft, [], []

    def estimate(pairs: np.ndarray) -> np.ndarray:  # motion: ``behind`` the plain estimate
        plain.append(1.0 + pairs.size)
        return np.array([plain[0] * behind ** (len(plain) - 1)])

    monkeypatch.setattr(pipeline.entropy, "estimate", estimate)
    monkeypatch.setattr(pipeline.entropy, "draft", lambda r: drafts.append(r) or draft(r))
    assert SCREEN_MARGIN == 0.25
    chosen = pipeline._screened(quantized.codes, space, previous, [motion])
    assert chosen == ([motion] if kept else [])
    assert len(drafts) == (2 if kept else 0)


def test_screen_windows_sample_time_and_space() -> None:
    codes = np.zeros((64, 1200, 100, 3), np.uint8)
    windows = screen_windows(codes)
    assert len(windows) == 2 and all(len(bands) == 2 for bands in windows)
    assert {band.shape for bands in windows for band in bands} == {(4, 32, 100, 3)}
    sampled = sum(band.size for bands in windows for band in bands)
    assert codes.size / 256 < sampled <= codes.size / 128
    short = screen_windows(codes[:3, :20])
    assert [[band.shape for band in bands] for bands in short] == [[(3, 20, 100, 3)]]


def test_a_predictor_without_observe_still_encodes() -> None:
    """``observe`` is optional: point-wise states ignore it and predict as before."""
    frames = panning(3, (16, 16), (0, 1))
    [(residuals, sides)] = run_predictor(PreviousPredictor(), [UINT8], [frames])
    assert sides == [b"", b"", b""]
    assert np.array_equal(residuals[1], frames[1] - frames[0])
