"""The command line: help, exit codes, one-line errors, outputs like the inputs."""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

import tezip
from tezip.cli import cli

COMMANDS = ["pack", "unpack", "inspect", "plugins"]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    """The installed console script, as a user runs it."""
    return subprocess.run(
        [sys.executable, "-c", "from tezip.cli import main; main()", *args],
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.fixture
def stack(tmp_path: Path) -> Path:
    rng = np.random.default_rng(1)
    data = np.cumsum(rng.integers(-2, 3, (12, 20, 24)), axis=0) + 1000
    path = tmp_path / "stack.npy"
    np.save(path, data.astype(np.uint16))
    return path


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    rng = np.random.default_rng(2)
    out = tmp_path / "frames"
    out.mkdir()
    base = rng.integers(0, 200, (16, 20, 3))
    for index in (1, 2, 10, 11, 3):  # natural order: 1 2 3 10 11
        frame = np.clip(base + index, 0, 255).astype(np.uint8)
        Image.fromarray(frame, "RGB").save(out / f"f{index}.png")
    return out


@pytest.mark.parametrize("command", [[], *[[c] for c in COMMANDS]])
def test_help(command: list[str]) -> None:
    result = CliRunner().invoke(cli, [*command, "--help"])
    assert result.exit_code == 0
    assert "Usage:" in result.output


def test_pack_unpack_npy_with_bound(stack: Path, tmp_path: Path) -> None:
    archive, out = tmp_path / "a.tez", tmp_path / "out.npy"
    result = CliRunner().invoke(cli, ["pack", str(stack), "-o", str(archive), "--abs", "2"])
    assert result.exit_code == 0, result.output
    result = CliRunner().invoke(cli, ["unpack", str(archive), "-o", str(out), "-q"])
    assert result.exit_code == 0, result.output
    original, decoded = np.load(stack), np.load(out)
    assert decoded.dtype == original.dtype
    assert np.abs(decoded.astype(int) - original).max() <= 2


def test_folder_roundtrip_keeps_names_and_modes(folder: Path, tmp_path: Path) -> None:
    archive, out = tmp_path / "a.tez", tmp_path / "out"
    assert CliRunner().invoke(cli, ["pack", str(folder), "-o", str(archive), "-q"]).exit_code == 0
    assert CliRunner().invoke(cli, ["unpack", str(archive), "-o", str(out), "-q"]).exit_code == 0
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted(p.name for p in folder.iterdir())
    for name in names:
        with Image.open(folder / name) as a, Image.open(out / name) as b:
            assert a.mode == b.mode
            assert np.array_equal(np.asarray(a), np.asarray(b))
    header = tezip.open(archive).header
    assert header.source["names"] == ["f1.png", "f2.png", "f3.png", "f10.png", "f11.png"]


def test_frames_selection_decodes_only_needed_gops(
    stack: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    archive, out = tmp_path / "a.tez", tmp_path / "part.npy"
    tezip.pack(stack, archive, gop=4)
    decoded_gops: list[int] = []
    original = tezip.pipeline.Pipeline.decode

    def counting(self: tezip.pipeline.Pipeline, record: object) -> np.ndarray:
        decoded_gops.append(record.first)  # type: ignore[attr-defined]
        return original(self, record)  # type: ignore[arg-type]

    monkeypatch.setattr(tezip.pipeline.Pipeline, "decode", counting)
    result = CliRunner().invoke(cli, ["unpack", str(archive), "-o", str(out), "--frames", "5:7"])
    assert result.exit_code == 0, result.output
    assert decoded_gops == [4]
    assert np.array_equal(np.load(out), np.load(stack)[5:7])


def test_inspect_json_and_verify(stack: Path, tmp_path: Path) -> None:
    archive = tmp_path / "a.tez"
    tezip.pack(stack, archive, rel=1e-3, gop=5)
    result = CliRunner().invoke(cli, ["inspect", str(archive), "--json", "--verify"])
    assert result.exit_code == 0, result.output
    info = json.loads(result.output)
    assert info["verified"] is True
    assert info["header"]["frames"] == 12
    assert [g["frames"] for g in info["gops"]] == [5, 5, 2]
    assert info["header"]["bound"]["mode"] == "rel"
    text = CliRunner().invoke(cli, ["inspect", str(archive)])
    assert "tezip.rans" in text.output and "ratio" in text.output


def test_plugins_lists_builtins() -> None:
    result = CliRunner().invoke(cli, ["plugins", "--json"])
    listing = json.loads(result.output)
    assert {"tezip.zero", "tezip.previous", "tezip.linear"} <= set(listing["predictors"])
    assert {"tezip.zstd", "tezip.lorenzo"} <= set(listing["stages"])
    assert listing["stages"]["tezip.zstd"]["options"].startswith("level (an integer, default 1)")
    assert listing["predictors"]["tezip.linear"]["options"] == "none"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["pack", "missing.npy", "-o", "x.tez"], "no such file"),
        (["pack", "{stack}", "-o", "x.tez", "--predictor", "nope.x"], "unknown predictor id"),
        (["unpack", "{stack}", "-o", "y.npy"], "not a .tez archive"),
        (["inspect", "missing.tez"], "missing.tez"),
    ],
)
def test_bad_input_is_one_line_exit_1(
    args: list[str], message: str, stack: Path, tmp_path: Path
) -> None:
    argv = [a.replace("{stack}", str(stack)) for a in args]
    argv = [str(tmp_path / a) if a.endswith((".tez", "y.npy")) else a for a in argv]
    result = run(*argv)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "x.tez").exists()


