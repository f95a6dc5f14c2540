"""Resuming with a changed space: fork a study, and say what changed.

A study records the space it was made from (``space_hash``, and ``space_content`` when the
runner stores it). When the space changes, ``open_study`` refuses to mix the two; instead
``fork_study`` starts a new study seeded with the old study's finished trials (COMPLETE and
PRUNED) whose configuration still fits the new space, so the sampler starts from what is
already known. ``describe_change`` turns two ``CompiledSpace.content()`` dicts into the one
line that tells the user what changed.

When does an old trial fit? Its configuration is read back from its params plus, when the
old study stored its ``space_content``, the old space's fixed values; joint params are decoded
(``attention`` "128x8" -> d_model, nhead; ``n_layers`` + ``hidden_units`` -> layer_sizes). It
fits when every parameter of the new space has a value inside the new distribution (a key that
the old space fixed counts with its fixed value) and every key the new space fixes had that
same value, except the keys in ``RUN_KEYS`` (how long or where a trial runs, not what it
computes per epoch). Keys whose old value is unknown are taken as unchanged.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import optuna
from optuna.distributions import BaseDistribution, CategoricalDistribution
from optuna.trial import TrialState

from search.space.compiled import ATTENTION, CompiledSpace, split_attention
from search.errors import StudyMismatchError, UsageError
from search.space import DATA_FIELDS, TRAIN_FIELDS, uniform_sizes
from search.study_attrs import flat, write

if TYPE_CHECKING:
    from search.driver.prepare import Prepared

FORK_STATES = (TrialState.COMPLETE, TrialState.PRUNED)
RUN_KEYS = frozenset({"epochs", "patience", "device"})  # may change without unfitting a trial
CONTENT_ATTR = "space_content"  # study user attr: json.dumps(compiled.content())
SECTIONS = ("model", "data", "train")
# What each scoring version (CompiledSpace.content()["scoring"]) means, for the changed-space line.
SCORING_NAMES = {
    None: "validation and test windows inside their part (targets depend on the lookback)",
    2: "the same validation and test targets for every lookback",
}


def _plain(content: dict) -> dict:
    """JSON round trip: tuples become lists, so contents from a study and from a space compare."""
    return json.loads(json.dumps(content, default=str))


def _dist_text(dist: dict) -> str:
    """A distribution (as in ``content()``) in a few words: ``float 0.0001..0.01 log``."""
    name, attrs = dist.get("name", "?"), dist.get("attributes", {})
    if name == "CategoricalDistribution":
        return "{" + ", ".join(json.dumps(c) for c in attrs.get("choices", [])) + "}"
    kind = "int" if name.startswith("Int") else "float"
    text = f"{kind} {attrs.get('low')}..{attrs.get('high')}"
    if attrs.get("log"):
        text += " log"
    if attrs.get("step") not in (None, 1):
        text += f" step {attrs['step']}"
    return text


def _section(key: str) -> str:
    """The section of a param or fixed key (joint params belong to the model)."""
    if key in DATA_FIELDS:
        return "data"
    if key in TRAIN_FIELDS:
        return "train"
    return "model"


def _objectives_text(objective) -> str:
    """An objective from ``content()`` in a few words: ``rmse (minimize)``, or for several
    ``[mae (minimize), n_params (minimize)]``."""
    if isinstance(objective, list):
        return "[" + ", ".join(_objectives_text(o) for o in objective) + "]"
    if isinstance(objective, dict):
        return f"{objective.get('metric')} ({objective.get('direction')})"
    return "unset"


def describe_change(old_content: dict, new_content: dict) -> str:
    """What differs between two ``CompiledSpace.content()`` dicts, one ``;``-separated line:
    ``train.lr: float 0.0001..0.01 log -> float 0.0001..0.1 log; train.epochs: 20 -> 30``."""
    old, new = _plain(old_content), _plain(new_content)
    changes: list[str] = []
    if old.get("family") != new.get("family"):
        changes.append(f"model.family: {old.get('family')} -> {new.get('family')}")
    old_d, new_d = old.get("distributions", {}), new.get("distributions", {})
    old_f, new_f = old.get("fixed", {}), new.get("fixed", {})
    for key in sorted(set(old_d) | set(new_d)):
        a, b = old_d.get(key), new_d.get(key)
        if a == b:
            continue
        section = _section(key)
        label = f"{section}.{key}"
        if a is None:
            before = old_f.get(section, {})
            changes.append(f"{label}: {'fixed ' + json.dumps(before[key]) if key in before else 'not set'} -> searched {_dist_text(b)}")
        elif b is None:
            after = new_f.get(section, {})
            changes.append(f"{label}: searched {_dist_text(a)} -> {'fixed ' + json.dumps(after[key]) if key in after else 'not set'}")
        else:
            changes.append(f"{label}: {_dist_text(a)} -> {_dist_text(b)}")
    for section in SECTIONS:
        a, b = old_f.get(section, {}), new_f.get(section, {})
        for key in sorted(set(a) | set(b)):
            if key in old_d or key in new_d or a.get(key) == b.get(key):
                continue
            before = json.dumps(a[key]) if key in a else "default"
            after = json.dumps(b[key]) if key in b else "default"
            changes.append(f"{section}.{key}: {before} -> {after}")
    if old.get("objective") != new.get("objective") and (isinstance(old.get("objective"), list) or isinstance(new.get("objective"), list)):
        changes.append(f"objective: {_objectives_text(old.get('objective'))} -> {_objectives_text(new.get('objective'))}")
    for part in ("objective", "sampler", "pruner"):
        a, b = old.get(part, {}), new.get(part, {})
        if part == "objective" and (isinstance(a, list) or isinstance(b, list)):
            continue  # said above
        for key in sorted(set(a) | set(b)):
            if a.get(key) != b.get(key):
                before = json.dumps(a[key]) if key in a else "unset"
                after = json.dumps(b[key]) if key in b else "unset"
                changes.append(f"{part}.{key}: {before} -> {after}")
    if old.get("scoring") != new.get("scoring"):
        changes.append(
            f"scoring: {SCORING_NAMES.get(old.get('scoring'), old.get('scoring'))} -> {SCORING_NAMES.get(new.get('scoring'), new.get('scoring'))}"
        )
    if old.get("joint") != new.get("joint"):
        changes.append(f"joint params: {json.dumps(old.get('joint'))} -> {json.dumps(new.get('joint'))}")
    return "; ".join(changes) if changes else "nothing that decides a trial"


# --------------------------------------------------------------------------- fitting old trials


def _decode(params: dict[str, Any], joint: dict[str, Any]) -> dict[str, Any]:
    """A trial's params -> plain model/data/train keys (joint params decoded)."""
    values = dict(params)
    if ATTENTION in values and (ATTENTION in joint or isinstance(values[ATTENTION], str)):
        values["d_model"], values["nhead"] = split_attention(values.pop(ATTENTION))
    layers = joint.get("layer_sizes")
    if layers is not None or "n_layers" in values or "hidden_units" in values:
        layers = layers or {}
        n_layers = values.pop("n_layers", layers.get("n_layers"))
        hidden = values.pop("hidden_units", layers.get("hidden_units"))
        if n_layers is not None and hidden is not None:
            values["layer_sizes"] = uniform_sizes(n_layers, hidden)
    return values


