"""Live progress of a search: a rich panel on a terminal and in a notebook with ipywidgets
(rich draws it there through an ipywidgets ``Output``; ``pip install 'sequence-search[notebook]'``),
plain lines otherwise: one per trial of this driver's as it finishes, with the study-wide counts."""

from __future__ import annotations

import time

from optuna.trial import TrialState
from rich.console import Console
from rich.live import Live
from rich.table import Table

from search import pareto
from search._format import format_value
from storage import OWNER_KEY, made_here


class Progress:
    """Reads the bridge's study; ``update()`` after every change, ``close()`` at the end."""

    def __init__(self, bridge, console: Console, *, quiet: bool = False, baselines=None):
        self.bridge = bridge
        self.baselines = baselines  # search.driver.stat_runs.BaselineRuns running beside the trials, or None
        self._last_wait = 0.0
        self.console = console
        self.quiet = quiet
        self.started = time.monotonic()
        self._live: Live | None = None
        self._seen: set[int] = set()
        self._snapshot: dict = {}
        self._finished_at_start = 0

    def __enter__(self) -> "Progress":
        trials = self.bridge.study.get_trials(deepcopy=False)
        self._seen = {t.number for t in trials if t.state.is_finished()}
        self._finished_at_start = sum(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in trials)
        if not self.quiet and (self.console.is_terminal or (self.console.is_jupyter and _has_ipywidgets())):
            self._live = Live(self._render(), console=self.console, refresh_per_second=4, transient=False)
            self._live.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        if self._live is not None:
            self._live.update(self._render())
            self._live.__exit__(*exc)

    def counts(self) -> dict:
        trials = self.bridge.study.get_trials(deepcopy=False)
        by_state = {state: 0 for state in TrialState}
        for t in trials:
            by_state[t.state] += 1
        front = pareto.front(self.bridge.study)  # the best trial; several on a multi-objective front
        foreign = sum(t.state.is_finished() and not made_here(t) for t in trials)
        return {"trials": trials, "by_state": by_state, "best": front[0] if front else None, "front": len(front), "foreign": foreign}

    def _best_text(self, c: dict, number: bool = True) -> str:
        """``0.41 (#3)``; for a multi-objective study the front's size and its lead trial's
        first objective: ``pareto front 3, lead mae 0.41 (#3)``."""
        best = c["best"]
        if best is None:
            return "-"
        which = f" (#{best.number})" if number else ""
        if not made_here(best):
            which = f" (#{best.number}, not made by this service)"
        if not pareto.is_multi(self.bridge.study):
            return f"{format_value(best.value)}{which}"
        return f"pareto front {c['front']}, lead {pareto.metric_names(self.bridge.study)[0]} {format_value(best.values[0])} (#{best.number})"

    def _render(self) -> Table:
        c = self._snapshot or self.counts()
        s = c["by_state"]
        finished = s[TrialState.COMPLETE] + s[TrialState.PRUNED]
        table = Table(title=f"study {self.bridge.study.study_name}", show_header=True, expand=False)
        best_col = "pareto front" if pareto.is_multi(self.bridge.study) else "best value"
        for col in ("finished", "complete", "pruned", "failed", "running", best_col, "elapsed", "remaining"):
            table.add_column(col, justify="right")
        best = c["best"]
        elapsed = time.monotonic() - self.started
        table.add_row(
            f"{finished}/{self.bridge.target}",
            str(s[TrialState.COMPLETE]),
            str(s[TrialState.PRUNED]),
            str(s[TrialState.FAIL]),
            str(s[TrialState.RUNNING]),
            self._best_text(c),
            f"{elapsed:.0f}s",
            self._eta(finished, elapsed),
        )
        if self.baselines is not None and not self.baselines.done:
            table.caption = f"statistical baselines: {self.baselines.status_text()}"
        return table

    def baseline_done(self) -> None:
        """A statistical baseline was recorded: the panel redrawn, or one plain line."""
        if self.quiet:
            return
        if self._live is not None:
            self._live.update(self._render())
            return
        left = self.baselines.status_text() if self.baselines is not None and not self.baselines.done else "all recorded"
        self.console.print(f"statistical baselines: {left}", highlight=False, soft_wrap=True)

    def waiting(self, status: str) -> None:
        """The trials are done and the baselines still run: the panel's caption, or a plain
        line every 15 s."""
        if self.quiet:
            return
        if self._live is not None:
            self._live.update(self._render())
        elif time.monotonic() - self._last_wait >= 15:
            self._last_wait = time.monotonic()
            self.console.print(f"trials done; waiting for the statistical baselines: {status}", highlight=False, soft_wrap=True)

    def _eta(self, finished: int, elapsed: float) -> str:
        """Remaining time at this run's pace so far (finished trials per second)."""
        done_here = finished - self._finished_at_start
        if done_here <= 0:
            return "-"
        left = max(0, self.bridge.target - finished)
        return f"~{left * elapsed / done_here:.0f}s"

    def update(self) -> None:
        if self.quiet:
            return
        self._snapshot = self.counts()
        if self._live is not None:
            self._live.update(self._render())
            return
        # Not a terminal: one plain line per trial of this driver's as it ends, with the
        # study-wide counts (other drivers' and other clients' trials among them)
        s = self._snapshot["by_state"]
        foreign = self._snapshot["foreign"]
        others = f", {foreign} not made by this service" if foreign else ""
        best = self._best_text(self._snapshot, number=False)
        if not pareto.is_multi(self.bridge.study):
            best = f"best {best}"
        for t in self._snapshot["trials"]:
            if t.state.is_finished() and t.number not in self._seen:
                self._seen.add(t.number)
                if t.system_attrs.get(OWNER_KEY) != self.bridge.owner:
                    continue  # another driver's (it prints its own) or another client's (counted)
                error = f" error={t.user_attrs.get('error')}" if t.state == TrialState.FAIL else ""
                self.console.print(
                    f"trial {t.number} {t.state.name} {_values_text(self.bridge.study, t)} epochs={t.user_attrs.get('epochs_run', '-')}{error} | "
                    f"finished {s[TrialState.COMPLETE] + s[TrialState.PRUNED]}/{self.bridge.target} "
                    f"(pruned {s[TrialState.PRUNED]}, failed {s[TrialState.FAIL]}, running {s[TrialState.RUNNING]}{others}) "
                    f"{best}",
                    highlight=False,
                    soft_wrap=True,
                )


def _has_ipywidgets() -> bool:
    """Whether rich can draw a live panel in this notebook (it needs ipywidgets)."""
    try:
        import ipywidgets  # noqa: F401
    except ImportError:
        return False
    return True


def _values_text(study, trial) -> str:
    """``value=0.41``; for a multi-objective study every objective by name: ``mae=0.41 n_params=1217``."""
    if not pareto.is_multi(study):
        return f"value={format_value(trial.value)}"
    values = trial.values or [None] * len(study.directions)
    return " ".join(f"{name}={format_value(v)}" for name, v in zip(pareto.metric_names(study), values))