PACK = ["pack", "{stack}", "-o", "x.tez"]
UNPACK = ["unpack", "{archive}"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([*PACK, "--abs", "-1"], "'--abs': must be a finite number >= 0"),
        ([*PACK, "--lossless", "--abs", "1"], "'--lossless' / '--abs': cannot be combined"),
        ([*PACK, "--pwrel", "1e-6"], "'--pwrel': must be in [1e-05, 1)"),
        ([*PACK, "--gop", "abc"], "'--gop': must be a positive integer or 'auto'"),
        ([*PACK, "--gop", "0"], "'--gop': must be >= 1"),
        ([*PACK, "--predictor", ""], "'--predictor': names no predictor"),
        ([*PACK, "--predictor", ","], "'--predictor': names no predictor"),
        ([*PACK, "--predictor", " "], "'--predictor': names no predictor"),
        (
            [*PACK, "--entropy", "tezip.zstd", "--entropy-opt", "bogus=1"],
            "has no option 'bogus'; options: level (an int",
        ),
        (
            [*PACK, "--entropy", "tezip.zstd", "--entropy-opt", "shuffle=maybe"],
            "shuffle must be true or false, got 'maybe'",
        ),
        (
            [*PACK, "--entropy", "tezip.zstd", "--entropy-opt", "shuffle=1"],
            "shuffle must be true or false, got 1",
        ),
        (
            [*PACK, "--entropy", "tezip.zstd", "--entropy-opt", "level=2.5"],
            "level must be an integer, got 2.5",
        ),
        (
            [*PACK, "--entropy", "tezip.zstd", "--entropy-opt", "level=99"],
            "level must be an integer in 1..22",
        ),
        ([*PACK, "--predictor-opt", "x=1"], "no selected predictor has an option 'x'"),
        ([*PACK, "--spatial", "tezip.zstd"], "'--spatial': 'tezip.zstd' is not an array-to"),
        ([*UNPACK, "-o", "y.npy", "--frames", "200:300"], "200:300 reaches outside"),
        ([*UNPACK, "-o", "y.npy", "--frames", "8:4"], "8:4 selects no frames"),
        ([*UNPACK, "-o", "y.npy", "--frames", "-13:"], "-13: reaches outside"),
        ([*UNPACK, "-o", "out.tif", "--format", "png"], "out.tif names a TIFF stack, not png"),
        ([*UNPACK, "-o", "out.png"], "out.png names a single .png file"),
        ([*UNPACK, "-o", "out.npz"], "out.npz names a single .npz file"),
        ([*UNPACK, "-o", "out/", "--format", "npy"], "'--output' / '--format': out/ is a folder"),
        ([*UNPACK, "-o", "y.npy", "--format", "png"], "y.npy names a .npy file"),
    ],
)
def test_invalid_option_is_a_one_line_usage_error(
    args: list[str], message: str, stack: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 10: option errors exit 2 (not 1, nor 0 with an empty result), say what is allowed
    and never show Python internals; nothing is written."""
    archive = tmp_path / "a.tez"
    tezip.pack(stack, archive)
    before = sorted(tmp_path.iterdir())
    monkeypatch.chdir(tmp_path)
    argv = [a.replace("{stack}", str(stack)).replace("{archive}", str(archive)) for a in args]
    result = CliRunner().invoke(cli, argv)
    assert isinstance(result.exception, SystemExit)
    assert result.exit_code == 2, result.stderr
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "__init__" not in result.stderr and "Traceback" not in result.stderr
    assert sorted(tmp_path.iterdir()) == before


@pytest.mark.parametrize("content", [b"", b"garbage, not an array", bytes(range(256))])
def test_a_garbage_npy_is_not_a_valid_npy_file(content: bytes, tmp_path: Path) -> None:
    """Issue 10: NumPy takes a file without the .npy signature for pickled data."""
    (tmp_path / "bad.npy").write_bytes(content)
    result = run("pack", str(tmp_path / "bad.npy"), "-o", str(tmp_path / "a.tez"))
    assert result.returncode == 1
    assert "bad.npy: not a valid .npy file (it does not start with the .npy" in result.stderr
    assert "pickle" not in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_usage_error_exits_2() -> None:
    assert run("pack").returncode == 2
    assert run("unpack", "a.tez", "-o", "b", "--format", "gif").returncode == 2
    assert run("pack", "a.npy", "-o", "b.tez", "--abs", "abc").returncode == 2


def test_existing_archive_needs_force(stack: Path, tmp_path: Path) -> None:
    archive = tmp_path / "a.tez"
    archive.write_bytes(b"keep")
    result = run("pack", str(stack), "-o", str(archive), "-q")
    assert result.returncode == 1 and "--force" in result.stderr
    assert "overwrite=True" not in result.stderr
    assert archive.read_bytes() == b"keep"
    assert run("pack", str(stack), "-o", str(archive), "-q", "--force").returncode == 0


def test_failed_pack_leaves_nothing(
    stack: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def explode(*args: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(tezip.pipeline.Pipeline, "encode", explode)
    with pytest.raises(KeyboardInterrupt):
        tezip.pack(stack, tmp_path / "a.tez")
    assert list(tmp_path.iterdir()) == [stack]


def test_mismatched_frames_name_the_file(folder: Path, tmp_path: Path) -> None:
    Image.fromarray(np.zeros((5, 5), np.uint8), "L").save(folder / "f12.png")
    result = run("pack", str(folder), "-o", str(tmp_path / "a.tez"))
    assert result.returncode == 1
    assert "f12.png" in result.stderr and "Traceback" not in result.stderr


def test_cuda_without_gpu_is_a_clear_error(stack: Path, tmp_path: Path) -> None:
    from tezip.device import cuda_available

    if cuda_available():
        pytest.skip("a CUDA device is present")
    result = run("pack", str(stack), "-o", str(tmp_path / "a.tez"), "--device", "cuda")
    assert result.returncode == 1 and "tezip[gpu]" in result.stderr


def test_the_readme_main_command_works_twice(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The README's first command (after its install step) runs, and runs again, cleanly."""
    root = Path(__file__).resolve().parents[1]
    block = (root / "README.md").read_text().split("```")[1]
    steps = [shlex.split(step) for step in block.strip().splitlines()[0].split("&&")]
    assert steps[0][:2] == ["pip", "install"]
    shutil.copytree(root / "tests" / "data" / "cells", tmp_path / "tests" / "data" / "cells")
    monkeypatch.chdir(tmp_path)
    for _ in range(2):
        for step in steps[1:]:
            assert step[0] == "tezip"
            result = CliRunner().invoke(cli, step[1:])
            assert result.exit_code == 0, (step, result.output)
    assert "16 frames match" in result.output
    first = Image.open(tmp_path / "cells-out" / "cells_1.png")
    original = Image.open(tmp_path / "tests" / "data" / "cells" / "cells_1.png")
    assert first.mode == original.mode
    difference = np.asarray(first, np.int16) - np.asarray(original, np.int16)
    assert np.abs(difference).max() <= 1


def test_lossless_sixteen_bit_colour_png_folder_is_bit_exact(tmp_path: Path) -> None:
    """Issue 10: Pillow keeps only the high byte of 16-bit colour PNGs; tezip must not."""
    from tezip.io import png

    rng = np.random.default_rng(3)
    frames = rng.integers(0, 65536, (4, 12, 10, 3), dtype=np.uint16)
    source = tmp_path / "rgb16"
    source.mkdir()
    for i, frame in enumerate(frames):
        (source / f"f{i}.png").write_bytes(png.encode(frame))
    archive, out = tmp_path / "a.tez", tmp_path / "out"
    assert run("pack", str(source), "-o", str(archive)).returncode == 0
    np.testing.assert_array_equal(tezip.unpack(archive), frames)
    assert run("unpack", str(archive), "-o", str(out)).returncode == 0
    for i, frame in enumerate(frames):
        np.testing.assert_array_equal(png.decode((out / f"f{i}.png").read_bytes(), "f"), frame)


def test_jpeg_frames_come_back_as_png_with_a_note(tmp_path: Path) -> None:
    source = tmp_path / "jpegs"
    source.mkdir()
    for i in range(2):
        Image.fromarray(np.full((8, 8), 40 * i, np.uint8)).save(source / f"f{i}.jpg")
    archive = tmp_path / "a.tez"
    assert run("pack", str(source), "-o", str(archive)).returncode == 0
    result = run("unpack", str(archive), "-o", str(tmp_path / "out"))
    assert result.returncode == 0 and "JPEG" in result.stderr and "PNG" in result.stderr
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["f0.png", "f1.png"]


def test_unpack_output_kind_follows_the_name(stack: Path, tmp_path: Path) -> None:
    """Issue 10: ``-o dir/`` wrote a .npy file named ``dir``; a folder name means images."""
    archive = tmp_path / "a.tez"
    tezip.pack(stack, archive)
    existing = tmp_path / "existing"
    existing.mkdir()
    for output in (f"{tmp_path / 'new'}/", str(existing)):
        assert run("unpack", str(archive), "-o", output).returncode == 0
        folder = Path(output)
        assert folder.is_dir()
        frames = [np.asarray(Image.open(p)) for p in sorted(folder.iterdir())]
        np.testing.assert_array_equal(np.stack(frames), np.load(stack))
    assert run("unpack", str(archive), "-o", str(tmp_path / "out.npy")).returncode == 0
    np.testing.assert_array_equal(np.load(tmp_path / "out.npy"), np.load(stack))


def test_unpack_prints_a_summary_unless_quiet(stack: Path, tmp_path: Path) -> None:
    archive = tmp_path / "a.tez"
    tezip.pack(stack, archive)
    result = run("unpack", str(archive), "-o", str(tmp_path / "out.npy"), "--frames", "2:7")
    assert result.returncode == 0
    assert result.stderr.strip() == f"{tmp_path / 'out.npy'}: 5 frames written (.npy file)"
    quiet = run("unpack", str(archive), "-o", str(tmp_path / "q.npy"), "-q")
    assert quiet.returncode == 0 and quiet.stderr == ""


def test_inspect_verify_reports_progress(
    stack: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    archive = tmp_path / "a.tez"
    tezip.pack(stack, archive, gop=5)
    bars: list[tuple[int, str, list[int]]] = []

    @contextmanager
    def recording_bar(total: int, label: str, quiet: bool) -> Iterator[Callable[[int], None]]:
        steps: list[int] = []
        bars.append((total, label, steps))
        yield steps.append

    monkeypatch.setattr(tezip.cli, "progress_bar", recording_bar)
    result = CliRunner().invoke(cli, ["inspect", str(archive), "--verify"])
    assert result.exit_code == 0, result.output
    assert "12 frames match" in result.output
    assert bars == [(12, "verifying", [5, 5, 2])]


def test_a_bound_beyond_the_data_range_warns_in_one_line(stack: Path, tmp_path: Path) -> None:
    result = run("pack", str(stack), "-o", str(tmp_path / "a.tez"), "--abs", "1e30", "-q")
    assert result.returncode == 0
    assert result.stderr.startswith("warning: the error bound 1e+30 exceeds the range")
    assert len(result.stderr.strip().splitlines()) == 1
    quiet = run("pack", str(stack), "-o", str(tmp_path / "b.tez"), "--abs", "2", "-q")
    assert quiet.returncode == 0 and quiet.stderr == ""


def test_fast_and_level_pick_the_coder(stack: Path, tmp_path: Path) -> None:
    fast, small = tmp_path / "fast.tez", tmp_path / "small.tez"
    assert CliRunner().invoke(cli, ["pack", str(stack), "-o", str(fast), "--fast"]).exit_code == 0
    result = CliRunner().invoke(cli, ["pack", str(stack), "-o", str(small), "--level", "9"])
    assert result.exit_code == 0
    with tezip.open(fast) as a, tezip.open(small) as b:
        assert a.header.stages[-1]["id"] == "tezip.zstd"
        assert b.header.stages[-1]["id"] == "tezip.rans"
    bad = CliRunner().invoke(cli, ["pack", str(stack), "-o", str(tmp_path / "x.tez"), "-l", "0"])
    assert bad.exit_code == 2 and "from 1 (fastest) to 9" in bad.output
