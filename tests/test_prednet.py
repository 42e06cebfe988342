"""tezip.prednet: round trips, models, exact decoding under float noise, `tezip train`."""

from __future__ import annotations

import contextlib
import json
import math
import re
import struct
import subprocess
import sys
import warnings
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

import tezip
from tezip.abc import GopStates, RunContext, SeparateStates
from tezip.cli import cli
from tezip.container.layout import MODEL_SECTION
from tezip.container.reader import ArchiveFile
from tezip.container.writer import ArchiveWriter
from tezip.errors import DependencyError, InputError, IntegrityError, ModelError, TezipError
from tezip.inspection import describe_archive, format_description
from tezip.pipeline import Pipeline
from tezip.registry import get_registry
from tezip.testing import check_predictor, space_for

torch = pytest.importorskip("torch")

from tezip_prednet import limits, models  # noqa: E402
from tezip_prednet.architecture import PRESETS, Architecture  # noqa: E402
from tezip_prednet.modelfile import MAGIC, ModelFile, fingerprint  # noqa: E402
from tezip_prednet.network import PredNet  # noqa: E402
from tezip_prednet.normalise import SCHEME, Normaliser  # noqa: E402
from tezip_prednet.predictor import PrednetPredictor, PrednetStates  # noqa: E402
from tezip_prednet.snapping import snapped_values  # noqa: E402

CUDA = torch.cuda.is_available()


def tiny_model(path: Path, channels: int = 1, seed: int = 0, spread: float = 0.05) -> Path:
    """A random 2-layer PredNet whose corrections are not zero."""
    torch.manual_seed(seed)
    network = PredNet(Architecture((channels, 4), 3))
    torch.nn.init.normal_(network.ahat[0].weight, std=spread)
    path.write_bytes(models.to_model_file(network, {"seed": seed}).to_bytes())
    return path


def frames(shape: tuple[int, ...], dtype: str = "uint8", seed: int = 0) -> np.ndarray:
    """Smoothly moving blobs with noise, in ``dtype``."""
    rng = np.random.default_rng(seed)
    t = np.arange(shape[0])[:, None, None]
    y, x = np.mgrid[: shape[1], : shape[2]]
    base = 100 + 60 * np.sin((x + 2 * t) / 4.0) * np.cos((y - t) / 5.0)
    data = base[..., None] + np.arange(shape[3] if len(shape) == 4 else 1) * 10
    data = data.reshape(shape) + rng.normal(0, 2, shape)
    return data.astype(dtype)


@pytest.fixture
def model(tmp_path: Path) -> Path:
    return tiny_model(tmp_path / "tiny.tezm")


@pytest.mark.parametrize(
    ("shape", "dtype", "bound"),
    [
        ((6, 13, 21), "uint8", {}),
        ((5, 9, 10, 3), "uint16", {}),
        ((6, 12, 12), "float32", {}),
        ((6, 13, 21), "int32", {"abs": 2}),
        ((6, 16, 8), "float32", {"rel": 1e-3}),
    ],
)
def test_round_trip(
    tmp_path: Path, model: Path, shape: tuple[int, ...], dtype: str, bound: dict[str, float]
) -> None:
    data = frames(shape, dtype)
    archive = tmp_path / "a.tez"
    tezip.pack(data, archive, predictor="tezip.prednet", model=model, gop=4, **bound)
    decoded = tezip.unpack(archive, model=model)
    assert decoded.dtype == data.dtype and decoded.shape == data.shape
    if not bound:
        assert decoded.tobytes() == data.tobytes()
    else:
        tolerance = bound.get("abs") or bound["rel"] * float(np.ptp(data))
        assert np.abs(decoded.astype(np.float64) - data).max() <= tolerance


def test_archive_needs_its_model(tmp_path: Path, model: Path) -> None:
    archive = tmp_path / "a.tez"
    tezip.pack(frames((4, 8, 8)), archive, predictor="tezip.prednet", model=model)
    wanted = fingerprint(model.read_bytes())
    with pytest.raises(ModelError, match=wanted):
        tezip.unpack(archive)
    other = tiny_model(tmp_path / "other.tezm", seed=1)
    with pytest.raises(ModelError, match=wanted):
        tezip.unpack(archive, model=other)


def test_embedded_model_unpacks_alone(tmp_path: Path, model: Path) -> None:
    data = frames((5, 8, 11))
    archive = tmp_path / "a.tez"
    tezip.pack(data, archive, predictor="tezip.prednet", model=model, embed_model=True)
    assert np.array_equal(tezip.unpack(archive), data)
    text = format_description(describe_archive(archive))
    assert f"model {fingerprint(model.read_bytes())[:16]} packed on cpu" in text


def test_channel_mismatch_is_a_model_error(tmp_path: Path) -> None:
    rgb = tiny_model(tmp_path / "rgb.tezm", channels=3)
    with pytest.raises(ModelError, match="3 channels"):
        tezip.pack(frames((3, 8, 8, 2)), tmp_path / "a.tez", predictor="tezip.prednet", model=rgb)


def _perturb_on_decode(monkeypatch: pytest.MonkeyPatch, relative: float) -> None:
    original = PredNet.correction
    generator = torch.Generator().manual_seed(7)

    def noisy(self: PredNet, representations: list) -> object:
        out = original(self, representations)
        return out * (1 + relative * torch.randn(out.shape, generator=generator))

    monkeypatch.setattr(PredNet, "correction", noisy)


@pytest.mark.parametrize("margin", [1e-5, 0.0])
def test_float_noise_on_decode_stays_exact_thanks_to_the_margin(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, margin: float
) -> None:
    model = tiny_model(tmp_path / "wild.tezm", spread=0.5)  # large corrections
    data = frames((6, 48, 48), "uint16") * 200  # a fine grid: many elements near boundaries
    archive = tmp_path / "a.tez"
    options = {"margin": margin}
    tezip.pack(data, archive, predictor="tezip.prednet", model=model, predictor_options=options)
    _perturb_on_decode(monkeypatch, 1e-6)
    if margin:
        assert np.array_equal(tezip.unpack(archive, model=model), data)
    else:  # without the recorded elements the noise flips some roundings: refused, not wrong
        with pytest.raises(IntegrityError, match="checksum"):
            tezip.unpack(archive, model=model)


