"""A forecasting trial's intervals: calibrated on its validation part, scored on its test part on
exactly the point forecast's targets, recorded in its final result and its checkpoint; the
quantile head of every family; interval objectives."""

from __future__ import annotations

import math
import textwrap

import numpy as np
import pytest
import torch

import models
from search.space import compile_space, load_space
from search.worker import intervals
from search.worker.data import windows
from search.worker.load import load_series
from search.worker.metrics import regression_metrics
from search.worker.origins import eval_step
from search.worker.train import run_trial
from search.worker.uncertainty import PinballLoss
from tests.conftest import write_series
from tests.search.test_data_series import PANEL_SPACE, write_panel

SPACE = """
model: {family: lstm, layer_sizes: "8"}
data:
  path: series.csv
  time_column: t
  target: y
  lookback: 8
  horizon: 3
  eval_origins: EVAL
train: {epochs: 3, batch_size: 64, lr: 0.005}
"""


def _trial(tmp_path, text=SPACE, eval_origins="every", metric="rmse", objectives=(), data=None, **train):
    write_series(tmp_path / "series.csv")
    path = tmp_path / "space.yaml"
    path.write_text(textwrap.dedent(text).replace("EVAL", eval_origins))
    compiled = compile_space(load_space(path))
    config = compiled.trial_config({})
    config["train"].update(train)
    config["data"].update(data or {})
    series = load_series(compiled.space.data)
    reports: list[dict] = []
    run_trial(config, series, metric, reports.append, with_checkpoint=True, objectives=objectives)
    final = reports[-1]
    assert "error" not in final, final.get("traceback")
    return config, series, reports


def _served(final, config, series):
    """The trial's model from its checkpoint, wrapped as training wraps it, and its calibration."""
    from search.results.forecaster import read_header, unpack

    header = read_header(final["checkpoint"])
    model = series.wrap(unpack(final["checkpoint"]).model, config["data"]).eval()
    return model, intervals.calibration_from_json(header["intervals"])


@pytest.mark.parametrize("eval_origins", ["every", "horizon"])
def test_coverage_is_scored_on_exactly_the_point_forecasts_targets(tmp_path, eval_origins):
    """Rebuild the best model from the checkpoint, cut the test windows the point metrics are
    scored on, apply the stored calibration: the same points give the same coverage, width and
    point error as the trial recorded."""
    config, series, reports = _trial(tmp_path, eval_origins=eval_origins)
    final = reports[-1]
    model, calibration = _served(final, config, series)
    data = config["data"]
    x, y = windows(series, "test", data["lookback"], data["horizon"], eval_step(data))
    assert len(y) == series.scored_targets("test", data["horizon"], eval_step(data))["windows"]
    with torch.no_grad():
        point = series.unscale_targets(model(x[:]).float()).double().numpy()  # (N, H, T)
    truth = series.unscale_targets(y).double().numpy()
    assert regression_metrics(torch.from_numpy(point), torch.from_numpy(truth))["mae"] == pytest.approx(final["test_mae"], rel=1e-5)
    lo, hi = calibration.bounds(point, point)
    for i, level in enumerate((80, 95)):
        inside = (truth >= lo[i]) & (truth <= hi[i])
        assert inside.size == len(y) * data["horizon"] * series.n_targets  # every scored point, no other
        assert final[f"test_coverage_{level}"] == pytest.approx(inside.mean() * 100, abs=1e-6)
        assert final[f"test_width_{level}"] == pytest.approx(float((hi[i] - lo[i]).mean()), rel=1e-6)
        assert math.isfinite(final[f"test_msis_{level}"]) and final[f"test_interval_score_{level}"] >= final[f"test_width_{level}"]
    assert final["test_interval_score"] == pytest.approx((final["test_interval_score_80"] + final["test_interval_score_95"]) / 2)
    assert final["interval_method"] == "symmetric" and final["interval_windows"] == final_windows(series, data, "val")
    assert final["test_width_95"] > final["test_width_80"] > 0
    assert "test_crps" in final and "test_quantile_crps" not in final


def final_windows(series, data, part):
    return series.scored_targets(part, data["horizon"], eval_step(data))["windows"]


def test_levels_and_method_come_from_the_space(tmp_path):
    _, _, reports = _trial(tmp_path, data={"levels": (50, 90, 99), "interval_method": "signed"})
    final = reports[-1]
    assert final["interval_method"] == "signed"
    for level in (50, 90, 99):
        assert 0 <= final[f"test_coverage_{level}"] <= 100
    assert "test_coverage_80" not in final
    assert final["test_width_50"] < final["test_width_90"] < final["test_width_99"]


