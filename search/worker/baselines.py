"""Naive forecasts that every search is measured against.

- naive: every step of the horizon repeats the last observed value.
- seasonal naive: each step repeats the value one season earlier,
  ``y[T + h] = y[T + h - m * (k + 1)]`` with ``k = (h - 1) // m`` (always an observed value).

Every significant season is a candidate (``detect_seasons``: e.g. 48 and 336 for half-hourly
data with daily and weekly cycles, or ``data.season`` from the space); the seasonal-naive
baseline is the candidate that forecasts best **on the validation part**, applied to the test
part, so the strongest autocorrelation does not decide it. All are computed on the same
validation and test targets as every trial (``SeriesData.windows``), in the data's own units,
and stored as study user attrs, so a best trial reads as "0.80x seasonal naive (s=336)".

A leaf of the worker: ``search.worker.data.SeriesData`` calls it (``baseline_attrs``), so it
takes the series as given and imports nothing of the data module.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from search.worker.metrics import regression_metrics


def _high_pass(y: np.ndarray, width: int) -> np.ndarray:
    """``y`` minus its centred moving average over ``width`` rows (odd), the ends where the
    average is incomplete left out: what moves slower than ``width`` rows is gone."""
    mean = np.convolve(y, np.ones(width) / width, mode="valid")
    half = width // 2
    return y[half : len(y) - half] - mean


def _train_acf(series: Any, max_lag: int | None, high_pass: int | None = None) -> np.ndarray | None:
    """The autocorrelation (lags 1..) of the first target on the training part(s), each part
    minus a quadratic trend (or, with ``high_pass``, minus its moving average over that many
    rows: ``_high_pass``), averaged over the series weighted by their lengths; None when no
    part is long enough."""
    parts = [series.values[start:end, 0].astype(np.float64) for start, end in series.parts("train")]
    if high_pass:
        parts = [_high_pass(y, high_pass) for y in parts if len(y) >= 3 * high_pass]
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
        spectrum = np.fft.rfft(r, 2 * len(r))  # the autocovariance of every lag at once
        acov = np.fft.irfft(spectrum * np.conj(spectrum))[1 : lags + 1]
        total[:lags] += len(y) * acov / denom  # acf[i]: lag i+1
        weight[:lags] += len(y)
    if not weight.any():
        return None
    return total[weight > 0] / weight[weight > 0]


def detect_seasons(series: Any, max_lag: int | None = None, min_acf: float = 0.3, margin: float = 0.05) -> list[int]:
    """Every significant period of the first target on the training part(s), shortest first;
    ``[]`` when none stands out (noise, a random walk).

    On the detrended autocorrelation (``_train_acf``), after its first zero crossing, a
    season is a local peak of at least ``min_acf``. A peak at a multiple of a season already
    found is only that season's echo, unless it stands above the echoes beside it by
    ``margin`` (the weekly peak 336 among the daily echoes 288 and 384 of half-hourly data).

    A series that wanders (a yearly cycle or a random walk under years of hourly data) keeps
    its autocorrelation above zero for hundreds of lags, and the daily and weekly peaks before
    that first crossing went unseen (seven years of hourly load gave 840, 1008, ... 7224: the
    weekly cycle's echoes). So the periods shorter than the first crossing are looked for
    again on the series minus its moving average over twice that many rows (``_high_pass``);
    the peaks after the crossing are then judged as their echoes by the rule above."""
    acf = _train_acf(series, max_lag)
    if acf is None:
        return []
    below = np.flatnonzero(acf < 0)
    if len(below) == 0:
        return []
    found = _peaks(acf, int(below[0]), min_acf, margin)
    crossing = int(below[0]) + 1
    fast = _train_acf(series, max_lag, high_pass=2 * crossing + 1) if crossing > 2 else None
    if fast is None or not (fast < 0).any():
        return found
    short = [m for m in _peaks(fast, int(np.flatnonzero(fast < 0)[0]), min_acf, margin) if m < crossing]
    return _peaks(acf, int(below[0]), min_acf, margin, short) if short else found


def _peaks(acf: np.ndarray, start: int, min_acf: float, margin: float, seasons: list[int] | None = None) -> list[int]:
    """The seasons of ``detect_seasons`` on one autocorrelation, from lag ``start + 2`` on,
    after the ``seasons`` already found (whose echoes are told apart the same way)."""
    at = lambda lag: float(acf[lag - 1]) if 1 <= lag <= len(acf) else -np.inf  # noqa: E731
    seasons = list(seasons or [])
    for lag in range(start + 2, len(acf)):
        width = max(1, lag // 20)  # a peak tops its neighbourhood (noise makes small bumps)
        if at(lag) < min_acf or at(lag) < max(at(k) for k in range(lag - width, lag + width + 1)):
            continue
        # an echo of the longest season found that it is a multiple of
        echo = max((s for s in seasons if abs(lag - round(lag / s) * s) <= max(1, s // 20)), default=None)
        if echo is not None:
            m = round(lag / echo)
            beside = max(at((m - 1) * echo), at((m + 1) * echo))
            if at(lag) < max(beside, -1.0) + margin or (m + 1) * echo > len(acf):
                continue
        seasons.append(lag)
    return seasons


def _predictions(x: torch.Tensor, horizon: int, n_targets: int, season: int | None, lookback: int | None = None) -> torch.Tensor:
    """(N, L, F) inputs -> (N, H, n_targets) naive (season None) or seasonal-naive forecasts.
    Only the first ``lookback`` rows are read: windows with known-future columns reach past
    the origin (``SeriesData.future_rows``), and those rows hold the targets."""
    lookback = x.shape[1] if lookback is None else lookback
    if season is None:
        return x[:, lookback - 1 : lookback, :n_targets].expand(-1, horizon, -1)  # (N, H, T)
    steps = torch.arange(1, horizon + 1)
    back = season * ((steps - 1) // season + 1)  # (H,) how far back each step looks
    idx = lookback - 1 + steps - back  # (H,) row inside the window
    return x[:, idx, :n_targets]  # (N, H, T)


def forecast_baselines(
    series: Any, lookback: int, horizon: int, seasons: list[int], *, step: int = 1, metric: str = "rmse"
) -> dict[str, Any]:
    """Naive and seasonal-naive metrics on the validation and test targets, as flat attrs.

    ``baseline_naive_val_rmse``, ...; each candidate season ``m``:
    ``baseline_snaive_s{m}_val_rmse``, ...; the seasonal naive that is best on the validation
    part by ``metric`` (``seasonal_naive_season``): ``baseline_seasonal_naive_test_mae``, ...
    ``step``: the scored origins' spacing (``SeriesData.windows``)."""
    out: dict[str, Any] = {}
    lookback = max([lookback, 1, *seasons])
    kinds = {"naive": None, **{f"snaive_s{m}": m for m in seasons}}
    for part in ("val", "test"):
        x, y = series.windows(part, lookback, horizon, step)
        if len(x) == 0:
            continue
        ids = getattr(x, "series_index", None)  # several series: each window's own scaler
        truth = series.unscale_targets(y, ids)
        for name, m in kinds.items():
            pred = series.unscale_targets(_predictions(x, horizon, series.n_targets, m, lookback), ids)
            for key, value in regression_metrics(pred, truth).items():
                out[f"baseline_{name}_{part}_{key}"] = value
    if f"baseline_naive_val_{metric}" not in out:
        metric = "rmse"  # "loss" is the model's scaled loss: no baseline has one
    scored = [m for m in seasons if f"baseline_snaive_s{m}_val_{metric}" in out]
    if scored:
        best = min(scored, key=lambda m: out[f"baseline_snaive_s{m}_val_{metric}"])
        out["seasonal_naive_season"] = best
        for key in [k for k in out if k.startswith(f"baseline_snaive_s{best}_")]:
            out["baseline_seasonal_naive_" + key[len(f"baseline_snaive_s{best}_"):]] = out[key]
    return out
