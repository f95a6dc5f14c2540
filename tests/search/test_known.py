"""Known-future inputs (data.time_features, data.future_features) and reference: mstl."""

from __future__ import annotations

import textwrap

import numpy as np
import pandas as pd
import pytest
import torch

import models
from models.reference import FutureWindow
from search.errors import DataError, UsageError
from search.results.forecaster import unpack
from search.space import compile_space, load_space
from search.worker import known
from search.worker.data import windows
from search.worker.load import load_series
from search.worker.train import run_trial


def test_calendar_values_at_known_times():
    when = np.array(["2024-01-01T00:00", "2024-01-01T12:00", "2024-01-06T06:00", "2024-07-01T00:00"], dtype="datetime64[ns]")
    spec = {"time_features": ["hour", "dayofweek", "dayofyear", "month"], "seasons": []}
    cols = known.time_columns(spec, when, np.arange(4))
    assert cols.shape == (4, 8) and cols.dtype == np.float32
    hour_sin, hour_cos = cols[:, 0], cols[:, 1]
    np.testing.assert_allclose(hour_sin[:2], [0, 0], atol=1e-6)
    np.testing.assert_allclose(hour_cos[:2], [1, -1], atol=1e-6)  # midnight and noon opposite
    np.testing.assert_allclose(hour_sin[2], 1, atol=1e-6)  # 06:00 is a quarter of the day
    # 2024-01-01 is a Monday (0), 2024-01-06 a Saturday (5)
    np.testing.assert_allclose(known.calendar_fraction("dayofweek", when)[[0, 2]], [0, 5 / 7])
    np.testing.assert_allclose(known.calendar_fraction("month", when)[[0, 3]], [0, 6 / 12])
    np.testing.assert_allclose(known.calendar_fraction("dayofyear", when)[3], 182 / 366)  # a leap year
    assert np.all(np.abs(cols) <= 1) and np.allclose(cols[:, 0::2] ** 2 + cols[:, 1::2] ** 2, 1, atol=1e-6)


def test_season_positions_and_auto_choice():
    spec = {"time_features": ["season"], "seasons": [4, 7], "time0": None}
    pos = known.positions(spec, None, 10)
    cols = known.time_columns(spec, None, pos)
    assert cols.shape == (10, 4)
    np.testing.assert_allclose(cols[4, :2], cols[0, :2], atol=1e-6)  # every 4 rows the first pair repeats
    np.testing.assert_allclose(cols[7, 2:], cols[0, 2:], atol=1e-6)
    assert known.time_feature_names("auto", 1800.0, 100) == ["hour", "dayofweek"]
    assert known.time_feature_names("auto", 1800.0, 800) == ["hour", "dayofweek", "dayofyear"]
    assert known.time_feature_names("auto", 7 * 86400.0, 20000) == ["dayofyear"]
    assert known.time_feature_names("auto", 30 * 86400.0, 20000) == ["month"]
    assert known.time_feature_names("auto", None, 0) == ["season"]
    # positions from a time column, by the training file's first time and step
    timed = {"time0": 0.0, "step": 1800.0}
    assert known.positions(timed, np.array(["1970-01-01T01:00"], dtype="datetime64[ns]"), 1).tolist() == [2]


def _demand(tmp_path, rows: int = 48 * 14) -> pd.DataFrame:
    t = pd.date_range("2024-01-01", periods=rows, freq="30min")
    hour = t.hour.to_numpy() + t.minute.to_numpy() / 60
    holiday = ((t.dayofyear.to_numpy() % 9) == 0).astype(int)
    rng = np.random.default_rng(0)
    load = 50 + 5 * np.sin(2 * np.pi * hour / 24) - 4 * holiday + rng.normal(0, 0.3, rows)
    frame = pd.DataFrame({"time": t.strftime("%Y-%m-%dT%H:%M"), "load": load, "holiday": holiday * 10})
    frame.to_csv(tmp_path / "demand.csv", index=False)
    return frame


def _space(tmp_path, family: str = "lstm", **data) -> object:
    extra = "".join(f"  {k}: {v}\n" for k, v in data.items())
    model = {"lstm": 'layer_sizes: "8"', "gru": 'layer_sizes: "8"', "tcn": 'layer_sizes: "8,8,8", kernel_size: 3',
             "transformer": "d_model: 8, nhead: 2, num_layers: 1, dim_feedforward: 16"}[family]
    text = textwrap.dedent(f"""\
        model: {{family: {family}, {model}}}
        data:
          path: demand.csv
          time_column: time
          target: load
          lookback: 24
          horizon: 6
          season: 48
          stat_baselines_seconds: 0
        """) + extra + "train: {epochs: 2, lr: 0.005, batch_size: 64}\n"
    path = tmp_path / f"{family}.yaml"
    path.write_text(text)
    return compile_space(load_space(path))