def _encode(name: str, values: dict[str, Any]) -> tuple[bool, Any]:
    """The value of new param ``name`` from a trial's plain keys: (known, value)."""
    if name == ATTENTION:
        if "d_model" in values and "nhead" in values:
            return True, f"{values['d_model']}x{values['nhead']}"
        return False, None
    if name in ("n_layers", "hidden_units"):
        sizes = values.get("layer_sizes")
        if not isinstance(sizes, str):
            return False, None
        parts = sizes.split(",")
        if len(set(parts)) != 1:
            return True, None  # not uniform: cannot be expressed, does not fit
        return True, len(parts) if name == "n_layers" else int(parts[0])
    if name in values:
        return True, values[name]
    return False, None


def _contains(dist: BaseDistribution, value: Any) -> bool:
    if value is None and not isinstance(dist, CategoricalDistribution):
        return False
    try:
        return dist._contains(dist.to_internal_repr(value))
    except (ValueError, TypeError, KeyError, IndexError):
        return False


def _model_defaults(family: str | None) -> dict[str, Any]:
    """A family's model keys at their defaults (layer sizes as the canonical string)."""
    import dataclasses

    import models

    if family not in models.FAMILIES:
        return {}
    values = dataclasses.asdict(models.config_class(family)())
    if "layer_sizes" in values:
        values["layer_sizes"] = models.format_layer_sizes(values["layer_sizes"])
    return values


