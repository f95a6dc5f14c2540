"""Intervals that follow the series: the served forecaster's conformal scores scaled by its own
recent errors, and calibrated again as targets become known.

Split conformal prediction (``search.worker.intervals``) assumes the validation windows'
errors are exchangeable with the future's. A series whose volatility moves (a calm month after
a stormy one, the holidays in a load series) breaks that: intervals calibrated on a volatile
validation part over-cover a calmer test part, and the reverse. Two standard remedies for time
series are combined here:

- **Normalised scores** (locally weighted conformal prediction): each window's residuals are
  divided by the forecaster's own **recent error scale** ``sigma``, the mean absolute error of
  its ``k`` latest windows whose targets were all known at the window's origin (the same series,
  ``k = ceil(horizon / step)``: the windows whose origins lie in the horizon's worth of rows
  before the latest known one). The conformal quantile is taken of ``|y - point| / sigma`` (or
  the signed residual over ``sigma``), per horizon step and target, and the interval is
  ``point -+ q * sigma`` with the ``sigma`` of the forecast's own origin: wide after large
  errors, narrow after small ones. ``sigma`` needs only the forecaster's forecasts of the last
  ``k`` windows of the input, so ``search predict`` computes it from the input's own rows.
- **Online calibration**: a test window is scored with the scores of every window whose
  targets were known before its origin: the validation windows and the earlier test windows,
  recalibrated once every horizon's worth of rows (on a long test part, in at most
  ``MAX_RECALIBRATIONS`` equal blocks: the later windows of a block wait for the next). The test figures are therefore those of the
  procedure as it would have run, with no target used before it was observed; the calibration
  kept for new data is the last one, on every validation and test window.

A validation window too early to have ``ceil(k / 2)`` known windows before it is left out of
the calibration (it has no ``sigma``). A test window without one (a part with too few windows)
takes its series' ``default`` scale, the mean error of its validation windows; so does an input
too short for the recent windows at forecast time.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from search.worker import intervals
from search.worker.origins import observed_mask, scored_origins

BY = "recent errors"  # the ``scaled`` entry's ``by``: what divides the conformal scores
MAX_RECALIBRATIONS = 200  # a long test part is recalibrated in at most this many blocks
MIN_RECENT_ROWS = 20  # the target rows a recent error scale spans at least (its windows overlap)


def recent_windows(horizon: int, step: int, available: int | None = None) -> int:
    """How many of the latest known windows make a window's error scale: a horizon's worth of
    rows of origins, and more where they cover fewer than ``MIN_RECENT_ROWS`` rows of targets
    (a short horizon's single latest error is no scale: the ratio of two absolute errors has
    tails so heavy that the 95 % bound of a one-step forecast came out several times too
    wide), as long as most of the ``available`` validation windows (of the shortest series)
    still have that many known windows before them to be calibrated on."""
    horizon, step = int(horizon), max(int(step), 1)
    base = max(1, math.ceil(horizon / step))
    wanted = max(base, 1 + math.ceil(max(MIN_RECENT_ROWS - horizon, 0) / step))
    if available is not None:
        wanted = min(wanted, max(base, int(available) - 2 * base))
    return wanted


def window_origins(series, part: str, horizon: int, step: int, index: np.ndarray | None = None) -> np.ndarray | None:
    """Each scored window's first target row, counted from its series' first row, as
    ``SeriesData.scored_targets`` counts them: in the windows' order (series by series), or
    with ``index`` (N,) each window's series, placed at its windows (each series' latest ones,
    in time order: the windows a longer lookback leaves out are its first). None where a
    series has more windows than origins."""
    each = []
    for first, (start, end) in zip(series.series_starts(), series.parts(part)):
        origins = np.asarray(scored_origins(first, start, end, 0, horizon, step), dtype=np.int64)
        each.append(origins[observed_mask(origins, series.observed, horizon)] - first)
    if index is None:
        return np.concatenate(each) if each else None
    index = np.asarray(index, dtype=np.int64)
    out = np.empty(len(index), dtype=np.int64)
    for s in np.unique(index):
        rows = np.flatnonzero(index == s)
        if s >= len(each) or len(rows) > len(each[s]):
            return None
        out[rows] = each[s][len(each[s]) - len(rows) :]
    return out


def window_errors(y: np.ndarray, point: np.ndarray) -> np.ndarray:
    """Each window's mean absolute error per target (N, T), over its horizon steps."""
    return np.nanmean(np.abs(np.asarray(y, dtype=np.float64) - np.asarray(point, dtype=np.float64)), axis=1)


