"""Read a study storage back: the tables behind ``search studies|trials|best|export|compare``.

Each command has a pure function here that returns plain data (lists of dicts, JSON-ready);
``search.results.printing`` lays it out as rich tables and ``search.results.export`` streams
``search export``. Nothing here changes a study, and a
SQLite URL that names a missing file is refused before anything opens it (``search.store``).
No Ray and no torch are imported here.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Iterable

import optuna
from optuna.trial import FrozenTrial, TrialState

import storage as storage_mod
from search import pareto
from search._format import clean, fmt  # noqa: F401 - clean, fmt: read from here too
from search.errors import NoResultError, StudyNotFoundError
from search.results.interval_summary import interval_summary
from search.results.served_lines import recorded_served
from search.study_attrs import flat

TEST_PREFIX = "test_"
# The statistical baselines a study may hold (search.worker.stat_baselines.STAT_MODELS).
STAT_LABELS = {"mstl": "MSTL", "autoets": "AutoETS", "autotheta": "AutoTheta"}
STAT_RUNNING = "stat_baselines_running"  # the labels still running beside the trials (search.driver.stat_runs)
# Test metrics in this order first, then any other test_* attr alphabetically.
TEST_ORDER = ("rmse", "mse", "mae", "mape", "smape", "accuracy", "perplexity", "cross_entropy", "bits_per_char", "loss")


# -- opening


def study_names(storage: optuna.storages.BaseStorage) -> list[str]:
    return sorted(s.study_name for s in storage.get_all_studies())


def load(storage: optuna.storages.BaseStorage, name: str, url: str) -> optuna.Study:
    """The study ``name``; StudyNotFoundError listing the storage's studies otherwise."""
    names = study_names(storage)
    if name not in names:
        listed = ", ".join(names) if names else "none (run a search first)"
        raise StudyNotFoundError(f"no study {name!r} in {storage_mod.mask_url(url)}; studies there: {listed}")
    return optuna.load_study(study_name=name, storage=storage)


# -- small helpers


def duration_seconds(trial: FrozenTrial, now: dt.datetime | None = None) -> float | None:
    """Wall seconds from start to end; for a running trial, until now."""
    if trial.datetime_start is None:
        return None
    end = trial.datetime_complete
    if end is None:
        if trial.state != TrialState.RUNNING:
            return None
        end = now or dt.datetime.now()
    return (end - trial.datetime_start).total_seconds()


def test_metrics(trial: FrozenTrial) -> dict[str, Any]:
    """The trial's test_* user attrs as {metric: value}, in TEST_ORDER."""
    found = {k[len(TEST_PREFIX) :]: v for k, v in trial.user_attrs.items() if k.startswith(TEST_PREFIX)}
    ordered = [m for m in TEST_ORDER if m in found] + sorted(m for m in found if m not in TEST_ORDER)
    return {m: clean(found[m]) for m in ordered}


def best_or_none(study: optuna.Study) -> FrozenTrial | None:
    """The best trial; of a multi-objective study, the lead trial of its Pareto front
    (``search.pareto.lead``: the front's best by the first objective)."""
    return pareto.lead(study)


def value_of(trial: FrozenTrial) -> Any:
    """A trial's value, JSON-safe; a multi-objective trial's values as a list."""
    return clean(trial.value) if trial.values and len(trial.values) == 1 else clean(trial.values)


def counts(trials: Iterable[FrozenTrial]) -> dict[str, int]:
    out = {s.name.lower(): 0 for s in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL, TrialState.RUNNING, TrialState.WAITING)}
    for t in trials:
        out[t.state.name.lower()] += 1
    return out


def last_activity(trials: Iterable[FrozenTrial]) -> dt.datetime | None:
    times = [t.datetime_complete or t.datetime_start for t in trials]
    times = [t for t in times if t is not None]
    return max(times) if times else None


def epochs(trial: FrozenTrial) -> int | None:
    run = trial.user_attrs.get("epochs_run")
    if run is not None:
        return int(run)
    return len(trial.intermediate_values) or None


def metric_name(study: optuna.Study) -> str:
    """The metric of the study's (first) objective: the one its intermediate values hold."""
    return str(flat(study).get("metric", "value"))


def objective_label(study: optuna.Study) -> str:
    """``rmse``; for a multi-objective study every metric: ``mae, n_params``."""
    return ", ".join(pareto.metric_names(study)) if pareto.is_multi(study) else metric_name(study)


# -- data


