"""Peer comparison on every shipped forecasting dataset: this project's searches and their ensemble
vs NeuralForecast's Auto models vs statsforecast's MSTL, AutoETS, AutoTheta and naive forecasts.

Datasets and spaces
-------------------
``--dataset co2|demand|electricity|traffic|housing|all`` (default co2), each with its shipped
space(s):

- **co2**: ``datasets/mauna_loa_co2_weekly.csv``, the four family spaces ``spaces/lstm.yaml``,
  ``gru``, ``tcn``, ``transformer``; horizon 24 unless ``--horizon`` is given (the spaces' own is 1).
- **demand**: ``datasets/demand_halfhourly.csv``, ``spaces/demand_lstm.yaml``; the space's horizon (48).
- **electricity**: ``datasets/electricity_hourly.csv``, ``spaces/electricity_lstm.yaml``; the
  space's horizon (24).
- **traffic**: ``datasets/traffic_hourly.csv`` (real: Bay Area freeway occupancy through 2016,
  a daily and a weekly season), ``spaces/traffic_lstm.yaml``; the space's horizon (24).
- **housing**: ``datasets/housing_supply_monthly.csv`` (real: the monthly US new-house supply,
  1963-2021, seasonally adjusted), ``spaces/housing_lstm.yaml``; the space's horizon (12).

traffic and housing were chosen and committed before any search ran on them; their spaces
leave ``reference`` and ``time_features`` to the data (``auto``), as the shipped defaults do.

``--families`` picks among each dataset's shipped spaces by family (default: all of them; ``none``:
no search, the baselines and peers only). demand, electricity, traffic and housing ship an LSTM
space only: there
``--families`` runs it when it names ``lstm`` and skips the other families it names (said so).
The series, its missing-value filling, its split, the horizon, the candidate seasons and the
seasonal naive's season come from the project's own loader (``search.driver.prepare.prepare`` on
the dataset's first selected space, with the overrides below).

The test targets
----------------
Train rows ``[0, a)``, validation ``[a, b)``, test ``[b, T)``. The forecast origins (an origin is
the first row a window forecasts) are the project's own (``search.worker.origins.scored_origins``,
as ``data.eval_origins`` picks them for every trial): every ``--step`` rows, the last window
ending at the test part's last row; so the first origin is ``b + (T - b - H) mod step``, and with
the default step, the horizon ``H``, the windows do not overlap and cover the test part but its
first ``(T - b) mod H`` rows. Each forecast may read every row before its origin. ``--step 1``
scores every origin ``b .. T-H``. The project's studies score every origin or every horizon-th
(``data.eval_origins: every | horizon``), so ``--step`` is 1 or the horizon; the spaces run with
``data.eval_origins`` set to match. Every method is scored on the same (origin, step) points,
and the script checks it (it stops with a message where they differ):

- the origins each family's study recorded (``targets_test``) and the values its windows target,
  and the study's seasonal naive (its season, its and the naive's test MAE) against the benchmark's;
- the origins of the naive baselines (the same ``targets_test`` record of the loader);
- the cutoffs NeuralForecast forecast from, and the values it compares with.

MAE and RMSE are over every (origin, step) point, in the data's own units. The "val MAE" column is
each method's MAE on the validation part (this project's and the baselines' on the study's
validation targets; NeuralForecast's best trial's validation loss, an MAE on its own validation
windows), and "test / val" the validation -> test gap: above 1 the method did worse on test than
its validation promised. "cov 80 %", "cov 95 %" and "interval score" are the test figures of
each method's prediction intervals on the same points (the served forecaster's conformal
intervals, the best trial's own, statsforecast's for MSTL, AutoETS and AutoTheta; the interval
score is the mean Winkler score over the study's levels, in the data's units).

What runs
---------
- **This project**: ``search.driver.run.run_search`` on each selected space with
  ``data.horizon=H``, ``data.eval_origins`` (above), ``data.stat_baselines_seconds=--stat-seconds``
  (and ``train.epochs`` with ``--epochs``), ``--trials`` finished trials, a temporary SQLite study,
  one local Ray runtime with ``--num-cpus`` CPUs (started once before the first search, its
  start-up timed on its own). Wall seconds: the ``run_search`` call, which includes what a
  ``search run`` pays when it creates the study (the statistical baselines below). Each family's
  best trial (by its validation metric) is loaded from its checkpoint and scored again by the
  project's ensemble code (``search.results.ensemble``, one member) on the validation and test
  targets; the script checks that the rescored test MAE equals the study's own ``test_mae`` (and
  the validation metric its value) and prints "= rescored".
- **Ensemble**: the mean forecast of the top ``--ensemble-k`` trials (default 5, the default
  ``checkpoints.keep``) that kept a checkpoint, of the family whose best trial has the best
  validation metric (``search.load_best(..., ensemble=K)``, scored the same way); fewer when fewer
  trials kept one (said so). Wall seconds: that family's search plus the scoring.
- **Served**: what each family's study serves (``search.results.served.record``, as ``search
  run`` records it when it ends): the best on validation among its trials, top-K ensembles,
  statistical baselines, the seasonal naive and combinations of a network with the baselines.
  Its figures are the study's own, on the targets checked above. Wall seconds: the search plus
  the choosing.
- **NeuralForecast** (optional): ``AutoLSTM``, ``AutoGRU``, ``AutoTCN`` with ``backend='optuna'``,
  their default search spaces, ``num_samples`` = ``--trials``, ``h`` = H, a seeded
  ``optuna.samplers.TPESampler`` (the default sampler, seeded so runs repeat); only trainer
  settings that do not change the model are added (no progress bar, logger or model summary).
  ``--peer-max-steps`` overrides the searched ``max_steps`` for smoke tests only. With ``o`` the
  first scored origin, they run ``NeuralForecast.cross_validation(df, n_windows=None,
  test_size=T-o, val_size=o-a, step_size=--step, refit=False)`` on the whole series (``ds`` = row
  number, ``freq=1``): it trains on ``[0, a)`` -- the project's training part exactly -- and
  validates on ``[a, o)`` for every trial and for the refit of the best configuration, then
  forecasts from exactly the scored origins, each with the actual history before it. ``[a, o)``
  is the project's validation part plus the ``o - b`` test rows before the first origin (7 for
  co2 and 18 for electricity with step = horizon, none with step 1): rows every method may read
  before that origin, none of them a target; NeuralForecast's cutoffs start right after its
  validation part, and forecasting from cutoffs that are then thrown away would add to its wall
  time. The script keeps the windows whose cutoff + 1 is a scored origin and checks they are
  all there. Wall seconds: the whole ``cross_validation`` call (search, refit, forecasts).
- **Statistical baselines**: statsforecast ``MSTL`` (the candidate seasons, an ``AutoETS`` trend),
  ``AutoETS`` and ``AutoTheta``, by the project's own ``search.worker.stat_baselines`` (what every
  forecasting study records): fit once before the part's first origin, then forecasting from each
  origin from the rows before it -- a rolling window of ten of the longest season, at least 500
  rows (``stat_baselines.history_rows``), not all of them. They are read back from the first
  family's study (which computed them on these targets); with ``--families none`` they are
  computed here by the same function. Wall seconds: as recorded, per model. A model not done
  within ``--stat-seconds`` is shown with the note.
- **Naive and the best seasonal naive**: ``SeriesData.naive_attrs`` (what every study records):
  the last value, and of the candidate seasons (``data.season`` or detected) the one whose
  seasonal naive is best on the validation part (by the space's metric), applied to the test part.

The target
----------
Per dataset: the best of this project's rows (its families and the ensemble) reaches a test MAE
at least 10 % below the best of every peer and baseline (ratio <= 0.90), in no more wall time
than the slowest NeuralForecast peer took. A second line checks the served forecaster against
the best classical baseline (naive, seasonal naive, MSTL, AutoETS, AutoTheta): at most 0.90x
"met", at most 1.00x "missed, never worse", above "missed, WORSE". Without NeuralForecast (or with ``--peers none``) the
target line says so and compares with the baselines only, without a wall bound. With
``--dataset all`` every dataset's table and target line print in turn, and the target lines once
more at the end.

    python benchmarks/bench_peers.py [--dataset co2|demand|electricity|traffic|housing|all] [--trials 6]
        [--horizon H] [--step S] [--epochs N] [--families lstm,gru,tcn,transformer|none]
        [--peers lstm,gru,tcn|none] [--ensemble-k 5] [--stat-seconds 1800] [--keep FOLDER] [--ablate]

NeuralForecast is an optional benchmark dependency, best kept in a virtual environment of its
own: ``pip install torch==2.13.0 -e ".[bench-peers]"`` there (torch pinned in the same command,
or pip pulls a CUDA build). Without it the peer rows print as "not installed" and the rest
still runs. ``--ablate`` (co2 only) runs instead a one-change-at-a-time table of fixed LSTM
variants (lookback, scaler, reference, warmup, early stopping, seed), each trained once by
``search.worker.train.run_trial`` and scored on the same test targets.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import logging
import math
import os
import sys
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import _common

REPO = Path(__file__).resolve().parents[1]
FAMILIES = ("lstm", "gru", "tcn", "transformer")
# each shipped forecasting dataset: its spaces by family, in the order they run
DATASETS: dict[str, dict[str, str]] = {
    "co2": {family: f"{family}.yaml" for family in FAMILIES},
    "demand": {"lstm": "demand_lstm.yaml"},
    "electricity": {"lstm": "electricity_lstm.yaml"},
    "traffic": {"lstm": "traffic_lstm.yaml"},
    "housing": {"lstm": "housing_lstm.yaml"},
}
CO2_HORIZON = 24  # the co2 spaces forecast one step; the benchmark has always compared 24
PEERS = {"lstm": "AutoLSTM", "gru": "AutoGRU", "tcn": "AutoTCN"}
NOT_INSTALLED = "not installed (pip install neuralforecast)"
TARGET_RATIO = 0.90  # the best of this project at least 10 % below the best peer or baseline
AGREE_RTOL = 1e-4  # a study's recorded metric vs the same model rescored here (float32 sums)


# -- datasets, spaces and the test targets


def dataset_spaces(dataset: str, families: Sequence[str] | None = None) -> dict[str, Path]:
    """The dataset's shipped spaces by family, in the shipped order: all (``families`` None), or
    those of the named families that the dataset ships."""
    shipped = DATASETS[dataset]
    return {f: REPO / "spaces" / name for f, name in shipped.items() if families is None or f in families}


def dataset_horizon(dataset: str, given: int | None) -> int:
    """``--horizon`` when given; else 24 for co2 and the space's own for the others."""
    if given:
        return given
    if dataset == "co2":
        return CO2_HORIZON
    from search.space import load_space

    return int(load_space(next(iter(dataset_spaces(dataset).values()))).data["horizon"])


