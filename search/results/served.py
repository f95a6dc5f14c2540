"""The forecaster a study serves: the best on validation of its trials, its top-K ensembles,
its statistical baselines and combinations of them.

Candidates, each scored by the study's metric on the validation targets every trial was
scored on:

- every trial that kept a checkpoint, and the mean of the best K of them (K = 2 .. all kept);
- each statistical baseline the study recorded (MSTL, AutoETS, AutoTheta: their forecasts of
  the same windows, ``search.worker.stat_forecasts``), the study's seasonal naive and the naive
  (the last value: the answer for a series that walks at random);
- the best trial and the best ensemble, each combined with those baselines, and the baselines
  combined among themselves (a classical combination, as the M4 competition's best simple
  entries were), each group also as its simple mean (the "forecast combination puzzle": equal
  weights often beat fitted ones out of sample, and nothing is fitted on validation); fitted
  weights are fitted on the validation targets (``search.results.combination``: non-negative,
  summing to 1, a member under 1% dropped). A combination's validation score is cross-fitted: each half of the
  validation windows (in time order) is forecast with the weights fitted on the other half,
  so fitting its weights on the same targets does not give it an edge over its members.

The best on validation is served (ties: the simpler, listed first), so a network that loses to
MSTL on validation is never served alone; but a lead on validation must be significant where
it overrules the default (``edge_test``: the Diebold-Mariano test, one-sided, at
``EDGE_ALPHA``), so noise in a short validation part does not choose. The classical answer is
the statistical model (MSTL, AutoETS, AutoTheta) best on validation unless another classical
candidate beats it so (a seasonal naive that won the one validation window of a short series
is not served over it), and a network alone (a trial or an ensemble) is served over the
classical answer only where its edge is significant too. A combination of a network with the
baselines is not tested: it already hedges. ``record`` keeps the choice in the study user attr
``served``: its members with their weights, and its validation and test metrics beside each
member's, which ``search best``, ``search predict``, ``search.load_best`` and the report read,
and its prediction intervals (``intervals``: split-conformal, calibrated on its own validation
forecasts and scored on its test targets, ``search.results.served_intervals``).
A study made before this existed, a multi-objective study or a task other than forecasting
has no ``served`` attr: its best trial is served, as before.
"""

from __future__ import annotations

from typing import Any

import math

import numpy as np
import optuna
import torch
from scipy.stats import t as student_t

from search import pareto
from search.errors import SearchError
from search.results import served_intervals
from search.results.combination import simplex_weights
from search.results.served_intervals import target_floor
from search.results.served_forecaster import ATTR, FORMAT, recorded  # noqa: F401 - recorded: read here too
from search.study_attrs import flat, write
from search.worker import stat_forecasts, uncertainty
from search.worker.baselines import _predictions
from search.worker.origins import eval_step

STAT_LABELS = {"mstl": "MSTL", "autoets": "AutoETS", "autotheta": "AutoTheta"}
SHOWN = 8  # candidates kept in the attr for the tables (best first)
EDGE_ALPHA = 0.10  # a network is served over the classical answer only where it is better on validation at this level


def label(members: list[dict[str, Any]]) -> str:
    """``0.62 x trial #4 + 0.38 x MSTL``; one member: its name alone."""
    if len(members) == 1:
        return members[0]["name"]
    return " + ".join(f"{m['weight']:.2f} x {m['name']}" for m in members)


def _to_scaled(series, raw: np.ndarray, ids) -> torch.Tensor:
    """Forecasts in the data's own units (N, H, T) -> the scaled units the trials forecast in."""
    raw = torch.as_tensor(raw, dtype=torch.float64)
    zero = series.unscale_targets(torch.zeros_like(raw), ids)
    one = series.unscale_targets(torch.ones_like(raw), ids)
    return (raw - zero) / (one - zero)


