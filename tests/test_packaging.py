"""What the distribution declares: typing marker, license, floors, extras, entry points; and
the diagnostics logger."""

from __future__ import annotations

import logging
from importlib import resources
from pathlib import Path

import numpy as np
import pytest

import tezip

tomllib = pytest.importorskip("tomllib")  # Python 3.11+
ROOT = Path(__file__).resolve().parent.parent
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]


def test_the_package_is_typed_and_licensed() -> None:
    assert resources.files("tezip").joinpath("py.typed").is_file()
    assert "Typing :: Typed" in PROJECT["classifiers"]
    assert PROJECT["license"] == {"text": "BSD-3-Clause"}
    assert (ROOT / "LICENSE").read_text(encoding="utf-8").startswith("BSD 3-Clause License")


def test_pillow_that_widens_16_bit_pngs_is_excluded() -> None:
    """Pillow 10.0 to 10.2 give 16-bit grey PNGs as 32-bit frames."""
    assert "Pillow>=10.3" in PROJECT["dependencies"]


@pytest.mark.parametrize(
    ("extra", "module"),
    [("tiff", "tifffile"), ("hdf5", "h5py"), ("zarr", "zarr"), ("dask", "distributed")],
)
def test_each_integration_has_its_extra(extra: str, module: str) -> None:
    assert any(req.startswith(module) for req in PROJECT["optional-dependencies"][extra])


def test_the_codecs_and_plugins_are_registered() -> None:
    points = PROJECT["entry-points"]
    assert points["numcodecs.codecs"] == {"tezip": "tezip.codecs.numcodecs:Tezip"}
    assert points["zarr.codecs"] == {"tezip": "tezip.codecs.zarr:TezipCodec"}
    assert {"hdf5", "zarr"} <= set(points["tezip"])


def test_each_gop_is_logged_at_debug(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG, logger="tezip"):
        tezip.encode(np.zeros((6, 8, 8), np.uint8), gop=3)
    gops = [r.getMessage() for r in caplog.records if r.getMessage().startswith("GOP at")]
    assert gops[0].startswith("GOP at frame 0: 3 frames, tezip.") and len(gops) == 2