def space_overrides(horizon: int, step: int, stat_seconds: float, epochs: int | None = None) -> list[str]:
    """The ``--set`` overrides every space of a run gets: the horizon, the scored origins that
    match ``step`` (``data.eval_origins``), the statistical baselines' time bound, the epochs."""
    origins = "every" if step == 1 else "horizon"
    out = [f"data.horizon={horizon}", f"data.eval_origins={origins}", f"data.stat_baselines_seconds={stat_seconds:g}"]
    return out + ([f"train.epochs={epochs}"] if epochs else [])


@dataclass
class Targets:
    """The test targets every method is scored on: the origins (first target rows) and the
    values of the first target at each (origin, step), in the data's own units."""

    origins: range
    horizon: int
    truth: np.ndarray  # (N, H)

    @property
    def points(self) -> int:
        return self.truth.size

    def check(self, method: str, origins: Sequence[int], truth) -> None:
        """Stop unless ``method`` forecast from these origins and compared with these values."""
        if list(origins) != list(self.origins):
            raise SystemExit(f"{method}: scored origins {describe(origins)}, the common targets have {describe(self.origins)}")
        truth = np.asarray(truth, dtype=np.float64)
        if truth.shape != self.truth.shape or not np.allclose(truth, self.truth, rtol=1e-5, atol=1e-6):
            raise SystemExit(f"{method}: its {truth.shape} target values differ from the common targets' {self.truth.shape}")

    def check_recorded(self, method: str, recorded: dict | None, step: int) -> None:
        """Stop unless a ``targets_test`` record (``SeriesData.scored_targets``: windows, first
        and last origin, of one series starting at row 0) names these origins."""
        if not recorded or "first_origin" not in recorded:
            raise SystemExit(f"{method}: records no test targets ({recorded!r})")
        origins = range(recorded["first_origin"], recorded["last_origin"] + 1, step)
        if len(origins) != recorded["windows"] or list(origins) != list(self.origins):
            raise SystemExit(f"{method}: recorded test targets {recorded}, the common targets have {describe(self.origins)}")


