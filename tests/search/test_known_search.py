"""A real search with known-future inputs and reference mstl: Ray, a SQLite study, then
``search.load_best`` and ``search predict`` forecast from its checkpoint."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import search
from search.cli import main
from search.driver.run import run_search
from tests.search.test_known import _demand, _space

pytestmark = pytest.mark.slow


# the keys left to the data (reference, time_features: auto) are written out, so each case tests its own inputs
@pytest.mark.parametrize("keys", [{"time_features": "calendar", "future_features": "[holiday]", "reference": "last"}, {"reference": "mstl", "future_features": "[holiday]", "time_features": "none"}], ids=["time_features", "mstl"])
def test_search_with_known_inputs_forecasts_from_its_checkpoint(ray_local, tmp_path, capsys, keys):
    frame = _demand(tmp_path)
    _space(tmp_path, **keys)
    space = tmp_path / "lstm.yaml"
    url, artifacts = f"sqlite:///{tmp_path}/studies.db", tmp_path / "artifacts"
    summary = run_search(space, trials=3, storage_url=url, quiet=True, artifacts=str(artifacts))
    assert summary.stop_reason is None
    study = search.load_best  # the public entry point
    forecaster = study("lstm", url, artifacts=str(artifacts))
    assert forecaster.payload["known"]["time_features"] == (["hour", "dayofweek"] if keys["time_features"] == "calendar" else [])
    assert forecaster.payload["data"]["reference"] == keys.get("reference", "last")

    given = frame.copy()
    given.loc[len(frame) - 6 :, "load"] = np.nan  # the last 6 rows: the horizon, holiday known
    forecast = forecaster.predict(given)
    assert forecast.shape == (6, 1) and np.isfinite(forecast).all()

    given.to_csv(tmp_path / "input.csv", index=False)
    out = tmp_path / "forecast.csv"
    argv = ["predict", "lstm", "--storage", url, "--artifacts", str(artifacts)]
    assert main([*argv, "--input", str(tmp_path / "input.csv"), "--out", str(out)]) == 0
    np.testing.assert_allclose(pd.read_csv(out)["load"].to_numpy(), forecast[:, 0], rtol=1e-5)
    plot = tmp_path / "forecast.html"
    assert main([*argv, "--input", str(tmp_path / "input.csv"), "--plot", str(plot)]) == 0
    view = forecaster.plot_view(given, {"": forecast})
    assert view["series"][0]["forecast_x"][0] == "2024-01-14 21:00:00"  # after the last row with a target

    frame.iloc[: len(frame) - 6].to_csv(tmp_path / "no_future.csv", index=False)  # no rows for the horizon
    capsys.readouterr()
    assert main([*argv, "--input", str(tmp_path / "no_future.csv")]) == 2
    err = capsys.readouterr().err
    assert "future_features (holiday) over the 6 steps" in err and "Traceback" not in err


def test_a_searched_time_features_through_ray(ray_local, tmp_path):
    """Through Ray: trials sample data.time_features, each trains on its own columns, and the
    best trial's checkpoint records and forecasts from the columns of the choice it took."""
    import optuna

    import storage

    frame = _demand(tmp_path)
    _space(tmp_path, time_features="{choices: [none, auto, season]}")
    url, artifacts = f"sqlite:///{tmp_path}/studies.db", tmp_path / "artifacts"
    summary = run_search(tmp_path / "lstm.yaml", trials=4, storage_url=url, quiet=True, artifacts=str(artifacts))
    assert summary.stop_reason is None
    study = optuna.load_study(study_name="lstm", storage=storage.open_storage(url, heartbeat_interval=None, grace_period=None))
    finished = [t for t in study.trials if t.state.is_finished()]
    assert len(finished) == 4 and all(t.params["time_features"] in ("none", "auto", "season") for t in finished)
    assert all(t.state == optuna.trial.TrialState.COMPLETE or t.state == optuna.trial.TrialState.PRUNED for t in finished)
    forecaster = search.load_best("lstm", url, artifacts=str(artifacts))
    choice = study.best_trial.params["time_features"]
    names = {"none": [], "auto": ["hour", "dayofweek"], "season": ["season"]}[choice]
    assert forecaster.payload.get("known", {}).get("time_features", []) == names
    given = frame.copy() if names else frame.iloc[: len(frame) - 6]
    if names:
        given.loc[len(frame) - 6 :, "load"] = np.nan
    forecast = forecaster.predict(given)
    assert forecast.shape == (6, 1) and np.isfinite(forecast).all()
