"""Registers the ``tezip.zstd`` stage."""

from __future__ import annotations

from tezip.hookspecs import hookimpl
from tezip_zstd.stage import ZstdStage


@hookimpl
def tezip_register_stages() -> list[type]:
    return [ZstdStage]
