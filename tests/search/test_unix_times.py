"""Unix times in a time column (sensor logs, exported databases): read as times, so calendar
features, the fill of missing times and time cut points work on them as on written dates."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from search.errors import DataError
from search.worker.load import load_series
from search.worker.table import parse_times
from tests.search.test_data import data_cfg

START = 1704067200  # 2024-01-01 00:00 UTC


def hourly(n: int = 200) -> np.ndarray:
    return START + 3600 * np.arange(n)


@pytest.mark.parametrize("unit,per", [("s", 1), ("ms", 1_000), ("us", 1_000_000), ("ns", 1_000_000_000)])
def test_unix_times_in_any_unit_are_read_as_times(unit, per):
    when = parse_times(pd.Series(hourly() * per, name="timestamp"), None, "f.csv", "")
    assert np.issubdtype(when.dtype, np.datetime64)
    assert when.iloc[0] == pd.Timestamp("2024-01-01 00:00") and when.iloc[25] == pd.Timestamp("2024-01-02 01:00")


def test_unix_times_written_as_text_are_read_as_times():
    when = parse_times(pd.Series([str(v) for v in hourly(5)], name="time"), None, "f.csv", "")
    assert list(when.dt.hour) == [0, 1, 2, 3, 4]


def test_a_column_not_named_as_times_is_taken_only_with_whole_minute_steps():
    minutes = pd.Series(START + 300 * np.arange(50), name="reading")
    assert np.issubdtype(parse_times(minutes, None, "f.csv", "").dtype, np.datetime64)
    uneven = pd.Series(START + np.cumsum(np.full(50, 37)), name="reading")  # 37-second steps: an id, a counter
    assert parse_times(uneven, None, "f.csv", "").dtype == np.float64
    named = pd.Series(START + np.cumsum(np.full(50, 37)), name="epoch")  # named as times: taken
    assert np.issubdtype(parse_times(named, None, "f.csv", "").dtype, np.datetime64)


@pytest.mark.parametrize("values", [np.arange(100), 1990 + np.arange(30), 20240101 + np.arange(30), START + 0.5 + np.arange(30) * 60])
def test_other_numbers_stay_numbers(values):
    # step counts, years, yyyymmdd integers, fractional values
    assert parse_times(pd.Series(values, name="time"), None, "f.csv", "").dtype == np.float64


def write(path, times, n):
    y = 10 + 3 * np.sin(2 * np.pi * np.arange(n) / 24)
    pd.DataFrame({"t": times, "y": y}).to_csv(path, index=False)
    return path


def test_a_unix_time_column_gives_calendar_times_and_a_numeric_cut_point(tmp_path):
    path = write(tmp_path / "s.csv", hourly(200), 200)
    series = load_series(data_cfg(path, split={"val_start": int(START + 3600 * 120), "test_start": int(START + 3600 * 160)}))
    assert series.part("val") == (120, 160) and series.part("test") == (160, 200)
    assert series.test_times[0][0] == np.datetime64("2024-01-07T16:00")  # row 160: six days and 16 hours later
    in_ms = load_series(data_cfg(path, split={"val_start": (START + 3600 * 120) * 1000, "test_start": (START + 3600 * 160) * 1000}))
    assert in_ms.part("val") == (120, 160)  # the cut point's unit is read from its size


def test_a_cut_point_that_is_not_a_unix_time_is_refused(tmp_path):
    path = write(tmp_path / "s.csv", hourly(200), 200)
    with pytest.raises(DataError, match=r"data.split.val_start: 120 is not a value like those of time column 't'"):
        load_series(data_cfg(path, split={"val_start": 120, "test_start": 160}))


def test_missing_unix_times_are_filled(tmp_path):
    times = np.delete(hourly(200), [50, 51, 120])
    path = write(tmp_path / "s.csv", times, 197)
    series = load_series(data_cfg(path, fill_gaps=True))
    assert len(series.values) == 200
