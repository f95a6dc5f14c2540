"""``search report``: one self-contained HTML file about a study.

The file holds the study's facts (space file, hash, dataset, metric and direction, version),
the best trial (a multi-objective study: its Pareto front as a table and a figure, and the
front's lead trial, ``search.pareto``), its forecasts against the truth and the naive baselines (from the trial's
``forecast`` artifact, drawn by ``search.forecast_figure``; classify: a confusion matrix,
text: a sample continuation), and plotly figures: optimization history, intermediate values, parameter
importances, parallel coordinates, slices, the value per choice of each categorical parameter
(box plot) and a timeline of trials per worker. plotly.js is embedded once, so the file opens
offline and can be mailed or archived next to the study.

The figures are built by ``search.results.report_figures``, from ``optuna.visualization`` where
it has them and plain plotly otherwise; this module lays them out as sections. A figure that
cannot be drawn (too few trials, no categorical parameter...) becomes a one-line note in its
place. A small inline script shows any JavaScript error at the top of the page (element
``#report-errors``), so a broken figure is never silent.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import gc
import html
import json
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import optuna

import storage as storage_mod
from search import forecast_figure, pareto
from search.errors import NoResultError
from search.results import served_lines, tables
from search.results.report_figures import (
    Skip,
    fig_categorical_box,
    fig_history,
    fig_importances,
    fig_intermediate,
    fig_parallel,
    fig_pareto,
    fig_slice,
    fig_timeline,
    snapshot,
)
from search.study_attrs import flat

PLOT_CONFIG = {"displaylogo": False, "responsive": True}


@dataclass
class Section:
    key: str
    title: str
    caption: str
    figure: object | None = None  # a plotly Figure, or None with ``note`` saying why
    note: str = ""


# A multi-objective study's report starts its figures with this one; the figures of FIGURES
# that plot a value plot its first objective there.
PARETO_FIGURE = (
    "pareto",
    "Pareto front",
    "Every completed trial by its objectives; the front (trials no other trial beats in every objective) highlighted.",
    fig_pareto,
)
FIGURES: list[tuple[str, str, str, Callable]] = [
    ("history", "Optimization history", "Each completed trial's validation value and the best so far.", fig_history),
    ("intermediate", "Intermediate values", "The validation value after every epoch; pruned trials stop early.", fig_intermediate),
    ("importances", "Parameter importances", "How much each parameter explains the value (optuna.importance, completed trials).", fig_importances),
    ("parallel", "Parallel coordinates", "Every completed trial as a line through its parameter values.", fig_parallel),
    ("slice", "Slices", "The value against each parameter on its own.", fig_slice),
    ("categorical", "Categorical parameters", "The value of completed trials per choice (e.g. layer sizes).", fig_categorical_box),
    ("timeline", "Timeline per worker", "When each trial ran, on which node and slot, and how it ended.", fig_timeline),
]


def sections(study: optuna.Study) -> list[Section]:
    """The figures, each built from one snapshot of the study's trials. A figure function
    returns a figure, or (figure, a note for its caption) when it drew a sample."""
    study = snapshot(study)
    out = []
    figures = [PARETO_FIGURE, *FIGURES] if pareto.is_multi(study) else FIGURES
    for key, title, caption, build in figures:
        section = Section(key, title, caption)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                built = build(study)
            section.figure, note = built if isinstance(built, tuple) else (built, "")
            if note:
                section.caption = f"{caption} {note}"
        except Skip as exc:
            section.note = str(exc)
        except Exception as exc:  # a figure optuna cannot draw for this study: say so, draw the rest
            section.note = f"not drawn: {type(exc).__name__}: {exc}"
        if section.figure is not None:
            # The section heading names the figure: no second title inside it.
            section.figure.update_layout(template="plotly_white", title_text="", margin={"t": 30, "l": 60, "r": 30, "b": 50})
        out.append(section)
    return out


# -- HTML


def facts(study: optuna.Study, storage_url: str | None) -> list[tuple[str, str]]:
    a = flat(study)
    c = tables.state_counts(storage_mod.study_summary(study._storage, study._study_id)[0])
    rows = [("study", study.study_name)]
    if storage_url:
        rows.append(("storage", storage_mod.mask_url(storage_url)))
    rows += [
        ("space file", a.get("space_file")),
        ("space hash", a.get("space_hash")),
        ("model family", a.get("family")),
        ("dataset", f"{a.get('dataset')} ({a.get('dataset_rows')} rows)" if a.get("dataset") else None),
        ("missing values", f"{a.get('missing_policy')} ({a.get('missing_rows')} rows)" if a.get("missing_policy") else None),
        ("split rows", " / ".join(str(x) for x in a["split_rows"]) + " (train / val / test)" if isinstance(a.get("split_rows"), list) else None),
        ("objective", _objective_fact(study)),
        ("version", a.get("version")),
        ("trials", ", ".join(f"{n} {state}" for state, n in c.items() if n) or "none"),
        ("not made by this service", _foreign_fact(study)),
        ("generated", dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M:%S %Z")),
    ]
    return [(k, str(v)) for k, v in rows if v is not None]


def _foreign_fact(study: optuna.Study) -> str | None:
    """The finished trials another Optuna client made (no model, no curve), or None."""
    numbers = tables.foreign_numbers(study)
    if not numbers:
        return None
    listed = ", ".join(f"#{n}" for n in numbers[:20]) + (", ..." if len(numbers) > 20 else "")
    return f"{len(numbers)} trial{'s' if len(numbers) != 1 else ''} ({listed}): another Optuna client's, without model or curves"


def _objective_fact(study: optuna.Study) -> str:
    """``rmse, minimize``; for several objectives ``mae (minimize), n_params (minimize)``."""
    directions = [d.name.lower() for d in study.directions]
    if not pareto.is_multi(study):
        return f"{tables.metric_name(study)}, {directions[0]}"
    return ", ".join(f"{m} ({d})" for m, d in zip(pareto.metric_names(study), directions))


CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 0 auto; max-width: 1200px;
       padding: 1.5rem; color: #212529; }
h1 { font-size: 1.6rem; margin: 0 0 1rem; } h2 { font-size: 1.2rem; margin: 2rem 0 .3rem; }
table.facts { border-collapse: collapse; font-size: .95rem; }
table.facts th { text-align: left; padding: .15rem 1.2rem .15rem 0; color: #6c757d; font-weight: normal; }
table.facts td { padding: .15rem 1.2rem .15rem 0; font-family: ui-monospace, monospace; }
.caption { color: #6c757d; margin: 0 0 .4rem; font-size: .9rem; }
.note { background: #f8f9fa; border-left: 4px solid #adb5bd; padding: .6rem .9rem; margin: .4rem 0; }
#report-errors { background: #fff0f0; border: 1px solid #e76f51; padding: .6rem .9rem; white-space: pre-wrap; }
.grid { display: flex; gap: 3rem; flex-wrap: wrap; }
"""
CSS += forecast_figure.TEXT_CSS

