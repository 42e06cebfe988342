"""PNG charts of a results document (matplotlib, Agg backend)."""

from __future__ import annotations

from pathlib import Path

from .figures import data_mb, geomean


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


MARKERS = "os^Dv<>PX*hp"


def _styles(doc: dict) -> dict[str, dict]:
    """One fixed look per compressor across all plots: tezip bold black, the baseline dashed."""
    plt = _pyplot()
    colors = [c for m in ("tab10", "Dark2", "Set1") for c in plt.get_cmap(m).colors]
    out = {}
    for i, (name, c) in enumerate(doc["compressors"].items()):
        style = {
            "color": colors[i % len(colors)],
            "marker": MARKERS[i % len(MARKERS)],
            "markersize": 4,
            "linewidth": 1.0,
        }
        if c["kind"] == "tezip":
            style.update(linewidth=1.5, linestyle="-.", zorder=4)
        if c["kind"] == "baseline":
            style.update(color="grey", linestyle="--", linewidth=1.5, zorder=3)
        if name == "tezip":
            style.update(color="black", linestyle="-", linewidth=2.5, zorder=5)
        out[name] = style
    return out


def rate_distortion(doc: dict, ds: dict, path: Path) -> None:
    """Ratio against bound for every compressor on one dataset; failed checks are red crosses."""
    plt = _pyplot()
    from matplotlib import ticker

    labels = [m["label"] for m in ds["modes"]]
    fig, ax = plt.subplots(figsize=(8, 4.5))
    rows = [r for r in doc["results"] if r["dataset"] == ds["name"] and "ratio" in r]
    styles = _styles(doc)
    for name in doc["compressors"]:
        mine = [r for r in rows if r["compressor"] == name]
        if not mine:
            continue
        ok = [(labels.index(r["mode"]), r["ratio"]) for r in mine if r["status"] == "ok"]
        bad = [(labels.index(r["mode"]), r["ratio"]) for r in mine if r["status"] != "ok"]
        if ok:
            xs, ys = zip(*ok, strict=True)
            ax.plot(xs, ys, label=name, **styles[name])
        if bad:
            xs, ys = zip(*bad, strict=True)
            ax.plot(xs, ys, "x", color="red", markersize=8, zorder=6)
    ax.set_xticks(range(len(labels)), labels)
    ax.set_yscale("log")
    plain = ticker.FuncFormatter(lambda v, _: f"{v:g}")
    ax.yaxis.set_major_formatter(plain)
    ax.yaxis.set_minor_formatter(plain)
    ax.set_xlabel("error bound (red x: result failed its check)")
    ax.set_ylabel("compression ratio")
    shape = "x".join(map(str, ds["shape"]))
    ax.set_title(f"{ds['name']} ({shape} {ds['dtype']}): ratio against bound")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=8)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)


def throughput(doc: dict, path: Path) -> None:
    """Geometric-mean pack and unpack MB/s per compressor over all of its passing runs."""
    plt = _pyplot()
    names = list(dict.fromkeys(r["compressor"] for r in doc["results"]))
    speeds = {
        n: [
            geomean(r[k] for r in doc["results"] if r["compressor"] == n and r["status"] == "ok")
            for k in ("pack_mbs", "unpack_mbs")
        ]
        for n in names
    }
    names = sorted((n for n in names if speeds[n][0]), key=lambda n: speeds[n][0])
    fig, ax = plt.subplots(figsize=(8, 0.35 * len(names) + 1.2))
    ys = range(len(names))
    ax.barh([y + 0.2 for y in ys], [speeds[n][0] for n in names], 0.4, label="pack")
    ax.barh([y - 0.2 for y in ys], [speeds[n][1] for n in names], 0.4, label="unpack")
    ax.set_yticks(list(ys), names)
    ax.set_xscale("log")
    ax.set_xlabel("MB/s of original data (geometric mean over datasets and bounds)")
    ax.set_title("Throughput")
    ax.grid(True, axis="x", which="both", alpha=0.3)
    ax.legend(loc="lower right")
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)


def memory_scaling(doc: dict, path: Path) -> None:
    """Peak memory of pack and of unpack (less its output) against the number of frames."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 4))
    sizes = sorted((d["shape"][0], d["nbytes"] / 1e6) for d in doc["scaling_datasets"])
    if sizes:
        xs, ys = zip(*sizes, strict=True)
        ax.plot(xs, ys, color="grey", linestyle="--", label="data size (for reference)")
    for mode in dict.fromkeys(r["mode"] for r in doc["scaling"]):
        rows = sorted(
            (r for r in doc["scaling"] if r["mode"] == mode and r.get("pack_peak_mb") is not None),
            key=lambda r: r["frames"],
        )
        frames = [r["frames"] for r in rows]
        ax.plot(frames, [r["pack_peak_mb"] for r in rows], "o-", label=f"pack, {mode}")
        ax.plot(
            frames,
            [r["unpack_peak_mb"] - data_mb(doc, r) for r in rows],
            "s--",
            label=f"unpack less its output, {mode}",
        )
        streamed = [r for r in rows if r.get("stream_peak_mb") is not None]
        if streamed:
            ax.plot(
                [r["frames"] for r in streamed],
                [r["stream_peak_mb"] for r in streamed],
                "^:",
                label=f"unpack to .npy (streaming), {mode}",
            )
    ax.set_xlabel("frames")
    ax.set_ylabel("peak memory growth, MB")
    ax.set_title("tezip memory against frame count")
    ax.set_ylim(bottom=0)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5))
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
