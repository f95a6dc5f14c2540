"""A top-K ensemble of a study, scored where its trials are scored: ``search ensemble``.

The ensemble (``search.results.loading.load_ensemble``) is the mean of the forecasts of the
study's K best trials that kept a checkpoint, in the data's own units. ``evaluate`` scores it
on the validation and test targets every trial of the study was scored on: each member cuts
the windows of those targets with its own lookback from the same rows, and forecasts them with
its own reference; the targets are the same for every lookback (``search.worker.origins``), and
the loaded data must reproduce the ones the study recorded (``targets_val``, ``targets_test``).

The dataset is read with the study's own data settings (its recorded space content); the space
file only says where the dataset lies, as its path is recorded relative to the space file.
``record`` writes the result to the study's user attrs: ``ensemble_k``, ``ensemble_members``
(trial numbers, best first) and ``ensemble_val_<metric>``, ``ensemble_test_<metric>`` with the
trials' metric names.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import torch

from search.errors import DataError, UsageError
from search.results.forecaster import EnsembleForecaster
from search.space import Categorical
from search.study_attrs import flat, write
from search.worker import ref_columns
from search.worker.data import SeriesData
from search.worker.origins import eval_step
from search.worker.tasks import load_data

CONTENT_ATTR = "space_content"  # the study's compiled space, as the driver records it
PREFIX = "ensemble_"


def space_file(study: optuna.Study, given: str | None) -> Path:
    """The space file the study was searched with: ``given`` (``--space``), else the recorded
    file name in the current folder or in ``spaces/``."""
    if given is not None:
        path = Path(given)
        if not path.is_file():
            raise UsageError(f"--space {given}: no such file")
        return path
    name = flat(study).get("space_file")
    for path in (Path(str(name)), Path("spaces") / str(name)) if name else ():
        if path.is_file():
            return path
    raise UsageError(
        f"study {study.study_name!r} was searched with space file {name or '(not recorded)'}, not found here or in spaces/; "
        "give it with --space FILE (its dataset path is read relative to it)"
    )


def study_data(study: optuna.Study, space: str | Path | None = None) -> tuple[SeriesData, dict[str, Any]]:
    """The study's dataset, loaded with its recorded data settings, and those settings. It must
    give the validation and test targets the study recorded, or nothing is scored."""
    content = flat(study).get(CONTENT_ATTR)
    if not isinstance(content, str):
        raise UsageError(f"study {study.study_name!r} records no space content (made by an older version); an ensemble cannot find its data")
    content = json.loads(content)
    data = dict(content["fixed"]["data"])
    distributions = content.get("distributions", {})
    searched = distributions.get("reference", {}).get("attributes", {}).get("choices", [])
    if "mstl" in searched or "seasonal" in searched:  # every trial was trained on data with every choice's reference columns (search.worker.load)
        data["reference"] = Categorical(tuple(searched))
    if data.get("time_features") == "auto":  # stored by a study made before auto was decided per study: then it meant calendar
        data["time_features"] = "calendar"
    if "time_features" in distributions:  # the columns of every choice; each member keeps its own
        data["time_features"] = Categorical(tuple(distributions["time_features"]["attributes"]["choices"]))
    path = space_file(study, None if space is None else str(space))
    data["path"] = str((path.resolve().parent / data["path"]).resolve())
    try:
        series = load_data(data, source=str(path))
    except DataError as exc:
        raise UsageError(f"the data of study {study.study_name!r} (dataset {data['path']}): {exc.problems[0]}") from None
    lags = (flat(study).get("known_future") or {}).get("seasonal_lags")
    if lags:  # reference seasonal's columns, of the season the study chose (search.driver.prepare)
        series.season = int(lags["season"])
        ref_columns.add_seasonal_lags(series, int(data["horizon"]))
    step = eval_step(data)
    for part in ("val", "test"):
        recorded = flat(study).get(f"targets_{part}")
        found = series.scored_targets(part, int(data["horizon"]), step)
        if recorded is not None and dict(recorded) != found:
            raise UsageError(
                f"{data['path']}: gives other {part} targets than study {study.study_name!r} was scored on "
                f"({found} against the recorded {dict(recorded)}); the dataset changed since the search"
            )
    return series, data


def _check_scaler(member, trial: int, series: SeriesData) -> None:
    """A member must have been scaled like the loaded data (its scaler is in its checkpoint)."""
    pairs = [(member.payload["offset"], series.offset), (member.payload["scale"], series.scale)]
    if series.series_offset is not None:
        pairs += [(member.payload.get("series_offset"), series.series_offset), (member.payload.get("series_scale"), series.series_scale)]
    for mine, loaded in pairs:
        if mine is None or np.shape(mine) != np.shape(loaded) or not np.allclose(mine, loaded, rtol=1e-5, atol=1e-8):
            raise UsageError(f"ensemble member trial #{trial} was scaled differently from the data loaded now; the dataset changed since the search")


@torch.no_grad()
def member_forecasts(ensemble: EnsembleForecaster, series: SeriesData, data: dict[str, Any], part: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """Each member's scaled forecasts (K, N, H, T) of the part's scored windows, the scaled
    targets (N, H, T) and each window's series (N,) or None."""
    horizon, step = int(data["horizon"]), eval_step(data)
    preds, target, ids = [], None, None
    for trial, member in zip(ensemble.trials, ensemble.members):
        _check_scaler(member, trial, series)
        own = series.for_trial(member.payload["data"])  # a searched time_features: the member's columns
        x, y = own.windows(part, member.lookback, horizon, step)  # the same targets for every lookback
        if target is not None and not torch.equal(y, target):
            raise UsageError(f"ensemble member trial #{trial} (lookback {member.lookback}) is scored on other {part} windows than trial #{ensemble.trials[0]}")
        target, ids = y, getattr(x, "series_index", None)
        preds.append(series.predict(member.wrapped(), x, "cpu"))  # (N, H, T) scaled
    return torch.stack(preds), target, ids


def evaluate(ensemble: EnsembleForecaster, series: SeriesData, data: dict[str, Any]) -> dict[str, dict[str, float]]:
    """The ensemble's metrics on the validation and test targets, named as the trials' are:
    {"val": {"rmse": ..., "mae": ..., "loss": ...}, "test": {...}}. The members share the
    study's scaler (checked), so the mean of their scaled forecasts is the scaled mean of their
    forecasts in the data's own units."""
    out = {}
    for part in ("val", "test"):
        preds, y, ids = member_forecasts(ensemble, series, data, part)
        out[part] = series.score(preds.mean(0), y, ids)
    return out


def attrs(ensemble: EnsembleForecaster, metrics: dict[str, dict[str, float]]) -> dict[str, Any]:
    """The study user attrs that record an evaluated ensemble."""
    out: dict[str, Any] = {f"{PREFIX}k": len(ensemble.members), f"{PREFIX}members": list(ensemble.trials)}
    for part, values in metrics.items():
        out.update({f"{PREFIX}{part}_{name}": float(value) for name, value in values.items()})
    return out


def record(study: optuna.Study, values: dict[str, Any]) -> None:
    """Write ``attrs`` to the study, replacing the ensemble recorded before (one per study)."""
    write(study, values)