def list_studies(storage: optuna.storages.BaseStorage) -> list[dict[str, Any]]:
    """One row per study: name, family, metric, direction, state counts, best value, last activity.
    Counts and last activity come from one grouped query and the best trial from Optuna's own
    query, so no trial's params or intermediate values are read."""
    rows = []
    for name in study_names(storage):
        study = optuna.load_study(study_name=name, storage=storage)
        by_state, last = storage_mod.study_summary(study._storage, study._study_id)
        best = best_or_none(study)
        rows.append(
            {
                "study": name,
                "family": flat(study).get("family"),
                "metric": objective_label(study) if pareto.is_multi(study) else flat(study).get("metric"),
                "direction": "/".join(d.name.lower() for d in study.directions),
                **state_counts(by_state),
                "trials": sum(by_state.values()),
                "best_value": value_of(best) if best else None,
                "best_trial": best.number if best else None,
                "last_activity": last,
            }
        )
    return rows


def state_counts(by_state: dict[TrialState, int]) -> dict[str, int]:
    """``counts`` from {TrialState: n} (``storage.study_summary``)."""
    out = counts(())
    for state, n in by_state.items():
        out[state.name.lower()] += n
    return out


def trial_count(study: optuna.Study) -> int:
    return sum(storage_mod.study_summary(study._storage, study._study_id)[0].values())


def trial_rows(study: optuna.Study, offset: int = 0, limit: int | None = None) -> list[dict[str, Any]]:
    """One row per trial: number, state, value, params, epochs, seconds, node; ``offset`` and
    ``limit`` page through the trials in number order. Intermediate values are not read: a
    trial's epochs are its ``epochs_run`` attr, else its count of intermediate values."""
    now = dt.datetime.now()
    trials = storage_mod.read_trials(study._storage, study._study_id, offset=offset, limit=limit, intermediate_values=False)
    unknown = [t._trial_id for t in trials if t.user_attrs.get("epochs_run") is None]
    reported = storage_mod.intermediate_counts(study._storage, unknown) if unknown else {}
    return [
        {
            "number": t.number,
            "state": t.state.name,
            "value": value_of(t),
            "params": dict(t.params),
            "epochs": epochs(t) if t.user_attrs.get("epochs_run") is not None else reported.get(t._trial_id) or None,
            "seconds": duration_seconds(t, now),
            "node": t.user_attrs.get("node"),
        }
        for t in trials
    ]


def best_summary(study: optuna.Study) -> dict[str, Any]:
    """The best trial: params, validation value, test metrics, checkpoint (when recorded).

    A multi-objective study: the same keys for its lead trial (``search.pareto``: the front's
    best by the first objective, which ``value`` and ``metric`` name), plus ``metrics``,
    ``directions``, the lead's ``values`` and ``pareto_front``: every trial on the front, best
    first by the first objective, each with its values, params, test metrics and checkpoint."""
    best = best_or_none(study)
    if best is None:
        raise NoResultError(f"study {study.study_name!r} has no completed trial yet")
    attrs = best.user_attrs
    recorded = flat(study)  # what the study records about itself (search.study_attrs)
    multi = pareto.is_multi(study)
    out = {
        "study": study.study_name,
        "trial": best.number,
        "metric": pareto.metric_names(study)[0] if multi else metric_name(study),
        "direction": study.directions[0].name.lower(),
        "value": clean(best.values[0]),
        "params": clean(dict(best.params)),
        "test": test_metrics(best),
        "best_epoch": attrs.get("best_epoch"),
        "epochs_run": attrs.get("epochs_run"),
        "n_params": attrs.get("n_params"),
        "latency_ms": attrs.get("latency_ms"),
        "device": attrs.get("device"),
        "node": attrs.get("node"),
    }
    if out["latency_ms"] is None:
        del out["latency_ms"]
    if isinstance(attrs.get("val_folds"), list):  # data.val_folds: the best weights' metric on each fold
        out["val_folds"] = clean(attrs["val_folds"])
    if "checkpoint" in attrs:
        out["checkpoint"] = attrs["checkpoint"]
    foreign = foreign_numbers(study)
    if foreign:
        out["foreign_trials"] = foreign  # trials another Optuna client made: no model, no curve
    if not storage_mod.made_here(best):
        out["made_here"] = False
        served = servable_best(study)
        out["served_trial"] = None if served is None else served.number
    ensemble = recorded_ensemble(recorded)
    if ensemble is not None:
        out["ensemble"] = ensemble
    served = recorded_served(recorded)
    if served is not None:
        now = state_counts(storage_mod.study_summary(study._storage, study._study_id)[0])["complete"]
        if served.get("complete") not in (None, now):
            served["note"] = f"chosen when the study had {served['complete']} complete trials, it has {now} now (search run chooses again when it ends)"
        out["served"] = served
    elif "stat_forecasts" in recorded and not multi:
        out["served_note"] = "no served forecaster recorded yet (search run chooses it when it ends); search predict and search.load_best serve the best trial"
    if multi:
        names = pareto.metric_names(study)
        out["metrics"] = names
        out["directions"] = [d.name.lower() for d in study.directions]
        out["values"] = dict(zip(names, clean(best.values)))
        out["pareto_front"] = [
            {
                "trial": t.number,
                "values": dict(zip(names, clean(t.values))),
                "params": clean(dict(t.params)),
                "test": test_metrics(t),
                "checkpoint": t.user_attrs.get("checkpoint"),
            }
            for t in pareto.front(study)
        ]
    baselines = {k[len("baseline_"):]: clean(v) for k, v in recorded.items() if k.startswith("baseline_")}
    if baselines:
        out["baselines"] = baselines
        out["versus_baselines"] = [
            line
            for line in (
                compare_line(out["metric"], best.values[0], recorded, "val"),
                compare_line(out["metric"], attrs.get(f"test_{out['metric']}"), recorded, "test"),
            )
            if line
        ]
    running = [label for label, state in stat_states(recorded).items() if state == "running"]
    shown = interval_summary(out, recorded, STAT_LABELS, running)  # the test intervals beside the baselines' own
    if shown is not None:
        out["intervals"] = clean(shown)
    return out


