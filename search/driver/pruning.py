"""What the driver knows about the study's pruner without asking it every epoch.

``PruneGate`` tells, from a median or percentile pruner's own settings, the steps at which it
cannot say "prune" (its warm-up, between its interval steps, before enough trials are
complete), so the bridge skips ``should_prune`` there and workers need not wait for an answer
(``search.worker.trainable``). ``PruningView`` is the study as the pruner reads it, held in
memory: the COMPLETE trials (this driver's added when it tells them, other drivers' found by
a count, and where it grew a query of ids, at most every 0.2 s) and each running trial's own
intermediate values, so a median/percentile decision reads no storage at all.
"""

from __future__ import annotations

import threading

import optuna
from optuna.trial import TrialState

from search.worker.steps import check_boundary


class PruneGate:
    """When the study's pruner can possibly say "prune", known without reading the study.

    ``trial.should_prune`` runs the pruner, and Optuna's median/percentile pruner first loads
    every COMPLETE trial of the study, only to return False during its warm-up steps, between
    its interval steps, and until ``n_startup_trials`` trials are complete. Those rules are
    read from the pruner object itself (the exact classes only: a subclass may prune
    differently), so the bridge skips the call where the answer is certainly "go on". Any
    other pruner is always asked, except ``NopPruner``, which never prunes.

    ``decide`` is what a worker is told: the steps at which it must wait for the driver's
    decision (``{"from": step, "every": n}``), or None when no step needs one.
    """

    def __init__(self, pruner: optuna.pruners.BasePruner | None):
        self.never = isinstance(pruner, optuna.pruners.NopPruner) or pruner is None
        self.rules: tuple[int, int, int] | None = None  # (n_startup_trials, n_warmup_steps, interval_steps)
        if type(pruner) in (optuna.pruners.MedianPruner, optuna.pruners.PercentilePruner):
            try:
                startup, warmup, interval = (int(getattr(pruner, a)) for a in ("_n_startup_trials", "_n_warmup_steps", "_interval_steps"))
            except (AttributeError, TypeError, ValueError):
                pass  # another Optuna version: ask the pruner every time
            else:
                if interval >= 1 and warmup >= 0:
                    self.rules = (max(startup, 1), warmup, interval)  # no COMPLETE trial: never prunes either
        self.startup_done = False  # COMPLETE trials never go away: once enough, always enough

    @property
    def decide(self) -> dict | None:
        if self.never:
            return None
        if self.rules is None:
            return {"from": 0, "every": 1}
        return {"from": self.rules[1], "every": self.rules[2]}

    def may_prune(self, step: int, earlier_steps, count_complete) -> bool:
        """False only where the pruner would certainly return False at ``step``.
        ``earlier_steps``: the trial's other reported steps; ``count_complete()``: the study's
        COMPLETE trials (asked last, and only until the start-up count is reached)."""
        if self.never:
            return False
        if self.rules is None:
            return True
        startup, warmup, interval = self.rules
        if step < warmup:
            return False
        # the pruner checks once per interval: at the first step reported at or after each
        # warmup + k * interval
        if max((s for s in earlier_steps if s != step), default=-1) >= check_boundary(step, warmup, interval):
            return False
        if not self.startup_done:
            self.startup_done = count_complete() >= startup
        return self.startup_done


# The pruners whose ``prune(study, trial)`` reads nothing of the study but its COMPLETE trials
# and its direction (exact classes: a subclass may read more).
VIEW_PRUNERS = (optuna.pruners.MedianPruner, optuna.pruners.PercentilePruner)


class PruningView:
    """The study in memory, as Optuna's median/percentile pruner reads it: its direction and
    its COMPLETE trials (``get_trials(states=(COMPLETE,))``), nothing else.

    Finished trials never change, so the view only grows: this driver adds each trial it
    tells COMPLETE (``add``), and ``refresh`` (the driver's writer thread calls it at most every
    0.2 s) counts the study's COMPLETE trials and, where other drivers added some, finds them
    by one query of ids and loads only those.
    ``decide(trial)`` is ``pruner.prune(view, trial)``: Optuna's own code on the same trials,
    so the same decision as ``trial.should_prune()`` once the study holds the trial's values
    (tests/search/test_pruning_replay.py). Other drivers' completions reach it up to one
    interval late, as they would reach a ``should_prune`` called that much earlier.
    """

    def __init__(self, study: optuna.Study):
        from storage import complete_trial_ids, count_trials

        self._study = study
        self._ids, self._count = complete_trial_ids, count_trials
        self._lock = threading.Lock()
        self._trials: list[optuna.trial.FrozenTrial] = []
        self._known: set[int] = set()
        self.direction = study.direction  # never changes
        self.refresh()

    @property
    def n_complete(self) -> int:
        return len(self._trials)

    def add(self, trial: optuna.trial.FrozenTrial) -> None:
        if trial.state != TrialState.COMPLETE:
            return
        with self._lock:
            if trial._trial_id not in self._known:
                self._known.add(trial._trial_id)
                self._trials = [*self._trials, trial]  # readers hold the old list: never changed in place

    def refresh(self) -> None:
        storage, study_id = self._study._storage, self._study._study_id
        if self._count(storage, study_id, (TrialState.COMPLETE,)) == len(self._known):
            return  # none added elsewhere (finished trials never change state)
        new = self._ids(storage, study_id) - self._known
        for trial_id in sorted(new):
            self.add(storage.get_trial(trial_id))

    def get_trials(self, deepcopy: bool = False, states=None) -> list[optuna.trial.FrozenTrial]:
        if states is not None and set(states) != {TrialState.COMPLETE}:
            return self._study.get_trials(deepcopy=deepcopy, states=states)  # not what the pruner asks: no shortcut
        return list(self._trials)

    def decide(self, pruner: optuna.pruners.BasePruner, trial: optuna.trial.FrozenTrial) -> bool:
        return bool(pruner.prune(self, trial))
