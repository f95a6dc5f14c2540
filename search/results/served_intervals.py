"""The served forecaster's prediction intervals: calibrated from its own validation forecasts,
scored on its test targets, kept in the study's ``served`` attr under ``intervals``.

Whatever is served (a trial, a top-K ensemble, a baseline, a weighted combination) gets
split-conformal intervals around its point forecast (``search.worker.intervals``), with no
retraining: the conformity scores are its residuals on the validation windows every trial
was scored on (a combination's cross-fitted validation forecasts, each half made with the
weights fitted on the other half, so its residuals are out-of-sample like its test ones),
per horizon step and target, per series where there are several. The levels are the study's
``data.levels``, the method its ``data.interval_method`` (symmetric or signed; a quantile
head's own cqr band is its trial's figure, not the served forecaster's: an ensemble or a
combination has no head to conformalise, so the served intervals are always those of the
served point forecast).

The test figures are those of ``search.worker.intervals.interval_scores`` on exactly the
targets the served point forecast's test metrics are computed on (the same windows, steps,
targets and series' scalers undone): ``coverage_<level>`` (%), ``width_<level>``,
``interval_score_<level>``, ``msis_<level>`` and the means ``coverage_error``,
``interval_score``, ``msis``, and ``crps`` from the level quantiles.

The attr's value::

    {"levels": [80.0, 95.0], "method": "symmetric", "season": 12,
     "calibration": Calibration.to_json(), "test": {"coverage_80": ..., ...}}

``search best`` and the report show the test figures beside the statistical baselines' own
(``search.results.interval_summary``). A study recorded before this has no ``intervals``: it
serves points only.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from search.worker import intervals

KEY = "intervals"  # the served attr's entry


def study_levels(data: dict[str, Any]) -> tuple[float, ...]:
    """The study's ``data.levels`` as a tuple of floats (one number or a list; default 80, 95)."""
    value = data.get("levels") or (80, 95)
    if isinstance(value, (int, float)):
        value = (value,)
    return tuple(float(v) for v in value)


def study_method(data: dict[str, Any]) -> str:
    """The study's ``data.interval_method`` for a point forecast (symmetric unless signed)."""
    return "signed" if data.get("interval_method") == "signed" else "symmetric"


def calibrated(series, data: dict[str, Any], forecasts: dict[str, Any], truth: dict[str, Any], ids: dict[str, Any], scales: np.ndarray) -> dict[str, Any] | None:
    """The ``intervals`` entry of the served attr, from the served forecaster's scaled
    ``forecasts`` {part: (N, H, T)} of the validation and test windows, their scaled ``truth``,
    each window's series ``ids`` {part: (N,) or None} and each series' ``scales`` (S, T)
    (``search.worker.uncertainty.series_scales``: MSIS's scale, and the pooled band's). None
    without validation or test windows."""
    if len(truth["val"]) == 0 or len(truth["test"]) == 0:
        return None

    def raw(values, part: str) -> np.ndarray:  # a scaled tensor (N, H, T) -> the data's units
        return series.unscale_targets(values.double(), ids[part]).numpy()

    levels, method = study_levels(data), study_method(data)
    index = {p: None if ids[p] is None else np.asarray(ids[p], dtype=np.int64) for p in ("val", "test")}
    point = {p: raw(forecasts[p], p) for p in ("val", "test")}
    y = {p: raw(truth[p], p) for p in ("val", "test")}
    pooled = intervals.usable_scales(scales) if series.n_series > 1 else None
    calibration = intervals.calibrate(y["val"], point["val"], point["val"], levels, method, index["val"], pooled)
    lo, hi = calibration.bounds(point["test"], point["test"], index["test"])  # (L, N, H, T) each
    rows = np.zeros(len(y["test"]), dtype=np.int64) if index["test"] is None else index["test"]
    scale = scales[rows]  # (N, T)
    scale = np.where(np.isfinite(scale) & (scale > 0), scale, np.nan)  # a flat training part: no MSIS
    test = intervals.interval_scores(y["test"], lo, hi, levels, scale)
    quantiles, taus = intervals.level_quantiles(point["test"], lo, hi, levels)
    test["crps"] = intervals.crps(y["test"], quantiles, taus)
    return {
        "levels": list(levels),
        "method": method,
        "season": int(series.season) if getattr(series, "season", None) else None,
        "calibration": calibration.to_json(),
        "test": {k: (float(v) if np.isfinite(v) else None) for k, v in test.items()},
    }
