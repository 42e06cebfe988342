"""tezip through its public Python API, once per predictor and once with the defaults."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np

from .codec import Blob, Codec, Compressor
from .modes import Mode

PREDICTORS = ("tezip.zero", "tezip.previous", "tezip.linear")


def _probe() -> object:
    import tezip

    return tezip.pack, tezip.unpack


def _factory(predictor: str, device: str):
    def make(x: np.ndarray, mode: Mode) -> Codec:
        import tezip

        def enc(a: np.ndarray) -> Blob:
            fd, name = tempfile.mkstemp(suffix=".tez")  # the worker points tempfile at tmpfs
            os.close(fd)
            tezip.pack(a, name, abs=mode.bound, predictor=predictor, device=device, quiet=True)
            return Path(name)

        return Codec(enc, tezip.unpack)

    return make


def tezip_compressors(device: str) -> list[Compressor]:
    """``tezip`` with its defaults (predictor auto, gop auto), then one entry per predictor."""
    where = "" if device == "cpu" else f", device {device}"
    return [Compressor("tezip", "tezip", _factory("auto", device), _probe, f"defaults{where}")] + [
        Compressor(p, "tezip", _factory(p, device), _probe, f"predictor {p}{where}")
        for p in PREDICTORS
    ]
