"""Prediction intervals by split conformal prediction, and the scores of intervals (pure numpy).

A trial's validation part calibrates its intervals and its test part scores them, on exactly the
targets its point forecast is scored on (``SeriesData.windows``). Arrays are ``(N, H, T)``:
windows, horizon steps, targets, in the data's own units.

**Calibration** (``calibrate``). Each window's conformity score on the validation part, per
horizon step and target (the spread of errors grows with the step) and per series where there
are several:

- ``symmetric``: ``|y - point|``; the interval is ``point -+ q``, ``q`` the score's
  ``(1 - alpha)`` quantile;
- ``signed``: ``y - point``; the interval is ``[point + q_lo, point + q_hi]`` with ``q_lo`` the
  ``alpha / 2`` and ``q_hi`` the ``1 - alpha / 2`` quantile (a skewed error gets a skewed band);
- ``cqr`` (conformalised quantile regression, Romano et al. 2019, for a quantile head):
  ``max(lo - y, y - hi)`` of the head's band ``[lo, hi]``; the interval is ``[lo - q, hi + q]``.

Every quantile carries the finite-sample correction of split conformal prediction: the
``ceil((n + 1)(1 - alpha))``-th smallest of ``n`` scores, which covers a new exchangeable point
with probability at least ``1 - alpha``. When ``n`` is too small for a level (fewer than
``1 / alpha - 1`` windows) that rank is past the largest score at each step: every level then
pools the steps' scores (so the levels are drawn alike and nest), each step's divided by its mean absolute score (its spread), takes the
quantile of the ``n x H`` pooled scores and multiplies it back by each step's spread. Where
even those are too few, the largest score is used, and ``Calibration.short`` says which levels
were cut so.

A series with fewer than ``MIN_WINDOWS`` validation windows borrows the pooled scores of every
series, each divided by its series' ``scale`` (the in-sample seasonal naive's mean absolute
error, as below) and multiplied back by its own.

**Scores** (``interval_scores``), per level ``100 (1 - alpha)``: empirical ``coverage`` (%),
mean ``width``, the interval (Winkler) score ``(hi - lo) + 2/alpha (lo - y)[y < lo] +
2/alpha (y - hi)[y > hi]`` averaged over the points, and ``msis``, the M4 competition's mean
scaled interval score: that score divided by the in-sample mean absolute error of the seasonal
naive of each window's series (``insample_scale``), as MASE scales the absolute error.
``crps`` approximates the continuous ranked probability score from quantile forecasts: twice the
mean pinball loss over the quantiles.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

METHODS = ("symmetric", "signed", "cqr")
MIN_WINDOWS = 20  # fewer validation windows of a series: it borrows the pooled, scale-free scores


def conformal_quantile(scores: np.ndarray, prob: float, axis: int = 0) -> np.ndarray:
    """The ``ceil((n + 1) prob)``-th smallest of ``n`` scores along ``axis`` (the split-conformal
    quantile at ``prob``), the largest when that rank passes ``n`` and the smallest below 1.
    NaN scores are left out (a target without a value)."""
    scores = np.sort(np.moveaxis(np.asarray(scores, dtype=np.float64), axis, 0), axis=0)  # NaN sort last
    n = np.sum(~np.isnan(scores), axis=0)  # (...) scores per cell
    rank = np.clip(np.ceil((n + 1) * prob).astype(np.int64), 1, np.maximum(n, 1))  # 1-based
    return np.take_along_axis(scores, (rank - 1)[None], axis=0)[0]


def lower_quantile(scores: np.ndarray, prob: float, axis: int = 0) -> np.ndarray:
    """The mirror of ``conformal_quantile`` for a lower bound: the ``floor((n + 1) prob)``-th
    smallest (at least the smallest), i.e. minus the upper quantile of the negated scores."""
    return -conformal_quantile(-np.asarray(scores, dtype=np.float64), 1.0 - prob, axis)


def alphas(levels) -> list[float]:
    """Miscoverage of each level in percent: 80 -> 0.2."""
    return [1.0 - float(level) / 100.0 for level in levels]


@dataclass
class Calibration:
    """Interval offsets per group, level, horizon step and target: ``offsets[g, l, h, t]`` is
    ``(below, above)``; the interval is ``[lo - below, hi + above]`` around the base band
    (the point forecast twice, or a quantile head's band). ``own[s]``: the row of series ``s``;
    a series without one takes the scale-free ``pooled`` offsets times its scale."""

    method: str
    levels: tuple[float, ...]
    offsets: np.ndarray  # (G, L, H, T, 2)
    pooled: np.ndarray  # (L, H, T, 2) scale-free, for series without enough windows of their own
    own: dict[int, int] = field(default_factory=dict)  # series -> row of offsets
    scales: np.ndarray | None = None  # (S, T) each series' scale
    windows: int = 0  # calibration windows in all
    short: tuple[float, ...] = ()  # levels whose rank passed the windows of some cell

    def bounds(self, lo: np.ndarray, hi: np.ndarray, series_index: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Interval bounds ``(L, N, H, T)`` each, around base bands ``lo``, ``hi``: the point
        forecast (N, H, T), or with cqr each level's band (L, N, H, T)."""
        lo, hi = np.asarray(lo, dtype=np.float64), np.asarray(hi, dtype=np.float64)
        if lo.ndim == 3:
            lo, hi = lo[None], hi[None]
        n = lo.shape[1]
        index = np.zeros(n, dtype=np.int64) if series_index is None else np.asarray(series_index, dtype=np.int64)
        off = np.empty((len(self.levels), n, *lo.shape[2:], 2))
        for s in np.unique(index):
            rows = index == s
            if int(s) in self.own:
                off[:, rows] = self.offsets[self.own[int(s)]][:, None]
            else:
                scale = 1.0 if self.scales is None else self.scales[int(s)][None, None, :, None]  # (1, 1, T, 1)
                off[:, rows] = (self.pooled * scale)[:, None]
        return lo - off[..., 0], hi + off[..., 1]

    def to_json(self) -> dict[str, Any]:
        """What a forecast needs to draw the same intervals later, as plain JSON."""
        return {
            "method": self.method,
            "levels": list(self.levels),
            "offsets": self.offsets.tolist(),
            "pooled": self.pooled.tolist(),
            "own": {str(k): v for k, v in self.own.items()},
            "scales": None if self.scales is None else self.scales.tolist(),
            "windows": self.windows,
            "short": list(self.short),
        }


def calibration_from_json(data: dict[str, Any]) -> Calibration:
    """The ``Calibration`` that ``Calibration.to_json`` wrote (a checkpoint's ``intervals``)."""
    scales = data.get("scales")
    return Calibration(
        data["method"],
        tuple(float(v) for v in data["levels"]),
        np.asarray(data["offsets"], dtype=np.float64),
        np.asarray(data["pooled"], dtype=np.float64),
        {int(k): int(v) for k, v in data.get("own", {}).items()},
        None if scales is None else np.asarray(scales, dtype=np.float64),
        int(data.get("windows", 0)),
        tuple(data.get("short", ())),
    )


def _offsets(scores: np.ndarray, method: str, levels) -> tuple[np.ndarray, list[float]]:
    """(L, H, T, 2) offsets from scores (1 or L, n, H, T): one set for every level, or one per
    level (cqr: each level's own base band); the levels whose rank passed ``n`` somewhere.
    Where some level's rank passes the windows of a step, every level pools the steps (see the
    module docstring), so the levels' bands are drawn alike and nest."""
    def counted(mine: np.ndarray) -> int:
        return int(np.min(np.sum(~np.isnan(mine), axis=0))) if len(mine) else 0

    each = [scores[min(i, len(scores) - 1)] for i in range(len(levels))]  # (n, H, T) per level
    pool = any(_level_offsets(mine, method, alpha, counted(mine))[2] and counted(mine) >= 2 and mine.ndim == 3 and mine.shape[1] > 1
               for mine, alpha in zip(each, alphas(levels)))  # fmt: skip
    out, short = [], []
    for level, alpha, mine in zip(levels, alphas(levels), each):
        if pool:
            flat, spread = _pooled_steps(mine)
            below, above, cut = _level_offsets(flat, method, alpha, counted(flat))
            below, above = below * spread, above * spread
        else:
            below, above, cut = _level_offsets(mine, method, alpha, counted(mine))
        if cut:
            short.append(level)
        out.append(np.stack([below, above], axis=-1))
    return np.stack(out), short


def _pooled_steps(scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Scores (n, H, T) pooled over the steps: each divided by its step's mean absolute score
    over the other windows (as a new window's is by the mean over all of them), as (n H, T);
    and each step's spread (H, T), the mean over all windows, to multiply a quantile back by."""
    size = np.abs(scores)
    total, count = np.nansum(size, axis=0), np.sum(~np.isnan(size), axis=0)  # (H, T)
    others = (total - size) / np.maximum(count - 1, 1)
    ok = np.isfinite(others) & (others > 0)
    flat = np.where(ok, scores / np.where(ok, others, 1.0), np.nan).reshape(-1, scores.shape[-1])
    return flat, total / np.maximum(count, 1)


def _level_offsets(scores: np.ndarray, method: str, alpha: float, n: int) -> tuple[np.ndarray, np.ndarray, bool]:
    """The offsets below and above of one level from ``n`` scores along the first axis, and
    whether the level's rank passed ``n``."""
    if method == "signed":
        cut = math.floor((n + 1) * alpha / 2) < 1 or math.ceil((n + 1) * (1 - alpha / 2)) > n
        return -lower_quantile(scores, alpha / 2), conformal_quantile(scores, 1 - alpha / 2), cut
    offset = conformal_quantile(scores, 1 - alpha)
    return offset, offset, math.ceil((n + 1) * (1 - alpha)) > n


def conformity(y: np.ndarray, lo: np.ndarray, hi: np.ndarray, method: str) -> np.ndarray:
    """Each point's conformity score (see the module docstring); ``lo`` = ``hi`` = the point forecast but for cqr."""
    if method == "symmetric":
        return np.abs(y - lo)
    if method == "signed":
        return y - lo
    if method == "cqr":
        return np.maximum(lo - y, y - hi)
    raise ValueError(f"method {method!r} is not one of {', '.join(METHODS)}")


def calibrate(
    y: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    levels,
    method: str = "symmetric",
    series_index: np.ndarray | None = None,
    scales: np.ndarray | None = None,
    min_windows: int = MIN_WINDOWS,
) -> Calibration:
    """Split-conformal offsets from the validation part: targets ``y`` (N, H, T) and base bands
    ``lo``, ``hi`` (N, H, T), the point forecast for both, or with ``cqr`` a quantile head's band
    per level (L, N, H, T); ``series_index`` (N,) each window's series, ``scales`` (S, T) each
    series' scale (``insample_scale``)."""
    y, lo, hi = (np.asarray(a, dtype=np.float64) for a in (y, lo, hi))
    if lo.ndim == y.ndim:
        lo, hi = lo[None], hi[None]
    scores = conformity(y[None], lo, hi, method)  # (1 or L, N, H, T)
    levels = tuple(float(v) for v in levels)
    index = np.zeros(len(y), dtype=np.int64) if series_index is None else np.asarray(series_index, dtype=np.int64)
    norm = np.ones((int(index.max(initial=0)) + 1, y.shape[-1])) if scales is None else np.asarray(scales, dtype=np.float64)
    pooled, short = _offsets(scores / norm[index][None, :, None, :], method, levels)
    rows, own, several = [], {}, len(np.unique(index)) > 1 or scales is not None
    for s in np.unique(index):
        mine = index == s
        if several and mine.sum() < min_windows:
            continue  # borrows the pooled, scale-free offsets
        offsets, cut = _offsets(scores[:, mine], method, levels)
        own[int(s)] = len(rows)
        rows.append(offsets)
        short += cut
    offsets = np.stack(rows) if rows else np.zeros((0, *pooled.shape))
    return Calibration(method, levels, offsets, pooled, own, None if scales is None else norm, len(y), tuple(sorted(set(short))))


# -- scores


def insample_scale(values: np.ndarray, season: int | None) -> float:
    """The in-sample mean absolute error of the seasonal naive of ``season`` (the naive without
    one) on ``values`` (n,), a training part in the data's units; NaN when too short."""
    m = max(int(season or 1), 1)
    values = np.asarray(values, dtype=np.float64)
    if len(values) <= m:
        return float("nan")
    diff = np.abs(values[m:] - values[:-m])
    diff = diff[~np.isnan(diff)]
    return float(diff.mean()) if len(diff) else float("nan")


def usable_scales(scales: np.ndarray) -> np.ndarray:
    """Series scales (S, T) to pool series by: a missing or zero scale takes the mean of the
    others (or 1)."""
    ok = np.isfinite(scales) & (scales > 0)
    fill = np.nanmean(np.where(ok, scales, np.nan), axis=0) if ok.any() else np.ones(scales.shape[1])
    fill = np.where(np.isfinite(fill), fill, 1.0)
    return np.where(ok, scales, fill[None, :])


def winkler(y: np.ndarray, lo: np.ndarray, hi: np.ndarray, alpha: float) -> np.ndarray:
    """The interval score of each point: width plus ``2 / alpha`` times the miss."""
    return (hi - lo) + (2.0 / alpha) * (np.maximum(lo - y, 0.0) + np.maximum(y - hi, 0.0))


def interval_scores(
    y: np.ndarray, lo: np.ndarray, hi: np.ndarray, levels, scale: np.ndarray | None = None
) -> dict[str, float]:
    """Scores of interval bounds ``lo``, ``hi`` (L, N, H, T) for targets ``y`` (N, H, T):
    per level (``coverage_80``, ``width_80``, ``interval_score_80``, ``msis_80``) and their
    means over the levels (``coverage_error``: mean |coverage - level| in points,
    ``interval_score``, ``msis``). ``scale`` (N, T): each window's series scale for msis."""
    y = np.asarray(y, dtype=np.float64)
    out: dict[str, float] = {}
    for i, (level, alpha) in enumerate(zip(levels, alphas(levels))):
        name = _level_name(level)
        low, high = np.asarray(lo[i], dtype=np.float64), np.asarray(hi[i], dtype=np.float64)
        score = winkler(y, low, high, alpha)
        out[f"coverage_{name}"] = float(np.mean((y >= low) & (y <= high)) * 100)
        out[f"width_{name}"] = float(np.mean(high - low))
        out[f"interval_score_{name}"] = float(np.mean(score))
        if scale is not None:
            out[f"msis_{name}"] = float(np.mean(score / np.asarray(scale, dtype=np.float64)[:, None, :]))
    names = [_level_name(level) for level in levels]
    out["coverage_error"] = float(np.mean([abs(out[f"coverage_{n}"] - float(level)) for n, level in zip(names, levels)]))
    out["interval_score"] = float(np.mean([out[f"interval_score_{n}"] for n in names]))
    if scale is not None:
        out["msis"] = float(np.mean([out[f"msis_{n}"] for n in names]))
    return out


def pinball(y: np.ndarray, q: np.ndarray, tau: float) -> np.ndarray:
    """The pinball (quantile) loss of forecasts ``q`` of the ``tau`` quantile, per point."""
    diff = np.asarray(y, dtype=np.float64) - np.asarray(q, dtype=np.float64)
    return np.maximum(tau * diff, (tau - 1.0) * diff)


def crps(y: np.ndarray, quantiles: np.ndarray, taus) -> float:
    """CRPS approximated from quantile forecasts ``quantiles`` (Q, N, H, T) at ``taus``: twice
    the mean pinball loss over the quantiles and the points."""
    return float(2.0 * np.mean([pinball(y, quantiles[k], tau).mean() for k, tau in enumerate(taus)]))


def level_quantiles(point: np.ndarray, lo: np.ndarray, hi: np.ndarray, levels) -> tuple[np.ndarray, list[float]]:
    """Quantile forecasts from a point forecast and interval bounds (L, N, H, T): the
    ``(1 - level) / 2`` and ``(1 + level) / 2`` quantiles of each level and the median, sorted."""
    taus = [0.5] + [a / 2 for a in alphas(levels)] + [1 - a / 2 for a in alphas(levels)]
    values = [point] + list(lo) + list(hi)
    order = np.argsort(taus, kind="stable")
    return np.stack([values[k] for k in order]), [taus[k] for k in order]


def _level_name(level: float) -> str:
    """80 -> '80', 97.5 -> '97.5': the suffix of a level's figures."""
    return f"{float(level):g}"
