"""Naive forecasts that every search is measured against.

- naive: every step of the horizon repeats the last observed value.
- seasonal naive: each step repeats the value one season earlier,
  ``y[T + h] = y[T + h - m * (k + 1)]`` with ``k = (h - 1) // m`` (always an observed value).

Both are computed on the validation and test windows of the space's longest lookback (so
every trial's windows cover the same targets or more), in the data's own units, and stored as
study user attrs, so a best trial can be read as "0.80x seasonal naive".

A leaf of the worker: ``search.worker.data.SeriesData`` calls it (``baseline_attrs``), so it
takes the series as given and imports nothing of the data module.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from search.worker.metrics import regression_metrics


def detect_season(series: Any, max_lag: int | None = None, min_acf: float = 0.3) -> int | None:
    """The dominant period of the first target on the training part(s); None when none stands out.

    The autocorrelation of each series' training part minus a quadratic trend, averaged over
    the series (weighted by their lengths); after its first zero crossing, the highest point of
    the first hump that comes within 10 % of the highest peak (so a multiple of the season does
    not win over the season itself), if that peak is at least ``min_acf``.
    """
    parts = [series.values[start:end, 0].astype(np.float64) for start, end in series.parts("train")]
    parts = [y for y in parts if len(y) >= 4]
    if not parts:
        return None
    n = max(len(y) for y in parts)
    max_lag = min(max_lag or n // 3, n - 2)
    if max_lag < 2:
        return None
    total, weight = np.zeros(max_lag), np.zeros(max_lag)
    for y in parts:
        lags = min(max_lag, len(y) - 2)
        t = np.arange(len(y))
        r = y - np.polyval(np.polyfit(t, y, 2), t)
        r = r - r.mean()
        denom = float(r @ r)
        if denom == 0 or lags < 1:
            continue
        acf = np.array([float(r[:-lag] @ r[lag:]) / denom for lag in range(1, lags + 1)])  # acf[i]: lag i+1
        total[:lags] += len(y) * acf
        weight[:lags] += len(y)
    if not weight.any():
        return None
    acf = total[weight > 0] / weight[weight > 0]  # lags 1.. while some series is long enough
    below = np.flatnonzero(acf < 0)
    if len(below) == 0:
        return None
    after = acf[below[0]:]
    peak = float(after.max())
    if peak < min_acf:
        return None
    high = after >= 0.9 * peak
    first = int(np.flatnonzero(high)[0])
    last = first
    while last + 1 < len(after) and high[last + 1]:
        last += 1
    return int(below[0] + first + np.argmax(after[first : last + 1]) + 1)


def _predictions(x: torch.Tensor, horizon: int, n_targets: int, season: int | None) -> torch.Tensor:
    """(N, L, F) inputs -> (N, H, n_targets) naive (season None) or seasonal-naive forecasts."""
    lookback = x.shape[1]
    if season is None:
        return x[:, -1:, :n_targets].expand(-1, horizon, -1)  # (N, H, T)
    steps = torch.arange(1, horizon + 1)
    back = season * ((steps - 1) // season + 1)  # (H,) how far back each step looks
    idx = lookback - 1 + steps - back  # (H,) row inside the window
    return x[:, idx, :n_targets]  # (N, H, T)


def forecast_baselines(series: Any, lookback: int, horizon: int, season: int | None) -> dict[str, float]:
    """Naive and seasonal-naive metrics on the validation and test windows, as flat attrs:
    ``baseline_naive_val_rmse``, ``baseline_seasonal_naive_test_mae``, ..."""
    out: dict[str, float] = {}
    lookback = max(lookback, season or 1)
    kinds = {"naive": None} if season is None else {"naive": None, "seasonal_naive": season}
    for part in ("val", "test"):
        x, y = series.windows(part, lookback, horizon)
        if len(x) == 0:
            continue
        ids = getattr(x, "series_index", None)  # several series: each window's own scaler
        truth = series.unscale_targets(y, ids)
        for name, m in kinds.items():
            pred = series.unscale_targets(_predictions(x, horizon, series.n_targets, m), ids)
            for metric, value in regression_metrics(pred, truth).items():
                out[f"baseline_{name}_{part}_{metric}"] = value
    return out
