"""Inputs known in the future, and the seasonal profile of ``reference: mstl``.

``data.time_features`` adds sin/cos columns that are functions of time alone, so they are
known for the horizon as well as the lookback:

- calendar features of a datetime time column: ``hour`` (of the day, minutes included),
  ``dayofweek``, ``dayofmonth``, ``dayofyear``, ``month``;
- ``season``: the position within each season (``data.season`` or the detected ones),
  counted in steps from the first row of the series, or where a season spans about a
  calendar day, week or year, the place in that cycle (see ``phase``);
- ``calendar``: by the series' step, the calendar cycles longer than a step (sub-daily: hour and
  day of week, and day of year with two years of data; daily: day of week and day of year;
  weekly: day of year; monthly: month); without a datetime column, ``season``. A fixed
  ``auto`` is decided per study before the data reaches here (``search.driver.defaults``:
  ``calendar`` or ``none``); one that still arrives undecided is ``none`` (``UNDECIDED``). As a
  searched choice, ``auto`` is ``calendar`` (its meaning before ``calendar`` was a name).

``data.future_features`` are columns of the data file known ahead (a holiday flag, a planned
price): they are read, filled and scaled like features (the scaler fit on the training part
only) and fed over the horizon too. A file's own values are used for every row; ``search
predict``'s input carries them for the horizon in rows after its last target value.

``reference: mstl`` reads a seasonal profile refreshed at every row from the rows before it,
and ``reference: seasonal`` the values whole seasons back (``search.worker.ref_columns``):
columns the model never reads; ``models.reference.FutureWindow`` uses them (see there).
Checkpoints made before kept a profile fitted once on the training part (``profiles``):
``profile_values`` extends it by position for them.

Everything here is plain JSON in ``spec`` (``SeriesData.known``, the checkpoint's ``known``),
so ``search predict`` rebuilds the same columns for new rows.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from search.errors import DataError
from search.worker import gaps, ref_columns

# What a fixed ``auto`` (reference, time_features) means where the driver has not decided it
# (``search.driver.defaults``): the defaults from before it was decided, so that code which
# builds a configuration without preparing the space runs as it always did.
UNDECIDED = {"reference": "last", "time_features": "none", "fill_gaps": False}

CALENDAR = ("hour", "dayofweek", "dayofmonth", "dayofyear", "month")
TIME_FEATURES = (*CALENDAR, "season")
DAY = 86400.0
CYCLE_SECONDS = {"hour": DAY, "dayofweek": 7 * DAY, "dayofmonth": 28 * DAY, "dayofyear": 365 * DAY, "month": 365 * DAY}  # a calendar feature's cycle: a step as long says nothing within it


def decided(key: str, value: Any) -> Any:
    """A fixed ``data.reference`` or ``data.time_features`` as the worker runs it: ``auto`` that
    the driver did not decide is ``UNDECIDED[key]``."""
    return UNDECIDED[key] if value == "auto" else value


def time_feature_names(spec: Any, datetime_step: float | None, span_days: float) -> list[str]:
    """The names ``data.time_features`` stands for: ``calendar`` (and ``auto``) chosen by the step
    in seconds of a datetime time column (None: no datetime column, so ``season``); a list, or a
    searched choice's names joined by commas, as given."""
    if spec in (None, "none", False):
        return []
    if spec not in ("auto", "calendar", True):
        return spec.split(",") if isinstance(spec, str) else list(spec)
    if datetime_step is None:
        return ["season"]
    if datetime_step < DAY:
        return ["hour", "dayofweek"] + (["dayofyear"] if span_days >= 730 else [])
    if datetime_step < 7 * DAY:
        return ["dayofweek", "dayofyear"]
    if datetime_step < 28 * DAY:
        return ["dayofyear"]
    if datetime_step < 365 * DAY:
        return ["month"]
    return []


def calendar_fraction(name: str, when: np.ndarray) -> np.ndarray:
    """Where each time of ``when`` (datetime64) lies in the cycle ``name``, in [0, 1)."""
    import pandas as pd

    t = pd.DatetimeIndex(when)
    if name == "hour":
        return (t.hour + t.minute / 60 + t.second / 3600).to_numpy(dtype=np.float64) / 24
    if name == "dayofweek":
        return t.dayofweek.to_numpy(dtype=np.float64) / 7
    if name == "dayofmonth":
        return (t.day.to_numpy(dtype=np.float64) - 1) / t.days_in_month.to_numpy(dtype=np.float64)
    if name == "dayofyear":
        return (t.dayofyear.to_numpy(dtype=np.float64) - 1) / np.where(t.is_leap_year, 366.0, 365.0)
    if name == "month":
        return (t.month.to_numpy(dtype=np.float64) - 1) / 12
    raise ValueError(f"unknown calendar feature {name!r}; valid: {', '.join(CALENDAR)}")


