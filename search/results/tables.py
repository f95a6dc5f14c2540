"""Read a study storage back: the tables behind ``search studies|trials|best|export|compare``.

Each command has a pure function that returns plain data (lists of dicts, JSON-ready) and a
``print_*`` function that turns it into a rich table. Nothing here changes a study, and a
SQLite URL that names a missing file is refused before anything opens it (``search.store``).
No Ray and no torch are imported here.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import itertools
import json
import math
from typing import Any, Iterable, Iterator, TextIO

import optuna
from optuna.trial import FrozenTrial, TrialState
from rich import box
from rich.console import Console
from rich.table import Table

import storage as storage_mod
from search import pareto
from search._format import format_value
from search.errors import NoResultError, StudyNotFoundError, UsageError

TEST_PREFIX = "test_"
# The statistical baselines a study may hold (search.worker.stat_baselines.STAT_MODELS).
STAT_LABELS = {"mstl": "MSTL", "autoets": "AutoETS", "autotheta": "AutoTheta"}
# Test metrics in this order first, then any other test_* attr alphabetically.
TEST_ORDER = ("rmse", "mse", "mae", "mape", "smape", "accuracy", "perplexity", "cross_entropy", "bits_per_char", "loss")
EXPORT_FORMATS = ("csv", "json")


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


def clean(value: Any) -> Any:
    """JSON-safe: NaN/inf -> None, datetimes -> ISO strings, tuples -> lists."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean(v) for v in value]
    return value