def describe(origins: Sequence[int]) -> str:
    return f"{len(origins)} origins {origins[0]}..{origins[-1]}" if len(origins) else "no origin"


def raw_target(series) -> np.ndarray:
    """The first target column in the data's own units, float64, (T,)."""
    import torch

    return series.unscale_targets(torch.from_numpy(series.values[:, :1].astype(np.float64)))[:, 0].numpy()


def test_targets(series, horizon: int, step: int) -> Targets:
    """The scored test origins of the project's trials (``scored_origins``, as
    ``SeriesData.windows`` cuts them) with their values. One series, one target."""
    from search.worker.origins import scored_origins

    if series.n_series != 1 or series.n_targets != 1:
        raise SystemExit(f"{series.info['name']}: the benchmark compares one series with one target")
    start, end = series.part("test")
    origins = scored_origins(0, start, end, 0, horizon, step)
    raw = raw_target(series)
    return Targets(origins, horizon, np.stack([raw[o : o + horizon] for o in origins]))


def score(pred, truth) -> dict[str, float]:
    """MAE and RMSE over every (origin, step) point, the way ``regression_metrics`` counts."""
    import torch

    from search.worker.metrics import regression_metrics

    m = regression_metrics(torch.as_tensor(pred, dtype=torch.float64), torch.as_tensor(truth, dtype=torch.float64))
    return {"mae": m["mae"], "rmse": m["rmse"]}


def cpu_since(cpu0: float) -> float:
    """CPU seconds of this process and its descendants since ``cpu0``; nan when negative (Ray
    ended worker processes whose time then left the process tree: not measurable)."""
    cpu = _common.tree_cpu_seconds()[1] - cpu0
    return cpu if cpu >= 0 else math.nan


def result(method: str, kind: str, **fields) -> dict:
    """A table row: ``kind`` is ours, peer or baseline; a row without a score has mae None."""
    return {"method": method, "kind": kind, "mae": None, "rmse": None, "val_mae": None, "wall": None, "cpu": math.nan, "trials": "-", "note": "", **fields}


# -- the baselines: naive, the best seasonal naive, MSTL, AutoETS, AutoTheta


def naive_rows(prep, targets: Targets, step: int) -> tuple[list[dict], dict]:
    """Naive and the best seasonal naive (``SeriesData.naive_attrs``, what every study records),
    and the attrs: the candidate seasons, which season won on the validation part, the targets."""
    data = prep.compiled.space.data
    started = time.perf_counter()
    attrs = prep.series.naive_attrs(prep.lookback_max, data, prep.compiled.metric)
    wall = time.perf_counter() - started
    targets.check_recorded("naive baselines", attrs["targets_test"], step)
    rows = [result("naive (last value)", "baseline", mae=attrs["baseline_naive_test_mae"], rmse=attrs["baseline_naive_test_rmse"], wall=wall,
                   val_mae=attrs.get("baseline_naive_val_mae"))]
    season = attrs.get("seasonal_naive_season")
    if season:
        rows.append(result(f"seasonal naive (season {season})", "baseline", mae=attrs["baseline_seasonal_naive_test_mae"],
                           rmse=attrs["baseline_seasonal_naive_test_rmse"], wall=wall, val_mae=attrs.get("baseline_seasonal_naive_val_mae"),
                           note=f"best on validation ({prep.compiled.metric}) of seasons {attrs['seasons']}"))
    return rows, attrs


def stat_labels(seasons: list[int]) -> dict[str, str]:
    """Each statistical model's row label, with the seasons ``stat_baselines`` fits it with."""
    from search.worker.stat_baselines import ETS_MAX_SEASON

    m = seasons[0] if seasons else 1
    return {"mstl": f"MSTL (seasons {', '.join(map(str, seasons))}; AutoETS trend)" if seasons else "MSTL (no season found)",
            "autoets": f"AutoETS (season {m if m <= ETS_MAX_SEASON else 1})", "autotheta": f"AutoTheta (season {m})"}


def stat_rows(attrs: dict, seasons: list[int], source: str) -> list[dict]:
    """The MSTL, AutoETS and AutoTheta rows of ``search.worker.stat_baselines`` attrs; a model
    without a score shows its part of ``stat_baselines_note``."""
    from search.worker.stat_baselines import STAT_MODELS

    notes = [n.strip() for n in attrs.get("stat_baselines_note", "").split(";") if n.strip()]
    rows = []
    for name, label in stat_labels(seasons).items():
        if f"baseline_{name}_test_mae" in attrs:
            rows.append(result(label, "baseline", mae=attrs[f"baseline_{name}_test_mae"], rmse=attrs[f"baseline_{name}_test_rmse"],
                               wall=attrs[f"baseline_{name}_seconds"], val_mae=attrs.get(f"baseline_{name}_val_mae"), note=source,
                               intervals=interval_figures(attrs, f"baseline_{name}_test_")))
        else:
            why = next((n for n in notes if n.startswith(STAT_MODELS[name] + ":")), "not recorded")
            rows.append(result(label, "baseline", note=why))
    return rows


def interval_figures(figures: dict, prefix: str = "") -> dict[str, float]:
    """The test interval figures (``coverage_80``, ``coverage_95``, ``interval_score``) among
    ``figures`` under ``prefix`` (a study's ``baseline_mstl_test_``, a trial's ``test_``, or
    none for the served forecaster's ``intervals.test``); empty without them."""
    wanted = ("coverage_80", "coverage_95", "interval_score")
    return {k: float(figures[prefix + k]) for k in wanted if figures.get(prefix + k) is not None}


