"""Prediction intervals around a forecast of new data: what ``search predict --level`` and
``Forecaster.predict(frame, level=[80, 95])`` write.

The intervals are the ones the study calibrated, drawn again with no retraining:

- the served forecaster (``load_best`` by default): the ``intervals`` of the study's ``served``
  attr (``search.results.served_intervals``): conformal offsets per horizon step and target
  around its point forecast, per series where there are several, in units of its recent error
  scale: its mean absolute error on the input's own latest known windows
  (``search.results.recent_errors``; the recorded ``default`` where the input is too short);
- one trial (``--trial N``): the calibration packed into its checkpoint
  (``search.worker.uncertainty``): around its point forecast, or for a quantile head around
  the head's own band of each level (cqr);
- the mean of the K best trials (``--ensemble K``) was not calibrated: no intervals.

A series the study calibrated has its own offsets (or the pooled, scale-free ones times its
scale where it had too few validation windows); a series it never saw takes the pooled ones
times the in-sample seasonal-naive error of its own input rows.

Only levels the study calibrated can be drawn (its ``data.levels``); another level is refused
with a one-line usage error naming the valid ones: the residuals themselves are not kept, so
a new level would need the validation forecasts again.

Columns, in the statsforecast / NeuralForecast convention: ``lo-95``, ``lo-80``, ``hi-80``,
``hi-95`` after the point column; with several targets each target's are prefixed with its
name, as its point column is (``y-lo-80``, ``y-hi-80``, ``z``, ``z-lo-80``, ...). Symmetric
intervals nest around the point forecast (``lo-95 <= lo-80 <= point <= hi-80 <= hi-95``);
signed ones nest too but need not hold the point (a forecast biased on validation is moved),
and a quantile head's (cqr) band is the head's, conformalised, around its median.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from search.errors import UsageError
from search.results import recent_errors
from search.worker import intervals
from search.worker.uncertainty import head_bands


def _name(level) -> str:
    return f"{float(level):g}"


def calibration_of(forecaster) -> tuple[intervals.Calibration | None, int | None]:
    """The forecaster's interval calibration and the season its series' scales were taken at,
    or (None, None) where nothing was calibrated (an older study, a top-K ensemble)."""
    data, season = forecaster.interval_calibration()
    return (intervals.calibration_from_json(data) if data else None), season


def default_levels(forecaster) -> list[float] | None:
    """The levels drawn when none are asked for: those the study calibrated, or None."""
    calibration, _ = calibration_of(forecaster)
    return None if calibration is None else list(calibration.levels)


def checked_levels(forecaster, level) -> list[float]:
    """``level`` (one number or a list, in percent) as floats, each one the study calibrated;
    a usage error naming ``--level`` and the valid levels otherwise."""
    asked = [level] if isinstance(level, (int, float, str)) else list(level)
    for value in asked:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or not 0 < value < 100:
            raise UsageError(f"--level {value!r}: a level is a percentage between 0 and 100, e.g. --level 80 --level 95")
    if not asked:
        raise UsageError("--level: give at least one level, e.g. --level 80 --level 95")
    calibration, _ = calibration_of(forecaster)
    if calibration is None:
        raise UsageError(f"--level {_name(asked[0])}: no intervals to draw: {forecaster.uncalibrated}; forecast without --level for points only")
    valid = [float(v) for v in calibration.levels]
    for value in asked:
        if not any(abs(float(value) - v) < 1e-9 for v in valid):
            shown = ", ".join(_name(v) for v in valid)
            raise UsageError(f"--level {_name(value)}: the study calibrated its intervals at {shown} (data.levels); ask for one of them, or search with data.levels including {_name(value)}")
    return [float(v) for v in asked]


def bands(forecaster, frame, level, forecasts: dict[str, np.ndarray] | None = None) -> dict[str, dict[str, Any]]:
    """Per series of ``frame``: ``{"point": (H, T), "lo": (L, H, T), "hi": (L, H, T), "levels":
    [...]}`` at the asked levels (``checked_levels``); ``forecasts`` the point forecasts of
    ``predict_series(frame)`` when already made."""
    import models
    from models._head import middle

    levels = checked_levels(forecaster, level)
    calibration, season = calibration_of(forecaster)
    rows = [next(i for i, v in enumerate(calibration.levels) if abs(v - lv) < 1e-9) for lv in levels]
    if calibration.method == "cqr":  # a quantile head: every quantile, the middle one the point
        with models.quantile_outputs(forecaster.model):
            quantiles = forecaster.predict_series(frame)  # {name: (H, T, Q)}
        taus = tuple(float(q) for q in forecaster.payload["params"]["quantiles"])
        mid = middle(taus)
        points = {name: q[..., mid] for name, q in quantiles.items()}
        base = {name: head_bands(np.moveaxis(q, -1, 0), taus, calibration.levels) for name, q in quantiles.items()}  # (L, H, T) each
    else:
        points = forecasts if forecasts is not None else forecaster.predict_series(frame)
        base = {name: (p, p) for name, p in points.items()}
    names = list(forecaster.payload.get("series_names") or [])
    scaled = forecaster.interval_scaling() if hasattr(forecaster, "interval_scaling") else None
    out = {}
    for name, point in points.items():
        if scaled is not None:  # offsets in units of the forecaster's recent errors on this input
            sigma = _recent_scale(forecaster, frame, name, names, scaled)
            index = np.array([names.index(name) if name in names else -1]) if names else None
            lo, hi = recent_errors.bounds_with(calibration, np.asarray(point, dtype=np.float64)[None], sigma[None], index, scaled.get("floor"))
            out[name] = {"point": np.asarray(point, dtype=np.float64), "lo": lo[rows, 0], "hi": hi[rows, 0], "levels": levels}
            continue
        own = _for_series(calibration, names, name, forecaster, frame, season)
        index = np.array([names.index(name) if name in names else len(names)]) if names and calibration.scales is not None else None
        lo, hi = base[name]
        lo, hi = own.bounds(np.asarray(lo)[..., None, :, :], np.asarray(hi)[..., None, :, :], index)  # (L, 1, H, T)
        out[name] = {"point": np.asarray(point, dtype=np.float64), "lo": lo[rows, 0], "hi": hi[rows, 0], "levels": levels}
    return out


def _recent_scale(forecaster, frame, name: str, names: list[str], scaled: dict[str, Any]) -> np.ndarray:
    """(T,) the served forecaster's recent error scale on series ``name`` of the input: the mean
    absolute error of its forecasts of the input's latest known windows; where the input is too
    short for them, the scale recorded for that series (a series the study never saw: the mean
    over every series)."""
    part = frame[frame[forecaster.series_id].astype(str) == name] if forecaster.series_id else frame
    made = forecaster.recent_forecasts(name, forecaster._in_order(part), int(scaled["windows"]), int(scaled["step"]))
    sigma = None if made is None else recent_errors.forecast_scale(*made)
    if sigma is not None:
        return sigma
    if name in names and names.index(name) < len(scaled["default"]):
        return np.asarray(scaled["default"][names.index(name)], dtype=np.float64)
    return np.asarray(scaled["default"][0] if not names else scaled["pooled_default"], dtype=np.float64)


def _for_series(calibration: intervals.Calibration, names: list[str], name: str, forecaster, frame, season: int | None) -> intervals.Calibration:
    """The calibration, with a scale for series ``name`` appended where the study never saw it
    (row ``len(names)``): the in-sample seasonal-naive error of its own input rows, or the
    mean of the known scales where those rows are too few."""
    if calibration.scales is None or (names and name in names):
        return calibration
    import dataclasses

    part = frame[frame[forecaster.series_id].astype(str) == name] if forecaster.series_id else frame
    known = calibration.scales
    scale = np.array([intervals.insample_scale(part[t].to_numpy(dtype=np.float64), season) for t in forecaster.targets])
    scale = np.where(np.isfinite(scale) & (scale > 0), scale, known.mean(axis=0))
    return dataclasses.replace(calibration, scales=np.vstack([known[: len(names)], scale[None]]))


def columns(targets: list[str], levels) -> list[tuple[str, int, str, int]]:
    """The forecast table's value columns, in order: (column, target, "point" | "lo" | "hi",
    level row); ``lo-95``, ``lo-80``, ``hi-80``, ``hi-95`` after each target's point column,
    prefixed ``<target>-`` with several targets."""
    order = sorted(range(len(levels)), key=lambda i: levels[i])
    out = []
    for t, target in enumerate(targets):
        prefix = f"{target}-" if len(targets) > 1 else ""
        out.append((target, t, "point", -1))
        out += [(f"{prefix}lo-{_name(levels[i])}", t, "lo", i) for i in reversed(order)]
        out += [(f"{prefix}hi-{_name(levels[i])}", t, "hi", i) for i in order]
    return out


def table(forecaster, forecasts: dict[str, Any], drawn: dict[str, dict[str, Any]] | None = None):
    """The forecast as ``search predict`` writes it: one row per series and horizon step
    (``step``, the point forecast of each target, with ``drawn`` the intervals beside them;
    the series column first for a model of several series); task classify: one label."""
    import pandas as pd

    tables = []
    for name, forecast in forecasts.items():  # (H, T) per series
        if forecaster.task == "classify":  # the label of the window ending at the last row
            part = pd.DataFrame({forecaster.payload["data"]["target"][0]: [forecast]})
        elif drawn is None:
            part = pd.DataFrame(forecast, columns=forecaster.targets)
            part.insert(0, "step", range(1, len(part) + 1))
        else:
            mine = drawn[name]
            values = {}
            for column, t, kind, row in columns(forecaster.targets, mine["levels"]):
                values[column] = mine["point"][:, t] if kind == "point" else mine[kind][row][:, t]
            part = pd.DataFrame(values)
            part.insert(0, "step", range(1, len(part) + 1))
        if forecaster.series_id:
            part.insert(0, forecaster.series_id, name)
        tables.append(part)
    return pd.concat(tables, ignore_index=True)