def _seasonal_naive(series, data: dict, part: str, season: int, target: torch.Tensor) -> torch.Tensor | None:
    """The study's seasonal naive on the part's scored windows (scaled), or None where its
    windows are not the trials' (a season longer than the history before the part)."""
    horizon = int(data["horizon"])
    lookback = season * ((horizon - 1) // season + 1)
    x, y = series.windows(part, lookback, horizon, eval_step(data))
    if y.shape != target.shape or not torch.allclose(y.double(), target.double()):
        return None
    return _predictions(x, horizon, series.n_targets, season, lookback).double()


def candidates(forecasts: dict[str, dict[str, torch.Tensor]], names: dict[str, dict], truth: torch.Tensor, score, metric: str) -> list[dict[str, Any]]:
    """Every candidate scored: ``forecasts`` {member key: {part: scaled (N, H, T)}}, ``names``
    {member key: its description}, ``truth`` the scaled validation targets the weights are
    fitted on, ``score(pred, part)`` -> metrics. Best on validation first. Each keeps its
    scaled ``forecasts`` {part: (N, H, T)}, the validation ones those it was scored on (a
    combination's cross-fitted), which its intervals are calibrated from."""
    out = []

    def add(weights: dict[str, float], kind: str, crossed: torch.Tensor | None = None) -> None:
        keys = [k for k, w in weights.items() if w > 0]
        members = [{**names[k], "weight": float(weights[k])} for k in keys]
        preds = {part: sum(weights[k] * forecasts[k][part] for k in keys) for part in ("val", "test")}
        if crossed is not None and len(keys) > 1:  # scored where its weights were not fitted
            preds["val"] = crossed
        if any(c["label"] == label(members) for c in out):  # a combination that kept one member
            return
        metrics = {part: score(preds[part], part) for part in preds}
        out.append({"kind": kind if len(keys) > 1 or kind != "combination" else names[keys[0]]["kind"],
                    "label": label(members), "members": members, "val": metrics["val"], "test": metrics["test"],
                    "forecasts": preds})  # fmt: skip

    networks = [k for k in forecasts if names[k]["kind"] in ("trial", "ensemble")]
    stats = [k for k in forecasts if k not in networks]
    for key in networks + stats:
        add({key: 1.0}, names[key]["kind"])
    by_val = {k: c["val"][metric] for k, c in zip(networks + stats, out)}
    bases = [min((k for k in networks if names[k]["kind"] == kind), key=by_val.get, default=None) for kind in ("trial", "ensemble")]
    groups = [[base, *stats] for base in bases if base is not None] + [stats]  # the last: the classical models alone
    for keys in groups:
        if len(keys) < 2:
            continue
        val = np.stack([forecasts[k]["val"].reshape(-1).numpy() for k in keys])
        target = truth.reshape(-1).numpy()
        weights = simplex_weights(val, target)
        add(dict(zip(keys, weights)), "combination", _cross_fitted(val, target, truth.shape))
        add(dict.fromkeys(keys, 1.0 / len(keys)), "combination")  # the simple mean: nothing fitted
    models = [c for c in out if len(c["members"]) == 1 and c["members"][0]["kind"] == "stat"]
    prior = min(models, key=lambda c: c["val"][metric], default=None)  # the classical answer by default
    for c in out:
        c["prior"] = c is prior
    order = sorted(range(len(out)), key=lambda i: (out[i]["val"][metric], i))
    return [out[i] for i in order]


def is_network(candidate: dict[str, Any]) -> bool:
    """Whether a candidate has a trial among its members (else it is the classical answer)."""
    return any(m["kind"] in ("trial", "ensemble") for m in candidate["members"])


def edge_test(challenger: torch.Tensor, incumbent: torch.Tensor, truth: torch.Tensor, metric: str, lag: int) -> tuple[float, float]:
    """Is ``challenger`` significantly better than ``incumbent`` on the validation windows?
    The Diebold-Mariano test: each window's loss difference (squared errors for rmse/mse/loss,
    else absolute), its mean over the long-run variance (Newey-West, ``lag`` windows: the
    overlap of consecutive windows), one-sided, with Harvey, Leybourne and Newbold's
    small-sample correction (the statistic times ``sqrt((n + 1 - 2h + h(h - 1) / n) / n)``,
    ``h = lag + 1``, against Student's t with ``n - 1`` degrees of freedom): a few overlapping
    windows are about one observation, and the uncorrected test calls their noise an edge.
    Returns (z, p); p small: the edge is real; (0, 0.5) where the windows are too few to tell
    (under ``2h``: their targets span less than two stretches of independent errors)."""
    power = 2 if metric in ("rmse", "mse", "loss") else 1
    d = ((challenger - truth).abs() ** power - (incumbent - truth).abs() ** power).reshape(len(truth), -1).mean(1).double().numpy()
    n, h = len(d), int(lag) + 1
    correction = (n + 1 - 2 * h + h * (h - 1) / max(n, 1)) / max(n, 1)
    if n < 2 * h or correction <= 0:  # under two horizons of origins: one stretch of errors, no test
        return 0.0, 0.5
    centred = d - d.mean()
    variance = float(centred @ centred) / n
    for k in range(1, min(lag, n - 1) + 1):
        variance += 2 * (1 - k / (lag + 1)) * float(centred[k:] @ centred[:-k]) / n
    if variance <= 0:
        return (-math.inf if d.mean() < 0 else math.inf), (0.0 if d.mean() < 0 else 1.0)
    z = float(d.mean() / math.sqrt(variance / n)) * math.sqrt(correction)
    return z, float(student_t.cdf(z, n - 1))  # P(T <= z)


def gated(scored: list[dict[str, Any]], truth: torch.Tensor, metric: str, lag: int) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The candidate to serve of ``scored`` (best on validation first) and the record of the
    decisive edge test (None where none was needed).

    The classical answer is the statistical model (MSTL, AutoETS, AutoTheta) best on
    validation (the candidate marked ``prior``) unless another classical candidate (the
    naive, a seasonal naive, a classical combination) is better than it on validation by
    ``edge_test`` at ``EDGE_ALPHA``: a validation part of a few windows cannot tell those
    apart, and picking the best of them on it serves noise (a seasonal naive that won the one
    validation window of a short series). Networks alone (a trial, an ensemble) are served over
    the classical answer only where they too are better on validation at ``EDGE_ALPHA``. A
    combination that holds classical members is not tested: its weights, fitted on other
    windows than it is scored on, already lean on them as far as validation supports the
    network. ``lag``: consecutive windows sharing targets."""
    best = scored[0]
    classical = next((c for c in scored if not is_network(c)), None)
    prior = next((c for c in scored if c.get("prior")), None)
    if any(m["kind"] not in ("trial", "ensemble") for m in best["members"]) and is_network(best):
        return best, None
    record = None
    if prior is not None and classical is not None and classical is not prior:
        z, p = edge_test(classical["forecasts"]["val"], prior["forecasts"]["val"], truth, metric, lag)
        kept = classical if p <= EDGE_ALPHA else prior
        record = {"challenger": classical["label"], "classical": prior["label"], "z": round(z, 3), "p": round(p, 4), "alpha": EDGE_ALPHA, "served": kept["label"]}
        classical = kept
    if not is_network(best) or classical is None:
        return (classical or best), (record if record and record["served"] != record["challenger"] else None)
    z, p = edge_test(best["forecasts"]["val"], classical["forecasts"]["val"], truth, metric, lag)
    served = best if p <= EDGE_ALPHA else classical
    edge = {"challenger": best["label"], "classical": classical["label"], "z": round(z, 3), "p": round(p, 4), "alpha": EDGE_ALPHA, "served": served["label"]}
    if record is not None and record["served"] != record["challenger"]:
        edge["prior"] = {k: record[k] for k in ("challenger", "z", "p")}  # the classical candidate the prior was kept over
    return served, edge


def _cross_fitted(val: np.ndarray, target: np.ndarray, shape: torch.Size) -> torch.Tensor | None:
    """The combination's validation forecasts (``shape``), each half's made with the weights
    fitted on the other half (in time order): its validation score is not an in-sample one,
    so it competes fairly with the members it is made of. None with too few windows."""
    half = shape[0] // 2 * int(np.prod(shape[1:]))
    if shape[0] < 4:
        return None
    first, second = simplex_weights(val[:, half:], target[half:]), simplex_weights(val[:, :half], target[:half])
    crossed = np.concatenate([first @ val[:, :half], second @ val[:, half:]])
    return torch.from_numpy(crossed.reshape(shape))


def choose(study: optuna.Study, url: str, artifacts: str | None = None, space: str | None = None) -> dict[str, Any] | None:
    """The served forecaster of ``study`` (the ``served`` attr value), or None where there is
    nothing to choose from: not a single-objective forecasting study, no checkpoint."""
    found = scored_candidates(study, url, artifacts, space)
    if found is None:
        return None
    scored, context = found
    series, data, truth, ids, names, metric = (context[k] for k in ("series", "data", "truth", "ids", "names", "metric"))
    best, gate = gated(scored, truth["val"], metric, -(-(int(data["horizon"]) - 1) // eval_step(data)))
    singles = {c["members"][0]["name"]: c for c in scored if len(c["members"]) == 1}
    for member in best["members"]:  # each member's own figures beside the combination's
        member["val"], member["test"] = singles[member["name"]]["val"], singles[member["name"]]["test"]
    complete = len(study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)))
    bands = served_intervals.calibrated(series, data, best["forecasts"], truth, ids, uncertainty.series_scales(series))
    return {
        "format": FORMAT, "kind": best["kind"], "label": best["label"], "metric": metric, "members": best["members"],
        "val": best["val"], "test": best["test"], "complete": complete, "horizon": int(data["horizon"]), "edge": gate,
        "seasons": [int(s) for s in flat(study).get("seasons") or []],
        "candidates": [{"label": c["label"], "kind": c["kind"], "val": c["val"], "test": c["test"]} for c in scored[:SHOWN]],
        "baselines": {n: {"val": singles[n]["val"], "test": singles[n]["test"]} for n in (v["name"] for v in names.values() if v["kind"] in ("stat", "seasonal_naive"))},
        "floor": context["floor"],  # per target: its forecasts are not served below it (None: no floor)
        **({"intervals": bands} if bands is not None else {}),
    }  # fmt: skip


def scored_candidates(study: optuna.Study, url: str, artifacts: str | None = None, space: str | None = None) -> tuple[list[dict[str, Any]], dict[str, Any]] | None:
    """Every candidate of ``study`` scored (``candidates``: best on validation first, each with
    its scaled validation and test ``forecasts``) and what they were scored on: ``series``,
    ``data``, scaled ``truth`` and window series ``ids`` per part, member ``names``, ``metric``
    and each member's scaled ``forecasts``; None where there is nothing to choose from."""
    from search.results import ensemble as ens
    from search.results.loading import load_ensemble

    if pareto.is_multi(study) or flat(study).get("task", "forecast") != "forecast":
        return None
    kept = [t for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)) if "checkpoint" in t.user_attrs and t.value is not None]
    if not kept:
        return None
    ensemble = load_ensemble(study, len(kept), url, artifacts)
    series, data = ens.study_data(study, space)
    metric = str(flat(study).get("metric", "rmse"))
    forecasts: dict[str, dict[str, torch.Tensor]] = {}
    names: dict[str, dict] = {}
    truth, ids = {}, {}
    for part in ("val", "test"):
        preds, y, ids[part] = ens.member_forecasts(ensemble, series, data, part)  # (K, N, H, T) scaled
        truth[part] = y.double()
        for i, trial in enumerate(ensemble.trials):
            forecasts.setdefault(f"t{trial}", {})[part] = preds[i].double()
            names[f"t{trial}"] = {"kind": "trial", "name": f"trial #{trial}", "trials": [trial]}
        for k in range(2, len(ensemble.trials) + 1):
            forecasts.setdefault(f"e{k}", {})[part] = preds[:k].double().mean(0)
            names[f"e{k}"] = {"kind": "ensemble", "name": f"ensemble of {k}", "trials": list(ensemble.trials[:k])}
    for name, parts in stat_forecasts.decode(flat(study).get(stat_forecasts.ATTR)).items():
        if name in STAT_LABELS and all(p in parts and parts[p].shape == tuple(truth[p].shape) and np.isfinite(parts[p]).all() for p in ("val", "test")):
            forecasts[name] = {p: _to_scaled(series, parts[p], ids[p]) for p in ("val", "test")}
            names[name] = {"kind": "stat", "name": STAT_LABELS[name], "model": name}
    season = flat(study).get("seasonal_naive_season")
    for key, m, name in [("naive", 1, "naive (last value)")] + ([("snaive", int(season), f"seasonal naive (s={season})")] if season and int(season) > 1 else []):
        snaive = {p: _seasonal_naive(series, data, p, m, truth[p]) for p in ("val", "test")}
        if all(v is not None for v in snaive.values()):
            forecasts[key] = snaive
            names[key] = {"kind": "seasonal_naive", "name": name, "season": m}
    floor = target_floor(series)
    forecasts = {key: {p: _floored(series, parts[p], ids[p], floor) for p in parts} for key, parts in forecasts.items()}
    if metric not in series.score(truth["val"][:1], truth["val"][:1], None if ids["val"] is None else ids["val"][:1]):
        metric = "rmse"
    scored = candidates(forecasts, names, truth["val"], lambda pred, part: series.score(pred, truth[part], ids[part]), metric)
    return scored, {"series": series, "data": data, "truth": truth, "ids": ids, "names": names, "metric": metric, "forecasts": forecasts, "floor": floor}


