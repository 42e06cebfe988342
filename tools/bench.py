#!/usr/bin/env python3
"""Benchmark tezip against the compressors its users would otherwise pick, on the same frames.

    python tools/bench.py                           # core datasets, every bound, every compressor
    python tools/bench.py --quick                   # smoke run on cropped data (about a minute)
    python tools/bench.py grayscott stack.npy pngs/ --only 'tezip*,sz3' --skip carphone
    python tools/bench.py --frames-scaling          # also tezip's memory at 250/1000/2000 frames
    python tools/bench.py --write-benchmarks        # also update BENCHMARKS.md
    python tools/bench.py --repeat 3 --rounds 2     # best of 3 per process, two processes a run

Datasets are the core datasets' names (read from /tmp/tezip-bench-data, or $TEZIP_BENCH_OUT;
BENCHMARKS.md says how they are made), .npy files or image folders. Integer data runs lossless
and abs 1, 2, 4; float data lossless and rel 1e-4, 1e-3, 1e-2 of its value range.  Each run
happens in a fresh process and is verified strictly.  Peers are optional (`pip install -e
.[bench]`): a missing one is reported as skipped.  Results go to --out (results.json, report.md,
PNG plots)."""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import math
import os
import re
import shlex
import sys
import time
from pathlib import Path

from benchlib import plots
from benchlib.codec import Compressor
from benchlib.data import CORE, DataError, DataSpec, resolve
from benchlib.machine import machine, revision
from benchlib.memory import METHOD
from benchlib.progress import Progress
from benchlib.registry import compressors, select, unavailable
from benchlib.report import glance, glance_table, render, splice, summary_table
from benchlib.runner import Plan, plan, run

REPO = Path(__file__).resolve().parent.parent
QUICK = {"frames": 8, "size": 64}  # quick mode: first 8 frames, centre 64 x 64
SCALING_COUNTS = "250,1000,2000"
SCALING_DATASET = "cell_timelapse"
SCALING_CLASSES = ("lossless", "tight")
SCALING_NOTE = (
    "tezip (defaults) on {name} repeated in time to N frames, forwards then "
    "backwards (so no scene cut at the seams): synthetic length from real frames. "
    "Pack reads an in-memory array; unpack returns the whole array, so its peak "
    "includes the output (the column after it subtracts that); streaming unpack "
    "(`tezip.unpack_to`, CLI `tezip unpack x.tez -o out.npy`) writes a .npy file GOP by "
    "GOP and holds no more than a few GOPs."
)


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive integer")
    return int(text)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split("\n\n", 1)[1],
    )
    p.add_argument(
        "datasets", nargs="*", help=f"names, .npy files or folders (default: {' '.join(CORE)})"
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help="crop every dataset to 8 frames of 64 x 64 (CI smoke run)",
    )
    p.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="PATTERNS",
        help="comma-separated fnmatch patterns of compressors and/or datasets to keep",
    )
    p.add_argument(
        "--skip",
        action="append",
        default=[],
        metavar="PATTERNS",
        help="comma-separated fnmatch patterns of compressors and/or datasets to drop",
    )
    p.add_argument("--device", default="cpu", help="device for tezip (cpu, cuda, cuda:1 ...)")
    p.add_argument(
        "--out",
        type=Path,
        default=Path("bench-out"),
        help="folder for results.json, report.md and plots (default: bench-out)",
    )
    p.add_argument("--json", type=Path, help="results JSON path (default: OUT/results.json)")
    p.add_argument(
        "--write-benchmarks",
        nargs="?",
        type=Path,
        const=REPO / "BENCHMARKS.md",
        metavar="PATH",
        help="update the bench section of BENCHMARKS.md (or PATH)",
    )
    p.add_argument(
        "--frames-scaling",
        nargs="?",
        const=SCALING_COUNTS,
        metavar="COUNTS",
        help=f"also measure tezip's memory at these frame counts (default {SCALING_COUNTS})",
    )
    p.add_argument(
        "--scaling-dataset",
        default=SCALING_DATASET,
        help=f"dataset tiled for --frames-scaling (default {SCALING_DATASET})",
    )
    p.add_argument(
        "--repeat", type=_positive, default=1, help="time each run N times, keep the best"
    )
    p.add_argument(
        "--rounds",
        type=_positive,
        default=1,
        help="run every job N times over, each in a fresh process, one round after another; "
        "keep each run's fastest timings (a burst of load on the host spoils one round)",
    )
    p.add_argument("--timeout", type=float, default=600, help="seconds allowed per run")
    p.add_argument(
        "--strict", action="store_true", help="exit 1 when a tezip or baseline run fails its check"
    )
    p.add_argument("--list", action="store_true", help="list compressors and datasets, then exit")
    return p.parse_args(argv)


def _patterns(values: list[str]) -> list[str]:
    return [p for v in values for p in v.split(",") if p]


def _specs(args: argparse.Namespace, skipped: list[dict]) -> list[DataSpec]:
    specs: list[DataSpec] = []
    for arg in args.datasets or CORE:
        try:
            spec = resolve(arg)
        except DataError as exc:
            skipped.append({"name": arg, "reason": str(exc)})
            print(f"warning: {exc}", file=sys.stderr)
            continue
        if any(s.name == spec.name for s in specs):
            spec = dataclasses.replace(spec, name=f"{spec.name}-{len(specs)}")
        specs.append(dataclasses.replace(spec, **QUICK) if args.quick else spec)
    return specs


