"""The columns ``search init`` reads before it drafts a space: the file's column names, the
column of dates taken for the time column unasked, and the column that splits repeated times
into series (a panel file)."""

from __future__ import annotations

from pathlib import Path

from search.errors import DataError, SearchError, UsageError


def columns(data: Path) -> list[str]:
    """The data file's column names; one line naming DATA when it cannot be read."""
    from search._csv import PARQUET, read_csv, unsupported

    if not data.is_file():
        raise UsageError(f"DATA {data}: no such file")
    why = unsupported(data)
    if why:
        raise UsageError(f"DATA {data}: {why}")
    try:
        if data.suffix.lower() in PARQUET:
            import pyarrow.parquet as pq

            return list(pq.read_schema(data).names)
        return [str(c) for c in read_csv(data, nrows=0).columns]
    except Exception as exc:  # an unreadable file: say which, not a traceback
        raise UsageError(f"DATA {data}: cannot read its columns ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}); give a CSV or Parquet file with a header row") from None


HEAD_ROWS = 200  # the rows a column is first judged on


def dates_column(data: Path, columns: list[str], target: str) -> str | None:
    """The column (other than ``target``) whose first rows the loader reads as dates
    (``search.worker.table.parse_times``), where exactly one does; None otherwise (the rows are
    then in file order, as without --time-column). Numbers are taken only
    where the loader reads them as Unix times (seconds to nanoseconds since 1970)."""
    import numpy as np

    from search._csv import PARQUET, read_csv
    from search.worker.table import parse_times

    def rows(n: int | None):
        if data.suffix.lower() in PARQUET:
            import pyarrow.parquet as pq

            table = pq.ParquetFile(data).read_row_group(0).to_pandas() if n else pq.read_table(data).to_pandas()
            return table.head(n) if n else table
        return read_csv(data, nrows=n, dtype=str, keep_default_na=True)

    def times(table, name: str):
        return parse_times(table[name].dropna().reset_index(drop=True), None, data.name, "")

    try:
        head = rows(HEAD_ROWS)
    except Exception:  # the loader says what is wrong with the file
        return None
    found, whole = [], None
    for name in columns:
        if name == target or name not in head.columns or head[name].isna().all():
            continue
        try:
            when = times(head, name)
        except DataError as exc:
            if "day/month order is ambiguous" not in str(exc):
                continue  # not times as the loader reads them unasked
            try:  # the first rows fit both orders (an hourly file's first days): every row tells
                whole = rows(None) if whole is None else whole
                when = times(whole, name)
            except Exception:  # noqa: BLE001 - ambiguous in every row, or unreadable: not taken
                continue
        if np.issubdtype(when.dtype, np.datetime64):
            found.append(name)
    return found[0] if len(found) == 1 else None


def series_column(data: Path, target: str, time_column: str) -> str | None:
    """Where the times repeat, the one other column (text, or whole numbers) within whose
    values they do not: the series of a panel file; None otherwise."""
    from search.worker.table import read_table

    try:
        table = read_table(data, "data.path")
    except SearchError:
        return None  # the loader says what is wrong with the file
    if time_column not in table.columns or not table[time_column].duplicated().any():
        return None
    found = []
    for name in table.columns:
        if name in (target, time_column):
            continue
        cells = table[name]
        if cells.isna().any() or cells.nunique() < 2 or cells.nunique() > len(table) // 2:
            continue
        if cells.dtype.kind == "f" and not (cells == cells.round()).all():
            continue  # measurements, not names
        if not table.duplicated([name, time_column]).any():
            found.append(name)
    return found[0] if len(found) == 1 else None


def time_facts(data: Path, time_column: str, series_id: str | None) -> tuple[int, int]:
    """What the file's times ask of the space: the rows whose local time repeats where clocks
    go back (``search.worker.table.clock_change``; else 0), and the rows ``data.fill_gaps``
    would add for its missing times (0 where none is missing or where they would more than
    double the rows). (0, 0) where the file cannot be read: the loader says why."""
    from search.worker.fill import fill_times
    from search.worker.table import clock_change, order_rows, parse_times, read_table, repeated_times

    try:
        table = read_table(data, "data.path")
        when = parse_times(table[time_column], None, data.name, "")
    except (SearchError, KeyError):
        return 0, 0
    order = order_rows(table, when, series_id)
    times = when.iloc[order].to_numpy()
    sids = table[series_id].to_numpy()[order] if series_id else None
    repeat = repeated_times(times, sids)
    filled = fill_times(times, sids)
    added = int(filled[1].sum()) if filled is not None else 0
    return (int(repeat.sum()) if clock_change(times, repeat) else 0), (added if added <= len(table) else 0)
