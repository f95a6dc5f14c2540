"""Explicit split cut points: validation and test begin at given times (or rows)."""

from __future__ import annotations

import textwrap

import numpy as np
import pandas as pd
import pytest

from search.worker.data import windows
from search.worker.load import load_series
from search.errors import ConfigError, DataError
from search.space import load_space
from tests.conftest import write_series
from tests.search.test_data import data_cfg
from tests.search.test_data_series import LENGTHS, panel_cfg, write_panel


def raw_times(series, lo, hi, column=1):
    """Original values of feature ``column`` (here: the time) of rows [lo, hi)."""
    return np.round(series.values[lo:hi, column] * series.scale[column] + series.offset[column]).astype(int)


def test_numeric_time_cut_points_on_one_series(tmp_path):
    path = write_series(tmp_path / "s.csv", 100)
    series = load_series(data_cfg(path, features=("t",), split={"val_start": 60, "test_start": 85}))
    assert series.part("train") == (0, 60) and series.part("val") == (60, 85) and series.part("test") == (85, 100)
    assert series.info["split_rows"] == [60, 25, 15]
    # the time of the first row of each part is the cut point
    assert raw_times(series, 60, 61)[0] == 60 and raw_times(series, 85, 86)[0] == 85
    # a cut point between two time values starts the part at the next row
    later = load_series(data_cfg(path, split={"val_start": 59.5, "test_start": 84.2}))
    assert later.part("val") == (60, 85) and later.part("test") == (85, 100)


def test_gap_rows_before_each_cut_are_left_out(tmp_path):
    path = write_series(tmp_path / "s.csv", 100)
    series = load_series(data_cfg(path, gap=4, split={"val_start": 60, "test_start": 85}))
    # validation and test still begin at their cut points; the 4 rows before each are dropped
    assert series.part("train") == (0, 56) and series.part("val") == (60, 81) and series.part("test") == (85, 100)
    x, _ = windows(series, "train", 5, 1)
    assert len(x) == 56 - 5  # training windows end before the gap
    targets = set()
    for part in ("val", "test"):
        _, y = windows(series, part, 5, 1)
        lo, hi = series.part(part)
        assert len(y) == hi - lo  # every row of the part is a target, none in the gap
        targets |= set(range(lo, hi))
    assert not targets & (set(range(56, 60)) | set(range(81, 85)))


def test_the_scaler_sees_only_rows_before_the_validation_cut(tmp_path):
    path = write_series(tmp_path / "s.csv", 100)
    base = load_series(data_cfg(path, split={"val_start": 60, "test_start": 85}))
    frame = pd.read_csv(path)
    frame.loc[60:, "y"] = frame.loc[60:, "y"] * 100 + 5  # change everything from the cut on
    frame.to_csv(path, index=False)
    changed = load_series(data_cfg(path, split={"val_start": 60, "test_start": 85}))
    np.testing.assert_array_equal(base.offset, changed.offset)
    np.testing.assert_array_equal(base.scale, changed.scale)


def test_date_cut_points_cut_every_series_at_the_same_time(tmp_path):
    path = write_panel(tmp_path / "p.csv")
    frame = pd.read_csv(path)
    frame["date"] = pd.Timestamp("2020-01-01") + pd.to_timedelta(frame["t"], unit="D")
    frame.to_csv(path, index=False)
    series = load_series(panel_cfg(path, time_column="date", split={"val_start": "2020-03-01", "test_start": "2020-03-21"}))
    val_day, test_day = 60, 80  # days after 2020-01-01
    for i, name in enumerate(series.series_names):
        start, a, b, end = series.segments[i]
        assert a - start == val_day and b - start == test_day and end - start == LENGTHS[name]
        assert raw_times(series, a, a + 1, column=2)[0] == val_day  # column tt holds t
        assert raw_times(series, b, b + 1, column=2)[0] == test_day


def test_row_cut_points_without_a_time_column(tmp_path):
    path = write_series(tmp_path / "s.csv", 100)
    series = load_series(data_cfg(path, time_column=None, split={"val_start": 50, "test_start": 75}))
    assert series.part("val") == (50, 75) and series.part("test") == (75, 100)


def test_bad_cut_points_are_one_line_errors(tmp_path):
    path = write_series(tmp_path / "s.csv", 100)
    with pytest.raises(DataError, match=r"data.split.val_start: 'spring' is not a value like those of time column 't'"):
        load_series(data_cfg(path, split={"val_start": "spring", "test_start": 80}))
    frame = pd.read_csv(path)
    frame["t"] = pd.Timestamp("2020-01-01") + pd.to_timedelta(frame["t"], unit="D")
    frame.to_csv(path, index=False)
    with pytest.raises(DataError, match=r"data.split.test_start: '2020-02-01' must come after val_start '2020-03-01'"):
        load_series(data_cfg(path, split={"val_start": "2020-03-01", "test_start": "2020-02-01"}))

    space = tmp_path / "cuts.yaml"
    for split, message in [
        ("{val_start: 60}", r"cuts.yaml:6: data.split: cut points need both val_start and test_start; test_start is missing"),
        ("{val_start: 60, tets_start: 80}", r"data.split: unknown cut point 'tets_start'; did you mean 'test_start'\?"),
        ("{val_start: 80, test_start: 60}", r"data.split: val_start 80 must come before test_start 60"),
        ("{val_start: 2020-03-01, test_start: 2020-04-01}", r"data.split.val_start: without data.time_column a cut point is a row number"),
    ]:
        space.write_text(textwrap.dedent(f"""
            model: {{family: lstm, layer_sizes: "8"}}
            data:
              path: s.csv
              target: y
              split: {split}
            """))
        with pytest.raises(ConfigError, match=message) as info:
            load_space(space)
        assert len(info.value.problems) == 1 and "\n" not in info.value.problems[0]


def test_a_yaml_date_cut_point_is_read_as_its_iso_string(tmp_path):
    path = write_series(tmp_path / "s.csv", 100)
    frame = pd.read_csv(path)
    frame["t"] = (pd.Timestamp("2020-01-01") + pd.to_timedelta(frame["t"], unit="D")).dt.strftime("%Y-%m-%d")
    frame.to_csv(path, index=False)
    space = tmp_path / "cuts.yaml"
    space.write_text(textwrap.dedent("""
        model: {family: lstm, layer_sizes: "8"}
        data:
          path: s.csv
          time_column: t
          target: y
          lookback: 5
          split: {val_start: 2020-03-01, test_start: 2020-03-21}
        """))
    data = load_space(space).data
    assert data["split"] == {"val_start": "2020-03-01", "test_start": "2020-03-21"}
    series = load_series(data)
    assert series.part("val") == (60, 80) and series.part("test") == (80, 100)


def test_cut_points_find_their_time_after_dropped_rows(tmp_path):
    path = write_series(tmp_path / "s.csv", 100, gaps=(10, 11, 70))
    series = load_series(data_cfg(path, features=("t",), missing="drop", split={"val_start": 60, "test_start": 85}))
    (val_lo, _), (test_lo, _) = series.part("val"), series.part("test")
    assert (val_lo, test_lo) == (58, 82)  # two rows dropped before the first cut, three before the second
    assert raw_times(series, val_lo, val_lo + 1)[0] == 60 and raw_times(series, test_lo, test_lo + 1)[0] == 85
