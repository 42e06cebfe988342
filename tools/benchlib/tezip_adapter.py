"""tezip through its public Python API: the defaults, the fastest and smallest levels, each
predictor, and the ``tezip.density`` entropy stage."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from .codec import Blob, Codec, Compressor
from .modes import Mode

PREDICTORS = ("tezip.zero", "tezip.previous", "tezip.linear")
LEVELS = (1, 9)  # tezip.pack's fastest and smallest speed levels (the default is 5)
DENSITY = "tezip.density"  # the alternative entropy stage, run with the default predictors


def _probe() -> object:
    import tezip

    return tezip.pack, tezip.unpack


def _density_probe() -> object:
    from tezip.registry import get_registry

    get_registry().stage(DENSITY, None)  # raises when the plugin is not installed
    return _probe()


def _factory(
    predictor: str, device: str, entropy: str | None = None, level: int | None = None
) -> Callable[[np.ndarray, Mode], Codec]:
    """``tezip.pack`` / ``unpack`` with ``entropy`` and ``level`` when given, else tezip's
    defaults for them."""
    options = {k: v for k, v in (("entropy", entropy), ("level", level)) if v is not None}

    def make(x: np.ndarray, mode: Mode) -> Codec:
        import tezip

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
    """``tezip`` with its defaults (predictor auto, gop auto, level 5), ``tezip-1`` and
    ``tezip-9`` at the fastest and smallest levels, one entry per predictor, and the defaults
    with the ``tezip.density`` entropy stage (``tezip+density``)."""
    where = "" if device == "cpu" else f", device {device}"
    return [
        Compressor("tezip", "tezip", _factory("auto", device), _probe, f"defaults{where}"),
        *(
            Compressor(
                f"tezip-{n}",
                "tezip",
                _factory("auto", device, level=n),
                _probe,
                f"defaults, --level {n}{where}",
            )
            for n in LEVELS
        ),
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
