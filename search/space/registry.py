"""The Optuna samplers and pruners a space may name, and how their options are read and built.

A leaf of ``search.space``: the validator checks a ``sampler``/``pruner`` section against the
constructor of the class it names (``option_names``, ``option_annotations``,
``required_options``), and the compiler builds it (``make_sampler``, ``make_pruner``).
"""

from __future__ import annotations

import inspect
import warnings
from typing import Any

import numpy as np
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
    "nsga2": optuna.samplers.NSGAIISampler,
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
_NOT_OPTIONS = {
    "self", "gamma", "weights", "constraints_func", "independent_sampler", "search_space", "x0", "source_trials",
    "mutation", "crossover", "elite_population_selection_strategy", "child_generation_strategy", "after_trial_strategy",  # nsga2
}  # fmt: skip
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


class TrialSeededSampler(optuna.samplers.BaseSampler):
    """A seeded sampler whose random state is set afresh for each trial, from the space's
    ``seed`` and the trial's number.

    Trial numbers are handed out by the storage, one per trial, so drivers that share a
    study draw different random start-up params, whether they start together or apart,
    while one seeded driver draws the same params for the same trial numbers on every run
    (and a resumed run does not replay the first one's). Each trial gets a sampler of its
    own, built by ``build(seed)`` when Optuna calls ``before_trial`` and dropped after the
    trial; ``inner`` is the latest one (its class is the space's sampler)."""

    def __init__(self, build, seed: int):
        self._build = build
        self._seed = int(seed)
        self.inner = build(self._seed)
        self._by_trial: dict[int, optuna.samplers.BaseSampler] = {}

    def trial_seed(self, number: int) -> int:
        """The seed of trial ``number``: the space's seed and the number mixed, so that
        neighbouring seeds and numbers never give neighbouring streams."""
        return int(np.random.SeedSequence([self._seed, int(number)]).generate_state(1)[0])

    def _of(self, trial) -> optuna.samplers.BaseSampler:
        sampler = self._by_trial.get(trial.number)
        if sampler is None:
            sampler = self.inner = self._by_trial[trial.number] = self._build(self.trial_seed(trial.number))
        return sampler

    def before_trial(self, study, trial) -> None:
        self._by_trial.pop(trial.number, None)  # a fresh state, also when a number is asked again
        self._of(trial).before_trial(study, trial)

    def infer_relative_search_space(self, study, trial):
        return self._of(trial).infer_relative_search_space(study, trial)

    def sample_relative(self, study, trial, search_space):
        return self._of(trial).sample_relative(study, trial, search_space)

    def sample_independent(self, study, trial, param_name, param_distribution):
        return self._of(trial).sample_independent(study, trial, param_name, param_distribution)

    def after_trial(self, study, trial, state, values) -> None:
        self._of(trial).after_trial(study, trial, state, values)
        self._by_trial.pop(trial.number, None)

    def reseed_rng(self) -> None:
        for sampler in self._by_trial.values():
            sampler.reseed_rng()


def trial_seeded(spec: dict[str, Any], distributions: dict[str, BaseDistribution] | None = None):
    """The sampler for a driver: ``TrialSeededSampler`` when the spec sets a ``seed`` (but for
    ``qmc``, whose sequence needs one seed and already takes its place in it from the
    study), else the sampler itself (seeded by the system: distinct in every driver)."""
    if spec.get("seed") is None or spec["name"] == "qmc":
        return make_sampler(spec, distributions)
    return TrialSeededSampler(lambda seed: make_sampler({**spec, "seed": seed}, distributions), spec["seed"])


def make_pruner(spec: dict[str, Any]):
    """The pruner a ``{"name": ..., **options}`` spec names; ``patient`` builds its ``wrapped``."""
    options = {k: v for k, v in spec.items() if k != "name"}
    cls = PRUNERS[spec["name"]]
    if cls is optuna.pruners.PatientPruner:
        wrapped = options.pop("wrapped", None)
        options["wrapped_pruner"] = None if wrapped is None else make_pruner(wrapped)
    return _quiet(lambda: cls(**options))
