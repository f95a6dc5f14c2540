"""Forecast wrappers that change what a model learns, not what it is.

``LastValueReference`` (``data.reference: last``): inputs minus the window's last row, outputs
plus the last targets. The model then learns changes, not levels, and a trending series whose
validation and test levels lie outside the training range (most real ones) stays within what
it has seen.

``SeasonalReference`` (``data.reference: seasonal``): the same inputs, outputs plus the
seasonal-naive forecast (each step's value one season earlier). The model learns what the
seasonal naive misses, in the spirit of hybrids that let a network correct a classical
forecast (the M4 winner, ES-RNN, learned exponential smoothing and an LSTM together).

The wrapped model is unchanged and saved as is; training and inference wrap it the same way.
"""

from __future__ import annotations

import torch
from torch import nn


class LastValueReference(nn.Module):
    """Forecast relative to the window's last value (see the module docstring)."""

    def __init__(self, model: nn.Module, n_targets: int):
        super().__init__()
        self.model = model
        self.n_targets = n_targets

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        last = x[:, -1:, :]  # (B, 1, F)
        return self.model(x - last) + last[:, :, : self.n_targets]  # (B, H, T)


class SeasonalReference(nn.Module):
    """Forecast relative to the seasonal naive: inputs minus the window's last row, outputs plus
    each step's value ``season`` steps (whole seasons) earlier. The window must hold a season."""

    def __init__(self, model: nn.Module, n_targets: int, season: int):
        super().__init__()
        self.model = model
        self.n_targets = n_targets
        self.season = season

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        last = x[:, -1:, :]  # (B, 1, F)
        delta = self.model(x - last)  # (B, H, T)
        steps = torch.arange(1, delta.shape[1] + 1, device=x.device)  # (H,)
        back = self.season * ((steps - 1) // self.season + 1)  # (H,) whole seasons back, always observed
        return delta + x[:, x.shape[1] - 1 + steps - back, : self.n_targets]  # (B, H, T)
