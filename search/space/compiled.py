"""Space -> Optuna: distributions, fixed values, sampler, pruner, objective (pure; no I/O).

The searched parameters become Optuna distributions named by their key (``lr``, ``lookback``,
``layer_sizes``...); everything else stays a fixed value. ``CompiledSpace.trial_config``
merges one trial's sampled params back into the sections the trainable reads.

Two kinds of parameters are compiled into something other than one distribution per key, so
that every sampled trial is valid and the study stays readable:

- Legacy uniform layers (``LAYERS`` x ``HIDDEN_UNITS``, see ``uniform_layers``): one categorical
  ``layer_sizes`` over the canonical strings of every combination ("32", "32,32", ...) when
  there are at most ``MAX_LAYER_CHOICES`` of them, else two parameters ``n_layers`` and
  ``hidden_units`` that ``trial_config`` joins into ``layer_sizes``.
- A transformer's ``d_model`` and ``nhead`` when both are searched and some pairs are invalid
  (nhead must divide d_model, see ``attention_pairs``): one categorical ``attention`` over the
  valid pairs written ``"<d_model>x<nhead>"`` ("128x8"). When every pair is valid both stay
  separate distributions; when one is fixed the validator has already rejected bad choices.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
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
from search.space._fields import DATA_FIELDS, LEGACY_DEFAULTS, TRAIN_FIELDS
from search.space._types import Categorical, FloatRange, IntRange, Searchable, Space, UniformLayers, uniform_sizes, values_of
from search.space.registry import make_pruner, make_sampler, trial_seeded

# Uniform layers compile to one categorical up to this many combinations, else to two params.
MAX_LAYER_CHOICES = 32
ATTENTION = "attention"  # the joint d_model x nhead parameter
# How validation and test values are scored, part of every space's content and hash: a study
# scored another way refuses to resume (its values do not compare) and offers --fork.
# 2: the same targets for every lookback (inputs reach back before the part).
SCORING = 2


def to_distribution(spec: Searchable) -> BaseDistribution:
    """One search range -> its Optuna distribution."""
    if isinstance(spec, Categorical):
        return CategoricalDistribution(list(spec.choices))
    if isinstance(spec, IntRange):
        return IntDistribution(spec.low, spec.high, log=spec.log, step=spec.step)
    if isinstance(spec, FloatRange):
        return FloatDistribution(spec.low, spec.high, log=spec.log, step=spec.step)
    raise TypeError(f"not a search range: {spec!r}")


def uniform_layers(spec: UniformLayers) -> dict[str, BaseDistribution]:
    """Distributions for legacy ``LAYERS`` x ``HIDDEN_UNITS``.

    Up to ``MAX_LAYER_CHOICES`` combinations: one categorical ``layer_sizes`` over their canonical
    strings, so the study stores "64,64" as any other layer-size choice, and the sampler may
    learn any interaction between depth and width. More (e.g. HIDDEN_UNITS "[16,128]", 113
    widths): an ordinal int ``n_layers`` and ``hidden_units`` each (a fixed part is left out),
    because a categorical of hundreds of strings hides the order TPE learns from; the study
    then stores the two numbers and ``trial_config`` writes ``layer_sizes``.
    """
    n_values = values_of(spec.n_layers, MAX_LAYER_CHOICES)
    h_values = values_of(spec.hidden_units, MAX_LAYER_CHOICES)
    if n_values is not None and h_values is not None and len(n_values) * len(h_values) <= MAX_LAYER_CHOICES:
        return {"layer_sizes": CategoricalDistribution([uniform_sizes(n, h) for n in n_values for h in h_values])}
    out = {}
    if not isinstance(spec.n_layers, int):
        out["n_layers"] = to_distribution(spec.n_layers)
    if not isinstance(spec.hidden_units, int):
        out["hidden_units"] = to_distribution(spec.hidden_units)
    return out


def attention_pairs(d_model, nhead) -> list[str] | None:
    """``"<d_model>x<nhead>"`` of every valid pair when both are searched and some pair is
    invalid (nhead must divide d_model); None when the two can stay separate distributions."""
    searched = (Categorical, IntRange, FloatRange)
    if not (isinstance(d_model, searched) and isinstance(nhead, searched)):
        return None
    d_values, h_values = values_of(d_model), values_of(nhead)
    if d_values is None or h_values is None:
        return None
    pairs = [f"{d}x{h}" for d in d_values for h in h_values if d % h == 0]
    return pairs if len(pairs) < len(d_values) * len(h_values) else None


def split_attention(value: str) -> tuple[int, int]:
    """``"128x8"`` -> (128, 8)."""
    d_model, _, nhead = str(value).partition("x")
    return int(d_model), int(nhead)


@dataclass(frozen=True)
class CompiledSpace:
    space: Space
    distributions: dict[str, BaseDistribution]  # searched params by study name
    fixed: dict[str, dict[str, Any]]  # section -> key -> fixed value (model, data, train)
    joint: dict[str, Any] = field(default_factory=dict)  # params that set other keys, see module doc
    # data keys written ``auto`` and decided from the data (search.driver.defaults): ``fixed``
    # holds the decided value, the hash the written ``auto``
    chosen: dict[str, Any] = field(default_factory=dict)

    @property
    def family(self) -> str:
        return self.space.family

    @property
    def metric(self) -> str:
        """The first objective's metric: the validation metric every epoch reports."""
        return self.space.objective.metric

    @property
    def direction(self) -> str:
        return self.space.objective.direction

    @property
    def metrics(self) -> list[str]:
        """Every objective's metric, in order (one for a single-objective study)."""
        return [o.metric for o in self.space.objectives]

    @property
    def directions(self) -> list[str]:
        return [o.direction for o in self.space.objectives]

    @property
    def multi_objective(self) -> bool:
        return self.space.multi_objective

    def objective_text(self) -> str:
        """``rmse (minimize)``; ``mae (minimize), n_params (minimize)`` for several."""
        return ", ".join(f"{o.metric} ({o.direction})" for o in self.space.objectives)

    def sampler(self, seed_offset: int = 0) -> optuna.samplers.BaseSampler:
        """The sampler; a set ``seed`` is shifted by ``seed_offset`` (the study's trial count when
        resuming), so a resumed run does not replay the first run's random startup params."""
        try:
            return make_sampler(self.space.sampler, self.distributions, seed_offset)
        except (TypeError, ValueError, ImportError) as exc:
            raise ConfigError([f"{self.space.where('sampler')}: the {self.space.sampler['name']} sampler rejects its options: {exc}"]) from None

    def driver_sampler(self) -> optuna.samplers.BaseSampler:
        """The sampler a driver runs with: a set ``seed`` is mixed with each trial's number
        (``registry.TrialSeededSampler``), so drivers sharing a study never draw the same
        random start-up params and a single seeded driver stays reproducible."""
        try:
            return trial_seeded(self.space.sampler, self.distributions)
        except (TypeError, ValueError, ImportError) as exc:
            raise ConfigError([f"{self.space.where('sampler')}: the {self.space.sampler['name']} sampler rejects its options: {exc}"]) from None

    def pruner(self) -> optuna.pruners.BasePruner:
        try:
            return make_pruner(self.space.pruner)
        except (TypeError, ValueError, ImportError) as exc:
            raise ConfigError([f"{self.space.where('pruner')}: the {self.space.pruner['name']} pruner rejects its options: {exc}"]) from None

    def trial_config(self, params: dict[str, Any]) -> dict[str, dict[str, Any]]:
        """Sections with one trial's sampled params merged into the fixed values."""
        config = {section: dict(values) for section, values in self.fixed.items()}
        params = dict(params)
        if ATTENTION in self.joint:
            config["model"]["d_model"], config["model"]["nhead"] = split_attention(params.pop(ATTENTION))
        layers = self.joint.get("layer_sizes")
        if layers is not None:
            n_layers = params.pop("n_layers", layers["n_layers"])
            hidden = params.pop("hidden_units", layers["hidden_units"])
            config["model"]["layer_sizes"] = uniform_sizes(n_layers, hidden)
        for name, value in params.items():
            config[self.space.section_of(name)][name] = value
        config["model"]["family"] = self.family
        return config

    def content(self) -> dict[str, Any]:
        """Everything that decides what a trial computes, as plain JSON data. The dataset path
        is written relative to the space file, so the same checkout in another folder or on
        another machine has the same content (and hash)."""
        fixed = {section: dict(values) for section, values in self.fixed.items()}
        if isinstance(fixed.get("data", {}).get("path"), str):
            fixed["data"]["path"] = Path(os.path.relpath(fixed["data"]["path"], self.space.path.resolve().parent)).as_posix()
        out = {
            "family": self.family,
            "distributions": {k: json.loads(distribution_to_json(d)) for k, d in sorted(self.distributions.items())},
            "fixed": fixed,
            # one objective as a mapping (as before multi-objective studies, so its hash stays)
            "objective": (
                [{"metric": o.metric, "direction": o.direction} for o in self.space.objectives]
                if self.multi_objective
                else {"metric": self.metric, "direction": self.direction}
            ),
            "sampler": self.space.sampler,
            "pruner": self.space.pruner,
            "scoring": SCORING,
        }
        if self.joint:
            out["joint"] = self.joint
        return out

    @property
    def hash(self) -> str:
        """A short hash of ``content()``: equal for equal spaces, whatever the file's layout.

        Fixed data/train values equal to their key's default are left out, so a key added to
        the language later (with a default that keeps the old behaviour) does not change the
        hash of existing studies' spaces, and they still resume; so are the defaults a key had
        before its default changed (``LEGACY_DEFAULTS``: reference last, time_features none),
        so a study made with them resumes. A key decided from the data (``chosen``) counts as
        the ``auto`` the space says: the hash is the space's, whatever the data decided. Which
        of these a study ran is checked apart (``search.driver.run``)."""
        content = json.loads(json.dumps(self.content(), sort_keys=True, default=str))
        for key in self.chosen:
            content["fixed"]["data"][key] = "auto"
        for section, fields in (("data", DATA_FIELDS), ("train", TRAIN_FIELDS)):
            values = content["fixed"].get(section, {})
            for key in [k for k in values if k in fields]:
                default = json.loads(json.dumps(fields[key].default, default=str))
                if values[key] == default or (section == "data" and key in LEGACY_DEFAULTS and values[key] == LEGACY_DEFAULTS[key]):
                    del values[key]
        text = json.dumps(content, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def compile_space(space: Space) -> CompiledSpace:
    """Split the space into Optuna distributions and fixed values; check the sampler/pruner."""
    distributions: dict[str, BaseDistribution] = {}
    fixed: dict[str, dict[str, Any]] = {}
    joint: dict[str, Any] = {}
    for section in ("model", "data", "train"):
        values = getattr(space, section)
        fixed[section] = {k: v for k, v in values.items() if not isinstance(v, (Categorical, IntRange, FloatRange, UniformLayers))}
        for key, spec in values.items():
            if isinstance(spec, UniformLayers):
                parts = uniform_layers(spec)
                distributions.update(parts)
                if "layer_sizes" not in parts:
                    joint["layer_sizes"] = {
                        "n_layers": spec.n_layers if isinstance(spec.n_layers, int) else None,
                        "hidden_units": spec.hidden_units if isinstance(spec.hidden_units, int) else None,
                    }
            elif isinstance(spec, (Categorical, IntRange, FloatRange)):
                distributions[key] = to_distribution(spec)
    if space.family == "transformer":
        pairs = attention_pairs(space.model.get("d_model"), space.model.get("nhead"))
        if pairs is not None:
            del distributions["d_model"], distributions["nhead"]
            distributions[ATTENTION] = CategoricalDistribution(pairs)
            joint[ATTENTION] = ["d_model", "nhead"]
    compiled = CompiledSpace(space, distributions, fixed, joint)
    compiled.sampler()  # fail now, at compile time, on options the class rejects
    compiled.pruner()
    return compiled
