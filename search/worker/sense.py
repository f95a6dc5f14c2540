"""Settings that a dataset makes meaningless, refused before any trial runs (each one line
naming the key): a percentage objective on a target that is zero or changes sign, a season
longer than half the training part, and values too large for float32 arithmetic."""

from __future__ import annotations

from typing import Any

import numpy as np

from search.errors import DataError
from search.worker.origins import season_list

PERCENT_METRICS = ("mape",)  # relative to the target: infinite at 0, meaningless across 0
FLOAT32_ROOT = float(np.sqrt(np.finfo(np.float32).max))  # beyond it a square (MSE) overflows float32


def check(series: Any, data: dict[str, Any], metrics: list[str], prefix: str) -> None:
    """Every check below, on a loaded forecast series (original units rebuilt from the scaler)."""
    if getattr(series, "task", "forecast") != "forecast":
        return
    name = series.info.get("name", "the data")
    raw = _targets(series)
    _check_size(series, raw, name, prefix)
    _check_percent(series, raw, metrics, name, prefix)
    _check_seasons(series, data, name, prefix)


def _targets(series: Any) -> np.ndarray:
    """(T, n_targets) float64 in the data's own units."""
    n = series.n_targets
    values = series.values[:, :n].astype(np.float64)
    if series.series_offset is None:
        return values * series.scale[:n] + series.offset[:n]
    rows = np.repeat(np.arange(len(series.segments)), [e - s for s, _, _, e in series.segments])
    return values * series.series_scale[rows, :n] + series.series_offset[rows, :n]


def _check_size(series: Any, raw: np.ndarray, name: str, prefix: str) -> None:
    """A target (in its units) or any scaled input whose square overflows float32."""
    worst = np.abs(raw).max(axis=0)
    for j, value in enumerate(worst):
        if value > FLOAT32_ROOT:
            raise DataError([f"{prefix}data.target: column {series.columns[j]!r} of {name} holds values up to {value:.3g}; their squares overflow float32 "
                             f"(beyond {FLOAT32_ROOT:.2g}), so every metric would be inf: rescale the column (e.g. to thousands or millions)"])
    scaled = np.abs(series.values).max(axis=0) if len(series.values) else []
    for j, value in enumerate(scaled):
        if not np.isfinite(value) or value > FLOAT32_ROOT:
            key = "target" if j < series.n_targets else "features"
            column = series.columns[j] if j < len(series.columns) else f"input {j + 1}"
            raise DataError([f"{prefix}data.{key}: column {column!r} of {name} reaches {value:.3g} after scaling; its square overflows float32: "
                             "rescale the column, or use scaler: standard"])


def _check_percent(series: Any, raw: np.ndarray, metrics: list[str], name: str, prefix: str) -> None:
    """A percentage objective needs targets away from zero, all of one sign."""
    percent = [m for m in metrics if m in PERCENT_METRICS]
    if not percent:
        return
    for j in range(series.n_targets):
        y = raw[:, j]
        zeros = int((y == 0).sum())
        if zeros or (y.min() < 0 < y.max()):
            what = f"{zeros} zeros" if zeros else f"values of both signs ({y.min():.3g} to {y.max():.3g})"
            raise DataError([f"{prefix}objective.metric: {percent[0]} divides by the target, and column {series.columns[j]!r} of {name} has {what}; "
                             "the percentage would be infinite or meaningless: use smape or mae"])


def _check_seasons(series: Any, data: dict[str, Any], name: str, prefix: str) -> None:
    """A named season needs two cycles in the training part (of every series)."""
    given = data.get("season")
    if not given:
        return
    train = min(end - start for start, end in series.parts("train"))
    long = [m for m in season_list(given) if m > train / 2]
    if long:
        raise DataError([f"{prefix}data.season: {long[0]} is longer than half the training part of {name} ({train} rows), "
                         "so no two of its cycles can be compared: lower it, or move data.split"])
