"""Checkpoints: the best epoch's model round-trips through bytes and forecasts the same."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from search.results.forecaster import unpack
from search.space import compile_space
from search.worker.data import load_series, windows
from search.space import load_space
from models.reference import LastValueReference
from search.worker.train import run_trial


def test_checkpoint_round_trip_forecasts_like_the_trained_model(tiny_space):
    compiled = compile_space(load_space(tiny_space))
    config = compiled.trial_config({"layer_sizes": "16,8", "lookback": 12, "lr": 0.005})
    series = load_series(compiled.space.data)
    reports = []
    run_trial(config, series, "rmse", reports.append, with_checkpoint=True)
    final = reports[-1]
    assert "checkpoint" in final and not any("checkpoint" in r for r in reports[:-1])
    forecaster = unpack(final["checkpoint"])  # torch.load(weights_only=True) inside
    assert forecaster.lookback == 12 and forecaster.horizon == 1 and forecaster.targets == ["y"]

    # The loaded model reproduces the trial's test metric on the test windows.
    x, y = windows(series, "test", 12, 1)
    model = LastValueReference(forecaster.model, 1).eval()
    with torch.no_grad():
        pred = series.unscale_targets(model(x))
    rmse = float(((pred - series.unscale_targets(y)) ** 2).mean().sqrt())
    assert rmse == pytest.approx(final["test_rmse"], rel=1e-4)

    # predict() on the raw frame forecasts after its last row, in the data's own units
    frame = pd.read_csv(tiny_space.parent / "series.csv")
    forecast = forecaster.predict(frame)
    assert forecast.shape == (1, 1) and np.isfinite(forecast).all()
    last = torch.from_numpy(series.values[-12:])[None]
    with torch.no_grad():
        expected = series.unscale_targets(model(last))[0].numpy()
    np.testing.assert_allclose(forecast, expected, rtol=1e-5)


def test_predict_rejects_missing_columns(tiny_space):
    from search.errors import UsageError

    compiled = compile_space(load_space(tiny_space))
    config = compiled.trial_config({"layer_sizes": "8", "lookback": 8, "lr": 0.005})
    series = load_series(compiled.space.data)
    reports = []
    run_trial(config, series, "rmse", reports.append, with_checkpoint=True)
    with pytest.raises(UsageError, match="column 'y' is missing"):
        unpack(reports[-1]["checkpoint"]).predict(pd.DataFrame({"t": range(20)}))


def test_predict_reads_the_time_column_as_training_did(tiny_space):
    from search.errors import UsageError

    compiled = compile_space(load_space(tiny_space))
    config = compiled.trial_config({"layer_sizes": "8", "lookback": 8, "lr": 0.005})
    series = load_series(compiled.space.data)
    reports = []
    run_trial(config, series, "rmse", reports.append, with_checkpoint=True)
    forecaster = unpack(reports[-1]["checkpoint"])
    frame = pd.read_csv(tiny_space.parent / "series.csv").tail(30)
    dated = frame.assign(t=pd.date_range("2020-01-06", periods=30, freq="D").strftime("%d/%m/%Y"))
    forecaster.payload["data"]["time_format"] = "%d/%m/%Y"
    shuffled = dated.sample(frac=1.0, random_state=0)  # as text, 06/01 < 31/01 < 01/02 would sort wrongly
    np.testing.assert_allclose(forecaster.predict(shuffled), forecaster.predict(dated), rtol=1e-6)
    with pytest.raises(UsageError, match=r"--input: .*row \d+: 'soon' does not match time_format"):
        forecaster.predict(dated.assign(t=["soon"] + list(dated.t[1:])))
