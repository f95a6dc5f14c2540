"""A real search: real Ray runtime, real SQLite study file, read back from the storage."""

from __future__ import annotations

import optuna
import pytest
from optuna.trial import TrialState

from search.driver.run import run_search
from search.study_attrs import flat

pytestmark = pytest.mark.slow

TRIAL_ATTRS = ("n_params", "device", "node", "train_seconds", "trial_seconds", "epochs_run", "samples_per_second")
STUDY_ATTRS = (
    "space_file", "space_hash", "family", "dataset", "direction", "version", "missing_policy", "season",
    "baseline_naive_val_rmse", "baseline_naive_test_mae", "baseline_seasonal_naive_test_rmse",
)


def load(url, name):
    return optuna.load_study(study_name=name, storage=url)


def finished(study):
    return [t for t in study.get_trials(deepcopy=False) if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]


def test_search_fills_the_study_and_rerun_adds_nothing(ray_local, tiny_space, storage_url, tmp_path):
    url = storage_url
    artifacts = tmp_path / "artifacts"
    summary = run_search(tiny_space, trials=5, storage_url=url, quiet=True, artifacts=str(artifacts))
    assert summary.stop_reason is None and not summary.interrupted

    study = load(url, "tiny")  # read back through a fresh connection
    assert len(finished(study)) == 5
    assert len(study.trials) == 5  # nothing failed, nothing left running
    for trial in study.trials:
        assert trial.intermediate_values, trial.number
        assert set(trial.intermediate_values) == set(range(1, len(trial.intermediate_values) + 1))
        for key in TRIAL_ATTRS:
            assert key in trial.user_attrs, (trial.number, key)
        assert trial.user_attrs["epochs_run"] == len(trial.intermediate_values)
        assert isinstance(trial.params["layer_sizes"], str)
        # the learning curve is an artifact of the trial, one row per epoch
        curve = (artifacts / trial.user_attrs["learning_curve"]).read_text().splitlines()
        assert curve[0].startswith("epoch,train_loss,val_loss") and len(curve) == 1 + len(trial.intermediate_values)
    complete = [t for t in study.trials if t.state == TrialState.COMPLETE]
    assert complete and all("test_rmse" in t.user_attrs for t in complete)
    assert all(t.value == min(t.intermediate_values.values()) for t in complete)
    for key in STUDY_ATTRS:
        assert key in flat(study), key
    assert flat(study)["family"] == "lstm" and flat(study)["space_file"] == "tiny.yaml"
    assert flat(study)["artifacts"] == str(artifacts.resolve())  # found by readers elsewhere
    assert study.metric_names == ["rmse"]  # optuna-dashboard labels the axis with it

    # the best model is kept: a checkpoint artifact on the best trial, loadable to forecast
    assert "checkpoint" in study.best_trial.user_attrs
    assert all("checkpoint" not in t.user_attrs for t in study.trials if t.state == TrialState.PRUNED)
    import pandas as pd

    import search

    forecast = search.load_best("tiny", url, artifacts=str(artifacts)).predict(pd.read_csv(tiny_space.parent / "series.csv"))
    assert forecast.shape == (1, 1)
    # and through the CLI: the same forecast, printed and written as CSV
    from search.cli import main

    out_csv = tmp_path / "forecast.csv"
    argv = ["predict", "tiny", "--input", str(tiny_space.parent / "series.csv"), "--storage", url, "--artifacts", str(artifacts)]
    assert main([*argv, "--out", str(out_csv)]) == 0
    written = pd.read_csv(out_csv)
    assert list(written.columns) == ["step", "y", "lo-95", "lo-80", "hi-80", "hi-95"] and written["y"].iloc[0] == pytest.approx(float(forecast[0, 0]), rel=1e-5)
    assert main(["predict", "no-such-study", "--input", str(out_csv), "--storage", url]) == 2

    again = run_search(tiny_space, trials=5, storage_url=url, quiet=True, artifacts=str(artifacts))
    assert again.ran == 0
    assert len(load(url, "tiny").trials) == 5


def test_resume_runs_only_the_rest(ray_local, tiny_space, storage_url, tmp_path):
    url = storage_url
    run_search(tiny_space, trials=2, storage_url=url, quiet=True, artifacts=str(tmp_path / "a"))
    before = {t.number: (t.state, t.value, t.params) for t in load(url, "tiny").trials}
    summary = run_search(tiny_space, trials=4, storage_url=url, quiet=True, artifacts=str(tmp_path / "a"))
    study = load(url, "tiny")
    assert summary.ran == 2 and len(finished(study)) == 4 and len(study.trials) == 4
    for number, state in before.items():  # earlier trials untouched
        t = study.trials[number]
        assert (t.state, t.value, t.params) == state
    # a resumed seeded sampler does not replay the first run's params
    params = [tuple(sorted(t.params.items())) for t in study.trials]
    assert len(set(params)) == len(params)


