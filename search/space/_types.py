"""The typed space: search ranges and the validated ``Space``."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# --------------------------------------------------------------------------- searchable values


@dataclass(frozen=True)
class Categorical:
    choices: tuple


@dataclass(frozen=True)
class IntRange:
    low: int
    high: int
    step: int = 1
    log: bool = False


@dataclass(frozen=True)
class FloatRange:
    low: float
    high: float
    step: float | None = None
    log: bool = False


Searchable = Categorical | IntRange | FloatRange
RANGE_KEYS = {"type", "choices", "low", "high", "step", "log"}


@dataclass(frozen=True)
class UniformLayers:
    """Layer sizes from the legacy ``LAYERS`` x ``HIDDEN_UNITS`` pair, at least one searched:
    ``n_layers`` layers of ``hidden_units`` units each. Each part is an int or a search range."""

    n_layers: int | IntRange | Categorical
    hidden_units: int | IntRange | Categorical


def values_of(value, limit: int = 100_000) -> list | None:
    """Every value a fixed value or a discrete range can take, in order; None for a float range
    without a step or a range of more than ``limit`` values."""
    if isinstance(value, Categorical):
        return list(value.choices)
    if isinstance(value, IntRange):
        step = 1 if value.log else value.step
        if (value.high - value.low) // step + 1 > limit:
            return None
        return list(range(value.low, value.high + 1, step))
    if isinstance(value, FloatRange):
        if value.step is None or value.log:
            return None
        n = int(round((value.high - value.low) / value.step)) + 1
        return None if n > limit else [round(value.low + i * value.step, 12) for i in range(n)]
    return [value]


def uniform_sizes(n_layers: int, hidden_units: int) -> str:
    """The canonical layer-size string of ``n_layers`` equal layers: (2, 64) -> "64,64"."""
    return ",".join([str(int(hidden_units))] * int(n_layers))


# --------------------------------------------------------------------------- the typed space


@dataclass(frozen=True)
class Objective:
    metric: str  # validation metric, see METRICS
    direction: str  # "minimize" | "maximize"


@dataclass(frozen=True)
class Space:
    path: Path  # the space file
    family: str  # model family, a key of models.FAMILIES
    model: dict[str, Any]  # family parameters: fixed values, Searchable or UniformLayers
    data: dict[str, Any]  # DATA_FIELDS, defaults filled in; data["path"] is absolute
    train: dict[str, Any]  # TRAIN_FIELDS, defaults filled in
    objective: Objective
    sampler: dict[str, Any]  # {"name": ..., **options}; patient pruner: {"wrapped": {...}}
    pruner: dict[str, Any]  # {"name": ..., **options}
    resources: dict[str, float]  # {"cpu": ..., "gpu": ...}
    description: str = ""
    tracking: dict[str, Any] = field(default_factory=dict)  # {"mlflow": URI or None}: not part of the content or hash
    checkpoints: dict[str, Any] = field(default_factory=lambda: {"keep": 5})  # {"keep": K}: which trials keep a checkpoint; not part of the content or hash
    lines: dict[str, int] = field(default_factory=dict, compare=False, repr=False)  # dotted key -> line
    warnings: tuple[str, ...] = ()  # problems that do not stop a search, one line each

    def searchables(self) -> dict[str, Searchable | UniformLayers]:
        """Every searched key by its own name (``layer_sizes`` may hold a UniformLayers)."""
        out = {}
        for section in (self.model, self.data, self.train):
            out.update({k: v for k, v in section.items() if isinstance(v, (Categorical, IntRange, FloatRange, UniformLayers))})
        return out

    def section_of(self, key: str) -> str:
        """The section (model, data, train) that holds ``key``."""
        for section in ("model", "data", "train"):
            if key in getattr(self, section):
                return section
        raise KeyError(key)

    def where(self, dotted: str) -> str:
        """``file:line: key`` for messages about ``dotted`` (the line of the key, else of its section)."""
        return where(self.path, self.lines, dotted)

    def locate(self, problem: str) -> str:
        """Add the line to a ``file: key: message`` problem found after validation (e.g. by
        ``search.worker.data`` when it reads the rows): ``file:line: key: message``."""
        prefix = f"{self.path}: "
        if problem.startswith(prefix):
            key, sep, rest = problem[len(prefix):].partition(": ")
            if sep and key and " " not in key:
                return f"{self.where(key)}: {rest}"
        return problem


def where(path, lines: dict[str, int], dotted: str) -> str:
    """``file:line: key``: the line of ``dotted``, else of the nearest section above it."""
    line, parent = lines.get(dotted), dotted
    while line is None and "." in parent:
        parent = parent.rsplit(".", 1)[0]
        line = lines.get(parent)
    return f"{path}:{line}: {dotted}" if line else f"{path}: {dotted}"