def _scaling_plan(
    args: argparse.Namespace, specs: list[DataSpec], ready: list[Compressor], skipped: list[dict]
) -> Plan:
    tezip = [c for c in ready if c.name == "tezip"]
    if not args.frames_scaling or not tezip:
        if args.frames_scaling:
            skipped.append({"name": "frames scaling", "reason": "tezip is not selected or missing"})
        return Plan()
    try:
        base = resolve(args.scaling_dataset)
    except DataError as exc:
        if not specs:
            raise
        base = specs[0]
        print(f"warning: {exc}; scaling {base.name} instead", file=sys.stderr)
    if args.quick:
        base = dataclasses.replace(base, **QUICK)
    counts = [int(n) for n in args.frames_scaling.split(",")]
    return plan(
        [dataclasses.replace(base, tile_to=n) for n in counts],
        tezip,
        args.device,
        args.repeat,
        lambda m: m.cls in SCALING_CLASSES,
        stream=True,
    )


def _finite(obj: object) -> object:
    """JSON-safe: infinities and NaNs become null."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_finite(v) for v in obj]
    return obj


def _write_plots(doc: dict, out: Path) -> dict[str, Path]:
    """Write the PNGs; map caption -> file.  Empty (with a warning) without matplotlib."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        print("warning: matplotlib missing, no plots", file=sys.stderr)
        return {}
    images = {}
    for ds in doc["datasets"]:
        caption = f"ratio against bound, {ds['name']}"
        images[caption] = out / ("rd_" + re.sub(r"[^\w.-]", "_", ds["name"]) + ".png")
        plots.rate_distortion(doc, ds, images[caption])
    if doc["results"]:
        images["throughput"] = out / "throughput.png"
        plots.throughput(doc, images["throughput"])
    if doc["scaling"]:
        images["memory against frames"] = out / "memory_scaling.png"
        plots.memory_scaling(doc, images["memory against frames"])
    return images


def _list(comps: dict) -> None:
    for c in comps.values():
        why = unavailable(c)
        print(f"{c.name:16} {c.kind:9} {'skipped: ' + why if why else 'ok':40.40} {c.note}")
    for name in CORE:
        try:
            print(f"{name:16} dataset   {resolve(name).path}")
        except DataError as exc:
            print(f"{name:16} dataset   missing: {exc}")


def _contenders(
    args: argparse.Namespace, comps: dict[str, Compressor], skipped: list[dict]
) -> tuple[list[DataSpec], list[Compressor]]:
    """The datasets and the installed compressors that --only / --skip leave."""
    specs = _specs(args, skipped)
    chosen = select(
        {"dataset": [s.name for s in specs], "compressor": list(comps)},
        _patterns(args.only),
        _patterns(args.skip),
    )
    ready = []
    for name in chosen["compressor"]:
        why = unavailable(comps[name])
        if why:
            skipped.append({"name": name, "reason": why})
        else:
            ready.append(comps[name])
    return [s for s in specs if s.name in chosen["dataset"]], ready


def _write(doc: dict, args: argparse.Namespace) -> None:
    """results.json, the plots, report.md and, if asked, the BENCHMARKS.md section."""
    args.out.mkdir(parents=True, exist_ok=True)
    json_path = args.json or args.out / "results.json"
    json_path.write_text(json.dumps(doc, indent=1) + "\n")
    images = _write_plots(doc, args.out)
    report = render(doc, {k: v.name for k, v in images.items()})
    (args.out / "report.md").write_text("# tezip benchmark\n\n" + report)
    if args.write_benchmarks:
        page = args.write_benchmarks
        where = page.resolve().parent
        splice(page, render(doc, {k: os.path.relpath(v, where) for k, v in images.items()}))
    print(f"wrote {json_path}, {args.out / 'report.md'} and {len(images)} plots", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    comps = compressors(args.device)
    if args.list:
        _list(comps)
        return 0
    skipped: list[dict] = []
    try:
        specs, ready = _contenders(args, comps, skipped)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if not specs or not ready:
        print("error: nothing to run (no dataset or no compressor left)", file=sys.stderr)
        return 2

    started = time.monotonic()
    main_plan = plan(specs, ready, args.device, args.repeat)
    scale_plan = _scaling_plan(args, specs, ready, skipped)
    progress = Progress(args.rounds * len(main_plan.jobs) + len(scale_plan.jobs))
    results = run(main_plan.jobs, comps, args.timeout, progress, args.rounds)
    scaling = run(scale_plan.jobs, comps, args.timeout, progress)
    progress.close()

    doc = {
        "version": 1,
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "command": shlex.join(["python", "tools/bench.py", *(argv or sys.argv[1:])]),
        "duration_s": time.monotonic() - started,
        "machine": machine(),
        "revision": revision(REPO),
        "settings": {
            "quick": args.quick,
            "device": args.device,
            "repeat": args.repeat,
            "rounds": args.rounds,
        },
        "memory_method": METHOD,
        "compressors": {c.name: {"kind": c.kind, "note": c.note} for c in ready},
        "skipped": skipped,
        "datasets": main_plan.datasets,
        "not_applicable": main_plan.not_applicable,
        "results": results,
        "scaling_note": SCALING_NOTE.format(
            name=scale_plan.datasets[0]["name"] if scale_plan.datasets else "-"
        ),
        "scaling_datasets": scale_plan.datasets,
        "scaling": scaling,
    }
    doc = _finite(doc)
    _write(doc, args)
    rows = glance(doc)
    print(summary_table(rows) + "\n\n" + glance_table(rows))

    ours = [r for r in doc["results"] + doc["scaling"] if r["kind"] in ("tezip", "baseline")]
    failed = [r for r in ours if r["status"] != "ok"]
    for r in failed:
        print(
            f"FAILED: {r['dataset']} {r['mode']} {r['compressor']}: {r['status']} "
            f"{r.get('error', '')}",
            file=sys.stderr,
        )
    return 1 if args.strict and failed else 0


if __name__ == "__main__":
    sys.exit(main())
