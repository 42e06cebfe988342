"""The API's options: validated against what is allowed, in the API's own words."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import tezip
from tezip.errors import BoundError, OptionError, OutputExistsError, TezipWarning
from tezip.packing import Packer, prepare


@pytest.fixture
def frames() -> np.ndarray:
    rng = np.random.default_rng(4)
    return (np.cumsum(rng.integers(-2, 3, (12, 10, 9)), axis=0) + 500).astype(np.uint16)


@pytest.fixture
def archive(frames: np.ndarray, tmp_path: Path) -> Path:
    path = tmp_path / "a.tez"
    tezip.pack(frames, path, gop=5)
    return path


@pytest.mark.parametrize("predictor", ["", ",", " ", " , ,"])
def test_no_predictor_id_is_an_option_error(
    predictor: str, frames: np.ndarray, tmp_path: Path
) -> None:
    with pytest.raises(OptionError, match="predictor: names no predictor") as caught:
        tezip.pack(frames, tmp_path / "a.tez", predictor=predictor)
    assert caught.value.options == ("predictor",)
    assert not (tmp_path / "a.tez").exists()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"bogus": 1}, r"has no option 'bogus'; options: level \(an integer, default 1\)"),
        ({"shuffle": "maybe"}, "shuffle must be true or false, got 'maybe'"),
        ({"shuffle": 1}, "shuffle must be true or false, got 1"),
        ({"level": True}, "level must be an integer, got True"),
        ({"level": 3.0}, "level must be an integer, got 3.0"),
        ({"level": "3"}, "level must be an integer, got '3'"),
    ],
)
def test_entropy_options_are_checked_against_declared_parameters(
    options: dict[str, Any], message: str, frames: np.ndarray, tmp_path: Path
) -> None:
    """Issue 10: ``shuffle="maybe"`` was taken as True; ``bogus=1`` leaked a signature."""
    with pytest.raises(OptionError, match=message) as caught:
        tezip.pack(frames, tmp_path / "a.tez", entropy="tezip.zstd", entropy_options=options)
    assert "__init__" not in str(caught.value)


def test_valid_typed_options_are_taken(frames: np.ndarray, tmp_path: Path) -> None:
    path = tmp_path / "a.tez"
    tezip.pack(frames, path, entropy="tezip.zstd", entropy_options={"shuffle": False, "level": 3})
    with tezip.open(path) as opened:
        assert opened.header.stages[-1]["configuration"] == {"level": 3, "shuffle": False}
        np.testing.assert_array_equal(opened[:], frames)


def test_predictor_options_go_to_the_candidates_that_declare_them(
    frames: np.ndarray, tmp_path: Path
) -> None:
    """An option no candidate takes names what each one takes."""
    with pytest.raises(OptionError, match=r"'x' \(tezip.linear options: none; ") as caught:
        tezip.pack(frames, tmp_path / "a.tez", predictor_options={"x": 1})
    assert caught.value.options == ("predictor_options",)


@pytest.mark.parametrize(
    ("bound", "message"),
    [
        ({"abs": -1}, "abs: must be a finite number >= 0, got -1"),
        ({"rel": float("nan")}, "rel: must be a finite number >= 0"),
        ({"abs": True}, "abs: must be a number, got True"),
        ({"abs": "1"}, "abs: must be a number, got '1'"),
        ({"abs": np.float32(1)}, None),
        ({"lossless": True, "abs": 1}, "lossless and abs: cannot be combined"),
        ({"pwrel": 0.1, "rel": 1}, "rel and pwrel: cannot be combined"),
        ({"pwrel": 1e-6}, r"pwrel: must be in \[1e-05, 1\)"),
    ],
)
def test_bound_options_speak_the_api_words(
    bound: dict[str, Any], message: str | None, frames: np.ndarray, tmp_path: Path
) -> None:
    if message is None:
        tezip.pack(frames, tmp_path / "a.tez", **bound)
        return
    with pytest.raises(BoundError, match=message) as caught:
        tezip.pack(frames, tmp_path / "a.tez", **bound)
    assert "--" not in str(caught.value)


def test_gop_option_error(frames: np.ndarray, tmp_path: Path) -> None:
    with pytest.raises(OptionError, match="gop: must be a positive integer") as caught:
        tezip.pack(frames, tmp_path / "a.tez", gop="abc")
    assert caught.value.options == ("gop",)


def test_pack_does_not_overwrite_by_default(frames: np.ndarray, tmp_path: Path) -> None:
    """Issue 10: the API replaced an existing file silently while the CLI refused."""
    path = tmp_path / "a.tez"
    path.write_bytes(b"keep")
    with pytest.raises(OutputExistsError, match=r"pass overwrite=True\)$") as caught:
        tezip.pack(frames, path)
    assert "--force" not in str(caught.value) and caught.value.code == "input.exists"
    assert path.read_bytes() == b"keep"
    tezip.pack(frames, path, overwrite=True)
    np.testing.assert_array_equal(tezip.unpack(path), frames)


def test_unpack_to_speaks_the_api_words(archive: Path, tmp_path: Path) -> None:
    for output in (tmp_path / "out.npy", tmp_path / "folder"):
        if output.suffix:
            output.write_bytes(b"keep")
        else:
            output.mkdir()
            (output / "keep.txt").write_text("keep")
        with pytest.raises(OutputExistsError, match="overwrite=True") as caught:
            tezip.unpack_to(archive, output, fmt=None if output.suffix else "png")
        assert "--force" not in str(caught.value)


@pytest.mark.parametrize(
    ("selection", "message"),
    [
        (slice(200, 300), "200:300 reaches outside the archive's frames 0:12"),
        (slice(10, 13), "10:13 reaches outside"),
        (slice(-13, None), "-13: reaches outside"),
        (slice(8, 4), "8:4 selects no frames"),
        (slice(3, 3), "3:3 selects no frames"),
        (slice(0, 6, 2), "without a step"),
        (slice(0.5, 2), "takes integers"),
    ],
)
def test_unpack_refuses_a_selection_outside_the_archive(
    selection: slice, message: str, archive: Path, tmp_path: Path
) -> None:
    """Issue 10: out-of-range and empty selections returned an empty array with success."""
    with pytest.raises(OptionError, match=message):
        tezip.unpack(archive, selection)
    with pytest.raises(OptionError, match=message):
        tezip.unpack_to(archive, tmp_path / "out.npy", frames=selection)
    assert not (tmp_path / "out.npy").exists()


@pytest.mark.parametrize(
    ("selection", "expected"),
    [(slice(None), slice(None)), (slice(-3, None), slice(9, 12)), (slice(4, -1), slice(4, 11))],
)
def test_unpack_selections_within_the_archive(
    selection: slice, expected: slice, frames: np.ndarray, archive: Path, tmp_path: Path
) -> None:
    np.testing.assert_array_equal(tezip.unpack(archive, selection), frames[expected])
    tezip.unpack_to(archive, tmp_path / "out.npy", frames=selection)
    np.testing.assert_array_equal(np.load(tmp_path / "out.npy"), frames[expected])


def test_archive_slicing_keeps_numpy_semantics(frames: np.ndarray, archive: Path) -> None:
    with tezip.open(archive) as opened:
        for key in (slice(200, 300), slice(8, 4), slice(10, 13), slice(-13, None)):
            np.testing.assert_array_equal(opened[key], frames[key])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_a_bound_below_the_data_resolution_is_coded_losslessly(dtype: str, tmp_path: Path) -> None:
    """Issue 10: ``abs=1e-30`` on float32 stored every element as an outlier, costing more
    than lossless coding; a tolerance that cannot merge two values now codes losslessly."""
    rng = np.random.default_rng(5)
    data = (np.cumsum(rng.normal(0, 1, (6, 16, 16)), axis=0) + 50).astype(dtype)
    tiny, lossless = tmp_path / "tiny.tez", tmp_path / "lossless.tez"
    tezip.pack(data, tiny, abs=1e-30)
    tezip.pack(data, lossless)
    with tezip.open(tiny) as opened:
        assert opened.header.quantizer["mode"] == "lossless"
        assert opened.header.bound["abs"] == 1e-30
        np.testing.assert_array_equal(opened[:], data)
    assert tiny.stat().st_size <= lossless.stat().st_size + 64  # only the bound record differs


def test_a_bound_that_can_merge_values_keeps_the_grid(tmp_path: Path) -> None:
    """The smallest magnitude decides: 1.0 and its neighbour are 1.2e-7 apart in float32."""
    data = np.full((2, 4, 4), 1.0, np.float32)
    data[1] = np.nextafter(np.float32(1.0), np.float32(2.0))
    for tolerance, mode in ((5e-8, "lossless"), (7e-8, "grid")):
        path = tmp_path / f"{mode}.tez"
        tezip.pack(data, path, abs=tolerance)
        with tezip.open(path) as opened:
            assert opened.header.quantizer["mode"] == mode


@pytest.mark.parametrize(
    ("bound", "warns"), [({"abs": 1e30}, 1), ({"rel": 2}, 1), ({"abs": 3}, 0), ({"rel": 1}, 0)]
)
def test_a_bound_beyond_the_data_range_warns(
    bound: dict[str, float], warns: int, frames: np.ndarray, tmp_path: Path
) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        tezip.pack(frames, tmp_path / "a.tez", **bound)
    found = [str(w.message) for w in caught if issubclass(w.category, TezipWarning)]
    assert len(found) == warns
    data_range = f"exceeds the range of the data ({frames.min():g} to {frames.max():g})"
    assert all(data_range in message for message in found)


@pytest.mark.parametrize(
    ("level", "entropy"),
    [(1, "tezip.zstd"), (2, "tezip.rans"), (5, "tezip.rans"), (9, "tezip.rans")],
)
def test_levels_choose_the_entropy_stage(
    level: int, entropy: str, frames: np.ndarray, tmp_path: Path
) -> None:
    path = tmp_path / "a.tez"
    tezip.pack(frames, path, level=level)
    with tezip.open(path) as opened:
        assert opened.header.stages[-1]["id"] == entropy
        np.testing.assert_array_equal(opened[:], frames)


@pytest.mark.parametrize(("level", "effort"), [(2, 1), (3, 1), (4, 2), (6, 2), (7, 3), (9, 3)])
def test_a_level_reaches_the_encoder_and_its_workers(
    level: int, effort: int, frames: np.ndarray
) -> None:
    """The header keeps no encoder effort, so the pipeline rebuilt from it (the packer's, a
    cluster worker's) must be given it beside the header."""
    packer, _ = prepare(frames, level=level)
    assert packer.pipeline.entropy.effort == effort
    worker = Packer.from_header(packer.header, packer.pipeline.encoding)
    assert worker.pipeline.entropy.effort == effort
    assert worker.pipeline.encoding.thorough == (level >= 8)


def test_entropy_options_only_an_encoder_uses_still_reach_it(frames: np.ndarray) -> None:
    packer, _ = prepare(frames, entropy_options={"effort": 3})
    assert packer.pipeline.entropy.effort == 3
    assert "effort" not in packer.header.stages[-1]["configuration"]


@pytest.mark.parametrize("level", [0, 10, 2.5, True, "5"])
def test_a_level_outside_1_to_9_is_an_option_error(
    level: object, frames: np.ndarray, tmp_path: Path
) -> None:
    with pytest.raises(OptionError, match="from 1 \\(fastest\\) to 9") as caught:
        tezip.pack(frames, tmp_path / "a.tez", level=level)  # type: ignore[arg-type]
    assert caught.value.options == ("level",)


def test_the_smallest_level_codes_every_predictor_and_is_no_larger(
    frames: np.ndarray, tmp_path: Path
) -> None:
    default, smallest = tmp_path / "a.tez", tmp_path / "b.tez"
    tezip.pack(frames, default)
    tezip.pack(frames, smallest, level=9)
    assert smallest.stat().st_size <= default.stat().st_size
