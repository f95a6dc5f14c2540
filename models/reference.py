"""Forecast wrappers that change what a model learns, not what it is.

``LastValueReference`` (``data.reference: last``): inputs minus the window's last row, outputs
plus the last targets. The model then learns changes, not levels, and a trending series whose
validation and test levels lie outside the training range (most real ones) stays within what
it has seen. The wrapped model is unchanged and saved as is; training and inference wrap it
the same way.
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