def test_median_pruner_prunes_a_bad_region(ray_local, tmp_path):
    from tests.conftest import write_series

    write_series(tmp_path / "series.csv")
    space = tmp_path / "bad_region.yaml"
    space.write_text(
        """
model: {family: lstm, layer_sizes: "8"}
data: {path: series.csv, target: y, lookback: 8}
train:
  epochs: 5
  batch_size: 64
  # 1e-5 barely moves the weights in 5 epochs: a region the pruner should cut short
  lr: {choices: [0.00001, 0.02]}
sampler: {name: random, seed: 3}
pruner: {name: median, n_startup_trials: 2, n_warmup_steps: 1}
"""
    )
    url = f"sqlite:///{tmp_path}/s.db"
    run_search(space, trials=10, storage_url=url, quiet=True, workers=1)
    study = load(url, "bad_region")
    pruned = [t for t in study.trials if t.state == TrialState.PRUNED]
    assert pruned, [(t.number, t.state.name, t.params) for t in study.trials]
    assert all(t.params["lr"] == 0.00001 for t in pruned)
    assert all(len(t.intermediate_values) < 5 for t in pruned)
    assert len(finished(study)) == 10


def test_failing_trials_are_recorded_and_the_search_goes_on(ray_local, tmp_path):
    from tests.conftest import write_series

    write_series(tmp_path / "series.csv")
    space = tmp_path / "diverge.yaml"
    space.write_text(
        """
model: {family: lstm, layer_sizes: "8"}
data: {path: series.csv, target: y, lookback: 8}
train:
  epochs: 2
  optimizer: sgd
  grad_clip: 0
  lr: {choices: [1.0e+30, 0.01]}
sampler: {name: random, seed: 1}
pruner: none
"""
    )
    url = f"sqlite:///{tmp_path}/s.db"
    summary = run_search(space, trials=4, storage_url=url, quiet=True)
    study = load(url, "diverge")
    failed = [t for t in study.trials if t.state == TrialState.FAIL]
    assert failed and all(t.user_attrs["error"].startswith("non-finite loss at epoch") for t in failed)
    assert all(t.params["lr"] == 1e30 for t in failed)
    assert len(finished(study)) == 4 and summary.stop_reason is None


@pytest.mark.parametrize("pruner", ["none", "{name: median, n_startup_trials: 1, n_warmup_steps: 2, interval_steps: 2}"])
def test_every_epoch_is_recorded_when_workers_report_ahead(ray_local, tiny_space, tmp_path, pruner):
    """Where no prune decision is due the worker trains on while its result travels; every
    epoch still lands in the study, in order, and each trial's value is its best epoch."""
    url = f"sqlite:///{tmp_path}/ahead.db"
    run_search(tiny_space, trials=6, storage_url=url, quiet=True, overrides=[f"pruner={pruner}", "train.epochs=5"], artifacts=str(tmp_path / "a"))
    study = load(url, "tiny")
    assert len(finished(study)) == 6 and len(study.trials) == 6
    for trial in study.trials:
        steps = sorted(trial.intermediate_values)
        assert steps == list(range(1, len(steps) + 1)), (trial.number, steps)
        assert trial.user_attrs["epochs_run"] == len(steps), trial.number
        if trial.state == TrialState.COMPLETE:
            assert len(steps) == 5 and trial.value == min(trial.intermediate_values.values())
    if pruner == "none":
        assert all(t.state == TrialState.COMPLETE for t in study.trials)


def test_a_search_longer_than_a_round_runs_in_rounds(ray_local, tiny_space, storage_url, tmp_path, monkeypatch):
    """``ROUND_TRIALS`` trials at most per Tune round (Tune keeps every trial of a round in the
    driver's memory): 5 trials in rounds of 2 are 3 rounds, and the study holds the 5 trials,
    nothing failed or left running."""
    from search.driver import run

    rounds = []
    original = run._tune_round
    monkeypatch.setattr(run, "ROUND_TRIALS", 2)
    monkeypatch.setattr(run, "_tune_round", lambda *a, **k: rounds.append(1) or original(*a, **k))
    summary = run_search(tiny_space, trials=5, storage_url=storage_url, quiet=True, artifacts=str(tmp_path / "a"))
    study = load(storage_url, "tiny")
    assert summary.ran == 5 and summary.stop_reason is None
    assert len(finished(study)) == 5 and len(study.trials) == 5
    assert len(rounds) == 3
