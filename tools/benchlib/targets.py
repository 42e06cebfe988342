"""Issue 9's targets ("win on ratio"), judged on the glance rows of a results document.

(a) tezip's defaults at least the best peer's ratio in every bound class (geometric mean) and
in at least 14 of every 16 dataset x bound cells; (b) lossless above zstd -19 on the raw array
on every dataset; (c) the default level's speed; (d) the fastest level's speed and the
smallest level's ratio; (e) memory flat in the number of frames.
"""

from __future__ import annotations

import math

import numpy as np

from .figures import data_mb, geomean, num, over, passed, peak_data
from .modes import CLASSES

DEFAULT, FASTEST, SMALLEST, FLOOR = "tezip", "tezip-1", "tezip-9", "zstd-19"
CELL_SHARE = (14, 16)  # at least 14 of every 16 cells at or above the best peer
# data type class -> (pack, unpack) MB/s the default level must reach
SPEED = {"8-bit data": (100, 200), "16-bit and float data": (100, 150)}


def _yes(ok: bool) -> str:
    return "yes" if ok else "**no**"


def _runs(n: int) -> str:
    return f"{n} run{'s' * (n != 1)}"


def _factor(v: float | None) -> str:
    """A judged ratio of ratios: four figures, so that 0.9996 does not read as 1.000."""
    return num(v, 4)


def _cell(g: dict) -> str:
    return f"{g['dataset']} {g['mode']}"


def class_table(rows: list[dict]) -> str:
    """Per bound class: tezip / best peer, the cells where tezip reaches it, and tezip-9."""
    lines = [
        "| bound class | cells | tezip / best peer, geo-mean | cells tezip >= best peer | "
        f"{SMALLEST} / best peer, geo-mean | {SMALLEST} / tezip, geo-mean |",
        "|---|--:|--:|--:|--:|--:|",
    ]
    for cls in CLASSES:
        mine = [g for g in rows if g["cls"] == cls and passed(g["best_peer"])]
        if not mine:
            continue
        vs = [over(g["tezip"], g["best_peer"]) for g in mine]
        small = [over(g["runs"].get(SMALLEST), g["best_peer"]) for g in mine]
        gain = [over(g["runs"].get(SMALLEST), g["tezip"]) for g in mine]
        lines.append(
            f"| {cls} | {len(mine)} | {_factor(geomean(v for v in vs if v))} | "
            f"{sum(v is not None and v >= 1 for v in vs)} | "
            f"{num(geomean(v for v in small if v))} | {num(geomean(v for v in gain if v))} |"
        )
    return "\n".join(lines)


def _peer_lines(rows: list[dict]) -> list[str]:
    """(a): every class at or above the best peer, and enough of the cells."""
    cells = [g for g in rows if passed(g["best_peer"])]
    if not cells:
        return ["- tezip against the best peer: not measured (no peer passed)"]
    below_cls = []
    for cls in CLASSES:
        vs = [over(g["tezip"], g["best_peer"]) for g in cells if g["cls"] == cls]
        mean = geomean(vs) if None not in vs else None  # a failed tezip run fails its class
        if vs and (mean is None or mean < 1):
            below_cls.append(f"{cls} {_factor(mean)}")
    below = [g for g in cells if (over(g["tezip"], g["best_peer"]) or 0.0) < 1]
    need = math.ceil(len(cells) * CELL_SHARE[0] / CELL_SHARE[1])
    reached = len(cells) - len(below)
    listed = ", ".join(
        f"{_cell(g)} {_factor(over(g['tezip'], g['best_peer']))} ({g['best_peer']['compressor']})"
        for g in below
    )
    return [
        f"- tezip >= best peer in every bound class (geo-mean): {_yes(not below_cls)}"
        + (f", below in {', '.join(below_cls)}" if below_cls else ""),
        f"- tezip >= best peer in at least {need} of {len(cells)} cells "
        f"({CELL_SHARE[0]} of every {CELL_SHARE[1]}): {_yes(reached >= need)}, in {reached}"
        + (f"; below on {listed}" if below else ""),
    ]


