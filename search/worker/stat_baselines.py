"""Statistical baselines: what a classical forecaster scores on the trials' own targets.

Every forecasting study records statsforecast's MSTL (the seasons the study found, an AutoETS
trend), AutoETS and AutoTheta on exactly the validation and test targets the trials are scored
on (``SeriesData.windows``), each target series on its own. AutoETS and AutoTheta go through
statsforecast's own ``cross_validation(refit=False, input_size=...)``: each model is fit once
on the rows before the part's first origin and then forecasts from every origin from the rows
before it, a rolling window of ten of the longest season (at least 500 rows; ``history_rows``).
Their forecasts of every window are kept too (``search.worker.stat_forecasts``), for the
served forecaster's combinations (``search.results.served``).

MSTL (``forecast_mstl``) decomposes the same rolling window every ``refit_every`` origins (a
seventh of the longest season: a day of a weekly one), not at each one: between two decompositions each seasonal
component goes on as MSTL forecasts it (its last cycle repeated), the rows since are
deseasonalised with it, and the AutoETS trend model fit at the decomposition forecasts from
every origin with the rows up to it. The same origins, a fraction of the cost: a 4,000-row
half-hourly series scored from every origin went from minutes to seconds on one core
(``benchmarks/bench_mstl.py``).

Each model's own prediction intervals at the study's ``data.levels`` come with the same
forecasts (``forecast_bands``: statsforecast's ``level=``; MSTL's as statsforecast's MSTL builds
them, its trend model's interval plus the seasonal forecast) and are scored like a trial's
(``search.worker.intervals.interval_scores``, the trials' MSIS scale ``uncertainty.series_scales``)
on exactly the targets of the point figures: ``baseline_mstl_test_coverage_80``, ...,
``baseline_mstl_test_interval_score``. On the benchmark's 1,154 origins they add under a CPU
second to MSTL (``benchmarks/bench_mstl.py --levels``).

They run beside the trials (``search.driver.stat_runs``): the driver builds the jobs once
(``baseline_jobs``) and runs one model at a time (``run_model``) as a Ray task; only the driver
writes the returned attrs to the study. ``stat_baselines`` runs every model here, in the
caller's process (benchmarks, tests).
"""

from __future__ import annotations

import math
import os
import time
from typing import Any

import numpy as np

from search.worker import stat_forecasts
from search.worker.metrics import regression_metrics
from search.worker.origins import observed_mask, scored_origins

# name -> label in the compare lines, in the order they run: MSTL first (the one forecasters
# compare with), then AutoETS and AutoTheta
STAT_MODELS = {"mstl": "MSTL", "autoets": "AutoETS", "autotheta": "AutoTheta"}
# statsforecast's ETS takes seasons up to this length; a longer one is fit without a season
ETS_MAX_SEASON = 24
# each origin's forecast is fit on this many of the longest season's cycles before it, at least
# MIN_HISTORY rows (see history_rows)
HISTORY_SEASONS = 10
MIN_HISTORY = 500
# MSTL decomposes the same rows before an origin (history_rows), at most REFITS_PER_SEASON times
# per longest season of origins
REFITS_PER_SEASON = 7
# and at most MAX_REFITS times over one part's origins (years of hourly data: about 90 s on one
# core, where a decomposition a day took several minutes)
MAX_REFITS = 100
# a test hook: seconds the MSTL task sleeps first (a slow baseline on a quick machine)
DELAY_ENV = "SEARCH_STAT_BASELINES_DELAY"
FORECASTS_KEY = "_forecasts"  # run_model's forecasts of every kept window, per part (merge_forecasts)
LEVELS = (80, 95)  # the interval levels without data.levels
# a model's forecasts (n_windows, horizon, T) and its interval bounds (L, n_windows, horizon, T), or None, None
Bands = tuple[np.ndarray, "np.ndarray | None", "np.ndarray | None"]


def _model(name: str, seasons: list[int]):
    from statsforecast.models import MSTL, AutoETS, AutoTheta

    m = seasons[0] if seasons else 1  # the single-season models take the shortest season
    if name == "mstl":  # one fit after the last row (search predict's refit: forecast_mstl's fit at an origin)
        return MSTL(season_length=list(seasons), trend_forecaster=AutoETS(model="ZZN")) if seasons else None
    if name == "autoets":
        return AutoETS(season_length=m if m <= ETS_MAX_SEASON else 1)
    return AutoTheta(season_length=m)


def history_rows(seasons: list[int]) -> int:
    """The rows each model is fit on before an origin: ten of the longest season, at least
    ``MIN_HISTORY`` (a rolling window: the models follow the series' recent level, and the
    cost per origin stays bounded on long series)."""
    return max(HISTORY_SEASONS * max(seasons, default=1), MIN_HISTORY)


