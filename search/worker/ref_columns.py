"""What the seasonal and MSTL references read: columns built from the history before each window.

A window's lookback is what the model reads; the references may read further back, since the
whole history before the origin is known at forecast time. So ``lookback`` need not hold a
season. Both are columns after the model's inputs (``SeriesData.n_profile``), read by
``models.reference.FutureWindow`` at the horizon's rows (and the lookback's, for ``mstl``),
never by the model. A window whose first target row is ``o`` reads them at rows
``o .. o + horizon - 1``, and what it reads there comes from rows before ``o``: the profile at
row ``t`` from the rows up to ``t - horizon``, and step ``h`` the lag ``k m >= h`` back; no
column gives a window a value at or after its origin (``tests/search/test_references_follow.py``
perturbs the future and checks).

- ``reference: seasonal`` (``seasonal_lags``): for ``k = 1 .. ceil(horizon / m)`` the value
  ``k`` seasons earlier, ``y[t - k m]``, scaled like the target; the forecast's step ``h`` reads
  lag ``ceil(h / m)``: the seasonal naive of the whole history.
- ``reference: mstl`` (``refreshed_profile``): the seasonal profile, refreshed at every row
  from the cycles before it rather than fitted once on the training part (that stale profile
  failed on a series whose daily shape changes through the year). Season by season, shortest
  first: each row minus the mean of the season's rows up to it (a trailing trend, only past
  rows), the profile at row ``t`` the mean of that over the last ``PROFILE_CYCLES`` cycles
  ``t - k m`` with ``k m >= horizon``, centred over a cycle, and taken off before the next,
  longer season. Vectorised with numpy: the whole series in a few passes.

Both are plain functions of the raw target, so ``search predict`` builds the same columns
from its input's history (``search.worker.known.predict_window``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

PROFILE_CYCLES = 8  # cycles of each season averaged into the refreshed profile (4 and 6 measured worse on the shipped demand series)


def lag_count(season: int, horizon: int) -> int:
    """Lags ``y[t - k m]`` a horizon needs: ``ceil(horizon / season)``."""
    return -(-int(horizon) // int(season))


def seasonal_lags(y: np.ndarray, season: int, horizon: int) -> np.ndarray:
    """(n, lag_count) float64: column ``k - 1`` holds ``y[t - k season]``; before the series'
    first row the first row's value (older than any origin). ``y`` may end in NaN rows (the
    horizon of ``search predict``): they are never read."""
    y = np.asarray(y, dtype=np.float64)
    n, out = len(y), []
    for k in range(1, lag_count(season, horizon) + 1):
        back = k * int(season)
        out.append(np.concatenate([np.full(min(back, n), y[0] if n else np.nan), y[: max(n - back, 0)]]))
    return np.stack(out, axis=1) if out else np.zeros((n, 0))


def _shifted(values: np.ndarray, back: int) -> np.ndarray:
    """``values[t - back]`` at every row ``t``, NaN before the first."""
    out = np.full(len(values), np.nan)
    if back < len(values):
        out[back:] = values[: len(values) - back]
    return out


def _trailing_mean(values: np.ndarray, m: int) -> np.ndarray:
    """The mean of the ``m`` rows up to each row (NaN where fewer, or any NaN among them)."""
    out = np.full(len(values), np.nan)
    if len(values) >= m:
        finite = np.isfinite(values)
        c = np.concatenate([[0.0], np.cumsum(np.where(finite, values, 0.0))])
        n = np.concatenate([[0], np.cumsum(finite)])
        whole = (n[m:] - n[:-m]) == m
        out[m - 1 :] = np.where(whole, (c[m:] - c[:-m]) / m, np.nan)
    return out


def refreshed_profile(y: np.ndarray, seasons: list[int], horizon: int, cycles: int = PROFILE_CYCLES) -> np.ndarray:
    """(n,) float64, raw units: the sum of every season's refreshed profile at each row (see the
    module docstring); 0 where a row has no cycle before it. Reads at row ``t`` only ``y`` up
    to ``t - horizon``."""
    y = np.asarray(y, dtype=np.float64)
    total, rest = np.zeros(len(y)), y.copy()
    for m in sorted(int(s) for s in seasons):
        detrended = rest - _trailing_mean(rest, m)  # uses rows up to each row only
        first = lag_count(m, horizon)  # the nearest cycle at or before t - horizon
        lagged = np.stack([_shifted(detrended, k * m) for k in range(first, first + cycles)])
        seen = np.isfinite(lagged)
        count = seen.sum(axis=0)
        profile = np.where(count > 0, np.where(seen, lagged, 0.0).sum(axis=0) / np.maximum(count, 1), 0.0)
        centre = _trailing_mean(profile, m)  # the profile's own level over the last cycle, past rows only
        profile = profile - np.where(np.isfinite(centre), centre, 0.0)
        total += profile
        rest = rest - profile
    return total


def lag_block(spec: dict[str, Any] | None, n_inputs: int, n_targets: int) -> tuple[int | None, int, int | None]:
    """Where ``seasonal_lags`` columns start in a window (after the inputs and the ``mstl``
    profile), how many lags each target has, and their season; (None, 0, None) without them."""
    lags = (spec or {}).get("seasonal_lags")
    if not lags:
        return None, 0, None
    at = n_inputs + (n_targets if "mstl" in spec else 0)
    return at, int(lags["lags"]), int(lags["season"])


def add_seasonal_lags(series: Any, horizon: int) -> None:
    """Append the ``seasonal_lags`` columns of ``series.season`` (scaled like each target) to a
    series whose space can take ``reference: seasonal``, and record them in ``series.known``."""
    season = int(series.season)
    k = lag_count(season, horizon)
    segments = series.segments or ((0, *series.bounds, len(series.values)),)
    block = np.zeros((len(series.values), k * series.n_targets), np.float32)
    for s, _, _, e in segments:
        for j in range(series.n_targets):
            block[s:e, j::series.n_targets] = seasonal_lags(series.values[s:e, j], season, horizon)  # already scaled
    series.values = np.concatenate([series.values, block], axis=1)
    series.n_profile += block.shape[1]
    series.known = {**series.known, "seasonal_lags": {"season": season, "lags": k}}
    series.info.setdefault("known_future", {})["seasonal_lags"] = {"season": season, "lags": k}
