"""Run one Job in a fresh process: ``python -m benchlib.worker JOB_JSON RESULT_PATH``.

A fresh process per run keeps memory peaks apart and turns a crashing peer into one failed row.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np

from .codec import Blob, Codec, blob_size
from .data import load
from .jobs import Job
from .memory import PeakMeter
from .registry import compressors
from .verify import check

SCRATCH = Path("/dev/shm")  # tezip writes its archive here: tmpfs, so disks do not skew timing


def _timed(fn: Callable, arg: object) -> tuple[object, float, float | None]:
    """``fn(arg)``, its wall time in seconds and its peak memory in MB."""
    meter = PeakMeter()
    with meter:
        start = time.perf_counter()
        out = fn(arg)
        seconds = time.perf_counter() - start
    return out, seconds, meter.peak_mb


def run_job(job: Job) -> dict:
    """Measure and verify one run; the keys are those of a result row."""
    x = load(job.spec)
    comp = compressors(job.device)[job.compressor]
    codec = comp.make(x, job.mode)
    if isinstance(codec, str):
        raise ValueError(f"not applicable: {codec}")
    warm = comp.make(x[:2], job.mode)  # first calls load plugins and libraries: not measured
    if not isinstance(warm, str):
        warm.decode(warm.encode(x[:2]))
    blob, pack_s, pack_mb = _timed(codec.encode, x)
    y, unpack_s, unpack_mb = _timed(codec.decode, blob)
    for _ in range(job.repeat - 1):  # more timings; memory is that of the first run
        blob, seconds, _ = _timed(codec.encode, x)
        pack_s = min(pack_s, seconds)
        y, seconds, _ = _timed(codec.decode, blob)
        unpack_s = min(unpack_s, seconds)
    size = blob_size(blob)
    c = check(x, np.asarray(y), job.mode.bound)
    del y
    streamed = _stream(job, codec, x, blob) if job.stream and codec.stream else {}
    status = c.status
    if status == "ok" and streamed.get("stream_status", "ok") != "ok":
        status = f"STREAM-{streamed['stream_status']}"
    return {
        "status": status,
        "compressed_bytes": size,
        "ratio": x.nbytes / max(1, size),
        "max_err": c.max_err,
        "n_bad": c.n_bad,
        "psnr": c.psnr,
        "pack_s": pack_s,
        "unpack_s": unpack_s,
        "pack_mbs": x.nbytes / 1e6 / pack_s,
        "unpack_mbs": x.nbytes / 1e6 / unpack_s,
        "pack_peak_mb": pack_mb,
        "unpack_peak_mb": unpack_mb,
        **streamed,
    }


def _stream(job: Job, codec: Codec, x: np.ndarray, blob: Blob) -> dict:
    """Time ``codec.stream`` (decode into a .npy file) and check the file it wrote."""
    out = Path(tempfile.gettempdir()) / "streamed.npy"
    write = partial(codec.stream, out=out)
    _, seconds, peak = _timed(write, blob)
    for _ in range(job.repeat - 1):  # more timings; memory is that of the first run
        seconds = min(seconds, _timed(write, blob)[1])
    c = check(x, np.load(out, mmap_mode="r"), job.mode.bound)
    out.unlink()
    return {
        "stream_status": c.status,
        "stream_s": seconds,
        "stream_mbs": x.nbytes / 1e6 / seconds,
        "stream_peak_mb": peak,
    }


def main(argv: list[str]) -> None:
    job = Job.from_json(argv[1])
    scratch = SCRATCH if SCRATCH.is_dir() else None
    with tempfile.TemporaryDirectory(dir=scratch, prefix="tezip-bench-") as tmp:
        tempfile.tempdir = tmp
        try:
            result = run_job(job)
        except Exception as exc:  # a peer's failure is a result row, not a crash
            result = {"status": "ERROR", "error": f"{type(exc).__name__}: {exc}".splitlines()[0]}
    Path(argv[2]).write_text(json.dumps(result))


if __name__ == "__main__":
    main(sys.argv)