def _floored(series, scaled: torch.Tensor, ids, floor: list[float | None]) -> torch.Tensor:
    """A member's scaled forecasts (N, H, T), none below its target's ``floor`` (in the data's
    units, ``served_intervals.target_floor``: zero for a quantity never negative before the
    test part): a network or AutoETS forecasting a count below zero is raised to it, so
    every candidate, and every combination of them, forecasts what the quantity can be."""
    if all(f is None for f in floor) or scaled.numel() == 0:
        return scaled
    low = torch.tensor([-math.inf if f is None else float(f) for f in floor], dtype=torch.float64).expand(scaled.shape).clone()
    finite = torch.isfinite(low)
    low[finite] = _to_scaled(series, low.masked_fill(~finite, 0.0).numpy(), ids)[finite]
    return torch.maximum(scaled, low)


def record(study: optuna.Study, url: str, artifacts: str | None = None, space: str | None = None) -> dict[str, Any] | None:
    """``choose`` and keep it in the study's ``served`` attr; None (nothing recorded) where
    there is nothing to choose from."""
    value = choose(study, url, artifacts, space)
    if value is not None:
        write(study, {ATTR: value})
    return value


def record_quietly(study: optuna.Study, url: str, artifacts: str | None, space: str | None) -> tuple[dict | None, str]:
    """``record`` after a search: (the served forecaster, "") or (None, why not), never raising
    for a study that cannot be scored now (its data moved, a checkpoint unreadable)."""
    try:
        return record(study, url, artifacts, space), ""
    except SearchError as exc:
        return None, str(exc)
