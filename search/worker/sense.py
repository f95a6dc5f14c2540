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


def check_size(raw: np.ndarray, values: np.ndarray, columns, n_targets: int, file_name: str, prefix: str) -> None:
    """A column whose values (``raw``, in its units) or scaled values (``values``) square
    beyond float32: every metric (MSE) would be inf."""
    for array, scaled in ((raw, False), (values, True)):
        worst = np.nanmax(np.abs(array), axis=0) if array.size else []
        for j, value in enumerate(worst):
            if value > FLOAT32_ROOT:  # inf included
                key = "target" if j < n_targets else "features"
                where = f"{prefix}data.{key}: column {columns[j]!r} of {file_name}"
                fix = "rescale the column (e.g. to thousands or millions)"
                what = f"reaches {value:.3g} after scaling" if scaled else f"holds values up to {value:.3g}"
                raise DataError([f"{where} {what}; their squares overflow float32 (beyond {FLOAT32_ROOT:.2g}), so every metric would be inf: {fix}"])


def _check_percent(series: Any, raw: np.ndarray, metrics: list[str], name: str, prefix: str) -> None:
    """A percentage objective needs targets away from zero, all of one sign."""
    percent = [m for m in metrics if m in PERCENT_METRICS]
    if not percent:
        return
    for j in range(series.n_targets):
        y = raw[:, j]
        zeros = int((np.abs(y) <= 1e-6 * max(np.abs(y).max(), 1e-30)).sum())  # zero, up to the float32 scaling's rounding
        if zeros or (y.min() < 0 < y.max()):
            what = f"{zeros} zero{'s' if zeros > 1 else ''}" if zeros else f"values of both signs ({y.min():.3g} to {y.max():.3g})"
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
