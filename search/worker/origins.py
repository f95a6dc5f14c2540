"""Which forecast origins a validation or test part is scored on: a leaf that the windows
(``search.worker.data``) and the statistical baselines (``search.worker.stat_baselines``)
share, so every method is judged on the same targets. A window whose target was filled (not
observed in the file) is never scored (``observed_mask``)."""

from __future__ import annotations

from typing import Any


def eval_step(data_cfg: dict[str, Any]) -> int:
    """The spacing of scored origins: 1, or the horizon with ``eval_origins: horizon``."""
    return int(data_cfg["horizon"]) if data_cfg.get("eval_origins", "every") == "horizon" else 1


def season_list(value) -> list[int]:
    """``data.season`` as a list: one season (an int) or several."""
    return [int(value)] if isinstance(value, int) else [int(v) for v in value]


def scored_origins(first_row: int, start: int, end: int, lookback: int, horizon: int, step: int) -> range:
    """The origins (first target rows) of the scored windows whose targets lie in rows
    [start, end): every ``step`` rows, the last at ``end - horizon``, none whose ``lookback``
    inputs would reach before ``first_row`` (the series' first row)."""
    last = end - horizon
    if last < start:
        return range(0)
    first = start + (last - start) % step  # aligned to end at the part's last row
    if first - lookback < first_row:
        first += -(-(first_row - first + lookback) // step) * step
    return range(first, last + 1, step)


def observed_mask(origins, observed, horizon: int):
    """(N,) bool: True for each origin whose ``horizon`` target rows were all observed in the
    file (``observed``: (T,) bool per row, ``SeriesData.observed``); every one when
    ``observed`` is None (nothing was filled)."""
    import numpy as np

    start = np.asarray(origins, dtype=np.int64)
    if observed is None:
        return np.ones(len(start), dtype=bool)
    filled = np.concatenate([[0], np.cumsum(~np.asarray(observed, dtype=bool))])  # filled rows before each row
    return filled[start + horizon] == filled[start]
