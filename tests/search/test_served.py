"""The served forecaster: the best on validation of the trials, their ensembles, the
statistical baselines and combinations of them (``search.results.served``), served alike by
``search best``, ``search predict`` and ``search.load_best``; an older study still opens."""

from __future__ import annotations

import json
import textwrap

import numpy as np
import optuna
import pandas as pd
import pytest

import storage
from search.cli import main
from search.results import served
from search.results.combination import simplex_weights
from search.results.forecaster import EnsembleForecaster, Forecaster, unpack
from search.results.loading import load_best
from search.results.served_forecaster import ServedForecaster
from search.study_attrs import flat
from search.worker import stat_forecasts
from search.worker.stat_baselines import history_rows
from tests._studies import searched_study, trained

# A seasonal series that the classical forecasters read almost perfectly: a 12-step cycle on a
# slow trend with a little noise. The networks are trained for one epoch at a tiny learning
# rate, so they are bad at it: a network alone must lose to the baselines.
SPACE = """
model:
  family: lstm
  layer_sizes: {choices: ["4", "8"]}
  dropout: 0.0
data:
  path: series.csv
  time_column: t
  target: y
  horizon: 6
  season: 12
  lookback: {type: int, low: 12, high: 24, step: 12}
train:
  epochs: 1
  batch_size: 64
  lr: {type: float, low: 1.0e-4, high: 2.0e-4, log: true}
objective: {metric: mae, direction: minimize}
sampler: {name: random, seed: 0}
"""
PARAMS = [{"layer_sizes": "4", "lookback": 12, "lr": 1e-4}, {"layer_sizes": "8", "lookback": 24, "lr": 2e-4}]


def _write_series(path, n: int = 480) -> None:
    rng = np.random.default_rng(0)
    i = np.arange(n)
    y = 10 + 3 * np.sin(2 * np.pi * i / 12) + 0.02 * i + 0.05 * rng.standard_normal(n)
    pd.DataFrame({"t": i, "y": np.round(y, 5)}).to_csv(path, index=False)


def _open(url: str, name: str) -> optuna.Study:
    return optuna.load_study(study_name=name, storage=storage.open_storage(url, heartbeat_interval=None, grace_period=None))


@pytest.fixture(scope="module")
def study_of_losers(tmp_path_factory):
    """(space, URL, artifact folder, name) of a study whose attrs ``search run`` recorded
    (statistical baselines on) and whose two trials are poor networks with checkpoints; its
    served forecaster recorded as after a search."""
    from search.driver.prepare import prepare
    from search.driver.study import study_attrs
    from search.driver.uploads import upload_checkpoint

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    folder = tmp_path_factory.mktemp("served")
    _write_series(folder / "series.csv")
    space = folder / "seasonal.yaml"
    space.write_text(textwrap.dedent(SPACE))
    url, artifacts = f"sqlite:///{folder}/studies.db", folder / "artifacts"
    prep = prepare(space, [], "losers")
    rdb = storage.open_storage(url, heartbeat_interval=None, grace_period=None)
    study = optuna.create_study(study_name="losers", storage=rdb)
    from search.worker.origins import eval_step
    from search.worker.stat_baselines import stat_baselines

    attrs = study_attrs(prep)
    data = prep.compiled.space.data  # the statistical baselines, as the driver records them beside the trials
    attrs.update(stat_baselines(prep.series, int(data["horizon"]), eval_step(data), attrs["seasons"]))
    for key, value in {**attrs, "artifacts": str(artifacts)}.items():
        study.set_user_attr(key, value)
    store = storage.open_artifact_store(url, artifacts)
    for p in PARAMS:
        final = trained(space, p)
        trial = study.ask()
        attrs = upload_checkpoint(store, rdb, trial, final["checkpoint"])
        attrs.update({k: v for k, v in final.items() if k.startswith("test_")})
        storage.set_trial_user_attrs(rdb, trial._trial_id, attrs)
        study.tell(trial, final["best_objective"])
    from search.results.tables import best_summary

    before = best_summary(study)  # as search best shows a study whose search has not ended
    assert "served" not in before and "no served forecaster recorded yet" in before["served_note"]
    served.record(study, url, str(artifacts), str(space))
    return space, url, artifacts, "losers"


def test_simplex_weights_recover_a_mixture_and_drop_a_useless_member():
    rng = np.random.default_rng(1)
    a, b, noise = rng.standard_normal(500), rng.standard_normal(500), rng.standard_normal(500)
    truth = 0.3 * a + 0.7 * b
    w = simplex_weights(np.stack([a, b, noise * 5]), truth)
    np.testing.assert_allclose(w, [0.3, 0.7, 0.0], atol=1e-4)
    assert w[2] == 0.0  # dropped, not kept with a tiny weight
    for _ in range(5):  # any members: non-negative, summing to 1, never worse than the best one alone
        members = rng.standard_normal((4, 200)) + rng.standard_normal(200)
        target = rng.standard_normal(200)
        w = simplex_weights(members, target)
        assert (w >= 0).all() and w.sum() == pytest.approx(1.0)
        best_single = min(float(((m - target) ** 2).mean()) for m in members)
        assert float(((w @ members - target) ** 2).mean()) <= best_single + 1e-9


