"""The steps at which a median or percentile pruner checks a trial: the first step reported
at or after each ``start + k * every`` (its warm-up steps, then once per interval). The driver
skips asking the pruner between them (``search.driver.pruning.PruneGate``) and the worker
does not wait for a decision there (``search.worker.trainable``); both read this one rule.
"""

from __future__ import annotations

from typing import Any


def check_boundary(step: int, start: int, every: int) -> int:
    """The latest ``start + k * every`` at or before ``step`` (``step >= start``)."""
    return (step - start) // every * every + start


def needs_decision(decide: dict | None, step: Any, previous: int = -1) -> bool:
    """Whether the worker must wait for the driver's prune decision after reporting ``step``
    (``previous``: the step reported before it, -1 for none). ``decide`` names the steps the
    pruner checks (``{"from": start, "every": n}``, see ``PruneGate.decide``)."""
    if decide is None or not isinstance(step, int):
        return False
    start, every = int(decide.get("from", 0)), max(1, int(decide.get("every", 1)))
    if step < start:
        return False
    return previous < check_boundary(step, start, every)
