"""``tezip.prednet``: closed-loop PredNet prediction through each group of frames."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from tezip.abc import CodeSpace, GopStates, Predictor, PredictorState, RunContext, SingleState
from tezip.device import driver_present
from tezip.errors import InputError
from tezip_prednet import models
from tezip_prednet.architecture import Architecture
from tezip_prednet.limits import FrameLayout, plan_frames
from tezip_prednet.modelfile import ModelFile, fingerprint
from tezip_prednet.normalise import Normaliser
from tezip_prednet.snapping import snapped_values
from tezip_prednet.torchenv import describe_device, torch_device, use_threads

if TYPE_CHECKING:
    from torch import Tensor

    from tezip_prednet.network import PredNet, State

DEFAULT_MARGIN = 1e-5


class PrednetPredictor(Predictor):
    """PredNet (Lotter et al. 2016) fed the reconstructed frames; exact on every device.

    ``margin``: relative width of the band around rounding boundaries whose elements the
    encoder records so that other devices snap them identically (see ``snapping``).
    """

    id = "tezip.prednet"
    version = 2

    def __init__(self, margin: float = DEFAULT_MARGIN) -> None:
        if not 0 <= margin < 1e-2:
            raise InputError(f"tezip.prednet margin must be in [0, 0.01), got {margin}")
        self.margin = float(margin)
        self._context = RunContext()
        self._chosen: tuple[bytes, Architecture] | None = None
        self._device = "cpu"
        self._lock = threading.Lock()

    @property
    def configuration(self) -> dict[str, Any]:
        return {"margin": self.margin}

    def bind(self, context: RunContext) -> None:
        """Encoding: choose and check the model now (the header records its fingerprint).
        Decoding (``context.fingerprint`` set): the first GOP that uses this predictor does,
        so an archive whose GOPs never do decodes without the model."""
        self._context, self._chosen = context, None
        if context.fingerprint is None:
            self._choose()
        else:
            self.fingerprint = context.fingerprint
            self._settle_device()

    def _settle_device(self) -> None:
        """Decoding: settle the device now where a GPU may be (its driver loads) and torch
        imports, so that the pipeline knows to decode GOPs in GPU batches; elsewhere nothing
        is imported and the first GOP settles it."""
        if self._context.device == "cpu" or not driver_present():
            return
        try:
            device = torch_device(self._context.device)
            described = describe_device(device)
        except Exception:  # no torch, or none that works: a GOP that needs it says so
            return
        self._device, self.device = device, described

    def _choose(self) -> tuple[bytes, Architecture]:
        """The model and its checked architecture, chosen once (GOPs may start in several
        threads); nothing is built yet."""
        with self._lock:
            if self._chosen is None:
                model = models.choose(self._context.models, self._context.fingerprint)
                architecture = models.architecture_of(ModelFile.from_bytes(model))
                self._device = torch_device(self._context.device)
                self.device = describe_device(self._device)
                self._chosen, self.fingerprint = (model, architecture), fingerprint(model)
            return self._chosen

    def model_file(self) -> bytes | None:
        return None if self._chosen is None else self._chosen[0]

    def start(self, space: CodeSpace, frame_shape: tuple[int, ...]) -> PredictorState:
        return SingleState(self.start_batch([space], frame_shape))

    def start_batch(self, spaces: Sequence[CodeSpace], frame_shape: tuple[int, ...]) -> GopStates:
        model, architecture = self._choose()
        layout = plan_frames(architecture, frame_shape)  # before anything is allocated
        network = models.load(model, self._device)
        return PrednetStates(network, layout, spaces, frame_shape, self.margin)


@dataclass
class GopHistory:
    """What one GOP of a batch knows: its code space, its normaliser (from its keyframe) and
    its last two frames, normalised (frame layout)."""

    space: CodeSpace
    normaliser: Normaliser | None = None
    previous: np.ndarray | None = None
    before: np.ndarray | None = None

    def normalise(self, codes: np.ndarray) -> np.ndarray:
        """The frame of ``codes`` in network units; a keyframe first fixes the normaliser."""
        values = self.space.to_values(codes)
        if self.normaliser is None:
            self.normaliser = Normaliser.from_keyframe(values, self.space)
        return self.normaliser.forward(values)

    def remember(self, frame: np.ndarray) -> None:
        self.before, self.previous = self.previous, frame

    def base(self, linear: bool) -> np.ndarray:
        """What the correction is added to (normalised): the previous frame, or with a
        ``linear`` model and two frames of history, their linear extrapolation."""
        assert self.previous is not None
        if linear and self.before is not None:
            return 2 * self.previous - self.before
        return self.previous

    def predict(
        self, base: np.ndarray, correction: np.ndarray, side: bytes | None, margin: float
    ) -> tuple[np.ndarray, bytes]:
        """Codes of ``base + correction`` snapped to the fixed-point grid, and the side
        information that snaps them identically elsewhere."""
        assert self.normaliser is not None
        values, side = snapped_values(self.normaliser, base, correction, margin, side)
        codes = self.space.from_values(values)
        return codes.astype(self.space.dtype, copy=False), side


class PrednetStates(GopStates):
    """Recurrent state of a batch of GOPs in one network batch of ``GOPs x layout.batch``
    items; predictions are snapped per GOP as ``snapping`` describes."""

    def __init__(
        self,
        network: PredNet,
        layout: FrameLayout,
        spaces: Sequence[CodeSpace],
        frame_shape: tuple[int, ...],
        margin: float,
    ) -> None:
        import torch

        use_threads(torch)  # this batch's thread runs the network
        self.torch = torch
        self.network, self.layout, self.margin = network, layout, margin
        self.frame_shape = frame_shape
        self.gops = [GopHistory(space) for space in spaces]
        self.rows: list[int] = []  # the GOPs whose items the state tensors hold, in order
        self.state: State | None = None
        self.pending: tuple[list[Tensor], list[Tensor], Tensor] | None = None
        self.parameter = next(network.parameters())
        self.linear = network.architecture.base == "linear"

    def predict(
        self, members: Sequence[int], sides: Sequence[bytes | None]
    ) -> list[tuple[np.ndarray, bytes]]:
        gops = [self.gops[m] for m in members]
        if self.state is None:  # keyframes: no history
            return [(np.zeros(self.frame_shape, gop.space.dtype), b"") for gop in gops]
        self._keep(members)
        bases = [gop.base(self.linear) for gop in gops]
        corrections = self._advance(bases)
        return [
            gop.predict(base, correction, side, self.margin)
            for gop, base, correction, side in zip(gops, bases, corrections, sides, strict=True)
        ]

    def update(self, members: Sequence[int], codes: Sequence[np.ndarray]) -> None:
        gops = [self.gops[m] for m in members]
        frames = [gop.normalise(frame) for gop, frame in zip(gops, codes, strict=True)]
        if self.state is None:
            self._first_step(members)
        assert self.pending is not None
        r, c, predicted = self.pending
        with self.torch.no_grad():
            errors = self.network.bottom_up(r, self._tensor(frames), predicted)
        self.state, self.pending = (r, c, errors), None
        for gop, frame in zip(gops, frames, strict=True):
            gop.remember(frame)

    def _first_step(self, members: Sequence[int]) -> None:
        """At the keyframes: a zero state for the members' items and its top-down pass."""
        layout, items = self.layout, len(members) * self.layout.batch
        self.rows = list(members)
        self.state = self.network.initial_state(items, layout.height, layout.width, self.parameter)
        self._advance(None)

    def _keep(self, members: Sequence[int]) -> None:
        """Drop the items of the GOPs that have ended from every state tensor."""
        if list(members) == self.rows:
            return
        assert self.state is not None
        per_gop = self.layout.batch
        kept = [self.rows.index(m) * per_gop + i for m in members for i in range(per_gop)]
        index = self.torch.tensor(kept, device=self.parameter.device)
        r, c, errors = ([t.index_select(0, index) for t in group] for group in self.state)
        self.state = (r, c, errors)
        self.rows = list(members)

    def _advance(self, bases: list[np.ndarray] | None) -> np.ndarray:
        """Run the top-down pass; each GOP's correction to ``bases`` (zeros when ``None``),
        in frame layout."""
        assert self.state is not None
        with self.torch.no_grad():
            r, c = self.network.top_down(self.state)
            correction = self.network.correction(r)
            base = self.torch.zeros_like(correction) if bases is None else self._tensor(bases)
        self.pending = (r, c, base + correction)
        return self._frames(correction)

    def _tensor(self, frames: list[np.ndarray]) -> Tensor:
        """Frames ``(H, W[, C])`` -> network batch ``(GOPs x B, C', H', W')``, float32, padded
        by repeating the last row and column."""
        height, width = self.frame_shape[:2]
        layout = self.layout
        channels = frames[0].size // (height * width)
        planes = np.empty((len(frames), channels, layout.height, layout.width), np.float32)
        for plane, frame in zip(planes, frames, strict=True):
            plane[:, :height, :width] = frame.reshape(height, width, channels).transpose(2, 0, 1)
        planes[:, :, height:, :width] = planes[:, :, height - 1 : height, :width]
        planes[:, :, :, width:] = planes[:, :, :, width - 1 : width]
        batch = planes.reshape(-1, channels // layout.batch, layout.height, layout.width)
        return self.torch.from_numpy(batch).to(self.parameter.device)

    def _frames(self, batch: Tensor) -> np.ndarray:
        """Network batch -> float32 frames ``(GOPs, *frame_shape)``, padding cropped."""
        height, width = self.frame_shape[:2]
        items = batch.detach().cpu().numpy()
        planes = items.reshape(len(self.rows), -1, *items.shape[2:])[:, :, :height, :width]
        return planes.transpose(0, 2, 3, 1).reshape(-1, *self.frame_shape)
