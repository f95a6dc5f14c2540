"""``data.fill_gaps``: a daily series with missing days is searched and forecast as the same
series written with those days as empty rows (``pandas.DataFrame.asfreq``), in training and in
``search predict``; ``auto`` (the default) fills where the filled rows load, and a study made
before it resumes with the rows it ran with."""

from __future__ import annotations

import json
import textwrap

import numpy as np
import optuna
import pandas as pd
import pytest

import search
from search.cli import main
from search.driver import defaults
from search.driver.fork import CONTENT_ATTR
from search.driver.prepare import prepare
from search.driver.recorded import as_recorded
from search.results.loading import load_best
from search.study_attrs import flat
from search.worker.fill import fill_frame

SPACE = """
model: {family: lstm, layer_sizes: "8"}
data:
  path: gappy.csv
  time_column: day
  target: sales
  time_features: calendar
  reference: last
  lookback: 14
  horizon: 7
  stat_baselines_seconds: 0
train: {epochs: 2, batch_size: 64}
objective: {metric: mae}
sampler: {name: random, seed: 0}
"""


def _gappy(tmp_path):
    days = pd.date_range("2022-01-03", periods=400, freq="D")
    rng = np.random.default_rng(5)
    sales = 100 + 20 * (days.dayofweek >= 5) + rng.normal(0, 2, len(days))
    full = pd.DataFrame({"day": days, "sales": sales.round(2)})
    drop = np.r_[rng.choice(np.arange(20, 380), 28, replace=False), 390, 395]  # two in the last lookback
    gappy = full.drop(index=drop)
    gappy.assign(day=gappy["day"].dt.strftime("%Y-%m-%d")).to_csv(tmp_path / "gappy.csv", index=False)
    written = full.copy()
    written.loc[drop, "sales"] = np.nan  # the missing days as rows with an empty cell
    written.assign(day=written["day"].dt.strftime("%Y-%m-%d")).to_csv(tmp_path / "written.csv", index=False)
    return full, drop


def test_fill_frame_inserts_the_missing_days_as_empty_rows(tmp_path):
    full, drop = _gappy(tmp_path)
    gappy = pd.read_csv(tmp_path / "gappy.csv")
    filled = fill_frame(gappy, pd.to_datetime(gappy["day"]), None, "day")
    assert len(filled) == len(full)
    np.testing.assert_array_equal(filled["day"].to_numpy(), full["day"].to_numpy())
    assert filled["sales"].isna().sum() == len(drop) and filled["sales"].isna().to_numpy()[drop].all()


@pytest.mark.slow
def test_a_search_with_fill_gaps_forecasts_as_the_written_out_series(ray_local, tmp_path, capsys):
    _gappy(tmp_path)
    (tmp_path / "gappy.yaml").write_text(textwrap.dedent(SPACE))
    url = f"sqlite:///{tmp_path}/studies.db"
    study = search.run(tmp_path / "gappy.yaml", trials=1, storage=url, artifacts=str(tmp_path / "artifacts"), quiet=True)
    assert study.trials[0].state.name == "COMPLETE"
    assert flat(study)[defaults.DECISION_ATTR]["fill_gaps"] is True  # auto, the default, filled the 30 days
    forecaster = load_best("gappy", url)
    from_gaps = forecaster.predict_series(pd.read_csv(tmp_path / "gappy.csv"))[""]
    from_rows = forecaster.predict_series(pd.read_csv(tmp_path / "written.csv"))[""]
    np.testing.assert_allclose(from_gaps, from_rows, rtol=1e-6)
    forecaster.payload["data"]["fill_gaps"] = False  # the control: the rows as the file has them
    assert not np.allclose(forecaster.predict_series(pd.read_csv(tmp_path / "gappy.csv"))[""], from_rows, rtol=1e-6)
    forecaster.payload["data"]["fill_gaps"] = True
    # the same through the command line, which says nothing about irregular steps
    out = tmp_path / "f.csv"
    assert main(["predict", "gappy", "--input", str(tmp_path / "gappy.csv"), "--storage", url, "--out", str(out)]) == 0
    np.testing.assert_allclose(pd.read_csv(out)["sales"].to_numpy(), from_gaps[:, 0], rtol=1e-5)


