"""The figures of ``search report`` (``search.results.report``), each built from the study's trials.

The trials are read once (``snapshot``: the study's trials without their intermediate values and
with only the user attrs the figures draw) and every figure reads that snapshot. A figure
function returns a plotly figure, or (figure, a note for its caption) when it drew a sample of a
big study (at most ``MAX_CURVES`` learning curves, ``MAX_SAMPLED`` completed trials elsewhere);
one that cannot be drawn for this study raises ``Skip``, whose message becomes the note in its
place. Figures come from ``optuna.visualization`` where it has them and plain plotly otherwise.
"""

from __future__ import annotations

import datetime as dt
import html
import warnings
from typing import Iterable

import optuna
from optuna.distributions import CategoricalDistribution
from optuna.trial import FrozenTrial, TrialState

import storage as storage_mod
from search import pareto
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
