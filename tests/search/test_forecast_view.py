"""The forecast figure's data (search.worker.forecast_view), checked against the model's own
predictions and the baselines' values on small known series."""

from __future__ import annotations

import json
import math
import textwrap

import numpy as np
import pandas as pd
import pytest
import torch

import models
from search.results.forecaster import unpack
from search.space import compile_space, load_space
from search.worker import forecast_view, tasks
from search.worker.baselines import _predictions
from search.worker.load import load_series
from search.worker.train import run_trial
from tests.search.test_data import data_cfg

SEASON = 12


def write_sine(path, n=240, *, series=None, start="2020-01-05", level=50.0, every=pd.Timedelta(weeks=1)):
    """A pure sine of period SEASON plus a level, one row per week (dates), so seasonal naive is exact."""
    rows = []
    for k, name in enumerate(series or [None]):
        for i in range(n):
            y = level + 100 * k + 10 * math.sin(2 * math.pi * i / SEASON)
            stamp = pd.Timestamp(start) + i * every
            when = stamp.date().isoformat() if every % pd.Timedelta(days=1) == pd.Timedelta(0) else stamp.isoformat()
            rows.append(([name] if name else []) + [when, f"{y:.6f}", f"{i % SEASON}"])
    head = (["id"] if series else []) + ["date", "y", "phase"]
    path.write_text(",".join(head) + "\n" + "\n".join(",".join(r) for r in rows) + "\n")
    return path


def sine_series(tmp_path, **cfg):
    series = load_series(data_cfg(write_sine(tmp_path / "sine.csv"), time_column="date", features=("phase",), **cfg))
    series.season = SEASON  # as prepare() chooses it
    return series


def untrained(series, lookback, horizon, reference="last"):
    """A small LSTM with its initial (seeded) weights, wrapped as training wraps it."""
    torch.manual_seed(0)
    core = models.build("lstm", n_features=series.n_features, horizon=horizon, n_targets=1, lookback=lookback, layer_sizes="8")
    return series.wrap(core, {"reference": reference}).eval()


def test_keep_indices_thin_evenly_and_keep_both_ends():
    assert forecast_view.keep_indices(10, 20).tolist() == list(range(10))
    kept = forecast_view.keep_indices(10_001, 2000)
    assert len(kept) == 2000 and kept[0] == 0 and kept[-1] == 10_000
    gaps = np.diff(kept)
    assert gaps.min() >= 5 and gaps.max() <= 6 and (gaps > 0).all()


