"""``tezip.prednet``: closed-loop PredNet prediction through each group of frames."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

import numpy as np

from tezip.abc import CodeSpace, Predictor, PredictorState, RunContext
from tezip.errors import InputError
from tezip_prednet import models
from tezip_prednet.architecture import Architecture
from tezip_prednet.limits import FrameLayout, plan_frames
from tezip_prednet.modelfile import ModelFile, fingerprint
from tezip_prednet.normalise import CLIP, Normaliser
from tezip_prednet.snapping import snap_decode, snap_encode, tolerance
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
        model, architecture = self._choose()
        layout = plan_frames(architecture, frame_shape)  # before anything is allocated
        network = models.load(model, self._device)
        return PrednetState(network, layout, space, frame_shape, self.margin)


class PrednetState(PredictorState):
    """Recurrent state of one GOP; predictions are snapped as ``snapping`` describes."""

    def __init__(
        self,
        network: PredNet,
        layout: FrameLayout,
        space: CodeSpace,
        frame_shape: tuple[int, ...],
        margin: float,
    ) -> None:
        import torch

        use_threads(torch)  # this GOP's thread runs the network
        self.torch = torch
        self.network, self.space, self.margin = network, space, margin
        self.frame_shape = frame_shape
        self.batch = layout.batch
        self.padding = (layout.height - frame_shape[0], layout.width - frame_shape[1])
        self.normaliser: Normaliser | None = None
        self.previous: np.ndarray | None = None  # last frame, normalised (frame layout)
        self.before: np.ndarray | None = None  # the frame before it
        self.state: State | None = None
        self.pending: tuple[list[Tensor], list[Tensor], Tensor] | None = None
        self.parameter = next(network.parameters())

    def predict(self, side: bytes | None) -> tuple[np.ndarray, bytes]:
        if self.normaliser is None or self.previous is None:  # keyframe: no history
            return np.zeros(self.frame_shape, self.space.dtype), b""
        correction = self._advance()
        with np.errstate(invalid="ignore"):
            correction = np.clip(np.nan_to_num(correction), CLIP[0] - CLIP[1], CLIP[1] - CLIP[0])
        bits = self.normaliser.bits
        scaled = np.ldexp(self._base() + correction, bits)
        if side is None:
            grid, side = snap_encode(scaled, tolerance(correction, self.margin, bits))
        else:
            grid = snap_decode(scaled, side)
        np.clip(grid, np.ldexp(CLIP[0], bits), np.ldexp(CLIP[1], bits), out=grid)
        codes = self.space.from_values(self.normaliser.inverse(grid))
        return codes.astype(self.space.dtype, copy=False).reshape(self.frame_shape), side

    def update(self, codes: np.ndarray) -> None:
        values = self.space.to_values(codes).reshape(self.frame_shape)
        if self.normaliser is None:
            self.normaliser = Normaliser.from_keyframe(values, self.space)
            self.state = self._initial()
            self._advance()
        frame = self.normaliser.forward(values)
        assert self.pending is not None and self.state is not None
        r, c, predicted = self.pending
        with self.torch.no_grad():
            errors = self.network.bottom_up(r, self._tensor(frame), predicted)
        self.state, self.pending = (r, c, errors), None
        self.before, self.previous = self.previous, frame

    def _initial(self) -> State:
        height, width = (n + p for n, p in zip(self.frame_shape[:2], self.padding, strict=True))
        return self.network.initial_state(self.batch, height, width, self.parameter)

    def _advance(self) -> np.ndarray:
        """Run the top-down pass; the correction to the previous frame, in frame layout."""
        assert self.state is not None
        with self.torch.no_grad():
            r, c = self.network.top_down(self.state)
            correction = self.network.correction(r)
            base = (
                self.torch.zeros_like(correction)
                if self.previous is None
                else self._tensor(self._base())
            )
        self.pending = (r, c, base + correction)
        return self._frame(correction)

    def _base(self) -> np.ndarray:
        """What the correction is added to (normalised): the previous frame, or with a
        ``linear`` model and two frames of history, their linear extrapolation."""
        assert self.previous is not None
        if self.network.architecture.base == "linear" and self.before is not None:
            return 2 * self.previous - self.before
        return self.previous

    def _tensor(self, frame: np.ndarray) -> Tensor:
        """Frame layout ``(H, W[, C])`` -> padded network batch ``(B, C', H', W')``."""
        planes = frame.reshape(*self.frame_shape[:2], -1).transpose(2, 0, 1)
        pad = ((0, 0), (0, self.padding[0]), (0, self.padding[1]))
        planes = np.pad(planes, pad, mode="edge").astype(np.float32)
        batch = planes.reshape(self.batch, -1, *planes.shape[1:])
        return self.torch.from_numpy(batch).to(self.parameter.device)

    def _frame(self, batch: Tensor) -> np.ndarray:
        """Network batch -> float64 frame layout, padding cropped."""
        height, width = self.frame_shape[:2]
        planes = batch.detach().cpu().numpy().reshape(-1, *batch.shape[2:])[:, :height, :width]
        return planes.transpose(1, 2, 0).reshape(self.frame_shape).astype(np.float64)
