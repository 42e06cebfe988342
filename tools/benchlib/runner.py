"""Plan the runs of a benchmark and execute each in its own worker process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .codec import Compressor
from .data import DataSpec, load, value_range
from .jobs import Job
from .modes import Mode, modes_for
from .progress import Progress

TOOLS = Path(__file__).resolve().parent.parent


@dataclass
class Plan:
    """What a benchmark will run, and what it will not (with the reason)."""

    datasets: list[dict] = field(default_factory=list)  # what each dataset is
    jobs: list[Job] = field(default_factory=list)
    not_applicable: list[dict] = field(default_factory=list)  # dataset, mode, compressor, reason


def describe(spec: DataSpec, x: np.ndarray, modes: list[Mode]) -> dict:
    """What a dataset is, for the report."""
    lo, hi = value_range(x)
    return {
        "name": spec.name,
        "path": spec.path,
        "shape": list(x.shape),
        "dtype": str(x.dtype),
        "nbytes": x.nbytes,
        "min": lo,
        "max": hi,
        "modes": [m.to_dict() for m in modes],
    }


def plan(
    specs: list[DataSpec],
    comps: list[Compressor],
    device: str,
    repeat: int,
    keep_mode: Callable[[Mode], bool] | None = None,
    stream: bool = False,
) -> Plan:
    """Every applicable (dataset, mode, compressor); ``keep_mode(mode)`` filters modes;
    ``stream``: also decode into a .npy file where the compressor can."""
    out = Plan()
    for spec in specs:
        x = load(spec)
        modes = [m for m in modes_for(x) if keep_mode is None or keep_mode(m)]
        out.datasets.append(describe(spec, x, modes))
        for mode in modes:
            for comp in comps:
                why = comp.make(x, mode)
                if isinstance(why, str):
                    out.not_applicable.append(
                        {
                            "dataset": spec.name,
                            "mode": mode.label,
                            "compressor": comp.name,
                            "reason": why,
                        }
                    )
                else:
                    out.jobs.append(Job(spec, comp.name, mode, device, repeat, stream))
        del x
    return out


def _failure(proc: subprocess.CompletedProcess) -> dict:
    tail = proc.stderr.decode(errors="replace").strip().splitlines()[-1:] or ["no message"]
    return {"status": "CRASH", "error": f"exit {proc.returncode}: {tail[0][:200]}"}


def run_one(job: Job, timeout: float) -> dict:
    """The worker's result for ``job``; CRASH or TIMEOUT rows when it did not finish."""
    env = dict(
        os.environ,
        PYTHONPATH=os.pathsep.join(p for p in (str(TOOLS), os.environ.get("PYTHONPATH")) if p),
    )
    with tempfile.TemporaryDirectory(prefix="tezip-bench-") as tmp:
        result_path = Path(tmp) / "result.json"
        cmd = [sys.executable, "-m", "benchlib.worker", job.to_json(), str(result_path)]
        try:
            proc = subprocess.run(cmd, env=env, capture_output=True, timeout=timeout, check=False)
        except subprocess.TimeoutExpired:
            return {"status": "TIMEOUT", "error": f"over {timeout:.0f} s"}
        if not result_path.exists():
            return _failure(proc)
        return json.loads(result_path.read_text())


#: a run's timings, each with the speed it gives
_TIMINGS = (("pack_s", "pack_mbs"), ("unpack_s", "unpack_mbs"), ("stream_s", "stream_mbs"))


def _fastest(first: dict, later: dict) -> dict:
    """One run measured in two rounds: the first's row with the faster of each timing, or
    the first failure either round met."""
    if first["status"] != "ok" or later["status"] != "ok":
        return first if first["status"] != "ok" else later
    row = dict(first)
    for seconds, speed in _TIMINGS:
        if seconds in first and seconds in later and later[seconds] < first[seconds]:
            row[seconds], row[speed] = later[seconds], later[speed]
    return row


def run(
    jobs: list[Job],
    comps: dict[str, Compressor],
    timeout: float,
    progress: Progress,
    rounds: int = 1,
) -> list[dict]:
    """Run ``jobs`` one after another (timings are taken on an otherwise idle process),
    ``rounds`` times over: every run keeps its fastest timings of all rounds, so that a
    burst of load on the host, which spans a run's back-to-back timings, spoils one round
    of them, not all."""
    rows: list[dict] = []
    for number in range(rounds):
        fresh = [_measured(job, comps, timeout, progress) for job in jobs]
        rows = fresh if number == 0 else [_fastest(a, b) for a, b in zip(rows, fresh, strict=True)]
    return rows


def _measured(job: Job, comps: dict[str, Compressor], timeout: float, progress: Progress) -> dict:
    """One run's result row."""
    progress.step(job.label)
    return {
        "dataset": job.spec.name,
        "frames": job.spec.tile_to,
        "mode": job.mode.label,
        "cls": job.mode.cls,
        "bound": job.mode.bound,
        "compressor": job.compressor,
        "kind": comps[job.compressor].kind,
        **run_one(job, timeout),
    }
