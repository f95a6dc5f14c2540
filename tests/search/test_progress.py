"""Progress output: a live table on a terminal, one plain line per ended trial otherwise."""

from __future__ import annotations

import io
from types import SimpleNamespace

import optuna
from rich.console import Console

import storage
from search.driver.progress import Progress


def make_study():
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(study_name="p")
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=2)
    return study


def own(study, owner: str, state, value=None) -> None:
    """A trial as a driver of this service makes it: marked as ``owner``'s when it starts."""
    trial = optuna.Trial(study, storage.start_owned_trial(study._storage, study._study_id, owner))
    trial.suggest_float("x", 0, 1)
    study.tell(trial, value, state=state)


def test_plain_lines_when_not_a_terminal():
    """One line per trial of this driver's as it ends, with the study-wide counts: another
    driver's trial is counted, not printed (that driver prints it); a plain Optuna trial is
    counted and named as not made by this service."""
    study = make_study()  # two plain Optuna trials before the run
    out = io.StringIO()
    progress = Progress(SimpleNamespace(study=study, target=6, owner="me"), Console(file=out, force_terminal=False, width=200))
    with progress:
        own(study, "me", optuna.trial.TrialState.COMPLETE, 0.5)
        own(study, "another driver", optuna.trial.TrialState.COMPLETE, 0.7)
        study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=1)  # plain Optuna again
        own(study, "me", optuna.trial.TrialState.PRUNED)
        progress.update()
    lines = out.getvalue().splitlines()
    assert len(lines) == 2  # only this driver's trials that ended during this run
    assert lines[0].startswith("trial 2 COMPLETE value=0.5") and lines[1].startswith("trial 5 PRUNED")
    assert "finished 6/6 (pruned 1, failed 0, running 0, 3 not made by this service)" in lines[1]
    best = study.best_trial
    named = f"(#{best.number}, not made by this service)"
    assert (named in lines[1]) == (storage.OWNER_KEY not in best.system_attrs)


def test_live_table_on_a_terminal():
    study = make_study()
    out = io.StringIO()
    progress = Progress(SimpleNamespace(study=study, target=5), Console(file=out, force_terminal=True, width=160))
    with progress:
        study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=1)
        progress.update()
    text = out.getvalue()
    for column in ("finished", "pruned", "failed", "running", "best value", "elapsed", "remaining"):
        assert column in text
    assert "3/5" in text and "study p" in text


def test_quiet_prints_nothing():
    study = make_study()
    out = io.StringIO()
    with Progress(SimpleNamespace(study=study, target=3), Console(file=out), quiet=True) as progress:
        study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=1)
        progress.update()
    assert out.getvalue() == ""