def test_large_noise_on_decode_is_refused_naming_model_and_packing_device(
    tmp_path: Path, model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tezip_prednet import predictor

    data = frames((8, 24, 24), "uint16") * 200
    archive = tmp_path / "a.tez"
    monkeypatch.setattr(predictor, "describe_device", lambda _: "cuda (Test GPU)")
    tezip.pack(data, archive, predictor="tezip.prednet", model=model)
    with tezip.open(archive, model=model) as opened:
        assert opened.header.predictors[0]["device"] == "cuda (Test GPU)"
    monkeypatch.undo()
    _perturb_on_decode(monkeypatch, 0.3)
    wanted = fingerprint(model.read_bytes())[:16]
    with pytest.raises(IntegrityError, match=rf"model {wanted}.*\(cpu\).*--device cuda"):
        tezip.unpack(archive, model=model)


def test_a_linear_base_extrapolates_even_untrained(tmp_path: Path) -> None:
    """Frames that change linearly in time, at a different rate per pixel: an untrained
    linear-base model predicts them exactly from the third frame on; a previous-frame one
    leaves every rate to code in every frame."""
    rng = np.random.default_rng(3)
    rate = rng.integers(0, 40, (32, 40))
    data = 1000 + rng.integers(0, 500, (32, 40)) + np.arange(10)[:, None, None] * rate
    data = data.astype(np.uint16)
    sizes = {}
    for base in ("previous", "linear"):
        path = tmp_path / f"{base}.tezm"
        network = PredNet(Architecture((1, 4), 3, base))
        path.write_bytes(models.to_model_file(network, {}).to_bytes())
        archive = tmp_path / f"{base}.tez"
        options = {"model": path, "entropy": "tezip.density"}  # no matches across frames
        sizes[base] = tezip.pack(data, archive, predictor="tezip.prednet", **options).output_bytes
        assert np.array_equal(tezip.unpack(archive, model=path), data)
    assert sizes["linear"] < 0.6 * sizes["previous"]


def test_an_unknown_base_is_a_model_error(model: Path) -> None:
    file = ModelFile.from_bytes(model.read_bytes())
    file.architecture["base"] = "cubic"
    with pytest.raises(ModelError, match="valid PredNet"):
        models.build(file)


def test_snapping_records_ambiguous_elements() -> None:
    # bits 4: grid units of 1/16; low 10 and scale 2 map grid point g to 10 + g / 8
    normaliser = Normaliser(low=10.0, scale=2.0, bits=4)
    base = np.array([1.0, 0.5, 0.25, -0.5])
    near = [0.5 + 1e-9, 2.5 - 1e-9, 7.2, -3.5 + 1e-9]  # grid units, three near a boundary
    correction = np.array(near) / 16 - base
    values, side = snapped_values(normaliser, base, correction, 1e-6, None)
    assert (values * 8 - 80).tolist() == [1, 2, 7, -3] and side
    shifted = correction + np.array([-2e-9, 2e-9, 0, -2e-9]) / 16  # another device's floats
    alone, _ = snapped_values(normaliser, base, shifted, 0.0, None)
    assert not np.array_equal(alone, values)
    assert np.array_equal(snapped_values(normaliser, base, shifted, 1e-6, side)[0], values)
    assert snapped_values(normaliser, base, correction, 0.0, None)[1] == b""


def test_snapping_clips_corrections_and_predictions() -> None:
    normaliser = Normaliser(low=0.0, scale=1.0, bits=4)
    base = np.array([0.0, 0.0, 2.9, -1.9, 0.5], np.float64)
    correction = np.array([np.nan, np.inf, 1.0, -np.inf, -7.0], np.float32)
    values, _ = snapped_values(normaliser, base, correction, 1e-5, None)
    # NaN -> 0; corrections clipped to [-5, 5], predictions to [-2, 3]
    assert values.tolist() == [0.0, 3.0, 3.0, -2.0, -2.0]


@settings(max_examples=40, deadline=None)
@given(
    st.integers(0, 2**32 - 1),
    st.integers(4, 16),
    st.sampled_from([1e-5, 1e-3]),
)
def test_snapping_is_the_same_wherever_the_floats_move_within_the_margin(
    seed: int, bits: int, margin: float
) -> None:
    """Another device's corrections, off by well under the band, snap to the same values."""
    rng = np.random.default_rng(seed)
    normaliser = Normaliser(low=float(rng.normal()), scale=float(rng.uniform(0.1, 10)), bits=bits)
    base = rng.uniform(-2, 3, 4096)
    grid = np.floor(base * 2**bits) + rng.integers(-3, 4, base.size) + 0.5  # boundaries
    correction = grid / 2**bits - base + rng.normal(0, 2.0**-bits * margin * 1e-3, base.size)
    values, side = snapped_values(normaliser, base, correction, margin, None)
    assert np.array_equal(snapped_values(normaliser, base, correction, margin, side)[0], values)
    band = margin * (np.abs(correction) + 1e-3)  # the band's half-width, in c's units
    moved = correction + rng.uniform(-0.4, 0.4, base.size) * band
    assert not np.array_equal(snapped_values(normaliser, base, moved, 0.0, None)[0], values)
    assert np.array_equal(snapped_values(normaliser, base, moved, margin, side)[0], values)


@pytest.mark.parametrize(
    "mangle",
    [
        lambda b: b"PK\x03\x04" + b[4:],
        lambda b: b[:-4],
        lambda b: b + b"\0\0\0\0",
        lambda b: b[:8] + (1 << 30).to_bytes(4, "little") + b[12:],
        lambda b: b[:12] + b"{" + b[13:],
        lambda b: b[:11],
    ],
)
def test_damaged_model_file_is_a_model_error(tmp_path: Path, model: Path, mangle: object) -> None:
    damaged = tmp_path / "bad.tezm"
    damaged.write_bytes(mangle(model.read_bytes()))  # type: ignore[operator]
    with pytest.raises(ModelError):
        tezip.pack(frames((3, 8, 8)), tmp_path / "a.tez", predictor="tezip.prednet", model=damaged)


def test_model_file_with_wrong_tensors_is_a_model_error(model: Path) -> None:
    file = ModelFile.from_bytes(model.read_bytes())
    file.tensors.pop(next(iter(file.tensors)))
    with pytest.raises(ModelError, match="valid PredNet"):
        models.build(file)
    assert model.read_bytes().startswith(MAGIC)


def test_conformance_with_a_tiny_model(model: Path) -> None:
    class Bound(PrednetPredictor):
        def __init__(self, margin: float = 1e-5) -> None:
            super().__init__(margin)
            self.bind(RunContext(models=(model.read_bytes(),)))

    check_predictor(Bound)


def _train(tmp_path: Path, name: str, *extra: str) -> tuple[Path, object]:
    commands = dict(cli.commands)
    get_registry().manager.hook.tezip_add_commands(cli=cli)
    output = tmp_path / name
    args = ["train", str(tmp_path / "seq.npy"), "-o", str(output), "--crop", "8", "--nt", "4"]
    result = CliRunner().invoke(cli, [*args, *extra])
    cli.commands.clear()
    cli.commands.update(commands)
    return output, result


def _weights(path: Path) -> dict[str, np.ndarray]:
    return ModelFile.from_bytes(path.read_bytes()).tensors


def test_train_is_reproducible_and_resumable(tmp_path: Path) -> None:
    np.save(tmp_path / "seq.npy", frames((12, 10, 12)))
    first, result = _train(tmp_path, "a.tezm", "--epochs", "2", "--quiet")
    assert result.exit_code == 0, result.output
    again, _ = _train(tmp_path, "b.tezm", "--epochs", "2", "--quiet")
    resumed, _ = _train(tmp_path, "c.tezm", "--epochs", "1", "--quiet")
    checkpoint = Path(str(resumed) + ".ckpt")
    _, result = _train(tmp_path, "c.tezm", "--epochs", "2", "--resume", str(checkpoint))
    assert "epoch 2/2" in result.output
    final = {k: v for k, v in _weights(checkpoint).items() if not k.startswith("adam/")}
    assert all(np.array_equal(v, _weights(again)[k]) for k, v in _weights(first).items())
    assert all(np.array_equal(v, _weights(Path(str(first) + ".ckpt"))[k]) for k, v in final.items())
    data = frames((4, 10, 12))
    tezip.pack(data, tmp_path / "a.tez", predictor="tezip.prednet", model=first)
    assert np.array_equal(tezip.unpack(tmp_path / "a.tez", model=first), data)


def test_train_a_linear_base(tmp_path: Path) -> None:
    np.save(tmp_path / "seq.npy", frames((12, 10, 12)))
    linear, result = _train(tmp_path, "l.tezm", "--epochs", "1", "--quiet", "--base", "linear")
    assert result.exit_code == 0, result.output
    assert ModelFile.from_bytes(linear.read_bytes()).architecture["base"] == "linear"
    previous, _ = _train(tmp_path, "p.tezm", "--epochs", "1", "--quiet")
    assert "base" not in ModelFile.from_bytes(previous.read_bytes()).architecture
    _, result = _train(
        tmp_path, "x.tezm", "--epochs", "1", "--base", "linear", "--init", str(previous)
    )
    assert result.exit_code == 1 and "--base" in result.output
    data = frames((6, 10, 12))
    tezip.pack(data, tmp_path / "a.tez", predictor="tezip.prednet", model=linear)
    assert np.array_equal(tezip.unpack(tmp_path / "a.tez", model=linear), data)


def test_train_rejects_bad_input_in_one_line(tmp_path: Path) -> None:
    np.save(tmp_path / "seq.npy", frames((1, 10, 12)))
    _, result = _train(tmp_path, "a.tezm", "--epochs", "1")
    assert result.exit_code == 1
    assert result.output.strip().count("\n") == 0 and "at least 2 frames" in result.output


def test_core_works_without_torch(tmp_path: Path) -> None:
    script = (
        "import sys; sys.modules['torch'] = None\n"
        "import numpy as np, tezip\n"
        "from tezip.errors import DependencyError\n"
        f"tezip.pack(np.zeros((2, 4, 4), 'u1'), {str(tmp_path / 'a.tez')!r})\n"
        "try:\n"
        f"    tezip.pack(np.zeros((2, 4, 4), 'u1'), {str(tmp_path / 'b.tez')!r},"
        " predictor='tezip.prednet')\n"
        "except DependencyError as exc:\n"
        "    print(exc)\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert "pip install 'tezip[torch]'" in out.stdout
    assert issubclass(DependencyError, TezipError)


@pytest.mark.gpu
@pytest.mark.skipif(not CUDA, reason="needs a CUDA device")
@pytest.mark.parametrize(("packer", "unpacker"), [("cuda", "cpu"), ("cpu", "cuda")])
def test_exact_across_devices(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, packer: str, unpacker: str
) -> None:
    from tezip_prednet import predictor

    data = frames((24, 64, 80), "uint16") * 50
    model = tiny_model(tmp_path / "m.tezm", spread=0.5)
    archive = tmp_path / "a.tez"
    monkeypatch.setattr(predictor, "torch_device", lambda _: packer)
    tezip.pack(data, archive, predictor="tezip.prednet", model=model, gop=8)  # a batch on a GPU
    monkeypatch.setattr(predictor, "torch_device", lambda _: unpacker)
    assert np.array_equal(tezip.unpack(archive, model=model), data)


@pytest.mark.parametrize("base", ["previous", "linear"])
def test_bench_prednet_runs_on_a_tiny_dataset(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    base: str,
) -> None:
    from tool_modules import load_tool

    bench = load_tool("bench_prednet")
    folder = tmp_path / "data" / "tiny"
    folder.mkdir(parents=True)
    np.save(folder / "tiny.npy", frames((12, 64, 64)))
    args = ["--data", str(tmp_path / "data"), "--datasets", "tiny", "--batches", "2"]
    args += ["--crop", "8", "--nt", "4", "--base", base, "--write"]
    (tmp_path / "BENCHMARKS.md").write_text("# B\n\n## PredNet vs previous frame\nold\n\n## End\n")
    monkeypatch.setattr(bench, "ROOT", tmp_path)
    monkeypatch.setattr(sys, "argv", ["bench_prednet", *args])
    bench.main()
    table = capsys.readouterr().out
    written = (tmp_path / "BENCHMARKS.md").read_text()
    assert written.endswith("## End\n") == (base == "previous")  # the next section stays
    assert ("old" in written) == (base == "linear")  # replaced, or appended beside it
    rows = [line for line in table.splitlines() if line.startswith("| tiny |")]
    assert [row.split(" | ")[1] for row in rows] == ["lossless", "abs 1", "abs 2", "abs 4"]
    for row in rows:  # the per-GOP fallback is never much worse than the previous frame
        prednet, fallback, _, previous = (float(cell) for cell in row.split(" | ")[2:6])
        assert fallback >= 0.97 * previous and prednet > 0


# ------------------------------------------------------------------ hostile and damaged model files


def model_file(channels: tuple[int, ...], kernel: int = 3, tensors: bool = True) -> bytes:
    """A model file of this architecture, with the untrained network's tensors or none."""
    architecture = Architecture(channels, kernel)
    if tensors:
        return models.to_model_file(PredNet(architecture), {}).to_bytes()
    return ModelFile(architecture.record(), {"scheme": SCHEME}).to_bytes()


@pytest.fixture
def nothing_built(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail the test if a network or a GOP's network state is constructed."""

    def built(*_: object, **__: object) -> None:
        raise AssertionError("a network or its state was built for a refused model")

    monkeypatch.setattr(PredNet, "__init__", built)
    monkeypatch.setattr(PrednetStates, "__init__", built)


def embedded_copy(archive: Path, model: bytes, output: Path) -> Path:
    """``archive`` (packed with one tezip.prednet predictor) with ``model`` embedded instead of
    its own and named by the header's fingerprint."""
    source = ArchiveFile(archive)
    header = replace(source.header, predictors=[{**source.header.predictors[0]}])
    header.predictors[0]["fingerprint"] = fingerprint(model)
    with ArchiveWriter(output, header) as writer:
        writer.add_section(MODEL_SECTION, model)
        for entry in source.gops:
            writer.add_gop(entry.first, entry.count, bytes(source.payload(entry.section)))
    source.close()
    return output


HOSTILE_ARCHITECTURES = [
    pytest.param((1,) * 14, 3, True, (32, 32), "14 layers", id="depth-14"),
    pytest.param((1,) * 24, 3, True, (32, 32), "24 layers", id="depth-24"),
    pytest.param((1,) * 40, 3, True, (32, 32), "40 layers", id="depth-40"),
    pytest.param((1,) * 64, 3, True, (32, 32), "64 layers", id="depth-64"),
    pytest.param((1, 2000), 3, False, (32, 32), "2000 channels", id="channels-2000"),
    pytest.param((1, 4), 9, True, (32, 32), "kernel size 9", id="kernel-9"),
    pytest.param((1, 1000, 1000), 3, False, (32, 32), "parameters", id="parameters"),
    pytest.param((1, 32, 8, 8, 8, 8), 7, True, (1, 4096), "multiply-acc", id="compute"),
    pytest.param((1, 16, 8, 8, 8, 8), 3, True, (1, 4096), "activation values", id="memory"),
]


@pytest.mark.parametrize(
    ("channels", "kernel", "tensors", "frame", "message"), HOSTILE_ARCHITECTURES
)
def test_hostile_architecture_is_refused_before_anything_is_built(
    tmp_path: Path,
    model: Path,
    channels: tuple[int, ...],
    kernel: int,
    tensors: bool,
    frame: tuple[int, int],
    message: str,
    request: pytest.FixtureRequest,
) -> None:
    data = frames((3, *frame))
    base = tmp_path / "base.tez"  # a genuine archive to carry the hostile model
    tezip.pack(data, base, predictor="tezip.prednet", model=model, embed_model=True)
    hostile = tmp_path / "hostile.tezm"
    hostile.write_bytes(model_file(channels, kernel, tensors))
    archive = embedded_copy(base, hostile.read_bytes(), tmp_path / "hostile.tez")
    request.getfixturevalue("nothing_built")
    with pytest.raises(ModelError, match=message):
        tezip.pack(data, tmp_path / "a.tez", predictor="tezip.prednet", model=hostile)
    assert not (tmp_path / "a.tez").exists()
    with pytest.raises(ModelError, match=message):
        tezip.unpack(archive)


def test_architecture_limits_leave_room_for_the_shipped_models() -> None:
    generic = ModelFile.from_bytes(models.generic_model())
    for architecture in (
        models.architecture_of(generic),
        *(Architecture.preset(name, 3) for name in PRESETS),
    ):
        limits.check_architecture(architecture)
        assert architecture.parameters * 4 < limits.MAX_PARAMETERS
        for shape in ((37, 49, 3), (65, 65, 3), (1, 1, 3), (512, 512, 3)):
            layout = limits.plan_frames(architecture, shape)
            macs, values = layout.cost(architecture)
            budget = max(math.prod(shape), limits.MIN_BUDGET_ELEMENTS)
            assert macs * 4 < limits.MAX_MACS_PER_ELEMENT * budget
            assert values * 4 < limits.MAX_VALUES_PER_ELEMENT * budget


def raw_model(header: object, data: bytes = b"") -> bytes:
    text = header if isinstance(header, bytes) else json.dumps(header).encode()
    return MAGIC + struct.pack("<I", len(text)) + text + data


def header_with(**changes: object) -> dict[str, object]:
    header: dict[str, object] = {
        "format": 1,
        "architecture": {"name": "prednet", "channels": [1, 4], "kernel": 3},
        "normalisation": {"scheme": SCHEME},
        "training": {},
        "tensors": [],
    }
    return {**header, **changes}


MALFORMED_MODELS = [
    pytest.param(raw_model(b"[" * 100_000 + b"]" * 100_000), "nested", id="deep-json"),
    pytest.param(raw_model(b'{"a":' * 50_000 + b"1" + b"}" * 50_000), "nested", id="deep-map"),
    pytest.param(
        raw_model(header_with(tensors=[{"name": "x", "shape": [2**70]}])),
        "past the end",
        id="shape-2**70",
    ),
    pytest.param(
        raw_model(
            b'{"format": 1, "architecture": {}, "normalisation": {}, "training": '
            b'{}, "tensors": [{"name": "x", "shape": [1e400]}]}'
        ),
        "shape",
        id="shape-1e400",
    ),
    pytest.param(
        raw_model(header_with(tensors=[{"name": "x", "shape": [-1]}])), "shape", id="shape-negative"
    ),
    pytest.param(
        raw_model(header_with(tensors=[{"name": "x", "shape": [True]}])), "shape", id="shape-bool"
    ),
    pytest.param(
        raw_model(header_with(tensors=[{"name": "x", "shape": [0] * 100}])),
        "shape",
        id="shape-rank-100",
    ),
    pytest.param(
        raw_model(header_with(tensors=[{"name": 5, "shape": [1]}]), b"\0" * 4),
        "name",
        id="name-int",
    ),
    pytest.param(
        raw_model(header_with(tensors=[{"name": "x", "shape": []}] * 2), b"\0" * 8),
        "twice",
        id="name-twice",
    ),
    pytest.param(raw_model(header_with(tensors={"x": [1]})), "tensors", id="tensors-map"),
    pytest.param(raw_model([1, 2]), "object", id="header-list"),
    pytest.param(
        raw_model(header_with(architecture=[["channels", [1, 4]]])),
        "objects",
        id="architecture-list",
    ),
    pytest.param(raw_model(header_with(format=2)), "format", id="format-2"),
    pytest.param(
        raw_model(header_with(architecture={"name": "prednet", "channels": [1.5, 4], "kernel": 3})),
        "channels",
        id="channels-float",
    ),
    pytest.param(
        raw_model(header_with(architecture={"name": "prednet", "channels": "14", "kernel": 3})),
        "channels",
        id="channels-string",
    ),
    pytest.param(
        raw_model(
            header_with(architecture={"name": "prednet", "channels": [1, 4], "kernel": 1e400})
        ),
        "kernel",
        id="kernel-inf",
    ),
    pytest.param(
        raw_model(header_with(architecture={"name": "prednet", "channels": [1, 4], "kernel": 2})),
        "kernel",
        id="kernel-even",
    ),
    pytest.param(
        raw_model(header_with(architecture={"name": "other"})), "named", id="architecture-name"
    ),
    pytest.param(
        raw_model(header_with(normalisation={"scheme": [[]]})), "normalisation", id="normalisation"
    ),
    pytest.param(raw_model(header_with()), "lacks the tensor 'a.0.bias'", id="no-tensors"),
]


@pytest.mark.parametrize(("data", "message"), MALFORMED_MODELS)
def test_malformed_model_is_a_model_error(tmp_path: Path, data: bytes, message: str) -> None:
    path = tmp_path / "bad.tezm"
    path.write_bytes(data)
    with pytest.raises(ModelError, match=message):
        tezip.pack(frames((3, 8, 8)), tmp_path / "a.tez", predictor="tezip.prednet", model=path)


@pytest.mark.parametrize("index", [0, 2], ids=["deep-json", "shape-2**70"])
def test_malformed_model_is_one_line_on_the_command_line(tmp_path: Path, index: int) -> None:
    path = tmp_path / "bad.tezm"
    path.write_bytes(MALFORMED_MODELS[index].values[0])  # type: ignore[arg-type]
    np.save(tmp_path / "f.npy", frames((3, 8, 8)))
    args = ["pack", str(tmp_path / "f.npy"), "-o", str(tmp_path / "a.tez")]
    result = CliRunner().invoke(cli, [*args, "--predictor", "tezip.prednet", "--model", str(path)])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)
    assert result.output.count("\n") == 1 and "[model]" in result.output


def _parse_and_build(data: bytes) -> None:
    """Parse and build a model; a ModelError is the only acceptable failure."""
    with contextlib.suppress(ModelError):
        models.build(ModelFile.from_bytes(data))


TINY = models.to_model_file(PredNet(Architecture((1, 2), 3)), {}).to_bytes()
HEADER_END = len(MAGIC) + 4 + struct.unpack_from("<I", TINY, len(MAGIC))[0]


TINY_HEADER, TINY_DATA = TINY[len(MAGIC) + 4 : HEADER_END], TINY[HEADER_END:]
NUMBERS = [m.span() for m in re.finditer(rb"\d+", TINY_HEADER)]


@settings(max_examples=200, deadline=None)
@given(
    numbers=st.dictionaries(
        st.integers(0, len(NUMBERS) - 1),
        st.from_regex(r"-?[0-9]{1,30}(\.[0-9]{1,3})?(e-?[0-9]{1,3})?", fullmatch=True),
        max_size=3,
    ),
    damage=st.lists(st.tuples(st.integers(0, len(TINY) - 1), st.integers(0, 255)), max_size=2),
    end=st.none() | st.integers(0, len(TINY)),
)
def test_mutated_model_bytes_are_a_model_error_or_a_network(
    numbers: dict[int, str], damage: list[tuple[int, int]], end: int | None
) -> None:
    """Numbers in the header replaced (huge, negative, fractional), bytes damaged, the file
    cut short: a ModelError or a network, nothing else."""
    text = TINY_HEADER
    for index in sorted(numbers, reverse=True):
        start, stop = NUMBERS[index]
        text = text[:start] + numbers[index].encode() + text[stop:]
    data = bytearray(raw_model(text, TINY_DATA))
    for position, value in damage:
        data[position % len(data)] = value
    _parse_and_build(bytes(data[:end]))


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


@settings(max_examples=200, deadline=None)
@given(
    path=st.sampled_from(
        [
            ("format",),
            ("architecture",),
            ("architecture", "channels"),
            ("architecture", "kernel"),
            ("architecture", "base"),
            ("normalisation",),
            ("tensors",),
            ("tensors", 0),
            ("tensors", 0, "shape"),
            ("tensors", 0, "name"),
        ]
    ),
    value=JSON,
)
def test_any_json_in_a_model_header_is_a_model_error_or_a_network(
    path: tuple[str | int, ...], value: object
) -> None:
    size = struct.unpack_from("<I", TINY, len(MAGIC))[0]
    header = json.loads(TINY[len(MAGIC) + 4 : HEADER_END])
    target = header
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    _parse_and_build(raw_model(json.dumps(header).encode(), TINY[len(MAGIC) + 4 + size :]))


# ----------------------------------------------------------- models needed only where GOPs use them


def still_then_wild(still_first: bool) -> np.ndarray:
    """Two GOPs of 4 frames: a fixed texture with noise (the network, close to the previous
    frame, codes it best) and smooth frames unrelated in time (intra coding is best)."""
    rng = np.random.default_rng(1)
    y, x = np.mgrid[:24, :24]
    still = rng.integers(60, 200, (24, 24)) + rng.integers(-1, 2, (4, 24, 24))
    phases = rng.uniform(0, 40, 4)[:, None, None]
    wild = 100 + 60 * np.sin((x + phases) / 4.0) * np.cos((y - 2 * phases) / 5.0)
    return np.concatenate([still, wild] if still_first else [wild, still]).astype(np.uint8)


def gop_predictors(archive: Path) -> list[str]:
    return [gop["predictor"] for gop in describe_archive(archive)["gops"]]


def section_kinds(archive: Path) -> list[str]:
    with tezip.open(archive) as opened:
        return [section.kind.decode() for section in opened.file.sections]


def test_a_model_is_needed_only_by_the_groups_that_use_it(tmp_path: Path, model: Path) -> None:
    data = still_then_wild(still_first=True)
    archive = tmp_path / "a.tez"
    options = {"predictor": "tezip.prednet,tezip.zero", "model": model, "gop": 4}
    tezip.pack(data, archive, **options)
    assert gop_predictors(archive) == ["tezip.prednet", "tezip.zero"]
    with tezip.open(archive) as opened:  # no model: the second group decodes all the same
        assert np.array_equal(opened[4:8], data[4:8])
        with pytest.raises(ModelError, match=fingerprint(model.read_bytes())):
            opened[0]
    assert np.array_equal(tezip.unpack(archive, model=model), data)


def test_a_model_is_embedded_before_the_first_group_that_uses_it(
    tmp_path: Path, model: Path
) -> None:
    data = still_then_wild(still_first=False)
    archive = tmp_path / "a.tez"
    options = {"predictor": "tezip.prednet,tezip.zero", "model": model, "gop": 4}
    tezip.pack(data, archive, embed_model=True, **options)
    assert gop_predictors(archive) == ["tezip.zero", "tezip.prednet"]
    assert section_kinds(archive) == ["GOPD", "MODL", "GOPD", "GIDX"]
    assert np.array_equal(tezip.unpack(archive), data)


def test_an_unused_model_is_neither_embedded_nor_needed(tmp_path: Path, model: Path) -> None:
    data = still_then_wild(still_first=True)
    archive = tmp_path / "a.tez"
    tezip.pack(data, archive, predictor="tezip.prednet,auto", model=model, gop=4, embed_model=True)
    assert "tezip.prednet" not in gop_predictors(archive)
    assert "MODL" not in section_kinds(archive)
    script = (  # decodes without the model, and without torch
        "import sys; sys.modules['torch'] = None\n"
        "import numpy as np, tezip\n"
        f"print(tezip.unpack({str(archive)!r}).tobytes().hex())\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert bytes.fromhex(out.stdout) == data.tobytes()


# -------------------------------------------------------------- a model without a learned predictor


def test_a_model_without_a_learned_predictor_is_a_warning(tmp_path: Path, model: Path) -> None:
    data = frames((3, 8, 8))
    with pytest.warns(UserWarning, match="model is ignored"):
        tezip.pack(data, tmp_path / "a.tez", model=model)
    np.save(tmp_path / "f.npy", data)
    args = ["pack", str(tmp_path / "f.npy"), "-o", str(tmp_path / "b.tez"), "--model", str(model)]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    warning = [line for line in result.output.splitlines() if "model is ignored" in line]
    assert warning == [warning[0]] and warning[0].startswith("warning: ")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        tezip.pack(data, tmp_path / "c.tez", model=model, predictor="tezip.prednet,auto")


def test_a_model_for_an_archive_without_a_learned_predictor_is_a_warning(
    tmp_path: Path, model: Path
) -> None:
    """``unpack --model`` was silently ignored for an archive that needs no model."""
    data = frames((3, 8, 8))
    tezip.pack(data, tmp_path / "a.tez")
    with pytest.warns(UserWarning, match="model is ignored: .*a.tez needs none"):
        assert np.array_equal(tezip.unpack(tmp_path / "a.tez", model=model), data)
    args = ["unpack", str(tmp_path / "a.tez"), "-o", str(tmp_path / "a.npy"), "--model", str(model)]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    warning = [line for line in result.output.splitlines() if "model is ignored" in line]
    assert len(warning) == 1 and warning[0].startswith("warning: ")
    tezip.pack(data, tmp_path / "b.tez", model=model, predictor="tezip.prednet", gop=3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert tezip.unpack(tmp_path / "b.tez", model=model).shape == data.shape


# ------------------------------------------------------------------------------------------ devices


def test_auto_device_says_which_gpu_it_chose(
    tmp_path: Path, model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tezip_prednet import predictor

    monkeypatch.setattr(predictor, "describe_device", lambda _: "cuda (Test GPU)")
    np.save(tmp_path / "f.npy", frames((3, 8, 8)))
    archive = str(tmp_path / "a.tez")
    pack = ["pack", str(tmp_path / "f.npy"), "-o", archive, "--predictor", "tezip.prednet"]
    unpack = ["unpack", archive, "-o", str(tmp_path / "out.npy")]
    for command in (pack, unpack):
        result = CliRunner().invoke(cli, [*command, "--model", str(model)])
        assert "--device auto: ran on cuda (Test GPU)" in result.output, result.output
        result = CliRunner().invoke(cli, [*command, "--model", str(model), "--device", "cpu", "-f"])
        assert result.exit_code == 0 and "--device auto" not in result.output


# -------------------------------------------------------------------------------------- tezip train


class Recorder:
    """A ``training.Progress`` that keeps what it is told."""

    def __init__(self) -> None:
        self.setup: tuple[str, int, int] | None = None
        self.steps = 0
        self.epochs: list[int] = []

    def begin(self, device: str, crop: int, epochs: int) -> None:
        self.setup = (device, crop, epochs)

    def begin_epoch(self, epoch: int, batches: int) -> None:
        pass

    def step(self, loss: float) -> None:
        self.steps += 1

    def end_epoch(self, epoch: int, loss: float, validation: float, improved: bool) -> None:
        self.epochs.append(epoch)


def test_train_crops_to_the_frames_and_stops_after_steps(tmp_path: Path) -> None:
    from tezip_prednet.training import TrainConfig, train

    np.save(tmp_path / "seq.npy", frames((12, 37, 49)))
    recorder = Recorder()
    config = TrainConfig((str(tmp_path / "seq.npy"),), str(tmp_path / "m.tezm"), epochs=5, nt=4)
    train(replace(config, steps=6), recorder)
    # 5 clips, 1 for validation: 4 steps per epoch, so 6 steps end in the second epoch
    assert recorder.steps == 6 and recorder.epochs == [1, 2]
    assert recorder.setup == ("cpu", 32, 2)  # the largest multiple of 8 within 37 x 49
    assert ModelFile.from_bytes((tmp_path / "m.tezm").read_bytes()).training["crop"] == 32


def test_train_refuses_to_replace_a_model_without_force(tmp_path: Path) -> None:
    np.save(tmp_path / "seq.npy", frames((12, 10, 12)))
    existing = tmp_path / "a.tezm"
    existing.write_bytes(b"the model some archives need")
    _, result = _train(tmp_path, "a.tezm", "--epochs", "1", "--steps", "1")
    assert result.exit_code == 1 and result.output.count("\n") == 1
    assert "already exists" in result.output and "--force" in result.output
    assert existing.read_bytes() == b"the model some archives need"
    _, result = _train(tmp_path, "a.tezm", "--epochs", "1", "--steps", "1", "--force", "-q")
    assert result.exit_code == 0 and existing.read_bytes().startswith(MAGIC)


def test_train_keeps_a_model_that_appears_while_it_trains(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two trainings to one path both passed the check and the later one replaced the other's
    model: the first write now claims the name exclusively."""
    from tezip_prednet import training
    from tezip_prednet.training import TrainConfig, train

    np.save(tmp_path / "seq.npy", frames((12, 10, 12)))
    output = tmp_path / "m.tezm"
    checked = training._check_output

    def then_another_training_writes(config: TrainConfig) -> None:
        checked(config)
        output.write_bytes(b"the other training's model")

    monkeypatch.setattr(training, "_check_output", then_another_training_writes)
    config = TrainConfig((str(tmp_path / "seq.npy"),), str(output), epochs=2, nt=4, steps=2)
    with pytest.raises(InputError, match="already exists"):
        train(config)
    assert output.read_bytes() == b"the other training's model"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.tezm", "seq.npy"]
    train(replace(config, force=True))
    assert output.read_bytes().startswith(MAGIC)


def test_train_checks_the_output_before_reading_the_inputs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tezip_prednet import training

    def never(*_: object) -> None:
        raise AssertionError("the inputs were read before the output was checked")

    monkeypatch.setattr(training, "load_sequences", never)
    np.save(tmp_path / "seq.npy", frames((12, 10, 12)))
    _, result = _train(tmp_path, "missing/m.tezm", "--epochs", "1")
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)
    assert f"{tmp_path / 'missing'}: output folder does not exist" in result.output
    (tmp_path / "folder.tezm").mkdir()
    _, result = _train(tmp_path, "folder.tezm", "--epochs", "1")
    assert result.exit_code == 1 and "is a folder" in result.output


def test_train_prints_lines_when_stderr_is_not_a_terminal(tmp_path: Path) -> None:
    np.save(tmp_path / "seq.npy", frames((40, 10, 12)))
    _, result = _train(tmp_path, "a.tezm", "--epochs", "2", "--nt", "2")
    lines = result.output.splitlines()
    assert result.exit_code == 0 and "\r" not in result.output
    assert lines[0].startswith("training on cpu with 8 x 8 crops")
    within = [line for line in lines if line.startswith("epoch 1/2  step ")]
    assert 5 <= len(within) <= 10  # about one line per tenth of the epoch
    assert any(line.startswith("epoch 2/2  train ") for line in lines)
    _, result = _train(tmp_path, "b.tezm", "--epochs", "1", "--quiet")
    assert result.exit_code == 0 and result.output == ""


def test_train_on_a_full_disk_leaves_nothing_and_names_the_model(tmp_path: Path) -> None:
    import resource

    np.save(tmp_path / "seq.npy", frames((12, 10, 12)))
    output = tmp_path / "m.tezm"

    def small_files() -> None:  # a file-size limit stands in for a full disk
        resource.setrlimit(resource.RLIMIT_FSIZE, (64 << 10, 64 << 10))

    command = [sys.executable, "-c", "from tezip.cli import main; main()", "train"]
    command += [str(tmp_path / "seq.npy"), "-o", str(output), "--epochs", "1", "--crop", "8", "-q"]
    result = subprocess.run(command, capture_output=True, text=True, preexec_fn=small_files)
    assert result.returncode == 1, result.stderr
    assert result.stderr.startswith(f"Error: {output}: ") and result.stderr.count("\n") == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["seq.npy"]


# ------------------------------------------------------------------------------------ thread budget


@pytest.mark.parametrize(
    ("gop", "threads", "torch_threads"), [(8, 2, {2}), (4, 2, {1}), (8, 1, {1})]
)
def test_the_network_runs_on_the_thread_budget(
    tmp_path: Path,
    model: Path,
    monkeypatch: pytest.MonkeyPatch,
    gop: int,
    threads: int,
    torch_threads: set[int],
) -> None:
    """PyTorch's own pool of every core once ran inside each thread of the pool of GOPs."""
    import torch

    seen: set[int] = set()
    predict = PrednetStates.predict

    def recorded(
        self: PrednetStates, members: list[int], sides: list[bytes | None]
    ) -> list[tuple[np.ndarray, bytes]]:
        seen.add(torch.get_num_threads())  # per thread: OpenMP's setting is the thread's
        return predict(self, members, sides)

    monkeypatch.setattr(PrednetStates, "predict", recorded)
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(7)
        options = {"predictor": "tezip.prednet", "model": model, "gop": gop, "threads": threads}
        tezip.pack(frames((8, 16, 16)), tmp_path / "a.tez", **options)
        assert seen == torch_threads
    finally:
        torch.set_num_threads(before)


def test_training_runs_on_the_thread_budget(tmp_path: Path) -> None:
    import torch

    before = torch.get_num_threads()
    try:
        np.save(tmp_path / "seq.npy", frames((12, 10, 12)))
        torch.set_num_threads(3)
        _, result = _train(tmp_path, "a.tezm", "--epochs", "1", "--steps", "1", "-T", "1", "-q")
        assert result.exit_code == 0, result.output
        assert torch.get_num_threads() == 1  # training runs in the calling thread
    finally:
        torch.set_num_threads(before)


# ------------------------------------------------------------------------------- batches of GOPs

Coded = tuple[list[np.ndarray], list[list[bytes]]]  # each GOP's residuals and side information


def bound(model: Path, device: str = "cpu") -> PrednetPredictor:
    predictor = PrednetPredictor()
    predictor.bind(RunContext(device=device, models=(model.read_bytes(),)))
    return predictor


def batched(predictor: PrednetPredictor, gops: list[np.ndarray]) -> GopStates:
    return predictor.start_batch([space_for(gop.dtype) for gop in gops], gops[0].shape[1:])


def one_by_one(predictor: PrednetPredictor, gops: list[np.ndarray]) -> GopStates:
    return SeparateStates([predictor.start(space_for(gop.dtype), gop.shape[1:]) for gop in gops])


def members_at(step: int, lengths: list[int]) -> list[int]:
    return [index for index, length in enumerate(lengths) if step < length]


def encode(states: GopStates, gops: list[np.ndarray]) -> Coded:
    """The encoder's loop over GOPs of any lengths in lock step."""
    residuals, sides = [np.empty_like(gop) for gop in gops], [[] for _ in gops]
    lengths = [len(gop) for gop in gops]
    for step in range(max(lengths)):
        members = members_at(step, lengths)
        predictions = states.predict(members, [None] * len(members))
        for index, (prediction, side) in zip(members, predictions, strict=True):
            residuals[index][step] = gops[index][step] - prediction
            sides[index].append(side)
        states.update(members, [gops[index][step] for index in members])
    return residuals, sides


def decode(states: GopStates, coded: Coded) -> list[np.ndarray]:
    """The decoder's loop: each GOP's codes from its residuals and side information."""
    residuals, sides = coded
    codes = [np.empty_like(gop) for gop in residuals]
    lengths = [len(gop) for gop in residuals]
    for step in range(max(lengths)):
        members = members_at(step, lengths)
        predictions = states.predict(members, [sides[index][step] for index in members])
        for index, (prediction, _) in zip(members, predictions, strict=True):
            codes[index][step] = prediction + residuals[index][step]
        states.update(members, [codes[index][step] for index in members])
    return codes


def all_equal(arrays: list[np.ndarray], others: list[np.ndarray]) -> bool:
    return len(arrays) == len(others) and all(map(np.array_equal, arrays, others))


def three_gops(shape: tuple[int, ...], lengths: tuple[int, ...] = (5, 3, 4)) -> list[np.ndarray]:
    """GOPs of different lengths, code widths and value ranges (so different normalisers)."""
    kinds = (("uint8", 1), ("uint16", 50), ("uint32", 300))
    return [
        frames((length, *shape), dtype, seed) * np.array(scale, dtype)
        for seed, (length, (dtype, scale)) in enumerate(zip(lengths, kinds, strict=True))
    ]


def _item(data: object, index: int) -> object:
    if isinstance(data, torch.Tensor):
        return data[index : index + 1]
    return type(data)(_item(part, index) for part in data)  # type: ignore[call-arg,attr-defined]


def _joined(items: list[object]) -> object:
    if isinstance(items[0], torch.Tensor):
        return torch.cat(items)  # type: ignore[arg-type]
    return type(items[0])(_joined(list(parts)) for parts in zip(*items, strict=True))  # type: ignore


def _items(data: object) -> int:
    return data.shape[0] if isinstance(data, torch.Tensor) else _items(data[0])  # type: ignore


def item_by_item(method: Callable[..., object]) -> Callable[..., object]:
    """``method`` of the network run on one batch item at a time, its outputs joined."""

    def run(self: PredNet, *arguments: object) -> object:
        return _joined([method(self, *_item(arguments, i)) for i in range(_items(arguments))])

    return run


@pytest.fixture
def batch_invariant(monkeypatch: pytest.MonkeyPatch) -> None:
    """A network whose floats do not depend on the batch around an item (on the CPU they
    do, in the last bits, as they do between devices): what remains to compare is exact."""
    for name in ("top_down", "correction", "bottom_up"):
        monkeypatch.setattr(PredNet, name, item_by_item(getattr(PredNet, name)))


SHAPES = pytest.mark.parametrize("shape", [(13, 21), (9, 10, 3)], ids=["grey", "rgb-1-channel"])


@SHAPES
def test_a_batch_predicts_each_gop_as_it_would_alone(
    model: Path, batch_invariant: None, shape: tuple[int, ...]
) -> None:
    predictor, gops = bound(model), three_gops(shape)
    residuals, sides = encode(batched(predictor, gops), gops)
    alone_residuals, alone_sides = encode(one_by_one(predictor, gops), gops)
    assert sides == alone_sides and any(side for gop in sides for side in gop)
    assert all_equal(residuals, alone_residuals)
    decoded = decode(one_by_one(predictor, gops), (residuals, sides))
    assert all_equal(decoded, gops)


@SHAPES
def test_a_gop_coded_in_a_batch_decodes_alone_and_the_other_way(
    model: Path, shape: tuple[int, ...]
) -> None:
    """With the network's real floats, which differ with the batch: the snapping margin
    makes each way exact."""
    predictor, gops = bound(model), three_gops(shape)
    for coder, decoder in ((batched, one_by_one), (one_by_one, batched)):
        coded = encode(coder(predictor, gops), gops)
        decoded = decode(decoder(predictor, gops), coded)
        assert all_equal(decoded, gops)


def test_a_1_channel_model_sees_each_colour_channel_as_a_grey_frame(
    model: Path, batch_invariant: None
) -> None:
    colour = frames((4, 9, 10, 3), "uint16") * 100
    colour[0, 0, 0], colour[0, 0, 1] = colour[0].min(), colour[0].max()  # one normaliser
    greys = [colour[..., channel] for channel in range(3)]
    predictor = bound(model)
    (colour_residuals,), _ = encode(batched(predictor, [colour]), [colour])
    grey_residuals, _ = encode(batched(predictor, greys), greys)
    assert np.array_equal(colour_residuals, np.stack(grey_residuals, axis=-1))


def test_gops_that_end_leave_the_network_batch(
    model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The middle GOP ends first, at its keyframe; the network then runs the others only."""
    items: list[int] = []
    top_down = PredNet.top_down

    def recorded(self: PredNet, state: tuple) -> object:
        items.append(state[0][0].shape[0])
        return top_down(self, state)

    monkeypatch.setattr(PredNet, "top_down", recorded)
    predictor, gops = bound(model), three_gops((9, 10, 3), lengths=(4, 1, 2))
    coded = encode(batched(predictor, gops), gops)
    assert items == [9, 6, 3, 3]  # 3 items (channels) a GOP: the keyframes' step, then t = 1..3
    for decoder in (batched, one_by_one):
        decoded = decode(decoder(predictor, gops), coded)
        assert all_equal(decoded, gops)


@pytest.mark.gpu
@pytest.mark.skipif(not CUDA, reason="needs a CUDA device")
def test_a_batch_on_the_gpu_decodes_alone_on_the_cpu_and_the_other_way(tmp_path: Path) -> None:
    model = tiny_model(tmp_path / "m.tezm", spread=0.5)
    gops = three_gops((64, 80), lengths=(8, 5, 7))
    gpu, cpu = bound(model, "cuda"), bound(model, "cpu")
    for coder, decoder in (
        (batched(gpu, gops), one_by_one(cpu, gops)),
        (one_by_one(cpu, gops), batched(gpu, gops)),
    ):
        decoded = decode(decoder, encode(coder, gops))
        assert all_equal(decoded, gops)


def test_a_network_on_a_gpu_decodes_groups_in_batches(
    tmp_path: Path, model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Decoding settles the network's device before the first group where a GPU may be, so
    that the groups go to it in batches."""
    from tezip_prednet import predictor

    data = frames((9, 8, 8))
    archive = tmp_path / "a.tez"
    tezip.pack(data, archive, predictor="tezip.prednet", model=model, gop=3, device="cpu")
    monkeypatch.setattr(predictor, "driver_present", lambda: True)
    monkeypatch.setattr(predictor, "describe_device", lambda _: "cuda (Test GPU)")
    batches: list[int] = []
    decode_batch = Pipeline.decode_batch

    def recorded(self: Pipeline, records: list) -> list[np.ndarray]:
        batches.append(len(records))
        return decode_batch(self, records)

    monkeypatch.setattr(Pipeline, "decode_batch", recorded)
    np.testing.assert_array_equal(tezip.unpack(archive, model=model), data)
    assert batches == [3]
    np.testing.assert_array_equal(tezip.unpack(archive, model=model, device="cpu"), data)
    assert batches == [3, 1, 1, 1]  # on the CPU, group by group


def test_a_torch_that_fails_to_load_fails_only_a_group_that_needs_it(
    tmp_path: Path, model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Settling the device early, where a GPU driver is, must not make an archive whose
    groups never use the network undecodable."""
    from tezip_prednet import predictor

    data = frames((6, 8, 8))
    archive = tmp_path / "a.tez"
    tezip.pack(data, archive, predictor="tezip.prednet,tezip.zero", model=model, gop=3)
    assert gop_predictors(archive) == ["tezip.zero", "tezip.zero"]

    def broken(_: str) -> str:
        raise OSError("libcudart.so: cannot open shared object file")

    monkeypatch.setattr(predictor, "driver_present", lambda: True)
    monkeypatch.setattr(predictor, "torch_device", broken)
    np.testing.assert_array_equal(tezip.unpack(archive), data)