def test_the_combination_wins_where_the_network_alone_loses(study_of_losers):
    space, url, artifacts, name = study_of_losers
    study = _open(url, name)
    attrs = flat(study)
    value = served.recorded(study)
    assert value is not None and value["metric"] == "mae"
    # the networks alone lose to the classical forecasters, on validation and on test
    best_trial = min(study.trials, key=lambda t: t.value)
    classical_val = min(attrs["baseline_mstl_val_mae"], attrs["baseline_seasonal_naive_val_mae"])
    classical_test = min(attrs["baseline_mstl_test_mae"], attrs["baseline_seasonal_naive_test_mae"])
    networks = [c for c in value["candidates"] if c["kind"] in ("trial", "ensemble")]
    assert networks and all(c["val"]["mae"] > 2 * classical_val for c in networks)
    assert best_trial.user_attrs["test_mae"] > 2 * classical_test
    # the served forecaster is not a network alone, and it is the best candidate on validation
    assert value["kind"] in ("combination", "stat", "seasonal_naive")
    assert value["val"]["mae"] == min(c["val"]["mae"] for c in value["candidates"])
    assert value["val"]["mae"] <= classical_val
    weights = [m["weight"] for m in value["members"]]
    assert all(w > 0 for w in weights) and sum(weights) == pytest.approx(1.0)
    # and on the test targets it does not lose to the classical answer either
    assert value["test"]["mae"] <= classical_test
    # every member's own figures beside the combination's
    for member in value["members"]:
        assert {"val", "test"} <= set(member) and "mae" in member["test"]
    # the naive (last value) is a candidate too, scored on the same targets as the study's own naive
    assert value["baselines"]["naive (last value)"]["test"]["mae"] == pytest.approx(attrs["baseline_naive_test_mae"], rel=1e-4)
    assert value["baselines"]["naive (last value)"]["val"]["mae"] == pytest.approx(attrs["baseline_naive_val_mae"], rel=1e-4)


def test_the_classical_models_are_combined_among_themselves_too():
    # two classical forecasts whose errors cancel: their mean is the truth, each alone is off
    # by one; the network is off by two. The classical combination must be a candidate, and
    # the one served (best on validation, cross-fitted), with weights near one half each.
    import torch

    rng = np.random.default_rng(3)
    truth = {p: torch.as_tensor(rng.standard_normal((40, 4, 1))) for p in ("val", "test")}
    sign = {p: torch.as_tensor(rng.choice([-1.0, 1.0], size=(40, 4, 1))) for p in ("val", "test")}
    forecasts = {
        "t0": {p: truth[p] + 2.0 for p in truth},
        "mstl": {p: truth[p] + sign[p] for p in truth},
        "autoets": {p: truth[p] - sign[p] for p in truth},
    }
    names = {"t0": {"kind": "trial", "name": "trial #0", "trials": [0]}, "mstl": {"kind": "stat", "name": "MSTL", "model": "mstl"},
             "autoets": {"kind": "stat", "name": "AutoETS", "model": "autoets"}}

    def score(pred, part):
        return {"mae": float((pred - truth[part]).abs().mean())}

    scored = served.candidates(forecasts, names, truth["val"], score, "mae")
    classical = [c for c in scored if c["kind"] == "combination" and {m["name"] for m in c["members"]} == {"MSTL", "AutoETS"}]
    assert len(classical) == 1
    assert scored[0] is classical[0]
    assert [m["weight"] for m in classical[0]["members"]] == pytest.approx([0.5, 0.5], abs=0.05)
    assert classical[0]["test"]["mae"] < 0.1 < min(c["test"]["mae"] for c in scored if len(c["members"]) == 1)


def _gate_case(edge: float, seed: int = 5):
    """Scored candidates: a trial whose errors are the classical model's minus ``edge`` (in
    absolute value) plus noise, both on autocorrelated errors of overlapping windows."""
    import torch

    rng = np.random.default_rng(seed)
    n, h = 200, 6
    walk = np.cumsum(rng.standard_normal(n + h))  # errors shared by consecutive windows
    truth = torch.zeros((n, h, 1), dtype=torch.float64)
    base = torch.as_tensor(np.stack([walk[i : i + h] for i in range(n)])[..., None])
    classical = truth + base.abs() + 1.0
    trial = truth + (base.abs() + 1.0 - edge) + 0.3 * torch.as_tensor(rng.standard_normal((n, h, 1)))
    names = {"t0": {"kind": "trial", "name": "trial #0", "trials": [0]}, "mstl": {"kind": "stat", "name": "MSTL", "model": "mstl"}}
    forecasts = {"t0": {"val": trial, "test": trial}, "mstl": {"val": classical, "test": classical}}

    def score(pred, part):
        return {"mae": float((pred - truth).abs().mean())}

    return served.candidates(forecasts, names, truth, score, "mae"), truth