def test_several_series_are_calibrated_each_on_its_own(tmp_path):
    write_panel(tmp_path / "p.csv")
    path = tmp_path / "panel.yaml"
    path.write_text(textwrap.dedent(PANEL_SPACE))
    compiled = compile_space(load_space(path))
    config, series = compiled.trial_config({}), load_series(compiled.space.data)
    reports: list[dict] = []
    run_trial(config, series, "rmse", reports.append, with_checkpoint=True)
    final = reports[-1]
    assert "error" not in final, final.get("traceback")
    from search.results.forecaster import read_header

    calibration = intervals.calibration_from_json(read_header(final["checkpoint"])["intervals"])
    assert calibration.scales is not None and calibration.scales.shape == (3, 1)
    val = [len(range(*part)) for part in series.parts("val")]  # validation windows of each series (horizon 1)
    assert val[0] < intervals.MIN_WINDOWS and val[1] < intervals.MIN_WINDOWS <= val[2]
    assert set(calibration.own) == {2}  # c calibrates on its own; a and b borrow the pooled, scale-free band
    point = np.zeros((3, 1, 1))
    lo, hi = calibration.bounds(point, point, np.array([0, 1, 2]))
    width = (hi - lo)[0, :, 0, 0]  # the 80 % band of each series
    scales = calibration.scales[:, 0]
    assert width[0] / width[1] == pytest.approx(scales[0] / scales[1], rel=1e-6)  # the pooled band in each one's units
    assert 0 <= final["test_coverage_80"] <= 100 and math.isfinite(final["test_msis"])


# -- the quantile head


@pytest.mark.parametrize("family", models.FAMILIES)
def test_quantiles_never_cross_and_the_point_is_the_middle_one(family):
    torch.manual_seed(0)
    taus = (0.05, 0.25, 0.5, 0.75, 0.95)
    model = models.build(family, n_features=2, horizon=4, n_targets=2, lookback=12, quantiles=taus)
    for p in model.parameters():  # wild weights: crossing would show if anything allowed it
        torch.nn.init.normal_(p, std=3.0)
    wrapped = models.LastValueReference(model, 2).eval()  # no dropout: two passes must agree
    x = torch.randn(64, 12, 2) * 10
    with torch.no_grad(), models.quantile_outputs(wrapped):
        every = wrapped(x)
    assert every.shape == (64, 4, 2, 5)
    assert torch.all(every.diff(dim=-1) >= 0)  # never crossing (an increment may underflow to a tie)
    with torch.no_grad():
        point = wrapped(x)
    assert point.shape == (64, 4, 2)
    torch.testing.assert_close(point, every[..., 2])


@pytest.mark.parametrize("quantiles", [(0.9, 0.1), (0.5, 0.5), (0.0, 0.5), (0.5, 1.2)])
def test_a_quantile_head_refuses_bad_quantiles(quantiles):
    with pytest.raises(models.ModelParamError, match=r"quantiles.*increasing probabilities in \(0, 1\)"):
        models.build("lstm", n_features=1, horizon=1, n_targets=1, quantiles=quantiles)


def test_the_pinball_loss_by_hand():
    loss = PinballLoss((0.1, 0.9))
    pred = torch.tensor([[[[0.0, 2.0]]]])  # (1, 1, 1, 2)
    target = torch.tensor([[[1.0]]])
    # tau 0.1: y above q by 1 -> 0.1; tau 0.9: y below q by 1 -> 0.1
    assert float(loss(pred, target)) == pytest.approx(0.1)
    with pytest.raises(ValueError, match="quantile_outputs"):
        loss(pred[..., 0], target)


@pytest.mark.parametrize("family", models.FAMILIES)
def test_each_family_trains_a_quantile_head(tmp_path, family):
    text = SPACE.replace("family: lstm, layer_sizes: \"8\"", f"family: {family}")
    config, series, reports = _trial(tmp_path, text, loss="quantile", quantiles=(0.1, 0.5, 0.9))
    final = reports[-1]
    assert final["interval_method"] == "cqr"
    assert math.isfinite(final["test_quantile_crps"]) and math.isfinite(final["test_crps"])
    assert all(math.isfinite(r["train_loss"]) for r in reports)
    # served as a point forecaster: the checkpoint builds the head and forecasts its median
    model, calibration = _served(final, config, series)
    x, y = windows(series, "test", 8, 3)
    with torch.no_grad():
        point = model(x[:])
        with models.quantile_outputs(model):
            every = model(x[:])
    assert point.shape == y.shape and every.shape == (*y.shape, 3)
    assert torch.all(every.diff(dim=-1) > 0)
    assert calibration.method == "cqr"


def test_a_searched_quantile_set_reaches_the_head(tmp_path):
    _, _, reports = _trial(tmp_path, loss="quantile", quantiles="0.05,0.25,0.5,0.75,0.95")
    assert math.isfinite(reports[-1]["test_quantile_crps"])


# -- interval objectives


@pytest.mark.parametrize("metric", ["interval_score", "crps"])
def test_an_interval_objective_is_reported_every_epoch(tmp_path, metric):
    _, _, reports = _trial(tmp_path, metric=metric)
    assert all(r["objective"] == r[f"val_{metric}"] and math.isfinite(r["objective"]) for r in reports)
    assert reports[-1]["best_objective"] == min(r["objective"] for r in reports)


def test_a_multi_objective_trial_trades_point_error_against_interval_score(tmp_path):
    _, _, reports = _trial(tmp_path, metric="rmse", objectives=("rmse", "interval_score"))
    final = reports[-1]
    best = next(r for r in reports if r["epoch"] == final["best_epoch"])
    assert final["objective_values"] == [best["val_rmse"], best["val_interval_score"]]