def recent_scale(errors: np.ndarray, series: np.ndarray, origins: np.ndarray, horizon: int, k: int) -> np.ndarray:
    """Each window's recent error scale (N, T): the mean of ``errors`` (N, T) over the ``k``
    latest windows of the same ``series`` whose targets were all known at its origin (origin
    plus ``horizon`` at most its own); NaN with fewer than ``ceil(k / 2)`` of them."""
    errors = np.asarray(errors, dtype=np.float64)
    series, origins = np.asarray(series, dtype=np.int64), np.asarray(origins, dtype=np.int64)
    out = np.full(errors.shape, np.nan)
    need = max(1, math.ceil(k / 2))
    for s in np.unique(series):
        rows = np.flatnonzero(series == s)
        rows = rows[np.argsort(origins[rows], kind="stable")]
        o, e = origins[rows], errors[rows]
        padded = np.concatenate([np.zeros((k, e.shape[1])), e])  # e[j] is padded[j + k]
        sums = np.lib.stride_tricks.sliding_window_view(padded, k, axis=0).sum(axis=-1)  # sums[j]: e[j - k : j]
        known = np.searchsorted(o, o - horizon, side="right")  # windows ending by each origin
        count = known - np.maximum(known - k, 0)
        ok = count >= need
        mean = sums[known] / np.maximum(count, 1)[:, None]  # each window's own k errors, summed alone
        out[rows[ok]] = mean[ok]
    return out


def default_scales(errors: np.ndarray, series: np.ndarray, n_series: int) -> tuple[np.ndarray, np.ndarray]:
    """Each series' mean window error (S, T) and the mean over every window (T,): the scale of
    a window or an input without recent known windows."""
    errors = np.asarray(errors, dtype=np.float64)
    pooled = np.nanmean(errors, axis=0) if len(errors) else np.ones(errors.shape[1])
    pooled = np.where(np.isfinite(pooled) & (pooled > 0), pooled, 1.0)
    own = np.tile(pooled, (n_series, 1))
    for s in range(n_series):
        mine = errors[np.asarray(series) == s]
        if len(mine):
            mean = np.nanmean(mine, axis=0)
            own[s] = np.where(np.isfinite(mean) & (mean > 0), mean, pooled)
    return own, pooled