def test_fill_frame_fills_each_series_of_a_panel_on_its_own():
    days = pd.date_range("2022-01-01", periods=10, freq="D")
    a = pd.DataFrame({"shop": "a", "day": days, "sales": np.arange(10.0)})
    b = pd.DataFrame({"shop": "b", "day": days[2:], "sales": np.arange(8.0)}).drop(index=[3, 4])  # b starts later and misses two days
    frame = pd.concat([a, b], ignore_index=True)
    filled = fill_frame(frame, frame["day"], "shop", "day")
    assert filled.groupby("shop").size().to_dict() == {"a": 10, "b": 8}  # b from its own first day, not a's
    gap = filled[(filled["shop"] == "b") & filled["sales"].isna()]
    assert gap["day"].dt.strftime("%m-%d").tolist() == ["01-06", "01-07"]


def test_auto_fills_where_times_are_missing_and_says_why(tmp_path):
    full, drop = _gappy(tmp_path)
    (tmp_path / "gappy.yaml").write_text(textwrap.dedent(SPACE))
    prep = prepare(tmp_path / "gappy.yaml")
    assert prep.decision.chosen["fill_gaps"] is True and prep.compiled.fixed["data"]["fill_gaps"] is True
    assert "fill_gaps true (auto: fill_gaps true: a row for each of 30 missing times" in prep.decision.describe()
    assert prep.series.info["rows"] == len(full) and prep.series.info["filled_times"] == len(drop)
    # a file without a missing time: nothing filled, nothing recorded
    full.assign(day=full["day"].dt.strftime("%Y-%m-%d")).to_csv(tmp_path / "gappy.csv", index=False)
    regular = prepare(tmp_path / "gappy.yaml")
    assert "fill_gaps" not in regular.decision.chosen and "filled_times" not in regular.series.info


def test_auto_keeps_the_rows_where_the_filled_ones_are_refused(tmp_path, caplog):
    days = pd.date_range("2020-01-01", periods=600, freq="D")
    keep = np.r_[0:300, 400:600]  # 100 days in a row: more than max_gap (the 7-day season) fills
    values = 50 + 10 * np.sin(2 * np.pi * np.arange(600) / 7)
    pd.DataFrame({"day": days[keep].strftime("%Y-%m-%d"), "sales": values[keep].round(2)}).to_csv(tmp_path / "gappy.csv", index=False)
    (tmp_path / "gappy.yaml").write_text(textwrap.dedent(SPACE))
    prep = prepare(tmp_path / "gappy.yaml")
    assert prep.decision.chosen["fill_gaps"] is False and prep.series.info["rows"] == 500
    assert "fill_gaps false: data.max_gap: column 'sales' of gappy.csv has 100 missing rows in a row" in prep.decision.because
    assert any("are irregular" in r.getMessage() for r in caplog.records)


def test_a_study_made_before_fill_gaps_resumes_with_the_rows_it_ran_with(tmp_path):
    full, drop = _gappy(tmp_path)
    (tmp_path / "gappy.yaml").write_text(textwrap.dedent(SPACE))
    prep = prepare(tmp_path / "gappy.yaml")
    study = optuna.create_study(storage=optuna.storages.InMemoryStorage())
    old = prep.compiled.content()
    del old["fixed"]["data"]["fill_gaps"]  # stored before the key existed, with no decision recorded
    study.set_user_attr(CONTENT_ATTR, json.dumps(old))
    resumed = as_recorded(study, prep)
    assert resumed.decision.chosen["fill_gaps"] is False and resumed.compiled.fixed["data"]["fill_gaps"] is False
    assert resumed.series.info["rows"] == len(full) - len(drop)
    assert resumed.compiled.hash == prep.compiled.hash
    study.set_user_attr(defaults.DECISION_ATTR, prep.decision.attr())  # one that recorded its decision keeps it
    assert as_recorded(study, prep) is prep
