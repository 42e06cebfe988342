"""tezip through its public Python API, once per predictor and once with the defaults."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np

from .codec import Blob, Codec, Compressor
from .modes import Mode

PREDICTORS = ("tezip.zero", "tezip.previous", "tezip.linear")
DENSITY = "tezip.density"  # the alternative entropy stage, run with the default predictors


def _probe() -> object:
    import tezip

    return tezip.pack, tezip.unpack


def _density_probe() -> object:
    from tezip.registry import get_registry

    get_registry().stage(DENSITY, None)  # raises when the plugin is not installed
    return _probe()


def _factory(predictor: str, device: str, entropy: str | None = None):
    def make(x: np.ndarray, mode: Mode) -> Codec:
        import tezip

        options = {} if entropy is None else {"entropy": entropy}

        def enc(a: np.ndarray) -> Blob:
            fd, name = tempfile.mkstemp(suffix=".tez")  # the worker points tempfile at tmpfs
            os.close(fd)
            tezip.pack(  # into the file mkstemp made
                a,
                name,
                abs=mode.bound,
                predictor=predictor,
                device=device,
                overwrite=True,
                quiet=True,
                **options,
            )
            return Path(name)

        def stream(blob: Blob, out: Path) -> None:  # unpack to a .npy file, GOP by GOP
            tezip.unpack_to(blob, out, device=device, overwrite=True)

        return Codec(enc, lambda b: tezip.unpack(b, device=device), stream)

    return make


def tezip_compressors(device: str) -> list[Compressor]:
    """``tezip`` with its defaults (predictor auto, gop auto), one entry per predictor, and the
    defaults with the ``tezip.density`` entropy stage (``tezip+density``)."""
    where = "" if device == "cpu" else f", device {device}"
    return [
        Compressor("tezip", "tezip", _factory("auto", device), _probe, f"defaults{where}"),
        *(
            Compressor(p, "tezip", _factory(p, device), _probe, f"predictor {p}{where}")
            for p in PREDICTORS
        ),
        Compressor(
            "tezip+density",
            "tezip",
            _factory("auto", device, DENSITY),
            _density_probe,
            f"defaults, --entropy {DENSITY}{where}",
        ),
    ]