def time_columns(spec: dict[str, Any], when: np.ndarray | None, pos: np.ndarray) -> np.ndarray:
    """(n, 2 * k) float32: sin and cos of each time feature of ``spec`` at rows with times
    ``when`` (datetime64; None without a datetime column) and positions ``pos`` (int64)."""
    out = []
    for name in spec["time_features"]:
        if name == "season":
            fractions = [phase(spec, m, when, pos) / m for m in spec["seasons"]]
        else:
            fractions = [calendar_fraction(name, when)]
        for a in fractions:
            out += [np.sin(2 * np.pi * a), np.cos(2 * np.pi * a)]
    return np.stack(out, axis=1).astype(np.float32) if out else np.zeros((len(pos), 0), np.float32)


def n_time_columns(spec: dict[str, Any]) -> int:
    return 2 * sum(len(spec["seasons"]) if name == "season" else 1 for name in spec.get("time_features", ()))


def positions(spec: dict[str, Any], times: np.ndarray | None, n: int) -> np.ndarray:
    """Each row's position in steps (int64): from the time column, ``(t - time0) / step``
    rounded, with ``time0`` and ``step`` of the training file; without a time column, the
    row's number within its series (0 = its first row)."""
    if times is None or spec.get("time0") is None:
        return np.arange(n, dtype=np.int64)
    return np.rint((as_numbers(times) - spec["time0"]) / spec["step"]).astype(np.int64)


CALENDAR_PERIODS = (DAY, 7 * DAY, 365.2425 * DAY)  # seconds


def phase(spec: dict[str, Any], m: int, when: np.ndarray | None, pos: np.ndarray) -> np.ndarray:
    """Where each row lies in the season of ``m`` steps, in steps, in [0, m) (float64): its
    position modulo ``m``; or, with a datetime time column, when ``m`` steps span a calendar
    day, week or year to within 2 %, its time's place in that calendar cycle times ``m``: a
    52-step season of weekly data then follows the 365.24-day year instead of drifting by a
    day and a quarter a year."""
    step, time0 = spec.get("step"), spec.get("time0")
    if when is None or time0 is None or not step or not np.issubdtype(np.asarray(when).dtype, np.datetime64):
        return (pos % m).astype(np.float64)
    period = next((p for p in CALENDAR_PERIODS if abs(m * step - p) <= 0.02 * p), None)
    if period is None:
        return (pos % m).astype(np.float64)
    return np.mod(as_numbers(when) - time0, period) / period * m


def as_numbers(times: np.ndarray) -> np.ndarray:
    """Times as float64: seconds since the epoch for datetime64, the numbers themselves else."""
    times = np.asarray(times)
    if np.issubdtype(times.dtype, np.datetime64):
        return times.astype("datetime64[ns]").astype(np.int64) / 1e9
    return times.astype(np.float64)


def profile_values(profiles: dict[str, list[float]], spec: dict[str, Any], when: np.ndarray | None, pos: np.ndarray) -> np.ndarray:
    """The sum of every season's profile at the rows' phases (linear between the profile's
    steps, round the cycle): (n,) float64, raw units."""
    out = np.zeros(len(pos))
    for key, values in profiles.items():
        m, values = int(key), np.asarray(values)
        ph = phase(spec, m, when, pos)
        lo = np.floor(ph).astype(np.int64)
        frac = ph - lo
        out += values[lo % m] * (1 - frac) + values[(lo + 1) % m] * frac
    return out


