"""The data of a trial's forecast figure: what the best epoch's model forecast on the test part,
against the truth and the naive baselines, as a compact JSON-ready dict.

It is built on the worker, where the model and the prepared series are, at the trial's final
epoch from the best epoch's weights (``SeriesData.forecast_view``; ``TaskData`` overrides it for
classify and text), and travels to the driver with the final result beside the checkpoint. The
driver keeps it only when it keeps the checkpoint (a new best), as artifacts of the trial;
``search.forecast_figure`` draws it, and reads nothing but this dict.

A forecast (``task: forecast``), per series (at most ``MAX_SERIES`` panels, the first ones in
the order of their ``series_id`` values; the metrics cover every series):

- ``x``, ``actual``: the test part's rows that a window forecasts (the part without its first
  ``lookback`` rows), their time labels (the time column, or the row within the series) and
  the first target in original units;
- ``forecasts``: the model's, the naive and the seasonal-naive forecasts drawn on those rows.
  The windows 0, H, 2H, ... of the part each draw their whole horizon (H steps from their
  origin, the window's last row), so each row is forecast once and from an origin at most H
  rows before it; the last window draws the rows they leave at the end. ``path`` numbers the
  window drawn at each point, ``step`` its step ahead (1..H);
- ``bands`` (where the trial calibrated intervals, ``search.worker.uncertainty``): per level
  (``"80"``, ``"95"``) the ``lo`` and ``hi`` bounds of the model's forecasts on the same rows
  and windows as ``forecasts["model"]``, 5 significant digits; absent in a figure of a trial
  without intervals (and in figures made before them);
- ``metrics`` (mae, rmse) and ``error_by_step`` (mean absolute error at each step ahead) of each
  forecast over every window of the test part, not only the ones drawn, so the model's metrics
  are the trial's ``test_mae`` and ``test_rmse``.

Every trace holds at most ``MAX_POINTS`` points: longer parts are thinned evenly, always keeping
the first and the last row (``keep_indices``).

The naive forecasts follow ``search.worker.baselines``: naive repeats the origin's value,
seasonal naive the value one season earlier (``y[o + h - m * ((h - 1) // m + 1)]``), read from the
series' own rows, so a lookback shorter than the season still gets its seasonal naive.

Classify: the confusion matrix of the test windows with the class labels; text: a prompt from
the start of the test part, the model's greedy continuation and the real one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

FORMAT = 1
MAX_POINTS = 2000  # per trace
MAX_SERIES = 6  # panels of a file with several series
TEXT_PROMPT = 160  # characters of the text prompt shown (the model reads up to its lookback)
TEXT_CHARS = 240  # characters generated and compared


@dataclass
class SeriesPart:
    """One series as the figure needs it."""

    name: str  # its series_id value, "" for a file of one series
    raw: np.ndarray  # (n,) the first target over the series' rows from a season before its test part, original units
    test: tuple[int, int]  # the test part's rows [lo, hi) within ``raw``
    pred: np.ndarray  # (N, H) the model's forecasts of its test windows, original units
    times: np.ndarray | None  # (hi - lo,) the time column at the test part's rows, or None
    first: int = 0  # the row within the series of raw[0] (the x labels without a time column)
    bands: dict[str, tuple[np.ndarray, np.ndarray]] | None = None  # level ("80") -> (lo, hi) (N, H) each, original units


def keep_indices(n: int, max_points: int = MAX_POINTS) -> np.ndarray:
    """Indices 0..n-1 thinned evenly to at most ``max_points``, the first and the last kept."""
    if n <= max_points:
        return np.arange(n)
    return np.unique(np.round(np.linspace(0, n - 1, max_points)).astype(np.int64))


def tiles(n_windows: int, horizon: int) -> tuple[np.ndarray, np.ndarray]:
    """For each of the ``n_windows + horizon - 1`` rows the windows forecast: the window drawn
    there (0, H, 2H, ..., then the last window for the rows left at the end) and its step ahead
    (0-based)."""
    j = np.arange(n_windows + horizon - 1)
    window = np.minimum((j // horizon) * horizon, n_windows - 1)
    return window, j - window


def naive_forecasts(raw: np.ndarray, origin: np.ndarray, horizon: int, season: int | None = None) -> np.ndarray:
    """(N, H) naive (``season`` None) or seasonal-naive forecasts from the rows ``origin`` (N,)
    of one series ``raw`` (n,); NaN where a season back reaches before the rows given (the
    series' first row)."""
    if season is None:
        return np.repeat(raw[origin][:, None], horizon, axis=1)
    steps = np.arange(1, horizon + 1)
    back = season * ((steps - 1) // season + 1)  # (H,) how far back each step looks
    idx = origin[:, None] + steps[None, :] - back[None, :]  # (N, H)
    return np.where(idx >= 0, raw[np.clip(idx, 0, None)], np.nan)


def forecast(parts: list[SeriesPart], lookback: int, horizon: int, season: int | None, *, target: str, x_title: str) -> dict[str, Any]:
    """The figure's data of a forecast (see the module docstring)."""
    names = ["model", "naive"] + (["seasonal_naive"] if season else [])
    errors: dict[str, list[np.ndarray]] = {k: [] for k in names}  # (N_s, H) per series
    panels = []
    for part in parts:
        truth, fc = _windows_of(part, lookback, horizon, season)
        for k in names:
            errors[k].append(fc[k] - truth)
        if len(panels) < MAX_SERIES and len(part.pred):
            panels.append(_panel(part, lookback, horizon, truth, fc))
    every = {k: np.concatenate(v) if v else np.zeros((0, horizon)) for k, v in errors.items()}
    return {
        "format": FORMAT,
        "task": "forecast",
        "target": target,
        "x_title": x_title,  # the time column, or "row" (the row within the series)
        "lookback": lookback,
        "horizon": horizon,
        "season": season,
        "max_points": MAX_POINTS,
        "series_total": len(parts),
        "metrics": {k: _metrics(e) for k, e in every.items()},
        "error_by_step": {k: _floats(_nanmean(np.abs(e), axis=0)) for k, e in every.items()},
        "series": panels,
    }


def _windows_of(part: SeriesPart, lookback: int, horizon: int, season: int | None) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """The truth (N, H) of a series' test windows and each forecast of them (N, H)."""
    lo = part.test[0]
    origin = lo - 1 + np.arange(len(part.pred))  # (N,) each window's last input row: the test windows start at the part's first row
    truth = part.raw[origin[:, None] + np.arange(1, horizon + 1)[None, :]]  # (N, H)
    fc = {"model": part.pred, "naive": naive_forecasts(part.raw, origin, horizon)}
    if season:
        fc["seasonal_naive"] = naive_forecasts(part.raw, origin, horizon, season)
    return truth, fc


def _panel(part: SeriesPart, lookback: int, horizon: int, truth: np.ndarray, fc: dict[str, np.ndarray]) -> dict[str, Any]:
    """One series' traces, each forecast tiled over the rows (``tiles``), thinned to
    ``MAX_POINTS``."""
    window, step = tiles(len(part.pred), horizon)
    keep = keep_indices(len(window))
    window, step = window[keep], step[keep]
    rel = window + step  # (P,) rows within the test part (window i's first target is its row i)
    rows = part.test[0] + rel
    if part.times is not None:
        x = _labels(part.times[rel])
    else:
        x = [int(r) + part.first for r in rows]
    out = {
        "name": part.name,
        "points": int(len(part.pred) + horizon - 1),  # rows forecast, before thinning
        "windows": int(len(part.pred)),
        "x": x,
        "actual": _floats(part.raw[rows]),
        "path": [int(w) for w in window],
        "step": [int(s) + 1 for s in step],
        "forecasts": {k: _floats(v[window, step]) for k, v in fc.items()},
    }
    if part.bands:  # the model's interval bounds on the same rows, from the same windows
        out["bands"] = {level: {"lo": _floats(lo[window, step], 5), "hi": _floats(hi[window, step], 5)} for level, (lo, hi) in part.bands.items()}
    out["metrics"] = {k: _metrics(v - truth) for k, v in fc.items()}
    return out


def _metrics(err: np.ndarray) -> dict[str, float | None]:
    """mae and rmse of the finite errors (a seasonal naive may have none at a series' start)."""
    e = err[np.isfinite(err)]
    if e.size == 0:
        return {"mae": None, "rmse": None, "count": 0}
    return {"mae": _num(np.abs(e).mean()), "rmse": _num(math.sqrt(float((e**2).mean()))), "count": int(e.size)}


def _nanmean(a: np.ndarray, axis: int) -> np.ndarray:
    finite = np.isfinite(a)
    total = np.where(finite, a, 0.0).sum(axis=axis)
    count = finite.sum(axis=axis)
    return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def _num(v, digits: int = 7) -> float | None:
    """A float for JSON, ``digits`` significant digits; None for NaN or infinity."""
    v = float(v)
    return float(f"{v:.{digits}g}") if math.isfinite(v) else None


def _floats(a: np.ndarray, digits: int = 7) -> list[float | None]:
    return [_num(v, digits) for v in np.asarray(a, dtype=np.float64).tolist()]


def _labels(times: np.ndarray) -> list:
    """Time labels for JSON: ISO date-times (``2015-01-03 00:00:00``), numbers or text."""
    if np.issubdtype(times.dtype, np.datetime64):
        return [s.replace("T", " ") for s in np.datetime_as_string(times.astype("datetime64[s]"))]
    if np.issubdtype(times.dtype, np.number):
        return _floats(times)
    return [str(t) for t in times]


# -- classify and text


def confusion(classes: list, truth: np.ndarray, predicted: np.ndarray, majority: int | None = None) -> dict[str, Any]:
    """Task classify: counts[i][j] = test windows of true class i predicted as class j."""
    n = len(classes)
    counts = np.zeros((n, n), dtype=np.int64)
    np.add.at(counts, (truth.astype(np.int64), predicted.astype(np.int64)), 1)
    total = int(counts.sum())
    out = {
        "format": FORMAT,
        "task": "classify",
        "classes": [str(c) for c in classes],
        "counts": counts.tolist(),
        "windows": total,
        "accuracy": _num(np.trace(counts) / total) if total else None,
    }
    if majority is not None and total:
        out["majority_class"] = str(classes[majority])
        out["majority_accuracy"] = _num((truth == majority).mean())
    return out


def continuation(prompt: str, generated: str, real: str) -> dict[str, Any]:
    """Task text: a prompt, the model's greedy continuation and the real one, with how many of
    the generated characters equal the real ones at the same position."""
    same = sum(a == b for a, b in zip(generated, real))
    return {
        "format": FORMAT,
        "task": "text",
        "prompt": prompt,
        "generated": generated,
        "real": real,
        "matching": same,
        "compared": min(len(generated), len(real)),
    }
