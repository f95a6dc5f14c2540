"""The search-space file: load (YAML or JSON), apply ``--set`` overrides, validate.

A space file has these sections (``spaces/lstm.yaml`` documents every key)::

    model:     family + the family's parameters (validated by the family's own config)
    data:      dataset path and column roles, missing-value policy, split, scaler, windows
    train:     optimisation settings
    objective: the validation metric and its direction; a list of 2-3 for a multi-objective study
    sampler:   Optuna sampler name + options        pruner: Optuna pruner name + options
    resources: CPUs / GPUs per trial

Any searchable key takes a fixed value or a search range::

    dropout: 0.1                                           fixed
    lr: {type: float, low: 1.0e-4, high: 1.0e-2, log: true}  float range (step or log)
    lookback: {type: int, low: 8, high: 104, step: 8}      int range (step or log)
    optimizer: {choices: [adam, adamw]}                    categorical of YAML scalars
    layer_sizes: {choices: ["32", "64,32", "128,64"]}      layer sizes: canonical "64,32"

``type`` may be left out of a range: it follows the key (an int key gets an int range).

Layer sizes also accept the spellings of widely used configs, in the ``model`` section:

- ``RNN_LAYER_SIZES`` / ``GRU_UNITS``: aliases of ``layer_sizes`` (a string, a list of ints,
  or ``{choices: [...]}`` of those);
- ``LAYERS`` + ``HIDDEN_UNITS``: uniform layers, ``LAYERS: 2, HIDDEN_UNITS: 64`` is "64,64".
  Each is a fixed int, a range string ``"[1,3]"`` (inclusive; a two-int list ``[1, 3]`` reads
  the same), or a range mapping. With ranges the space holds a ``UniformLayers``, which the
  compiler turns into one categorical of layer-size strings or two parameters
  (see ``search.space.compiled.uniform_layers``).

Validation reports every problem at once, one line each: ``file:line: key: problem; fix``.
Rules between keys are checked too: a transformer's ``nhead`` must divide ``d_model``; a TCN
whose receptive field cannot cover the lookback is rejected (warned about when only some
configurations fall short); a grid sampler needs a finite set of values for every parameter;
the dataset must exist and hold the named columns. Warnings are logged on the ``search.space``
logger (a plain stderr line by default) and kept in ``Space.warnings``.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

from search.errors import ConfigError
from search.space._fields import (
    DATA_FIELDS,
    METRICS,
    OBJECTIVE_FIELDS,
    RESOURCE_FIELDS,
    TRAIN_FIELDS,
    Field,
)
from search.space._load import apply_overrides, read_raw, yaml_load
from search.space._types import (
    RANGE_KEYS,
    Categorical,
    FloatRange,
    IntRange,
    Objective,
    Searchable,
    Space,
    UniformLayers,
    uniform_sizes,
    values_of,
)
from search.space._validate import _Validator
from search.space.compiled import CompiledSpace, compile_space

log = logging.getLogger("search.space")

def blame_override(problem: str, path: Path, overrides: list[str]) -> str:
    """``file[:line]: key: message`` -> ``--set key: message`` when ``key`` was given by
    ``--set`` (``--set KEY: key: message`` for a key inside an overridden one)."""
    match = re.match(rf"^{re.escape(str(path))}(?::\d+)?: ([\w.\[\]]+): (.*)$", problem, re.S)
    if not match:
        return problem
    key = match.group(1)
    for item in reversed(overrides):
        name = item.partition("=")[0].strip()
        if key == name or key.startswith((name + ".", name + "[")):
            return f"--set {key}: {match.group(2)}" if key == name else f"--set {name}: {key}: {match.group(2)}"
    return problem


def load_space(path: str | Path, overrides: list[str] | None = None, *, check_data: bool = True) -> Space:
    """Load, override and validate a space file. Raises ConfigError listing every problem.

    ``check_data`` also checks that the dataset file exists and holds the named columns (its
    header only; ``search.worker.load.load_series`` reads the rows).
    """
    path = Path(path)
    raw, lines = read_raw(path)
    raw = apply_overrides(raw, overrides or [])
    try:
        space = _Validator(path, lines, check_data=check_data).space(raw)
    except ConfigError as exc:  # a problem with a value given by --set names the flag, not the file
        raise type(exc)([blame_override(p, path, overrides or []) for p in exc.problems]) from None
    for line in space.warnings:
        log.warning("warning: %s", line)
    return space


__all__ = [
    "DATA_FIELDS",
    "METRICS",
    "OBJECTIVE_FIELDS",
    "RANGE_KEYS",
    "RESOURCE_FIELDS",
    "TRAIN_FIELDS",
    "Categorical",
    "CompiledSpace",
    "Field",
    "FloatRange",
    "IntRange",
    "Objective",
    "Searchable",
    "Space",
    "UniformLayers",
    "apply_overrides",
    "compile_space",
    "load_space",
    "read_raw",
    "uniform_sizes",
    "values_of",
    "yaml_load",
]
