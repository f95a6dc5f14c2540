"""Optuna-centric hyperparameter search for sequence models, run on Ray Tune.

A declarative space file (``spaces/lstm.yaml``) is compiled into Optuna distributions; Ray
Tune runs the trials; every trial lands in one Optuna study (SQLite by default, PostgreSQL
when shared) that optuna-dashboard browses and any later run resumes.

The Python API does what the command line does, with the same checks and the same one-line
messages, raised as exceptions of one tree (``search.errors``: ``ConfigError`` for a space
file or its data, ``UsageError`` for an argument, ``StorageError`` for the storage, ...)::

    import search
    study = search.run("spaces/lstm.yaml", trials=20, overrides={"train.epochs": 5})
    search.load_best(study.study_name).predict(frame)
"""

from __future__ import annotations

import json
from typing import Any

from search._version import __version__

__all__ = ["__version__", "load_best", "load_space", "run", "validate"]


def _override_list(overrides: dict[str, Any] | list[str] | None) -> list[str]:
    """``{"data.lookback": 52}`` or ``["data.lookback=52"]`` -> the ``--set KEY=VALUE`` strings
    (a dict's values written as JSON, which the space's YAML reader reads back as given)."""
    from search.errors import UsageError

    if overrides is None:
        return []
    if isinstance(overrides, dict):
        out = []
        for key, value in overrides.items():
            try:
                out.append(f"{key}={json.dumps(value, allow_nan=False)}")
            except (TypeError, ValueError):
                raise UsageError(f"overrides[{key!r}]: {type(value).__name__} value {str(value)[:60]!r} is not a space value; give a number, text, true/false, a list or a mapping") from None
        return out
    if isinstance(overrides, str) or not all(isinstance(o, str) for o in overrides):
        raise UsageError("overrides: give a mapping {'train.epochs': 5} or a list of 'KEY=VALUE' texts")
    return list(overrides)


def _count(name: str, value: Any, *, optional: bool = False) -> None:
    """An argument that counts something: a positive int (not a bool, a float or text)."""
    from search.errors import UsageError

    if value is None and optional:
        return
    if isinstance(value, bool) or not isinstance(value, int):
        raise UsageError(f"{name} {value!r}: must be a whole number (an int) of at least 1, not {type(value).__name__}")
    if value < 1:
        raise UsageError(f"{name} {value}: must be at least 1")


def load_space(path, overrides: dict[str, Any] | list[str] | None = None):
    """The space file, validated (``search.space.Space``); ``ConfigError`` lists every problem
    as ``file:line: key: message``. The dataset's rows are not read (see ``validate``)."""
    from search.space import load_space as _load_space

    return _load_space(path, _override_list(overrides))


def validate(path, overrides: dict[str, Any] | list[str] | None = None) -> dict[str, Any]:
    """What ``search validate`` checks: the space, its dataset and the window sizes, before any
    storage is opened. Returns the facts it prints; raises ``ConfigError``/``DataError``."""
    from search.driver.prepare import prepare

    prep = prepare(path, _override_list(overrides))
    return {
        "family": prep.compiled.family,
        "searched": sorted(prep.compiled.distributions),
        "metric": prep.compiled.metric,
        "direction": prep.compiled.direction,
        "metrics": prep.compiled.metrics,  # every objective's, in order
        "directions": prep.compiled.directions,
        "dataset": prep.series.info["name"],
        "rows": prep.series.info["rows"],
        "split_rows": prep.series.info["split_rows"],
        "season": prep.series.season,
    }


