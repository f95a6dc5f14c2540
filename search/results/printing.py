"""The rich tables of ``search studies|trials|best|ensemble|compare``.

``search.results.tables`` computes the plain data (lists of dicts, JSON-ready); the functions
here only lay it out. Off a terminal a table is printed at its natural width without colour
(``emit``), so its rows never wrap in a pipe or a file.
"""

from __future__ import annotations

import io

import optuna
from rich import box
from rich.console import Console
from rich.table import Table

import storage as storage_mod
from search.results.served_lines import gap_warning, served_line
from search.results.tables import fmt, objective_label, union_keys


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
    if s.get("val_folds"):
        console.print(f"val {s['metric']} by fold (oldest first): " + ", ".join(fmt(v) for v in s["val_folds"]), highlight=False, markup=False)
    for line in [*s.get("versus_baselines", []), (s.get("intervals") or {}).get("line")]:
        if line:
            console.print(line, highlight=False, markup=False)
    if "checkpoint" in s:
        console.print(f"checkpoint: {s['checkpoint']} (search predict {s['study']} --input FILE)", highlight=False, markup=False)
    if s.get("made_here") is False:
        served = s.get("served_trial")
        then = (
            f"search predict and load_best serve trial #{served}, the best trial made by this service with a checkpoint"
            if served is not None
            else "no trial made by this service kept a checkpoint, so there is no model to serve"
        )
        console.print(f"trial #{s['trial']} was not made by this service (another Optuna client's trial): it has no model; {then}", highlight=False, markup=False)
    if s.get("foreign_trials"):
        numbers = s["foreign_trials"]
        listed = ", ".join(f"#{n}" for n in numbers[:10]) + (", ..." if len(numbers) > 10 else "")
        console.print(f"{len(numbers)} trial{'s' if len(numbers) != 1 else ''} not made by this service: {listed}", highlight=False, markup=False)
    if "ensemble" in s:
        print_ensemble(s, console)
    if "served" in s:
        print_served(s["served"], console)
    elif s.get("served_note"):
        console.print(f"note: {s['served_note']}", highlight=False, markup=False)


def print_served(value: dict, console: Console) -> None:
    """What ``search predict`` and ``search.load_best`` serve: its members with their weights,
    its validation and test figures beside each member's and the classical baseline's."""
    metric = value["metric"]
    console.print(served_line(value), highlight=False, markup=False)
    table = _table()
    shown = [metric] + [m for m in ("mae", "rmse") if m != metric]  # test metrics
    for col in ("forecaster", "weight", f"val {metric}", *(f"test {m}" for m in shown)):
        table.add_column(_escape(col), justify="left" if col == "forecaster" else "right")
    rows = [(value["label"], None, value["val"], value["test"])]
    if len(value["members"]) > 1:
        rows += [(m["name"], m["weight"], m.get("val", {}), m.get("test", {})) for m in value["members"]]
    named = {m["name"] for m in value["members"]}
    rows += [(name, None, b["val"], b["test"]) for name, b in value.get("baselines", {}).items() if name not in named]
    for name, weight, val, test in rows:
        table.add_row(_escape(name), "" if weight is None else f"{weight:.3f}", fmt(val.get(metric)), *(fmt(test.get(m)) for m in shown))
    emit(console, _indent(table))
    if value.get("note"):
        console.print(f"note: {value['note']}", highlight=False, markup=False)
    warning = gap_warning(value)
    if warning:
        console.print(warning, highlight=False, markup=False)
    console.print("(search predict and search.load_best serve it; --trial N or --ensemble K choose another)", highlight=False, markup=False)


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
