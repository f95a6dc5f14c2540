"""Naive baselines against series with known answers."""

from __future__ import annotations

import math

import numpy as np
import pytest

from search.results.tables import compare_line
from search.worker.baselines import detect_seasons, forecast_baselines
from search.worker.data import SeriesData


def series_of(values: np.ndarray) -> SeriesData:
    values = values.astype(np.float32).reshape(-1, 1)
    n = len(values)
    return SeriesData(values, 1, (int(n * 0.7), int(n * 0.85)), np.zeros(1, np.float32), np.ones(1, np.float32), ("y",))


def test_pure_sine_has_zero_seasonal_naive_error_and_its_period_is_found():
    period = 24
    t = np.arange(2000)
    series = series_of(10 + np.sin(2 * math.pi * t / period))
    assert detect_seasons(series) == [period]
    m = forecast_baselines(series, lookback=30, horizon=6, seasons=[period])
    assert m["baseline_seasonal_naive_val_mae"] == pytest.approx(0, abs=1e-5)
    assert m["baseline_seasonal_naive_test_rmse"] == pytest.approx(0, abs=1e-5)
    assert m["baseline_naive_test_mae"] > 0.1  # repeating the last value misses the cycle


def test_naive_repeats_the_last_value():
    # a ramp: the naive forecast h steps ahead is off by exactly h
    series = series_of(np.arange(300, dtype=float))
    m = forecast_baselines(series, lookback=5, horizon=3, seasons=[])
    assert m["baseline_naive_val_mae"] == pytest.approx((1 + 2 + 3) / 3)
    assert "baseline_seasonal_naive_val_mae" not in m


def test_seasonal_naive_looks_back_whole_seasons_for_long_horizons():
    # horizon longer than the season: step h uses the value m * ceil(h / m) earlier
    period = 4
    series = series_of(np.tile([1.0, 2.0, 3.0, 4.0], 100))
    m = forecast_baselines(series, lookback=8, horizon=10, seasons=[period])
    assert m["baseline_seasonal_naive_test_mae"] == pytest.approx(0, abs=1e-6)


def test_noise_has_no_season():
    series = series_of(np.random.default_rng(0).standard_normal(1000))
    assert detect_seasons(series) == []


def test_compare_line():
    attrs = {"baseline_seasonal_naive_test_mae": 500.0, "baseline_naive_test_mae": 800.0}
    assert compare_line("mae", 400.0, attrs, "test") == "test mae 400 (0.80x seasonal naive, 0.50x naive)"
    assert compare_line("mae", None, attrs, "test") == ""


def test_the_season_is_found_from_every_series_not_only_the_first(tmp_path):
    from search.worker.load import load_series
    from tests.search.test_data import data_cfg

    rng = np.random.default_rng(0)
    rows = ["id,t,y"]
    for name in ("flat", "s1", "s2", "s3"):
        for t in range(400):
            # the first series (in sort order) is noise; the others cycle every 12 steps
            y = rng.normal() if name == "flat" else 5 * math.sin(2 * math.pi * t / 12) + 0.3 * rng.normal()
            rows.append(f"{name},{t},{y:.5f}")
    path = tmp_path / "panel.csv"
    path.write_text("\n".join(rows) + "\n")
    series = load_series(data_cfg(path, series_id="id"))
    assert series.series_names[0] == "flat"
    start, end = series.part("train")
    assert detect_seasons(series_of(series.values[start:end, 0])) == []  # the first series alone
    assert detect_seasons(series) == [12]