def run(
    space,
    *,
    trials: int,
    storage: str | None = None,
    study: str | None = None,
    overrides: dict[str, Any] | list[str] | None = None,
    workers: int | None = None,
    address: str | None = None,
    fork: str | None = None,
    artifacts: str | None = None,
    max_failures: int = 10,
    quiet: bool = False,
    mlflow: str | None = None,
    timeout: float | None = None,
    mlflow_register: str | None = None,
):
    """Run (or resume) a search until the study holds ``trials`` finished trials, like
    ``search run``; returns the ``optuna.Study``. Progress is a live table on a terminal and in
    a notebook (``quiet=True``: none). A search stopped by failures in a row raises
    ``SearchStopped`` (its ``study`` attribute holds the study); an interrupted one (Ctrl-C, a
    notebook's interrupt) returns the study as it stands, resumable by the same call.
    ``mlflow``: a tracking URI to log the search to (``search.driver.tracking``). ``timeout``:
    a time budget in seconds, as Optuna's ``optimize(timeout=)``: no new trial starts after it;
    running trials stop at their next epoch report, as after an interrupt, and the study is
    returned as it stands (resumable by the same call). ``mlflow_register``: with MLflow
    tracking, register the served forecaster (a pyfunc model) under this name."""
    from search.driver.run import run_search
    from search.errors import SearchStopped

    _count("--trials", trials)  # named as the command line's flag
    _count("max_failures", max_failures)
    _count("workers", workers, optional=True)
    summary = run_search(
        space,
        trials=trials,
        storage_url=storage,
        study_name=study,
        overrides=_override_list(overrides),
        workers=workers,
        address=address,
        quiet=quiet,
        max_consecutive_failures=max_failures,
        artifacts=artifacts,
        fork=fork,
        mlflow=mlflow,
        timeout=timeout,
    )
    if not summary.interrupted and not summary.stop_reason:  # the best on validation of trials, ensembles and baselines: what load_best serves
        from search.results.served import record_quietly

        record_quietly(summary.study, summary.storage_url, artifacts, str(space))
    if summary.tracked is not None:  # after the served forecaster is recorded: the MLflow model is that one
        from pathlib import Path

        from rich.console import Console

        from search.results.mlflow_model import publish_or_warn

        publish_or_warn(summary, Path(space), artifacts, mlflow_register, lambda line: Console().print(line, highlight=False, soft_wrap=True))
    if not quiet:
        _print_summary(summary, trials)
    if summary.stop_reason and not summary.interrupted:
        raise SearchStopped(f"search stopped: {summary.stop_reason}", summary.study)
    return summary.study


def _print_summary(summary, trials: int) -> None:
    """The closing line of ``search.run``: how many trials the study holds and its best."""
    from rich.console import Console

    from search import pareto
    from search._format import format_value

    study = summary.study
    finished = sum(t.state.name in ("COMPLETE", "PRUNED") for t in study.get_trials(deepcopy=False))
    best = pareto.lead(study)
    line = f"study {study.study_name}: {finished} of {trials} trials finished"
    if best is not None:
        names = pareto.metric_names(study)
        values = ", ".join(f"{n}={format_value(v)}" for n, v in zip(names, best.values))
        line += f"; {'lead' if pareto.is_multi(study) else 'best'} trial #{best.number}: {values}"
    if summary.timed_out:
        line += "; time budget spent (the same call continues)"
    elif summary.interrupted:
        line += "; interrupted (the same call resumes)"
    Console().print(line, highlight=False, markup=False, soft_wrap=True)


def load_best(study, storage=None, *, artifacts=None, trial=None, ensemble: int | None = None):
    """The study's served forecaster, ready to forecast: ``.predict(frame)`` gives the
    ``horizon`` steps after the frame's last row. It is the best on validation of the
    study's trials, top-K ensembles, statistical baselines and their combinations, recorded
    when ``search run`` (or ``run``) ended (``search.results.served``; its ``label`` says what
    it is made of); a study without one serves its best trial. A multi-objective study: the
    lead trial of its Pareto front (the front's best by the first objective); ``trial=N``
    loads trial N's model instead. ``ensemble=K``: the mean of the forecasts of the K best
    trials that kept a checkpoint, with the same interface. See ``search.results.loading`` and
    ``search.results.forecaster``."""
    from search.results.loading import load_best as _load_best

    return _load_best(study, storage, artifacts=artifacts, trial=trial, ensemble=ensemble)
