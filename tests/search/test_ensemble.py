"""The top-K ensemble: the mean of the K best trials' forecasts (``load_best(ensemble=K)``,
``search predict --ensemble K``), scored on the study's targets and recorded
(``search ensemble``), shown beside the best trial (``search best``)."""

from __future__ import annotations

import json
import textwrap

import numpy as np
import optuna
import pandas as pd
import pytest
import torch

import storage
from search.cli import main
from search.results.forecaster import unpack
from search.results.loading import load_best
from search.study_attrs import flat
from search.worker.data import windows
from tests._studies import ranked_study
from tests.conftest import TINY_SPACE, write_series

# four trials with different lookbacks and layers: an ensemble's members differ in both
PARAMS = [
    {"layer_sizes": "8", "lookback": 8, "lr": 0.005},
    {"layer_sizes": "16,8", "lookback": 12, "lr": 0.008},
    {"layer_sizes": "8", "lookback": 16, "lr": 0.003},
    {"layer_sizes": "16,8", "lookback": 8, "lr": 0.002},
]


@pytest.fixture(scope="module")
def ranked(tmp_path_factory):
    """(space, storage URL, artifact folder, study name) of a study with four trials that kept
    their checkpoints."""
    folder = tmp_path_factory.mktemp("ensemble")
    write_series(folder / "series.csv")
    space = folder / "tiny.yaml"
    space.write_text(textwrap.dedent(TINY_SPACE))
    url, artifacts = f"sqlite:///{folder}/studies.db", folder / "artifacts"
    ranked_study(space, url, artifacts, PARAMS, name="ranked")
    return space, url, artifacts, "ranked"


def _study(url: str, name: str) -> optuna.Study:
    return optuna.load_study(study_name=name, storage=storage.open_storage(url, heartbeat_interval=None, grace_period=None))


def _best(study: optuna.Study, k: int) -> list[optuna.trial.FrozenTrial]:
    return sorted(study.get_trials(states=(optuna.trial.TrialState.COMPLETE,)), key=lambda t: (t.value, t.number))[:k]


def _member(artifacts, trial) -> object:
    """A member read straight from its artifact file, without the ensemble's own loading."""
    return unpack((artifacts / trial.user_attrs["checkpoint"]).read_bytes())


def test_the_ensemble_forecasts_the_mean_of_its_members(ranked):
    space, url, artifacts, name = ranked
    study = _study(url, name)
    import search

    ensemble = search.load_best(name, url, ensemble=3)  # the public API
    assert ensemble.trials == [t.number for t in _best(study, 3)]
    members = [_member(artifacts, t) for t in _best(study, 3)]
    assert ensemble.lookback == max(m.lookback for m in members) and len({m.lookback for m in members}) > 1
    frame = pd.read_csv(space.parent / "series.csv")
    expected = np.mean([m.predict(frame) for m in members], axis=0)
    forecast = ensemble.predict(frame)
    assert forecast.shape == (1, 1)
    np.testing.assert_allclose(forecast, expected, rtol=1e-6)
    # an ensemble of one is the best trial itself
    np.testing.assert_allclose(load_best(name, url, ensemble=1).predict(frame), load_best(name, url).predict(frame), rtol=1e-6)


def test_predict_ensemble_prints_the_mean_forecast(ranked, tmp_path):
    space, url, artifacts, name = ranked
    out = tmp_path / "forecast.csv"
    plot = tmp_path / "forecast.html"
    argv = ["predict", name, "--input", str(space.parent / "series.csv"), "--storage", url, "--ensemble", "2", "--out", str(out), "--plot", str(plot)]
    assert main(argv) == 0
    assert "the mean forecast of the 2 best models" in plot.read_text()
    expected = load_best(name, url, ensemble=2).predict(pd.read_csv(space.parent / "series.csv"))
    assert pd.read_csv(out)["y"].iloc[0] == pytest.approx(float(expected[0, 0]), rel=1e-6)