def _set_by(name: str) -> tuple[str, ...]:
    """The plain keys a param sets."""
    if name == ATTENTION:
        return ("d_model", "nhead")
    if name in ("n_layers", "hidden_units"):
        return ("layer_sizes",)
    return (name,)


def _expected(compiled: CompiledSpace, content: dict) -> dict[str, Any]:
    """Every key the new space fixes (model keys it does not name at their defaults), minus the keys
    its params set; the fixed part of a searched LAYERS x HIDDEN_UNITS as n_layers/hidden_units."""
    expected = _model_defaults(compiled.family)
    for section in SECTIONS:
        expected.update(content["fixed"].get(section, {}))
    for name in compiled.distributions:
        for key in _set_by(name):
            expected.pop(key, None)
    expected.update({k: v for k, v in (compiled.joint.get("layer_sizes") or {}).items() if v is not None})
    return expected


def _fit(trial: optuna.trial.FrozenTrial, old: dict | None, compiled: CompiledSpace, expected: dict) -> dict[str, Any] | None:
    """The new-space params of an old trial, or None when it does not fit."""
    values: dict[str, Any] = {}
    if old is not None:
        values.update(_model_defaults(old.get("family")))
        for section in SECTIONS:
            values.update(old.get("fixed", {}).get(section, {}))
    values.update(_decode(trial.params, (old or {}).get("joint", {})))
    params = {}
    for name, dist in compiled.distributions.items():
        known, value = _encode(name, values)
        if not known or not _contains(dist, value):
            return None
        params[name] = value
    for key, value in expected.items():
        if key in RUN_KEYS:
            continue
        known, old_value = _encode(key, values)
        if known and old_value != value:
            return None
    return params


