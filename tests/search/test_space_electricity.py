"""The shipped hourly electricity series and its space: the file is what datasets/README.md
says, the study sees its daily and weekly seasons, and ``search validate`` accepts the space."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from search.cli import main
from search.driver.prepare import prepare
from search.worker.baselines import detect_seasons

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "datasets" / "electricity_hourly.csv"
SPACE = REPO / "spaces" / "electricity_lstm.yaml"
DST_HOURS = ["2014-03-30 01:00", "2014-10-26 01:00"]


@pytest.fixture(scope="module")
def prepared():
    return prepare(SPACE, [])


def _maker():
    spec = importlib.util.spec_from_file_location("make_electricity_data", REPO / "datasets" / "make_electricity_data.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_file_is_a_regular_year_of_hours_with_the_two_daylight_saving_hours_empty():
    assert DATA.stat().st_size < 1_000_000
    frame = pd.read_csv(DATA, parse_dates=["time"])
    assert list(frame.columns) == ["time", "load"]
    assert len(frame) == 8760
    hours = pd.date_range("2014-01-01 00:00", "2014-12-31 23:00", freq="h")
    assert (pd.DatetimeIndex(frame["time"]) == hours).all()  # no gap, no repeated hour
    empty = frame.loc[frame["load"].isna(), "time"].dt.strftime("%Y-%m-%d %H:%M").tolist()
    assert empty == DST_HOURS
    load = frame["load"].dropna()
    assert load.between(500, 6000).all()  # kW, the mean of 321 clients
    assert (load.round(3) == load).all()


def test_the_space_loads_the_year_and_fills_the_two_hours(prepared):
    info = prepared.series.info
    assert info["rows"] == 8760
    assert info["missing_policy"] == "interpolate" and info["missing_rows"] == 2
    assert info["split_rows"] == [6132, 1314, 1314]
    assert info["known_future"]["time_features"] == ["hour", "dayofweek"]
    assert "mstl_seasons" not in info["known_future"]  # reference seasonal: no MSTL profile is fit


def test_the_study_compares_the_daily_and_the_weekly_season(prepared):
    """Detection finds the daily cycle; the weekly one is too weak in this mean of 321 clients
    to stand above the daily echoes, so the space names both (data.season)."""
    assert 24 in detect_seasons(prepared.series)
    attrs = prepared.series.naive_attrs(prepared.lookback_max, prepared.compiled.space.data, prepared.compiled.metric)
    assert attrs["seasons"] == [24, 168]
    assert attrs["seasonal_naive_season"] in (24, 168)
    assert attrs["targets_test"]["windows"] == 54  # non-overlapping days
    # the validation part's daylight-saving hour was filled, not observed: its day is not scored
    assert attrs["targets_val"]["windows"] == 53 and attrs["targets_val"]["unscored_windows"] == 1
    for m in (24, 168):
        assert attrs[f"baseline_snaive_s{m}_test_mae"] < attrs["baseline_naive_test_mae"]


def test_search_validate_accepts_the_space(capsys):
    assert main(["validate", str(SPACE)]) == 0
    assert re.search(r"ok \(lstm, 5 searched parameters, dataset electricity_hourly.csv with 8760 rows\)", capsys.readouterr().out)


def test_the_maker_keeps_the_last_year_rounds_and_empties_the_daylight_saving_hours(tmp_path):
    hours = pd.date_range("2012-01-01 00:00", "2014-12-31 23:00", freq="h")
    source = pd.DataFrame({"ts": hours, "y": 1000 + np.arange(len(hours)) / 7})
    source.to_csv(tmp_path / "hourly_electricity.csv", index=False)
    made = _maker().make(tmp_path / "hourly_electricity.csv")
    assert len(made) == 8760 and made["time"].iloc[0] == pd.Timestamp("2014-01-01 00:00")
    assert made.loc[made["load"].isna(), "time"].dt.strftime("%Y-%m-%d %H:%M").tolist() == DST_HOURS
    assert (made["load"].dropna() == made["load"].dropna().round(3)).all()


def test_the_maker_refuses_a_source_with_a_missing_hour(tmp_path):
    hours = pd.date_range("2013-01-01 00:00", "2014-12-31 23:00", freq="h").delete(9000)
    pd.DataFrame({"ts": hours, "y": 1.0}).to_csv(tmp_path / "gappy.csv", index=False)
    with pytest.raises(SystemExit, match="gaps or repeats"):
        _maker().make(tmp_path / "gappy.csv")