def _floor_line(rows: list[dict]) -> str:
    """(b): lossless tezip above zstd -19 on the raw array, dataset by dataset."""
    lossless = [g for g in rows if g["cls"] == "lossless" and FLOOR in g["runs"]]
    if not lossless:
        return f"- lossless above {FLOOR} on every dataset: not measured ({FLOOR} did not run)"
    vs = {g["dataset"]: over(g["tezip"], g["runs"][FLOOR]) for g in lossless}
    failed = [name for name, v in vs.items() if v is None or v <= 1]
    each = ", ".join(f"{name} {_factor(v)}" for name, v in vs.items())
    verdict = f"**no**, not above on {', '.join(failed)}" if failed else "yes"
    return (
        f"- lossless above {FLOOR} (on the raw array) on every dataset: {verdict} "
        f"(tezip / {FLOOR}: {each})"
    )


def _speeds(doc: dict, rows: list[dict], name: str) -> dict[str, tuple[list, list]]:
    """Pack and unpack MB/s of ``name``'s passing runs, per data type class of SPEED."""
    narrow = {d["name"] for d in doc["datasets"] if np.dtype(d["dtype"]).itemsize == 1}
    out: dict[str, tuple[list, list]] = {}
    for g in rows:
        r = g["runs"].get(name)
        if passed(r):
            group = "8-bit data" if g["dataset"] in narrow else "16-bit and float data"
            pack, unpack = out.setdefault(group, ([], []))
            pack.append(r["pack_mbs"])
            unpack.append(r["unpack_mbs"])
    return out


def _speed_lines(doc: dict, rows: list[dict]) -> list[str]:
    """(c) the default level against SPEED, (d) the fastest level's figures."""
    out = []
    for group, (pack, unpack) in _speeds(doc, rows, DEFAULT).items():
        parts = []
        for what, vals, target in zip(
            ("pack", "unpack"), (pack, unpack), SPEED[group], strict=True
        ):
            mean, low = geomean(vals) or 0.0, min(vals)
            parts.append(
                f"{what} {num(mean)} geo-mean, {num(low)} slowest, target {target}: "
                f"geo-mean {_yes(mean >= target)}, slowest {_yes(low >= target)}"
            )
        out.append(f"- default level, {group}, MB/s ({_runs(len(pack))}): {'; '.join(parts)}")
    for group, (pack, unpack) in _speeds(doc, rows, FASTEST).items():
        out.append(
            f"- fastest level ({FASTEST}), {group}, MB/s ({_runs(len(pack))}): pack "
            f"{num(geomean(pack))} geo-mean, {num(min(pack))} slowest; unpack "
            f"{num(geomean(unpack))} geo-mean, {num(min(unpack))} slowest"
        )
    return out


def _memory_line(doc: dict) -> list[str]:
    """(e): peak memory of the frame-scaling runs, worst bound, first and last frame count."""
    peak: dict[int, tuple[float, ...]] = {}
    for r in doc["scaling"]:
        if r["status"] == "ok" and r.get("pack_peak_mb") is not None:
            mine = (
                r["pack_peak_mb"],
                r["unpack_peak_mb"] - data_mb(doc, r),
                r.get("stream_peak_mb", math.nan),
            )
            peak[r["frames"]] = tuple(map(max, peak.get(r["frames"], mine), mine))
    if not peak:
        return []
    lo, hi = min(peak), max(peak)
    return [
        f"- peak memory, worst bound, {lo} -> {hi} frames "
        f"({num(peak_data(doc, lo))} -> {num(peak_data(doc, hi))} MB of data): pack "
        f"{num(peak[lo][0])} -> {num(peak[hi][0])} MB; unpack to an array, less the "
        f"array itself, {num(peak[lo][1])} -> {num(peak[hi][1])} MB; streaming unpack "
        f"to .npy {num(peak[lo][2])} -> {num(peak[hi][2])} MB"
    ]


def targets(doc: dict, rows: list[dict]) -> list[str]:
    """The markdown of the targets section: a per-class table, then one line per target."""
    failed = [_cell(g) for g in rows if not passed(g["tezip"])]
    return [
        class_table(rows),
        "",
        *_peer_lines(rows),
        _floor_line(rows),
        *_speed_lines(doc, rows),
        *_memory_line(doc),
        *([f"- tezip failed or did not run on: **{', '.join(failed)}**"] if failed else []),
    ]
