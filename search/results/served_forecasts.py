"""The served forecaster's validation and test forecasts with their prediction intervals, as a
table: ``search export STUDY --forecasts``.

Each scored window of the validation and test parts (the windows every trial was scored on)
gives one row per horizon step, in the layout of statsforecast's ``cross_validation``: the
actual value under the target's name and the served forecast beside it (``served``), with
the interval bounds of the study's levels (``served-lo-95``, ``served-lo-80``,
``served-hi-80``, ``served-hi-95``; several targets: ``<target>-served``,
``<target>-served-lo-80``, ...). ``part`` is val or test, ``row`` the target's row counted from
its series' first row, ``step`` the horizon step (1 = the first after the origin); a study of
several series has its ``series_id`` column too.

The forecasts are made again from the study's data and checkpoints (as
``search.results.served`` made them when it chose), with the weights recorded in the
``served`` attr; the test rows' bounds are drawn as the online calibration drew them
(``search.results.recent_errors``), so they give the recorded coverage and interval score. The
validation rows' bounds are the final calibration's: in-sample, the intervals were calibrated
on them. A combination's validation forecasts here use its final
weights (its recorded validation score used cross-fitted ones).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import optuna

from search.errors import UsageError
from search.results import served as served_mod
from search.results import recent_errors, served_intervals
from search.results.served_intervals import KEY
from search.worker import intervals
from search.worker.origins import eval_step


def _name(level) -> str:
    return f"{float(level):g}"


def forecast_frame(study: optuna.Study, url: str, artifacts: str | None = None, space: str | None = None):
    """The served forecaster's validation and test forecasts of ``study`` as a DataFrame (see
    the module docstring); a usage error where the study has no served forecaster."""
    import pandas as pd

    value = served_mod.recorded(study)
    if value is None:
        raise UsageError(f"--forecasts: study {study.study_name!r} has no served forecaster recorded (search run records it when a forecasting search ends)")
    found = served_mod.scored_candidates(study, url, artifacts, space)
    if found is None:
        raise UsageError(f"--forecasts: study {study.study_name!r} has no trial with a checkpoint to forecast with")
    scored, context = found
    mine = next((c for c in scored if c["label"] == value["label"]), None)
    if mine is None:
        raise UsageError(f"--forecasts: the served forecaster {value['label']!r} is no longer among the study's candidates (trials changed since it was chosen; search run chooses again)")
    series, data, truth, ids = (context[k] for k in ("series", "data", "truth", "ids"))
    entry = value.get(KEY) or None
    calibration = intervals.calibration_from_json(entry["calibration"]) if entry else None
    drawn = _scaled_bounds(series, data, mine, truth, ids) if entry and entry.get("scaled") else None
    targets = list(series.columns[: series.n_targets])
    tables = []
    for part in ("val", "test"):
        weights = {m["name"]: m["weight"] for m in value["members"]}
        point = _final_forecast(mine, part, weights, context)
        index = None if ids[part] is None else np.asarray(ids[part], dtype=np.int64)
        raw = lambda v: series.unscale_targets(v.double(), ids[part]).numpy()  # noqa: E731
        point, actual = raw(point), raw(truth[part])  # (N, H, T)
        n, horizon = point.shape[:2]
        cells: dict[str, Any] = {"part": np.repeat(part, n * horizon)}
        if series.n_series > 1 and data.get("series_id"):
            names = np.asarray(series.series_names)[index]
            cells[str(data["series_id"])] = np.repeat(names, horizon)
        rows = recent_errors.window_origins(series, part, horizon, eval_step(data))
        if rows is not None and len(rows) == n:
            cells["row"] = (rows[:, None] + np.arange(horizon)[None, :]).reshape(-1)
        cells["step"] = np.tile(np.arange(1, horizon + 1), n)
        if drawn is not None:  # scaled by recent errors: the test part's bounds as calibrated online
            bounds = drawn[part] if part == "test" else recent_errors.bounds_with(calibration, point, drawn["sigma_val"], index, drawn["floor"])
        else:
            bounds = calibration.bounds(point, point, index) if calibration is not None else None  # (L, N, H, T) each
        for t, target in enumerate(targets):
            prefix = f"{target}-served" if len(targets) > 1 else "served"
            cells[target] = actual[..., t].reshape(-1)
            cells[prefix] = point[..., t].reshape(-1)
            if bounds is None:
                continue
            order = sorted(range(len(calibration.levels)), key=lambda i: calibration.levels[i])
            for i in reversed(order):
                cells[f"{prefix}-lo-{_name(calibration.levels[i])}"] = bounds[0][i][..., t].reshape(-1)
            for i in order:
                cells[f"{prefix}-hi-{_name(calibration.levels[i])}"] = bounds[1][i][..., t].reshape(-1)
        tables.append(pd.DataFrame(cells))
    return pd.concat(tables, ignore_index=True)


def _scaled_bounds(series, data, candidate, truth, ids) -> dict[str, Any] | None:
    """Bounds of intervals scaled by recent errors (``search.results.recent_errors``): the test
    windows' as the online calibration drew them, and each validation window's scale (its
    series' default where it had no recent known windows)."""
    found = served_intervals.online(series, data, candidate["forecasts"], truth, ids)
    if found is None:
        return None
    bands = found["bands"]
    sigma = bands["sigma"]["val"]
    default = np.asarray(bands["scaled"]["default"], dtype=np.float64)[found["series"]["val"]]
    return {"test": (bands["test_lo"], bands["test_hi"]), "sigma_val": np.where(np.isfinite(sigma) & (sigma > 0), sigma, default), "floor": found["floor"]}


def _final_forecast(candidate: dict[str, Any], part: str, weights: dict[str, float], context: dict[str, Any]):
    """The served forecast of a part with its final weights: the candidate's own, but for a
    combination's validation part (scored cross-fitted) the weighted sum of its members'."""
    if part == "test" or len(candidate["members"]) == 1:
        return candidate["forecasts"][part]
    by_name = {v["name"]: k for k, v in context["names"].items()}
    return sum(w * context["forecasts"][by_name[name]][part] for name, w in weights.items())
