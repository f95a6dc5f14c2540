"""Optuna-centric hyperparameter search for sequence models, run on Ray Tune.

A declarative space file (``spaces/lstm.yaml``) is compiled into Optuna distributions; Ray
Tune runs the trials; every trial lands in one Optuna study (SQLite by default, PostgreSQL
when shared) that optuna-dashboard browses and any later run resumes.
"""

from search._version import __version__

__all__ = ["__version__", "load_best"]


def load_best(study, storage=None, *, artifacts=None):
    """The best trial's model of a study, ready to forecast: ``.predict(frame)`` gives the
    ``horizon`` steps after the frame's last row. See ``search.results.forecaster``."""
    from search.results.forecaster import load_best as _load_best

    return _load_best(study, storage, artifacts=artifacts)