def build_spec(data: dict[str, Any], when: np.ndarray | None, seasons: list[int], prefix: str, file_name: str) -> dict[str, Any]:
    """The known-future settings of a series (``SeriesData.known``): resolved time feature
    names, the seasons of ``season`` positions, the position origin and step, the future
    columns. ``when``: every row's time (datetime64 or float64) or None."""
    is_datetime = when is not None and np.issubdtype(np.asarray(when).dtype, np.datetime64)
    step = time0 = None
    if when is not None and len(when) > 1:
        numbers = as_numbers(when)
        diffs = np.diff(numbers)
        step = float(np.median(diffs[diffs > 0])) if (diffs > 0).any() else None
        time0 = float(numbers[0]) if step else None
    span_days = (as_numbers(when).max() - as_numbers(when).min()) / DAY if is_datetime and len(when) else 0.0
    spec_value = data.get("time_features", "none")
    choices = getattr(spec_value, "choices", None)
    if choices is None:
        spec_value = decided("time_features", spec_value)
    per_choice = {}
    for value in choices if choices is not None else (spec_value,):
        key = f"{prefix}data.time_features" + (f" (choice {value!r})" if choices is not None else "")
        names = time_feature_names(value, step if is_datetime else None, span_days)
        if value in ("auto", "calendar", True) and not names:
            if seasons:  # a step of a year or more: the position within each season instead
                names = ["season"]
            else:
                raise DataError([f"{key}: {value} finds no calendar cycle longer than the step of {file_name} ({step / DAY:.0f} days) and no season; list the features, or set time_features: none"])
        calendar = [n for n in names if n in CALENDAR]
        coarse = [n for n in calendar if is_datetime and step and step >= CYCLE_SECONDS[n]] if value not in ("auto", True) else []
        if coarse:
            raise DataError([f"{key}: {coarse[0]} repeats every {CYCLE_SECONDS[coarse[0]] / DAY:g} days, but {file_name} has one row every {step / DAY:g} days; "
                             "the column would be constant or alias: leave it out, or use auto"])
        if calendar and not is_datetime:
            reason = "data.time_column is not set" if when is None else f"time column {data.get('time_column')!r} holds numbers"
            raise DataError([f"{key}: {calendar[0]} needs a time column of dates and times ({reason}); use season (the position within each season) or auto"])
        if "season" in names and not seasons:
            raise DataError([f"{key}: season needs a season, and none stands out in the training part of {file_name}; set data.season (e.g. 52 or [48, 336])"])
        per_choice[value] = names
    # searched: the columns of every choice are built, and each trial keeps its own (select)
    names = per_choice[spec_value] if choices is None else [n for n in TIME_FEATURES if any(n in v for v in per_choice.values())]
    searched = {"time_feature_choices": per_choice} if choices is not None else {}
    return {
        "time_features": names,
        "seasons": list(seasons) if "season" in names else [],
        "time0": time0,
        "step": step,
        "future_features": list(data.get("future_features") or ()),
    } | searched


def select(spec: dict[str, Any], value: Any) -> tuple[dict[str, Any], list[int]]:
    """A searched ``data.time_features`` (``spec["time_feature_choices"]``): the spec of the
    trial that took ``value`` (its own names, in the order of the built columns) and which of
    the built time columns it keeps, counted from the first time column."""
    names = spec["time_feature_choices"][value]
    keep, first = [], 0
    for name in spec["time_features"]:
        width = 2 * (len(spec["seasons"]) if name == "season" else 1)
        if name in names:
            keep += range(first, first + width)
        first += width
    own = {k: v for k, v in spec.items() if k != "time_feature_choices"}
    own["time_features"] = [n for n in spec["time_features"] if n in names]
    if "season" not in names:
        own["seasons"] = []
    return own, keep


