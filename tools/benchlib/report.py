"""Markdown from a results document: summary, per-dataset tables, BENCHMARKS.md section."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from .figures import data_mb, geomean, num
from .modes import CLASSES, INT_BOUNDS, REL_BOUNDS
from .targets import FLOOR, targets

BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"
CLASS_BOUNDS = {"lossless": "lossless"} | {
    c: f"abs {e} / rel {r}" for c, e, r in zip(CLASSES[1:], INT_BOUNDS, REL_BOUNDS, strict=True)
}


def _best(rows: Iterable[dict]) -> dict | None:
    """The row with the highest ratio among those that passed their check."""
    return max((r for r in rows if r["status"] == "ok"), key=lambda r: r["ratio"], default=None)


def _check(r: dict) -> str:
    if r["status"] == "ok":
        return "ok"
    detail = f" x{r['n_bad']}" if r.get("n_bad") else ""
    return f"**{r['status']}**{detail} {r.get('error', '')}".strip()


# --------------------------------------------------------------------------- summary


def glance(doc: dict) -> list[dict]:
    """Per dataset and bound: tezip (defaults, or its best predictor), baseline, best peer."""
    out = []
    for ds in doc["datasets"]:
        for mode in ds["modes"]:
            rows = [
                r
                for r in doc["results"]
                if r["dataset"] == ds["name"] and r["mode"] == mode["label"]
            ]
            tz = [r for r in rows if r["kind"] == "tezip"]
            head = next((r for r in tz if r["compressor"] == "tezip"), _best(tz))
            out.append(
                {
                    "dataset": ds["name"],
                    "mode": mode["label"],
                    "cls": mode["cls"],
                    "tezip": head,
                    "best_tezip": _best(tz),
                    "baseline": next((r for r in rows if r["kind"] == "baseline"), None),
                    "best_peer": _best(r for r in rows if r["kind"] == "peer"),
                    "runs": {r["compressor"]: r for r in rows},
                }
            )
    return out


def _vs(g: dict, other: str) -> float | None:
    """tezip's ratio over ``other``'s in a glance row, when both passed their checks."""
    t, o = g["tezip"], g[other]
    if t is None or o is None or t["status"] != "ok" or o["status"] != "ok":
        return None
    return t["ratio"] / o["ratio"]


def summary_table(rows: list[dict]) -> str:
    """Per bound class: tezip's ratio over the best peer's and over the baseline's."""
    lines = [
        "| bound class | bounds | pairs | tezip / best peer, geo-mean | min | "
        "tezip / baseline, geo-mean | min |",
        "|---|---|--:|--:|--:|--:|--:|",
    ]
    for cls in CLASSES:
        mine = [g for g in rows if g["cls"] == cls]
        if not mine:
            continue
        peer = [v for g in mine if (v := _vs(g, "best_peer")) is not None]
        base = [v for g in mine if (v := _vs(g, "baseline")) is not None]
        lines.append(
            f"| {cls} | {CLASS_BOUNDS[cls]} | {len(mine)} | {num(geomean(peer))} | "
            f"{num(min(peer, default=None))} | {num(geomean(base))} | "
            f"{num(min(base, default=None))} |"
        )
    return "\n".join(lines)


def _ratio(r: dict | None, named: bool = False) -> str:
    if r is None:
        return "-"
    if r["status"] != "ok":
        return f"**{r['status']}**"
    return num(r["ratio"]) + (f" ({r['compressor']})" if named else "")


