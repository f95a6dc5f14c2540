"""Optuna-centric hyperparameter search for sequence models, run on Ray Tune.

A declarative space file (``spaces/lstm.yaml``) is compiled into Optuna distributions; Ray
Tune runs the trials; every trial lands in one Optuna study (SQLite by default, PostgreSQL
when shared) that optuna-dashboard browses and any later run resumes.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