def stat_attrs(prep, step: int, seasons: list[int], seconds: float, ours: list[dict]) -> tuple[dict, str]:
    """The statistical baselines' attrs: read back from the first family's study, which computed
    them on these targets when it was created, else computed here by the same function."""
    from search.worker.stat_baselines import stat_baselines

    studies = [row for row in ours if row.get("study") is not None]
    if studies:
        return _recorded(studies[0]["study"]), f"recorded by the {studies[0]['family']} study"
    horizon = int(prep.compiled.space.data["horizon"])
    return stat_baselines(prep.series, horizon, step, seasons, seconds), "computed here"


# -- this project


def score_members(method: str, forecaster, series, data: dict, targets: Targets) -> dict[str, dict[str, float]]:
    """An ``EnsembleForecaster`` (one member: a single trial's model) scored by the project's
    ensemble code on the validation and test targets: {"val": metrics, "test": metrics}, its
    test origins and target values checked against the common ones."""
    from search.results.ensemble import member_forecasts
    from search.worker.origins import eval_step

    out = {}
    for part in ("val", "test"):
        preds, y, ids = member_forecasts(forecaster, series, data, part)
        out[part] = series.score(preds.mean(0), y, ids)
    step = eval_step(data)
    targets.check_recorded(method, series.scored_targets("test", targets.horizon, step), step)
    targets.check(method, targets.origins, series.unscale_targets(y.double(), ids)[..., 0].numpy())
    return out


def rescore(method: str, study, url: str, space: Path, k: int, targets: Targets) -> tuple[dict, object]:
    """The mean forecast of the study's ``k`` best trials that kept a checkpoint (k=1: the best
    trial), loaded by ``search.load_best`` and scored again on the study's own data
    (``search.results.ensemble.study_data``): (metrics by part, the forecaster)."""
    from search.results.ensemble import study_data
    from search.results.loading import load_best

    forecaster = load_best(study, url, ensemble=k)
    series, data = study_data(study, space)
    return score_members(method, forecaster, series, data, targets), forecaster


def check_agrees(method: str, what: str, recorded, rescored: float) -> None:
    """Stop unless a study's recorded metric equals the one rescored here."""
    if recorded is None or not math.isclose(float(recorded), rescored, rel_tol=AGREE_RTOL, abs_tol=1e-9):
        raise SystemExit(f"{method}: the study's {what} {recorded} differs from the rescored {rescored:.6g}")


def _recorded(study) -> dict:
    """What the study records about itself, from either layout (``search.study_attrs``)."""
    from search.study_attrs import flat

    return flat(study)


def check_study_baselines(method: str, study, attrs: dict, targets: Targets, step: int) -> None:
    """Stop unless a family's study recorded the benchmark's test targets, the same seasonal
    naive's season and the same naive and seasonal-naive test MAE."""
    recorded = _recorded(study)
    targets.check_recorded(method, recorded.get("targets_test"), step)
    if recorded.get("seasonal_naive_season") != attrs.get("seasonal_naive_season"):
        raise SystemExit(f"{method}: its study's seasonal naive has season {recorded.get('seasonal_naive_season')}, the benchmark's {attrs.get('seasonal_naive_season')}")
    for name in ("naive", "seasonal_naive"):
        key = f"baseline_{name}_test_mae"
        if key in attrs:
            check_agrees(method, key, recorded.get(key), attrs[key])


def run_family(family: str, space: Path, run: DatasetRun, args, folder: Path) -> dict:
    """One search of a shipped space, its study checked against the benchmark's targets and
    baselines, its best trial rescored (which must equal the study's own test MAE)."""
    from search.driver.prepare import prepare

    method = f"this project: {family}"
    prep = prepare(space, run.overrides)
    url = _common.sqlite_url(folder / f"{space.stem}.db")
    cpu0 = _common.tree_cpu_seconds()[1]
    summary, wall = _common.run_project(space, url, args.trials, args.workers, overrides=run.overrides, prepared=prep)
    cpu = cpu_since(cpu0)
    study = summary.study
    states = [t.state.name for t in study.get_trials(deepcopy=False)]
    row = result(method, "ours", family=family, study=study, url=url, space=space, wall=wall, cpu=cpu,
                 trials=f"{states.count('COMPLETE')} done, {states.count('PRUNED')} pruned, {states.count('FAIL')} failed")
    check_study_baselines(method, study, run.naive, run.targets, run.step)
    try:
        best = study.best_trial
    except ValueError:
        return {**row, "note": "no completed trial"}
    metrics, forecaster = rescore(method, study, url, space, 1, run.targets)
    if forecaster.trials != [best.number]:
        raise SystemExit(f"{method}: the best trial #{best.number} kept no checkpoint (the best that did: #{forecaster.trials[0]})")
    metric = _recorded(study).get("metric", "rmse")
    check_agrees(method, "test_mae", best.user_attrs.get("test_mae"), metrics["test"]["mae"])
    check_agrees(method, f"validation {metric}", best.value, metrics["val"][metric])
    return {**row, "mae": metrics["test"]["mae"], "rmse": metrics["test"]["rmse"], "val": best.value, "val_mae": metrics["val"]["mae"], "params": best.params,
            "intervals": interval_figures(best.user_attrs, "test_"),
            "note": f"best #{best.number}: lookback {forecaster.lookback}, {best.user_attrs.get('epochs_run')} epochs, "
                    f"val {metric} {best.value:.3f}; study test MAE {best.user_attrs['test_mae']:.3f} = rescored"}


def run_ensemble(ours: list[dict], k_asked: int, targets: Targets) -> dict | None:
    """The top-K ensemble of the family whose best trial is best on validation (the families of
    one dataset share the validation targets and metric), or None when no family finished."""
    import optuna

    finished = [row for row in ours if row.get("val") is not None]
    if not finished:
        return None
    base = min(finished, key=lambda row: row["val"])
    study = base["study"]
    complete = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    k = min(k_asked, sum("checkpoint" in t.user_attrs for t in complete))
    method = f"this project: {base['family']} ensemble of {k}"
    started = time.perf_counter()
    metrics, forecaster = rescore(method, study, base["url"], base["space"], k, targets)
    took = time.perf_counter() - started
    fewer = f" ({k_asked} asked; {k} trial{'s' if k != 1 else ''} kept a checkpoint)" if k < k_asked else ""
    metric = _recorded(study).get("metric", "rmse")
    return result(method, "ours", mae=metrics["test"]["mae"], rmse=metrics["test"]["rmse"], val_mae=metrics["val"]["mae"], wall=base["wall"] + took,
                  trials=f"#{', #'.join(map(str, forecaster.trials))}",
                  note=f"mean of the best {k}{fewer} by validation; val {metric} {metrics['val'][metric]:.3f}; "
                       f"wall: the {base['family']} search + {took:.1f} s scoring{'; ' + forecaster.note if forecaster.note else ''}")


