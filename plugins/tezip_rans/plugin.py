"""Registers the ``tezip.rans`` stage."""

from __future__ import annotations

from tezip.hookspecs import hookimpl
from tezip_rans.stage import RansStage


@hookimpl
def tezip_register_stages() -> list[type]:
    return [RansStage]