def foreign_numbers(study: optuna.Study) -> list[int]:
    """The numbers of the study's finished trials that no driver of this service made."""
    trials = storage_mod.read_trials(study._storage, study._study_id, intermediate_values=False, user_attr_keys=storage_mod.LEGACY_ATTRS)
    return [t.number for t in trials if t.state.is_finished() and not storage_mod.made_here(t)]


def servable_best(study: optuna.Study) -> FrozenTrial | None:
    """The best trial made by this service that kept a checkpoint (single objective: by value;
    several: the first such trial of the Pareto front), or None."""
    if pareto.is_multi(study):
        return next((t for t in pareto.front(study) if storage_mod.servable(t)), None)
    sign = -1.0 if study.direction == optuna.study.StudyDirection.MAXIMIZE else 1.0
    complete = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)) if t.value is not None and storage_mod.servable(t)]
    return min(complete, key=lambda t: (sign * t.value, t.number), default=None)


def compare_rows(studies: list[optuna.Study]) -> list[dict[str, Any]]:
    """The best trial of each study, one row each: family, best value, test metrics, params count."""
    rows = []
    for study in studies:
        by_state, _ = storage_mod.study_summary(study._storage, study._study_id)
        best = best_or_none(study)
        c = state_counts(by_state)
        rows.append(
            {
                "study": study.study_name,
                "family": flat(study).get("family"),
                "metric": objective_label(study),
                "direction": "/".join(d.name.lower() for d in study.directions),
                "best_trial": best.number if best else None,
                "best_value": value_of(best) if best else None,
                "test": test_metrics(best) if best else {},
                "n_params": best.user_attrs.get("n_params") if best else None,
                "finished": c["complete"] + c["pruned"],
                "trials": sum(by_state.values()),
            }
        )
    return rows


def union_keys(dicts: Iterable[dict]) -> list[str]:
    seen: dict[str, None] = {}
    for d in dicts:
        for k in d:
            seen.setdefault(k, None)
    return list(seen)


def recorded_ensemble(attrs: dict) -> dict[str, Any] | None:
    """The ensemble ``search ensemble`` recorded in a study's user attrs, as ``ensemble_row``
    gives it, or None."""
    if "ensemble_k" not in attrs:
        return None
    parts: dict[str, dict[str, Any]] = {"val": {}, "test": {}}
    for key, value in attrs.items():
        for part in parts:
            if key.startswith(f"ensemble_{part}_"):
                parts[part][key[len(f"ensemble_{part}_") :]] = clean(value)
    return ensemble_row(attrs["ensemble_k"], attrs.get("ensemble_members", []), parts["val"], parts["test"], recorded=True)