def glance_table(rows: list[dict]) -> str:
    """One line per dataset and bound: the ratios that matter, and tezip's speed."""
    lines = [
        "| dataset | bound | tezip | best tezip variant | baseline | tezip / baseline | "
        "best peer | tezip / best peer | tezip pack / unpack MB/s |",
        "|---|---|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for g in rows:
        t = g["tezip"]
        speed = (
            f"{num(t['pack_mbs'])} / {num(t['unpack_mbs'])}" if t and t["status"] == "ok" else "-"
        )
        lines.append(
            f"| {g['dataset']} | {g['mode']} | {_ratio(t)} | "
            f"{_ratio(g['best_tezip'], True)} | {_ratio(g['baseline'])} | "
            f"{num(_vs(g, 'baseline'))} | "
            f"{_ratio(g['best_peer'], True)} | {num(_vs(g, 'best_peer'))} | {speed} |"
        )
    return "\n".join(lines)


# --------------------------------------------------------------------------- details


def _order(rows: list[dict]) -> list[dict]:
    """tezip rows, the baseline, then peers by ratio; failures last."""
    rank = {"tezip": 0, "baseline": 1, "peer": 2}
    return sorted(
        rows,
        key=lambda r: (
            rank[r["kind"]],
            r["status"] != "ok",
            -r["ratio"] if r["kind"] == "peer" and "ratio" in r else 0,
        ),
    )


def dataset_table(doc: dict, ds: dict) -> str:
    """Every run on one dataset, best ratio per bound in bold, then what did not run and why."""
    shape = " x ".join(map(str, ds["shape"]))
    lines = [
        f"#### {ds['name']}",
        "",
        f"{shape} {ds['dtype']}, {num(ds['nbytes'] / 1e6)} MB, values {num(ds['min'])} … "
        f"{num(ds['max'])}.",
        "",
        "| bound | compressor | ratio | max error | PSNR dB | pack MB/s | unpack MB/s | "
        "peak MB pack / unpack | check |",
        "|---|---|--:|--:|--:|--:|--:|--:|---|",
    ]
    for mode in ds["modes"]:
        rows = [
            r for r in doc["results"] if r["dataset"] == ds["name"] and r["mode"] == mode["label"]
        ]
        best = _best(rows)
        label = mode["label"] + (
            ""
            if mode["bound"] is None or mode["label"].startswith("abs")
            else f" (E = {num(mode['bound'])})"
        )
        for r in _order(rows):
            ratio = num(r.get("ratio"))
            if r is best:
                ratio = f"**{ratio}**"
            peak = f"{num(r.get('pack_peak_mb'))} / {num(r.get('unpack_peak_mb'))}"
            psnr = "∞" if r["status"] == "ok" and r.get("max_err") == 0 else num(r.get("psnr"))
            lines.append(
                f"| {label} | {r['compressor']} | {ratio} | {num(r.get('max_err'))} | "
                f"{psnr} | {num(r.get('pack_mbs'))} | {num(r.get('unpack_mbs'))} | "
                f"{peak} | {_check(r)} |"
            )
    reasons: dict[str, set[str]] = {}
    for n in doc["not_applicable"]:
        if n["dataset"] == ds["name"]:
            reasons.setdefault(n["reason"], set()).add(n["compressor"])
    if reasons:
        lines += [
            "",
            "Not run: "
            + "; ".join(
                f"{', '.join(sorted(names))}: {why}" for why, names in sorted(reasons.items())
            )
            + ".",
        ]
    return "\n".join(lines)


def scaling_table(doc: dict) -> str:
    """tezip's frame-scaling runs."""
    lines = [
        "| dataset | frames | MB | bound | ratio | pack MB/s | unpack MB/s | pack peak MB | "
        "unpack peak MB | unpack peak - output MB | unpack to .npy MB/s | "
        "unpack to .npy peak MB | check |",
        "|---|--:|--:|---|--:|--:|--:|--:|--:|--:|--:|--:|---|",
    ]
    for r in doc["scaling"]:
        mb = data_mb(doc, r)
        unpack = r.get("unpack_peak_mb")
        extra = None if unpack is None else unpack - mb
        lines.append(
            f"| {r['dataset']} | {r['frames']} | {num(mb)} | {r['mode']} | "
            f"{num(r.get('ratio'))} | {num(r.get('pack_mbs'))} | "
            f"{num(r.get('unpack_mbs'))} | {num(r.get('pack_peak_mb'))} | {num(unpack)} | "
            f"{num(extra)} | {num(r.get('stream_mbs'))} | {num(r.get('stream_peak_mb'))} | "
            f"{_check(r)} |"
        )
    return "\n".join(lines)


def _timings(settings: dict) -> str:
    """How the timings were taken, for the method line."""
    best = f"best of {settings['repeat']}"
    rounds = settings.get("rounds", 1)  # results written before rounds existed had one
    if rounds == 1:
        return best
    return f"{best} in a process, in each of {rounds} rounds over every run; the fastest"


def render(doc: dict, images: dict[str, str]) -> str:
    """The whole report; ``images`` maps a caption to an image path relative to the page."""
    m = doc["machine"]
    rows = glance(doc)
    parts = [
        f"Run {doc['date']} on {m['cpu']} ({m['cores']} cores, {m['usable_cores']} usable, "
        f"{num(m['memory_gb'])} GB RAM), {m['system']}, Python {m['python']}, "
        f"{doc['duration_s'] / 60:.1f} min.",
        "",
        f"Command: `{doc['command']}` (tezip revision {doc['revision'] or 'unknown'})",
        "",
        "Versions: " + ", ".join(f"{k} {v}" for k, v in m["versions"].items()) + ".",
    ]
    if doc["settings"]["quick"]:
        parts += [
            "",
            "**Quick mode**: 8 frames of 64 x 64 per dataset; ratios and speeds are "
            "not representative.",
        ]
    if doc["skipped"]:
        parts += [
            "",
            "Skipped: " + "; ".join(f"{s['name']} ({s['reason']})" for s in doc["skipped"]) + ".",
        ]
    parts += [
        "",
        "Ratio = original bytes / compressed bytes; MB/s = 10^6 original bytes per second of "
        f"wall time ({_timings(doc['settings'])}); peak memory: {doc['memory_method']}. "
        "Every decoded stack is checked in float64 on its output dtype against the bound "
        "(lossless: bit-exact); failures are shown, never dropped. tezip = its defaults "
        "(level 5: per GOP the best of the classical predictors tezip.zero / tezip.previous / "
        "tezip.linear and the motion-compensated tezip.motion, entropy stage tezip.rans); "
        "tezip-1 / tezip-9 = the same at `--level 1` (fastest, entropy stage tezip.zstd, no "
        "tezip.motion) / `--level 9` (smallest); tezip+density = the "
        "defaults with `--entropy tezip.density`; best peer = the highest ratio among peers "
        f"that passed the check; {FLOOR} = zstd level 19 on the raw array, the lossless "
        "floor; baseline = previous frame + quantize + zstd -9.",
        "",
        "#### Summary (tezip / best peer and tezip / baseline, per bound class)",
        "",
        summary_table(rows),
        "",
        "#### Issue 9 targets",
        "",
        *targets(doc, rows),
        "",
        "#### At a glance",
        "",
        glance_table(rows),
        "",
    ]
    parts += [f"![{caption}]({path})" for caption, path in images.items()]
    if doc["scaling"]:
        parts += [
            "",
            "#### Memory against frame count",
            "",
            doc["scaling_note"],
            "",
            scaling_table(doc),
        ]
    parts += ["", "<details><summary>Every run</summary>", ""]
    parts += [dataset_table(doc, ds) + "\n" for ds in doc["datasets"]]
    parts += ["</details>"]
    return "\n".join(parts) + "\n"


def splice(path: Path, section: str) -> None:
    """Put ``section`` between the bench markers of ``path``, keeping the rest of the file."""
    block = f"{BEGIN}\n## Latest benchmark run\n\n{section}{END}\n"
    text = path.read_text() if path.exists() else "# Benchmarks\n\n"
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        rest = rest.split(END, 1)[1].lstrip("\n")
        text = head + block + ("\n" + rest if rest else "")
    else:
        text = text.rstrip("\n") + "\n\n" + block
    path.write_text(text)
