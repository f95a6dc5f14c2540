"""The Optuna samplers and pruners a space may name, and how their options are read and built.

A leaf of ``search.space``: the validator checks a ``sampler``/``pruner`` section against the
constructor of the class it names (``option_names``, ``option_annotations``,
``required_options``), and the compiler builds it (``make_sampler``, ``make_pruner``).
"""

from __future__ import annotations

import inspect
import warnings
from typing import Any

import optuna
from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution, IntDistribution

from search.space._types import FloatRange, values_of


class AskTellGridSampler(optuna.samplers.GridSampler):
    """``GridSampler`` for ask/tell studies. The stock one calls ``study.stop()`` in
    ``after_trial`` once the grid is used up, which raises RuntimeError outside
    ``study.optimize`` (optuna/optuna#4121), so the searcher's ``tell`` of the last grid point
    would fail. Here the run's ``--trials`` decides when to stop; ``is_exhausted(study)`` says
    whether every grid point has been tried (past that, points are tried again)."""

    def after_trial(self, study, trial, state, values) -> None:
        pass


SAMPLERS: dict[str, type] = {
    "tpe": optuna.samplers.TPESampler,
    "random": optuna.samplers.RandomSampler,
    "qmc": optuna.samplers.QMCSampler,
    "gp": optuna.samplers.GPSampler,
    "cmaes": optuna.samplers.CmaEsSampler,
    "grid": AskTellGridSampler,
}

PRUNERS: dict[str, type] = {
    "median": optuna.pruners.MedianPruner,
    "percentile": optuna.pruners.PercentilePruner,
    "successive_halving": optuna.pruners.SuccessiveHalvingPruner,
    "hyperband": optuna.pruners.HyperbandPruner,
    "threshold": optuna.pruners.ThresholdPruner,
    "patient": optuna.pruners.PatientPruner,
    "none": optuna.pruners.NopPruner,
}

# Constructor arguments that take Python objects, not values a YAML file can hold.
_NOT_OPTIONS = {"self", "gamma", "weights", "constraints_func", "independent_sampler", "search_space", "x0", "source_trials"}
# Constructor arguments a space spells differently: the patient pruner's wrapped pruner is a
# nested {name: ..., options} mapping under "wrapped".
_RENAMED = {"wrapped_pruner": "wrapped"}
# Examples for required options, shown when one is missing.
OPTION_EXAMPLES = {"percentile": 25.0, "patience": 3}

def _parameters(cls: type):
    params = inspect.signature(cls.__init__).parameters
    return {n: p for n, p in params.items() if n not in _NOT_OPTIONS and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)}


def option_names(cls: type) -> list[str]:
    """The constructor options of an Optuna sampler/pruner class that a space may set."""
    return [_RENAMED.get(n, n) for n in _parameters(cls)]


def option_annotations(cls: type) -> dict[str, str]:
    """Option -> its annotation as text (``"int | None"``), for type checks of simple options."""
    out = {}
    for name, p in _parameters(cls).items():
        ann = p.annotation
        if ann is inspect.Parameter.empty:
            continue
        out[_RENAMED.get(name, name)] = ann if isinstance(ann, str) else getattr(ann, "__name__", str(ann))
    return out


def required_options(cls: type) -> list[str]:
    """Options without a default (the patient pruner's ``wrapped`` may be left out: patience only)."""
    return [n for n, p in _parameters(cls).items() if p.default is inspect.Parameter.empty and n not in _RENAMED]


def _quiet(build):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return build()


def grid_search_space(distributions: dict[str, BaseDistribution]) -> dict[str, list]:
    """Every value of every distribution, for ``GridSampler``; ValueError names a continuous one."""
    space = {}
    for name, dist in distributions.items():
        if isinstance(dist, CategoricalDistribution):
            space[name] = list(dist.choices)
        elif isinstance(dist, IntDistribution):
            space[name] = list(range(dist.low, dist.high + 1, 1 if dist.log else dist.step))
        elif isinstance(dist, FloatDistribution) and dist.step is not None and not dist.log:
            space[name] = values_of(FloatRange(dist.low, dist.high, dist.step), limit=10**9)
        else:
            raise ValueError(f"{name}: the grid sampler needs a finite set of values; give it a step or choices")
    return space


def make_sampler(spec: dict[str, Any], distributions: dict[str, BaseDistribution] | None = None, seed_offset: int = 0):
    """The sampler a ``{"name": ..., **options}`` spec names; a set ``seed`` is shifted by
    ``seed_offset``. The grid sampler enumerates ``distributions``."""
    options = {k: v for k, v in spec.items() if k != "name"}
    if options.get("seed") is not None and seed_offset:
        options["seed"] = int(options["seed"]) + seed_offset
    cls = SAMPLERS[spec["name"]]
    if issubclass(cls, optuna.samplers.GridSampler):
        return _quiet(lambda: cls(grid_search_space(distributions or {}), **options))
    return _quiet(lambda: cls(**options))


def make_pruner(spec: dict[str, Any]):
    """The pruner a ``{"name": ..., **options}`` spec names; ``patient`` builds its ``wrapped``."""
    options = {k: v for k, v in spec.items() if k != "name"}
    cls = PRUNERS[spec["name"]]
    if cls is optuna.pruners.PatientPruner:
        wrapped = options.pop("wrapped", None)
        options["wrapped_pruner"] = None if wrapped is None else make_pruner(wrapped)
    return _quiet(lambda: cls(**options))
