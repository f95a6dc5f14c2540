"""The keys of forecast uncertainty: ``data.levels`` (the interval levels every forecasting trial
is scored at), ``train.quantiles`` (the quantile head's levels) and the rules between them and
the objective."""

from __future__ import annotations

import math
from typing import Any

from search.space._checks import _is_number
from search.space._types import values_of

def levels(value) -> tuple[Any, str | None]:
    """``data.levels``: one level in percent (80) or a list ([80, 95]), each in (0, 100),
    unique; sorted."""
    values = list(value) if isinstance(value, (list, tuple)) else [value]
    example = "e.g. [80, 95]"
    if not values or not all(_is_number(v) and math.isfinite(v) for v in values):
        return value, f"expected a level in percent or a list of them, got {value!r}; {example}"
    for v in values:
        if not 0 < v < 100:
            hint = f" (a fraction? write {v * 100:g})" if 0 < v < 1 else ""
            return value, f"level {v!r} is out of range; each level is a percentage in (0, 100){hint}; {example}"
    seen = [float(v) for v in values]
    if len(set(seen)) != len(seen):
        twice = next(v for v in values if seen.count(float(v)) > 1)
        return value, f"level {twice!r} is listed twice; list each level once; {example}"
    return tuple(sorted(int(v) if float(v).is_integer() else float(v) for v in values)), None


def quantiles(value) -> tuple[Any, str | None]:
    """``train.quantiles``: probabilities in (0, 1), unique, sorted; a list, or the same as one
    string joined by commas (``"0.1,0.5,0.9"``, the form a searched choice takes)."""
    example = "e.g. [0.1, 0.5, 0.9]"
    if isinstance(value, str):
        try:
            value = [float(v) for v in value.split(",")]
        except ValueError:
            return value, f"expected probabilities joined by commas like '0.1,0.5,0.9', got {value!r}"
    values = list(value) if isinstance(value, (list, tuple)) else [value]
    if not values or not all(_is_number(v) and math.isfinite(v) for v in values):
        return value, f"expected a list of probabilities, got {value!r}; {example}"
    for v in values:
        if not 0 < v < 1:
            hint = f" (a percentage? write {v / 100:g})" if 1 < v < 100 else ""
            return value, f"quantile {v!r} is out of range; each is a probability in (0, 1){hint}; {example}"
    if len(set(map(float, values))) != len(values):
        return value, f"a quantile is listed twice in {list(values)!r}; list each once; {example}"
    return tuple(sorted(float(v) for v in values)), None


def quantile_choice(value) -> tuple[Any, str | None]:
    """One choice of a searched ``train.quantiles`` (a list, or a string ``'0.1,0.5,0.9'``), as
    that string form (Optuna's categorical choices are scalars)."""
    if not isinstance(value, (str, list, tuple)) and not _is_number(value):
        return value, f"expected a list of probabilities or them joined by commas like '0.1,0.5,0.9', got {value!r}"
    out, problem = quantiles(value)
    return (value if problem else ",".join(f"{q:g}" for q in out)), problem


def unread_quantiles(given_train: dict, train: dict) -> str | None:
    """The warning for a ``train.quantiles`` that no trial reads (``loss`` is never quantile)."""
    loss = train.get("loss")
    if "quantiles" in given_train and "quantile" not in (values_of(loss) or [loss]):
        return "is read with train.loss: quantile only, and train.loss is never quantile here; set loss: quantile, or remove quantiles"
    return None
