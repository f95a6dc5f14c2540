"""What a model reads and writes (``ModelIO``), and the output head every family shares.

Three heads, chosen once at construction:

- forecasting (default): a direct multi-step linear map from the last step's features to
  ``horizon * n_targets`` values, reshaped to ``(B, horizon, n_targets)``; with ``n_future``
  known-future features per horizon step (calendar features, planned covariates), the map
  reads the last step's features and all ``horizon * n_future`` of them, flattened. With
  ``quantiles`` (probabilities, sorted) it forecasts each of them (a quantile head, trained on
  the pinball loss): the quantile nearest 0.5 is a free output, the others lie below or above
  it by cumulative softplus increments, so they are ordered by construction and never cross.
  Its output is the point forecast, that middle quantile, ``(B, horizon, n_targets)``, unless
  ``quantile_outputs(model)`` asks for them all, ``(B, horizon, n_targets, Q)``;
- classification (``n_classes`` set): last step's features -> ``(B, n_classes)`` logits;
- next-token / per-step classification (``n_classes`` and ``per_step``): every step's
  features -> ``(B, T, n_classes)`` logits. The backbone must be causal for next-token
  prediction (LSTM/GRU unidirectional, TCN, transformer with ``causal=True``).
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass

import torch
from torch import nn

from models._params import ModelParamError, check_bool, check_int, check_optional_int


@dataclass(frozen=True)
class ModelIO:
    """The shapes around a model, fixed by the data and the task rather than searched."""

    n_features: int  # input channels per time step
    horizon: int  # steps ahead to forecast (regression head)
    n_targets: int  # values forecast per step (regression head)
    lookback: int | None = None  # window length T; needed only by learned positions
    n_classes: int | None = None  # set for a classification head instead of forecasting
    per_step: bool = False  # with n_classes: logits at every step, (B, T, n_classes)
    n_future: int = 0  # known-future features per horizon step, read by the forecasting head
    quantiles: tuple[float, ...] = ()  # a quantile head's probabilities, sorted; () = one value per step and target

    def validate(self) -> None:
        check_int("n_features", self.n_features, minimum=1)
        check_int("horizon", self.horizon, minimum=1)
        check_int("n_targets", self.n_targets, minimum=1)
        check_optional_int("lookback", self.lookback, minimum=1)
        check_optional_int("n_classes", self.n_classes, minimum=2)
        check_bool("per_step", self.per_step)
        check_int("n_future", self.n_future, minimum=0)
        qs = self.quantiles
        if qs and (not all(isinstance(q, (int, float)) and 0 < q < 1 for q in qs) or list(qs) != sorted(set(qs))):
            raise ModelParamError("quantiles", f"expected increasing probabilities in (0, 1), got {list(qs)!r}")
        if qs and self.n_classes is not None:
            raise ModelParamError("quantiles", "a quantile head forecasts; a classifier has no quantiles")
        if self.n_future and self.n_classes is not None:
            raise ModelParamError("n_future", "known-future inputs feed a forecasting head; a classifier has no horizon")
        if self.per_step and self.n_classes is None:
            raise ModelParamError(
                "per_step",
                "per_step=True gives next-token class logits (B, T, n_classes) and needs n_classes",
            )


def middle(quantiles) -> int:
    """The index of the quantile nearest 0.5 (the lower of two as near): the point forecast."""
    return min(range(len(quantiles)), key=lambda k: (abs(quantiles[k] - 0.5), quantiles[k]))


class OutputHead(nn.Module):
    """Linear head from backbone features to the task's output shape."""

    def __init__(self, in_features: int, io: ModelIO) -> None:
        super().__init__()
        if io.n_classes is None:
            self.out_shape = (io.horizon, io.n_targets)
        else:
            self.out_shape = (io.n_classes,)
        self.per_step = io.per_step
        self.n_future = io.n_future
        self.quantiles = tuple(float(q) for q in io.quantiles)
        self.middle = middle(self.quantiles) if self.quantiles else 0
        self.all_quantiles = False  # set by quantile_outputs
        self.proj = nn.Linear(in_features + io.horizon * io.n_future, math.prod(self.out_shape) * max(len(self.quantiles), 1))

    def forward(self, seq: torch.Tensor, last: torch.Tensor, future: torch.Tensor | None = None) -> torch.Tensor:
        # seq: (B, T, F) features at every step; last: (B, F) summary at the last step;
        # future: (B, horizon, n_future) known-future features of the horizon (n_future > 0)
        if self.per_step:
            return self.proj(seq)  # (B, T, n_classes)
        if self.n_future:
            if future is None:
                raise ValueError(f"this head reads {self.n_future} known-future features per horizon step; pass future (B, horizon, {self.n_future})")
            last = torch.cat([last, future.flatten(1).to(last.dtype)], dim=-1)  # (B, F + horizon * n_future)
        return self.outputs(self.proj(last))  # (B, horizon, n_targets) or (B, C); all quantiles: (B, horizon, n_targets, Q)

    def outputs(self, z: torch.Tensor) -> torch.Tensor:
        """Projected features (..., out) -> the output shape; a quantile head orders its quantiles
        around the middle one and returns it alone unless ``all_quantiles``."""
        if not self.quantiles:
            return z.unflatten(-1, self.out_shape)
        z = z.unflatten(-1, (*self.out_shape, len(self.quantiles)))  # (..., H, T, Q) raw
        m = self.middle
        centre = z[..., m : m + 1]  # (..., H, T, 1)
        gaps = nn.functional.softplus(z)  # (..., H, T, Q) positive increments
        below = centre - gaps[..., :m].flip(-1).cumsum(-1).flip(-1)  # (..., H, T, m) increasing towards the middle
        above = centre + gaps[..., m + 1 :].cumsum(-1)  # (..., H, T, Q-m-1)
        ordered = torch.cat([below, centre, above], dim=-1)
        return ordered if self.all_quantiles else ordered[..., m]


@contextlib.contextmanager
def quantile_outputs(model: nn.Module):
    """Within it, every quantile head of ``model`` returns all its quantiles (..., Q) rather
    than its point forecast: what training (the pinball loss) and the intervals read."""
    heads = [m for m in model.modules() if isinstance(m, OutputHead) and m.quantiles]
    for head in heads:
        head.all_quantiles = True
    try:
        yield model
    finally:
        for head in heads:
            head.all_quantiles = False
