"""The rows of a dataset: times parsed once as times (or numbers), duplicate times by policy,
irregular steps warned about, cells checked as numbers, all before any storage."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from search.errors import DataError
from search.space import compile_space, load_space
from search.worker.load import load_series
from search.worker.tasks import load_data

N = 120


def data_cfg(path, **overrides):
    cfg = {"path": str(path), "time_column": "date", "target": ("y",), "features": (), "missing": "interpolate",
           "split": (0.7, 0.15, 0.15), "scaler": "none", "lookback": 5, "horizon": 1, "stride": 1}  # fmt: skip
    cfg.update(overrides)
    return cfg


def dates(n=N, freq="7D", start="2001-01-01"):
    return pd.date_range(start, periods=n, freq=freq)


def write(path, times, values=None, header="date,y", encoding="utf-8"):
    values = np.arange(len(times), dtype=float) if values is None else values
    lines = [header] + [f"{t},{v}" for t, v in zip(times, values)]
    path.write_text("\n".join(lines) + "\n", encoding=encoding)
    return path


def raw_targets(series):
    return series.values[:, 0] * series.scale[0] + series.offset[0]


def test_rows_are_sorted_by_parsed_time_not_text(tmp_path):
    # Day/month/year text sorts wrongly as text: 02/01/2001 < 15/01/2000.
    times = dates(N, "10D", "2000-01-01")
    order = np.random.default_rng(0).permutation(N)
    path = write(tmp_path / "s.csv", [times[i].strftime("%d/%m/%Y") for i in order], order.astype(float))
    series = load_series(data_cfg(path))
    assert raw_targets(series).tolist() == list(range(N))


def test_iso_dates_work_unasked_and_time_format_reads_others(tmp_path):
    iso = write(tmp_path / "iso.csv", [t.strftime("%Y-%m-%dT%H:%M") for t in dates()])
    assert raw_targets(load_series(data_cfg(iso))).tolist() == list(range(N))
    odd = write(tmp_path / "odd.csv", [t.strftime("%Y|%j") for t in dates()])
    with pytest.raises(DataError, match=r"data.time_column: column 'date' of odd.csv: row 1: '2001\|001' is not a time.*time_format"):
        load_series(data_cfg(odd))
    series = load_series(data_cfg(odd, time_format="%Y|%j", split={"val_start": "2002|100", "test_start": "2002|200"}))
    assert series.info["split_rows"][0] == 67  # week 66 is 2002-04-08, before day 100 (04-10)


def test_ambiguous_day_month_order_is_refused_with_both_readings(tmp_path):
    path = write(tmp_path / "s.csv", [t.strftime("%d/%m/%Y") for t in pd.date_range("2000-01-05", periods=N, freq="MS") + pd.Timedelta(days=4)])
    with pytest.raises(DataError) as info:
        load_series(data_cfg(path))
    line = str(info.value)
    assert "data.time_column: column 'date' of s.csv: the day/month order is ambiguous (row 1: '05/02/2000'" in line
    assert "set data.time_format: '%d/%m/%Y' or '%m/%d/%Y'" in line
    month_first = load_series(data_cfg(path, time_format="%m/%d/%Y"))
    day_first = load_series(data_cfg(path, time_format="%d/%m/%Y"))
    assert raw_targets(day_first).tolist() == list(range(N)) and "warnings" not in day_first.info
    assert "are irregular (usual step 1 day; largest gap" in month_first.info["warnings"][0]  # May 1..12 of each year


@pytest.mark.parametrize("bad, row", [("not a date", 31), ("2001-02-30", 31), ("", 31)])
def test_a_value_that_does_not_parse_names_row_and_value(tmp_path, bad, row):
    times = [t.strftime("%Y-%m-%d") for t in dates()]
    times[30] = bad
    with pytest.raises(DataError) as info:
        load_series(data_cfg(write(tmp_path / "s.csv", times)))
    line = str(info.value)
    assert f"row {row}" in line and "s.csv" in line and "'date'" in line and "\n" not in line
    assert (repr(bad) in line and "time_format" in line) if bad else "has no time" in line


def test_numeric_times_stay_numbers(tmp_path):
    path = write(tmp_path / "s.csv", list(range(N, 0, -1)), np.arange(N, 0, -1, dtype=float), header="date,y")
    series = load_series(data_cfg(path, split={"val_start": 80, "test_start": 100}))
    assert raw_targets(series).tolist() == list(range(1, N + 1)) and series.info["split_rows"][0] == 79


def test_duplicate_times_are_an_error_by_default_naming_the_first(tmp_path):
    times = [t.strftime("%Y-%m-%d") for t in dates()]
    path = write(tmp_path / "s.csv", times + times[50:60], np.arange(N + 10, dtype=float))
    with pytest.raises(DataError) as info:
        load_series(data_cfg(path))
    assert f"data.duplicates: column 'date' of s.csv has 10 rows whose time an earlier row of their series has (first: '{times[50]}' at rows 51 and 121)" in str(info.value)


@pytest.mark.parametrize("policy, expected", [("first", 50.0), ("last", 120.0), ("mean", 85.0)])
def test_duplicate_policies(tmp_path, policy, expected):
    times = [t.strftime("%Y-%m-%d") for t in dates()]
    path = write(tmp_path / "s.csv", times + times[50:60], np.arange(N + 10, dtype=float))
    series = load_series(data_cfg(path, duplicates=policy))
    assert series.info["rows"] == N and series.info["duplicate_rows"] == 10
    assert raw_targets(series)[50] == expected


def test_duplicates_in_different_series_are_not_duplicates(tmp_path):
    times = [t.strftime("%Y-%m-%d") for t in dates()]
    lines = ["s,date,y"] + [f"{s},{t},{i}" for s in "ab" for i, t in enumerate(times)]
    path = tmp_path / "p.csv"
    path.write_text("\n".join(lines) + "\n")
    assert load_series(data_cfg(path, series_id="s")).info["series"] == 2


def test_irregular_steps_are_a_warning_with_the_count_and_largest_gap(tmp_path):
    times = [t.strftime("%Y-%m-%d") for t in dates()]
    path = write(tmp_path / "s.csv", times[:40] + times[45:100] + times[102:])
    series = load_series(data_cfg(path))
    (warning,) = series.info["warnings"]
    assert "2 of 112 steps in column 'date' of s.csv are irregular (usual step 7 days; largest gap 42 days, before row 41" in warning
    regular = load_series(data_cfg(write(tmp_path / "r.csv", times)))
    assert "warnings" not in regular.info


def test_business_days_are_regular_and_a_skipped_weekday_is_warned_about(tmp_path):
    days = [t.strftime("%Y-%m-%d") for t in pd.bdate_range("2021-01-04", periods=N)]  # Monday to Friday
    regular = load_series(data_cfg(write(tmp_path / "b.csv", days)))
    assert "warnings" not in regular.info  # a Friday-to-Monday step is not a gap
    holidays = load_series(data_cfg(write(tmp_path / "h.csv", days[:30] + days[31:70] + days[71:])))
    (warning,) = holidays.info["warnings"]
    assert "2 of 117 steps in column 'date' of h.csv skip a weekday" in warning
    assert "business days" in warning and "data.fill_gaps: true adds a row for each missing weekday" in warning
    every_day = [t.strftime("%Y-%m-%d") for t in dates(freq="D")]
    daily = load_series(data_cfg(write(tmp_path / "d.csv", every_day[:40] + every_day[43:])))
    assert "are irregular (usual step 1 day" in daily.info["warnings"][0]  # weekends among the times: a gap is a gap


@pytest.mark.parametrize("cell", ["abc", "1,5", "12 kg"])
def test_a_non_numeric_cell_names_column_row_and_value(tmp_path, cell):
    values = [str(float(i)) for i in range(N)]
    values[77] = f'"{cell}"'
    path = write(tmp_path / "s.csv", [t.strftime("%Y-%m-%d") for t in dates()], values)
    with pytest.raises(DataError) as info:
        load_series(data_cfg(path))
    assert str(info.value) == f"data.target: column 'y' of s.csv: row 78: {cell!r} is not a number; fix the cell, or leave it empty to count as missing"


def test_a_string_dtype_column_is_checked_cell_by_cell(tmp_path):
    frame = pd.DataFrame({"date": dates(), "y": pd.array([str(i) for i in range(N)], dtype="string")})
    frame.loc[9, "y"] = "n/a!"
    path = tmp_path / "s.parquet"
    frame.to_parquet(path)
    with pytest.raises(DataError, match=r"column 'y' of s.parquet: row 10: 'n/a!' is not a number"):
        load_series(data_cfg(path))
    frame.loc[9, "y"] = "9"
    frame.to_parquet(path)
    assert raw_targets(load_series(data_cfg(path))).tolist() == list(range(N))


def test_inf_follows_the_missing_policy(tmp_path):
    values = np.arange(N, dtype=float)
    values[[20, 90]] = [np.inf, -np.inf]
    path = write(tmp_path / "s.csv", [t.strftime("%Y-%m-%d") for t in dates()], values)
    series = load_series(data_cfg(path))
    assert np.isfinite(series.values).all() and series.info["missing_rows"] == 2
    assert raw_targets(series)[20] == pytest.approx(20.0)
    assert load_series(data_cfg(path, missing="drop")).info["rows"] == N - 2
    with pytest.raises(DataError, match=r"data.missing: column 'y' of s.csv row 21 holds inf \(2 non-finite cells\)"):
        load_series(data_cfg(path, missing="error"))


def test_an_all_missing_column_and_a_header_only_file_are_refused(tmp_path):
    times = [t.strftime("%Y-%m-%d") for t in dates()]
    with pytest.raises(DataError, match=r"data.target: column 'y' of s.csv holds no value \(all 120 rows"):
        load_series(data_cfg(write(tmp_path / "s.csv", times, [""] * N)))
    (tmp_path / "h.csv").write_text("date,y\n")
    with pytest.raises(DataError, match="data.path: h.csv has a header but no rows"):
        load_series(data_cfg(tmp_path / "h.csv"))


def test_a_series_without_any_value_cannot_be_interpolated(tmp_path):
    lines = ["s,date,y"] + [f"{s},{t:%Y-%m-%d},{'' if s == 'b' else i}" for s in "ab" for i, t in enumerate(dates())]
    (tmp_path / "p.csv").write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match="data.missing: column 'y' of p.csv has no value in series 'b'"):
        load_series(data_cfg(tmp_path / "p.csv", series_id="s"))


def test_a_byte_order_mark_is_read_not_refused(tmp_path):
    path = write(tmp_path / "s.csv", [t.strftime("%Y-%m-%d") for t in dates()], header="\ufeffdate,y")
    assert load_series(data_cfg(path)).info["rows"] == N
    (tmp_path / "space.yaml").write_text('model: {family: lstm, layer_sizes: "8"}\ndata: {path: s.csv, time_column: date, target: y, lookback: 5}\n')
    assert load_space(tmp_path / "space.yaml").data["time_column"] == "date"


def test_classify_features_name_the_cell(tmp_path):
    lines = ["t,a,label"] + [f"{i},{'x?' if i == 33 else i},{'up' if i % 2 else 'down'}" for i in range(N)]
    (tmp_path / "c.csv").write_text("\n".join(lines) + "\n")
    cfg = data_cfg(tmp_path / "c.csv", task="classify", time_column="t", target=("label",), features=("a",))
    with pytest.raises(DataError, match=r"data.features: column 'a' of c.csv: row 34: 'x\?' is not a number"):
        load_data(cfg)


def test_new_keys_at_their_defaults_keep_the_hash(tmp_path):
    write(tmp_path / "s.csv", [t.strftime("%Y-%m-%d") for t in dates()])
    base = 'model: {family: lstm, layer_sizes: "8"}\ndata: {path: s.csv, time_column: date, target: y, lookback: 5%s}\n'
    hashes = []
    for extra in ("", ", duplicates: error, time_format: null, fill_gaps: auto", ", duplicates: mean", ", time_format: '%Y-%m-%d'"):
        (tmp_path / "x.yaml").write_text(base % extra)
        hashes.append(compile_space(load_space(tmp_path / "x.yaml")).hash)
    assert hashes[0] == hashes[1] and len(set(hashes)) == 3


@pytest.mark.parametrize("extra, message", [
    (", time_format: '%Y'", None),
    (", series_id: null, time_format: '%Y'", "data.time_format: reads the time column, but data.time_column is not set"),
    (", time_format: 'YYYY-MM-DD'", "data.time_format: 'YYYY-MM-DD' has no % field"),
    (", duplicates: newest", "data.duplicates: 'newest' is not one of error, mean, first, last"),
    (", fill_gaps: true", None),
    (", series_id: null, fill_gaps: true", "data.fill_gaps: finds missing times in the time column, but data.time_column is not set"),
    (", fill_gaps: true, missing: error", "data.fill_gaps: adds rows with empty cells, which missing: error refuses; set missing: interpolate"),
    (", fill_gaps: weekly", "data.fill_gaps"),
])
def test_the_validator_checks_the_new_keys(tmp_path, extra, message):
    from search.errors import ConfigError

    write(tmp_path / "s.csv", [t.strftime("%Y-%m-%d") for t in dates()])
    column = "" if "series_id" in extra else "time_column: date, "
    (tmp_path / "x.yaml").write_text('model: {family: lstm, layer_sizes: "8"}\ndata: {path: s.csv, %starget: y, lookback: 5%s}\n' % (column, extra))
    if message is None:
        load_space(tmp_path / "x.yaml")
        return
    with pytest.raises(ConfigError, match=message):
        load_space(tmp_path / "x.yaml")


def test_a_semicolon_file_with_decimal_commas_reads_as_its_comma_twin(tmp_path):
    # a spreadsheet's CSV export in many European locales: ';' between cells, ',' in numbers
    times = [t.strftime("%d.%m.%Y") for t in dates()]
    values = np.round(np.linspace(10, 30, N), 2)
    comma = write(tmp_path / "c.csv", [t.strftime("%Y-%m-%d") for t in dates()], values)
    lines = ["date;y"] + [f"{t};{str(v).replace('.', ',')}" for t, v in zip(times, values)]
    (tmp_path / "s.csv").write_text("\n".join(lines) + "\n")
    semi = load_series(data_cfg(tmp_path / "s.csv", time_format="%d.%m.%Y"))
    assert np.allclose(raw_targets(semi), raw_targets(load_series(data_cfg(comma))))
    assert np.allclose(raw_targets(semi), values)


def test_a_tab_file_with_decimal_points_keeps_its_points(tmp_path):
    from search._csv import csv_options, separator

    lines = ["date\ty"] + [f"{t.strftime('%Y-%m-%d')}\t{v}" for t, v in zip(dates(), np.arange(N) + 0.5)]
    (tmp_path / "t.csv").write_text("\n".join(lines) + "\n")
    assert csv_options(tmp_path / "t.csv") == {"encoding": "utf-8-sig", "sep": "\t"}
    assert raw_targets(load_series(data_cfg(tmp_path / "t.csv"))).tolist() == list(np.arange(N) + 0.5)
    assert separator("a;b,c") == "," and separator("y") == "," and separator("a|b") == "|"
    (tmp_path / "t.tsv").write_text((tmp_path / "t.csv").read_text())  # a .tsv file is read the same
    assert raw_targets(load_series(data_cfg(tmp_path / "t.tsv"))).tolist() == list(np.arange(N) + 0.5)


@pytest.mark.parametrize("name,says", [
    ("sales.xlsx", "data.path: sales.xlsx is a spreadsheet (.xlsx); save the sheet as CSV (UTF-8) or Parquet"),
    ("sales.json", "data.path: sales.json unsupported file type '.json'; give a .csv (or .tsv, .txt, .csv.gz) or .parquet file"),
])
def test_a_file_type_that_is_not_read_is_named(tmp_path, name, says):
    (tmp_path / name).write_text("date,y\n2020-01-01,1\n")
    with pytest.raises(DataError) as err:
        load_series(data_cfg(tmp_path / name))
    assert str(err.value).startswith(says), str(err.value)


def _local_hours(tmp_path):
    """Hourly local (Berlin) times over October's clock change: 02:00 repeats once."""
    utc = pd.date_range("2021-10-20", periods=24 * 20, freq="h", tz="UTC")
    local = utc.tz_convert("Europe/Berlin").tz_localize(None).strftime("%Y-%m-%d %H:%M")
    return write(tmp_path / "h.csv", list(local), np.arange(len(local), dtype=float))


