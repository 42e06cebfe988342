"""Registers the ``tezip.density`` stage."""

from __future__ import annotations

from tezip.hookspecs import hookimpl
from tezip_density.stage import DensityStage


@hookimpl
def tezip_register_stages() -> list[type]:
    return [DensityStage]
