"""The two real series added for the benchmarks (datasets/traffic_hourly.csv,
datasets/housing_supply_monthly.csv): each file is what datasets/README.md says (rows, span,
the emptied hour, its SHA-256), its maker writes it so, and its space leaves the reference and
the calendar inputs to the data, which decides as the space's comments say."""

from __future__ import annotations

import hashlib
import importlib.util
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from search.driver.prepare import prepare

REPO = Path(__file__).resolve().parents[2]
README = (REPO / "datasets" / "README.md").read_text()


def _maker(name: str):
    spec = importlib.util.spec_from_file_location(name, REPO / "datasets" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name", ["traffic_hourly.csv", "housing_supply_monthly.csv"])
def test_the_file_is_the_one_the_readme_names(name):
    data = (REPO / "datasets" / name).read_bytes()
    assert len(data) < 1_000_000
    section = README.split(f"## {name}")[1].split("\n## ")[0]
    said = re.findall(r"SHA-256 of this file:\s*`([0-9a-f]{64})`", section)
    assert said == [hashlib.sha256(data).hexdigest()]


def test_traffic_is_every_hour_of_2016_with_the_daylight_saving_hour_empty():
    frame = pd.read_csv(REPO / "datasets" / "traffic_hourly.csv", parse_dates=["time"])
    assert list(frame.columns) == ["time", "occupancy"]
    assert (frame["time"] == pd.date_range("2016-01-01", "2016-12-31 23:00", freq="h")).all()
    assert frame.loc[frame["occupancy"].isna(), "time"].dt.strftime("%Y-%m-%d %H:%M").tolist() == ["2016-11-06 01:00"]
    assert frame["occupancy"].dropna().between(0, 100).all()


def test_housing_is_every_month_from_1963_to_november_2021():
    frame = pd.read_csv(REPO / "datasets" / "housing_supply_monthly.csv", parse_dates=["month"])
    assert list(frame.columns) == ["month", "supply"]
    assert (frame["month"] == pd.date_range("1963-01-01", "2021-11-01", freq="MS")).all()
    assert not frame["supply"].isna().any()


def test_the_traffic_maker_keeps_2016_in_percent_and_empties_the_repeated_hour(tmp_path):
    hours = pd.date_range("2015-01-01 00:00", "2016-12-31 23:00", freq="h")
    pd.DataFrame({"ts": hours, "y": np.round(0.01 + (np.arange(len(hours)) % 24) / 1000, 4)}).to_csv(tmp_path / "sf.csv", index=False)
    made = _maker("make_traffic_data").make(tmp_path / "sf.csv")
    assert len(made) == 8784 and made["time"].iloc[0] == pd.Timestamp("2016-01-01")
    assert made.loc[made["occupancy"].isna(), "time"].tolist() == [pd.Timestamp("2016-11-06 01:00")]
    assert made["occupancy"].iloc[5] == pytest.approx(1.5)  # 0.015 as a fraction
    with pytest.raises(SystemExit, match="gaps or repeats"):
        pd.DataFrame({"ts": hours.delete(12000), "y": 0.01}).to_csv(tmp_path / "gappy.csv", index=False)
        _maker("make_traffic_data").make(tmp_path / "gappy.csv")


def test_the_housing_maker_only_renames(tmp_path):
    months = pd.date_range("1963-01-01", periods=30, freq="MS")
    pd.DataFrame({"ts": months.strftime("%Y-%m-%d"), "y": np.arange(30) / 10}).to_csv(tmp_path / "fred.csv", index=False)
    made = _maker("make_housing_data").make(tmp_path / "fred.csv")
    assert list(made.columns) == ["month", "supply"] and made["supply"].tolist() == list(np.arange(30) / 10)
    with pytest.raises(SystemExit, match="gaps or repeats"):
        pd.DataFrame({"ts": months.delete(7).strftime("%Y-%m-%d"), "y": 1.0}).to_csv(tmp_path / "gappy.csv", index=False)
        _maker("make_housing_data").make(tmp_path / "gappy.csv")


def test_the_data_decides_as_the_spaces_say():
    traffic = prepare(REPO / "spaces" / "traffic_lstm.yaml")
    assert traffic.decision.chosen == {"reference": "seasonal", "time_features": "calendar"}
    assert traffic.series.season == 168 and traffic.series.info["missing_rows"] == 1
    housing = prepare(REPO / "spaces" / "housing_lstm.yaml")
    assert housing.decision.chosen == {"reference": "last", "time_features": "none"}
    assert "no season stands out" in housing.decision.because
