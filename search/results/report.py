"""``search report``: one self-contained HTML file about a study.

The file holds the study's facts (space file, hash, dataset, metric and direction, version),
the best trial (a multi-objective study: its Pareto front as a table and a figure, and the
front's lead trial, ``search.pareto``), its forecasts against the truth and the naive baselines (from the trial's
``forecast`` artifact, drawn by ``search.forecast_figure``; classify: a confusion matrix,
text: a sample continuation), and plotly figures: optimization history, intermediate values, parameter
importances, parallel coordinates, slices, the value per choice of each categorical parameter
(box plot) and a timeline of trials per worker. plotly.js is embedded once, so the file opens
offline and can be mailed or archived next to the study.

Figures come from ``optuna.visualization`` where it has them and plain plotly otherwise. A figure
that cannot be drawn (too few trials, no categorical parameter...) becomes a one-line note in
its place. A small inline script shows any JavaScript error at the top of the page (element
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
from typing import Callable, Iterable

import optuna
from optuna.distributions import CategoricalDistribution
from optuna.trial import FrozenTrial, TrialState

import storage as storage_mod
from search import forecast_figure, pareto
from search.errors import NoResultError
from search.results import tables

# Parameter importances from fewer completed trials than this are noise: skipped with a note.
MIN_IMPORTANCE_TRIALS = 4
# A big study is drawn from a sample: at most this many learning curves (intermediate values),
# and at most this many completed trials in the importances, parallel coordinates, slices and
# box plots; every k-th trial by number, the best always among them. The history and the
# timeline draw every trial (a point or a bar each).
MAX_CURVES = 500
MAX_SAMPLED = 1000
# The user attrs the figures draw (the timeline's lanes); the best trial's are read on their own.
FIGURE_ATTRS = ("node",)
STATE_COLORS = {"COMPLETE": "#2a9d8f", "PRUNED": "#e9c46a", "FAIL": "#e76f51", "RUNNING": "#457b9d", "WAITING": "#adb5bd"}
PLOT_CONFIG = {"displaylogo": False, "responsive": True}


@dataclass
class Section:
    key: str
    title: str
    caption: str
    figure: object | None = None  # a plotly Figure, or None with ``note`` saying why
    note: str = ""


class Skip(Exception):
    """A figure that cannot be drawn for this study; the message becomes the note."""


# -- the trials, read once


class Snapshot(optuna.Study):
    """The study with its trials read once (``storage.read_trials``, without their intermediate
    values and with only the user attrs the figures draw): ``optuna.visualization`` asks for the trials many times over, and each ask would
    otherwise read the whole study again (a study of 20,000 trials of 50 epochs holds a million
    intermediate values). ``trials`` may be a sample of the study's trials.

    The study's user attrs and its best trial are read once too, and shared with the snapshots
    of samples made from this one (the figures ask for them a dozen times)."""

    def __init__(self, study: optuna.Study, trials: list[FrozenTrial]):
        super().__init__(study_name=study.study_name, storage=study._storage)
        self._snapshot = trials
        self._read_once: dict[str, object] = study._read_once if isinstance(study, Snapshot) else {}

    @property
    def user_attrs(self) -> dict:
        if "user_attrs" not in self._read_once:
            self._read_once["user_attrs"] = super().user_attrs
        return dict(self._read_once["user_attrs"])

    @property
    def best_trial(self) -> FrozenTrial:
        if "best_trial" not in self._read_once:
            self._read_once["best_trial"] = super().best_trial  # raises without a COMPLETE trial: asked again next time
        return self._read_once["best_trial"]

    def get_trials(self, deepcopy: bool = True, states=None) -> list[FrozenTrial]:
        return self._get_trials(deepcopy, states)

    def _get_trials(self, deepcopy: bool = True, states=None, use_cache: bool = False) -> list[FrozenTrial]:
        return list(self._snapshot) if states is None else [t for t in self._snapshot if t.state in states]

    @property
    def trials(self) -> list[FrozenTrial]:
        return self.get_trials()


def snapshot(study: optuna.Study) -> Snapshot:
    if isinstance(study, Snapshot):
        return study
    trials = storage_mod.read_trials(study._storage, study._study_id, intermediate_values=False, user_attr_keys=FIGURE_ATTRS)
    return Snapshot(study, trials)


def spread_sample(trials: list[FrozenTrial], n: int, keep: FrozenTrial | None = None) -> list[FrozenTrial]:
    """At most ``n`` of ``trials`` (all of them when they are no more): evenly spaced in their
    order, ``keep`` (the best trial) among them; the order kept."""
    if len(trials) <= n:
        return list(trials)
    picked = {round(i * (len(trials) - 1) / (n - 1)) for i in range(n)}
    if keep is not None:
        at = next((i for i, t in enumerate(trials) if t.number == keep.number), None)
        if at is not None and at not in picked:
            picked.discard(max(picked - {0, len(trials) - 1}))
            picked.add(at)
    return [trials[i] for i in sorted(picked)]


def _sampled(study: optuna.Study) -> tuple[optuna.Study, str]:
    """(the study, "") or, with more than ``MAX_SAMPLED`` completed trials, (a snapshot of a
    sample of them, the caption's note saying so)."""
    completed = _completed(study)
    if len(completed) <= MAX_SAMPLED:
        return study, ""
    sample = spread_sample(completed, MAX_SAMPLED, tables.best_or_none(study))
    return Snapshot(study, sample), f"Drawn from {len(sample):,} of the {len(completed):,} completed trials (evenly spaced by number, the best among them)."


# -- figures


def _completed(study: optuna.Study) -> list[FrozenTrial]:
    return study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))