def _independent_metrics(space, members, part: str) -> tuple[float, float]:
    """(mae, rmse) of the mean of the members' forecasts on ``part``'s targets, computed here:
    each member's own windows through its own reference, unscaled, then averaged; the series
    prepared as the driver prepares it (its auto keys decided from the data)."""
    from search.driver.prepare import prepare

    series = prepare(space).series
    forecasts, truth = [], None
    for member in members:
        x, y = windows(series, part, member.lookback, 1)
        with torch.no_grad():
            forecasts.append(series.unscale_targets(member.wrapped().eval()(x)))
        truth = series.unscale_targets(y) if truth is None else truth
    err = torch.stack(forecasts).mean(0) - truth
    return float(err.abs().mean()), float((err**2).mean().sqrt())


def test_search_ensemble_records_the_metrics_of_the_mean_forecast(ranked, capsys):
    space, url, artifacts, name = ranked
    capsys.readouterr()
    assert main(["ensemble", name, "--k", "3", "--storage", url, "--space", str(space)]) == 0
    printed = capsys.readouterr().out
    study = _study(url, name)
    best3 = _best(study, 3)
    attrs = flat(study)
    assert attrs["ensemble_k"] == 3 and attrs["ensemble_members"] == [t.number for t in best3]
    for part in ("val", "test"):
        for metric in ("rmse", "mae", "mse", "mape", "smape", "loss"):
            assert f"ensemble_{part}_{metric}" in attrs, (part, metric)
    members = [_member(artifacts, t) for t in best3]
    for part in ("val", "test"):
        mae, rmse = _independent_metrics(space, members, part)
        assert attrs[f"ensemble_{part}_mae"] == pytest.approx(mae, rel=1e-5)
        assert attrs[f"ensemble_{part}_rmse"] == pytest.approx(rmse, rel=1e-5)
    assert "ensemble of 3" in printed and f"best trial #{best3[0].number}" in printed and "ensemble_test_*" in printed

    # search best shows the recorded ensemble beside the best trial
    assert main(["best", name, "--storage", url]) == 0
    shown = capsys.readouterr().out
    assert "ensemble of 3" in shown and "recorded in the study" in shown
    assert f"{attrs['ensemble_test_mae']:.6g}"[:5] in shown
    assert main(["best", name, "--storage", url, "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["ensemble"]["k"] == 3 and summary["ensemble"]["test"]["mae"] == pytest.approx(attrs["ensemble_test_mae"])

    # and so does the report, in a caption under the best trial
    from search.results.report import build_report

    page, _ = build_report(_study(url, name), url)
    assert f"ensemble of the 3 best trials (#{best3[0].number}, " in page

    # search best --ensemble K scores another K now, and records nothing
    assert main(["best", name, "--storage", url, "--ensemble", "2", "--space", str(space)]) == 0
    shown = capsys.readouterr().out
    assert "ensemble of 2" in shown and "not recorded" in shown
    assert flat(_study(url, name))["ensemble_k"] == 3


def test_an_ensemble_of_one_scores_as_its_trial_was_scored(ranked, capsys):
    space, url, artifacts, name = ranked
    assert main(["ensemble", name, "--k", "1", "--storage", url, "--space", str(space), "--json"]) == 0
    recorded = json.loads(capsys.readouterr().out)
    best = _best(_study(url, name), 1)[0]
    assert recorded["ensemble_members"] == [best.number]
    assert recorded["ensemble_val_rmse"] == pytest.approx(best.value, rel=1e-5)  # the value training reported
    for metric in ("rmse", "mae", "mape"):
        assert recorded[f"ensemble_test_{metric}"] == pytest.approx(best.user_attrs[f"test_{metric}"], rel=1e-5)


def _one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and "Traceback" not in err[0], err
    return err[0]


def test_ensemble_errors_are_one_line(ranked, capsys):
    space, url, artifacts, name = ranked
    capsys.readouterr()
    for argv in (["ensemble", name, "--k", "0"], ["predict", name, "--input", str(space.parent / "series.csv"), "--ensemble", "0"]):
        assert main([*argv, "--storage", url]) == 2
        assert "at least 1" in _one_error_line(capsys)
    assert main(["ensemble", name, "--k", "9", "--storage", url, "--space", str(space)]) == 2
    line = _one_error_line(capsys)
    assert "ensemble of 9" in line and "has 4 trials with a checkpoint" in line and "checkpoints.keep" in line
    assert main(["ensemble", name, "--k", "2", "--storage", url]) == 2  # the space file is not here
    assert "give it with --space FILE" in _one_error_line(capsys)
    assert main(["best", name, "--storage", url, "--space", str(space)]) == 2
    assert "goes with --ensemble" in _one_error_line(capsys)


def test_a_members_replaced_checkpoint_is_refused_naming_it(ranked, capsys):
    space, url, artifacts, name = ranked
    second = _best(_study(url, name), 2)[1]
    path = artifacts / second.user_attrs["checkpoint"]
    original = path.read_bytes()
    path.write_bytes(_member_bytes_of_another(artifacts, url, name, second))
    try:
        capsys.readouterr()
        for argv in (["ensemble", name, "--k", "2", "--space", str(space)], ["predict", name, "--input", str(space.parent / "series.csv"), "--ensemble", "2"]):
            assert main([*argv, "--storage", url]) == 1  # a refused checkpoint, as search predict refuses one
            line = _one_error_line(capsys)
            assert f"ensemble member trial #{second.number}" in line and "sha256" in line
    finally:
        path.write_bytes(original)


def _member_bytes_of_another(artifacts, url, name, trial) -> bytes:
    """A valid checkpoint of another trial of the study: replaced bytes that still load."""
    other = next(t for t in _study(url, name).get_trials() if t.number != trial.number)
    return (artifacts / other.user_attrs["checkpoint"]).read_bytes()


def test_data_that_gives_other_targets_is_refused(ranked, tmp_path, capsys):
    space, url, artifacts, name = ranked
    moved = tmp_path / "tiny.yaml"
    moved.write_text(space.read_text())
    write_series(tmp_path / "series.csv", n=300)  # fewer rows: other validation and test targets
    capsys.readouterr()
    assert main(["ensemble", name, "--k", "2", "--storage", url, "--space", str(moved)]) == 2
    assert "targets than study 'ranked' was scored on" in _one_error_line(capsys)


@pytest.mark.slow
def test_a_search_keeps_the_checkpoints_of_its_best_k(ray_local, tiny_space, tmp_path, capsys):
    from search.driver.run import run_search

    url, artifacts = f"sqlite:///{tmp_path}/studies.db", tmp_path / "artifacts"
    overrides = ["checkpoints.keep=3", "pruner={name: none}", "data.stat_baselines_seconds=0"]
    run_search(tiny_space, trials=7, storage_url=url, quiet=True, artifacts=str(artifacts), overrides=overrides)
    study = _study(url, "tiny")
    complete = study.get_trials(states=(optuna.trial.TrialState.COMPLETE,))
    assert len(complete) == 7
    assert all("checkpoint" in t.user_attrs for t in _best(study, 3))
    # a trial kept its checkpoint when it entered the best 3 of the trials complete before it,
    # and its forecast figure only when it was the best
    for trial in complete:
        earlier = sorted(t.value for t in complete if t.datetime_complete < trial.datetime_complete)
        assert ("checkpoint" in trial.user_attrs) == (len(earlier) < 3 or trial.value <= earlier[2]), trial.number
        assert ("forecast" in trial.user_attrs) == (not earlier or trial.value <= earlier[0]), trial.number
    kept = [t for t in complete if "checkpoint" in t.user_attrs]
    assert 3 <= len(kept) < 7  # trials that never ranked among the best 3 keep none

    capsys.readouterr()
    assert main(["ensemble", "tiny", "--k", "3", "--storage", url, "--space", str(tiny_space)]) == 0
    attrs = flat(_study(url, "tiny"))
    members = [_member(artifacts, t) for t in _best(study, 3)]
    mae, _ = _independent_metrics(tiny_space, members, "test")
    assert attrs["ensemble_test_mae"] == pytest.approx(mae, rel=1e-5)
    assert main(["ensemble", "tiny", "--k", str(len(kept) + 1), "--storage", url, "--space", str(tiny_space)]) == 2
    assert f"has {len(kept)} trials with a checkpoint" in _one_error_line(capsys)


PANEL_SPACE = """
model: {family: lstm, layer_sizes: "8"}
data:
  path: p.csv
  time_column: t
  series_id: id
  target: y
  lookback: {choices: [6, 8]}
  scaler_scope: series
  gap: 2
train: {epochs: 2, batch_size: 64, lr: {type: float, low: 1.0e-3, high: 1.0e-2, log: true}}
"""


def test_an_ensemble_of_several_series_with_their_own_scalers(tmp_path, capsys):
    from tests.search.test_data_series import write_panel

    write_panel(tmp_path / "p.csv")
    space = tmp_path / "panel.yaml"
    space.write_text(textwrap.dedent(PANEL_SPACE))
    url, artifacts = f"sqlite:///{tmp_path}/studies.db", tmp_path / "artifacts"
    ranked_study(space, url, artifacts, [{"lookback": 6, "lr": 0.005}, {"lookback": 8, "lr": 0.003}], name="panel")
    study = _study(url, "panel")
    members = [_member(artifacts, t) for t in _best(study, 2)]
    frame = pd.read_csv(tmp_path / "p.csv")
    forecasts = load_best("panel", url, ensemble=2).predict_series(frame)
    assert sorted(forecasts) == ["a", "b", "c"]
    for name, forecast in forecasts.items():  # each series at its own level, the mean of both members
        np.testing.assert_allclose(forecast, np.mean([m.predict_series(frame)[name] for m in members], axis=0), rtol=1e-6)
    assert main(["ensemble", "panel", "--k", "2", "--storage", url, "--space", str(space), "--json"]) == 0
    recorded = json.loads(capsys.readouterr().out)
    assert recorded["ensemble_k"] == 2 and recorded["ensemble_test_rmse"] < 50  # in the data's units: a level error would be hundreds
    # an ensemble of one scores as its trial did, each window unscaled by its own series' scaler
    assert main(["ensemble", "panel", "--k", "1", "--storage", url, "--space", str(space), "--json"]) == 0
    one = json.loads(capsys.readouterr().out)
    assert one["ensemble_test_rmse"] == pytest.approx(_best(study, 1)[0].user_attrs["test_rmse"], rel=1e-5)


def test_better_trials_without_a_checkpoint_are_named_in_a_note(tmp_path):
    write_series(tmp_path / "series.csv")
    space = tmp_path / "tiny.yaml"
    space.write_text(textwrap.dedent(TINY_SPACE))
    url = f"sqlite:///{tmp_path}/studies.db"
    study = ranked_study(space, url, tmp_path / "artifacts", PARAMS[:2], name="old")
    study.add_trial(optuna.trial.create_trial(value=0.0, user_attrs={"epochs_run": 3}))  # the best, kept no checkpoint (an older study's trial)
    ensemble = load_best("old", url, ensemble=2)
    assert ensemble.trials == [t.number for t in _best(study, 3)[1:]]
    assert ensemble.note.startswith("1 better trial kept no checkpoint (#2)")


def test_an_ensemble_of_trials_with_and_without_the_mstl_reference(tmp_path, capsys):
    """``reference`` searched among last and mstl: every trial reads the same known-future
    columns (the MSTL profile), each member forecasts through its own reference, and the
    recorded metrics are those of the members' mean forecast."""
    write_series(tmp_path / "series.csv")
    space = tmp_path / "tiny.yaml"
    space.write_text(textwrap.dedent(TINY_SPACE).replace("  target: y\n", "  target: y\n  season: 25\n  reference: {choices: [last, mstl]}\n"))
    url, artifacts = f"sqlite:///{tmp_path}/studies.db", tmp_path / "artifacts"
    params = [{**p, "reference": r} for p, r in zip(PARAMS[:3], ("mstl", "last", "mstl"))]
    study = ranked_study(space, url, artifacts, params, name="mixed")
    best = _best(study, 3)
    members = [_member(artifacts, t) for t in best]
    assert {m.payload["data"]["reference"] for m in members} == {"last", "mstl"}
    frame = pd.read_csv(space.parent / "series.csv")
    expected = np.mean([m.predict(frame) for m in members], axis=0)
    np.testing.assert_allclose(load_best("mixed", url, ensemble=3).predict(frame), expected, rtol=1e-6)
    capsys.readouterr()
    assert main(["ensemble", "mixed", "--k", "3", "--storage", url, "--space", str(space)]) == 0
    mae, rmse = _independent_metrics(space, members, "test")
    attrs = flat(_study(url, "mixed"))
    assert attrs["ensemble_test_mae"] == pytest.approx(mae, rel=1e-5)
    assert attrs["ensemble_test_rmse"] == pytest.approx(rmse, rel=1e-5)
