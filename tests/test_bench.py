"""tools/bench.py: a --quick run on tiny synthetic stacks, and the parts it relies on."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

TOOLS = Path(__file__).resolve().parents[1] / "tools"
sys.path.insert(0, str(TOOLS))

from benchlib.baseline import baseline  # noqa: E402
from benchlib.codec import Compressor  # noqa: E402
from benchlib.modes import modes_for  # noqa: E402
from benchlib.registry import select, unavailable  # noqa: E402
from benchlib.report import BEGIN, END, splice  # noqa: E402
from benchlib.represent import floating, unsigned  # noqa: E402
from benchlib.verify import check  # noqa: E402

OURS = ("tezip", "tezip.zero", "tezip.previous", "tezip.linear", "tezip+density", "baseline")


def _has_tezip() -> bool:
    try:
        import tezip
    except ImportError:
        return False
    return hasattr(tezip, "pack") and hasattr(tezip, "unpack")


@pytest.fixture
def stacks(tmp_path: Path) -> dict[str, Path]:
    """A noisy moving uint8 pattern and a smooth float32 field, 6 frames of 20 x 24."""
    t, y, x = np.mgrid[0:6, 0:20, 0:24]
    smooth = 100 + 60 * np.sin((x + 2 * t) / 5) * np.cos(y / 7)
    noisy = smooth + np.random.default_rng(0).normal(0, 3, smooth.shape)
    arrays = {"u8": np.clip(noisy, 0, 255).astype(np.uint8), "f32": (smooth / 255).astype("f4")}
    paths = {}
    for name, a in arrays.items():
        paths[name] = tmp_path / f"{name}.npy"
        np.save(paths[name], a)
    return paths


def _bench(*args: object) -> subprocess.CompletedProcess:
    cmd = [sys.executable, str(TOOLS / "bench.py"), *map(str, args)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=False)


@pytest.mark.skipif(not _has_tezip(), reason="tezip.pack is not available yet")
def test_quick_run(stacks: dict[str, Path], tmp_path: Path) -> None:
    page = tmp_path / "BENCHMARKS.md"
    page.write_text(f"# Benchmarks\n\nintro\n\n{BEGIN}\nstale\n{END}\n\n## Notes\n\nkeep me\n")
    out = tmp_path / "out"
    scaling = ["--frames-scaling", "4,9", "--scaling-dataset", stacks["u8"]]
    outputs = ["--out", out, "--write-benchmarks", page]
    proc = _bench("--quick", stacks["u8"], stacks["f32"], *outputs, *scaling, "--strict")
    assert proc.returncode == 0, proc.stderr[-3000:]
    doc = json.loads((out / "results.json").read_text())
    for name in ("u8", "f32"):
        for mode in ("lossless", "tight", "medium", "loose"):
            rows = [r for r in doc["results"] if r["dataset"] == name and r["cls"] == mode]
            ours = {r["compressor"]: r["status"] for r in rows if r["kind"] != "peer"}
            assert ours == dict.fromkeys(OURS, "ok")
            assert all(r["ratio"] > 0 and r["pack_mbs"] > 0 for r in rows if r["status"] == "ok")
    assert sorted(r["frames"] for r in doc["scaling"]) == [4, 4, 9, 9]
    assert all(r["stream_status"] == "ok" and r["stream_mbs"] > 0 for r in doc["scaling"])
    text = page.read_text()
    assert "intro" in text and "keep me" in text and "stale" not in text
    assert text.count(BEGIN) == text.count(END) == 1 and "| loose |" in text
    if importlib.util.find_spec("matplotlib"):
        plots = {"rd_u8.png", "rd_f32.png", "throughput.png", "memory_scaling.png"}
        assert plots <= {p.name for p in out.iterdir()}


def test_runs_without_tezip_or_peers(stacks: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "out"
    proc = _bench("--quick", stacks["f32"], "--only", "baseline,zstd", "--out", out, "--strict")
    assert proc.returncode == 0, proc.stderr[-3000:]
    doc = json.loads((out / "results.json").read_text())
    passed = {(r["compressor"], r["mode"]) for r in doc["results"] if r["status"] == "ok"}
    modes = [m.label for m in modes_for(np.load(stacks["f32"]))]
    assert passed == {("baseline", m) for m in modes} | {("zstd", "lossless")}


def test_unknown_pattern_is_a_usage_error(stacks: dict[str, Path]) -> None:
    assert _bench(stacks["u8"], "--only", "nosuch").returncode == 2


@pytest.mark.parametrize("dtype", ["uint8", "int32", "float32", "float64"])
def test_baseline_round_trip_holds_bounds(dtype: str) -> None:
    rng = np.random.default_rng(1)
    x = (rng.normal(0, 40, (5, 7, 9)) + 100).astype(dtype)
    if x.dtype.kind == "f":
        x[0, 0, :4] = [np.nan, np.inf, -0.0, 1e30]
    for mode in modes_for(x):
        codec = baseline().make(x, mode)
        y = codec.decode(codec.encode(x))
        assert check(x, y, mode.bound).status == "ok", mode


def test_check_reports_every_failure() -> None:
    x = np.array([[[0.0, 1.0, 2.0]]], np.float32)
    assert check(x, x + np.float32(0.5), 0.5).status == "ok"
    miss = check(x, x + np.float32([0, 0.25, 0.75]), 0.5)
    assert (miss.status, miss.n_bad, miss.max_err) == ("MISS", 1, 0.75)
    assert check(x, np.copysign(x, -1), None).status == "MISMATCH"  # -0.0 is not 0.0
    assert check(x, x[:, :, :2], None).status == "SHAPE"
    assert check(x, x.astype(np.float64), None).status == "DTYPE"


def test_select_filters_each_axis() -> None:
    axes = {"dataset": ["cells", "gray"], "compressor": ["tezip", "tezip.zero", "sz3"]}
    both = {"dataset": ["cells", "gray"], "compressor": ["tezip"]}
    assert select(axes, ["tezip*"], ["*.zero"]) == both
    assert select(axes, ["gray", "sz3"], []) == {"dataset": ["gray"], "compressor": ["sz3"]}
    with pytest.raises(ValueError, match="nosuch"):
        select(axes, [], ["nosuch"])


def test_missing_peer_is_skipped_not_fatal() -> None:
    def probe() -> None:
        raise ImportError("no module named nosuchcodec")

    comp = Compressor("ghost", "peer", lambda x, m: "n/a", probe)
    assert unavailable(comp) == "ImportError: no module named nosuchcodec"


def test_representations_round_trip() -> None:
    x = np.array([[[-5, 0, 1000]]], np.int32)
    rep = unsigned(x)
    assert (rep.dtype, rep.offset) == (np.uint16, -5)
    assert np.array_equal(rep.inv(rep.fwd(x)), x)
    assert unsigned(np.array([[[0, 1 << 17]]], np.int32)) is None
    rep = floating(x)
    assert np.array_equal(rep.inv(rep.fwd(x).astype(np.float32) + np.float32(0.4)), x)


def test_splice_appends_when_markers_are_missing(tmp_path: Path) -> None:
    page = tmp_path / "B.md"
    page.write_text("# Benchmarks\n\nhand-written\n")
    splice(page, "new\n")
    splice(page, "newer\n")
    text = page.read_text()
    assert text.startswith("# Benchmarks\n\nhand-written\n") and "newer" in text
    assert "new\n" not in text.replace("newer\n", "") and text.count(BEGIN) == 1