def predict_window(payload: dict[str, Any], name: str, frame, offset: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """The model's window (lookback + horizon, columns) for a forecast after the last row of
    ``frame`` (one series of ``search predict``'s input, in time order) that has every target.

    Rows after it are the horizon's: they must carry the ``future_features`` of the first
    ``horizon`` steps (their targets empty). Without future features they may be left out: the
    times then continue by the training file's step. The horizon's target and feature cells
    are NaN, which ``models.reference.FutureWindow`` never reads.
    """
    import pandas as pd

    from search.errors import UsageError

    spec, data = payload["known"], payload["data"]
    lookback, horizon, n_targets = int(data["lookback"]), int(data["horizon"]), int(payload["n_targets"])
    columns = payload["columns"]
    which = f"series {name!r}" if name else "the input"
    table = pd.DataFrame(gaps.numbers(frame[columns], which), index=frame.index, columns=columns)
    has_target = table.iloc[:, :n_targets].notna().all(axis=1).to_numpy()
    if not has_target.any():
        raise UsageError(f"--input: series {name!r} has no row with every target ({', '.join(columns[:n_targets])})" if name else "--input: no row has every target value")
    end = int(np.flatnonzero(has_target)[-1]) + 1  # the forecast starts after this row
    if end < lookback:
        raise UsageError(f"--input: {which} has {end} rows up to its last target value, the model needs at least its lookback of {lookback}")
    history = gaps.fill_input(table.iloc[:end], n_targets, lookback, gaps.input_bound(payload), which)  # observed values, bounded gaps filled
    if len(history) < lookback:
        raise UsageError(f"--input: {which} has {len(history)} rows up to its last target value, the model needs at least its lookback of {lookback}")
    future_names = spec["future_features"]
    ahead = table.iloc[end : end + horizon]
    if future_names:
        values = ahead[future_names].to_numpy()
        if len(ahead) >= horizon and np.isnan(values).any():
            i, j = (int(k[0]) for k in np.nonzero(np.isnan(values)))
            raise UsageError(
                f"--input: future feature {future_names[j]!r} of {which} is missing in row {int(ahead.index[i]) + 1}, "
                f"step {i + 1} of the {horizon} after the last row with a target; the model reads it there: fill it in"
            )
        if len(ahead) < horizon:
            raise UsageError(
                f"--input: the model reads future_features ({', '.join(future_names)}) over the {horizon} steps after the last row with a target; "
                f"{which} has {len(ahead)} such rows{' with every value' if len(ahead) >= horizon else ''}: append the {horizon} future rows with "
                f"the targets empty and {', '.join(future_names)} filled"
            )
    time_column = data.get("time_column")
    when = None
    if spec.get("time0") is not None and time_column not in frame.columns:
        raise UsageError(f"--input: column {time_column!r} is missing; the model's known-future inputs ({', '.join(spec['time_features']) or 'reference mstl'}) are computed from it")
    if time_column and spec.get("time0") is not None:
        from search.worker.table import parse_times

        parsed = parse_times(frame[time_column], data.get("time_format"), "the input", "").to_numpy()
        when = parsed[:end]
        given = parsed[end : end + horizon]
        steps = np.arange(len(given) + 1, horizon + 1)
        if np.issubdtype(when.dtype, np.datetime64):
            extra = when[-1] + (steps * spec["step"] * 1e9).astype("timedelta64[ns]")
        else:
            extra = when[-1] + steps * spec["step"]
        when = np.concatenate([when, given, extra]).astype(when.dtype)
    pos = positions(spec, when, end + horizon)
    rows = slice(end - lookback, end + horizon)
    scaled = np.full((lookback + horizon, len(columns)), np.nan)
    scaled[:lookback] = (history[-lookback:] - offset) / scale
    if future_names:
        idx = [columns.index(c) for c in future_names]
        scaled[lookback:, idx] = (ahead[future_names].to_numpy() - offset[idx]) / scale[idx]
    parts = [scaled, time_columns(spec, None if when is None else when[rows], pos[rows])]
    targets = np.full((end + horizon, n_targets), np.nan)  # scaled; the horizon's unknown (never read)
    targets[:end] = (history[:, :n_targets] - offset[:n_targets]) / scale[:n_targets]
    if "mstl" in spec and "profiles" in spec["mstl"]:  # a checkpoint made before: the profile fit once
        series = payload.get("series_names") or [""]
        fits = spec["mstl"]["profiles"][series.index(name) if name in series else 0]
        parts.append(np.stack([profile_values(fit, spec, None if when is None else when[rows], pos[rows]) / scale[j] for j, fit in enumerate(fits)], axis=1))
    elif "mstl" in spec:  # refreshed from the input's own history
        parts.append(np.stack([ref_columns.refreshed_profile(targets[:, j], spec["mstl"]["seasons"], horizon, spec["mstl"]["refresh"]["cycles"])[rows] for j in range(n_targets)], axis=1))
    if "seasonal_lags" in spec:
        lags = [ref_columns.seasonal_lags(targets[:, j], spec["seasonal_lags"]["season"], horizon)[rows] for j in range(n_targets)]
        parts.append(np.stack(lags, axis=2).reshape(lookback + horizon, -1))  # lag-major, as SeriesData holds them
    return np.concatenate(parts, axis=1).astype(np.float32)  # (L+H, C)
