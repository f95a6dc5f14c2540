"""``search init DATA --target COL``: a commented space for a data file that validates and runs
as it is; bad flags are one line naming the flag (exit 2), and nothing is written."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest
import yaml

from search.cli import main
from search.driver import defaults
from search.driver.prepare import prepare
from search.study_attrs import flat

REPO = Path(__file__).resolve().parents[2]
# every shipped forecasting dataset: target, time column, horizon
SHIPPED = {
    "mauna_loa_co2_weekly.csv": ("co2", "date", 24),
    "demand_halfhourly.csv": ("load", "time", 48),
    "electricity_hourly.csv": ("load", "time", 24),
    "traffic_hourly.csv": ("occupancy", "time", 24),
    "housing_supply_monthly.csv": ("supply", "month", 12),
}


def _init(tmp_path, name: str, capsys) -> Path:
    target, time_column, horizon = SHIPPED[name]
    out = tmp_path / f"{Path(name).stem}.yaml"
    argv = ["init", str(REPO / "datasets" / name), "--target", target, "--time-column", time_column, "--horizon", str(horizon), "--out", str(out)]
    assert main(argv) == 0
    assert f"wrote {out}" in capsys.readouterr().out
    return out


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_init_writes_a_space_that_validates(name, tmp_path, capsys):
    out = _init(tmp_path, name, capsys)
    raw = yaml.safe_load(out.read_text())
    assert raw["data"]["reference"] == "auto" and raw["data"]["time_features"] == "auto"
    assert raw["data"]["horizon"] == SHIPPED[name][2]
    assert (out.parent / raw["data"]["path"]).resolve() == (REPO / "datasets" / name).resolve()  # relative to the space
    assert 5 <= raw["train"]["epochs"] <= 40
    for key in raw["data"]:  # a comment above every data key
        lines = out.read_text().splitlines()
        at = next(i for i, line in enumerate(lines) if line.startswith(f"  {key}:"))
        assert lines[at - 1].lstrip().startswith("#"), key
    assert main(["validate", str(out)]) == 0
    said = capsys.readouterr().out
    assert "ok (lstm" in said and "chosen from the data: reference " in said
    prep = prepare(out)
    low = prep.compiled.space.data["lookback"].low
    seasons = raw["data"]["season"] or []
    assert seasons == [int(m) for m in prep.series.naive_attrs(low, prep.compiled.space.data, "mae")["seasons"]]
    # the lookback starts at the season the horizon needs (or twice the horizon without one)
    need = next((m for m in seasons if m >= SHIPPED[name][2]), max(seasons, default=2 * SHIPPED[name][2]))
    assert low == need  # every shipped dataset has a season at least as long as its horizon
    # non-overlapping windows where the validation part holds enough of them to rank on
    val_windows = min(end - start for start, end in prep.series.parts("val")) // SHIPPED[name][2]
    assert raw["data"]["eval_origins"] == ("horizon" if val_windows >= 20 else "every")
    short = {"housing_supply_monthly.csv", "mauna_loa_co2_weekly.csv"}  # 8 windows of 12 months, 14 of 24 weeks
    assert raw["data"]["eval_origins"] == ("every" if name in short else "horizon")


def test_init_names_the_schema_its_space_validates_against(tmp_path, capsys):
    import json

    import jsonschema

    out = _init(tmp_path, "electricity_hourly.csv", capsys)
    first = out.read_text().splitlines()[0]
    assert first == "# yaml-language-server: $schema=space.schema.json"
    schema = json.loads((tmp_path / "space.schema.json").read_text())
    assert main(["schema"]) == 0
    assert json.loads(capsys.readouterr().out) == schema  # what search schema prints
    jsonschema.validate(yaml.safe_load(out.read_text()), schema)  # an editor would find no problem
    # a schema already beside it is kept, never overwritten
    (tmp_path / "space.schema.json").write_text("{}\n")
    again = tmp_path / "again.yaml"
    assert main(["init", str(REPO / "datasets" / "electricity_hourly.csv"), "--target", "load", "--time-column", "time", "--out", str(again)]) == 0
    assert (tmp_path / "space.schema.json").read_text() == "{}\n" and again.read_text().startswith("# yaml-language-server: $schema=space.schema.json\n")


def test_init_finds_the_seasons_of_each_kind_of_series(tmp_path, capsys):
    traffic = yaml.safe_load(_init(tmp_path, "traffic_hourly.csv", capsys).read_text())
    housing = yaml.safe_load(_init(tmp_path, "housing_supply_monthly.csv", capsys).read_text())
    assert traffic["data"]["season"] == [24, 168]
    assert housing["data"]["season"] is None  # seasonally adjusted: no season stands out
    assert "reference last, time_features none" in _init_text(tmp_path, "housing_supply_monthly.csv")


def test_a_horizon_longer_than_the_season_gets_a_lookback_of_whole_cycles_covering_it(tmp_path, capsys):
    # three years of daily visits with a weekly cycle, forecast 4 weeks ahead: a lookback of one
    # or two weeks held less history than the horizon it forecasts
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(3)
    days = pd.date_range("2021-01-01", periods=1100, freq="D")
    week = np.array([0.8, 1.0, 1.05, 1.1, 1.1, 1.2, 0.75])[days.dayofweek]
    visits = 100 * np.exp(0.0008 * np.arange(len(days))) * week * np.exp(rng.normal(0, 0.06, len(days)))
    pd.DataFrame({"date": days.strftime("%Y-%m-%d"), "visits": visits.round()}).to_csv(tmp_path / "daily.csv", index=False)
    for horizon, low in ((28, 28), (10, 14), (7, 7), (3, 7)):
        out = tmp_path / f"h{horizon}.yaml"
        assert main(["init", str(tmp_path / "daily.csv"), "--target", "visits", "--horizon", str(horizon), "--out", str(out)]) == 0
        data = yaml.safe_load(out.read_text())["data"]
        assert data["season"] == [7]
        assert data["lookback"]["low"] == low and low < data["lookback"]["high"] <= 2 * low, (horizon, data["lookback"])
    capsys.readouterr()


def _init_text(tmp_path, name: str) -> str:
    return (tmp_path / f"{Path(name).stem}.yaml").read_text()


def test_a_loader_warning_is_told_once_by_its_flag(tmp_path, capsys, caplog):
    import logging

    import numpy as np
    import pandas as pd

    days = pd.date_range("2022-01-01", periods=400, freq="D")
    sales = 100 + 10 * np.sin(2 * np.pi * np.arange(400) / 7) + np.random.default_rng(0).normal(0, 1, 400)
    frame = pd.DataFrame({"day": days.date, "sales": sales}).drop(index=[*range(50, 70), *range(200, 230)])  # two gaps too long to fill
    frame.to_csv(tmp_path / "gappy.csv", index=False)
    with caplog.at_level(logging.WARNING):
        assert main(["init", str(tmp_path / "gappy.csv"), "--target", "sales", "--time-column", "day", "--horizon", "7", "--out", str(tmp_path / "gappy.yaml")]) == 0
    said = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(said) == 1, said
    assert said[0].startswith("warning: --time-column: 2 of 349 steps in column 'day' of gappy.csv are irregular")
    assert ".search-init-" not in said[0] and not list(tmp_path.glob(".search-init-*"))


def test_sporadic_missing_targets_keep_every_origin(tmp_path, capsys):
    # 32 non-overlapping validation windows of 14 days, but one day in 20 is missing: about half
    # of those windows would hold a missing target and go unscored, so every step is an origin
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(2)
    days = pd.date_range("2015-01-01", periods=3000, freq="D")
    sales = 100 + 10 * np.sin(2 * np.pi * np.arange(3000) / 7) + rng.normal(0, 1, 3000)
    sales[(rng.random(3000) < 0.05) & (np.arange(3000) > 5) & (np.arange(3000) < 2995)] = np.nan
    pd.DataFrame({"day": days.date, "sales": sales}).to_csv(tmp_path / "holes.csv", index=False)
    out = tmp_path / "holes.yaml"
    assert main(["init", str(tmp_path / "holes.csv"), "--target", "sales", "--time-column", "day", "--horizon", "14", "--out", str(out)]) == 0
    raw = yaml.safe_load(out.read_text())
    assert raw["data"]["eval_origins"] == "every"
    assert "non-overlapping windows would leave too few of them" in out.read_text()
    assert main(["validate", str(out)]) == 0


def test_the_one_column_of_dates_is_the_time_column_unasked(tmp_path, capsys):
    # a README reader forgets --time-column: the file's column of dates is taken, and said; a
    # column of numbers (the promo flag) is not; --time-column none keeps the rows in file order
    import pandas as pd

    source = pd.read_csv(REPO / "datasets" / "housing_supply_monthly.csv")
    source.assign(promo=[i % 2 for i in range(len(source))]).to_csv(tmp_path / "h.csv", index=False)
    found, flagged, none = (tmp_path / f"{n}.yaml" for n in ("found", "flagged", "none"))
    assert main(["init", str(tmp_path / "h.csv"), "--target", "supply", "--horizon", "12", "--out", str(found)]) == 0
    assert "time column: 'month', the column of dates in h.csv" in capsys.readouterr().out
    assert main(["init", str(tmp_path / "h.csv"), "--target", "supply", "--time-column", "month", "--horizon", "12", "--out", str(flagged)]) == 0
    assert found.read_text() == flagged.read_text()
    assert main(["init", str(tmp_path / "h.csv"), "--target", "supply", "--time-column", "none", "--horizon", "12", "--out", str(none)]) == 0
    assert "time column:" not in capsys.readouterr().out
    assert "time_column" not in yaml.safe_load(none.read_text())["data"]


def test_two_columns_of_dates_are_not_guessed_between(tmp_path, capsys):
    import pandas as pd

    days = pd.date_range("2020-01-01", periods=300, freq="D")
    pd.DataFrame({"day": days.date, "shipped": (days + pd.Timedelta(days=2)).date, "y": range(300)}).to_csv(tmp_path / "t.csv", index=False)
    out = tmp_path / "t.yaml"
    assert main(["init", str(tmp_path / "t.csv"), "--target", "y", "--horizon", "7", "--out", str(out)]) == 0
    assert "time column:" not in capsys.readouterr().out
    assert "time_column" not in yaml.safe_load(out.read_text())["data"]


def _panel(tmp_path, with_store: bool = True):
    import numpy as np
    import pandas as pd

    days = pd.date_range("2021-01-01", periods=300, freq="D").strftime("%Y-%m-%d")
    rng = np.random.default_rng(4)
    parts = [pd.DataFrame({"store": store, "day": days, "sales": np.round(50 + 10 * np.sin(np.arange(300) * 2 * np.pi / 7) + rng.normal(0, 1, 300), 3),
                           "price": np.round(rng.uniform(1, 2, 300), 2)}) for store in ("north", "south")]  # fmt: skip
    frame = pd.concat(parts)
    (frame if with_store else frame.drop(columns="store")).to_csv(tmp_path / "panel.csv", index=False)
    return tmp_path / "panel.csv"


def test_a_panel_file_gets_its_series_column_unasked(tmp_path, capsys):
    # the times repeat once per store: the store column (not the price) splits them into series
    data = _panel(tmp_path)
    found, flagged = tmp_path / "found.yaml", tmp_path / "flagged.yaml"
    assert main(["init", str(data), "--target", "sales", "--horizon", "7", "--out", str(found)]) == 0
    assert "series id: 'store', the column that splits the repeated times of panel.csv into series" in capsys.readouterr().out
    assert main(["init", str(data), "--target", "sales", "--series-id", "store", "--horizon", "7", "--out", str(flagged)]) == 0
    assert found.read_text() == flagged.read_text()
    assert yaml.safe_load(found.read_text())["data"]["series_id"] == "store"
    assert prepare(found).series.n_series == 2


def test_repeated_times_without_a_series_column_say_to_name_one(tmp_path, capsys, monkeypatch):
    data = _panel(tmp_path, with_store=False)
    monkeypatch.chdir(tmp_path)
    assert main(["init", str(data), "--target", "sales", "--horizon", "7", "--out", "x.yaml"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --time-column: column 'day' of panel.csv has 300 rows whose time an earlier row")
    assert err.rstrip().endswith("name the column that tells them apart with --series-id") and len(err.strip().splitlines()) == 1
    assert main(["init", str(data), "--target", "sales", "--series-id", "shop", "--horizon", "7"]) == 2
    assert "error: --series-id 'shop': panel.csv has no such column" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["panel.csv"]  # nothing written


def test_init_prints_the_space_without_out(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["init", str(REPO / "datasets" / "housing_supply_monthly.csv"), "--target", "supply", "--time-column", "month", "--horizon", "6"]) == 0
    text = capsys.readouterr().out
    assert yaml.safe_load(text)["data"]["horizon"] == 6
    assert list(tmp_path.iterdir()) == []  # nothing left behind


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["--target", "lod"], "error: --target 'lod': demand_halfhourly.csv has no such column (columns: time, load, holiday)"),
        (["--target", "load", "--time-column", "when"], "error: --time-column 'when': demand_halfhourly.csv has no such column"),
        (["--target", "load", "--horizon", "0"], "error: --horizon 0: must be at least 1"),
        (["--target", "load", "--time-column", "time", "--horizon", "3000"], "error: --horizon: "),
        (["--target", "time"], "error: --target: column 'time' of demand_halfhourly.csv"),
        (["--target", "load", "--out", "no/such/folder/x.yaml"], "error: --out no/such/folder/x.yaml: no such folder"),
    ],
)
def test_bad_flags_are_one_line_naming_the_flag(argv, says, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["init", str(REPO / "datasets" / "demand_halfhourly.csv"), *argv]) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith(says), captured.err
    assert len(captured.err.strip().splitlines()) == 1 and "Traceback" not in captured.err
    assert list(tmp_path.iterdir()) == []  # nothing written


def test_a_missing_file_and_an_existing_out_are_refused(tmp_path, capsys):
    assert main(["init", str(tmp_path / "nope.csv"), "--target", "y"]) == 2
    assert capsys.readouterr().err.startswith(f"error: DATA {tmp_path / 'nope.csv'}: no such file")
    (tmp_path / "sales.xlsx").write_bytes(b"PK\x03\x04")
    assert main(["init", str(tmp_path / "sales.xlsx"), "--target", "y"]) == 2
    assert capsys.readouterr().err.startswith(f"error: DATA {tmp_path / 'sales.xlsx'}: is a spreadsheet (.xlsx); save the sheet as CSV")
    out = tmp_path / "space.yaml"
    out.write_text("keep me\n")
    assert main(["init", str(REPO / "datasets" / "housing_supply_monthly.csv"), "--target", "supply", "--out", str(out)]) == 2
    assert "--out" in capsys.readouterr().err and out.read_text() == "keep me\n"


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_the_written_space_runs_as_it_is(name, ray_local, tmp_path, capsys):
    out = _init(tmp_path, name, capsys)
    url = f"sqlite:///{tmp_path / 'studies.db'}"
    quick = ["--set", "data.stat_baselines_seconds=0"] if _has_stat_bound() else []  # where the baselines still run before the trials
    assert main(["run", str(out), "--trials", "1", "--storage", url, "--set", "train.epochs=1", *quick]) == 0
    header = capsys.readouterr().out.splitlines()[0]
    assert "(auto: " in header
    study = optuna.load_study(study_name=out.stem, storage=url)
    assert set(flat(study)[defaults.DECISION_ATTR]) == {"reference", "time_features", "because"}
    assert [t.state for t in study.trials] == [optuna.trial.TrialState.COMPLETE]


def _has_stat_bound() -> bool:
    from search.space._fields import DATA_FIELDS

    return "stat_baselines_seconds" in DATA_FIELDS


def test_local_times_repeated_where_clocks_go_back_are_averaged(tmp_path, capsys):
    import numpy as np
    import pandas as pd

    utc = pd.date_range("2021-09-01", periods=24 * 90, freq="h", tz="UTC")
    local = utc.tz_convert("Europe/Berlin").tz_localize(None).strftime("%Y-%m-%d %H:%M")
    load = 100 + 20 * np.sin(2 * np.pi * utc.hour / 24) + np.random.default_rng(2).normal(0, 1, len(utc))
    pd.DataFrame({"time": local, "load": load.round(2)}).to_csv(tmp_path / "load.csv", index=False)
    out = tmp_path / "load.yaml"
    assert main(["init", str(tmp_path / "load.csv"), "--target", "load", "--horizon", "24", "--out", str(out)]) == 0
    assert "duplicates: mean, for the 1 row whose local time repeats where clocks go back" in capsys.readouterr().out
    assert yaml.safe_load(out.read_text())["data"]["duplicates"] == "mean"
    assert prepare(out).series.info["duplicate_rows"] == 1


def test_a_semicolon_file_with_decimal_commas_gets_a_space(tmp_path, capsys):
    import pandas as pd

    source = pd.read_csv(REPO / "datasets" / "housing_supply_monthly.csv")
    source.to_csv(tmp_path / "h.csv", sep=";", decimal=",", index=False)
    out = tmp_path / "h.yaml"
    assert main(["init", str(tmp_path / "h.csv"), "--target", "supply", "--horizon", "12", "--out", str(out)]) == 0
    assert "time column: 'month'" in capsys.readouterr().out
    assert main(["validate", str(out)]) == 0
    series = prepare(out).series
    assert series.info["rows"] == len(source)


def test_missing_days_get_fill_gaps_and_the_weekly_season_back(tmp_path, capsys, caplog):
    # one day in ten missing: read as rows, the weekly cycle is lost (a shorter season is
    # found); with a row for each missing day it is found again
    import numpy as np
    import pandas as pd

    days = pd.date_range("2020-01-01", periods=1000, freq="D")
    rng = np.random.default_rng(1)
    sales = 50 + 10 * np.sin(2 * np.pi * days.dayofweek / 7) + rng.normal(0, 2, len(days))
    keep = np.sort(rng.choice(len(days), 900, replace=False))
    pd.DataFrame({"date": days[keep].strftime("%Y-%m-%d"), "sales": sales[keep].round(2)}).to_csv(tmp_path / "gappy.csv", index=False)
    out = tmp_path / "gappy.yaml"
    assert main(["init", str(tmp_path / "gappy.csv"), "--target", "sales", "--horizon", "7", "--out", str(out)]) == 0
    assert "fill_gaps: true, a row for each of the 100 missing times between the rows of gappy.csv" in capsys.readouterr().out
    assert not [r for r in caplog.records if r.levelno >= 30]  # no warning about irregular steps: they are filled
    data = yaml.safe_load(out.read_text())["data"]
    assert data["fill_gaps"] is True and data["season"] == [7]
    series = prepare(out).series
    assert series.info["rows"] == 1000 and series.info["filled_times"] == 100


def test_gaps_too_long_to_fill_keep_the_rows_and_the_warning(tmp_path, capsys, caplog):
    import logging

    import numpy as np
    import pandas as pd

    days = pd.date_range("2020-01-01", periods=600, freq="D")
    keep = np.r_[0:300, 400:600]  # 100 days missing in a row: more than max_gap fills
    values = 50 + 10 * np.sin(2 * np.pi * np.arange(600) / 7)
    pd.DataFrame({"date": days[keep].strftime("%Y-%m-%d"), "sales": values[keep].round(2)}).to_csv(tmp_path / "hole.csv", index=False)
    out = tmp_path / "hole.yaml"
    with caplog.at_level(logging.WARNING):
        assert main(["init", str(tmp_path / "hole.csv"), "--target", "sales", "--horizon", "7", "--out", str(out)]) == 0
    said = capsys.readouterr().out
    assert "fill_gaps: true" not in said
    assert "fill_gaps false (auto: fill_gaps false: data.max_gap: column 'sales' of hole.csv has 100 missing rows in a row (the rows added after row 300)" in said
    (warning,) = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert "largest gap 101 days" in warning and "data.fill_gaps: true adds a row" in warning
    assert "fill_gaps" not in yaml.safe_load(out.read_text())["data"]


def test_an_hourly_file_of_periods_day_first_gets_its_time_column(tmp_path, capsys):
    # as a European grid operator's export writes it: "01.01.2021 00:00 - 01.01.2021 01:00";
    # the first 200 rows fit both day/month orders, the whole column only one
    import numpy as np
    import pandas as pd

    hours = pd.date_range("2021-01-01", periods=24 * 40, freq="h")
    load = 30000 + 5000 * np.sin(2 * np.pi * hours.hour / 24) + np.random.default_rng(0).normal(0, 300, len(hours))
    periods = [f"{a:%d.%m.%Y %H:%M} - {b:%d.%m.%Y %H:%M}" for a, b in zip(hours, hours + pd.Timedelta(hours=1))]
    pd.DataFrame({"Time (CET/CEST)": periods, "Load [MW]": load.round()}).to_csv(tmp_path / "grid.csv", index=False)
    out = tmp_path / "grid.yaml"
    assert main(["init", str(tmp_path / "grid.csv"), "--target", "Load [MW]", "--horizon", "24", "--out", str(out)]) == 0
    assert "time column: 'Time (CET/CEST)'" in capsys.readouterr().out
    assert yaml.safe_load(out.read_text())["data"]["time_features"] == "auto"
    series = prepare(out).series
    assert series.info["rows"] == len(hours) and "warnings" not in series.info
