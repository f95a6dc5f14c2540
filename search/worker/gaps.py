"""Missing values under ``data.missing: interpolate``: which gaps may be filled, and which
targets are scored.

Interpolation fills a gap only *between* two observed values of its column and series, and
only up to ``data.max_gap`` rows (default: the longest season the space declares or the
training part shows, else ``DEFAULT_MAX_GAP`` steps). A longer gap, or missing values before
a column's first or after its last observed value, are refused naming the column and the
rows: a straight line over them would be made up. A filled target row may feed a window's
inputs but is never scored: ``observed`` marks the rows whose every target is in the file,
and a validation or test window is scored only when its horizon's targets all are
(``search.worker.origins.observed_mask``); a part whose scored windows forecast too few of
its observed rows is refused naming the part and the rows.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from search.errors import DataError
from search.worker.origins import observed_mask, scored_origins

DEFAULT_MAX_GAP = 24  # steps, when the space declares no season and the data shows none
MIN_SCORED = 0.5  # the share of a validation or test part's observed target rows its scored windows must forecast
PART_NAMES = {"val": "validation", "test": "test"}


def runs(missing: np.ndarray) -> list[tuple[int, int]]:
    """``[lo, hi)`` of every run of True in a 1-d bool array."""
    edges = np.diff(np.concatenate([[0], missing.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(edges == 1).tolist(), np.flatnonzero(edges == -1).tolist()))


def _rows(lo: int, hi: int, file_rows: np.ndarray) -> str:
    first, last = int(file_rows[lo]), int(file_rows[hi - 1])
    if first == last and hi - lo > 1:  # rows data.fill_gaps added: each keeps the number of the file row before it
        return f"the rows added after row {first}"
    return f"row {first}" if first == last else f"rows {first}-{last}"


def _where(name: str) -> str:
    return f" of series {name!r}" if name else ""


def check_ends(values: np.ndarray, columns: list[str], file_rows: np.ndarray, series: str, file_name: str, prefix: str) -> None:
    """Refuse missing values before a column's first or after its last observed value in one
    series (``values`` (n, F) in time order, NaN missing; ``file_rows``: each row's number in
    the file, from 1): interpolation has nothing on that side to fill them from."""
    for j, column in enumerate(columns):
        missing = np.isnan(values[:, j])
        for lo, hi in runs(missing):
            if lo == 0 or hi == len(missing):
                side = "before its first" if lo == 0 else "after its last"
                raise DataError([
                    f"{prefix}data.missing: column {column!r} of {file_name}{_where(series)} has no value in {_rows(lo, hi, file_rows)}, "
                    f"{side} observed value; interpolation fills only between observed values: fill them in, remove those rows, or set missing: drop"
                ])


def check_lengths(gaps: list[tuple[str, str, int, int, np.ndarray]], max_gap: int, source: str, file_name: str, prefix: str) -> None:
    """Refuse the longest gap when it is longer than ``max_gap`` rows. ``gaps``: (column,
    series, lo, hi, file_rows) of every inside gap; ``source`` says where the bound comes from."""
    if not gaps:
        return
    column, series, lo, hi, file_rows = max(gaps, key=lambda g: g[3] - g[2])
    if hi - lo <= max_gap:
        return
    raise DataError([
        f"{prefix}data.max_gap: column {column!r} of {file_name}{_where(series)} has {hi - lo} missing rows in a row ({_rows(lo, hi, file_rows)}), "
        f"more than max_gap {max_gap} ({source}); a line over them would be made up: fill them in, raise data.max_gap, or set missing: drop"
    ])


def inside_gaps(values: np.ndarray, columns: list[str], file_rows: np.ndarray, series: str) -> list[tuple[str, str, int, int, np.ndarray]]:
    """Every gap between two observed values of a column in one series."""
    return [(c, series, lo, hi, file_rows) for j, c in enumerate(columns) for lo, hi in runs(np.isnan(values[:, j]))]


def max_gap(data: dict[str, Any], detect: Callable[[], list[int]]) -> tuple[int, str]:
    """The bound on a filled gap and where it comes from: ``data.max_gap``, else the longest
    declared (``data.season``) or detected season, else ``DEFAULT_MAX_GAP``."""
    if data.get("max_gap") is not None:
        return int(data["max_gap"]), "data.max_gap"
    given = data.get("season")
    if given:
        return max(given if isinstance(given, (list, tuple)) else [given]), "the longest data.season"
    seasons = detect()
    if seasons:
        return max(seasons), "the longest season found in the training part"
    return DEFAULT_MAX_GAP, "the default"


def scored_share(series: Any, part: str, horizon: int, step: int) -> list[tuple[int, int, float]]:
    """Per series of ``part``: (its scored windows, its windows, the share of its observed
    target rows that some scored window forecasts)."""
    out = []
    for first, (start, end) in zip(series.series_starts(), series.parts(part)):
        origins = np.asarray(scored_origins(first, start, end, 0, horizon, step), dtype=np.int64)
        if not len(origins):
            out.append((0, 0, 0.0))
            continue
        kept = origins[observed_mask(origins, series.observed, horizon)]
        reach = np.zeros(end - start + 1, dtype=np.int64)  # +1 where a scored window starts, -1 past its end
        np.add.at(reach, kept - start, 1)
        np.add.at(reach, np.minimum(kept - start + horizon, end - start), -1)
        covered = np.cumsum(reach)[:-1] > 0
        observed = np.ones(end - start, dtype=bool) if series.observed is None else np.asarray(series.observed[start:end], dtype=bool)
        out.append((len(kept), len(origins), float(covered[observed].mean()) if observed.any() else 0.0))
    return out


def check_scored(series: Any, horizon: int, step: int, file_rows: np.ndarray, file_name: str, prefix: str) -> None:
    """Refuse a validation or test part whose scored windows (those with every target of their
    horizon observed; at least one) forecast fewer than ``MIN_SCORED`` of its observed target
    rows: the scored windows would not stand for the part. Sporadic missing rows leave most
    windows of every origin scored between them; with origins every horizon steps, each lost
    window loses its rows."""
    if series.observed is None:
        return
    for part in ("val", "test"):
        for i, ((scored, windows, share), (start, end)) in enumerate(zip(scored_share(series, part, horizon, step), series.parts(part))):
            if not windows:
                continue  # check_windows_fit names a part too short for one horizon
            if scored >= 1 and share >= MIN_SCORED:
                continue
            gap = [(lo + start, hi + start) for lo, hi in runs(~series.observed[start:end])]
            shown = ", ".join(_rows(lo, hi, file_rows) for lo, hi in gap[:3]) + (", ..." if len(gap) > 3 else "")
            which = f"the {PART_NAMES[part]} part{_where(series.series_names[i] if series.series_names else '')}"
            every = ", score from every step (eval_origins: every)" if step > 1 else ""
            raise DataError([
                f"{prefix}data.missing: {which} has {scored} of {windows} windows with observed targets, forecasting "
                f"{share:.0%} of its observed rows (missing targets in {shown}); only observed values are scored: fill them in, "
                f"move data.split{every}, or set missing: drop"
            ])


def input_bound(payload: dict[str, Any]) -> int:
    """The most missing target rows a ``search predict`` input's last ``lookback`` rows may
    have: the bound the model was trained under (recorded in its checkpoint), else the space's
    ``data.max_gap`` or longest season, else ``DEFAULT_MAX_GAP``."""
    data = payload.get("data", {})
    if payload.get("max_gap") is not None:
        return int(payload["max_gap"])
    if data.get("max_gap") is not None:
        return int(data["max_gap"])
    given = data.get("season") or payload.get("reference_season")
    return max(given if isinstance(given, (list, tuple)) else [given]) if given else DEFAULT_MAX_GAP


def fill_input(table, n_targets: int, lookback: int, bound: int, which: str) -> np.ndarray:
    """A ``search predict`` input's rows (float64, in time order) with gaps filled linearly
    between observed values. Refused, naming the rows (counted from 1 after the header): a last
    row without every target (a forecast starts from an observed value), more than ``bound``
    rows with a missing target among the last ``lookback``, and a value of the last
    ``lookback`` rows that no pair of observed values surrounds."""
    from search.errors import UsageError

    values = numbers(table, which)
    index = np.asarray(table.index)
    file_rows = (index.astype(np.int64) if index.dtype.kind in "iu" else np.arange(len(index))) + 1
    names = [str(c) for c in table.columns]
    missing = np.isnan(values[:, :n_targets]).any(axis=1)
    if len(values) and missing[-1]:
        lo, hi = runs(missing)[-1]
        raise UsageError(
            f"--input: {which} ends with {hi - lo} rows without every target ({', '.join(names[:n_targets])}; {_rows(lo, hi, file_rows)}); "
            "a forecast starts from observed values: remove those rows or fill them in"
        )
    first = max(len(values) - lookback, 0)
    window = missing[first:]
    if window.sum() > bound:
        shown = ", ".join(_rows(lo + first, hi + first, file_rows) for lo, hi in runs(window)[:3])
        raise UsageError(
            f"--input: {which} has {int(window.sum())} rows with a missing target among its last {lookback} (the lookback; {shown}), "
            f"more than the {bound} the model allows (data.max_gap); a forecast from them would rest on made-up values: fill them in"
        )
    import pandas as pd

    filled = pd.DataFrame(values).interpolate(method="linear", limit_area="inside").to_numpy()
    left = np.isnan(filled[first:])
    if left.any():
        j = int(np.flatnonzero(left.any(axis=0))[0])
        lo, hi = runs(left[:, j])[0]
        raise UsageError(
            f"--input: column {names[j]!r} of {which} has no value in {_rows(lo + first, hi + first, file_rows)} and none before them to fill from; "
            "the model reads its last lookback rows: fill them in"
        )
    return filled


def numbers(table, which: str) -> np.ndarray:
    """A ``search predict`` input's columns as float64; a cell that is not a number is refused
    naming its column and row (counted from 1 after the header)."""
    import pandas as pd

    from search.errors import UsageError
    from search.worker.table import grouped_numbers, unmarked

    out = np.empty(table.shape, dtype=np.float64)
    for j, name in enumerate(table.columns):
        column = table.iloc[:, j]
        text = column if pd.api.types.is_numeric_dtype(column.dtype) else unmarked(column)
        parsed = pd.to_numeric(text, errors="coerce")
        if parsed.isna().sum() > text.isna().sum():
            parsed = grouped_numbers(text, parsed)
        parsed = parsed.to_numpy(dtype=np.float64, na_value=np.nan)
        bad = np.flatnonzero(np.isnan(parsed) & text.notna().to_numpy())
        if len(bad):
            row = table.index[bad[0]]
            where = f"row {row + 1}" if isinstance(row, (int, np.integer)) else f"row {bad[0] + 1}"
            raise UsageError(f"--input: column {str(name)!r} of {which}, {where}: {str(column.iloc[bad[0]])[:60]!r} is not a number; fix the cell, or leave it empty to count as missing")
        parsed[np.isinf(parsed)] = np.nan
        out[:, j] = parsed
    return out