def test_repeats_where_clocks_go_back_are_told_as_such(tmp_path):
    path = _local_hours(tmp_path)
    with pytest.raises(DataError) as info:
        load_series(data_cfg(path))
    assert "has 1 rows whose time an earlier row of their series has (first: '2021-10-31 02:00'" in str(info.value)
    assert "where clocks go back an hour (daylight saving time ends)" in str(info.value) and "data.duplicates: mean" in str(info.value)
    series = load_series(data_cfg(path, duplicates="mean"))
    assert series.info["duplicate_rows"] == 1 and series.info["rows"] == 24 * 20 - 1
    # repeats elsewhere (weekly data, ten repeated weeks) are not called a clock change
    times = [t.strftime("%Y-%m-%d") for t in dates()]
    with pytest.raises(DataError) as other:
        load_series(data_cfg(write(tmp_path / "w.csv", times + times[50:60], np.arange(N + 10, dtype=float))))
    assert "clocks" not in str(other.value)


@pytest.mark.parametrize("cells, expected", [
    (['"1,234.5"', "12", '"-2,000"'], [1234.5, 12.0, -2000.0]),  # thousands commas, a decimal point
    (['"1.234,5"', "12", '"12,25"'], [1234.5, 12.0, 12.25]),  # thousands points, a decimal comma
])  # fmt: skip
def test_numbers_with_thousands_separators_are_read(tmp_path, cells, expected):
    values = (cells * (N // len(cells) + 1))[:N]
    path = write(tmp_path / "s.csv", [t.strftime("%Y-%m-%d") for t in dates()], values)
    assert raw_targets(load_series(data_cfg(path)))[:3].tolist() == pytest.approx(expected)


def test_a_mix_of_conventions_is_still_refused(tmp_path):
    values = (['"1,234.5"', '"1.234,5"'] * N)[:N]
    with pytest.raises(DataError, match=r"row 1: '1,234.5' is not a number \(119 more cells\)"):
        load_series(data_cfg(write(tmp_path / "s.csv", [t.strftime("%Y-%m-%d") for t in dates()], values)))


def test_fill_gaps_adds_a_row_for_each_missing_time(tmp_path):
    # weekly rows with 5 and 2 weeks missing: filled back to the calendar's 120 weeks, the
    # added rows interpolated and never scored
    times = [t.strftime("%Y-%m-%d") for t in dates()]
    kept = list(range(40)) + list(range(45, 100)) + list(range(102, N))
    path = write(tmp_path / "s.csv", [times[i] for i in kept], np.array(kept, dtype=float))
    series = load_series(data_cfg(path, fill_gaps=True))
    assert series.info["rows"] == N and series.info["filled_times"] == 7 and series.info["filled_target_rows"] == 7
    assert "warnings" not in series.info  # regular once filled
    assert raw_targets(series).tolist() == pytest.approx(list(range(N)))  # a line between the neighbours
    assert (~series.observed).sum() == 7 and not series.observed[40:45].any()
    plain = load_series(data_cfg(path))
    assert plain.info["rows"] == N - 7 and "data.fill_gaps: true adds a row for each missing time" in plain.info["warnings"][0]


def test_fill_gaps_takes_calendar_months_and_business_days(tmp_path):
    from search.worker.fill import fill_times

    months = pd.date_range("2001-01-01", periods=24, freq="MS")
    gappy = np.delete(months.to_numpy(), [5, 6, 13])
    source, inserted, times = fill_times(gappy, None)
    assert inserted.sum() == 3 and len(times) == 24
    assert [pd.Timestamp(t).strftime("%Y-%m") for t in times] == [m.strftime("%Y-%m") for m in months]  # within the right month
    days = pd.bdate_range("2021-01-04", periods=60).to_numpy()
    source, inserted, times = fill_times(np.delete(days, [10, 11, 30]), None)
    np.testing.assert_array_equal(times, days)  # the skipped weekdays, not the weekends
    assert fill_times(days, None) is None and fill_times(months.to_numpy(), None) is None
    # each series on its own: nothing is inserted between the last time of one and the first of the next
    panel = np.concatenate([months.to_numpy(), months.to_numpy()[12:]])
    assert fill_times(panel, np.repeat(["a", "b"], [24, 12])) is None


def test_fill_gaps_is_refused_where_it_cannot_apply(tmp_path):
    times = [t.strftime("%Y-%m-%d") for t in dates()]
    scattered = write(tmp_path / "s.csv", times[:20] + [t.strftime("%Y-%m-%d") for t in pd.date_range("2030-01-01", periods=100, freq="7D")])
    with pytest.raises(DataError, match=r"data.fill_gaps: column 'date' of s.csv would need \d+ rows added to its 120 to be regular"):
        load_series(data_cfg(scattered, fill_gaps=True))


def test_cells_that_mark_a_missing_value_count_as_missing(tmp_path):
    # FRED's CSV files write "." where a day has no value; "-" is as common ("?" is refused:
    # bad_inputs/classify_feature_text)
    values = [str(v) for v in range(N)]
    for i, mark in ((10, "."), (20, "-"), (30, "--"), (40, " . ")):
        values[i] = mark
    series = load_series(data_cfg(write(tmp_path / "s.csv", [t.strftime("%Y-%m-%d") for t in dates()], values)))
    assert series.info["missing_rows"] == 4 and raw_targets(series)[[10, 20, 30, 40]].tolist() == [10.0, 20.0, 30.0, 40.0]
    with pytest.raises(DataError, match=r"data.missing: s.csv has 4 rows with missing values \(first at row 11\)"):
        load_series(data_cfg(tmp_path / "s.csv", missing="error"))


@pytest.mark.parametrize("cells, expected", [
    (["01.01.2021 00:00", "13.01.2021 05:00"], ["2021-01-01 00:00", "2021-01-13 05:00"]),  # day first, with a clock
    (["02/01/2020 10:00:05", "02/13/2020 10:00:05"], ["2020-02-01 10:00:05", "2020-02-13 10:00:05"]),  # month first
    (["01.01.2021 00:00 - 01.01.2021 01:00", "13.01.2021 05:00 - 13.01.2021 06:00"], ["2021-01-01 00:00", "2021-01-13 05:00"]),  # a period: its start
    (["2021-01-01 - 2021-01-02", "2021-01-02 - 2021-01-03"], ["2021-01-01", "2021-01-02"]),
])  # fmt: skip
def test_day_month_times_with_a_clock_and_periods_are_read(cells, expected):
    from search.worker.table import parse_times

    got = parse_times(pd.Series(cells, name="t"), None, "f.csv", "")
    assert got.tolist() == [pd.Timestamp(e) for e in expected]


def test_a_period_of_non_times_and_an_ambiguous_clock_are_refused():
    from search.worker.table import parse_times

    with pytest.raises(DataError, match="is not a time or a number"):
        parse_times(pd.Series(["A - B", "C - D"], name="t"), None, "f.csv", "")
    with pytest.raises(DataError, match="the day/month order is ambiguous .* set data.time_format: '%d/%m/%Y %H:%M' or '%m/%d/%Y %H:%M'"):
        parse_times(pd.Series(["03/04/2001 06:00", "03/05/2001 06:00"], name="t"), None, "f.csv", "")
