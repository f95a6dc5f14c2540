"""Forecast wrappers that change what a model learns, not what it is.

``LastValueReference`` (``data.reference: last``): inputs minus the window's last row, outputs
plus the last targets. The model then learns changes, not levels, and a trending series whose
validation and test levels lie outside the training range (most real ones) stays within what
it has seen.

``SeasonalReference`` (``data.reference: seasonal``): the same inputs, outputs plus the
seasonal-naive forecast (each step's value one season earlier). The model learns what the
seasonal naive misses, in the spirit of hybrids that let a network correct a classical
forecast (the M4 winner, ES-RNN, learned exponential smoothing and an LSTM together).

``FutureWindow`` (``data.time_features``, ``data.future_features``, ``data.reference: mstl``):
the window reaches ``horizon`` rows past the origin, because a view over the series cannot
leave them out; its first step keeps, of those rows, only the known-future columns (calendar
features, planned covariates, the seasonal profile of ``mstl``), so no target or ordinary
feature after the origin reaches the model. It then applies the reference (``last``,
``seasonal``, ``none`` as above, or ``mstl``: the deviation from the last deseasonalised value
plus the seasonal profile over the horizon, in the spirit of ES-RNN's deseasonalised, level-
normalised inputs) to the target and feature columns; known-future columns enter as they are.

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
        return _plus(self.model(x - last), last[:, :, : self.n_targets])  # (B, H, T)


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
        return _plus(delta, x[:, x.shape[1] - 1 + steps - back, : self.n_targets])  # (B, H, T)


REFERENCES = ("last", "none", "seasonal", "mstl")


class NoCorrection(nn.Module):
    """A core model that forecasts no change (zeros, (B, H, T)): wrapped by a reference, the
    reference's own forecast, as ``reference: auto`` weighs it (``SeriesData.reference_metrics``)."""

    def __init__(self, horizon: int, n_targets: int):
        super().__init__()
        self.horizon, self.n_targets = horizon, n_targets

    def forward(self, past: torch.Tensor, future: torch.Tensor | None = None) -> torch.Tensor:
        return past.new_zeros(past.shape[0], self.horizon, self.n_targets)


def _plus(out: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """The model's output plus the reference (B, H or 1, T); a quantile head's quantiles
    (B, H, T, Q), inside ``models.quantile_outputs``, all move with it (their order kept)."""
    return out + (reference.unsqueeze(-1) if out.dim() > reference.dim() else reference)


class FutureWindow(nn.Module):
    """A forecast from a window of ``lookback + horizon`` rows with known-future columns.

    Columns of the window: ``n_inputs`` model inputs (targets first, then features, the last
    ``n_known`` of them known in the future), then ``n_targets`` columns of the seasonal profile
    when ``reference`` is ``mstl``, and from column ``lags_at`` the seasonal naive's values
    (``n_lags`` lags ``y[t - k season]`` per target, lag-major; never model inputs: see
    ``search.worker.ref_columns``). Of the ``horizon`` rows after the origin only the known
    columns, the profile and the lags are read. Without lag columns (checkpoints made before
    them) ``seasonal`` reads the season back inside the window, which must then hold it.
    """

    def __init__(self, model: nn.Module, n_targets: int, lookback: int, n_inputs: int, n_known: int, reference: str, season: int | None = None,
                 lags_at: int | None = None, n_lags: int = 0):  # fmt: skip
        super().__init__()
        if reference not in REFERENCES:
            raise ValueError(f"reference {reference!r} is not one of {', '.join(REFERENCES)}")
        self.model = model
        self.n_targets, self.lookback, self.n_inputs, self.n_known = n_targets, lookback, n_inputs, n_known
        self.reference, self.season = reference, season
        self.lags_at, self.n_lags = lags_at, n_lags

    def forward(self, window: torch.Tensor) -> torch.Tensor:
        L, T, F, K = self.lookback, self.n_targets, self.n_inputs, self.n_known
        past = window[:, :L, :F]  # (B, L, F) every input up to the origin
        future = window[:, L:, F - K : F] if K else None  # (B, H, K) known-future columns only
        if self.reference == "none":
            return self.model(past, future)  # (B, H, T)
        observed = past[:, :, : F - K]  # (B, L, F-K) targets and ordinary features
        if self.reference == "mstl":
            profile = window[:, :, F : F + T]  # (B, L+H, T) seasonal profile, known at every row
            observed = torch.cat([observed[:, :, :T] - profile[:, :L], observed[:, :, T:]], dim=-1)  # targets deseasonalised
        last = observed[:, -1:, :]  # (B, 1, F-K)
        inputs = torch.cat([observed - last, past[:, :, F - K :]], dim=-1)  # (B, L, F) known columns as they are
        delta = self.model(inputs, future)  # (B, H, T)
        if self.reference == "last":
            return _plus(delta, last[:, :, :T])
        if self.reference == "mstl":
            return _plus(delta, last[:, :, :T] + profile[:, L:])  # level + seasonal profile over the horizon
        steps = torch.arange(1, delta.shape[1] + 1, device=window.device)  # (H,)
        lag = (steps - 1) // self.season  # (H,) whole seasons back, minus one: each step's lag
        if self.lags_at is not None:  # the history before the lookback, as lag columns
            H = delta.shape[1]
            lagged = window[:, L:, self.lags_at : self.lags_at + self.n_lags * T].reshape(-1, H, self.n_lags, T)  # (B, H, lags, T)
            return _plus(delta, lagged[:, torch.arange(H, device=window.device), lag, :])  # (B, H, T) seasonal naive + delta
        return _plus(delta, past[:, L - 1 + steps - self.season * (lag + 1), :T])  # (B, H, T) seasonal naive + delta