# Before plotly.js: any JavaScript error (or rejected promise) while drawing shows at the top.
ERROR_CATCHER = """
(function () {
  var errors = [];
  function show() {
    var box = document.getElementById("report-errors");
    if (!box || !errors.length) return;
    box.hidden = false;
    box.setAttribute("data-count", String(errors.length));
    box.textContent = "JavaScript errors while drawing this report:\\n" + errors.join("\\n");
  }
  window.addEventListener("error", function (e) { errors.push(String(e.message || e)); show(); });
  window.addEventListener("unhandledrejection", function (e) { errors.push("unhandled rejection: " + String(e.reason)); show(); });
  document.addEventListener("DOMContentLoaded", show);
})();
"""


def _kv_table(rows: list[tuple[str, str]]) -> str:
    body = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in rows)
    return f'<table class="facts">{body}</table>'


def _best_html(study: optuna.Study) -> str:
    try:
        best = tables.best_summary(study)
    except NoResultError as exc:
        return f'<div class="note">{html.escape(str(exc))}</div>'
    head = f"trial #{best['trial']}: {best['metric']} {tables.fmt(best['value'])} (validation)"
    front = ""
    if "pareto_front" in best:
        values = ", ".join(f"{m} {tables.fmt(v)}" for m, v in best["values"].items())
        head = (
            f"trial #{best['trial']}: {values}; the lead of the Pareto front of {len(best['pareto_front'])} trials "
            f"(its best {best['metric']}, the model search predict and search.load_best use)"
        )
        front = _front_html(best)
    params = _kv_table([(k, tables.fmt(v)) for k, v in best["params"].items()])
    tests = _kv_table([(k, tables.fmt(v)) for k, v in best["test"].items()]) if best["test"] else '<div class="note">no test metrics recorded</div>'
    extra = [(k.replace("_", " "), tables.fmt(best[k])) for k in ("best_epoch", "epochs_run", "n_params", "device", "node", "checkpoint") if best.get(k) is not None]
    chosen = best.get("served")  # the served forecaster (search.results.served), when recorded
    lines = [served_lines.served_line(chosen), served_lines.gap_warning(chosen), chosen.get("note", "")] if chosen else []
    versus = "".join(f'<p class="caption">{html.escape(line)}</p>' for line in [*best.get("versus_baselines", []), (best.get("intervals") or {}).get("line"), tables.ensemble_line(best), *lines] if line)
    versus += _served_html(chosen) if chosen else ""
    if best.get("made_here") is False:
        served = best.get("served_trial")
        then = f"the model served is trial #{served}'s, the best made by this service with a checkpoint" if served is not None else "no trial made by this service kept a checkpoint: no model is served"
        line = f"trial #{best['trial']} was not made by this service (another Optuna client's trial): it has no model; {then}"
        versus += f'<div class="note" data-foreign-best="1">{html.escape(line)}</div>'
    return (
        f'<p class="caption">{html.escape(head)}</p>{front}{versus}<div class="grid">'
        f"<div><h3>params</h3>{params}</div><div><h3>test metrics (best epoch's weights)</h3>{tests}</div>"
        f"<div><h3>trial</h3>{_kv_table(extra)}</div></div>"
    )


