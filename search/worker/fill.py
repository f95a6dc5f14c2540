"""Missing times written back as rows (``data.fill_gaps``): where a series' step is longer than
its usual one, a row of empty cells at each time it skipped, so that the rows keep the
calendar's rhythm. The loader (``search.worker.load``) fills a dataset with it, ``search predict``
its input (``fill_frame``), and ``search init`` counts what it would add."""

from __future__ import annotations

import numpy as np

from search.worker.table import DAY_NS, business_days

MAX_FILLED = 4  # data.fill_gaps inserts at most this many rows per row of the file


def fill_times(when: np.ndarray, sids: np.ndarray | None) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """``data.fill_gaps``: the rows of sorted times ``when`` (within each series) with a row
    for every missing time, as ``(source, inserted, times)`` over the filled rows: the
    position of each row's own row (an inserted row: the row before it), whether it was
    inserted, and its time. A step longer than half again the usual (median) step is filled
    with ``round(step / usual) - 1`` evenly spaced times; monthly, quarterly and yearly times
    with the calendar months between (``_months_later``), business days (``business_days``)
    with the weekdays a step skips. None where nothing is missing."""
    if len(when) < 3:
        return None
    as_time = np.issubdtype(when.dtype, np.datetime64)
    numbers = when.astype("datetime64[ns]").astype(np.int64) if as_time else when.astype(np.float64)
    steps = np.diff(numbers).astype(np.float64)
    inside = np.ones(len(steps), dtype=bool) if sids is None else sids[1:] == sids[:-1]
    usual = np.median(steps[inside]) if inside.any() else np.nan
    if not usual > 0:
        return None
    business = as_time and usual == DAY_NS and business_days(when)
    months = next((m for m, (lo, hi) in _MONTHLY.items() if lo * DAY_NS <= usual <= hi * DAY_NS), 0) if as_time else 0
    if business:
        days = when.astype("datetime64[D]")
        extra = np.busday_count(days[:-1], days[1:]) - 1
    elif months:
        month = when.astype("datetime64[M]").astype(np.int64)
        apart = np.diff(month)
        extra = np.where(apart > 1.5 * months, np.rint(apart / months) - 1, 0)
    else:
        extra = np.where(steps > 1.5 * usual, np.rint(steps / usual) - 1, 0)
    extra = np.where(inside, np.maximum(extra, 0), 0).astype(np.int64)
    if not extra.any():
        return None
    after = np.append(extra, 0)  # rows inserted after each row
    source = np.repeat(np.arange(len(when)), 1 + after)
    start = np.cumsum(1 + after) - (1 + after)  # each own row's position in the filled rows
    nth = np.arange(len(source)) - start[source]  # 0: the own row; k: the k-th inserted after it
    inserted = nth > 0
    if business:
        offset = (numbers - days.astype("datetime64[ns]").astype(np.int64))[source]  # the time of day kept
        moved = np.busday_offset(days[source], nth).astype("datetime64[ns]").astype(np.int64) + offset
    elif months:
        moved = _months_later(when[source], nth * months)
    else:
        spacing = np.append(steps, 0.0)[source] / (after[source] + 1)
        moved = numbers[source] + nth * spacing
    if as_time:
        times = np.where(inserted, np.rint(moved).astype(np.int64), numbers[source]).astype("datetime64[ns]")
    else:
        times = np.where(inserted, moved, numbers[source])
    return source, inserted, times


_MONTHLY = {1: (28, 31), 3: (89, 92), 12: (365, 366)}  # months per step: its usual length in days


def _months_later(when: np.ndarray, months: np.ndarray) -> np.ndarray:
    """``when`` (datetime64) ``months`` calendar months later, as int64 nanoseconds: the same
    day of the month and time of day (a month's last day stays its last day; a day the
    shorter month lacks becomes its last)."""
    ns = when.astype("datetime64[ns]")
    start = ns.astype("datetime64[M]")
    into = ns.astype(np.int64) - start.astype("datetime64[ns]").astype(np.int64)  # since the month began
    length = (start + 1).astype("datetime64[ns]").astype(np.int64) - start.astype("datetime64[ns]").astype(np.int64)
    target = start + months.astype("timedelta64[M]")
    target_ns = target.astype("datetime64[ns]").astype(np.int64)
    target_len = (target + 1).astype("datetime64[ns]").astype(np.int64) - target_ns
    last_day = into >= length - DAY_NS  # the month's last day
    return np.where(last_day, target_ns + target_len - (length - into), target_ns + np.minimum(into, target_len - DAY_NS + into % DAY_NS))


def fill_frame(frame, when, series_id: str | None, time_column: str):
    """A ``search predict`` input's sorted rows with ``data.fill_gaps``' rows inserted as in
    training (``fill_times``): empty cells, its series, and its time (as parsed) in the time
    column; ``frame`` itself where no time is missing."""
    filled = fill_times(when.to_numpy(), frame[series_id].to_numpy() if series_id else None)
    if filled is None:
        return frame
    source, inserted, times = filled
    out = frame.iloc[source].reset_index(drop=True)
    for name in out.columns:
        if name not in (series_id, time_column):
            out[name] = out[name].mask(inserted)
    out[time_column] = times
    return out
