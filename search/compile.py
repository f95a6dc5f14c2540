"""Space -> Optuna: distributions, fixed values, sampler, pruner, objective (pure; no I/O).

The searched parameters become Optuna distributions named by their key (``lr``, ``lookback``,
``layer_sizes``...); everything else stays a fixed value. ``CompiledSpace.trial_config``
merges one trial's sampled params back into the sections the trainable reads.
"""

from __future__ import annotations

import hashlib
import inspect
import json
from dataclasses import dataclass
from typing import Any

import optuna
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
    distribution_to_json,
)

from search.errors import ConfigError
from search.space import Categorical, FloatRange, IntRange, Searchable, Space

SAMPLERS: dict[str, type] = {
    "tpe": optuna.samplers.TPESampler,
    "random": optuna.samplers.RandomSampler,
    "qmc": optuna.samplers.QMCSampler,
    "gp": optuna.samplers.GPSampler,
    "cmaes": optuna.samplers.CmaEsSampler,
}

PRUNERS: dict[str, type] = {
    "median": optuna.pruners.MedianPruner,
    "percentile": optuna.pruners.PercentilePruner,
    "successive_halving": optuna.pruners.SuccessiveHalvingPruner,
    "hyperband": optuna.pruners.HyperbandPruner,
    "threshold": optuna.pruners.ThresholdPruner,
    "none": optuna.pruners.NopPruner,
}

# Constructor arguments that take Python objects, not values a YAML file can hold.
_NOT_OPTIONS = {"self", "gamma", "weights", "constraints_func", "independent_sampler", "search_space", "x0", "source_trials"}


def option_names(cls: type) -> list[str]:
    """The constructor options of an Optuna sampler/pruner class that a space may set."""
    params = inspect.signature(cls.__init__).parameters
    return [n for n, p in params.items() if n not in _NOT_OPTIONS and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]


def to_distribution(spec: Searchable) -> BaseDistribution:
    """One search range -> its Optuna distribution."""
    if isinstance(spec, Categorical):
        return CategoricalDistribution(list(spec.choices))
    if isinstance(spec, IntRange):
        return IntDistribution(spec.low, spec.high, log=spec.log, step=spec.step)
    if isinstance(spec, FloatRange):
        return FloatDistribution(spec.low, spec.high, log=spec.log, step=spec.step)
    raise TypeError(f"not a search range: {spec!r}")


@dataclass(frozen=True)
class CompiledSpace:
    space: Space
    distributions: dict[str, BaseDistribution]  # searched params by study name
    fixed: dict[str, dict[str, Any]]  # section -> key -> fixed value (model, data, train)

    @property
    def family(self) -> str:
        return self.space.family

    @property
    def metric(self) -> str:
        return self.space.objective.metric

    @property
    def direction(self) -> str:
        return self.space.objective.direction

    def sampler(self, seed_offset: int = 0) -> optuna.samplers.BaseSampler:
        """The sampler; a set ``seed`` is shifted by ``seed_offset`` (the study's trial count when
        resuming), so a resumed run does not replay the first run's random startup params."""
        spec = dict(self.space.sampler)
        if spec.get("seed") is not None and seed_offset:
            spec["seed"] = int(spec["seed"]) + seed_offset
        return _construct("sampler", SAMPLERS, spec, self.space)

    def pruner(self) -> optuna.pruners.BasePruner:
        return _construct("pruner", PRUNERS, self.space.pruner, self.space)

    def trial_config(self, params: dict[str, Any]) -> dict[str, dict[str, Any]]:
        """Sections with one trial's sampled params merged into the fixed values."""
        config = {section: dict(values) for section, values in self.fixed.items()}
        sections = {k: s for s in ("model", "data", "train") for k, v in getattr(self.space, s).items() if isinstance(v, Searchable)}
        for name, value in params.items():
            config[sections[name]][name] = value
        config["model"]["family"] = self.family
        return config

    def content(self) -> dict[str, Any]:
        """Everything that decides what a trial computes, as plain JSON data."""
        return {
            "family": self.family,
            "distributions": {k: json.loads(distribution_to_json(d)) for k, d in sorted(self.distributions.items())},
            "fixed": self.fixed,
            "objective": {"metric": self.metric, "direction": self.direction},
            "sampler": self.space.sampler,
            "pruner": self.space.pruner,
        }

    @property
    def hash(self) -> str:
        """A short hash of ``content()``: equal for equal spaces, whatever the file's layout."""
        text = json.dumps(self.content(), sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def _construct(section: str, table: dict[str, type], spec: dict[str, Any], space: Space):
    options = {k: v for k, v in spec.items() if k != "name"}
    try:
        return table[spec["name"]](**options)
    except (TypeError, ValueError, ImportError, ModuleNotFoundError) as exc:
        raise ConfigError([f"{space.path}: {section}: {spec['name']} rejects its options {options}: {exc}"]) from None


def compile_space(space: Space) -> CompiledSpace:
    """Split the space into Optuna distributions and fixed values; check the sampler/pruner."""
    distributions: dict[str, BaseDistribution] = {}
    fixed: dict[str, dict[str, Any]] = {}
    for section in ("model", "data", "train"):
        values = getattr(space, section)
        fixed[section] = {k: v for k, v in values.items() if not isinstance(v, Searchable)}
        for key, spec in values.items():
            if isinstance(spec, Searchable):
                distributions[key] = to_distribution(spec)
    compiled = CompiledSpace(space, distributions, fixed)
    compiled.sampler()  # fail now, at compile time, on options the class rejects
    compiled.pruner()
    return compiled
