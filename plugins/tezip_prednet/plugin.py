"""Registers ``tezip.prednet`` and the ``tezip train`` command (torch is imported lazily)."""

from __future__ import annotations

import click

from tezip.hookspecs import hookimpl
from tezip_prednet.command import train_command
from tezip_prednet.predictor import PrednetPredictor


@hookimpl
def tezip_register_predictors() -> list[type]:
    return [PrednetPredictor]


@hookimpl
def tezip_add_commands(cli: click.Group) -> None:
    cli.add_command(train_command)
