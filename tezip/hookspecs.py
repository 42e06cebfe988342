"""The hooks a tezip plugin may implement (pluggy project name and entry-point group: ``tezip``).

A plugin is any module or object with functions named like these hooks and decorated with
:data:`tezip.hookimpl`; a decorated function whose name matches no hook here (a misspelling)
is a ``PluginError``, not silently ignored. Installed plugins are found through the ``tezip``
entry-point group; tezip's own predictors and stages (``plugins/``) are registered the same
way.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    import click
    import numpy as np

    from tezip.abc import ArrayToArrayStage, ArrayToBytesStage, Predictor
    from tezip.io import FrameSink, FrameSource

PROJECT = "tezip"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def tezip_register_predictors() -> list[type[Predictor]]:
    """Return predictor classes to make available under their ``id``.

    Every plugin's list is collected; two classes with one id are an error naming both.
    """


@hookspec
def tezip_register_stages() -> list[type[ArrayToArrayStage] | type[ArrayToBytesStage]]:
    """Return pipeline stage classes (spatial transforms, entropy coders) keyed by ``id``."""


@hookspec(firstresult=True)
def tezip_open_input(path: Path) -> FrameSource | None:
    """Return a frame source for ``path`` if this plugin reads it, else ``None``.

    The first plugin that answers wins; tezip's own readers (``.npy`` arrays, image folders
    and files, TIFF stacks) are registered last-resort style, so a third-party plugin may
    take over a path. ``path`` need not exist as a file: it may name something inside one
    (``run.h5:/entry/data``).
    """


@hookspec(firstresult=True)
def tezip_open_output(
    path: Path, count: int, frame_shape: tuple[int, ...], dtype: np.dtype, overwrite: bool
) -> FrameSink | None:
    """Return a sink writing ``count`` frames to ``path`` if this plugin writes it, else
    ``None`` (tezip then writes a ``.npy`` file, a TIFF stack or a folder of images).

    The sink checks everything it can on construction and publishes its output only on
    commit (:class:`tezip.io.FrameSink`); an existing output is replaced only with
    ``overwrite``.
    """


@hookspec
def tezip_add_commands(cli: click.Group) -> None:
    """Add sub-commands to the ``tezip`` command-line group."""