def test_a_network_is_served_over_the_classical_answer_only_where_its_edge_is_real():
    scored, truth = _gate_case(edge=0.02)  # a hair better on validation, well within the noise
    assert scored[0]["label"] == "trial #0"
    chosen, edge = served.gated(scored, truth, "mae", lag=5)
    assert chosen["label"] == "MSTL" and edge["challenger"] == "trial #0" and edge["served"] == "MSTL" and edge["p"] > served.EDGE_ALPHA
    scored, truth = _gate_case(edge=0.5)  # clearly better
    chosen, edge = served.gated(scored, truth, "mae", lag=5)
    assert chosen["label"] == "trial #0" and edge["p"] < 0.01
    # the overlap of windows is counted: the same small edge looks surer when it is ignored
    scored, truth = _gate_case(edge=0.1)
    trial, mstl = (next(c["_val"] for c in scored if c["label"] == name) for name in ("trial #0", "MSTL"))
    assert served.edge_test(trial, mstl, truth, "mae", 0)[1] < served.edge_test(trial, mstl, truth, "mae", 5)[1]
    # a classical answer best on validation is served without a test
    scored, truth = _gate_case(edge=-0.5)
    assert scored[0]["label"] == "MSTL" and served.gated(scored, truth, "mae", 5) == (scored[0], None)


def test_the_recorded_baseline_forecasts_give_the_recorded_metrics(study_of_losers):
    space, url, artifacts, name = study_of_losers
    attrs = flat(_open(url, name))
    forecasts = stat_forecasts.decode(attrs[stat_forecasts.ATTR])
    frame = pd.read_csv(space.parent / "series.csv")
    y = frame["y"].to_numpy()
    val = json.loads(json.dumps(attrs["targets_val"]))
    mstl = forecasts["mstl"]["val"]  # (N, H, 1) from the first scored origin on
    assert mstl.shape == (val["windows"], 6, 1)
    truth = np.stack([y[val["first_origin"] + k : val["first_origin"] + k + 6] for k in range(val["windows"])])
    assert float(np.abs(mstl[..., 0] - truth).mean()) == pytest.approx(attrs["baseline_mstl_val_mae"], rel=1e-4)


def _classical_forecast(member: dict, y: np.ndarray, seasons: list[int]) -> np.ndarray:
    """A statistical member's forecast of the 6 steps after ``y``, made here with statsforecast."""
    from statsforecast.models import MSTL, AutoETS, AutoTheta

    if member["kind"] == "seasonal_naive":
        return np.array([y[len(y) - 12 + k] for k in range(6)])
    model = {"mstl": lambda: MSTL(season_length=seasons, trend_forecaster=AutoETS(model="ZZN")),
             "autoets": lambda: AutoETS(season_length=seasons[0]), "autotheta": lambda: AutoTheta(season_length=seasons[0])}[member["model"]]()  # fmt: skip
    return model.forecast(y=y[-history_rows(seasons) :].astype(np.float64), h=6)["mean"]