def test_load_adds_time_columns_and_scales_future_features_on_train(tmp_path):
    frame = _demand(tmp_path)
    compiled = _space(tmp_path, time_features="[hour, dayofweek]", future_features="[holiday]")
    series = load_series(compiled.space.data)
    assert series.columns == ("load", "holiday")
    assert series.n_known == 1 + 4 and series.n_inputs == 2 + 4 == series.n_features
    a = series.bounds[0]
    raw = frame["holiday"].to_numpy(dtype=float)
    assert series.offset[1] == pytest.approx(raw[:a].mean()) and series.scale[1] == pytest.approx(raw[:a].std())
    np.testing.assert_allclose(series.values[:, 1], (raw - raw[:a].mean()) / raw[:a].std(), rtol=1e-5)
    np.testing.assert_allclose(series.values[:3, 2:4], [[0, 1], [np.sin(np.pi / 24), np.cos(np.pi / 24)], [np.sin(np.pi / 12), np.cos(np.pi / 12)]], atol=1e-6)
    x, y = windows(series, "train", 24, 6)
    assert x.shape == (len(y), 24 + 6, 6) and y.shape == (len(y), 6, 1)
    assert series.info["known_future"]["time_features"] == ["hour", "dayofweek"]


def test_without_the_keys_windows_and_wrappers_are_unchanged(tmp_path):
    _demand(tmp_path)
    series = load_series(_space(tmp_path, time_features="none").space.data)
    assert series.n_known == 0 and series.n_profile == 0 and series.known == {}
    x, _ = windows(series, "val", 24, 6)
    assert x.shape[1:] == (24, 1)
    assert type(series.wrap(torch.nn.Identity(), {"reference": "last", "lookback": 24})).__name__ == "LastValueReference"


def test_no_target_after_the_origin_reaches_the_model(tmp_path):
    _demand(tmp_path)
    compiled = _space(tmp_path, time_features="auto", future_features="[holiday]", reference="mstl")
    series = load_series(compiled.space.data)
    core = models.build("lstm", n_features=series.n_inputs, horizon=6, n_targets=1, n_future=series.n_known, layer_sizes="8")
    x, _ = windows(series, "test", 24, 6)
    batch = x[:16].clone()
    for reference in ("last", "none", "seasonal", "mstl"):
        model = FutureWindow(core, 1, 24, series.n_inputs, series.n_known, reference, 48 if reference == "seasonal" else None).eval()
        with torch.no_grad():
            base = model(batch)
            poked = batch.clone()
            poked[:, 24:, : series.n_inputs - series.n_known] = float("nan")  # targets and features after the origin
            assert torch.equal(model(poked), base), reference
            moved = batch.clone()
            moved[:, 24:, series.n_inputs - series.n_known] += 1.0  # a known-future column of the horizon
            assert not torch.equal(model(moved), base), reference


@pytest.mark.parametrize("family", ["lstm", "gru", "tcn", "transformer"])
def test_every_family_reads_the_horizon_features(family):
    params = {"lstm": {"layer_sizes": "8,4"}, "gru": {"layer_sizes": "8"}, "tcn": {"layer_sizes": "8,8", "kernel_size": 3}, "transformer": {"d_model": 8, "nhead": 2, "num_layers": 1, "dim_feedforward": 16}}[family]
    model = models.build(family, n_features=5, horizon=4, n_targets=2, lookback=12, n_future=3, **params).eval()
    x, future = torch.randn(7, 12, 5), torch.randn(7, 4, 3)
    out = model(x, future)
    assert out.shape == (7, 4, 2)
    assert not torch.equal(model(x, future + 1), out)
    with pytest.raises(ValueError, match="known-future"):
        model(x)
    torch.manual_seed(0)
    plain = models.build(family, n_features=5, horizon=4, n_targets=2, lookback=12, **params)
    torch.manual_seed(0)
    again = models.build(family, n_features=5, horizon=4, n_targets=2, lookback=12, n_future=0, **params)
    for (k, a), (_, b) in zip(plain.state_dict().items(), again.state_dict().items()):
        assert torch.equal(a, b), k  # without known-future features: the same parameters, in the same order


def test_mstl_profile_follows_the_rows_before_each_window(tmp_path):
    frame = _demand(tmp_path)
    compiled = _space(tmp_path, reference="mstl")
    series = load_series(compiled.space.data)
    assert series.n_profile == 1 and series.n_known == 0
    a = series.bounds[0]
    changed = frame.copy()
    changed.loc[a:, "load"] += np.sin(np.arange(len(frame) - a)) * 50  # anything after the training part
    changed.to_csv(tmp_path / "demand.csv", index=False)
    again = load_series(compiled.space.data)
    np.testing.assert_array_equal(series.values[: a + 6, -1], again.values[: a + 6, -1])  # a horizon on: read only rows before
    assert not np.allclose(series.values[a + 6 :, -1], again.values[a + 6 :, -1])  # later rows follow the changed series
    profile = series.values[:, -1] * series.scale[0]
    assert np.corrcoef(profile[a - 96 : a - 48], profile[a - 48 : a])[0, 1] > 0.9  # about periodic on a steady series
    assert np.ptp(profile[a - 48 : a]) > 8  # the daily swing of about 10 is found


