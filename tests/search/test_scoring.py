"""Every trial is scored on the same targets, and judged against the honest seasonal naive.

A series whose value is its own row number makes every window's targets readable: the targets
of a window are the rows it is scored on.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from search.driver.fork import describe_change
from search.results.tables import compare_line
from search.space import compile_space, load_space
from search.worker.baselines import detect_seasons, forecast_baselines
from search.worker.data import SeriesData, windows


def rows_series(n: int = 1000, split=(700, 850)) -> SeriesData:
    """Values = row numbers (unscaled): a window's targets name their rows."""
    values = np.arange(n, dtype=np.float32).reshape(-1, 1)
    return SeriesData(values, 1, split, np.zeros(1, np.float32), np.ones(1, np.float32), ("y",))


def target_rows(series: SeriesData, part: str, lookback: int, horizon: int, step: int = 1) -> list[tuple[int, ...]]:
    _, y = windows(series, part, lookback, horizon, step)
    return [tuple(int(v) for v in w[:, 0].tolist()) for w in y]


def series_of(values: np.ndarray) -> SeriesData:
    values = values.astype(np.float32).reshape(-1, 1)
    n = len(values)
    return SeriesData(values, 1, (int(n * 0.7), int(n * 0.85)), np.zeros(1, np.float32), np.ones(1, np.float32), ("y",))


@pytest.mark.parametrize("horizon", [1, 24])
def test_lookbacks_13_and_156_are_scored_on_identical_targets(horizon):
    series = rows_series()
    for part, (lo, hi) in (("val", (700, 850)), ("test", (850, 1000))):
        short, long = target_rows(series, part, 13, horizon), target_rows(series, part, 156, horizon)
        assert short == long  # the same windows' targets, in the same order
        assert {r for w in short for r in w} == set(range(lo, hi))  # every point of the part is a target
        assert short[0][0] == lo and short[-1][-1] == hi - 1
        x, _ = windows(series, part, 156, horizon)
        assert int(x[0, 0, 0]) == lo - 156  # the inputs reach back before the part


def test_no_training_window_sees_a_validation_value():
    series = rows_series()
    x, y = windows(series, "train", 156, 24, 1)
    assert int(x.max()) < 700 and int(y.max()) < 700
    assert int(y[-1, -1, 0]) == 699  # and the training part is used to its end


def test_horizon_spaced_origins_do_not_overlap_and_end_at_the_part_end():
    series = rows_series()
    for lookback in (13, 156):
        rows = target_rows(series, "test", lookback, 24, step=24)
        assert rows[-1][-1] == 999  # the last window ends at the part's last row
        flat = [r for w in rows for r in w]
        assert len(flat) == len(set(flat))  # non-overlapping
        assert len(rows) == 150 // 24 and rows[0][0] == 1000 - 24 * (150 // 24)
    assert target_rows(series, "test", 13, 24, 24) == target_rows(series, "test", 156, 24, 24)


def test_baselines_are_computed_on_the_trials_targets_and_do_not_depend_on_the_lookback():
    t = np.arange(2000)
    series = series_of(10 + np.sin(2 * math.pi * t / 24) + 0.01 * t)
    a = forecast_baselines(series, 30, 6, [24])
    b = forecast_baselines(series, 200, 6, [24])
    assert a == b
    _, y = windows(series, "val", 13, 6)
    naive = series.values[np.arange(1400, 1400 + len(y)) - 1, 0]  # the row before each origin
    truth = y[:, :, 0].numpy()
    assert a["baseline_naive_val_mae"] == pytest.approx(float(np.abs(truth - naive[:, None]).mean()), rel=1e-5)


def test_the_study_records_which_targets_are_scored(tmp_path):
    series = rows_series()
    attrs = series.baseline_attrs(156, {"horizon": 24, "season": None}, "mae")
    assert attrs["targets_val"] == {"windows": 150 - 23, "points": 150, "first_origin": 700, "last_origin": 826}
    assert attrs["targets_test"]["first_origin"] == 850 and attrs["targets_test"]["last_origin"] == 976
    spaced = series.baseline_attrs(156, {"horizon": 24, "season": None, "eval_origins": "horizon"}, "mae")
    assert spaced["targets_test"] == {"windows": 6, "points": 144, "first_origin": 856, "last_origin": 976}
    assert spaced["eval_origins"] == "horizon"


# -- seasons


