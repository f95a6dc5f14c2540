"""Progress output: a live table on a terminal, one plain line per ended trial otherwise."""

from __future__ import annotations

import io
from types import SimpleNamespace

import optuna
from rich.console import Console

from search.driver.progress import Progress


def make_study():
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(study_name="p")
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=2)
    return study


def test_plain_lines_when_not_a_terminal():
    study = make_study()
    out = io.StringIO()
    progress = Progress(SimpleNamespace(study=study, target=4), Console(file=out, force_terminal=False, width=200))
    with progress:
        study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=1)
        trial = study.ask()
        study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        progress.update()
    lines = out.getvalue().splitlines()
    assert len(lines) == 2  # only the trials that ended during this run
    assert lines[0].startswith("trial 2 COMPLETE") and "finished 4/4 (pruned 1, failed 0, running 0)" in lines[1]
    assert lines[1].startswith("trial 3 PRUNED")


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
