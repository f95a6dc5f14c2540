"""The best trials of a study, one objective or several: a leaf shared by the driver (its
progress, which checkpoints it keeps) and the readers (tables, report, ``search.load_best``).

A single-objective study has one best trial (``study.best_trial``). A multi-objective one has
a Pareto front (``study.best_trials``: the COMPLETE trials no other trial dominates), listed
here by the first objective (best first), then by trial number. Its first entry is the
study's *lead* trial: the one ``search best`` names first, the report draws and
``search.load_best`` loads unless it is given another ``trial``. The first objective is the
validation metric every epoch reports, so the lead is the most accurate model on the front.
"""

from __future__ import annotations

from typing import Sequence

import optuna
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial, TrialState

from search.study_attrs import flat


def is_multi(study: optuna.Study) -> bool:
    return len(study.directions) > 1


def metric_names(study: optuna.Study) -> list[str]:
    """The study's metric names (``study.metric_names``), else its ``metric`` attr or "value"
    for a study made before names were set (one per objective)."""
    names = study.metric_names
    if names:
        return list(names)
    n = len(study.directions)
    first = str(flat(study).get("metric", "value"))
    return [first] if n == 1 else [first] + [f"objective {i}" for i in range(1, n)]


def front(study: optuna.Study) -> list[FrozenTrial]:
    """The Pareto front, best first by the first objective (then by trial number); for a
    single-objective study, its best trial alone (empty without a COMPLETE trial)."""
    if not is_multi(study):
        try:
            return [study.best_trial]
        except ValueError:
            return []
    sign = 1.0 if study.directions[0] == StudyDirection.MINIMIZE else -1.0
    return sorted(study.best_trials, key=lambda t: (sign * t.values[0], t.number))


def lead(study: optuna.Study) -> FrozenTrial | None:
    """The best trial of a single-objective study; the first trial of a multi-objective
    study's front (see the module doc); None without a COMPLETE trial."""
    trials = front(study)
    return trials[0] if trials else None


def dominates(a: Sequence[float], b: Sequence[float], directions: Sequence[str]) -> bool:
    """Whether values ``a`` dominate ``b``: no worse in every objective, better in one.
    ``directions``: "minimize" / "maximize" per objective."""
    signs = [1.0 if d == "minimize" else -1.0 for d in directions]
    no_worse = all(s * x <= s * y for s, x, y in zip(signs, a, b))
    return no_worse and any(s * x < s * y for s, x, y in zip(signs, a, b))


def enters_front(study: optuna.Study, values: Sequence[float], directions: Sequence[str]) -> bool:
    """Whether a trial with ``values`` would be on the study's Pareto front: no COMPLETE trial
    dominates it (a trial equal to one on the front is on it too)."""
    for trial in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        if trial.values is not None and dominates(trial.values, values, directions):
            return False
    return True