def _scores(y: np.ndarray, point: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    """Residuals divided by each window's scale (N, H, T); the conformity of the method is
    taken of these around zero by ``intervals.calibrate``."""
    return (np.asarray(y, dtype=np.float64) - np.asarray(point, dtype=np.float64)) / sigma[:, None, :]


def _calibrate(z: np.ndarray, series: np.ndarray, levels, method: str, several: bool) -> intervals.Calibration:
    zero = np.zeros_like(z)
    return intervals.calibrate(z, zero, zero, levels, method, series if several else None, None)


def calibrate_online(
    y: dict[str, np.ndarray], point: dict[str, np.ndarray], series: dict[str, np.ndarray], origins: dict[str, np.ndarray],
    test_starts: np.ndarray, horizon: int, step: int, levels, method: str, n_series: int, floor=None,
) -> dict[str, Any]:
    """The served forecaster's intervals, from its validation and test forecasts (``y``,
    ``point``: {part: (N, H, T)} in the data's units; ``series`` each window's series,
    ``origins`` its first target row, counted from its series' first row; ``test_starts`` (S,)
    each series' first row of the test part, counted the same way): ``test_lo``, ``test_hi`` (L, N, H, T) calibrated online (see the module docstring),
    ``sigma`` {part: (N, T)} the windows' scales, the final ``calibration`` on every window with a
    scale, and the ``scaled`` record ``search predict`` needs. ``floor`` (T,): per target the
    value no bound is drawn below (``bounds_with``): zero as the data's scaler returns it, kept
    in the record as 0.0; None: no floor."""
    counts = np.bincount(np.asarray(series["val"], dtype=np.int64), minlength=n_series)
    k = recent_windows(horizon, step, int(counts[counts > 0].min()) if (counts > 0).any() else 0)
    parts = ("val", "test")
    errors = {p: window_errors(y[p], point[p]) for p in parts}
    n_val = len(y["val"])
    every_series = np.concatenate([series[p] for p in parts])
    every_origin = np.concatenate([origins[p] for p in parts])
    sigma_all = recent_scale(np.concatenate([errors[p] for p in parts]), every_series, every_origin, horizon, k)
    own, pooled = default_scales(errors["val"], series["val"], n_series)
    sigma = {"val": sigma_all[:n_val], "test": sigma_all[n_val:]}
    missing = ~np.isfinite(sigma["test"]) | (sigma["test"] <= 0)
    sigma["test"] = np.where(missing, own[series["test"]], sigma["test"])
    several = n_series > 1
    z = {p: _scores(y[p], point[p], np.where(np.isfinite(sigma[p]) & (sigma[p] > 0), sigma[p], np.nan)) for p in parts}
    usable_val = np.isfinite(z["val"]).all(axis=(1, 2))
    base_z, base_series = z["val"][usable_val], series["val"][usable_val]
    if len(base_z) == 0:  # too few validation windows for any scale: start from the defaults
        z_default = _scores(y["val"], point["val"], own[series["val"]])
        base_z, base_series = z_default, series["val"]
    # online: blocks of a horizon's rows of origins (more on a long test part: at most
    # MAX_RECALIBRATIONS blocks), counted from each series' test part
    relative = origins["test"] - np.asarray(test_starts)[series["test"]]
    rows = max(int(horizon), 1, math.ceil((int(relative.max(initial=0)) + 1) / MAX_RECALIBRATIONS))
    block = relative // rows
    lo = np.empty((len(levels), *point["test"].shape))
    hi = np.empty_like(lo)
    for b in np.unique(block):
        known = relative + horizon <= b * rows  # test windows whose targets were known at the block's start
        cal = _calibrate(np.concatenate([base_z, z["test"][known]]), np.concatenate([base_series, series["test"][known]]), levels, method, several)
        mine = block == b
        lo[:, mine], hi[:, mine] = bounds_with(cal, point["test"][mine], sigma["test"][mine], series["test"][mine] if several else None, floor)
    final = _calibrate(np.concatenate([base_z, z["test"]]), np.concatenate([base_series, series["test"]]), levels, method, several)
    scaled = {"by": BY, "windows": k, "step": int(step), "default": own.tolist(), "pooled_default": pooled.tolist()}
    if floor is not None and any(f is not None for f in floor):
        scaled["floor"] = [None if f is None else 0.0 for f in floor]
    return {"test_lo": lo, "test_hi": hi, "sigma": sigma, "calibration": final, "scaled": scaled}


def bounds_with(calibration: intervals.Calibration, point: np.ndarray, sigma: np.ndarray, series: np.ndarray | None = None, floor=None) -> tuple[np.ndarray, np.ndarray]:
    """Bounds (L, N, H, T) each: ``point`` (N, H, T) -+ the calibration's offsets (in units of
    scale) times each window's ``sigma`` (N, T), none below its target's ``floor`` (T,: a
    number or None; ``search.results.served_intervals.target_floor``)."""
    point, sigma = np.asarray(point, dtype=np.float64), np.asarray(sigma, dtype=np.float64)
    zero = np.zeros_like(point)
    lo, hi = calibration.bounds(zero, zero, series)
    lo, hi = point + lo * sigma[None, :, None, :], point + hi * sigma[None, :, None, :]
    if floor is not None:
        low = np.asarray([-np.inf if f is None else float(f) for f in floor], dtype=np.float64)
        lo, hi = np.maximum(lo, low), np.maximum(hi, low)
    return lo, hi


def forecast_scale(truth: np.ndarray, forecasts: np.ndarray) -> np.ndarray | None:
    """The recent error scale (T,) of a forecast of new data: the mean absolute error of the
    forecaster's forecasts (k, H, T) of the input's latest known windows against their
    ``truth``; None where none could be made or none is positive."""
    if forecasts is None or len(forecasts) == 0:
        return None
    scale = np.nanmean(np.abs(np.asarray(truth, dtype=np.float64) - np.asarray(forecasts, dtype=np.float64)), axis=(0, 1))
    return scale if np.all(np.isfinite(scale) & (scale > 0)) else None