def _served_html(served: dict) -> str:
    """The served forecaster's members: weight, validation and test metric beside its own and
    the baselines' (``search.results.served``)."""
    metric = served["metric"]
    rows = [(served["label"], "", served["val"], served["test"])]
    if len(served["members"]) > 1:
        rows += [(m["name"], f"{m['weight']:.3f}", m.get("val", {}), m.get("test", {})) for m in served["members"]]
    named = {m["name"] for m in served["members"]}
    rows += [(name, "", b["val"], b["test"]) for name, b in served.get("baselines", {}).items() if name not in named]
    head = "".join(f"<th>{html.escape(h)}</th>" for h in ("forecaster", "weight", f"val {metric}", f"test {metric}"))
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in (name, weight, tables.fmt(val.get(metric)), tables.fmt(test.get(metric)))) + "</tr>"
        for name, weight, val, test in rows
    )
    return f'<h3>served forecaster</h3><table class="facts" id="served"><tr>{head}</tr>{body}</table>'


def _front_html(best: dict) -> str:
    """The Pareto front as a table: trial, values, params, test metric of the first objective."""
    metrics, front = best["metrics"], best["pareto_front"]
    params = tables.union_keys(r["params"] for r in front)
    head = ["trial", *metrics, *params, f"test {metrics[0]}", "checkpoint"]
    rows = [
        [f"#{r['trial']}", *(tables.fmt(r["values"].get(m)) for m in metrics), *(tables.fmt(r["params"].get(p)) for p in params),
         tables.fmt(r["test"].get(metrics[0])), "yes" if r.get("checkpoint") else "-"]
        for r in front
    ]  # fmt: skip
    cells = "".join(f"<th>{html.escape(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f'<h3>Pareto front</h3><table class="facts front" id="pareto-front"><tr>{cells}</tr>{body}</table>'


def best_forecast(study: optuna.Study, storage_url: str | None, artifacts: str | None = None) -> tuple[dict | None, str]:
    """(the best trial's forecast figure data, "") or (None, why there is none): a study made
    before forecast figures existed, or whose artifact folder is elsewhere, still reports."""
    best = pareto.lead(study)  # a multi-objective study: the lead of its front
    if best is None:
        return None, "no completed trial yet"
    if not storage_mod.made_here(best):  # another client's trial: the served trial's forecast
        best = tables.servable_best(study)
        if best is None:
            return None, "the best trial was not made by this service and no trial made by it kept a checkpoint: no forecast to draw"
    artifact_id = best.user_attrs.get("forecast")
    if best.user_attrs.get("forecast_error"):
        return None, f"the best trial #{best.number}'s forecast figure could not be drawn: {best.user_attrs['forecast_error']}"
    if artifact_id is None:
        return None, f"the best trial #{best.number} has no forecast artifact (studies searched before forecast figures were recorded have none)"
    recorded = flat(study).get("artifacts")
    if storage_url is None and artifacts is None and recorded is None:
        return None, "no artifact folder to read the forecast from"
    folder = storage_mod.find_artifacts(storage_url or "", artifacts, recorded)
    try:
        from optuna.artifacts import FileSystemArtifactStore

        store = storage_mod.open_artifact_store("", folder) if storage_mod.is_object_store(folder) else FileSystemArtifactStore(folder)
        with store.open_reader(artifact_id) as reader:
            return json.loads(reader.read()), ""
    except Exception as exc:  # missing folder or file, unreadable data, no bucket: a note, the rest is drawn
        return None, f"the forecast artifact {artifact_id} of trial #{best.number} could not be read from {folder} ({type(exc).__name__}); pass --artifacts DIR"


def _forecast_html(study: optuna.Study, storage_url: str | None, artifacts: str | None) -> tuple[str, int]:
    view, note = best_forecast(study, storage_url, artifacts)
    if view is None:
        return f'<div class="note" data-skipped="forecast">{html.escape(note)}</div>', 0
    fragment, drawn = forecast_figure.fragment(view, prefix="fig")
    stats = stat_baselines_line(flat(study))
    return fragment + (f'<div class="note" data-stat-baselines="1">{html.escape(stats)}</div>' if stats else ""), drawn


def stat_baselines_line(attrs: dict) -> str:
    """The statistical baselines the study holds, on the same test targets (their metrics: the
    study keeps no forecasts of theirs to draw): ``MSTL test MAE 0.451, RMSE 0.55; ...``."""
    parts = []
    for name, label in tables.STAT_LABELS.items():
        mae, rmse = attrs.get(f"baseline_{name}_test_mae"), attrs.get(f"baseline_{name}_test_rmse")
        if mae is not None and rmse is not None:
            parts.append(f"{label} test MAE {mae:.4g}, RMSE {rmse:.4g}")
    running = [f"{label}: running" for label, state in tables.stat_states(attrs).items() if state == "running"]
    if not parts:
        return ("Statistical baselines: " + ", ".join(running)) if running else ""
    note = "; ".join(n for n in (attrs.get("stat_baselines_note"), *running) if n)
    note = f" ({note})" if note else ""
    return "Statistical baselines on the same test targets, not drawn: " + "; ".join(parts) + note


@contextlib.contextmanager
def collector_paused():
    """Python's cyclic garbage collector off inside, back as it was after.

    A report of a big study keeps a few hundred thousand objects alive while it is built (the
    snapshot of its trials, then the figures), and each full collection walks every one of
    them, to free nothing: at 20,000 trials nine full collections took a quarter of the
    command's CPU time (5.6 -> 4.3 s with the collector off). The cyclic garbage made meanwhile
    (plotly's objects point to their parents) waits for the next collection after it: about
    30 MB more peak memory at 20,000 trials (410 -> 440 MB)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def build_report(study: optuna.Study, storage_url: str | None = None, artifacts: str | None = None) -> tuple[str, int]:
    """(the HTML document, the number of figures drawn)."""
    with collector_paused():
        return _build_report(study, storage_url, artifacts)


def _build_report(study: optuna.Study, storage_url: str | None, artifacts: str | None) -> tuple[str, int]:
    from plotly.offline import get_plotlyjs

    forecast, drawn = _forecast_html(study, storage_url, artifacts)
    parts = []
    for s in sections(study):
        parts.append(f'<section id="{s.key}"><h2>{html.escape(s.title)}</h2><p class="caption">{html.escape(s.caption)}</p>')
        if s.figure is not None:
            parts.append(s.figure.to_html(full_html=False, include_plotlyjs=False, div_id=f"fig-{s.key}", config=PLOT_CONFIG))
            drawn += 1
        else:
            parts.append(f'<div class="note" data-skipped="{s.key}">{html.escape(s.note)}</div>')
        parts.append("</section>")
    title = f"Study {study.study_name}"
    doc = f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)}</title>
<style>{CSS}</style>
<script>{ERROR_CATCHER}</script>
<script type="text/javascript">{get_plotlyjs()}</script>
</head>
<body>
<div id="report-errors" hidden></div>
<h1>{html.escape(title)}</h1>
{_kv_table(facts(study, storage_url))}
<section id="best"><h2>Best trial</h2>{_best_html(study)}</section>
<section id="forecast"><h2>Forecasts of the best trial</h2>{forecast}</section>
{"".join(parts)}
</body>
</html>
"""
    return doc, drawn


def write_report(study: optuna.Study, path: str | Path, storage_url: str | None = None, artifacts: str | None = None) -> int:
    """Write the report to ``path``; returns the number of figures drawn."""
    doc, drawn = build_report(study, storage_url, artifacts)
    path = Path(path)
    if path.parent != Path(""):
        storage_mod.make_private_folders(path.parent)
    with storage_mod.open_private(path, "w", encoding="utf-8") as f:  # it shows every trial
        f.write(doc)
    return drawn
