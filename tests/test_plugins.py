"""Plugin discovery: in-process plugins, duplicate ids, unknown ids, the out-of-tree example."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pytest

import tezip
from tezip.abc import CodeSpace, Predictor, PredictorState
from tezip.errors import DuplicateIdError, InputError, OptionError, PluginError, UnknownIdError
from tezip.inspection import describe_archive
from tezip.registry import Registry, plugin_manager
from tezip_classic.predictors import PreviousPredictor


class _HalfState(PredictorState):
    def __init__(self, space: CodeSpace, shape: tuple[int, ...]) -> None:
        self.last = np.zeros(shape, space.dtype)

    def predict(self, side: bytes | None) -> tuple[np.ndarray, bytes]:
        return self.last >> 1, b""

    def update(self, codes: np.ndarray) -> None:
        self.last = codes


class HalfPredictor(Predictor):
    """Half the previous frame (a deliberately odd predictor)."""

    id = "test.half"

    @property
    def configuration(self) -> dict[str, Any]:
        return {}

    def start(self, space: CodeSpace, frame_shape: tuple[int, ...]) -> PredictorState:
        return _HalfState(space, frame_shape)


class InProcessPlugin:
    @tezip.hookimpl
    def tezip_register_predictors(self) -> list[type[Predictor]]:
        return [HalfPredictor]


class Impostor(PreviousPredictor):
    """Claims a built-in id."""


class DuplicatePlugin:
    @tezip.hookimpl
    def tezip_register_predictors(self) -> list[type[Predictor]]:
        return [Impostor]


def registry_with(*plugins: object) -> Registry:
    manager = plugin_manager()
    for plugin in plugins:
        manager.register(plugin)
    return Registry(manager)


def test_in_process_plugin_round_trips(tmp_path: Path) -> None:
    registry = registry_with(InProcessPlugin())
    data = np.random.default_rng(0).integers(0, 999, (6, 8, 8)).astype(np.uint16)
    path = tmp_path / "a.tez"
    tezip.pack(data, path, predictor="test.half", registry=registry)
    with tezip.archive.Archive(path, registry=registry) as archive:
        assert archive.header.predictors[0]["id"] == "test.half"
        assert np.array_equal(archive[:], data)


@pytest.mark.parametrize(("halving", "winner"), [(True, "test.half"), (False, "tezip.linear")])
def test_a_predictor_judged_only_in_full_wins_where_it_codes_smaller(
    tmp_path: Path, halving: bool, winner: str
) -> None:
    """Non-point-wise candidates are coded in full beside the best point-wise one."""
    rng = np.random.default_rng(1)
    base = rng.integers(30000, 60000, (16, 16)).astype(np.uint16)
    steps = np.arange(8)[:, None, None]
    data = (
        (base >> steps).astype(np.uint16)
        if halving
        else np.repeat(base[None], 8, axis=0) + steps.astype(np.uint16)
    )
    registry = registry_with(InProcessPlugin())
    path = tmp_path / "a.tez"
    tezip.pack(data, path, predictor="test.half,auto", gop=8, registry=registry)
    description = describe_archive(path)
    assert description["predictor_use"] == {winner: 1}
    with tezip.archive.Archive(path, registry=registry) as archive:
        assert np.array_equal(archive[:], data)


def test_unknown_id_at_unpack_names_it_and_the_installed(tmp_path: Path) -> None:
    registry = registry_with(InProcessPlugin())
    path = tmp_path / "a.tez"
    tezip.pack(np.zeros((2, 4, 4), np.uint8), path, predictor="test.half", registry=registry)
    with pytest.raises(UnknownIdError, match=r"test\.half.*tezip\.previous") as caught:
        tezip.unpack(path)
    assert isinstance(caught.value, KeyError) and caught.value.code == "plugin.unknown"


def test_duplicate_id_names_both_classes() -> None:
    with pytest.raises(DuplicateIdError, match=r"Impostor.*PreviousPredictor"):
        registry_with(DuplicatePlugin())


HAS_EXAMPLE = importlib.util.find_spec("tezip_example") is not None


@pytest.mark.skipif(not HAS_EXAMPLE, reason="pip install ./tests/example_plugin first")
def test_out_of_tree_plugin_through_the_cli(tmp_path: Path) -> None:
    data = np.cumsum(np.ones((9, 10, 11), np.int16), axis=0, dtype=np.int16)
    source, archive, out = tmp_path / "in.npy", tmp_path / "a.tez", tmp_path / "out.npy"
    np.save(source, data)

    def tezip_cli(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-c", "from tezip.cli import main; main()", *args]
        return subprocess.run(command, capture_output=True, text=True, check=False)

    listing = tezip_cli("plugins")
    assert "example.mean" in listing.stdout
    packed = tezip_cli("pack", str(source), "-o", str(archive), "--predictor", "example.mean")
    assert packed.returncode == 0, packed.stderr
    assert tezip_cli("unpack", str(archive), "-o", str(out)).returncode == 0
    assert np.array_equal(np.load(out), data)


@pytest.mark.skipif(not HAS_EXAMPLE, reason="pip install ./tests/example_plugin first")
def test_example_plugin_passes_the_conformance_kit() -> None:
    from tezip.testing import check_predictor
    from tezip_example.plugin import MeanPredictor

    check_predictor(MeanPredictor)


class _ShiftState(_HalfState):
    def __init__(self, space: CodeSpace, shape: tuple[int, ...], shift: int) -> None:
        super().__init__(space, shape)
        self.shift = shift

    def predict(self, side: bytes | None) -> tuple[np.ndarray, bytes]:
        return self.last >> self.shift, b""


class HalfPredictorV2(HalfPredictor):
    """Version 2 predicts a quarter of the previous frame; version 1 records still a half."""

    version = 2

    def start(self, space: CodeSpace, frame_shape: tuple[int, ...]) -> PredictorState:
        return _ShiftState(space, frame_shape, 1 if self.version == 1 else 2)


class VersionTwoPlugin:
    @tezip.hookimpl
    def tezip_register_predictors(self) -> list[type[Predictor]]:
        return [HalfPredictorV2]


def test_a_decoder_receives_the_version_of_the_record(tmp_path: Path) -> None:
    """Issue 10: FORMAT.md 12 makes version v decode 1..v, but decoders were not told which."""
    data = np.random.default_rng(2).integers(0, 999, (6, 8, 8)).astype(np.uint16)
    old, new = tmp_path / "v1.tez", tmp_path / "v2.tez"
    tezip.pack(data, old, predictor="test.half", registry=registry_with(InProcessPlugin()))
    upgraded = registry_with(VersionTwoPlugin())
    tezip.pack(data, new, predictor="test.half", registry=upgraded)
    for path, version in ((old, 1), (new, 2)):
        with tezip.archive.Archive(path, registry=upgraded) as archive:
            assert archive.header.predictors[0]["version"] == version
            assert archive.pipeline.predictors[0].version == version
            np.testing.assert_array_equal(archive[:], data)
    assert HalfPredictorV2.version == 2


class MisspeltPlugin:
    @tezip.hookimpl
    def tezip_register_predictor(self) -> list[type[Predictor]]:  # no such hook
        return [HalfPredictor]


def test_a_misspelt_hook_implementation_is_an_error() -> None:
    with pytest.raises(PluginError, match=r"tezip_register_predictor'.*tezip_register_predictors"):
        registry_with(MisspeltPlugin())


class Options(Predictor):
    """Declares options of every checked kind."""

    id = "test.options"

    def __init__(
        self,
        count: int = 1,
        scale: float = 0.5,
        name: str | None = None,
        mode: Literal["fast", "small"] = "fast",
        flag: bool = False,
        other: list[int] | None = None,
    ) -> None:
        self.options = {
            "count": count,
            "scale": scale,
            "name": name,
            "mode": mode,
            "flag": flag,
            "other": other,
        }

    @property
    def configuration(self) -> dict[str, Any]:
        return self.options

    def start(self, space: CodeSpace, frame_shape: tuple[int, ...]) -> PredictorState:
        return _HalfState(space, frame_shape)


class AnyOptions(Options):
    id = "test.any"

    def __init__(self, **options: Any) -> None:
        super().__init__()


class RequiredOption(Options):
    id = "test.required"

    def __init__(self, size: int) -> None:
        super().__init__(count=size)


class OptionsPlugin:
    @tezip.hookimpl
    def tezip_register_predictors(self) -> list[type[Predictor]]:
        return [Options, AnyOptions, RequiredOption]


@pytest.mark.parametrize(
    "options",
    [
        {"count": 3, "scale": 2, "name": "x", "mode": "small", "flag": True},
        {"scale": 0.25, "name": None, "other": [1, "anything"]},
        {},
    ],
)
def test_declared_options_are_admitted(options: dict[str, Any]) -> None:
    predictor = registry_with(OptionsPlugin()).predictor("test.options", options)
    assert predictor.configuration.items() >= options.items()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"count": 1.0}, "count must be an integer, got 1.0"),
        ({"count": False}, "count must be an integer, got False"),
        ({"scale": "0.5"}, "scale must be a number, got '0.5'"),
        ({"scale": True}, "scale must be a number, got True"),
        ({"name": 3}, "name must be a string or null, got 3"),
        ({"mode": "slow"}, 'mode must be one of "fast", "small", got \'slow\''),
        ({"flag": "true"}, "flag must be true or false, got 'true'"),
        ({"flag": 0}, "flag must be true or false, got 0"),
        ({"colour": 1}, "test.options has no option 'colour'; options: count .an integer, def"),
    ],
)
def test_undeclared_or_mistyped_options_say_what_is_allowed(
    options: dict[str, Any], message: str
) -> None:
    with pytest.raises(OptionError, match=message):
        registry_with(OptionsPlugin()).predictor("test.options", options)


def test_a_missing_required_option_names_it() -> None:
    registry = registry_with(OptionsPlugin())
    with pytest.raises(OptionError, match=r"needs option 'size'; options: size \(an integer, req"):
        registry.predictor("test.required", {})
    assert registry.predictor("test.required", {"size": 4}).configuration["count"] == 4


def test_a_constructor_taking_any_keyword_takes_any_option() -> None:
    registry = registry_with(OptionsPlugin())
    assert isinstance(registry.predictor("test.any", {"whatever": [1]}), AnyOptions)


def test_an_archive_record_with_a_mistyped_configuration_is_refused() -> None:
    """FORMAT.md 10, step 23: ``input``, the archive's fault, not an option error."""
    registry = registry_with()
    record = {"id": "tezip.zstd", "version": 1, "configuration": {"level": 1, "shuffle": "no"}}
    with pytest.raises(InputError, match="shuffle must be true or false") as caught:
        registry.from_record("stage", record)
    assert type(caught.value) is InputError and caught.value.code == "input"


class SloppyOptions(Options):
    """Declares an integer but records it as a float: its archives would not decode."""

    id = "test.sloppy"

    @property
    def configuration(self) -> dict[str, Any]:
        return {**self.options, "count": float(self.options["count"])}


def test_the_conformance_kit_checks_the_configuration_against_the_parameters() -> None:
    from tezip.testing import check_predictor

    check_predictor(Options)
    with pytest.raises(AssertionError, match=r"count must be an integer, got 1\.0"):
        check_predictor(SloppyOptions)