def run_served(ours: list[dict]) -> list[dict]:
    """Each family's served forecaster (``search.results.served.record``, what ``search run``
    records when it ends): the best on validation of its trials, top-K ensembles, statistical
    baselines and their combinations; its figures as the study recorded them on the same
    targets (checked against the benchmark's by ``check_study_baselines``)."""
    from search.results import served

    rows = []
    for row in [r for r in ours if r.get("study") is not None and r.get("val") is not None]:
        started = time.perf_counter()
        value = served.record(row["study"], row["url"], None, str(row["space"]))
        took = time.perf_counter() - started
        if value is None:
            continue
        kinds = sorted({c["kind"] for c in value["candidates"]})
        rows.append(result(f"this project: {row['family']} served", "ours", served=True, mae=value["test"]["mae"], rmse=value["test"]["rmse"],
                           intervals=interval_figures((value.get("intervals") or {}).get("test") or {}),
                           val_mae=value["val"]["mae"], wall=row["wall"] + took, trials=value["label"],
                           note=f"best on validation ({value['metric']}) of the study's candidates ({', '.join(kinds)} shown); "
                                f"wall: the search + {took:.1f} s choosing"))
    return rows


# -- NeuralForecast


def nf_available() -> str | None:
    """NeuralForecast's version, or None when it is not importable."""
    try:
        import neuralforecast
    except Exception:
        return None
    return getattr(neuralforecast, "__version__", "?")


def quiet_lightning() -> None:
    for name in ("pytorch_lightning", "lightning", "lightning.pytorch", "lightning_fabric", "neuralforecast"):
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")


def nf_split(targets: Targets, val_start: int, end: int) -> tuple[int, int]:
    """NeuralForecast's ``(test_size, val_size)``: its cutoffs (every ``step_size`` rows, the
    last window ending at the series' end) start right after its validation part, so the test
    part starts at the first scored origin; the validation part runs from the project's
    validation start up to there, and training on ``[0, val_start)`` is the project's."""
    first = targets.origins[0]
    return end - first, first - val_start


def peer_model(family: str, args, horizon: int):
    """The Auto model with its default search space (``max_steps`` fixed only for smoke tests)."""
    import optuna
    from neuralforecast import auto

    cls = getattr(auto, PEERS[family])
    base = cls.get_default_config(h=horizon, backend="optuna")

    def config(trial):
        cfg = base(trial)
        cfg.update(enable_progress_bar=False, enable_model_summary=False, logger=False)
        if args.peer_max_steps:  # smoke tests only: not the default space
            cfg["max_steps"] = args.peer_max_steps
            cfg["val_check_steps"] = min(100, args.peer_max_steps)
        return cfg

    return cls(h=horizon, backend="optuna", config=config, num_samples=args.trials, search_alg=optuna.samplers.TPESampler(seed=args.seed))


def peer_points(method: str, cv, column: str, targets: Targets) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """The forecasts (N, H) and the values they forecast (N, H) of ``cross_validation``'s windows
    whose origin (cutoff + 1) is a scored origin, and those origins."""
    horizon = targets.horizon
    kept = cv[(cv["cutoff"] + 1).isin(list(targets.origins))].sort_values(["cutoff", "ds"])
    origins = sorted(int(c) + 1 for c in set(kept["cutoff"]))
    steps = (kept["ds"] - kept["cutoff"]).to_numpy()
    if len(kept) != len(origins) * horizon or not (steps.reshape(-1, horizon) == np.arange(1, horizon + 1)).all():
        raise SystemExit(f"{method}: cross_validation's rows are not {horizon} steps after each cutoff")
    shape = (len(origins), horizon)
    return kept[column].to_numpy().reshape(shape), kept["y"].to_numpy().reshape(shape), origins


def run_peer(family: str, args, run: DatasetRun) -> dict:
    """One NeuralForecast Auto model: searched, refit and forecast by ``cross_validation``, scored
    on the scored origins only."""
    import optuna
    import pandas as pd
    from neuralforecast import NeuralForecast

    quiet_lightning()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    series = run.prep.series
    a, end = series.part("val")[0], len(series.values)
    df = pd.DataFrame({"unique_id": run.name, "ds": np.arange(end), "y": raw_target(series)})
    nf = NeuralForecast(models=[peer_model(family, args, run.horizon)], freq=1)
    test_size, val_size = nf_split(run.targets, a, end)
    cpu0 = _common.tree_cpu_seconds()[1]
    started = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        cv = nf.cross_validation(df, n_windows=None, test_size=test_size, step_size=run.step, val_size=val_size, refit=False)
    wall = time.perf_counter() - started
    cpu = cpu_since(cpu0)
    name = PEERS[family]
    method = f"NeuralForecast {name}"
    pred, truth, origins = peer_points(method, cv, name, run.targets)
    run.targets.check(method, origins, truth)
    fitted = nf.models[0]  # cross_validation fits a copy of the model passed in
    best = fitted.results.best_trial
    params = best.user_attrs.get("ALL_PARAMS", best.params)
    return result(method, "peer", **score(pred, truth), params=best.params, wall=wall, cpu=cpu, trials=f"{len(fitted.results.trials)} done", val_mae=best.value,
                  note=f"best input_size {params.get('input_size')}, max_steps {params.get('max_steps')}, val loss {best.value:.3f}; validation rows [{a},{end - test_size})")


