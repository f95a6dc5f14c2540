"""One trial's training, without Ray: reports, final facts, failures, reproducibility."""

from __future__ import annotations

import math
import time

import pytest
import torch

from search.space import compile_space
from search.worker.load import load_series
from search.space import load_space
from search.worker.metrics import regression_metrics
from search.worker.train import run_trial


def trial_config(space_path, **train):
    compiled = compile_space(load_space(space_path))
    params = {"layer_sizes": "8", "lookback": 8, "lr": 0.005}
    config = compiled.trial_config(params)
    config["train"].update(train)
    return config, load_series(compiled.space.data)


def run(config, series, metric="rmse"):
    reports = []
    run_trial(config, series, metric, reports.append)
    return reports


def test_reports_every_epoch_then_final_facts(tiny_space):
    config, series = trial_config(tiny_space)
    reports = run(config, series)
    assert [r["epoch"] for r in reports] == [1, 2, 3]
    assert [r["final"] for r in reports] == [False, False, True]
    final = reports[-1]
    for key in ("n_params", "device", "node", "train_seconds", "epochs_run", "samples_per_second", "best_epoch", "test_rmse", "test_mae"):
        assert key in final, key
    assert final["device"] == "cpu" and final["n_params"] > 0 and final["train_seconds"] > 0
    assert final["best_objective"] == min(r["objective"] for r in reports)
    assert all(r["objective"] == r["val_rmse"] for r in reports)


def test_trial_seconds_count_the_trials_work_but_not_its_reporting(tiny_space):
    config, series = trial_config(tiny_space)
    reports = []

    def slow_report(result):  # a caller that takes 0.3 s per result, e.g. waiting on a pruner
        reports.append(result)
        time.sleep(0.3)

    started = time.perf_counter()
    run_trial(config, series, "rmse", slow_report)
    elapsed = time.perf_counter() - started
    seconds = [r["trial_seconds"] for r in reports]
    assert seconds == sorted(seconds) and seconds[0] > 0
    assert reports[-1]["trial_seconds"] > reports[-1]["train_seconds"]  # validation and test evaluation too
    assert reports[-1]["trial_seconds"] <= elapsed - 0.3 * len(reports)


def test_same_seed_same_values(tiny_space):
    config, series = trial_config(tiny_space)
    first = [r["objective"] for r in run(config, series)]
    second = [r["objective"] for r in run(config, series)]
    assert first == second
    config["train"]["seed"] = 1
    assert [r["objective"] for r in run(config, series)] != first


def test_non_finite_loss_ends_the_trial_with_a_reason(tiny_space):
    config, series = trial_config(tiny_space, lr=1e30, optimizer="sgd", grad_clip=0.0)
    reports = run(config, series)
    assert len(reports) == 1 and reports[0]["final"]
    assert math.isnan(reports[0]["objective"])
    assert reports[0]["error"] == "non-finite loss at epoch 1"


def test_exception_is_reported_not_raised(tiny_space):
    config, series = trial_config(tiny_space)
    config["model"]["layer_sizes"] = "0"
    reports = run(config, series)
    assert reports[-1]["final"] and "layer_sizes" in reports[-1]["error"]


def test_early_stopping_completes_with_best_epoch(tiny_space):
    config, series = trial_config(tiny_space, epochs=40, patience=2, lr=0.05)
    reports = run(config, series)
    final = reports[-1]
    assert final["early_stopped"] is True and len(reports) < 40
    assert final["epochs_run"] - final["best_epoch"] == 2


def test_metrics_against_hand_computed_values():
    import torch

    pred = torch.tensor([[1.0], [2.0], [4.0]])
    target = torch.tensor([[1.0], [3.0], [2.0]])
    m = regression_metrics(pred, target)
    assert m["mse"] == pytest.approx((0 + 1 + 4) / 3)
    assert m["rmse"] == pytest.approx(math.sqrt(5 / 3))
    assert m["mae"] == pytest.approx(1.0)
    assert m["mape"] == pytest.approx((0 + 1 / 3 + 1) / 3 * 100)
    assert m["smape"] == pytest.approx((0 + 2 * 1 / 5 + 2 * 2 / 6) / 3 * 100)


@pytest.mark.parametrize("loss", ["mse", "mae", "huber"])
def test_train_loss_is_the_one_asked_for(tiny_space, loss):
    """With a learning rate too small to move the weights, the first epoch's reported training
    loss is the asked-for loss of the (unchanged) model over every training window."""
    from search.results.forecaster import unpack
    from search.worker.data import windows
    from models.reference import LastValueReference

    config, series = trial_config(tiny_space, loss=loss, lr=1e-12, epochs=1)
    reports = []
    run_trial(config, series, "rmse", reports.append, with_checkpoint=True)
    model = LastValueReference(unpack(reports[-1]["checkpoint"]).model, series.n_targets).eval()
    x, y = windows(series, "train", config["data"]["lookback"], config["data"]["horizon"], config["data"]["stride"])
    with torch.no_grad():
        err = model(x) - y
    expected = {"mse": (err**2).mean(), "mae": err.abs().mean(),
                "huber": torch.where(err.abs() < 1, 0.5 * err**2, err.abs() - 0.5).mean()}[loss]
    assert reports[0]["train_loss"] == pytest.approx(float(expected), rel=1e-4)


def test_mae_loss_trains_another_model_than_mse(tiny_space):
    config, series = trial_config(tiny_space)
    mse = run(config, series)
    config["train"]["loss"] = "mae"
    mae = run(config, series)
    assert [r["objective"] for r in mse] != [r["objective"] for r in mae]
