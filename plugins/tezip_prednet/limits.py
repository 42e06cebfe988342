"""Limits on the PredNet models ``tezip.prednet`` runs, checked before anything is allocated.

A model file is untrusted input (``--model``, or embedded in an archive): its architecture
decides how much memory and compute every frame costs. The architecture alone is checked
when a model is loaded, the cost of one frame of a shape when GOPs of it start (a batch of
``n`` GOPs costs ``n`` frames a step, which the pipeline bounds); both are arithmetic on the
recorded numbers, so a hostile file is refused before a network or a tensor exists.
``spec/stages/tezip.prednet.md`` states the limits and how the costs are counted.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NoReturn

from tezip.errors import ModelError
from tezip_prednet.architecture import Architecture

#: layers, the image's included (frames are padded to a multiple of ``2**(layers - 1)``)
MAX_LAYERS = 6
MAX_CHANNELS = 1024
MAX_KERNEL = 7
#: weights and biases (128 MiB of float32)
MAX_PARAMETERS = 32 << 20
#: multiply-accumulates of one frame's network step, per element of the frame
MAX_MACS_PER_ELEMENT = 2 << 20
#: activation values of one frame's network step, per element of the frame
MAX_VALUES_PER_ELEMENT = 2048
#: frames of fewer elements get the budget of a frame of this many
MIN_BUDGET_ELEMENTS = 4096


def check_architecture(architecture: Architecture) -> None:
    """Refuse an architecture beyond the depth, channel, kernel or parameter limits."""
    layers, widest = len(architecture.channels), max(architecture.channels)
    if layers > MAX_LAYERS:
        _refuse(f"has {layers} layers", f"{MAX_LAYERS}")
    if widest > MAX_CHANNELS:
        _refuse(f"has a layer of {widest} channels", f"{MAX_CHANNELS}")
    if architecture.kernel > MAX_KERNEL:
        _refuse(f"has kernel size {architecture.kernel}", f"{MAX_KERNEL}")
    if architecture.parameters > MAX_PARAMETERS:
        _refuse(f"has {architecture.parameters} parameters", f"{MAX_PARAMETERS}")


@dataclass(frozen=True)
class FrameLayout:
    """How frames of one shape enter the network: ``batch`` items (a 1-channel model sees
    every channel on its own) of ``height x width``, the frame edge-padded to the multiple."""

    batch: int
    height: int
    width: int

    @classmethod
    def of(cls, architecture: Architecture, frame_shape: tuple[int, ...]) -> FrameLayout:
        channels = frame_shape[2] if len(frame_shape) == 3 else 1
        wanted = architecture.channels[0]
        if wanted not in (channels, 1):
            raise ModelError(f"the PredNet model takes {wanted} channels, frames have {channels}")
        multiple = architecture.multiple
        height, width = (-(-n // multiple) * multiple for n in frame_shape[:2])
        return cls(channels // wanted, height, width)

    def cost(self, architecture: Architecture) -> tuple[int, int]:
        """Multiply-accumulates and activation values (inputs and outputs of every
        convolution) of one network step."""
        macs = values = 0
        for c in architecture.convolutions():
            positions = self.batch * (self.height >> c.level) * (self.width >> c.level)
            macs += positions * c.inputs * c.outputs * architecture.kernel**2
            values += positions * (c.inputs + c.outputs)
        return macs, values


def plan_frames(architecture: Architecture, frame_shape: tuple[int, ...]) -> FrameLayout:
    """The layout of frames of ``frame_shape``; refused when a frame would cost more compute
    or memory than the per-element limits allow."""
    layout = FrameLayout.of(architecture, frame_shape)
    budget = max(math.prod(frame_shape), MIN_BUDGET_ELEMENTS)
    macs, values = layout.cost(architecture)
    shape = "x".join(map(str, frame_shape))
    if macs > MAX_MACS_PER_ELEMENT * budget:
        _refuse(
            f"needs {macs} multiply-accumulates per {shape} frame",
            _per_element(MAX_MACS_PER_ELEMENT),
        )
    if values > MAX_VALUES_PER_ELEMENT * budget:
        _refuse(
            f"needs {values} activation values per {shape} frame",
            _per_element(MAX_VALUES_PER_ELEMENT),
        )
    return layout


def _per_element(limit: int) -> str:
    smallest = MIN_BUDGET_ELEMENTS
    return f"{limit} per frame element (a frame under {smallest} elements counts as {smallest})"


def _refuse(what: str, limit: str) -> NoReturn:
    raise ModelError(f"the PredNet model {what}; tezip.prednet allows at most {limit}")