def fmt(value: Any) -> str:
    """A cell: ``format_value``, with yes/no for booleans and times to the second."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (list, tuple)):  # a multi-objective trial's values
        return ", ".join(fmt(v) for v in value)
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    return format_value(value)


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
    return str(study.user_attrs.get("metric", "value"))


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
                "family": study.user_attrs.get("family"),
                "metric": objective_label(study) if pareto.is_multi(study) else study.user_attrs.get("metric"),
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
    if "checkpoint" in attrs:
        out["checkpoint"] = attrs["checkpoint"]
    recorded = recorded_ensemble(study.user_attrs)
    if recorded is not None:
        out["ensemble"] = recorded
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
    baselines = {k[len("baseline_"):]: clean(v) for k, v in study.user_attrs.items() if k.startswith("baseline_")}
    if baselines:
        out["baselines"] = baselines
        out["versus_baselines"] = [
            line
            for line in (
                compare_line(out["metric"], best.values[0], study.user_attrs, "val"),
                compare_line(out["metric"], attrs.get(f"test_{out['metric']}"), study.user_attrs, "test"),
            )
            if line
        ]
    return out


EXPORT_CHUNK = 1000  # trials read at once (with their intermediate values) while exporting


def export_rows(study: optuna.Study) -> Iterator[dict[str, Any]]:
    """Every trial, JSON-ready: number, state, value, times, duration, params, user attrs,
    intermediate values ({step: value}). The trials are read without their intermediate values,
    which are then read and yielded ``EXPORT_CHUNK`` trials at a time: a study of a million
    intermediate values is never held whole."""
    yield from _export_rows(study, storage_mod.read_trials(study._storage, study._study_id, intermediate_values=False))


def _export_rows(study: optuna.Study, trials: list[FrozenTrial]) -> Iterator[dict[str, Any]]:
    for k in range(0, len(trials), EXPORT_CHUNK):
        chunk = trials[k : k + EXPORT_CHUNK]
        steps = storage_mod.read_intermediate_values(study._storage, [t._trial_id for t in chunk])
        for t in chunk:
            curve = steps.get(t._trial_id, {})
            yield {
                "number": t.number,
                "state": t.state.name,
                "value": value_of(t),
                "datetime_start": clean(t.datetime_start),
                "datetime_complete": clean(t.datetime_complete),
                "duration_seconds": duration_seconds(t) if t.datetime_complete else None,
                "params": clean(dict(t.params)),
                "user_attrs": clean(dict(t.user_attrs)),
                "intermediate_values": {str(step): v if math.isfinite(v) else None for step, v in sorted(curve.items())},
            }


def export_text(study: optuna.Study, fmt_name: str) -> str:
    """The export (``write_export``) as one string."""
    buf = io.StringIO()
    write_export(study, fmt_name, buf)
    return buf.getvalue()


def write_export(study: optuna.Study, fmt_name: str, out: TextIO) -> int:
    """Write the export to ``out`` as it is read: CSV (one row per trial; params_*/user_attrs_*
    columns, intermediate values as a JSON object) or JSON (the study's facts and a list of
    trials). Returns the number of trials written. The CSV's columns are known before its first
    row from a first pass over the trials without their intermediate values."""
    if fmt_name not in EXPORT_FORMATS:
        raise UsageError(f"--format {fmt_name}: choose one of {', '.join(EXPORT_FORMATS)}")
    n = 0
    if fmt_name == "json":
        head = {
            "study": study.study_name,
            "directions": [d.name.lower() for d in study.directions],
            "user_attrs": clean(dict(study.user_attrs)),
            "trials": [],
        }
        text = json.dumps(head, indent=2)
        out.write(text[: text.rindex("[]")] + "[")  # "trials" is the last key: its list is streamed
        for r in export_rows(study):
            out.write(("," if n else "") + "\n    " + json.dumps(r, indent=2).replace("\n", "\n    "))
            n += 1
        out.write("\n  ]\n}\n" if n else "]\n}\n")
        return n
    light = storage_mod.read_trials(study._storage, study._study_id, intermediate_values=False)
    params = union_keys(t.params for t in light)
    attrs = union_keys(t.user_attrs for t in light)
    head = ["number", "state", "value", "datetime_start", "datetime_complete", "duration_seconds"]
    columns = head + [f"params_{p}" for p in params] + [f"user_attrs_{a}" for a in attrs] + ["intermediate_values"]
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for r in _export_rows(study, light):
        cells = [r[k] for k in head]
        cells += [r["params"].get(p) for p in params]
        cells += [r["user_attrs"].get(a) for a in attrs]
        cells.append(json.dumps(r["intermediate_values"]))
        writer.writerow(["" if c is None else json.dumps(c) if isinstance(c, (dict, list)) else c for c in cells])
        n += 1
    return n


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
                "family": study.user_attrs.get("family"),
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


# -- printing


def _table(title: str | None = None) -> Table:
    return Table(title=title, box=box.SIMPLE_HEAD, show_edge=False, title_justify="left", title_style="bold", pad_edge=False)


def emit(console: Console, renderable) -> None:
    """Print a table. Off a terminal (a pipe, a file, a test's capture) it is rendered at its
    natural width without colour or trailing blanks, so rows never wrap and grep/cut work."""
    if console.is_terminal:
        console.print(renderable)
        return
    width = console.measure(renderable, options=console.options.update_width(10_000)).maximum
    plain = Console(file=io.StringIO(), width=max(width, 20), highlight=False, color_system=None)
    plain.print(renderable)
    lines = [line.rstrip() for line in plain.file.getvalue().splitlines()]
    console.file.write("\n".join(lines) + "\n")


def print_studies(rows: list[dict], url: str, console: Console) -> None:
    if not rows:
        console.print(f"no studies in {storage_mod.mask_url(url)}", highlight=False, markup=False)
        return
    table = _table(_escape(f"studies in {storage_mod.mask_url(url)}"))
    table.add_column("study", no_wrap=True)
    table.add_column("family")
    table.add_column("metric")
    for col in ("complete", "pruned", "failed", "running"):
        table.add_column(col, justify="right", no_wrap=True)
    table.add_column("best", justify="right", no_wrap=True)
    table.add_column("last activity")
    for r in rows:
        best = fmt(r["best_value"]) + (f" (#{r['best_trial']})" if r["best_trial"] is not None else "")
        table.add_row(
            _escape(r["study"]), fmt(r["family"]), _metric_cell(r), str(r["complete"]), str(r["pruned"]),
            str(r["fail"]), str(r["running"]), best, fmt(r["last_activity"]),
        )  # fmt: skip
    emit(console, table)


def _metric_cell(row: dict) -> str:
    short = {"minimize": "min", "maximize": "max"}
    direction = "/".join(short.get(d, d) for d in row["direction"].split("/"))
    return _escape(f"{fmt(row['metric'])} ({direction})")


def print_trials(study: optuna.Study, rows: list[dict], console: Console, page: tuple[int, int] | None = None) -> None:
    """The trials table; ``page`` = (offset, total) titles a page ``trials 101-150 of 20000``."""
    params = union_keys(r["params"] for r in rows)
    title = f"study {study.study_name}: {len(rows)} trials"
    if page is not None:
        offset, total = page
        shown = f"{offset + 1}-{offset + len(rows)}" if rows else "none"
        title = f"study {study.study_name}: trials {shown} of {total}"
    table = _table(_escape(title))
    # Number, state and value never wrap; on a narrow terminal the params and node fold.
    table.add_column("#", justify="right", no_wrap=True)
    table.add_column("state", no_wrap=True)
    table.add_column(_escape(objective_label(study)), justify="right", no_wrap=True)
    for p in params:
        table.add_column(_escape(p), justify="right")
    table.add_column("epochs", justify="right", no_wrap=True)
    table.add_column("seconds", justify="right", no_wrap=True)
    table.add_column("node")
    styles = {"COMPLETE": "green", "PRUNED": "yellow", "FAIL": "red", "RUNNING": "cyan"}
    for r in rows:
        seconds = "-" if r["seconds"] is None else f"{r['seconds']:.1f}"
        table.add_row(
            str(r["number"]), f"[{styles[r['state']]}]{r['state']}[/]" if r["state"] in styles else r["state"],
            fmt(r["value"]), *(_escape(fmt(r["params"].get(p))) for p in params), fmt(r["epochs"]), seconds, _escape(fmt(r["node"])),
        )  # fmt: skip
    emit(console, table)


def print_best(summary: dict, console: Console) -> None:
    s = summary
    if "pareto_front" in s:
        _print_front(s, console)
    else:
        console.print(
            f"study {s['study']}: best trial #{s['trial']}, {s['metric']} {fmt(s['value'])} ({s['direction']})", highlight=False, markup=False
        )
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    for k, v in s["params"].items():
        grid.add_row(_escape(k), _escape(fmt(v)))
    console.print("params:", markup=False)
    emit(console, _indent(grid))
    if s["test"]:
        grid = Table.grid(padding=(0, 2))
        grid.add_column(style="bold")
        grid.add_column(justify="right")
        for k, v in s["test"].items():
            grid.add_row(k, fmt(v))
        console.print("test metrics (best epoch's weights):", markup=False)
        emit(console, _indent(grid))
    facts = [f"{k.replace('_', ' ')} {fmt(s[k])}" for k in ("best_epoch", "epochs_run", "n_params", "latency_ms", "device", "node") if s.get(k) is not None]
    if facts:
        console.print(", ".join(facts), highlight=False, markup=False)
    for line in s.get("versus_baselines", []):
        console.print(line, highlight=False, markup=False)
    if "checkpoint" in s:
        console.print(f"checkpoint: {s['checkpoint']} (search predict {s['study']} --input FILE)", highlight=False, markup=False)
    if "ensemble" in s:
        print_ensemble(s, console)


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


def print_ensemble(summary: dict, console: Console) -> None:
    """The ensemble beside the best single trial: the validation metric and every test metric."""
    ens, metric = summary["ensemble"], summary["metric"]
    members = ", ".join(f"#{n}" for n in ens["members"])
    how = "recorded in the study" if ens["recorded"] else "evaluated now, not recorded (search ensemble records it)"
    console.print(f"ensemble of the {ens['k']} best trials ({members}), mean forecast; {how}:", highlight=False, markup=False)
    table = _table()
    table.add_column("metric")
    table.add_column(f"best trial #{summary['trial']}", justify="right")
    table.add_column(f"ensemble of {ens['k']}", justify="right")
    table.add_column("ratio", justify="right")
    rows = [(f"val {metric}", summary["value"], ens["val"].get(metric))]
    rows += [(f"test {m}", summary["test"].get(m), v) for m, v in ens["test"].items() if m in summary["test"]]
    for label, single, combined in rows:
        ratio = f"{combined / single:.3f}x" if isinstance(single, (int, float)) and isinstance(combined, (int, float)) and single else ""
        table.add_row(label, fmt(single), fmt(combined), ratio)
    emit(console, _indent(table))


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


def _print_front(s: dict, console: Console) -> None:
    """A multi-objective study's Pareto front, one row per trial, then a line naming its lead."""
    objectives = ", ".join(f"{m} ({d})" for m, d in zip(s["metrics"], s["directions"]))
    front = s["pareto_front"]
    console.print(f"study {s['study']}: Pareto front of {len(front)} trial{'s' if len(front) != 1 else ''}, {objectives}", highlight=False, markup=False)
    table = _table()
    table.add_column("#", justify="right", no_wrap=True)
    for m in s["metrics"]:
        table.add_column(_escape(m), justify="right", no_wrap=True)
    params = union_keys(r["params"] for r in front)
    for p in params:
        table.add_column(_escape(p), justify="right")
    first = s["metrics"][0]
    table.add_column(_escape(f"test {first}"), justify="right", no_wrap=True)
    table.add_column("checkpoint", no_wrap=True)
    for r in front:
        table.add_row(
            str(r["trial"]), *(fmt(r["values"].get(m)) for m in s["metrics"]), *(_escape(fmt(r["params"].get(p))) for p in params),
            fmt(r["test"].get(first)), "yes" if r.get("checkpoint") else "-",
        )  # fmt: skip
    emit(console, table)
    values = ", ".join(f"{m} {fmt(v)}" for m, v in s["values"].items())
    console.print(
        f"lead trial #{s['trial']} ({values}): the front's best {first}, the model search predict and search.load_best use "
        f"(another: search.load_best(STUDY, trial=N), search predict --trial N)",
        highlight=False,
        markup=False,
    )


def print_compare(rows: list[dict], console: Console) -> None:
    metrics = union_keys(r["test"] for r in rows)
    table = _table("best trial of each study")
    for col in ("study", "family", "metric", "best", "#"):
        table.add_column(col, justify="right" if col in ("best", "#") else "left")
    for m in metrics:
        table.add_column(f"test {m}", justify="right")
    table.add_column("params", justify="right")
    table.add_column("finished", justify="right")
    for r in rows:
        table.add_row(
            _escape(r["study"]), fmt(r["family"]), _metric_cell(r), fmt(r["best_value"]), fmt(r["best_trial"]),
            *(fmt(r["test"].get(m)) for m in metrics), fmt(r["n_params"]), f"{r['finished']}/{r['trials']}",
        )  # fmt: skip
    emit(console, table)


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)


def _indent(renderable):
    from rich.padding import Padding

    return Padding(renderable, (0, 0, 0, 2))


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
    if stats:  # the best statistical forecaster the study ran
        label = min(stats, key=stats.get)
        ratios.insert(0, f"{value / stats[label]:.2f}x {label}")
    for name, label in (("majority", "majority class"), ("unigram", "unigram")):
        base = attrs.get(f"baseline_{name}_{part}_{metric}")
        if base is not None:
            ratios.append(f"{label} {base:.4g}")
    suffix = f" ({', '.join(ratios)})" if ratios else ""
    return f"{part} {metric} {value:.6g}{suffix}"