def run_peers(peers: list[str], args, run: DatasetRun, nf_version: str | None) -> list[dict]:
    """Every asked peer's row; "not installed" rows without NeuralForecast, "failed" rows (with
    the peer's own error) where its search raised. A Ctrl-C keeps what finished (Lightning turns
    one during training into ``sys.exit(1)``)."""
    rows: list[dict] = []
    for peer in peers:
        method = f"NeuralForecast {PEERS[peer]}"
        if nf_version is None:
            rows.append(result(method, "peer", note=NOT_INSTALLED))
            continue
        started = time.perf_counter()
        try:
            row = run_peer(peer, args, run)
        except (KeyboardInterrupt, SystemExit) as exc:
            if isinstance(exc, SystemExit) and isinstance(exc.code, str):
                raise  # this script's own check failed
            rows.append(result(method, "peer", note="interrupted"))
            break
        except Exception as exc:  # the peer's own failure (e.g. a sampled input_size longer than the series): its row says so
            why = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            print(f"   failed: {method} after {time.perf_counter() - started:.0f} s: {why}", flush=True)
            rows.append(result(method, "peer", note=f"failed after {time.perf_counter() - started:.0f} s: {why}"))
            continue
        print(f"   done: {row['method']}: MAE {fmt(row['mae'])}, {row['wall']:.0f} s; best params {row.get('params')}", flush=True)
        rows.append(row)
    return rows


# -- what decides quality: fixed LSTM variants, one change at a time (--ablate, co2)

ABLATION_BASE = ["model.layer_sizes=64", "model.dropout=0.0", "data.lookback=104", "train.batch_size=64", "train.lr=0.003",
                 "train.epochs=20", "train.patience=5", "train.seed=0", "train.loss=mse", "train.schedule=none", "data.reference=last"]
ABLATIONS = [
    ("base: LSTM 64, lookback 104, standard scaler, relative to last value, MSE loss, lr 3e-3, patience 5", []),
    ("lookback 156 (three seasons)", ["data.lookback=156"]),
    ("lookback 52 (one season)", ["data.lookback=52"]),
    ("lookback 26 (half a season)", ["data.lookback=26"]),
    ("lookback 13", ["data.lookback=13"]),
    ("scaler none (raw ppm)", ["data.scaler=none"]),
    ("reference none (levels, not changes)", ["data.reference=none"]),
    ("reference seasonal (the deviation from the seasonal naive)", ["data.reference=seasonal"]),
    ("reference seasonal, lookback 156", ["data.reference=seasonal", "data.lookback=156"]),
    ("lr 1e-2, no warmup", ["train.lr=0.01"]),
    ("lr 1e-2, warmup 3 epochs", ["train.lr=0.01", "train.warmup_epochs=3"]),
    ("loss mae (L1)", ["train.loss=mae"]),
    ("loss huber", ["train.loss=huber"]),
    ("40 epochs, patience 8, plateau schedule", ["train.epochs=40", "train.patience=8", "train.schedule=plateau"]),
    ("loss mae, 40 epochs, patience 8, plateau", ["train.loss=mae", "train.epochs=40", "train.patience=8", "train.schedule=plateau"]),
    ("the LSTM space's settings: loss mae, lookback 156, 40 epochs, patience 8, plateau",
     ["train.loss=mae", "data.lookback=156", "train.epochs=40", "train.patience=8", "train.schedule=plateau"]),
    ("no early stopping (patience 0, all 20 epochs)", ["train.patience=0"]),
    ("seed 1", ["train.seed=1"]),
    ("seed 2", ["train.seed=2"]),
]


def run_ablation(args, run: DatasetRun) -> None:
    """Each variant trained once by ``run_trial`` (no search, no Ray, one thread), its best
    epoch's checkpoint scored on the common test targets."""
    import torch

    from search.driver.prepare import prepare
    from search.results.forecaster import EnsembleForecaster, unpack
    from search.worker.train import run_trial

    torch.set_num_threads(1)
    seasonal_mae = run.naive.get("baseline_seasonal_naive_test_mae")
    rows = []
    wanted = [w.strip() for w in args.variants.split(",")] if args.variants else None
    for label, changes in ABLATIONS:
        if wanted and changes and not any(w in label for w in wanted):
            continue
        prep = prepare(dataset_spaces("co2")["lstm"], [*run.overrides, *ABLATION_BASE, *changes])
        results: list[dict] = []
        started = time.perf_counter()
        run_trial(prep.compiled.trial_config({}), prep.series, prep.compiled.metric, results.append, with_checkpoint=True)
        wall = time.perf_counter() - started
        final = results[-1]
        if final.get("error"):
            rows.append([label, "-", "-", "-", "-", "-", f"{wall:.1f}", final["error"][:60]])
            continue
        model = unpack(final["checkpoint"])
        one = EnsembleForecaster(model.model, model.payload, members=[model], trials=[0])
        m = score_members(label, one, prep.series, prep.compiled.space.data, run.targets)["test"]
        ratio = f"{m['mae'] / seasonal_mae:.2f}x" if seasonal_mae else "-"
        rows.append([label, f"{final['best_objective']:.3f}", f"{m['mae']:.3f}", f"{m['rmse']:.3f}", ratio,
                     f"{final['best_epoch']}/{final['epochs_run']}", f"{wall:.1f}", ""])
        print(f"   done: {label}", flush=True)
    print()
    print(_common.table(["variant", "val RMSE", "test MAE", "test RMSE", "MAE / seasonal naive", "best/run epochs", "wall s", "error"], rows))


# -- the table and the target


def fmt(value, spec: str = ".3f") -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:{spec}}"


def target_line(dataset: str, ours: list[dict], others: list[dict], peer_note: str) -> str:
    """The target in one line: the best of this project's rows (families and ensemble, by test
    MAE) against the best of ``others`` (every peer and baseline row): the ratio, met or missed
    against 0.90, and the wall seconds against the slowest deep peer's (rows of kind peer) when
    one ran; else ``peer_note`` says why none did and only the baselines are compared."""
    scored = [r for r in ours if r["mae"] is not None]
    refs = [r for r in others if r["mae"] is not None]
    if not scored or not refs:
        why = "no family of this project finished a trial" if not scored else "no peer or baseline was scored"
        return f"   target ({dataset}): not checked ({why})"
    best, ref = min(scored, key=lambda r: r["mae"]), min(refs, key=lambda r: r["mae"])
    ratio = best["mae"] / ref["mae"]
    quality = ratio <= TARGET_RATIO
    line = (f"   target ({dataset}): best of this project ({best['method'].removeprefix('this project: ')}) test MAE {best['mae']:.3f} "
            f"vs the best peer or baseline ({ref['method']}) {ref['mae']:.3f}: {ratio:.2f}x "
            f"({abs(1 - ratio) * 100:.0f} % {'below' if ratio < 1 else 'above'}; needs <= {TARGET_RATIO:.2f}x): {'met' if quality else 'missed'}")
    deep = [r for r in refs if r["kind"] == "peer"]
    if not deep:
        return line + f"; {peer_note}: compared with the baselines only, wall not checked"
    slowest = max(deep, key=lambda r: r["wall"])
    fast = best["wall"] <= slowest["wall"]
    return line + (f"; wall {best['wall']:.0f} s vs the slowest deep peer ({slowest['method']}) {slowest['wall']:.0f} s: "
                   f"{'within' if fast else 'over'}; overall {'MET' if quality and fast else 'MISSED'}")