@pytest.mark.parametrize("n_windows, horizon", [(10, 1), (10, 4), (13, 4), (3, 5), (1, 3)])
def test_tiles_draw_every_row_once_from_an_origin_before_it(n_windows, horizon):
    window, step = forecast_view.tiles(n_windows, horizon)
    rows = window + step  # the row (relative to the first target) each point draws
    assert rows.tolist() == list(range(n_windows + horizon - 1))
    assert ((0 <= step) & (step < horizon)).all() and (window < n_windows).all()
    starts = sorted(set(window.tolist()))
    assert starts[: (n_windows - 1) // horizon + 1] == list(range(0, n_windows, horizon))
    assert window[-1] == n_windows - 1, "the last window draws the end"


def test_naive_forecasts_follow_the_baselines_rule():
    """The same rule as search.worker.baselines on windows, read from the series' rows."""
    raw = np.arange(100, dtype=np.float64) ** 1.5
    lookback, horizon, season = 30, 7, 4
    x = torch.from_numpy(np.lib.stride_tricks.sliding_window_view(raw, lookback)[:50].copy())[:, :, None]  # (N, L, 1)
    origin = np.arange(50) + lookback - 1
    for m in (None, season):
        expected = _predictions(x, horizon, 1, m)[:, :, 0].numpy()
        np.testing.assert_allclose(forecast_view.naive_forecasts(raw, origin, horizon, m), expected)
    early = forecast_view.naive_forecasts(raw, np.array([1]), 3, 5)
    assert np.isnan(early).all(), "a season back before the first row is no forecast"


def test_the_view_holds_the_models_own_forecasts_and_exact_seasonal_naive(tmp_path):
    series = sine_series(tmp_path)
    lookback, horizon = 8, 3  # shorter than the season: seasonal naive reads the rows before the window
    model = untrained(series, lookback, horizon)
    view = series.forecast_view(model, {"lookback": lookback, "horizon": horizon, "time_column": "date"}, "cpu")
    json.dumps(view, allow_nan=False)
    assert view["task"] == "forecast" and view["target"] == "y" and view["x_title"] == "date" and view["series_total"] == 1
    (panel,) = view["series"]

    x, y = series.windows("test", lookback, horizon)
    with torch.no_grad():
        pred = series.unscale_targets(model(x))[:, :, 0].double().numpy()  # (N, H)
    truth = series.unscale_targets(y)[:, :, 0].double().numpy()
    assert panel["windows"] == len(pred) and panel["points"] == len(pred) + horizon - 1 == len(panel["x"])
    assert panel["points"] == len(range(*series.part("test")))  # every test row is a target
    window, step = np.array(panel["path"]), np.array(panel["step"]) - 1
    np.testing.assert_allclose(panel["forecasts"]["model"], pred[window, step], rtol=1e-6)
    np.testing.assert_allclose(panel["actual"], truth[window, step], rtol=1e-6)
    # the model's metrics are over every window, as the trial's test metrics are
    assert view["metrics"]["model"]["mae"] == pytest.approx(np.abs(pred - truth).mean(), rel=1e-6)
    assert view["metrics"]["model"]["rmse"] == pytest.approx(math.sqrt(((pred - truth) ** 2).mean()), rel=1e-6)
    np.testing.assert_allclose(view["error_by_step"]["model"], np.abs(pred - truth).mean(axis=0), rtol=1e-6)
    # a pure sine of the known season: seasonal naive is exact, naive is not
    assert view["metrics"]["seasonal_naive"]["mae"] == pytest.approx(0, abs=1e-4)
    np.testing.assert_allclose(panel["forecasts"]["seasonal_naive"], panel["actual"], atol=1e-4)
    assert view["metrics"]["naive"]["mae"] > 1
    naive = truth[:, :1] * 0 + series.unscale_targets(x[:, -1:, :1])[:, 0, 0].double().numpy()[:, None]  # origin's value
    assert view["metrics"]["naive"]["mae"] == pytest.approx(np.abs(naive - truth).mean(), rel=1e-6)
    # time labels: the dates of the rows drawn, the last test row last
    dates = pd.read_csv(tmp_path / "sine.csv")["date"]
    assert panel["x"][0] == f"{dates.iloc[series.part('test')[0]]} 00:00:00"
    assert panel["x"][-1] == f"{dates.iloc[-1]} 00:00:00"


def test_without_a_season_there_is_no_seasonal_naive(tmp_path):
    series = load_series(data_cfg(write_sine(tmp_path / "sine.csv"), time_column=None))
    view = series.forecast_view(untrained(series, 8, 1), {"lookback": 8, "horizon": 1}, "cpu")
    assert set(view["metrics"]) == {"model", "naive"} and view["season"] is None
    assert view["x_title"] == "row" and view["series"][0]["x"][-1] == len(series.values) - 1


def test_a_long_test_part_is_thinned_without_dropping_its_end(tmp_path):
    path = write_sine(tmp_path / "long.csv", n=30_000, every=pd.Timedelta(hours=1))  # weeks would pass year 2262
    series = load_series(data_cfg(path, time_column="date", split=(0.5, 0.1, 0.4)))
    series.season = SEASON
    lookback, horizon = 6, 2
    view = series.forecast_view(untrained(series, lookback, horizon), {"lookback": lookback, "horizon": horizon}, "cpu")
    (panel,) = view["series"]
    rows = len(range(*series.part("test")))
    assert panel["points"] == rows > forecast_view.MAX_POINTS
    for trace in (panel["x"], panel["actual"], *panel["forecasts"].values()):
        assert len(trace) <= forecast_view.MAX_POINTS
    assert panel["actual"][-1] == pytest.approx(float(pd.read_csv(path)["y"].iloc[-1]), abs=1e-4)
    assert panel["path"][-1] == panel["windows"] - 1 and panel["step"][-1] == horizon
    assert len(json.dumps(view)) < 300_000


def test_several_series_get_a_bounded_number_of_panels_at_their_own_levels(tmp_path):
    names = [f"s{k}" for k in range(8)]
    path = write_sine(tmp_path / "panel.csv", n=120, series=names)
    series = load_series(data_cfg(path, time_column="date", series_id="id", scaler_scope="series"))
    series.season = SEASON
    lookback, horizon = 6, 2
    model = untrained(series, lookback, horizon)
    view = series.forecast_view(model, {"lookback": lookback, "horizon": horizon}, "cpu")
    assert view["series_total"] == 8
    assert [p["name"] for p in view["series"]] == names[: forecast_view.MAX_SERIES]
    for k, panel in enumerate(view["series"]):
        assert abs(np.mean(panel["actual"]) - (50 + 100 * k)) < 5, "each panel at its own series' level"
        assert panel["metrics"]["seasonal_naive"]["mae"] == pytest.approx(0, abs=1e-4)
    # the view's metrics cover every series, the ones not drawn too
    x, y = series.windows("test", lookback, horizon)
    with torch.no_grad():
        pred = series.unscale_targets(model(x[:]), x.series_index)
    truth = series.unscale_targets(y, x.series_index)
    assert view["metrics"]["model"]["mae"] == pytest.approx(float((pred - truth).abs().mean()), rel=1e-5)
    assert view["metrics"]["model"]["count"] == truth.numel()


TINY = """
model: {family: lstm, layer_sizes: "8"}
data: {path: sine.csv, time_column: date, target: y, lookback: 12, horizon: 3}
train: {epochs: 2, batch_size: 32, lr: 0.01}
"""


def test_a_trial_reports_the_view_of_its_best_epoch(tmp_path):
    """run_trial's final result: the view drawn from the best epoch's weights (the checkpoint's)."""
    write_sine(tmp_path / "sine.csv")
    (tmp_path / "s.yaml").write_text(textwrap.dedent(TINY))
    compiled = compile_space(load_space(tmp_path / "s.yaml"))
    config = compiled.trial_config({})
    series = load_series(compiled.space.data)
    series.season = SEASON  # as prepare() chooses it
    reports = []
    run_trial(config, series, "rmse", reports.append, with_checkpoint=True)
    final = reports[-1]
    assert not any("forecast" in r for r in reports[:-1])
    view = json.loads(final["forecast"])
    assert "error" not in view, view.get("error")
    assert view["metrics"]["model"]["mae"] == pytest.approx(final["test_mae"], rel=1e-5)
    assert view["metrics"]["model"]["rmse"] == pytest.approx(final["test_rmse"], rel=1e-5)
    # the checkpoint's model draws the same forecasts
    forecaster = unpack(final["checkpoint"])
    model = series.wrap(forecaster.model, config["data"])
    again = series.forecast_view(model, config["data"], "cpu")
    assert again["series"][0]["forecasts"]["model"] == view["series"][0]["forecasts"]["model"]


def test_a_view_that_cannot_be_built_says_why(tmp_path, monkeypatch):
    from search.worker import train

    series = sine_series(tmp_path)
    monkeypatch.setattr(type(series), "forecast_view", lambda *a, **k: 1 / 0)
    view = json.loads(train._forecast_json(series, None, {}, "cpu", None))
    assert view == {"format": forecast_view.FORMAT, "task": "forecast", "error": "ZeroDivisionError: division by zero"}


def test_classify_view_is_the_confusion_matrix_of_the_test_windows(tmp_path):
    from tests.search.test_task_classify import CLASSIFY_SPACE
    from tests.conftest import write_series

    write_series(tmp_path / "raw.csv", 300)
    frame = pd.read_csv(tmp_path / "raw.csv")
    frame["state"] = np.where(frame["x"] > 0.3, "high", np.where(frame["x"] < -0.3, "low", "mid"))
    frame.to_csv(tmp_path / "sensors.csv", index=False)
    (tmp_path / "c.yaml").write_text(textwrap.dedent(CLASSIFY_SPACE))
    compiled = compile_space(load_space(tmp_path / "c.yaml"))
    config = compiled.trial_config({"layer_sizes": "16", "lookback": 10, "lr": 0.02})
    series = tasks.load_data(compiled.space.data)
    reports = []
    run_trial(config, series, "accuracy", reports.append, direction="maximize", with_checkpoint=True)
    final = reports[-1]
    view = json.loads(final["forecast"])
    assert view["task"] == "classify" and view["classes"] == ["high", "low", "mid"]
    counts = np.array(view["counts"])
    _, y = series.windows("test", 10)
    assert counts.sum() == view["windows"] == len(y)
    assert counts.sum(axis=1).tolist() == np.bincount(y.numpy(), minlength=3).tolist(), "rows: the true classes"
    assert np.trace(counts) / counts.sum() == pytest.approx(final["test_accuracy"])
    with torch.no_grad():
        predicted = unpack(final["checkpoint"]).model.eval()(series.windows("test", 10)[0]).argmax(-1)
    assert counts.sum(axis=0).tolist() == np.bincount(predicted.numpy(), minlength=3).tolist(), "columns: the predicted classes"
    assert view["majority_class"] in view["classes"] and 0 < view["majority_accuracy"] < 1


def test_text_view_is_the_models_greedy_continuation_beside_the_real_text(tmp_path):
    from tests.search.test_task_text import TEXT_SPACE, corpus

    (tmp_path / "corpus.txt").write_text(corpus())
    (tmp_path / "t.yaml").write_text(textwrap.dedent(TEXT_SPACE))
    compiled = compile_space(load_space(tmp_path / "t.yaml", ["train.epochs=1"]))
    config = compiled.trial_config({name: d.choices[0] if hasattr(d, "choices") else d.low for name, d in compiled.distributions.items()})
    series = tasks.load_data(compiled.space.data)
    reports = []
    run_trial(config, series, "perplexity", reports.append, with_checkpoint=True)
    view = json.loads(reports[-1]["forecast"])
    assert view["task"] == "text", view
    start, _ = series.part("test")
    text = corpus()
    lookback = config["data"]["lookback"]
    assert view["prompt"] == text[start : start + lookback]
    assert view["real"] == text[start + lookback : start + lookback + forecast_view.TEXT_CHARS]
    assert len(view["generated"]) == forecast_view.TEXT_CHARS
    assert view["generated"] == unpack(reports[-1]["checkpoint"]).generate(view["prompt"], forecast_view.TEXT_CHARS)
    assert view["matching"] == sum(a == b for a, b in zip(view["generated"], view["real"]))


def test_predict_plot_data_continues_each_series_after_its_last_row(tmp_path):
    """search predict --plot: the input's tail and the forecast after it, per series, at the
    times that follow (numbers here: the time column's step of 1)."""
    from tests.search.test_data_series import LENGTHS, LEVELS, train_panel

    _, final = train_panel(tmp_path)
    forecaster = unpack(final["checkpoint"])
    frame = pd.read_csv(tmp_path / "p.csv")  # shuffled rows of three series
    forecasts = forecaster.predict_series(frame)
    view = forecaster.plot_view(frame, forecasts)
    assert view["task"] == "predict" and view["series_total"] == 3 and view["x_title"] == "t"
    assert view["tail"] == max(4 * forecaster.lookback, 8 * forecaster.horizon) == 24
    for panel in view["series"]:
        rows = frame[frame["id"] == panel["name"]].sort_values("t")
        assert panel["x"] == [float(t) for t in rows["t"].tail(24)]
        assert panel["actual"] == pytest.approx(rows["y"].tail(24).tolist())
        assert panel["forecast_x"] == [float(LENGTHS[panel["name"]])]  # the step after the last t
        assert panel["forecast"] == pytest.approx(forecasts[panel["name"]][:, 0].tolist())
        assert abs(panel["forecast"][0] - LEVELS[panel["name"]]) < 50


def test_predict_plot_data_continues_dates_by_their_step(tmp_path):
    write_sine(tmp_path / "sine.csv")
    (tmp_path / "s.yaml").write_text(textwrap.dedent(TINY))
    compiled = compile_space(load_space(tmp_path / "s.yaml"))
    reports = []
    run_trial(compiled.trial_config({}), load_series(compiled.space.data), "rmse", reports.append, with_checkpoint=True)
    forecaster = unpack(reports[-1]["checkpoint"])
    frame = pd.read_csv(tmp_path / "sine.csv").tail(100)
    view = forecaster.plot_view(frame, forecaster.predict_series(frame))
    (panel,) = view["series"]
    last = pd.Timestamp(frame["date"].iloc[-1])
    assert panel["x"][-1] == str(last) and len(panel["x"]) == 48  # 4 x lookback 12
    assert panel["forecast_x"] == [str(last + pd.Timedelta(weeks=k)) for k in (1, 2, 3)]
    assert panel["forecast"] == pytest.approx(forecaster.predict(frame)[:, 0].tolist())