def refit_every(seasons: list[int], step: int, span: int = 0) -> int:
    """Origins between two MSTL decompositions, in rows: a seventh of the longest season (a
    day of a weekly season), never less than the origins' spacing, and at most ``MAX_REFITS``
    decompositions over ``span`` rows of origins."""
    return max(step, max(seasons, default=1) // REFITS_PER_SEASON, 1, -(-(int(span) + 1) // MAX_REFITS))


def sf_levels(levels) -> list:
    """The levels as statsforecast names its columns: 80 -> ``lo-80``, 97.5 -> ``lo-97.5``."""
    return [int(v) if float(v).is_integer() else float(v) for v in levels]


def _forecast_part(model, history: np.ndarray, n_windows: int, horizon: int, step: int, input_size: int, levels=()) -> Bands:
    """(n_windows, horizon, T) forecasts of the last ``n_windows`` origins of ``history``
    (T, targets), ``step`` apart, the last window ending at the history's end, each from the
    ``input_size`` rows before its origin; with ``levels`` the model's own interval bounds too
    (statsforecast's ``level=``: its ``lo-80``, ``hi-80`` columns), (L, n_windows, horizon, T)."""
    import pandas as pd
    from statsforecast import StatsForecast

    n, targets = history.shape
    frame = pd.DataFrame({
        "unique_id": np.repeat(np.arange(targets), n),
        "ds": np.tile(np.arange(n), targets),
        "y": history.T.reshape(-1).astype(np.float64),
    })
    named = sf_levels(levels)
    cv = StatsForecast(models=[model], freq=1, n_jobs=1).cross_validation(
        df=frame, h=horizon, n_windows=n_windows, step_size=step, refit=False, input_size=min(input_size, n - horizon - (n_windows - 1) * step),
        **({"level": named} if named else {}),
    )
    column = str(model)
    cv = cv.sort_values(["unique_id", "cutoff", "ds"])

    def shaped(name: str) -> np.ndarray:
        return cv[name].to_numpy(dtype=np.float64).reshape(targets, n_windows, horizon).transpose(1, 2, 0)

    if not named:
        return shaped(column), None, None
    return shaped(column), np.stack([shaped(f"{column}-lo-{v}") for v in named]), np.stack([shaped(f"{column}-hi-{v}") for v in named])


def forecast_mstl(history: np.ndarray, n_windows: int, horizon: int, step: int, seasons: list[int]) -> np.ndarray:
    """(n_windows, horizon, T) MSTL forecasts from the same origins as ``_forecast_part``: a
    decomposition (statsforecast's ``mstl``) of the ``history_rows`` before an origin every
    ``refit_every`` rows of origins, its AutoETS(ZZN) trend model run forward (fitted
    parameters, new rows) from each origin in between."""
    return _mstl(history, n_windows, horizon, step, seasons)[0]


def _mstl(history: np.ndarray, n_windows: int, horizon: int, step: int, seasons: list[int], levels=()) -> Bands:
    """``forecast_mstl``, and with ``levels`` its interval bounds (L, n_windows, horizon, T) as
    statsforecast's MSTL gives them: the trend model's own intervals (AutoETS's ``level=``)
    plus the seasonal components' forecast."""
    from statsforecast.mstl import mstl
    from statsforecast.models import AutoETS

    n, targets = history.shape
    rows = history_rows(seasons)
    named = sf_levels(levels)
    origins = [n - horizon - (n_windows - 1 - i) * step for i in range(n_windows)]
    every = refit_every(seasons, step, origins[-1] - origins[0])
    out = np.empty((n_windows, horizon, targets))
    lows, highs = np.empty((len(named), n_windows, horizon, targets)), np.empty((len(named), n_windows, horizon, targets))
    ask = {"level": named} if named else {}
    for j in range(targets):
        y = history[:, j].astype(np.float64)
        fit_at, model, lo, components = None, None, 0, []
        for i, o in enumerate(origins):
            if fit_at is None or o - fit_at >= every:
                fit_at, lo = o, max(0, o - rows)
                parts = mstl(y[lo:o], list(seasons) if len(seasons) > 1 else seasons[0])
                keys = [f"seasonal{m}" for m in seasons] if len(seasons) > 1 else ["seasonal"]
                components = [(m, np.asarray(parts[k], dtype=np.float64)) for m, k in zip(seasons, keys)]
                base = y[lo:o] - sum(c for _, c in components)
                model = AutoETS(model="ZZN").fit(base)
            # the seasonal sum over rows [lo, o + horizon): fitted up to fit_at, each component's last cycle on after it
            ahead = np.arange(o + horizon - fit_at)
            season_sum = sum(np.concatenate([c, c[len(c) - m + ahead % m]]) for m, c in components)
            if o == fit_at:
                res = model.predict(h=horizon, **ask)
            else:
                res = model.forward(y=y[lo:o] - season_sum[: o - lo], h=horizon, **ask)
            future = season_sum[o - lo :]
            out[i, :, j] = np.asarray(res["mean"], dtype=np.float64) + future
            for k, v in enumerate(named):
                lows[k, i, :, j] = np.asarray(res[f"lo-{v}"], dtype=np.float64) + future
                highs[k, i, :, j] = np.asarray(res[f"hi-{v}"], dtype=np.float64) + future
    return (out, lows, highs) if named else (out, None, None)


def forecast_stat(name: str, seasons: list[int], history: np.ndarray, n_windows: int, horizon: int, step: int) -> np.ndarray | None:
    """(n_windows, horizon, T) forecasts of model ``name`` from the last ``n_windows`` origins of
    ``history``, ``step`` apart; None where the model needs a season and has none."""
    bands = forecast_bands(name, seasons, history, n_windows, horizon, step)
    return None if bands is None else bands[0]


def forecast_bands(name: str, seasons: list[int], history: np.ndarray, n_windows: int, horizon: int, step: int, levels=()) -> Bands | None:
    """``forecast_stat``'s forecasts and, with ``levels``, the model's own interval bounds at
    each level, (L, n_windows, horizon, T) each (None, None without levels); None where the
    model needs a season and has none."""
    if name == "mstl":
        return _mstl(history, n_windows, horizon, step, list(seasons), levels) if seasons else None
    return _forecast_part(_model(name, seasons), history, n_windows, horizon, step, history_rows(seasons), levels)


def baseline_jobs(series: Any, horizon: int, step: int, seasons: list[int], levels=LEVELS) -> dict[str, Any]:
    """What every model forecasts, in original units: per series and part (validation, test),
    the rows up to its last target, the truths of its scored origins and the series' MSIS
    scale (``search.worker.uncertainty.series_scales``, as the trials' intervals are scored).
    Plain arrays, so the driver hands them to a Ray task; empty ``jobs`` where no part has a
    scored origin."""
    from search.worker.uncertainty import series_scales

    raw = series.values[:, : series.n_targets].astype(np.float64)  # scaled; undone per series below
    scales = series_scales(series)  # (S, T)
    jobs = []
    for i, first in enumerate(series.series_starts()):
        for part in ("val", "test"):
            start, end = series.parts(part)[i]
            origins = scored_origins(first, start, end, 0, horizon, step)
            if not origins:
                continue
            last = origins[-1] + horizon
            history = series.unscale_targets(torch_rows(raw[first:last]), _index(series, i, last - first)).numpy()
            keep = observed_mask(origins, series.observed, horizon)  # (N,) the trials' windows: targets observed, not filled
            truth = np.stack([history[o - first : o - first + horizon] for o in origins])[keep]  # (N', H, T)
            jobs.append({"part": part, "history": history, "n_windows": len(origins), "truth": truth, "keep": keep, "scale": scales[i]})
    return {"horizon": horizon, "step": step, "seasons": [int(m) for m in seasons], "jobs": jobs,
            "levels": [float(v) for v in (levels or LEVELS)], "delay": float(os.environ.get(DELAY_ENV, "0") or 0)}  # fmt: skip


def run_model(name: str, spec: dict[str, Any]) -> dict[str, Any]:
    """Study attrs of model ``name`` on ``spec`` (``baseline_jobs``): ``baseline_mstl_val_mae``,
    ..., ``baseline_mstl_seconds``; or ``baseline_mstl_note`` saying why it has no score. Its
    own prediction intervals at ``spec["levels"]`` are scored on the same targets
    (``interval_attrs``: ``baseline_mstl_test_coverage_80``, ...)."""
    import warnings

    warnings.simplefilter("ignore")
    if spec.get("delay") and name == "mstl":
        time.sleep(spec["delay"])
    started = time.perf_counter()
    levels = spec.get("levels") or []
    attrs: dict[str, Any] = {}
    try:
        try:
            preds = [forecast_bands(name, spec["seasons"], job["history"], job["n_windows"], spec["horizon"], spec["step"], levels) for job in spec["jobs"]]
        except Exception as exc:  # noqa: BLE001 - the intervals failed: the point forecasts alone, and why
            if not levels:
                raise
            attrs[f"baseline_{name}_intervals_note"] = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"[:200]
            preds = [forecast_bands(name, spec["seasons"], job["history"], job["n_windows"], spec["horizon"], spec["step"]) for job in spec["jobs"]]
    except Exception as exc:  # noqa: BLE001 - recorded as the model's note
        return {f"baseline_{name}_note": f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"[:200]}
    if any(p is None for p in preds):
        return {f"baseline_{name}_note": "no season"}
    attrs.update({f"baseline_{name}_seconds": round(time.perf_counter() - started, 3), FORECASTS_KEY: {}})
    for part in ("val", "test"):
        mine = [(p, job) for p, job in zip(preds, spec["jobs"]) if job["part"] == part]
        if not mine:
            continue
        point = np.concatenate([p[0][job["keep"]] for p, job in mine])  # (N, H, T) in window order
        truth = np.concatenate([job["truth"] for _, job in mine])
        attrs[FORECASTS_KEY][part] = point
        for key, value in regression_metrics(torch_rows(point), torch_rows(truth)).items():
            attrs[f"baseline_{name}_{part}_{key}"] = value
        if levels and all(p[1] is not None for p, _ in mine):
            lo = np.concatenate([p[1][:, job["keep"]] for p, job in mine], axis=1)  # (L, N, H, T)
            hi = np.concatenate([p[2][:, job["keep"]] for p, job in mine], axis=1)
            scale = np.concatenate([np.repeat(job["scale"][None], int(job["keep"].sum()), axis=0) for _, job in mine])  # (N, T)
            attrs.update({f"baseline_{name}_{part}_{k}": v for k, v in interval_attrs(truth, point, lo, hi, levels, scale).items()})
    return attrs


def interval_attrs(truth: np.ndarray, point: np.ndarray, lo: np.ndarray, hi: np.ndarray, levels, scale: np.ndarray) -> dict[str, float]:
    """A baseline's interval figures on targets ``truth`` (N, H, T), as a trial's are
    (``search.worker.uncertainty.TrialIntervals.scores``): coverage, width, interval score and
    MSIS per level, their means and the CRPS of the level quantiles; {} where the model gave
    no finite bounds (a flat history)."""
    from search.worker import intervals

    if not (np.isfinite(lo).all() and np.isfinite(hi).all()):
        return {}
    lo, hi = np.minimum(lo, hi), np.maximum(lo, hi)
    scale = np.where(np.isfinite(scale) & (scale > 0), scale, np.nan)  # a flat training part: no MSIS
    out = intervals.interval_scores(truth, lo, hi, levels, scale)
    quantiles, taus = intervals.level_quantiles(point, lo, hi, levels)
    out["crps"] = intervals.crps(truth, quantiles, taus)
    return {k: v for k, v in out.items() if math.isfinite(v)}


def merge_forecasts(attrs: dict[str, Any], name: str, result: dict[str, Any]) -> dict[str, Any]:
    """``result`` (``run_model``) into ``attrs``: its metrics as they are, its forecasts added to
    the ``stat_forecasts`` attr that ``attrs`` holds (``search.worker.stat_forecasts``)."""
    forecasts = result.pop(FORECASTS_KEY, None)
    attrs.update(result)
    if forecasts:
        kept = stat_forecasts.decode(attrs.get(stat_forecasts.ATTR))
        kept[name] = forecasts
        attrs[stat_forecasts.ATTR] = stat_forecasts.encode(kept)
    return attrs


def notes_attr(attrs: dict[str, Any]) -> str:
    """``stat_baselines_note``: every model's note, ``MSTL: no season; ...`` ("" without one)."""
    return "; ".join(f"{label}: {attrs[f'baseline_{name}_note']}" for name, label in STAT_MODELS.items() if attrs.get(f"baseline_{name}_note"))


def stat_baselines(series: Any, horizon: int, step: int, seasons: list[int], seconds: float = 1.0, levels=LEVELS) -> dict[str, Any]:
    """Every model's attrs (``run_model``), run here one after the other; ``stat_baselines_note``
    names the models without a score and why. ``seconds`` 0 (``data.stat_baselines_seconds``):
    off, nothing."""
    if seconds <= 0:
        return {}
    spec = baseline_jobs(series, horizon, step, seasons, levels)
    if not spec["jobs"]:
        return {}
    attrs: dict[str, Any] = {}
    for name in STAT_MODELS:
        merge_forecasts(attrs, name, run_model(name, spec))
    if notes_attr(attrs):
        attrs["stat_baselines_note"] = notes_attr(attrs)
    return attrs


def torch_rows(values: np.ndarray):
    import torch

    return torch.from_numpy(np.ascontiguousarray(values))


def _index(series: Any, i: int, n: int):
    """Series index ``i`` for ``n`` rows, for per-series scalers (None with one scaler)."""
    import torch

    return torch.full((n,), i, dtype=torch.long) if series.series_offset is not None else None
