"""References that follow the series: ``reference: seasonal`` and ``mstl`` read the history
before the lookback (``search.worker.ref_columns``), never a value at or after the origin."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch

from search.driver.prepare import prepare
from search.worker import ref_columns
from tests.conftest import write_series

HORIZON = 3


class Zero(torch.nn.Module):
    """A core model that forecasts no change: the wrapped forecast is the reference alone."""

    def forward(self, x, future=None):
        return x.new_zeros(x.shape[0], HORIZON, 1)


def _space(tmp_path, data: str, rows: int = 400):
    write_series(tmp_path / "s.csv", rows)  # a 25-step cycle
    space = tmp_path / "s.yaml"
    space.write_text(
        "model: {family: lstm, layer_sizes: '8'}\n"
        f"data: {{path: s.csv, time_column: t, target: y, horizon: {HORIZON}, stat_baselines_seconds: 0, {data}}}\n"
        "train: {epochs: 2}\n"
    )
    return space


def _reference(prep, reference: str, lookback: int, part: str = "val") -> np.ndarray:
    """The wrapped zero model's forecasts (N, H) of a part's windows, in the data's units."""
    series = prep.series
    x, _ = series.windows(part, lookback, HORIZON)
    wrapped = series.wrap(Zero(), {"reference": reference, "lookback": lookback}).eval()
    with torch.no_grad():
        return series.unscale_targets(wrapped(x))[..., 0].numpy()


def test_short_lookbacks_are_accepted_with_reference_seasonal_and_read_the_season_before_them(tmp_path):
    from search.results.forecaster import unpack
    from search.worker.train import run_trial

    prep = prepare(_space(tmp_path, "lookback: {type: int, low: 5, high: 40}, reference: {choices: [last, seasonal]}"))
    assert prep.series.season == 25  # longer than the shortest lookback: no longer refused
    y = pd.read_csv(tmp_path / "s.csv")["y"].to_numpy()
    start, end = prep.series.part("val")
    origins = np.arange(start, end - HORIZON + 1)
    steps = np.arange(1, HORIZON + 1)
    naive = y[origins[:, None] + steps - 1 - 25 * np.ceil(steps / 25).astype(int)]  # target row o + h - 1: the seasonal naive of the whole history
    for lookback in (5, 40):
        np.testing.assert_allclose(_reference(prep, "seasonal", lookback), naive, rtol=1e-5)
    config = prep.compiled.trial_config({"reference": "seasonal", "lookback": 5})
    reports = []
    run_trial(config, prep.series, "rmse", reports.append, with_checkpoint=True)
    assert "error" not in reports[-1], reports[-1].get("traceback")
    assert math.isfinite(reports[-1]["test_rmse"])
    forecaster = unpack(reports[-1]["checkpoint"])
    x, _ = prep.series.windows("test", 5, HORIZON)
    with torch.no_grad():
        expected = prep.series.unscale_targets(prep.series.wrap(forecaster.model, config["data"]).eval()(x[-1:]))[0].numpy()
    frame = pd.read_csv(tmp_path / "s.csv")
    frame = pd.concat([frame.iloc[:-HORIZON], frame.iloc[-HORIZON:].assign(y=np.nan)])  # the last window: its targets unknown
    np.testing.assert_allclose(forecaster.predict(frame), expected, rtol=1e-4, atol=1e-4)  # predict builds the same columns


@pytest.mark.parametrize("reference", ["seasonal", "mstl"])
def test_the_reference_at_an_origin_depends_only_on_the_data_before_it(tmp_path, reference):
    space = _space(tmp_path, "lookback: 10, season: 25, reference: {choices: [seasonal, mstl]}", rows=600)
    prep = prepare(space)
    before = _reference(prep, reference, 10)  # every validation origin's reference forecast
    start, end = prep.series.part("val")
    frame = pd.read_csv(tmp_path / "s.csv")
    k = (end - start) // 2  # perturb every row from the validation origin k on
    frame.loc[start + k :, "y"] += np.random.default_rng(0).normal(0, 5, len(frame) - start - k)
    frame.to_csv(tmp_path / "s.csv", index=False)
    after = _reference(prepare(space), reference, 10)
    np.testing.assert_array_equal(after[: k + 1], before[: k + 1])  # origins up to the change: unchanged
    assert not np.allclose(after[k + HORIZON :], before[k + HORIZON :])  # later ones read the new rows


def test_the_columns_read_nothing_within_a_horizon_of_a_row():
    rng = np.random.default_rng(1)
    y = 5 + np.sin(np.arange(2000) * 2 * np.pi / 24) + rng.normal(0, 0.2, 2000)
    for horizon in (1, 24, 30):
        profile = ref_columns.refreshed_profile(y, [24, 168], horizon)
        lags = ref_columns.seasonal_lags(y, 24, horizon)
        for cut in (400, 1200):
            moved = y.copy()
            moved[cut:] += rng.normal(0, 3, len(y) - cut)
            np.testing.assert_array_equal(ref_columns.refreshed_profile(moved, [24, 168], horizon)[: cut + horizon], profile[: cut + horizon])
            again = ref_columns.seasonal_lags(moved, 24, horizon)
            for k in range(lags.shape[1]):  # lag k+1 at row t reads y[t - (k+1) 24]
                np.testing.assert_array_equal(again[: cut + 24 * (k + 1), k], lags[: cut + 24 * (k + 1), k])


def test_the_refreshed_profile_follows_a_daily_shape_that_changes():
    t = np.arange(24 * 200)
    amplitude = np.linspace(1, 5, len(t))  # the daily swing grows through the series
    y = 100 + 0.01 * t + amplitude * np.sin(2 * np.pi * t / 24)
    profile = ref_columns.refreshed_profile(y, [24], 24)
    for day in (20, 100, 190):
        rows = slice(24 * day, 24 * (day + 1))
        assert np.ptp(profile[rows]) == pytest.approx(np.ptp(amplitude[rows] * np.sin(2 * np.pi * t[rows] / 24)), rel=0.1)
