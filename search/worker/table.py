"""The rows of a dataset, read and checked before anything is computed from them.

``search.worker.load.load_series`` reads a table here, parses its time column once (times or
numbers), turns the used columns into numbers, orders the rows by series and time and applies
the duplicate-time policy. Every problem is one ``DataError`` line naming the file, the key,
the column, the row and the value; rows are counted from 1, the first row after the header
(a CSV file's row N is its line N + 1).
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from search._csv import DELIMITED, PARQUET, read_csv, unsupported
from search._format import not_a_file, repeated
from search.errors import DataError

SHOWN = 60  # characters of a cell value an error line shows at most
_DAY_MONTH = re.compile(r"^\s*\d{1,2}([/.\-])\d{1,2}\1(\d{4}|\d{2})(\s+\d{1,2}:\d{2}(:\d{2})?)?\s*$")  # 03/04/2001, 3.4.01 06:00
_INTERVAL = re.compile(r"^(\S.*?\d)\s+-\s+(\d.*\S)$")  # a period written as its start and end: "01.01.2021 00:00 - 01.01.2021 01:00"
_TIME_NAME = re.compile(r"time|date|epoch|unix|stamp|^ts$|_ts$|^ts_", re.IGNORECASE)  # a column named as times
_EPOCH_UNITS = (("s", 1), ("ms", 1e3), ("us", 1e6), ("ns", 1e9))  # Unix time units, per second
_EPOCH_SPAN = (1e8, 4102444800)  # 1973-03-03 .. 2100-01-01, in seconds


def show(value: Any) -> str:
    """A cell value for an error line: its repr, cut to ``SHOWN`` characters."""
    text = repr(value.item() if hasattr(value, "item") else value)
    return text if len(text) <= SHOWN else text[: SHOWN - 5] + "...'" + f" ({len(text)} characters)"


def read_table(path: Path, key_prefix: str):
    """The table of a CSV or Parquet file; a one-line DataError naming ``data.path`` otherwise.
    A CSV file is read as ``search._csv.csv_options`` says (UTF-8; commas, or the separator its header uses)."""
    import pandas as pd

    problem = not_a_file(path)  # checked before opening: a named pipe would block the reader
    if problem:
        raise DataError([f"{key_prefix}data.path: {path} {problem}" if problem != "no such file" else f"{key_prefix}data.path: no such file: {path}"])
    suffix = path.suffix.lower()
    why = unsupported(path)
    if why:
        raise DataError([f"{key_prefix}data.path: {path.name} {why}"])
    try:
        if suffix in PARQUET:
            return pd.read_parquet(path)
        if suffix in DELIMITED:
            header = read_csv(path, nrows=1, header=None, dtype=str)  # the names as written (pandas renames a repeated one)
            twice = repeated(header.iloc[0] if len(header) else [])
            if twice:
                raise DataError([f"{key_prefix}data.path: the header of {path.name} names column {twice[0]!r} twice (columns {twice[1]} and {twice[2]}); which one is meant cannot be told: rename one"])
            return read_csv(path)
    except DataError:
        raise
    except UnicodeDecodeError as exc:
        raise DataError([f"{key_prefix}data.path: {path.name} is not UTF-8 ({exc.reason} at byte {exc.start}); save it as UTF-8"]) from None
    except Exception as exc:  # a parser error: name the file, keep it to one line
        first = (str(exc).splitlines() or [type(exc).__name__])[0][:200]
        raise DataError([f"{key_prefix}data.path: cannot read {path.name}: {first}"]) from None


def check_rows(frame, file_name: str, prefix: str) -> None:
    """A table without rows (a header only) cannot serve."""
    if len(frame) == 0:
        raise DataError([f"{prefix}data.path: {file_name} has a header but no rows; a dataset needs rows of values"])


# --------------------------------------------------------------------------- time


def parse_times(column, fmt: str | None, file_name: str, prefix: str):
    """The time column as datetime64 (timezones converted to UTC) or float64 numbers, same
    index. Numbers are times where they are Unix times (``_unix``). Text is read as ISO dates
    unasked; day/month/year text only when its order is unambiguous; anything else needs
    ``data.time_format``. A value that does not parse, or
    a missing time, is refused naming its row."""
    import pandas as pd

    key = "data.time_format" if fmt else "data.time_column"
    where = f"{prefix}{key}: column {column.name!r} of {file_name}"
    if pd.api.types.is_bool_dtype(column.dtype):
        raise DataError([f"{where} holds true/false values, not times; name the time column in data.time_column"])
    if pd.api.types.is_datetime64_any_dtype(column.dtype):
        when = _naive(column)
    elif pd.api.types.is_numeric_dtype(column.dtype) and not fmt:
        when = _unix(column)
    elif fmt:
        try:
            when = _naive(pd.to_datetime(column.astype("string"), format=fmt, errors="coerce", utc=True))
        except ValueError as exc:  # a directive strftime does not know ('%Q')
            raise DataError([f"{prefix}data.time_format: {fmt!r} is not a strftime format ({str(exc).splitlines()[0][:120]}); e.g. '%Y-%m-%d %H:%M'"]) from None
    else:
        when = _infer_times(column, where)
    bad = when.isna().to_numpy()
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        value = column.iloc[i]
        if pd.isna(value):
            raise DataError([f"{where}: row {column.index[i] + 1} has no time; every row needs one (remove the row or fill it in)"])
        hint = f"does not match time_format {fmt!r}" if fmt else "is not a time or a number"
        raise DataError([f"{where}: row {column.index[i] + 1}: {show(value)} {hint}; set data.time_format (e.g. '%Y-%m-%d %H:%M', see Python's strftime)"])
    return when


def _is_time(text: str) -> bool:
    """Whether ``text`` alone reads as a time (ISO, day/month text, or what pandas infers)."""
    import pandas as pd

    if _DAY_MONTH.match(text):
        return True
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pd.notna(pd.to_datetime(text, errors="coerce"))


def _naive(times):
    """Times without a timezone (aware ones in UTC), as datetime64[ns]."""
    if getattr(times.dt, "tz", None) is not None:
        times = times.dt.tz_convert("UTC").dt.tz_localize(None)
    return times.astype("datetime64[ns]")


def _infer_times(column, where: str):
    """Text read as times: numbers written as text, ISO dates, day/month order when it is
    unambiguous, else the format pandas infers from the first value. Unparsed values are NaT."""
    import pandas as pd

    text = column.astype("string").str.strip()
    first = text.dropna().iloc[0] if text.notna().any() else ""
    interval = _INTERVAL.match(first)
    if interval and all(_is_time(side) for side in interval.groups()):  # "01.01.2021 00:00 - 01.01.2021 01:00": its start
        text = text.str.replace(_INTERVAL, r"\1", regex=True)
        first = interval.group(1)
    numbers = pd.to_numeric(text, errors="coerce")
    if numbers.notna().sum() > text.notna().sum() / 2:  # numbers, with some bad values
        return _unix(numbers)
    if pd.notna(pd.to_datetime(first, format="ISO8601", errors="coerce")):
        return _naive(pd.to_datetime(text, format="ISO8601", errors="coerce", utc=True))
    match = _DAY_MONTH.match(first)
    if match:
        clock = "" if not match.group(3) else " %H:%M:%S" if match.group(4) else " %H:%M"
        return _day_month(text, match.group(1), ("%Y" if len(match.group(2)) == 4 else "%y") + clock, where)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "could not infer format": the unparsed values are refused below
        return _naive(pd.to_datetime(text, errors="coerce", utc=True))


def unix_unit(values) -> tuple[str, float] | None:
    """The unit of whole numbers that are Unix times (``s``, ``ms``, ``us``, ``ns`` and its
    count per second), judged by their span (every value within 1973-2099 in that unit; the
    spans of the units do not overlap); None for other numbers."""
    finite = np.asarray(values, dtype=np.float64)
    finite = finite[np.isfinite(finite)]
    if not len(finite) or np.any(finite != np.round(finite)):
        return None
    low, high = float(finite.min()), float(finite.max())
    return next(((unit, per) for unit, per in _EPOCH_UNITS if _EPOCH_SPAN[0] * per <= low and high < _EPOCH_SPAN[1] * per), None)


def _unix(numbers):
    """A numeric time column: as times where it holds Unix times (a column named as times,
    or one whose steps are whole minutes: 1704067200, 1704070800, ...), else as float64
    numbers (a step count, a year)."""
    import pandas as pd

    found = unix_unit(numbers)
    if found is not None:
        unit, per = found
        steps = np.diff(np.unique(numbers.dropna().to_numpy(dtype=np.float64)))
        if _TIME_NAME.search(str(numbers.name)) or (len(steps) and float(np.median(steps)) % (60 * per) == 0):
            whole = numbers if pd.api.types.is_integer_dtype(numbers.dtype) else numbers.round().astype("Int64")
            return pd.to_datetime(whole, unit=unit, errors="coerce").astype("datetime64[ns]")
    return numbers.astype("float64")


def _day_month(text, sep: str, year: str, where: str):
    """Day/month/year text: parsed with the one order that reads every value; refused when
    both orders read every value but disagree (03/04/2001: 3 April or March 4)."""
    import pandas as pd

    day_first, month_first = f"%d{sep}%m{sep}{year}", f"%m{sep}%d{sep}{year}"
    by_day = pd.to_datetime(text, format=day_first, errors="coerce")
    by_month = pd.to_datetime(text, format=month_first, errors="coerce")
    day_ok, month_ok = by_day.notna().sum(), by_month.notna().sum()
    differ = np.flatnonzero((by_day != by_month).to_numpy() & by_day.notna().to_numpy() & by_month.notna().to_numpy())
    if day_ok == month_ok == text.notna().sum() and len(differ):
        i = int(differ[0])
        raise DataError([
            f"{where}: the day/month order is ambiguous (row {text.index[i] + 1}: {show(text.iloc[i])} reads as "
            f"{by_day.iloc[i]:%Y-%m-%d} day first or {by_month.iloc[i]:%Y-%m-%d} month first); "
            f"set data.time_format: '{day_first}' or '{month_first}'"
        ])
    return by_day.astype("datetime64[ns]") if day_ok >= month_ok else by_month.astype("datetime64[ns]")


def parse_point(value, fmt: str | None):
    """A cut point given as text, with the column's ``time_format`` when it has one, or as a
    Unix time (a number, in the unit its size says: ``unix_unit``)."""
    import pandas as pd

    if isinstance(value, (int, float)) and not isinstance(value, bool):
        found = unix_unit([value])
        if found is None:
            raise ValueError(value)
        return pd.to_datetime(int(value), unit=found[0]).to_datetime64()
    if fmt and isinstance(value, str):
        try:
            return pd.to_datetime(value, format=fmt).to_datetime64()
        except (TypeError, ValueError):
            pass
    stamp = pd.Timestamp(value)
    if stamp.tzinfo is not None:
        stamp = stamp.tz_convert("UTC").tz_localize(None)
    return stamp.to_datetime64()


# --------------------------------------------------------------------------- values


def numeric_table(frame, used: list[str], keys: dict[str, str], missing: str, file_name: str, prefix: str):
    """The used columns as float64 (the frame's index kept). A cell that is not a number is
    refused naming its column, row and value (text columns of any pandas dtype included); a
    cell that only marks a missing value (``MISSING_MARKS``: ``.``, ``-``) and ``inf`` count
    as missing (refused under ``missing: error``); a column without any value is refused.
    ``keys``: each column's space key (data.target or data.features)."""
    import pandas as pd

    columns = {}
    for name in used:
        where = f"{prefix}data.{keys[name]}: column {name!r} of {file_name}"
        column = frame[name]
        if pd.api.types.is_numeric_dtype(column.dtype):
            values = column.to_numpy(dtype="float64", na_value=np.nan, copy=True)
        else:
            text = unmarked(column)
            parsed = pd.to_numeric(text, errors="coerce")
            if parsed.isna().sum() > text.isna().sum():
                parsed = grouped_numbers(text, parsed)
            values = parsed.to_numpy(dtype="float64", na_value=np.nan, copy=True)
            bad = np.flatnonzero(np.isnan(values) & text.notna().to_numpy())
            if len(bad):
                more = f" ({len(bad) - 1} more cells)" if len(bad) > 1 else ""
                raise DataError([f"{where}: row {frame.index[bad[0]] + 1}: {show(column.iloc[bad[0]])} is not a number{more}; fix the cell, or leave it empty to count as missing"])
        infinite = np.flatnonzero(np.isinf(values))
        if len(infinite) and missing == "error":
            raise DataError([
                f"{prefix}data.missing: column {name!r} of {file_name} row {frame.index[infinite[0]] + 1} holds {values[infinite[0]]:g} "
                f"({len(infinite)} non-finite cells); they count as missing, which missing: error refuses; set missing: interpolate or drop"
            ])
        values[infinite] = np.nan
        if np.isnan(values).all():
            raise DataError([f"{where} holds no value (all {len(values)} rows missing or non-finite); fill it in or leave the column out"])
        columns[name] = values
    return pd.DataFrame(columns, index=frame.index, columns=used)


MISSING_MARKS = ("", ".", "-", "--", "n.a.", "N.A.")  # cells that say "no value" (FRED writes "."), besides pandas' own NA texts


def unmarked(column):
    """A text column stripped, with the cells in ``MISSING_MARKS`` made missing."""
    import pandas as pd

    text = column.astype("string").str.strip()
    return text.mask(text.isin(MISSING_MARKS), pd.NA)


_GROUPED = (  # (cell pattern, thousands separator, decimal mark): 1,234.5 and 1.234,5
    (re.compile(r"^[+-]?(\d{1,3}(,\d{3})+|\d+)(\.\d+)?$"), ",", "."),
    (re.compile(r"^[+-]?(\d{1,3}(\.\d{3})+|\d+)(,\d+)?$"), ".", ","),
)


def grouped_numbers(text, parsed):
    """``parsed`` with a column of numbers written with thousands separators read as numbers:
    where every cell is ``1,234.5``-like (or every one ``1.234,5``-like, a decimal comma), the
    first convention that reads them all, as long as the column shows which mark is which (a
    cell with both, or no point anywhere); ``parsed`` unchanged otherwise."""
    import pandas as pd

    cells = text.dropna()
    both = (cells.str.contains(",", regex=False) & cells.str.contains(".", regex=False)).any()
    points = cells.str.contains(".", regex=False).any()
    for pattern, thousands, decimal in _GROUPED:
        # a cell written with both marks tells which is which; without one, a point is read
        # as a decimal point (10.247 is not ten thousand), so only a column without any is grouped
        if cells.str.fullmatch(pattern).all() and (both or not points):
            plain = text.str.replace(thousands, "", regex=False).str.replace(decimal, ".", regex=False)
            return pd.to_numeric(plain, errors="coerce")
    return parsed


# --------------------------------------------------------------------------- order


def order_rows(frame, when, series_id: str | None):
    """Positions that sort the rows by series, then by time (stable)."""
    import pandas as pd

    keys = pd.DataFrame({"s": frame[series_id].to_numpy() if series_id else 0, "t": when.to_numpy() if when is not None else 0})
    return keys.sort_values(["s", "t"], kind="stable").index.to_numpy()


def repeated_times(when: np.ndarray, sids: np.ndarray | None) -> np.ndarray:
    """(T,) True where a sorted row has the time of the row before it, in the same series."""
    same = np.zeros(len(when), dtype=bool)
    same[1:] = when[1:] == when[:-1]
    if sids is not None:
        same[1:] &= sids[1:] == sids[:-1]
    return same


CLOCK_CHANGE_HINT = "they fall where clocks go back an hour (daylight saving time ends), which repeats that hour's local times"


def clock_change(when: np.ndarray, repeat: np.ndarray) -> bool:
    """Whether the repeated times ``when[repeat]`` (sorted datetime64) are those of local time
    when daylight saving ends: sub-daily times, each repeat between midnight and 04:00, on at
    most two days a year (one per series' clock, any hemisphere's month)."""
    if not np.issubdtype(when.dtype, np.datetime64) or not repeat.any() or len(when) < 3:
        return False
    steps = np.diff(when[~repeat].astype("datetime64[ns]").astype(np.int64))
    if not len(steps) or np.median(steps) >= DAY_NS:
        return False
    times = when[repeat].astype("datetime64[ns]")
    hours = (times - times.astype("datetime64[D]")).astype("timedelta64[h]").astype(int)
    days = np.unique(times.astype("datetime64[D]"))
    years = np.unique(days.astype("datetime64[Y]"))
    return bool((hours < 4).all() and len(days) <= 2 * len(years))


def duplicates_error(repeat: np.ndarray, rows, raw_times, time_column: str, file_name: str, prefix: str, when: np.ndarray | None = None) -> DataError:
    """The duplicate-times error: the first repeated time and the two rows that hold it, and
    where the repeats are a clock change's (``clock_change``), that they are."""
    i = int(np.flatnonzero(repeat)[0])
    j = i - 1
    while repeat[j]:
        j -= 1
    why = f"; {CLOCK_CHANGE_HINT}: set data.duplicates: mean, or write the times in UTC" if when is not None and clock_change(when, repeat) else ""
    return DataError([
        f"{prefix}data.duplicates: column {time_column!r} of {file_name} has {int(repeat.sum())} rows whose time an earlier row of their series has "
        f"(first: {show(raw_times[i])} at rows {rows[j] + 1} and {rows[i] + 1}){why or '; remove them, or set data.duplicates: mean, first or last'}"
    ])


def collapse(table, repeat: np.ndarray, policy: str) -> tuple[np.ndarray, Any]:
    """(kept positions, table) with each run of rows at one time made one row: its ``first``
    or ``last`` row, or the ``mean`` of its values (missing cells left out)."""
    if policy == "last":
        keep = np.append(~repeat[1:], True)
        return np.flatnonzero(keep), table.iloc[keep]
    keep = np.flatnonzero(~repeat)
    if policy == "mean":
        groups = np.cumsum(~repeat) - 1
        merged = table.groupby(groups, sort=True).mean()
        merged.index = table.index[keep]
        return keep, merged
    return keep, table.iloc[keep]


def spacing_warning(when: np.ndarray, sids: np.ndarray | None, rows, raw_times, time_column: str, file_name: str, prefix: str) -> str | None:
    """A warning when the steps between times (within each series) are irregular: steps more
    than half again the usual (median) step, or less than half of it."""
    if len(when) < 3:
        return None
    numbers = when.astype("datetime64[ns]").astype(np.int64).astype(np.float64) if np.issubdtype(when.dtype, np.datetime64) else when.astype(np.float64)
    steps = np.diff(numbers)
    inside = np.ones(len(steps), dtype=bool) if sids is None else sids[1:] == sids[:-1]
    steps = np.where(inside, steps, np.nan)
    usual = np.nanmedian(steps) if np.isfinite(steps).any() else np.nan
    if not usual > 0:
        return None
    as_time = np.issubdtype(when.dtype, np.datetime64)
    business = as_time and usual == DAY_NS and business_days(when)
    if business:  # weekends are not missing: a step is odd where it skips a weekday
        days = when.astype("datetime64[D]")
        gaps = np.busday_count(days[:-1], days[1:]).astype(np.float64)
        odd = np.isfinite(steps) & (gaps != 1)
    else:
        odd = np.isfinite(steps) & ((steps > 1.5 * usual) | (steps < 0.5 * usual))
    if not odd.any():
        return None
    k = int(np.nanargmax(np.where(odd, steps, -np.inf)))
    where = f"largest gap {_span(steps[k], as_time)}, before row {rows[k + 1] + 1} at {show(raw_times[k + 1])}"
    counted = f"{prefix}data.time_column: {int(odd.sum())} of {int(np.isfinite(steps).sum())} steps in column {time_column!r} of {file_name}"
    if business:
        return (
            f"{counted} skip a weekday ({where}): the times are business days (Monday to Friday), and holidays or missing days are gaps "
            "the model does not see; data.fill_gaps: true adds a row for each missing weekday "
            "(data.missing: interpolate fills gaps of up to data.max_gap rows)"
        )
    return (
        f"{counted} are irregular (usual step {_span(usual, as_time)}; {where}); "
        "the model sees rows, not times: data.fill_gaps: true adds a row for each missing time "
        "(data.missing: interpolate fills gaps of up to data.max_gap rows)"
    )


DAY_NS = 86_400 * 10**9
def business_days(when: np.ndarray) -> bool:
    """Whether daily times are business days: every one falls Monday to Friday, and some
    step spans a weekend (Friday to Monday)."""
    days = when.astype("datetime64[D]")
    weekday = (days.astype(np.int64) + 3) % 7  # 1970-01-01 was a Thursday: Monday is 0
    if (weekday >= 5).any():
        return False
    return bool(((weekday[:-1] == 4) & (np.diff(days.astype(np.int64)) == 3)).any())


def _span(value: float, as_time: bool) -> str:
    """A step between times (nanoseconds, shown as a duration) or numbers."""
    if not as_time:
        return f"{value:g}"
    import pandas as pd

    span = pd.Timedelta(int(value))
    for unit, size in (("day", DAY_NS), ("hour", 3_600 * 10**9), ("minute", 60 * 10**9), ("second", 10**9)):
        if span.value % size == 0:
            count = span.value // size
            return f"{count} {unit}{'s' if count != 1 else ''}"
    return str(span)