def test_best_predict_and_load_best_serve_the_same_forecaster(study_of_losers, capsys, tmp_path):
    space, url, artifacts, name = study_of_losers
    value = served.recorded(_open(url, name))
    frame = pd.read_csv(space.parent / "series.csv")
    forecaster = load_best(name, url)
    assert isinstance(forecaster, ServedForecaster) and forecaster.label == value["label"]
    forecast = forecaster.predict(frame)
    assert forecast.shape == (6, 1)
    # the weighted sum of each member's own forecast, made independently of the served forecaster
    study = _open(url, name)
    expected = np.zeros(6)
    for member in value["members"]:
        if member["kind"] in ("trial", "ensemble"):
            trials = [study.trials[n] for n in member["trials"]]
            nets = [unpack((artifacts / t.user_attrs["checkpoint"]).read_bytes()) for t in trials]
            own = np.mean([n.predict(frame)[:, 0] for n in nets], axis=0)
        else:
            own = _classical_forecast(member, frame["y"].to_numpy(), value["seasons"])
        expected += member["weight"] * own
    np.testing.assert_allclose(forecast[:, 0], expected, rtol=1e-4)
    # search predict serves the same forecast and says what it is
    out = tmp_path / "forecast.csv"
    capsys.readouterr()
    assert main(["predict", name, "--input", str(space.parent / "series.csv"), "--storage", url, "--out", str(out)]) == 0
    assert value["label"] in capsys.readouterr().err
    np.testing.assert_allclose(pd.read_csv(out)["y"].to_numpy(), forecast[:, 0], rtol=1e-5)
    # search best names it, its members with their weights, and its figures beside theirs and MSTL's
    assert main(["best", name, "--storage", url]) == 0
    shown = capsys.readouterr().out
    assert f"served: {value['label']}" in shown and "MSTL val" in shown
    if len(value["members"]) > 1:  # a combination: each member with its weight (one member alone is the served line)
        for member in value["members"]:
            assert f"{member['weight']:.3f}" in shown
    assert main(["best", name, "--storage", url, "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["served"]["label"] == value["label"] and summary["served"]["test"]["mae"] == pytest.approx(value["test"]["mae"])
    # and so does the report
    from search.results.report import build_report

    page, _ = build_report(_open(url, name), url)
    assert f"served: {value['label']}" in page.replace("&#x27;", "'")


def test_trial_and_ensemble_stay_explicit_choices(study_of_losers):
    space, url, artifacts, name = study_of_losers
    one = load_best(name, url, trial=0)
    assert type(one) is Forecaster
    both = load_best(name, url, ensemble=2)
    assert isinstance(both, EnsembleForecaster) and not isinstance(both, ServedForecaster)


def test_a_study_made_before_combinations_still_opens(tiny_space, tmp_path, capsys):
    url = f"sqlite:///{tmp_path}/old.db"
    searched_study(tiny_space, url, tmp_path / "artifacts", name="old")  # no served, no baseline forecasts
    study = _open(url, "old")
    assert served.recorded(study) is None
    value, why = served.record_quietly(study, url, str(tmp_path / "artifacts"), None)
    assert value is None and "older version" in why  # nothing recorded, nothing raised
    forecaster = load_best("old", url, artifacts=str(tmp_path / "artifacts"))
    assert type(forecaster) is Forecaster
    frame = pd.read_csv(tiny_space.parent / "series.csv")
    assert forecaster.predict(frame).shape == (1, 1)
    capsys.readouterr()
    assert main(["best", "old", "--storage", url]) == 0
    shown = capsys.readouterr().out
    assert "best trial #0" in shown and "served:" not in shown
    assert main(["predict", "old", "--input", str(tiny_space.parent / "series.csv"), "--storage", url, "--artifacts", str(tmp_path / "artifacts")]) == 0
    assert "step,y" in capsys.readouterr().out


def test_the_dashboard_opens_a_study_with_a_served_forecaster(study_of_losers):
    from wsgiref.util import setup_testing_defaults

    import optuna_dashboard

    space, url, artifacts, name = study_of_losers
    app = optuna_dashboard.wsgi(storage.open_storage(url, heartbeat_interval=None, grace_period=None))
    study_id = _open(url, name)._study_id
    environ: dict = {}
    setup_testing_defaults(environ)
    environ.update(PATH_INFO=f"/api/studies/{study_id}", REQUEST_METHOD="GET")
    status = []
    body = b"".join(app(environ, lambda s, headers, exc=None: status.append(s)))
    assert status == ["200 OK"]
    keys = {a["key"] for a in json.loads(body)["user_attrs"]}
    assert {"space_hash", stat_forecasts.ATTR} <= keys  # this study's attrs were written flat, as before
    assert "served" not in keys and "served" in flat(_open(url, name))  # recorded since, in its group (search.study_attrs)


def test_the_gap_warning_names_a_validation_that_over_promised():
    from search.results.tables import gap_warning, recorded_served, served_line

    def value(served_test: float) -> dict:
        raw = {"format": 1, "metric": "mae", "label": "0.7 x trial #3 + 0.3 x MSTL", "members": [{"name": "trial #3", "weight": 0.7}],
               "val": {"mae": 262.0}, "test": {"mae": served_test},
               "baselines": {"MSTL": {"val": {"mae": 246.0}, "test": {"mae": 235.0}}, "AutoETS": {"val": {"mae": 300.0}, "test": {"mae": 320.0}}}}  # fmt: skip
        return recorded_served({"served": raw})

    over = value(402.0)  # 1.53x its validation; the baselines 0.96x and 1.07x
    assert "1.53x its validation mae, the baselines' 0.96-1.07x" in gap_warning(over)
    assert gap_warning(value(270.0)) == ""  # 1.03x: no worse than the baselines'
    line = served_line(over)
    assert line.startswith("served: 0.7 x trial #3 + 0.3 x MSTL") and "val mae 262" in line and "MSTL val 246, test 235" in line
