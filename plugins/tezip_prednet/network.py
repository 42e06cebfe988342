"""PredNet (Lotter, Kreiman & Cox 2016) in PyTorch, predicting a correction to the last frame.

Layer ``l`` works at ``1 / 2**l`` resolution. Its representation unit is a convolutional LSTM
with hard-sigmoid gates fed its own error, its previous state and the upsampled
representation of the layer above (top-down pass); its error unit holds the rectified
positive and negative differences between the layer's input and its prediction, and feeds
the layer above through a convolution and max-pooling (bottom-up pass). Layer 0 predicts a
linear *correction* added to a *base*: the previous frame, or for ``base="linear"`` the
linear extrapolation ``2 x[t-1] - x[t-2]`` of the two before (the previous frame at
``t = 1``), so an untrained network predicts its base.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional

from tezip_prednet.architecture import Architecture

State = tuple[list[Tensor], list[Tensor], list[Tensor]]  # representations, cells, errors


def hard_sigmoid(x: Tensor) -> Tensor:
    """Keras' piecewise-linear sigmoid, as in the original PredNet."""
    return (0.2 * x + 0.5).clamp(0.0, 1.0)


class PredNet(nn.Module):
    """The network; :meth:`step` advances one frame, :meth:`forward` runs a training clip."""

    def __init__(self, architecture: Architecture) -> None:
        super().__init__()
        self.architecture = architecture
        k = architecture.kernel
        groups: dict[str, list[nn.Module]] = {"lstm": [], "ahat": [], "a": []}
        for c in architecture.convolutions():
            groups[c.group].append(nn.Conv2d(c.inputs, c.outputs, k, padding=k // 2))
        self.lstm = nn.ModuleList(groups["lstm"])
        self.ahat = nn.ModuleList(groups["ahat"])
        self.a = nn.ModuleList(groups["a"])
        nn.init.zeros_(self.ahat[0].weight)  # start as the previous-frame predictor
        nn.init.zeros_(self.ahat[0].bias)

    def initial_state(self, batch: int, height: int, width: int, like: Tensor) -> State:
        """Zero representations, cells and errors for frames of ``height x width``."""

        def zeros(channels: int, level: int) -> Tensor:
            return like.new_zeros(batch, channels, height >> level, width >> level)

        sizes = self.architecture.channels
        r = [zeros(s, i) for i, s in enumerate(sizes)]
        c = [zeros(s, i) for i, s in enumerate(sizes)]
        e = [zeros(2 * s, i) for i, s in enumerate(sizes)]
        return r, c, e

    def top_down(self, state: State) -> tuple[list[Tensor], list[Tensor]]:
        """New representations and cells from the last errors, top layer first."""
        r_old, c_old, errors = state
        r_new: list[Tensor] = [r_old[0]] * len(r_old)
        c_new: list[Tensor] = [c_old[0]] * len(c_old)
        for level in reversed(range(len(r_old))):
            inputs = [errors[level], r_old[level]]
            if level < len(r_old) - 1:
                inputs.append(functional.interpolate(r_new[level + 1], scale_factor=2.0))
            gates = self.lstm[level](torch.cat(inputs, dim=1))
            i, f, o, g = torch.chunk(gates, 4, dim=1)
            c_new[level] = hard_sigmoid(f) * c_old[level] + hard_sigmoid(i) * torch.tanh(g)
            r_new[level] = hard_sigmoid(o) * torch.tanh(c_new[level])
        return r_new, c_new

    def correction(self, representations: list[Tensor]) -> Tensor:
        """Layer 0's prediction: the change from the previous frame."""
        return self.ahat[0](representations[0])

    def bottom_up(
        self, representations: list[Tensor], frame: Tensor, predicted: Tensor
    ) -> list[Tensor]:
        """Error units of every layer once ``frame`` (predicted as ``predicted``) is known."""
        errors = []
        target, guess = frame, predicted
        for level, r in enumerate(representations):
            if level:
                guess = torch.relu(self.ahat[level](r))
            errors.append(torch.cat([torch.relu(target - guess), torch.relu(guess - target)], 1))
            if level < len(representations) - 1:
                target = functional.max_pool2d(torch.relu(self.a[level](errors[-1])), 2)
        return errors

    def forward(self, clip: Tensor) -> Tensor:
        """Predictions of every frame of ``clip`` ``(B, T, C, H, W)`` from the frames before it."""
        batch, steps, _, height, width = clip.shape
        state = self.initial_state(batch, height, width, clip)
        previous = torch.zeros_like(clip[:, 0])
        outputs = []
        for t in range(steps):
            r, c = self.top_down(state)
            linear = self.architecture.base == "linear" and t >= 2
            base = 2 * previous - clip[:, t - 2] if linear else previous
            predicted = base + self.correction(r)
            outputs.append(predicted)
            state = (r, c, self.bottom_up(r, clip[:, t], predicted))
            previous = clip[:, t]
        return torch.stack(outputs, 1)
