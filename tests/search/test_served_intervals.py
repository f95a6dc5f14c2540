"""A real search (Ray, the driver, the study) on series with known noise: the served
forecaster's conformal intervals cover the test targets at their nominal levels, whether the
noise is Gaussian or heavy-tailed (Student-t, 3 degrees of freedom).

Sizes: 8000 rows split 0.4 / 0.3 / 0.3, horizon 2, every origin scored: about 2400 validation
windows calibrate each horizon step and 2400 test windows score it. Over 300 draws of the
noise, a seasonal naive's (unscaled) conformal intervals on these sizes covered the test targets with a
standard deviation of 1.2 (Gaussian) and 1.3 (Student-t) points at 80 %, 0.74 points at 95 %
(the calibration quantile's own spread and the test points' alike; a horizon step's residuals
of neighbouring origins share their targets, so the windows are not independent): the bounds
below, 5 and 3 points, are about four standard deviations wide. The noise is drawn once
with a fixed seed, so a run is repeatable. Five epochs let the networks into what is served (when measured: a combination of the
ensemble of both trials with the naive, on either series), but the intervals' coverage does not
depend on which forecaster is served."""

from __future__ import annotations

import textwrap

import numpy as np
import optuna
import pandas as pd
import pytest

import search
import storage
from search.results import served, served_intervals
from search.study_attrs import flat

pytestmark = pytest.mark.slow

SPACE = """
model:
  family: lstm
  layer_sizes: "16"
  dropout: 0.0
data:
  path: series.csv
  time_column: t
  target: y
  horizon: 2
  season: 12
  lookback: {choices: [12, 24]}
  split: [0.4, 0.3, 0.3]
  stat_baselines_seconds: 0
train:
  epochs: 5
  batch_size: 64
  lr: 0.01
objective: {metric: mae, direction: minimize}
sampler: {name: random, seed: 0}
"""

NOISE = {  # name: (draw n values, its own central 80 % interval's width)
    "gaussian": (lambda rng, n: rng.standard_normal(n), 2 * 1.2816),
    "student_t3": (lambda rng, n: rng.standard_t(3, n), 2 * 1.6377),
}


@pytest.mark.parametrize("noise", sorted(NOISE))
def test_the_served_intervals_cover_at_their_levels(ray_local, tmp_path, noise):
    draw, width_80 = NOISE[noise]
    rng = np.random.default_rng(7)
    i = np.arange(8000)
    y = 20 + 5 * np.sin(2 * np.pi * i / 12) + draw(rng, len(i))
    pd.DataFrame({"t": i, "y": np.round(y, 5)}).to_csv(tmp_path / "series.csv", index=False)
    (tmp_path / "noisy.yaml").write_text(textwrap.dedent(SPACE))
    url = f"sqlite:///{tmp_path}/studies.db"
    search.run(tmp_path / "noisy.yaml", trials=2, storage=url, artifacts=str(tmp_path / "artifacts"), quiet=True)
    study = optuna.load_study(study_name="noisy", storage=storage.open_storage(url, heartbeat_interval=None, grace_period=None))
    value = served.recorded(study)
    assert value is not None
    entry = value["intervals"]
    test = entry["test"]
    # scaled by the forecaster's recent errors (its 19 latest known windows: horizon 2, every
    # origin, 20 rows of targets) and calibrated online: the calibration kept holds every
    # validation window with 10 known windows before it (all but the first 11) and every test window
    val, test_windows = flat(study)["targets_val"]["windows"], flat(study)["targets_test"]["windows"]
    assert entry["scaled"]["windows"] == 19 and val > 2000
    assert entry["calibration"]["windows"] == val - 11 + test_windows
    assert abs(test["coverage_80"] - 80) <= 5, (value["label"], test)
    assert abs(test["coverage_95"] - 95) <= 3, (value["label"], test)
    # honest, not vacuous: no narrower than the noise's own 80 % interval allows (the forecast
    # cannot know the noise), nor so wide that it would cover nearly everything
    assert 0.95 * width_80 <= test["width_80"] <= 2.0 * width_80, test
    assert test["width_95"] > test["width_80"]


def test_a_count_series_bounds_are_not_drawn_below_zero(ray_local, tmp_path, monkeypatch):
    """Daily counts, two days in three zero: a symmetric band around a forecast near 1 reaches
    below zero, where no count can be. The served bounds stop at zero in the test figures, the
    exported forecasts and a forecast of new data; the coverage is the same as without the
    floor (every count is at or above it) and the interval score lower. The point forecasts
    are not below zero either."""
    from search.cli import main

    rng = np.random.default_rng(4)
    i = np.arange(3000)
    y = rng.poisson(0.5 + 0.5 * (i % 7 >= 5)) * rng.integers(1, 4, len(i))
    pd.DataFrame({"t": i, "y": y}).to_csv(tmp_path / "series.csv", index=False)
    (tmp_path / "counts.yaml").write_text(textwrap.dedent(SPACE).replace("season: 12", "season: 7").replace("epochs: 5", "epochs: 2"))
    url, artifacts = f"sqlite:///{tmp_path}/studies.db", str(tmp_path / "artifacts")
    search.run(tmp_path / "counts.yaml", trials=2, storage=url, artifacts=artifacts, quiet=True)
    study = optuna.load_study(study_name="counts", storage=storage.open_storage(url, heartbeat_interval=None, grace_period=None))
    value = served.recorded(study)
    floored = value["intervals"]
    assert floored["scaled"]["floor"] == [0.0]

    out = tmp_path / "forecasts.csv"
    assert main(["export", "counts", "--storage", url, "--forecasts", "--space", str(tmp_path / "counts.yaml"), "--artifacts", artifacts, "--out", str(out)]) == 0
    table = pd.read_csv(out)
    zero = table["y"].min()  # a zero count as the data's (float32) scaler returns it: within 1e-6 of 0
    assert abs(zero) < 1e-6 and (table["served-lo-95"] >= zero).all()
    assert value["floor"] == [pytest.approx(0.0, abs=1e-6)] and (table["served"] >= zero).all()  # nor the point forecasts
    assert (table["served-lo-95"] == zero).mean() > 0.5  # it bites on most windows
    forecast = search.load_best("counts", url, artifacts=artifacts).predict(pd.read_csv(tmp_path / "series.csv"), level=[80, 95])
    assert (forecast["lo-95"] >= 0).all() and (forecast["lo-95"] <= forecast["lo-80"]).all()
    assert (forecast[[c for c in forecast.columns if c not in ("t", "lo-80", "lo-95", "hi-80", "hi-95")]].select_dtypes("number") >= 0).all().all()

    monkeypatch.setattr(served_intervals, "target_floor", lambda series: [None])
    plain = served.choose(study, url, artifacts, str(tmp_path / "counts.yaml"))["intervals"]
    assert "floor" not in plain["scaled"]
    for level in ("80", "95"):
        assert floored["test"][f"coverage_{level}"] == pytest.approx(plain["test"][f"coverage_{level}"], abs=1e-9)
    assert floored["test"]["interval_score"] < 0.9 * plain["test"]["interval_score"], (floored["test"], plain["test"])
