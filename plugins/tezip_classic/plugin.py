"""Registers the classical predictors (motion compensation among them) and the Lorenzo
stage."""

from __future__ import annotations

from tezip.hookspecs import hookimpl
from tezip_classic.lorenzo import LorenzoStage
from tezip_classic.motion import MotionPredictor
from tezip_classic.predictors import LinearPredictor, PreviousPredictor, ZeroPredictor


@hookimpl
def tezip_register_predictors() -> list[type]:
    return [ZeroPredictor, PreviousPredictor, LinearPredictor, MotionPredictor]


@hookimpl
def tezip_register_stages() -> list[type]:
    return [LorenzoStage]