def gap(row: dict) -> str:
    """The validation -> test gap: test MAE / validation MAE (NeuralForecast: its best trial's
    validation loss, MAE on its own validation windows); "-" without both."""
    if row["mae"] is None or not row.get("val_mae"):
        return "-"
    return f"{row['mae'] / row['val_mae']:.2f}x"


def served_line(dataset: str, ours: list[dict], others: list[dict]) -> str | None:
    """The issue's target in one line: the served forecaster's test MAE against the best
    classical baseline's (naive, seasonal naive, MSTL, AutoETS, AutoTheta): <= 0.90x met,
    <= 1.00x never worse, above: worse."""
    served = [r for r in ours if r.get("served") and r["mae"] is not None]
    classical = [r for r in others if r["kind"] == "baseline" and r["mae"] is not None]
    if not served or not classical:
        return None
    best, ref = min(served, key=lambda r: r["mae"]), min(classical, key=lambda r: r["mae"])
    ratio = best["mae"] / ref["mae"]
    # the same model served and recorded differs in the last float digits (scaled and back)
    verdict = "met" if ratio <= TARGET_RATIO else "missed, never worse" if ratio <= 1.0 + AGREE_RTOL else "missed, WORSE"
    return (f"   served ({dataset}): {best['trials']}: test MAE {best['mae']:.3f} vs the best classical baseline ({ref['method']}) "
            f"{ref['mae']:.3f}: {ratio:.2f}x (needs <= {TARGET_RATIO:.2f}x, never above 1.00x): {verdict}")


def peer_note(peers: list[str], nf_version: str | None) -> str:
    """Why no deep peer was scored, for the target line."""
    if not peers:
        return "no deep peer asked (--peers none)"
    return "NeuralForecast not installed" if nf_version is None else "no deep peer finished"


def print_results(run: DatasetRun, rows: list[dict], target: str) -> None:
    """The dataset's table, its test points and its target line."""
    seasonal = run.naive.get("baseline_seasonal_naive_test_mae")
    print()
    print(_common.table(
        ["method", "test MAE", "test RMSE", "MAE / seasonal naive", "val MAE", "test / val", "cov 80 %", "cov 95 %", "interval score",
         "wall s", "CPU s", "trials", "notes"],
        [[r["method"], fmt(r["mae"]), fmt(r["rmse"]), fmt(r["mae"] / seasonal, ".2f") + "x" if seasonal and r["mae"] is not None else "-",
          fmt(r["val_mae"]), gap(r), *(fmt((r.get("intervals") or {}).get(k), spec) for k, spec in (("coverage_80", ".1f"), ("coverage_95", ".1f"), ("interval_score", ".3f"))),
          fmt(r["wall"], ".1f"), fmt(r["cpu"], ".0f"), r["trials"], r["note"]] for r in rows],
    ))
    o = run.targets.origins
    print(f"\n   test points per method: {len(o)} origins x {run.horizon} steps = {run.targets.points} (origins rows {o[0]}..{o[-1]}, "
          f"every {run.step}); MAE/RMSE in {run.prep.series.columns[0]}'s own units")
    print(target)


# -- one dataset


@dataclass
class DatasetRun:
    """What every method of one dataset shares: the loaded series (``prep``), the horizon, the
    step between scored origins, the spaces' overrides, the test targets, the naive attrs."""

    name: str
    prep: object  # search.driver.prepare.Prepared
    horizon: int
    step: int
    overrides: list[str]
    targets: Targets
    naive: dict


def prepare_run(dataset: str, spaces: dict[str, Path], args) -> tuple[DatasetRun, list[dict]]:
    """The dataset loaded by the project's loader on its first selected space (its first shipped
    one when none is selected), its test targets and the naive rows."""
    from search.driver.prepare import prepare

    horizon = dataset_horizon(dataset, args.horizon)
    step = args.step or horizon
    overrides = space_overrides(horizon, step, args.stat_seconds, args.epochs)
    space = next(iter(spaces.values())) if spaces else next(iter(dataset_spaces(dataset).values()))
    prep = prepare(space, overrides)
    targets = test_targets(prep.series, horizon, step)
    rows, naive = naive_rows(prep, targets, step)
    return DatasetRun(dataset, prep, horizon, step, overrides, targets, naive), rows


def print_dataset(run: DatasetRun, spaces: dict[str, Path], skipped: list[str]) -> None:
    series = run.prep.series
    (a, b), end = series.part("val"), len(series.values)
    print(f"\n-- {run.name}: {series.info['name']}, {end} rows, split {series.info['split_rows']} (train [0,{a}), val [{a},{b}), test [{b},{end})); "
          f"horizon {run.horizon}; test {describe(run.targets.origins)} every {run.step} ({len(run.targets.origins)} x {run.horizon} points); "
          f"seasons {run.naive['seasons'] or 'none'}, seasonal naive season {run.naive.get('seasonal_naive_season') or '-'} (best on validation)")
    shown = ", ".join(str(p.relative_to(REPO)) for p in spaces.values()) or "none (--families)"
    print(f"   spaces: {shown}{f'; not shipped for {run.name}: ' + ', '.join(skipped) if skipped else ''}", flush=True)


