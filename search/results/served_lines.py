"""The served forecaster in words (``search best``, the report, the end of ``search run``):
its line beside the classical baseline's, and the warning when its validation over-promised."""

from __future__ import annotations

from typing import Any

import numpy as np

from search._format import clean, fmt

# A served forecaster whose test/validation ratio is this many times the classical one's
# warns: its validation promised more than its test kept (search best, the report).
GAP_WARNING = 1.25


def recorded_served(attrs: dict) -> dict[str, Any] | None:
    """The served forecaster recorded in a study (``search.results.served``), JSON-safe, or
    None (a study made before combinations, another task, a multi-objective study)."""
    value = attrs.get("served")
    if not isinstance(value, dict) or value.get("format") != 1 or not value.get("members"):
        return None
    return clean({**value, "classical": classical(value)})


def classical(value: dict) -> str | None:
    """The classical baseline the served forecaster is shown beside: MSTL where the study has
    it, else the best on validation of the others."""
    baselines, metric = value.get("baselines") or {}, value.get("metric")
    if "MSTL" in baselines:
        return "MSTL"
    scored = {name: b["val"].get(metric) for name, b in baselines.items() if b.get("val", {}).get(metric) is not None}
    return min(scored, key=scored.get) if scored else None


def served_line(value: dict) -> str:
    """``served: 0.62 x trial #4 + 0.38 x MSTL: val mae 0.41, test mae 0.45; MSTL val 0.52, test 0.50``."""
    metric = value["metric"]
    edge = value.get("edge") or {}
    why = "the best on validation"
    if edge and edge.get("served") != edge.get("challenger"):
        why = f"the classical answer: {edge['challenger']} was better on validation, but not significantly (p {edge['p']:.2f} > {edge['alpha']:g})"
        if isinstance(edge.get("prior"), dict):  # the classical candidate the best statistical model was kept over
            why += f"; nor was {edge['prior']['challenger']} (p {edge['prior']['p']:.2f})"
    line = f"served: {value['label']} ({why}): val {metric} {fmt(value['val'].get(metric))}, test {metric} {fmt(value['test'].get(metric))}"
    name = value.get("classical") or classical(value)
    if name:
        base = value["baselines"][name]
        line += f"; {name} val {fmt(base['val'].get(metric))}, test {fmt(base['test'].get(metric))}"
    return line


def gap_warning(value: dict) -> str:
    """A warning when the served forecaster's test/validation ratio is above every baseline's
    and ``GAP_WARNING`` times their median or more (its validation over-promised), else ""."""
    metric = value["metric"]
    mine = _ratio(value["test"].get(metric), value["val"].get(metric))
    theirs = sorted(r for r in (_ratio(b["test"].get(metric), b["val"].get(metric)) for b in (value.get("baselines") or {}).values()) if r is not None)
    if mine is None or not theirs or mine <= theirs[-1] or mine < GAP_WARNING * float(np.median(theirs)):
        return ""
    spread = f"{theirs[0]:.2f}x" if len(theirs) == 1 else f"{theirs[0]:.2f}-{theirs[-1]:.2f}x"
    return (
        f"warning: the served forecaster's test {metric} is {mine:.2f}x its validation {metric}, the baselines' {spread}: "
        f"its validation promised more than its test kept (judge on more: data.val_folds, or a longer validation part)"
    )


def _ratio(test, val) -> float | None:
    return test / val if isinstance(test, (int, float)) and isinstance(val, (int, float)) and val > 0 else None
