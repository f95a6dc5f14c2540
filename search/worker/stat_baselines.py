"""Statistical baselines: what a classical forecaster scores on the trials' own targets.

Every forecasting study records statsforecast's MSTL (the seasons the study found, an AutoETS
trend), AutoETS and AutoTheta on exactly the validation and test targets the trials are scored
on (``SeriesData.windows``), each target series on its own, through statsforecast's own
``cross_validation(refit=False, input_size=...)``: each model is fit once on the rows before
the part's first origin and then forecasts from every origin from the rows before it, a rolling
window of ten of the longest season (at least 500 rows; ``history_rows``). Their forecasts of
every window are kept too (``search.worker.stat_forecasts``), for the served forecaster's
combinations (``search.results.served``).

They run once, when the study is created, in a process of their own (``python -m
search.worker.stat_baselines``, so nothing of the caller's own script is imported again) with
a time bound (``data.stat_baselines_seconds``): the models finished by then are recorded with
their wall seconds, the rest are named in ``stat_baselines_note``, and the search never waits
longer than the bound.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from search.worker import stat_forecasts
from search.worker.metrics import regression_metrics
from search.worker.origins import observed_mask, scored_origins

# name -> label in the compare lines, in the order they run: AutoETS is quick, MSTL the one
# forecasters compare with, AutoTheta last (on long parts it can take as long as MSTL)
STAT_MODELS = {"autoets": "AutoETS", "mstl": "MSTL", "autotheta": "AutoTheta"}
# statsforecast's ETS takes seasons up to this length; a longer one is fit without a season
ETS_MAX_SEASON = 24
# each origin's forecast is fit on this many of the longest season's cycles before it, at least
# MIN_HISTORY rows (see history_rows)
HISTORY_SEASONS = 10
MIN_HISTORY = 500


def _model(name: str, seasons: list[int]):
    from statsforecast.models import MSTL, AutoETS, AutoTheta

    m = seasons[0] if seasons else 1  # the single-season models take the shortest season
    if name == "mstl":
        return MSTL(season_length=list(seasons), trend_forecaster=AutoETS(model="ZZN")) if seasons else None
    if name == "autoets":
        return AutoETS(season_length=m if m <= ETS_MAX_SEASON else 1)
    return AutoTheta(season_length=m)


def history_rows(seasons: list[int]) -> int:
    """The rows each model is fit on before an origin: ten of the longest season, at least
    ``MIN_HISTORY`` (a rolling window: the models follow the series' recent level, and MSTL's
    cost per origin stays bounded on long series)."""
    return max(HISTORY_SEASONS * max(seasons, default=1), MIN_HISTORY)


def _forecast_part(model, history: np.ndarray, n_windows: int, horizon: int, step: int, input_size: int) -> np.ndarray:
    """(n_windows, horizon, T) forecasts of the last ``n_windows`` origins of ``history``
    (T, targets), ``step`` apart, the last window ending at the history's end, each from the
    ``input_size`` rows before its origin."""
    import pandas as pd
    from statsforecast import StatsForecast

    n, targets = history.shape
    frame = pd.DataFrame({
        "unique_id": np.repeat(np.arange(targets), n),
        "ds": np.tile(np.arange(n), targets),
        "y": history.T.reshape(-1).astype(np.float64),
    })
    cv = StatsForecast(models=[model], freq=1, n_jobs=1).cross_validation(
        df=frame, h=horizon, n_windows=n_windows, step_size=step, refit=False, input_size=min(input_size, n - horizon - (n_windows - 1) * step)
    )
    column = next(c for c in cv.columns if c not in ("unique_id", "ds", "cutoff", "y"))
    cv = cv.sort_values(["unique_id", "cutoff", "ds"])
    return cv[column].to_numpy(dtype=np.float64).reshape(targets, n_windows, horizon).transpose(1, 2, 0)


def _run(folder: Path) -> None:
    """The child process: for each model, its forecasts of every job (a series' part) and its
    wall seconds, written to ``folder`` as soon as the model is done."""
    import warnings

    warnings.simplefilter("ignore")
    spec = json.loads((folder / "spec.json").read_text())
    with np.load(folder / "jobs.npz") as stored:
        histories = [stored[f"history_{i}"] for i in range(len(spec["n_windows"]))]
    for name in STAT_MODELS:
        started = time.perf_counter()
        preds, note = {}, None
        try:
            model = _model(name, spec["seasons"])
            if model is None:
                note = "no season"
            else:
                for i, (history, n) in enumerate(zip(histories, spec["n_windows"])):
                    preds[f"pred_{i}"] = _forecast_part(model, history, n, spec["horizon"], spec["step"], history_rows(spec["seasons"]))
        except Exception as exc:  # noqa: BLE001 - recorded as the model's note
            note = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"[:200]
        result = {"seconds": time.perf_counter() - started, "note": note}
        np.savez(folder / f"{name}.tmp.npz", **preds)
        os.replace(folder / f"{name}.tmp.npz", folder / f"{name}.npz")
        (folder / f"{name}.json.tmp").write_text(json.dumps(result))
        os.replace(folder / f"{name}.json.tmp", folder / f"{name}.json")  # written last: the model is done


def stat_baselines(series: Any, horizon: int, step: int, seasons: list[int], seconds: float) -> dict[str, Any]:
    """Study attrs ``baseline_mstl_val_mae``, ..., ``baseline_mstl_seconds``, ... for the models
    done within ``seconds``; ``stat_baselines_note`` says what was skipped and why."""
    if seconds <= 0:
        return {}
    raw = series.values[:, : series.n_targets].astype(np.float64)  # scaled; undone per series below
    jobs, truths = [], []
    for i, first in enumerate(series.series_starts()):
        for part in ("val", "test"):
            start, end = series.parts(part)[i]
            origins = scored_origins(first, start, end, 0, horizon, step)
            if not origins:
                continue
            last = origins[-1] + horizon
            history = series.unscale_targets(torch_rows(raw[first:last]), _index(series, i, last - first)).numpy()
            keep = observed_mask(origins, series.observed, horizon)  # (N,) the trials' windows: targets observed, not filled
            truths.append(np.stack([history[o - first : o - first + horizon] for o in origins])[keep])  # (N', H, T)
            jobs.append({"part": part, "history": history, "n_windows": len(origins), "keep": keep})
    if not jobs:
        return {}
    with tempfile.TemporaryDirectory(prefix="search-stat-") as tmp:
        folder = Path(tmp)
        np.savez(folder / "jobs.npz", **{f"history_{i}": job["history"] for i, job in enumerate(jobs)})
        spec = {"horizon": horizon, "step": step, "seasons": list(seasons), "n_windows": [job["n_windows"] for job in jobs]}
        (folder / "spec.json").write_text(json.dumps(spec))
        from search._environ import public_environ

        child = subprocess.Popen(
            [sys.executable, "-m", "search.worker.stat_baselines", str(folder)],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            env=public_environ(),  # no credentials of the driver's
        )
        try:
            child.wait(timeout=seconds)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
        return _collect(folder, jobs, truths, seconds)


def _collect(folder: Path, jobs: list[dict], truths: list[np.ndarray], seconds: float) -> dict[str, Any]:
    """The attrs of the models the child finished; a note for the rest."""
    attrs: dict[str, Any] = {}
    notes, forecasts = [], {}
    for name, label in STAT_MODELS.items():
        if not (folder / f"{name}.json").exists():
            notes.append(f"{label}: not done within {seconds:g} s (data.stat_baselines_seconds)")
            continue
        result = json.loads((folder / f"{name}.json").read_text())
        if result["note"]:
            notes.append(f"{label}: {result['note']}")
            continue
        attrs[f"baseline_{name}_seconds"] = round(result["seconds"], 3)
        with np.load(folder / f"{name}.npz") as stored:
            preds = [stored[f"pred_{i}"] for i in range(len(jobs))]
        for part in ("val", "test"):
            mine = [(p[job["keep"]], t) for p, t, job in zip(preds, truths, jobs) if job["part"] == part]
            if mine:
                forecasts.setdefault(name, {})[part] = np.concatenate([p for p, _ in mine])  # (N, H, T) in window order
                pred = torch_rows(np.concatenate([p for p, _ in mine]))
                truth = torch_rows(np.concatenate([t for _, t in mine]))
                for key, value in regression_metrics(pred, truth).items():
                    attrs[f"baseline_{name}_{part}_{key}"] = value
    if notes:
        attrs["stat_baselines_note"] = "; ".join(notes)
    if forecasts:  # kept for a combination of trials and baselines (search.results.served)
        attrs[stat_forecasts.ATTR] = stat_forecasts.encode(forecasts)
    return attrs


def torch_rows(values: np.ndarray):
    import torch

    return torch.from_numpy(np.ascontiguousarray(values))


def _index(series: Any, i: int, n: int):
    """Series index ``i`` for ``n`` rows, for per-series scalers (None with one scaler)."""
    import torch

    return torch.full((n,), i, dtype=torch.long) if series.series_offset is not None else None


if __name__ == "__main__":  # the child process of ``stat_baselines``
    _run(Path(sys.argv[1]))