def test_bad_time_features_are_named(tmp_path):
    _demand(tmp_path)
    with pytest.raises(DataError, match="data.time_features: hour needs a time column of dates"):
        load_series({**_space(tmp_path, time_features="[hour]").space.data, "time_column": None})


@pytest.mark.parametrize("family", ["lstm", "tcn", "transformer"])
@pytest.mark.parametrize("keys", [{"time_features": "auto", "future_features": "[holiday]"}, {"reference": "mstl"}], ids=["features", "mstl"])
def test_trained_checkpoint_forecasts_like_the_trial(tmp_path, family, keys):
    frame = _demand(tmp_path)
    compiled = _space(tmp_path, family, **keys)
    series = load_series(compiled.space.data)
    reports = []
    run_trial(compiled.trial_config({}), series, "rmse", reports.append, with_checkpoint=True)
    final = reports[-1]
    assert "error" not in final, final.get("traceback")
    forecaster = unpack(final["checkpoint"])
    # the last test window: its origin 6 rows before the end, the horizon's features from the file
    end = len(frame) - 6
    x, _ = windows(series, "test", 24, 6)
    with torch.no_grad():
        expected = series.unscale_targets(series.wrap(forecaster.model, compiled.trial_config({})["data"]).eval()(x[-1:]))[0].numpy()
    given = frame.copy()
    given.loc[end:, "load"] = np.nan  # the horizon rows: targets empty, the holiday flag known
    np.testing.assert_allclose(forecaster.predict(given), expected, rtol=1e-4, atol=1e-4)
    if "future_features" in keys:
        with pytest.raises(UsageError, match=r"future_features \(holiday\) over the 6 steps"):
            forecaster.predict(frame.iloc[:end])


# Hashes of shipped spaces without the new keys, as the version before them computed: studies
# made then still resume.
HASHES_BEFORE = {
    "classify_gru.yaml": "29778c6e2077df4c",
    "gru.yaml": "97505efe63f56d08",
    "gru_legacy.yaml": "2ba1f5dcc47296c6",
    "tcn.yaml": "58922382252f8964",
    "tcn_grid.json": "16ef061cec3949d5",
    "text_lstm.yaml": "3b30d6dd8896cb93",
    "transformer.yaml": "150eb57cfb488f34",
}


@pytest.mark.parametrize("name", sorted(HASHES_BEFORE))
def test_spaces_without_the_keys_keep_their_hash(name):
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "spaces" / name
    assert compile_space(load_space(path)).hash == HASHES_BEFORE[name]


def test_time_features_none_and_auto_hash_like_no_key(tmp_path):
    """auto is the default; none was, and studies made with it resume (search.driver.run checks
    which of the two a study ran)."""
    _demand(tmp_path)
    assert _space(tmp_path).hash == _space(tmp_path, time_features="none", future_features="[]").hash
    assert _space(tmp_path).hash == _space(tmp_path, time_features="auto").hash
    assert _space(tmp_path).hash != _space(tmp_path, time_features="calendar").hash


@pytest.mark.parametrize(("given", "stored"), [("true", "auto"), ("false", "none"), ("auto", "auto"), ("[hour, hour, month]", ("hour", "month")), ("season", ("season",))])
def test_time_features_key_forms(tmp_path, given, stored):
    _demand(tmp_path)
    assert _space(tmp_path, time_features=given).space.data["time_features"] == stored


def test_baselines_read_only_the_lookback_of_windows_that_reach_the_horizon(tmp_path):
    """The naive and seasonal-naive baselines are the same with known-future columns: the rows
    of a window after its origin hold the targets, and no baseline reads them."""
    _demand(tmp_path)
    plain = load_series(_space(tmp_path).space.data)
    wide = load_series(_space(tmp_path, time_features="auto", future_features="[holiday]", reference="mstl").space.data)
    data = {"horizon": 6, "eval_origins": "every", "season": 48}
    a, b = plain.naive_attrs(24, data), wide.naive_attrs(24, data)
    assert a == b and a["baseline_snaive_s48_test_mae"] > 0


def test_a_yearly_season_of_weekly_data_follows_the_calendar():
    """52 weekly steps are 364 days: the phase follows the 365.24-day year, so the same date
    ten years apart has the same phase (positions modulo 52 would have drifted 12 days)."""
    when = np.array(["2000-03-04", "2010-03-04", "2010-09-02"], dtype="datetime64[ns]")
    spec = {"time0": known.as_numbers(when[:1])[0], "step": 7 * 86400.0}
    pos = known.positions(spec, when, 3)
    ph = known.phase(spec, 52, when, pos)
    circular = lambda a, b: min(abs(a - b), 52 - abs(a - b))  # noqa: E731
    assert ph[0] == 0 and circular(ph[1], 0) < 0.2 and circular(ph[2], 26) < 0.3
    assert pos[1] % 52 != 0  # what plain positions would say
    assert known.phase({"time0": 0.0, "step": 1800.0}, 48, np.array(["1970-01-01T06:00"], dtype="datetime64[ns]"), np.array([12]))[0] == pytest.approx(12)