def _two_seasons(n: int, day: int, week: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    weekend = (t % week >= 5 * week // 7) * -1.5  # the last two "days" of each week run lower
    return 3 * np.sin(2 * math.pi * t / day) + weekend + 0.5 * rng.normal(size=n) + 0.001 * t


@pytest.mark.parametrize("day, week, n", [(12, 84, 5000), (48, 336, 20000)])
def test_two_seasons_are_both_found(day, week, n):
    assert detect_seasons(series_of(_two_seasons(n, day, week))) == [day, week]


def test_one_season_and_none():
    rng = np.random.default_rng(1)
    t = np.arange(600)
    assert detect_seasons(series_of(10 * np.sin(2 * math.pi * t / 12) + rng.normal(size=600) + 0.05 * t)) == [12]
    assert detect_seasons(series_of(rng.normal(size=3000))) == []
    assert detect_seasons(series_of(np.cumsum(rng.normal(size=3000)))) == []  # a random walk


def test_daily_and_weekly_seasons_are_found_under_years_of_wandering():
    """Seven years of hourly load: daily and weekly cycles under a yearly one and a random
    walk. The detrended autocorrelation stays above zero for hundreds of lags; before, only
    the weekly cycle's echoes after that were found (840, 1008, ... 7224)."""
    rng = np.random.default_rng(8)
    t = np.arange(60000)
    y = (200 * np.sin(2 * math.pi * t / 24) + 100 * np.sin(2 * math.pi * t / 168) + 150 * np.sin(2 * math.pi * t / 8766)
         + np.cumsum(rng.normal(0, 3, len(t))) + rng.normal(0, 30, len(t)))  # fmt: skip
    assert detect_seasons(series_of(y)) == [24, 168]
    # what wanders alone has no season, however slowly its autocorrelation falls
    ar = np.zeros(5000)
    for i in range(1, len(ar)):
        ar[i] = 0.99 * ar[i - 1] + rng.normal()
    assert detect_seasons(series_of(ar)) == [] and detect_seasons(series_of(np.cumsum(rng.normal(size=20000)))) == []


def test_the_season_best_on_validation_wins_not_the_strongest_autocorrelation():
    # a strong 10-step cycle, a weak 50-step one and a slowly wandering level: lag 10 has the
    # higher autocorrelation, but repeating the value 50 steps back forecasts better
    from search.worker.baselines import _train_acf

    rng = np.random.default_rng(0)
    t = np.arange(3000)
    y = 5 * np.sin(2 * math.pi * t / 10) + 0.5 * np.sin(2 * math.pi * t / 50) + np.cumsum(rng.normal(0, 0.05, len(t)))
    series = series_of(y)
    acf = _train_acf(series, None)
    assert acf[10 - 1] > acf[50 - 1]
    attrs = forecast_baselines(series, 60, 1, [10, 50], metric="rmse")
    assert attrs["baseline_snaive_s50_val_rmse"] < attrs["baseline_snaive_s10_val_rmse"]
    assert attrs["seasonal_naive_season"] == 50
    assert attrs["baseline_seasonal_naive_test_rmse"] == attrs["baseline_snaive_s50_test_rmse"]  # applied to the test part


def test_the_compare_line_names_the_season():
    attrs = {"baseline_seasonal_naive_test_mae": 500.0, "baseline_naive_test_mae": 800.0, "seasonal_naive_season": 336}
    assert compare_line("mae", 455.0, attrs, "test") == "test mae 455 (0.91x seasonal naive (s=336), 0.57x naive)"


def test_a_space_takes_several_seasons(tmp_path):
    from tests.conftest import write_series

    path = write_series(tmp_path / "s.csv", 400)
    space = tmp_path / "s.yaml"
    space.write_text(
        f"model: {{family: lstm, layer_sizes: '8'}}\n"
        f"data: {{path: {path.name}, time_column: t, target: y, lookback: 30, horizon: 2, season: [50, 25], eval_origins: horizon}}\n"
    )
    loaded = load_space(space)
    assert loaded.data["season"] == (25, 50) and loaded.data["eval_origins"] == "horizon"
    from search.driver.prepare import prepare

    attrs = prepare(space).baselines()
    assert attrs["seasons"] == [25, 50] and attrs["seasonal_naive_season"] in (25, 50)
    assert "baseline_snaive_s25_val_rmse" in attrs and "baseline_snaive_s50_test_mae" in attrs


def test_a_study_scored_the_old_way_refuses_to_resume_naming_the_scoring(tmp_path):
    from tests.conftest import write_series

    path = write_series(tmp_path / "s.csv", 400)
    space = tmp_path / "s.yaml"
    space.write_text(f"model: {{family: lstm, layer_sizes: '8'}}\ndata: {{path: {path.name}, time_column: t, target: y}}\n")
    new = compile_space(load_space(space)).content()
    old = {k: v for k, v in new.items() if k != "scoring"}  # what studies made before recorded
    assert "scoring: validation and test windows inside their part" in describe_change(old, new)
    assert describe_change(new, new) == "nothing that decides a trial"


# -- statistical baselines


def test_statistical_baselines_forecast_the_trials_targets():
    from search.worker.stat_baselines import stat_baselines

    # a ramp: AutoETS's additive trend continues it exactly, but only from the right origins
    ramp = rows_series(600, split=(400, 500))
    attrs = stat_baselines(ramp, 6, 1, [], 120)
    assert attrs["baseline_autoets_val_mae"] == pytest.approx(0, abs=1e-3)
    assert attrs["baseline_autoets_test_mae"] == pytest.approx(0, abs=1e-3)
    assert attrs["stat_baselines_note"] == "MSTL: no season"  # MSTL needs a season
    assert "baseline_autotheta_test_mae" in attrs and attrs["baseline_autoets_seconds"] > 0
    # a pure cycle with a trend: MSTL with the season beats the naive forecast by far
    t = np.arange(600)
    cycle = series_of(10 + 3 * np.sin(2 * math.pi * t / 12) + 0.02 * t)
    attrs = stat_baselines(cycle, 3, 3, [12], 120)
    naive = forecast_baselines(cycle, 30, 3, [12], step=3)
    assert attrs["baseline_mstl_test_mae"] < 0.25 * naive["baseline_naive_test_mae"]
    assert "stat_baselines_note" not in attrs


def test_the_cheap_mstl_forecasts_the_same_origins_as_statsforecasts_mstl_at_each_refit():
    from statsforecast.models import MSTL, AutoETS

    from search.worker import stat_baselines as sb

    t = np.arange(900)
    y = 10 + np.sin(2 * math.pi * t / 12) + 0.5 * np.sin(2 * math.pi * t / 36) + 0.01 * t + np.random.default_rng(1).normal(0, 0.1, 900)
    horizon, step, n_windows, seasons = 6, 1, 40, [12, 36]
    pred = sb.forecast_mstl(y[:, None], n_windows, horizon, step, seasons)
    assert pred.shape == (n_windows, horizon, 1)
    every, rows = sb.refit_every(seasons, step), sb.history_rows(seasons)
    origins = [len(y) - horizon - (n_windows - 1 - i) * step for i in range(n_windows)]
    for i in range(0, n_windows, every):  # a decomposition at these origins: statsforecast's own MSTL on the same rows
        o = origins[i]
        own = MSTL(season_length=seasons, trend_forecaster=AutoETS(model="ZZN")).fit(y[o - rows : o]).predict(h=horizon)["mean"]
        np.testing.assert_allclose(pred[i, :, 0], own, rtol=1e-6)
    truth = np.stack([y[o : o + horizon] for o in origins])
    naive = np.stack([np.repeat(y[o - 1], horizon) for o in origins])
    assert np.abs(pred[:, :, 0] - truth).mean() < 0.5 * np.abs(naive - truth).mean()  # between refits too
    assert sb.stat_baselines(series_of(y), 6, 1, [12], 0) == {}  # 0 = off


def test_mstl_decomposes_a_long_part_a_bounded_number_of_times(monkeypatch):
    import statsforecast.mstl

    from search.worker import stat_baselines as sb

    assert sb.refit_every([24, 168], 24, 8999) == 90 and sb.refit_every([24, 168], 24) == 24  # 100 at most over 9,000 rows
    calls = []
    real = statsforecast.mstl.mstl
    monkeypatch.setattr(statsforecast.mstl, "mstl", lambda *a, **k: calls.append(1) or real(*a, **k))
    monkeypatch.setattr(sb, "MAX_REFITS", 10)
    t = np.arange(4000)
    y = 10 + np.sin(2 * math.pi * t / 24) + np.random.default_rng(2).normal(0, 0.1, len(t))
    pred = sb.forecast_mstl(y[:, None], 1000, 24, 1, [24])  # 1,000 origins: a decomposition every 3 rows unbounded
    assert pred.shape == (1000, 24, 1) and len(calls) == 10
    truth = np.stack([y[o : o + 24] for o in range(4000 - 24 - 999, 4000 - 23)])
    assert np.abs(pred[:, :, 0] - truth).mean() < 0.2  # the noise's own mean error is 0.08


def test_the_compare_line_puts_the_best_statistical_baseline_first():
    attrs = {
        "baseline_seasonal_naive_test_mae": 500.0, "baseline_naive_test_mae": 800.0, "seasonal_naive_season": 52,
        "baseline_mstl_test_mae": 250.0, "baseline_autoets_test_mae": 300.0, "baseline_autotheta_test_mae": 400.0,
    }
    assert compare_line("mae", 227.5, attrs, "test") == "test mae 227.5 (0.91x MSTL, 0.46x seasonal naive (s=52), 0.28x naive)"


# -- reference: seasonal


def test_the_seasonal_reference_adds_the_seasonal_naive_forecast():
    from models.reference import SeasonalReference
    from search.worker.baselines import _predictions

    class Zero(torch.nn.Module):
        def forward(self, x):
            return x.new_zeros(x.shape[0], 10, 1)

    x = torch.randn(5, 30, 2)  # (B, L, F): a target and a covariate
    for season in (4, 7, 12):
        wrapped = SeasonalReference(Zero(), 1, season)
        torch.testing.assert_close(wrapped(x), _predictions(x, 10, 1, season))


def _seasonal_space(tmp_path, data: str) -> object:
    from tests.conftest import write_series

    write_series(tmp_path / "s.csv", 400)  # a 25-step cycle
    space = tmp_path / "s.yaml"
    space.write_text(f"model: {{family: lstm, layer_sizes: '8'}}\ndata: {{path: s.csv, time_column: t, target: y, horizon: 3, {data}}}\ntrain: {{epochs: 2}}\n")
    return space


def test_reference_seasonal_trains_predicts_and_round_trips(tmp_path):
    import pandas as pd

    from search.driver.prepare import prepare
    from search.results.forecaster import unpack
    from search.worker.train import run_trial

    prep = prepare(_seasonal_space(tmp_path, "lookback: 30, reference: {choices: [last, seasonal]}, time_features: none"))
    assert prep.series.season == 25
    assert prep.compiled.distributions["reference"].choices == ("last", "seasonal")  # searchable
    config = prep.compiled.trial_config({"reference": "seasonal"})
    reports = []
    run_trial(config, prep.series, "rmse", reports.append, with_checkpoint=True)
    final = reports[-1]
    assert "error" not in final and math.isfinite(final["test_rmse"])
    forecaster = unpack(final["checkpoint"])
    assert forecaster.payload["reference_season"] == 25
    frame = pd.read_csv(tmp_path / "s.csv")
    frame.loc[len(frame) - 3 :, "y"] = np.nan  # the last test window's targets: unknown to predict
    x, _ = prep.series.windows("test", 30, 3)  # its window reaches over the horizon (the seasonal lag columns)
    wrapped = prep.series.wrap(forecaster.model, config["data"]).eval()
    with torch.no_grad():
        expected = prep.series.unscale_targets(wrapped(x[-1:]))[0].numpy()
    np.testing.assert_allclose(forecaster.predict(frame), expected, rtol=1e-5)


def test_reference_seasonal_needs_a_season_but_not_a_lookback_that_holds_it(tmp_path):
    from search.driver.prepare import prepare
    from search.errors import DataError

    prep = prepare(_seasonal_space(tmp_path, "lookback: {type: int, low: 10, high: 40}, reference: seasonal"))
    assert prep.series.season == 25  # the history before the lookback holds it (search.worker.ref_columns)
    noise = tmp_path / "noise"
    noise.mkdir()
    rng = np.random.default_rng(0)
    (noise / "s.csv").write_text("t,y\n" + "".join(f"{i},{v:.4f}\n" for i, v in enumerate(rng.normal(size=400))))
    (noise / "s.yaml").write_text("model: {family: lstm, layer_sizes: '8'}\ndata: {path: s.csv, time_column: t, target: y, lookback: 30, reference: seasonal}\n")
    with pytest.raises(DataError, match="data.reference: seasonal needs a season, and none stands out"):
        prepare(noise / "s.yaml")