def ensemble_row(k: int, members: list[int], val: dict, test: dict, *, recorded: bool) -> dict[str, Any]:
    """An ensemble's summary: its size, member trials (best first), validation and test metrics."""
    return {"k": int(k), "members": [int(n) for n in members], "val": _in_order(val), "test": _in_order(test), "recorded": recorded}


def _in_order(metrics: dict) -> dict:
    """Metrics in TEST_ORDER, then any others alphabetically."""
    names = [m for m in TEST_ORDER if m in metrics] + sorted(m for m in metrics if m not in TEST_ORDER)
    return {m: metrics[m] for m in names}


def ensemble_line(summary: dict) -> str:
    """One line for the ensemble beside the best trial: ``ensemble of the 3 best trials (#4, #1,
    #7): val rmse 0.41 (0.97x the best trial), test mae 0.33 (0.95x)``; "" without one."""
    ens, metric = summary.get("ensemble"), summary["metric"]
    if not ens:
        return ""
    parts = []
    for part, name, single in (("val", metric, summary["value"]), ("test", "mae", summary["test"].get("mae")), ("test", "rmse", summary["test"].get("rmse"))):
        value = ens[part].get(name)
        if value is not None:
            ratio = f" ({value / single:.3f}x the best trial)" if isinstance(single, (int, float)) and single else ""
            parts.append(f"{part} {name} {value:.6g}{ratio}")
    members = ", ".join(f"#{n}" for n in ens["members"])
    return f"ensemble of the {ens['k']} best trials ({members}), mean forecast: " + ", ".join(parts)


def stat_states(attrs: dict) -> dict[str, str]:
    """Each statistical baseline's state in a study's attrs: ``recorded``, ``running`` (beside
    the trials), ``failed`` (a note says why it has no score) or ``not computed`` (a run
    stopped first; older studies: skipped under their time bound); {} where the study runs none."""
    running = attrs.get(STAT_RUNNING) or []
    notes = {n.split(":", 1)[0].strip(): n for n in str(attrs.get("stat_baselines_note") or "").split(";") if ":" in n}
    if STAT_RUNNING not in attrs and not notes and not any(f"baseline_{name}_seconds" in attrs for name in STAT_LABELS):
        return {}
    states = {}
    for name, label in STAT_LABELS.items():
        note = notes.get(label, "")
        if label in running:
            states[label] = "running"
        elif f"baseline_{name}_seconds" in attrs:
            states[label] = "recorded"
        elif attrs.get(f"baseline_{name}_note") or (note and "not done within" not in note and "not computed" not in note):
            states[label] = "failed"
        else:
            states[label] = "not computed"
    return states


def compare_line(metric: str, value: float | None, attrs: dict, part: str) -> str:
    """``test rmse 0.41 (0.80x seasonal naive (s=52), 0.52x naive)`` from a trial value and study attrs;
    tasks classify and text (``search.worker.tasks``): ``val accuracy 0.93 (majority class 0.34)``,
    ``val perplexity 3.2 (unigram 17.9)``."""
    if value is None:
        return ""
    ratios = []
    season = attrs.get("seasonal_naive_season")  # recorded since several seasons compete
    for name, label in (("seasonal_naive", f"seasonal naive (s={season})" if season else "seasonal naive"), ("naive", "naive")):
        base = attrs.get(f"baseline_{name}_{part}_{metric}")
        if base:
            ratios.append(f"{value / base:.2f}x {label}")
    stats = {label: attrs.get(f"baseline_{name}_{part}_{metric}") for name, label in STAT_LABELS.items()}
    stats = {label: base for label, base in stats.items() if base}
    pending = {label: state for label, state in stat_states(attrs).items() if state in ("running", "not computed")}
    if stats and not pending:  # the best statistical forecaster the study ran
        label = min(stats, key=stats.get)
        ratios.insert(0, f"{value / stats[label]:.2f}x {label}")
    elif stats:  # a stronger one may still come: none leads
        ratios.extend(f"{value / base:.2f}x {label}" for label, base in sorted(stats.items(), key=lambda kv: kv[1]))
    ratios.extend(f"{label}: {state}" for label, state in pending.items())
    for name, label in (("majority", "majority class"), ("unigram", "unigram")):
        base = attrs.get(f"baseline_{name}_{part}_{metric}")
        if base is not None:
            ratios.append(f"{label} {base:.4g}")
    suffix = f" ({', '.join(ratios)})" if ratios else ""
    return f"{part} {metric} {value:.6g}{suffix}"