def _need_completed(study: optuna.Study, n: int = 1) -> None:
    have = len(_completed(study))
    if have < n:
        raise Skip(f"needs at least {n} completed trial{'s' if n > 1 else ''}; the study has {have}")


def _target(study: optuna.Study) -> dict:
    """What the per-value figures plot: the study's value, named by its metric; for a
    multi-objective study its first objective (the Pareto front has a figure of its own)."""
    if not pareto.is_multi(study):
        return {"target_name": tables.metric_name(study)}
    return {"target": lambda t: t.values[0], "target_name": pareto.metric_names(study)[0]}


def fig_pareto(study: optuna.Study):
    """A multi-objective study's trials in objective space, the Pareto front highlighted."""
    _need_completed(study)
    names = pareto.metric_names(study)
    fig = optuna.visualization.plot_pareto_front(study, target_names=names, include_dominated_trials=True)
    fig.update_layout(legend_title_text="trials")
    return fig


def fig_history(study: optuna.Study):
    _need_completed(study)
    return optuna.visualization.plot_optimization_history(study, **_target(study))


def fig_intermediate(study: optuna.Study):
    """Every trial's curve; a big study's ``MAX_CURVES`` of them (read only for those)."""
    import copy

    trials = study.get_trials(deepcopy=False)
    chosen = spread_sample(trials, MAX_CURVES, tables.best_or_none(study))
    steps = storage_mod.read_intermediate_values(study._storage, [t._trial_id for t in chosen])
    drawn = []
    for t in chosen:
        t = copy.copy(t)
        t.intermediate_values = steps.get(t._trial_id, {})
        drawn.append(t)
    if not any(t.intermediate_values for t in drawn):
        raise Skip("no trial reported an intermediate value yet")
    fig = optuna.visualization.plot_intermediate_values(Snapshot(study, drawn))
    fig.update_layout(yaxis_title=f"validation {tables.metric_name(study)}")
    if len(chosen) < len(trials):
        return fig, f"Drawn for {len(chosen):,} of the {len(trials):,} trials (evenly spaced by number, the best among them)."
    return fig


def fig_importances(study: optuna.Study):
    _need_completed(study, MIN_IMPORTANCE_TRIALS)
    study, note = _sampled(study)
    varied = [p for p in _param_names(study) if len({repr(t.params.get(p)) for t in _completed(study)}) > 1]
    if not varied:
        raise Skip("no parameter took more than one value among the completed trials")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fig = optuna.visualization.plot_param_importances(study, **_target(study))
    for w in caught:
        if "too small" in str(w.message) or "will be equal" in str(w.message):
            raise Skip(f"not computed: {w.message}")
    return (fig, note) if note else fig