def fork_study(
    storage: str | optuna.storages.BaseStorage,
    old_name: str,
    new_name: str,
    compiled: CompiledSpace,
    *,
    old_content: dict | None = None,
    attrs: dict[str, Any] | None = None,
) -> int:
    """Create study ``new_name`` for ``compiled``, seeded with the finished trials (COMPLETE and
    PRUNED) of ``old_name`` that fit it; return how many were copied.

    ``old_content`` is the old space's ``content()``; by default the old study's
    recorded ``space_content`` when it has one (else only the trials' params are compared).
    ``attrs`` are set as user attrs of the new study (the runner's ``study_attrs``); the new
    study also gets ``space_hash``, ``space_content``, ``forked_from`` and ``forked_trials``.
    Nothing is created when the old study is missing, the new name is taken, or the objective
    differs (values of another metric or direction do not compare).
    """
    summaries = {s.study_name: s for s in optuna.get_all_study_summaries(storage, include_best_trial=False)}
    if old_name not in summaries:
        raise UsageError(f"--fork: no study named {old_name!r} in the storage to fork from (studies: {', '.join(sorted(summaries)) or 'none'})")
    if new_name in summaries:
        raise UsageError(f"--fork {new_name}: a study of that name exists already; pick another name, or run with --study {new_name} to resume it")
    old_study = optuna.load_study(study_name=old_name, storage=storage)
    old_attrs = flat(old_study)  # either layout (search.study_attrs)
    if old_content is None and isinstance(old_attrs.get(CONTENT_ATTR), str):
        old_content = json.loads(old_attrs[CONTENT_ATTR])
    old = _plain(old_content) if old_content is not None else None
    old_directions = [d.name.lower() for d in old_study.directions]
    old_metrics = _objective_metrics(old, old_study, old_attrs)
    if old_directions != compiled.directions or (old_metrics is not None and old_metrics != compiled.metrics):
        what = ", ".join(f"{d}s {m}" for d, m in zip(old_directions, old_metrics or ["its objective"] * len(old_directions)))
        says = ", ".join(f"{d}s {m}" for d, m in zip(compiled.directions, compiled.metrics))
        raise StudyMismatchError(
            f"cannot fork study {old_name!r}: it {what}, the space "
            f"{says}; values of another objective do not compare, so start "
            f"a new study with --study NEW_NAME instead"
        )
    old_family = (old or {}).get("family") or old_attrs.get("family")
    if old_family is not None and old_family != compiled.family:
        raise StudyMismatchError(
            f"cannot fork study {old_name!r}: it searched {old_family} models, the space searches {compiled.family}; "
            "start a new study with --study NEW_NAME instead"
        )
    new_content = _plain(compiled.content())
    expected = _expected(compiled, new_content)

    trials = []
    for trial in old_study.get_trials(deepcopy=False, states=FORK_STATES):
        params = _fit(trial, old, compiled, expected)
        if params is None:
            continue
        trials.append(
            optuna.trial.create_trial(
                state=trial.state,
                values=trial.values,
                params=params,
                distributions={k: compiled.distributions[k] for k in params},
                user_attrs={**trial.user_attrs, "forked_from": f"{old_name}#{trial.number}"},
                intermediate_values=dict(trial.intermediate_values),
            )
        )
    new_study = optuna.create_study(study_name=new_name, storage=storage, directions=compiled.directions)
    try:
        fresh = {"space_hash": compiled.hash, CONTENT_ATTR: json.dumps(new_content, sort_keys=True), "forked_from": old_name, "forked_trials": len(trials)}
        write(new_study, {**(attrs or {}), **fresh})
        new_study.add_trials(trials)
    except BaseException:
        optuna.delete_study(study_name=new_name, storage=storage)
        raise
    return len(trials)


def _objective_metrics(old_content: dict | None, study: optuna.Study, attrs: dict[str, Any]) -> list[str] | None:
    """The old study's objective metrics: from its space content (a mapping for one objective,
    a list for several), else its metric names or ``metric`` attr; None when unknown."""
    objective = (old_content or {}).get("objective")
    if isinstance(objective, list):
        return [o.get("metric") for o in objective]
    if isinstance(objective, dict) and objective.get("metric"):
        return [objective["metric"]]
    if study.metric_names:
        return list(study.metric_names)
    metric = attrs.get("metric")
    return None if metric is None else [metric]


def fork_for_run(storage: optuna.storages.BaseStorage, prep: Prepared, new_name: str, attrs: dict[str, Any]) -> tuple[Prepared, int | None]:
    """``search run --fork NEW``: the Prepared to run in study ``new_name``, forking it from
    ``prep.study_name`` first when it does not exist yet. Returns (prepared, trials copied, or
    None when ``new_name`` existed already and is simply resumed)."""
    names = {s.study_name for s in optuna.get_all_study_summaries(storage, include_best_trial=False)}
    forked = replace(prep, study_name=new_name)
    if new_name in names:
        return forked, None
    return forked, fork_study(storage, prep.study_name, new_name, prep.compiled, attrs=attrs)


__all__ = ["CONTENT_ATTR", "describe_change", "fork_for_run", "fork_study"]
