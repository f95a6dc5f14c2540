"""Where a study keeps what it records about itself: a leaf shared by every writer (the driver,
the served forecaster, the ensemble) and every reader (``search best``, the report, the
dashboard, ``search predict``, the benchmarks).

Writers and readers speak in the familiar flat names (``metric``, ``space_content``,
``baseline_mstl_val_rmse``, ``served``, ...); this module decides where each lives.

**The layout.** ``optuna studies`` prints every study user attr in one table cell, so the user
attrs hold only a few short facts a person reads there and in optuna-dashboard:

- ``space_file``, ``space_hash``, ``family``, ``task``, ``metric`` (``metrics`` when there
  are several objectives), ``dataset``, and on a fork ``forked_from`` and ``forked_trials``.

Everything else goes, grouped, into the study's *system* attrs (Optuna's own place for what a
program reads: ``set_metric_names`` keeps the metric names there; ``optuna studies`` does not
print them), one JSON object per group keyed ``search:<group>``, each mapping the flat names
to their values:

- ``search:space``: ``space_content`` (the compiled space as JSON text) and ``defaults_chosen``
  (what its ``auto`` keys decided, and why);
- ``search:baselines``: every ``baseline_*`` figure and note (naive, seasonal naive, MSTL,
  AutoETS, AutoTheta on validation and test), ``seasonal_naive_season``, ``stat_forecasts``
  (their encoded forecasts) and the ``stat_baselines_*`` bookkeeping;
- ``search:served``: ``served`` (the served forecaster) and the ``ensemble_*`` figures;
- ``search:facts``: the rest: ``direction(s)``, ``version``, ``artifacts``, the data's facts
  (``dataset_rows``, ``split_rows``, ``missing_*``, ``targets_val``/``targets_test``,
  ``seasons``, ``season``, ``known_future``, ``eval_origins``, ...) and any name not listed above.

**Studies made before** (every name a flat user attr) read the same through ``flat``: it is
the user attrs overlaid with the groups, so an old study that a newer search resumed reads its
newer values. The writer never moves old attrs (Optuna cannot delete one).
"""

from __future__ import annotations

from typing import Any

# The user attrs that stay user attrs: short, and what a person looks for in ``optuna studies``.
VISIBLE = ("space_file", "space_hash", "family", "task", "metric", "metrics", "dataset", "forked_from", "forked_trials")
GROUPS = ("space", "facts", "baselines", "served")
PREFIX = "search:"  # of the system attrs that hold the groups


def group_of(name: str) -> str | None:
    """The group ``name`` is written to; None for a user attr of its own."""
    if name in VISIBLE:
        return None
    if name in ("space_content", "defaults_chosen"):
        return "space"
    if name.startswith(("baseline_", "stat_")) or name == "seasonal_naive_season":
        return "baselines"
    if name == "served" or name.startswith("ensemble_"):
        return "served"
    return "facts"


def split(attrs: dict[str, Any]) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """``attrs`` (flat names) as (user attrs, {system attr key: group dict})."""
    user: dict[str, Any] = {}
    groups: dict[str, dict[str, Any]] = {}
    for name, value in attrs.items():
        group = group_of(name)
        if group is None:
            user[name] = value
        else:
            groups.setdefault(PREFIX + group, {})[name] = value
    return user, groups


def write(study, attrs: dict[str, Any]) -> None:
    """Record ``attrs`` (flat names) on ``study`` in the grouped layout: each group's other
    entries are kept (read, merged, written; the group's writers are one driver's threads,
    each writing its own group)."""
    user, groups = split(attrs)
    for name, value in user.items():
        study.set_user_attr(name, value)
    if not groups:
        return
    storage, study_id = study._storage, study._study_id  # Optuna's Study has no public system-attr setter
    current = storage.get_study_system_attrs(study_id)
    for key, values in groups.items():
        before = current.get(key)
        storage.set_study_system_attr(study_id, key, {**(before if isinstance(before, dict) else {}), **values})


def _system_attrs(study) -> dict[str, Any]:
    system = getattr(study, "system_attrs", None)  # a FrozenStudy (optuna.get_all_studies) has them
    if isinstance(system, dict):
        return system
    return study._storage.get_study_system_attrs(study._study_id)


def flat(study) -> dict[str, Any]:
    """Every attr the study records, by its flat name, from either layout: its user attrs
    overlaid with its groups. ``study``: an ``optuna.Study`` or a ``FrozenStudy``."""
    out = dict(study.user_attrs)
    system = _system_attrs(study)
    for group in GROUPS:
        values = system.get(PREFIX + group)
        if isinstance(values, dict):
            out.update(values)
    return out