def run_dataset(dataset: str, args, families: list[str] | None, peers: list[str], nf_version: str | None, folder: Path) -> str:
    """Every method on one dataset: the table printed; returns the target line."""
    spaces = dataset_spaces(dataset, families)
    skipped = [f for f in families or () if f not in spaces]
    run, rows = prepare_run(dataset, spaces, args)
    print_dataset(run, spaces, skipped)
    ours = []
    for family, space in spaces.items():
        row = run_family(family, space, run, args, folder)
        print(f"   done: {row['method']}: MAE {fmt(row['mae'])}, {row['wall']:.0f} s, {row['trials']}; best params {row.get('params')}", flush=True)
        ours.append(row)
    attrs, source = stat_attrs(run.prep, run.step, run.naive["seasons"], args.stat_seconds, ours)
    rows += stat_rows(attrs, run.naive["seasons"], source)
    ensemble = run_ensemble(ours, args.ensemble_k, run.targets)
    ours += [ensemble] if ensemble else []
    ours += run_served(ours)
    theirs = run_peers(peers, args, run, nf_version)
    target = target_line(dataset, ours, rows + theirs, peer_note(peers, nf_version))
    line = served_line(dataset, ours, rows)
    target = target + ("\n" + line if line else "")
    print_results(run, rows + ours + theirs, target)
    return target


# -- the command


def parse_args() -> tuple[argparse.Namespace, list[str], list[str] | None, list[str]]:
    """The arguments, the datasets, the families (None: every shipped one) and the peers."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="co2", choices=[*DATASETS, "all"], help="shipped forecasting dataset(s) (default co2)")
    parser.add_argument("--trials", type=int, default=6, help="trials per method (default 6)")
    parser.add_argument("--horizon", type=int, help=f"steps forecast per window (default: {CO2_HORIZON} for co2, the space's own for the others)")
    parser.add_argument("--step", type=int, help="rows between scored test origins: the horizon (default: non-overlapping windows) or 1 (every origin)")
    parser.add_argument("--epochs", type=int, help="override train.epochs of this project's spaces (default: the spaces' own)")
    parser.add_argument("--families", help="this project's families to run among each dataset's shipped spaces, or none (default: all shipped)")
    parser.add_argument("--peers", default=",".join(PEERS), help="NeuralForecast Auto models: lstm,gru,tcn or none (default all three)")
    parser.add_argument("--peer-max-steps", type=int, help="fix NeuralForecast's max_steps (smoke tests only; default: its search space)")
    parser.add_argument("--ensemble-k", type=int, default=5, help="members of the best family's ensemble (default 5, the default checkpoints.keep)")
    parser.add_argument("--stat-seconds", type=float, default=1800.0, help="time bound of the statistical baselines (data.stat_baselines_seconds; default 1800)")
    parser.add_argument("--workers", type=int, default=2, help="concurrent trials of this project (default 2)")
    parser.add_argument("--num-cpus", type=int, default=2, help="CPUs of the local Ray runtime (default 2)")
    parser.add_argument("--seed", type=int, default=0, help="NeuralForecast's TPE sampler seed (default 0)")
    parser.add_argument("--keep", type=Path, help="keep this project's studies in this folder (SQLite files and artifacts; default: a temporary folder, removed)")
    parser.add_argument("--ablate", action="store_true", help="instead (co2 only): fixed LSTM variants, one change at a time, no search")
    parser.add_argument("--variants", help="with --ablate: only the variants whose label contains one of these comma-separated words (the base always runs)")
    args = parser.parse_args()
    datasets = list(DATASETS) if args.dataset == "all" else [args.dataset]
    families = None if args.families is None else [f for f in args.families.split(",") if f and f != "none"]
    peers = [p for p in args.peers.split(",") if p and p != "none"]
    for f in families or ():
        if f not in FAMILIES:
            parser.error(f"--families: unknown family {f!r} (choose from {', '.join(FAMILIES)}, or none)")
    for p in peers:
        if p not in PEERS:
            parser.error(f"--peers: unknown peer {p!r} (choose from {', '.join(PEERS)}, or none)")
    if args.trials < 1 or args.ensemble_k < 1:
        parser.error("--trials and --ensemble-k must be at least 1")
    for dataset in datasets:
        horizon = dataset_horizon(dataset, args.horizon)
        if args.step not in (None, 1, horizon):
            parser.error(f"--step {args.step}: {dataset}'s studies score every origin (1) or every horizon-th ({horizon}); choose one")
    if args.ablate and datasets != ["co2"]:
        parser.error("--ablate runs the co2 LSTM variants: use it with --dataset co2")
    return args, datasets, families, peers


def main() -> None:
    args, datasets, families, peers = parse_args()
    nf_version = nf_available()
    _common.header(
        "bench_peers: this project's searches and ensemble vs NeuralForecast Auto models vs statistical and naive baselines",
        f"datasets {', '.join(datasets)}; budget: {args.trials} trials per method; this project: epochs {args.epochs or 'as in each space'}, "
        f"{args.workers} workers x 1 thread, ensemble of {args.ensemble_k}; NeuralForecast {nf_version or 'not installed'}"
        f"{f', max_steps fixed at {args.peer_max_steps}' if args.peer_max_steps else ', default search spaces'}; "
        f"statistical baselines within {args.stat_seconds:g} s; torch threads {__import__('torch').get_num_threads()}",
    )
    if args.ablate:
        run, _ = prepare_run("co2", dataset_spaces("co2", ["lstm"]), args)
        print(f"   naive test MAE {run.naive['baseline_naive_test_mae']:.3f}, seasonal naive {run.naive.get('baseline_seasonal_naive_test_mae', math.nan):.3f}")
        run_ablation(args, run)
        _common.footer()
        return
    searching = any(dataset_spaces(d, families) for d in datasets)
    if searching:
        started = time.perf_counter()
        _common.start_ray(args.num_cpus)
        print(f"   Ray runtime started in {time.perf_counter() - started:.1f} s (not counted in the families' wall seconds)", flush=True)
    try:
        folder = args.keep or _common.scratch_folder("bench-peers-")
        folder.mkdir(parents=True, exist_ok=True)
        lines = [run_dataset(d, args, families, peers, nf_version, folder) for d in datasets]
    finally:
        if searching:
            import ray

            ray.shutdown()
    if len(lines) > 1:
        print("\n== targets")
        print("\n".join(lines))
    _common.footer()


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    os.environ.setdefault("PYTHONWARNINGS", "ignore")
    main()