def fig_parallel(study: optuna.Study):
    _need_completed(study)
    study, note = _sampled(study)
    fig = optuna.visualization.plot_parallel_coordinate(study, **_target(study))
    return (fig, note) if note else fig


def fig_slice(study: optuna.Study):
    _need_completed(study)
    study, note = _sampled(study)
    fig = optuna.visualization.plot_slice(study, **_target(study))
    return (fig, note) if note else fig


def fig_categorical_box(study: optuna.Study):
    """The value of completed trials per choice, one box plot per categorical parameter."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    _need_completed(study)
    study, note = _sampled(study)
    trials = _completed(study)
    choices: dict[str, tuple] = {}
    for t in study.get_trials(deepcopy=False):
        for name, dist in t.distributions.items():
            if isinstance(dist, CategoricalDistribution):
                choices.setdefault(name, dist.choices)
    if not choices:
        raise Skip("the space has no categorical parameter")
    names = sorted(choices)
    fig = make_subplots(rows=1, cols=len(names), subplot_titles=names, shared_yaxes=True)
    for col, name in enumerate(names, start=1):
        xs = [str(t.params[name]) for t in trials if name in t.params]
        ys = [t.values[0] for t in trials if name in t.params]
        fig.add_trace(
            go.Box(
                x=xs, y=ys, name=name, boxpoints="all", jitter=0.3, pointpos=0, showlegend=False,
                text=[f"trial #{t.number}" for t in trials if name in t.params], marker_color="#457b9d",
            ),  # fmt: skip
            row=1,
            col=col,
        )
        fig.update_xaxes(type="category", categoryorder="array", categoryarray=[str(c) for c in choices[name]], row=1, col=col)
    fig.update_yaxes(title_text=_target(study)["target_name"], row=1, col=1)
    return (fig, note) if note else fig


def worker_lanes(trials: list[FrozenTrial], now: dt.datetime | None = None) -> list[tuple[FrozenTrial, str, dt.datetime, dt.datetime]]:
    """(trial, lane, start, end) for each started trial. A lane is one worker slot: trials on the
    same node that overlap in time get separate lanes (``node #1``, ``node #2``...)."""
    now = now or dt.datetime.now()
    spans = []
    for t in trials:
        if t.datetime_start is None:
            continue
        end = t.datetime_complete or (now if t.state == TrialState.RUNNING else t.datetime_start)
        spans.append((t, str(t.user_attrs.get("node") or "unknown node"), t.datetime_start, end))
    spans.sort(key=lambda s: (s[1], s[2]))
    lane_ends: dict[str, list[dt.datetime]] = {}
    placed = []
    for t, node, start, end in spans:
        ends = lane_ends.setdefault(node, [])
        lane = next((i for i, e in enumerate(ends) if e <= start), None)
        if lane is None:
            ends.append(end)
            lane = len(ends) - 1
        else:
            ends[lane] = end
        placed.append((t, node, lane, start, end))
    many = {node for node, ends in lane_ends.items() if len(ends) > 1}
    return [(t, f"{node} #{lane + 1}" if node in many else node, start, end) for t, node, lane, start, end in placed]


def fig_timeline(study: optuna.Study):
    """Trials as bars over time, one row per worker slot, coloured by state.

    A big study draws a bar per trial (20,000 and more): the columns go to plotly as numpy
    arrays, which it takes as they are (a list it checks and copies element by element), and
    each hover's ``param=value`` lines come from a ``_HoverText`` that formats a value once."""
    import numpy as np
    import plotly.graph_objects as go

    lanes = worker_lanes(study.get_trials(deepcopy=False))
    if not lanes:
        raise Skip("no trial has started yet")
    fig = go.Figure()
    hover = _HoverText(tables.objective_label(study))
    for state in STATE_COLORS:
        rows = [r for r in lanes if r[0].state.name == state]
        if not rows:
            continue
        seconds = [(end - start).total_seconds() for _, _, start, end in rows]
        fig.add_trace(
            go.Bar(
                orientation="h",
                name=state.lower(),
                y=_text_array(lane for _, lane, _, _ in rows),
                base=_text_array(start.isoformat() for _, _, start, _ in rows),
                x=np.maximum(np.array(seconds) * 1000, 1.0),  # ms on a date axis
                marker_color=STATE_COLORS[state],
                hovertext=_text_array(hover(t, s) for (t, _, _, _), s in zip(rows, seconds)),
                hoverinfo="text",
                text=_text_array(f"#{t.number}" for t, _, _, _ in rows),
                textposition="inside",
                insidetextanchor="middle",
            )
        )
    fig.update_xaxes(type="date", title_text="time")
    fig.update_yaxes(title_text="worker (node, slot)", autorange="reversed", type="category")
    height = max(260, 60 + 40 * len({lane for _, lane, _, _ in lanes}))
    fig.update_layout(barmode="overlay", height=height, legend_title_text="state")
    return fig


def _text_array(texts: Iterable[str]):
    """Strings as a numpy object array: plotly takes it without checking each element."""
    import numpy as np

    return np.array(list(texts), dtype=object)


class _HoverText:
    """A timeline bar's hover: trial, state, value, seconds and every param as ``name=value``
    (escaped). A param's line is made once per distinct value: most params take few values
    (choices, integer steps), and a big study's timeline writes one per param and trial."""

    def __init__(self, metric: str):
        self.metric = metric
        self._lines: dict[tuple[str, type, object], str] = {}
        self._names: dict[str, str] = {}

    def __call__(self, t: FrozenTrial, seconds: float) -> str:
        params = "<br>".join(self._line(k, v) for k, v in t.params.items())
        value = tables.fmt(t.values) if t.values else "-"
        return f"trial #{t.number} ({t.state.name.lower()})<br>{self.metric} {value}<br>{seconds:.1f} s<br>{params}"

    def _line(self, name: str, value: object) -> str:
        key = (name, type(value), value)  # by type too: True and 1 are equal keys, shown as yes and 1
        line = self._lines.get(key)
        if line is None:
            text = tables.fmt(value)
            if not isinstance(value, (int, float)):  # a number's text (digits, yes/no, -) needs no escaping
                text = html.escape(text)
            name_text = self._names.get(name) or self._names.setdefault(name, html.escape(name))
            line = self._lines[key] = f"{name_text}={text}"
        return line


def _param_names(study: optuna.Study) -> list[str]:
    return tables.union_keys(t.params for t in study.get_trials(deepcopy=False))


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
    a = study.user_attrs
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
        ("generated", dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M:%S %Z")),
    ]
    return [(k, str(v)) for k, v in rows if v is not None]


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
    versus = "".join(f'<p class="caption">{html.escape(line)}</p>' for line in [*best.get("versus_baselines", []), tables.ensemble_line(best)] if line)
    return (
        f'<p class="caption">{html.escape(head)}</p>{front}{versus}<div class="grid">'
        f"<div><h3>params</h3>{params}</div><div><h3>test metrics (best epoch's weights)</h3>{tests}</div>"
        f"<div><h3>trial</h3>{_kv_table(extra)}</div></div>"
    )


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
    artifact_id = best.user_attrs.get("forecast")
    if best.user_attrs.get("forecast_error"):
        return None, f"the best trial #{best.number}'s forecast figure could not be drawn: {best.user_attrs['forecast_error']}"
    if artifact_id is None:
        return None, f"the best trial #{best.number} has no forecast artifact (studies searched before forecast figures were recorded have none)"
    recorded = study.user_attrs.get("artifacts")
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
    stats = stat_baselines_line(study.user_attrs)
    return fragment + (f'<div class="note" data-stat-baselines="1">{html.escape(stats)}</div>' if stats else ""), drawn


def stat_baselines_line(attrs: dict) -> str:
    """The statistical baselines the study holds, on the same test targets (their metrics: the
    study keeps no forecasts of theirs to draw): ``MSTL test MAE 0.451, RMSE 0.55; ...``."""
    parts = []
    for name, label in tables.STAT_LABELS.items():
        mae, rmse = attrs.get(f"baseline_{name}_test_mae"), attrs.get(f"baseline_{name}_test_rmse")
        if mae is not None and rmse is not None:
            parts.append(f"{label} test MAE {mae:.4g}, RMSE {rmse:.4g}")
    if not parts:
        return ""
    note = f" ({attrs['stat_baselines_note']})" if attrs.get("stat_baselines_note") else ""
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
        path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(doc, encoding="utf-8")
    return drawn
