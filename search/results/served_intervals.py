"""The served forecaster's prediction intervals: calibrated from its own validation and test
forecasts, scored on its test targets, kept in the study's ``served`` attr under ``intervals``.

Whatever is served (a trial, a top-K ensemble, a baseline, a weighted combination) gets
conformal intervals around its point forecast with no retraining, from its forecasts of the
windows every trial was scored on (a combination's validation forecasts are its cross-fitted
ones, each half made with the weights fitted on the other half, so its residuals are
out-of-sample like its test ones). The residuals are scaled by the forecaster's recent errors
and calibrated online (``search.results.recent_errors``): per horizon step and target, per
series where there are several, at the study's ``data.levels``, by its ``data.interval_method``
(symmetric or signed; a quantile head's own cqr band is its trial's figure, not the served
forecaster's: an ensemble or a combination has no head to conformalise).

The test figures are those of ``search.worker.intervals.interval_scores`` on exactly the
targets the served point forecast's test metrics are computed on (the same windows, steps,
targets and series' scalers undone), each test window drawn as the online calibration drew it:
``coverage_<level>`` (%), ``width_<level>``, ``interval_score_<level>``, ``msis_<level>`` and
the means ``coverage_error``, ``interval_score``, ``msis``, and ``crps`` from the level quantiles.

The attr's value::

    {"levels": [80.0, 95.0], "method": "symmetric", "season": 12,
     "calibration": Calibration.to_json(),  # offsets in units of the recent error scale
     "scaled": {"by": "recent errors", "windows": k, "step": 1, "default": [[...]], "pooled_default": [...]},
     "test": {"coverage_80": ..., ...}}

``search best`` and the report show the test figures beside the statistical baselines' own
(``search.results.interval_summary``). A study recorded before intervals has no ``intervals``:
it serves points only; one recorded before the scaling has no ``scaled``: its offsets are in
the data's units (``search.results.forecast_intervals`` draws both).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from search.results import recent_errors
from search.worker import intervals
from search.worker.origins import eval_step

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


def part_starts(series, part: str) -> np.ndarray:
    """(S,) each series' first row of ``part``, counted from the series' first row."""
    return np.asarray([start - first for first, (start, _) in zip(series.series_starts(), series.parts(part))], dtype=np.int64)


def target_floor(series) -> list[float | None]:
    """Per target: zero where none of its values before the test part is negative (a count, a
    load, sales: a quantity that cannot be), else None. The served bounds are not drawn below
    it: a bound under zero for such a quantity only widens the interval (at a level of a
    count series' many zeros, a symmetric band would reach below them)."""
    import torch

    low, size = np.full(series.n_targets, np.inf), np.ones(series.n_targets)
    for s, ((start, _), (_, end)) in enumerate(zip(series.parts("train"), series.parts("val"))):
        rows = torch.as_tensor(np.asarray(series.values[start:end, : series.n_targets], dtype=np.float64))[None]
        index = torch.tensor([s]) if series.series_offset is not None else None
        raw = series.unscale_targets(rows, index)[0].numpy()
        if len(raw):
            low, size = np.fmin(low, np.nanmin(raw, axis=0)), np.fmax(size, np.nanmax(np.abs(raw), axis=0))
    # a zero comes back from the (float32) scaler as a rounding error either side of it: the
    # floor is zero as the scaler returns it, so a zero target is not scored below its bound
    return [min(0.0, float(v)) if np.isfinite(v) and v >= -1e-6 * m else None for v, m in zip(low, size)]


def calibrated(series, data: dict[str, Any], forecasts: dict[str, Any], truth: dict[str, Any], ids: dict[str, Any], scales: np.ndarray) -> dict[str, Any] | None:
    """The ``intervals`` entry of the served attr, from the served forecaster's scaled
    ``forecasts`` {part: (N, H, T)} of the validation and test windows, their scaled ``truth``,
    each window's series ``ids`` {part: (N,) or None} and each series' ``scales`` (S, T)
    (``search.worker.uncertainty.series_scales``: MSIS's scale). None without validation or
    test windows, or where the windows' origins cannot be told."""
    found = online(series, data, forecasts, truth, ids)
    if found is None:
        return None
    levels, y, bands = found["levels"], found["y"], found["bands"]
    lo, hi = bands["test_lo"], bands["test_hi"]
    scale = scales[found["series"]["test"]]  # (N, T)
    scale = np.where(np.isfinite(scale) & (scale > 0), scale, np.nan)  # a flat training part: no MSIS
    test = intervals.interval_scores(y["test"], lo, hi, levels, scale)
    quantiles, taus = intervals.level_quantiles(found["point"]["test"], lo, hi, levels)
    test["crps"] = intervals.crps(y["test"], quantiles, taus)
    return {
        "levels": list(levels),
        "method": study_method(data),
        "season": int(series.season) if getattr(series, "season", None) else None,
        "calibration": bands["calibration"].to_json(),
        "scaled": bands["scaled"],
        "test": {k: (float(v) if np.isfinite(v) else None) for k, v in test.items()},
    }


def online(series, data: dict[str, Any], forecasts: dict[str, Any], truth: dict[str, Any], ids: dict[str, Any]) -> dict[str, Any] | None:
    """The served forecaster's intervals calibrated online (``search.results.recent_errors``)
    from its scaled ``forecasts`` and ``truth`` {part: (N, H, T)}: ``bands`` (what
    ``recent_errors.calibrate_online`` returns), ``levels``, and per part ``y``, ``point`` (the
    data's units), ``series`` and ``origins``; None without validation or test windows, or where
    the windows' origins cannot be told."""
    if len(truth["val"]) == 0 or len(truth["test"]) == 0:
        return None
    horizon, step = int(data["horizon"]), eval_step(data)
    point, y, index, origins = {}, {}, {}, {}
    for p in ("val", "test"):
        point[p] = series.unscale_targets(forecasts[p].double(), ids[p]).numpy()
        y[p] = series.unscale_targets(truth[p].double(), ids[p]).numpy()
        index[p] = np.zeros(len(y[p]), dtype=np.int64) if ids[p] is None else np.asarray(ids[p], dtype=np.int64)
        origins[p] = recent_errors.window_origins(series, p, horizon, step, index[p])
        if origins[p] is None or len(origins[p]) != len(y[p]):
            return None
    levels = study_levels(data)
    floor = target_floor(series)
    bands = recent_errors.calibrate_online(y, point, index, origins, part_starts(series, "test"), horizon, step, levels, study_method(data), int(series.n_series), floor)
    return {"bands": bands, "levels": levels, "y": y, "point": point, "series": index, "origins": origins, "floor": floor}
