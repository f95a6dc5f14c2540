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
from search.errors import UsageError
from search.results import served, served_lines
from search.results.combination import simplex_weights
from search.results.forecaster import EnsembleForecaster, Forecaster, unpack
from search.results.loading import load_best
from search.results.served_forecaster import ServedForecaster
from search.study_attrs import flat, write
from search.worker import stat_forecasts
from search.worker.stat_baselines import history_rows
from tests._studies import driver_trial, searched_study, trained, trained_checkpoint

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
    trial, mstl = (next(c["forecasts"]["val"] for c in scored if c["label"] == name) for name in ("trial #0", "MSTL"))
    assert served.edge_test(trial, mstl, truth, "mae", 0)[1] < served.edge_test(trial, mstl, truth, "mae", 5)[1]
    # a combination that holds classical members is served as the best on validation, untested
    scored, truth = _gate_case(edge=0.02)
    hedged = {**scored[0], "label": "0.5 x trial #0 + 0.5 x MSTL", "members": [*scored[0]["members"], {"kind": "stat", "name": "MSTL", "model": "mstl"}]}
    assert served.gated([hedged, *scored], truth, "mae", 5) == (hedged, None)
    # a classical answer best on validation is served without a test
    scored, truth = _gate_case(edge=-0.5)
    assert scored[0]["label"] == "MSTL" and served.gated(scored, truth, "mae", 5) == (scored[0], None)


def _classical_case(n: int, h: int, edge: float, seed: int = 7):
    """Scored candidates over ``n`` windows of ``h`` steps: a seasonal naive whose absolute
    errors are AutoETS's minus ``edge`` plus noise, MSTL a little worse than AutoETS, and a
    trial worse than all of them."""
    import torch

    rng = np.random.default_rng(seed)
    walk = np.abs(np.cumsum(rng.standard_normal(n + h))) + 1.0
    base = torch.as_tensor(np.stack([walk[i : i + h] for i in range(n)])[..., None])
    truth = torch.zeros((n, h, 1), dtype=torch.float64)
    forecasts = {
        "t0": truth + base + 3.0,
        "autoets": truth + base,
        "mstl": truth + base + 0.2,
        "snaive": truth + (base - edge) + 0.3 * torch.as_tensor(rng.standard_normal((n, h, 1))).abs(),
    }
    names = {"t0": {"kind": "trial", "name": "trial #0", "trials": [0]}, "autoets": {"kind": "stat", "name": "AutoETS", "model": "autoets"},
             "mstl": {"kind": "stat", "name": "MSTL", "model": "mstl"}, "snaive": {"kind": "seasonal_naive", "name": "seasonal naive (s=4)", "season": 4}}

    def score(pred, part):
        return {"mae": float((pred - truth).abs().mean())}

    return served.candidates({k: {"val": v, "test": v} for k, v in forecasts.items()}, names, truth, score, "mae"), truth


def test_the_classical_answer_is_the_best_statistical_model_unless_another_beats_it_for_real():
    # the one validation window of a short series: the seasonal naive won it, by luck or not,
    # and no test can tell; the statistical model best on validation is the classical answer
    scored, truth = _classical_case(n=6, h=4, edge=0.3)
    assert scored[0]["label"] == "seasonal naive (s=4)"
    assert [c["label"] for c in scored if c["prior"]] == ["AutoETS"]
    chosen, edge = served.gated(scored, truth, "mae", lag=3)
    assert chosen["label"] == "AutoETS"
    assert edge == {"challenger": "seasonal naive (s=4)", "classical": "AutoETS", "z": 0.0, "p": 0.5, "alpha": served.EDGE_ALPHA, "served": "AutoETS"}
    assert "the classical answer: seasonal naive (s=4) was better on validation, but not significantly (p 0.50 > 0.1)" in served_lines.served_line(
        {"label": chosen["label"], "metric": "mae", "val": chosen["val"], "test": chosen["test"], "edge": edge, "baselines": {}})
    # over many windows the same edge is real, and the seasonal naive is served
    scored, truth = _classical_case(n=300, h=4, edge=0.3)
    assert served.gated(scored, truth, "mae", lag=3) == (scored[0], None) and scored[0]["label"] == "seasonal naive (s=4)"
    # a network that beat the seasonal naive by a hair faces the statistical model it fell back to
    scored, truth = _classical_case(n=6, h=4, edge=0.3)
    lucky = {**scored[0], "label": "trial #9", "kind": "trial", "members": [{"kind": "trial", "name": "trial #9", "trials": [9]}]}
    chosen, edge = served.gated([lucky, *scored], truth, "mae", lag=3)
    assert chosen["label"] == "AutoETS" and edge["challenger"] == "trial #9" and edge["classical"] == "AutoETS"
    assert edge["prior"] == {"challenger": "seasonal naive (s=4)", "z": 0.0, "p": 0.5}


def test_the_edge_test_corrects_for_few_overlapping_windows():
    import torch

    rng = np.random.default_rng(11)
    truth = torch.zeros((400, 4, 1), dtype=torch.float64)
    incumbent = truth + 1.0 + torch.as_tensor(rng.standard_normal((400, 4, 1))).abs()
    challenger = incumbent - 0.05
    # fewer windows than two horizons of origins: one stretch of errors, no verdict
    assert served.edge_test(challenger[:7], incumbent[:7], truth[:7], "mae", 3) == (0.0, 0.5)
    # many windows: a constant edge is certain, with or without the correction
    z, p = served.edge_test(challenger, incumbent, truth, "mae", 3)
    assert p < 1e-6 and z < 0
    # a noisy edge: Harvey-Leybourne-Newbold shrinks the statistic by sqrt((n + 1 - 2h + h(h - 1) / n) / n)
    noisy = incumbent - 0.05 + 0.5 * torch.as_tensor(rng.standard_normal((400, 4, 1)))
    n, h = 20, 4
    z, p = served.edge_test(noisy[:n], incumbent[:n], truth[:n], "mae", h - 1)
    d = ((noisy[:n] - truth[:n]).abs() - (incumbent[:n] - truth[:n]).abs()).reshape(n, -1).mean(1).numpy()
    c = d - d.mean()
    variance = c @ c / n + sum(2 * (1 - k / h) * (c[k:] @ c[:-k]) / n for k in range(1, h))
    expected = d.mean() / np.sqrt(variance / n) * np.sqrt((n + 1 - 2 * h + h * (h - 1) / n) / n)
    assert z == pytest.approx(expected)
    from scipy.stats import t as student_t

    assert p == pytest.approx(student_t.cdf(expected, n - 1))


def test_the_mlflow_model_serves_the_combination_itself(study_of_losers, tmp_path):
    # the study serves its baselines (its networks lose): the MLflow model must forecast what
    # load_best forecasts, refitting them on the frame, not the best network's checkpoint
    import mlflow.pyfunc

    from search.results.mlflow_model import PYFUNC, model_files, signature

    space, url, artifacts, name = study_of_losers
    study = _open(url, name)
    forecaster = load_best(study, url, artifacts=str(artifacts))
    assert isinstance(forecaster, ServedForecaster) and not any(m["kind"] in ("trial", "ensemble") for _, _, m in forecaster.members)
    folder = tmp_path / "files"
    folder.mkdir()
    files, served_label = model_files(study, url, str(artifacts), forecaster, folder)
    assert served_label == served.recorded(study)["label"] and "served" in files
    assert [k for k in files if k.startswith("trial_")]  # the input's columns come from a kept trial's checkpoint
    mlflow.pyfunc.save_model(str(tmp_path / "model"), python_model=PYFUNC, artifacts=files, signature=signature())
    frame = pd.read_csv(space.parent / "series.csv").iloc[:300]
    model = mlflow.pyfunc.load_model(str(tmp_path / "model"))
    got = model.predict(frame)
    expected = np.asarray(forecaster.predict(frame), dtype=float)
    assert expected.shape[0] == 6  # the horizon
    np.testing.assert_allclose(np.asarray(got, dtype=float), expected, rtol=1e-9)
    # its prediction intervals, asked for as an MLflow param: the table load_best's predict writes
    bands = model.predict(frame, params={"level": [80.0, 95.0]})
    mine = forecaster.predict(frame, level=[80, 95])
    assert list(bands.columns) == list(mine.columns) == ["step", "y", "lo-95", "lo-80", "hi-80", "hi-95"]
    np.testing.assert_allclose(bands.to_numpy(dtype=float), mine.to_numpy(dtype=float), rtol=1e-9)
    assert (bands["hi-95"] > bands["hi-80"]).all() and (bands["lo-95"] < bands["lo-80"]).all()


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
    sheet = tmp_path / "series.xlsx"  # an input it does not read: one line naming it
    sheet.write_bytes(b"PK\x03\x04")
    assert main(["predict", name, "--input", str(sheet), "--storage", url]) == 2
    assert capsys.readouterr().err.strip() == f"error: --input {sheet}: is a spreadsheet (.xlsx); save the sheet as CSV (UTF-8) or Parquet and give that file"
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
    assert f"coverage {value['intervals']['test']['coverage_80']:.1f} % at 80 %" in page  # and its intervals' line


def test_trial_and_ensemble_stay_explicit_choices(study_of_losers):
    space, url, artifacts, name = study_of_losers
    one = load_best(name, url, trial=0)
    assert type(one) is Forecaster
    both = load_best(name, url, ensemble=2)
    assert isinstance(both, EnsembleForecaster) and not isinstance(both, ServedForecaster)
    frame = pd.read_csv(space.parent / "series.csv")
    assert list(one.predict(frame, level=[95]).columns) == ["step", "y", "lo-95", "hi-95"]  # the trial's own calibration
    with pytest.raises(UsageError, match="mean of the best K trials was not calibrated"):
        both.predict(frame, level=[80])


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
    from search.results.served_lines import gap_warning, recorded_served, served_line

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


# -- prediction intervals of the served forecaster (search.results.served_intervals)


def _origins(attrs: dict, part: str) -> list[int]:
    """The first target row of each scored window of a part (one series, every origin)."""
    found = attrs[f"targets_{part}"]
    return [found["first_origin"] + k for k in range(found["windows"])]


def _network_forecasts(study, artifacts, trials: list[int], frame: pd.DataFrame, origins: list[int]) -> np.ndarray:
    """The mean forecast (N, 6) of the trials' own checkpoints, each made from the rows before an origin."""
    nets = [unpack((artifacts / study.trials[n].user_attrs["checkpoint"]).read_bytes()) for n in trials]
    return np.stack([np.mean([net.predict(frame.iloc[:o])[:, 0] for net in nets], axis=0) for o in origins])


def _served_forecasts(study, artifacts, value: dict, frame: pd.DataFrame, origins: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """The served forecasts (N, 6) of windows at ``origins`` of the study's own series, member by
    member: networks from their checkpoints, statistical members as the study recorded their
    test forecasts, the seasonal naive read from the file; and the windows' targets."""
    attrs = flat(study)
    y = frame["y"].to_numpy()
    test = _origins(attrs, "test")
    recorded = stat_forecasts.decode(attrs[stat_forecasts.ATTR])
    point = np.zeros((len(origins), 6))
    for member in value["members"]:
        if member["kind"] in ("trial", "ensemble"):
            own = _network_forecasts(study, artifacts, member["trials"], frame, origins)
        elif member["kind"] == "stat":
            own = recorded[member["model"]]["test"][[test.index(o) for o in origins], :, 0]
        else:
            own = np.stack([y[o - member["season"] : o - member["season"] + 6] for o in origins])
        point += member["weight"] * own
    return point, np.stack([y[o : o + 6] for o in origins])


def test_the_served_intervals_are_scored_on_the_point_forecasts_targets(study_of_losers):
    from search.results import served_intervals
    from search.results.tables import best_summary
    from search.worker.intervals import calibration_from_json, interval_scores

    space, url, artifacts, name = study_of_losers
    study = _open(url, name)
    attrs, value = flat(study), served.recorded(study)
    entry = value["intervals"]
    assert entry["levels"] == [80.0, 95.0] and entry["method"] == "symmetric"  # the study's data.levels and interval_method
    frame = pd.read_csv(space.parent / "series.csv")
    y = frame["y"].to_numpy()
    origins = _origins(attrs, "test")
    truth = np.stack([y[o : o + 6] for o in origins])  # (N, 6) read from the file, not from the windows code
    # the served point forecast of every test window, made here member by member
    recorded = stat_forecasts.decode(attrs[stat_forecasts.ATTR])
    point = np.zeros_like(truth)
    for member in value["members"]:
        if member["kind"] in ("trial", "ensemble"):
            own = _network_forecasts(study, artifacts, member["trials"], frame, origins)
        elif member["kind"] == "stat":
            own = recorded[member["model"]]["test"][..., 0]
        else:
            own = np.stack([y[o - member["season"] : o - member["season"] + 6] for o in origins])
        point += member["weight"] * own
    # the same targets as the served point forecast's test metrics ...
    assert float(np.abs(point - truth).mean()) == pytest.approx(value["test"]["mae"], rel=1e-4)
    # ... and the recorded interval figures are those of the online calibration around that
    # forecast (search.results.recent_errors), scored against the targets read from the file
    scored, context = served.scored_candidates(study, url, str(artifacts), str(space))
    mine = next(c for c in scored if c["label"] == value["label"])
    found = served_intervals.online(context["series"], context["data"], mine["forecasts"], context["truth"], context["ids"])
    np.testing.assert_allclose(found["point"]["test"][..., 0], point, rtol=1e-4, atol=1e-4)
    np.testing.assert_array_equal(found["origins"]["test"], origins)
    bands = found["bands"]
    mine_scores = interval_scores(truth[..., None], bands["test_lo"], bands["test_hi"], [80, 95])
    for key in ("coverage_80", "coverage_95", "width_80", "width_95", "interval_score_80", "interval_score_95", "interval_score"):
        assert entry["test"][key] == pytest.approx(mine_scores[key], rel=1e-4, abs=1e-6), key
    # the calibration kept for new data: every validation window with a recent error scale, and every test window
    k = entry["scaled"]["windows"]
    assert k == 15 and entry["scaled"]["by"] == "recent errors"  # horizon 6, every origin: the 15 latest known windows, 20 rows of targets
    with_scale = attrs["targets_val"]["windows"] - 6 - (k + 1) // 2 + 1  # the first known window ends 6 rows into the part
    assert calibration_from_json(entry["calibration"]).windows == with_scale + attrs["targets_test"]["windows"]
    assert entry["test"]["width_95"] > entry["test"]["width_80"] > 0 and entry["test"]["msis_80"] > 0
    line = best_summary(study)["intervals"]["line"]  # what search best and the report show
    assert line.startswith(f"test intervals of the served forecaster ({value['label']}): coverage {entry['test']['coverage_80']:.1f} % at 80 %, {entry['test']['coverage_95']:.1f} % at 95 %; interval score")


def test_an_ensembles_intervals_are_calibrated_and_scored_on_its_own_forecasts(study_of_losers):
    from search.results import served_intervals
    from search.results.served_intervals import calibrated
    from search.worker.intervals import interval_scores
    from search.worker.uncertainty import series_scales

    space, url, artifacts, name = study_of_losers
    study = _open(url, name)
    scored, context = served.scored_candidates(study, url, str(artifacts), str(space))
    candidate = next(c for c in scored if c["kind"] == "ensemble")
    entry = calibrated(context["series"], context["data"], candidate["forecasts"], context["truth"], context["ids"], series_scales(context["series"]))
    # independently: the ensemble's forecasts of every validation and test window, from the rows before it
    frame = pd.read_csv(space.parent / "series.csv")
    y = frame["y"].to_numpy()
    trials = candidate["members"][0]["trials"]
    parts = {}
    for part in ("val", "test"):
        origins = _origins(flat(study), part)
        parts[part] = (_network_forecasts(study, artifacts, trials, frame, origins)[..., None], np.stack([y[o : o + 6] for o in origins])[..., None])
    found = served_intervals.online(context["series"], context["data"], candidate["forecasts"], context["truth"], context["ids"])
    np.testing.assert_allclose(found["point"]["val"], parts["val"][0], rtol=1e-4, atol=1e-5)  # calibrated on its own forecasts
    np.testing.assert_allclose(found["point"]["test"], parts["test"][0], rtol=1e-4, atol=1e-5)
    expected = interval_scores(parts["test"][1], found["bands"]["test_lo"], found["bands"]["test_hi"], [80, 95])
    assert entry["test"]["coverage_80"] == pytest.approx(expected["coverage_80"], abs=1e-9)
    assert entry["test"]["interval_score"] == pytest.approx(expected["interval_score"], rel=1e-6)
    # its point metrics were scored on the same test targets
    assert float(np.abs(parts["test"][0] - parts["test"][1]).mean()) == pytest.approx(candidate["test"]["mae"], rel=1e-4)


def test_predict_draws_the_calibrated_levels(study_of_losers, capsys, tmp_path):
    space, url, artifacts, name = study_of_losers
    value = served.recorded(_open(url, name))
    csv = str(space.parent / "series.csv")
    frame = pd.read_csv(csv)
    out = tmp_path / "bands.csv"
    assert main(["predict", name, "--input", csv, "--storage", url, "--level", "80", "--level", "95", "--out", str(out)]) == 0
    assert "with 80 % and 95 % intervals" in capsys.readouterr().out
    table = pd.read_csv(out)
    assert list(table.columns) == ["step", "y", "lo-95", "lo-80", "hi-80", "hi-95"]
    lo95, lo80, point, hi80, hi95 = (table[c].to_numpy() for c in ("lo-95", "lo-80", "y", "hi-80", "hi-95"))
    assert (lo95 <= lo80).all() and (lo80 <= point).all() and (point <= hi80).all() and (hi80 <= hi95).all()
    assert (hi95 - lo95 > hi80 - lo80).any()
    # the point column is the served forecast, unchanged; the half-widths are the calibrated ones, step by step
    forecaster = load_best(name, url)
    np.testing.assert_allclose(point, forecaster.predict(frame)[:, 0], rtol=1e-5)
    # the calibrated offsets (in units of the forecaster's recent error) times its mean absolute
    # error on the input's 15 latest windows with known targets (search.results.recent_errors)
    offsets = np.asarray(value["intervals"]["calibration"]["offsets"])[0]  # (L, H, T, 2) of the one series
    sigma = (hi80 - point) / offsets[0, :, 0, 1]
    np.testing.assert_allclose(sigma, sigma[0], rtol=1e-6)  # one scale for every step
    np.testing.assert_allclose(point - lo95, offsets[1, :, 0, 0] * sigma[0], rtol=1e-4, atol=1e-6)
    study = _open(url, name)
    k = value["intervals"]["scaled"]["windows"]
    assert k == 15  # horizon 6, every origin: 15 windows span 20 rows of targets
    origins = [len(frame) - 6 - j for j in reversed(range(k))]  # the latest 15 windows, every origin
    assert origins[-1] == _origins(flat(study), "test")[-1]  # the input is the study's series: its last test windows
    made, truth = _served_forecasts(study, artifacts, value, frame, origins)
    # (the statistical members are fitted once and run forward over the input, the recorded
    # test forecasts refitted along the part: they agree to a few parts in 10,000)
    assert sigma[0] == pytest.approx(float(np.abs(made - truth).mean()), rel=1e-3)
    # without --level: the study's data.levels; load_best(...).predict(frame, level=...) gives the CLI's table
    assert main(["predict", name, "--input", csv, "--storage", url]) == 0
    assert capsys.readouterr().out.splitlines()[0] == "step,y,lo-95,lo-80,hi-80,hi-95"
    assert main(["predict", name, "--input", csv, "--storage", url, "--level", "80", "--out", str(out)]) == 0
    cli = pd.read_csv(out)
    api = forecaster.predict(frame, level=[80])
    assert list(api.columns) == list(cli.columns) == ["step", "y", "lo-80", "hi-80"]
    np.testing.assert_allclose(api.to_numpy(dtype=float), cli.to_numpy(dtype=float), rtol=1e-6)
    # a level the study did not calibrate: one line naming --level and the valid levels, exit 2
    capsys.readouterr()
    assert main(["predict", name, "--input", csv, "--storage", url, "--level", "99"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--level 99" in err and "80, 95" in err and "Traceback" not in err
    with pytest.raises(UsageError, match="--level 99"):
        forecaster.predict(frame, level=[99])
    assert main(["predict", name, "--input", csv, "--storage", url, "--level", "150"]) == 2
    assert "--level 150.0: a level is a percentage between 0 and 100" in capsys.readouterr().err
    # search best says how the served intervals covered
    assert main(["best", name, "--storage", url]) == 0
    assert f"test intervals of the served forecaster ({value['label']}): coverage {value['intervals']['test']['coverage_80']:.1f} % at 80 %" in capsys.readouterr().out


def _without_intervals(data: bytes) -> bytes:
    """A checkpoint as written before trials calibrated intervals: its header without them."""
    from safetensors.torch import load as load_tensors
    from safetensors.torch import save as save_tensors

    from search.results.forecaster import read_header
    from search.worker.checkpoint import METADATA_KEY

    header = read_header(data)
    assert "intervals" in header  # a trial of today packs its calibration
    del header["intervals"]
    return save_tensors(load_tensors(data), metadata={METADATA_KEY: json.dumps(header, sort_keys=True)})


def test_an_old_study_predicts_points_and_says_why_it_has_no_intervals(tiny_space, tmp_path, capsys):
    from search.driver.uploads import upload_checkpoint

    url, artifacts = f"sqlite:///{tmp_path}/old.db", tmp_path / "artifacts"
    data, best = trained_checkpoint(tiny_space)
    rdb = storage.open_storage(url, heartbeat_interval=None, grace_period=None)
    study = optuna.create_study(study_name="old", storage=rdb)
    trial = driver_trial(study)
    storage.set_trial_user_attrs(rdb, trial._trial_id, upload_checkpoint(storage.open_artifact_store(url, artifacts), rdb, trial, _without_intervals(data)))
    study.tell(trial, best)
    csv = str(tiny_space.parent / "series.csv")
    frame = pd.read_csv(csv)
    forecaster = load_best("old", url, artifacts=str(artifacts))
    assert forecaster.predict(frame).shape == (1, 1)  # points, as before
    with pytest.raises(UsageError, match="no intervals to draw"):
        forecaster.predict(frame, level=[80])
    capsys.readouterr()
    assert main(["predict", "old", "--input", csv, "--storage", url, "--artifacts", str(artifacts)]) == 0
    assert capsys.readouterr().out.splitlines()[0] == "step,y"  # no levels by default: points only
    assert main(["predict", "old", "--input", csv, "--storage", url, "--artifacts", str(artifacts), "--level", "80"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.count("--level 80") == 1 and "without --level" in err
    # the same trial with its calibration (a study of today) draws its own intervals with --trial
    url2 = f"sqlite:///{tmp_path}/new.db"
    searched_study(tiny_space, url2, tmp_path / "artifacts2", name="new")
    table = load_best("new", url2, artifacts=str(tmp_path / "artifacts2"), trial=0).predict(frame, level=[80, 95])
    assert list(table.columns) == ["step", "y", "lo-95", "lo-80", "hi-80", "hi-95"]
    assert (table["lo-95"] <= table["lo-80"]).all() and (table["lo-80"] <= table["y"]).all() and (table["y"] <= table["hi-80"]).all() and (table["hi-80"] <= table["hi-95"]).all()


def test_export_writes_the_served_forecasts_with_their_bounds(study_of_losers, capsys, tmp_path):
    space, url, artifacts, name = study_of_losers
    value = served.recorded(_open(url, name))
    out = tmp_path / "forecasts.csv"
    assert main(["export", name, "--storage", url, "--forecasts", "--space", str(space), "--out", str(out)]) == 0
    table = pd.read_csv(out)
    assert list(table.columns) == ["part", "row", "step", "y", "served", "served-lo-95", "served-lo-80", "served-hi-80", "served-hi-95"]
    y = pd.read_csv(space.parent / "series.csv")["y"].to_numpy()
    np.testing.assert_allclose(table["y"].to_numpy(), y[table["row"].to_numpy()], rtol=1e-6)  # the actual values, row by row
    test = table[table["part"] == "test"]
    assert len(test) == flat(_open(url, name))["targets_test"]["windows"] * 6
    assert float((test["served"] - test["y"]).abs().mean()) == pytest.approx(value["test"]["mae"], rel=1e-4)
    covered = ((test["served-lo-80"] <= test["y"]) & (test["y"] <= test["served-hi-80"])).mean() * 100
    assert covered == pytest.approx(value["intervals"]["test"]["coverage_80"], abs=1e-9)
    assert main(["export", name, "--storage", url, "--artifacts", str(artifacts)]) == 2  # --artifacts goes with --forecasts
    assert "--artifacts: goes with --forecasts" in capsys.readouterr().err


def test_a_quantile_heads_trial_draws_its_own_conformalised_band(tiny_space, tmp_path):
    import models
    from search.worker.intervals import calibration_from_json

    space = tmp_path / "quantile.yaml"
    space.write_text(tiny_space.read_text().replace("  epochs: 3\n", "  epochs: 3\n  loss: quantile\n  quantiles: [0.05, 0.1, 0.5, 0.9, 0.95]\n"))
    url, artifacts = f"sqlite:///{tmp_path}/q.db", tmp_path / "artifacts"
    searched_study(space, url, artifacts, name="q")
    frame = pd.read_csv(tiny_space.parent / "series.csv")
    forecaster = load_best("q", url, artifacts=str(artifacts), trial=0)
    calibration = calibration_from_json(forecaster.payload["intervals"])
    assert calibration.method == "cqr" and calibration.levels == (80.0, 95.0)
    table = forecaster.predict(frame, level=[80, 95])
    assert list(table.columns) == ["step", "y", "lo-95", "lo-80", "hi-80", "hi-95"]
    np.testing.assert_allclose(table["y"].to_numpy(), forecaster.predict(frame)[:, 0], rtol=1e-6)  # the head's median
    # each level's band is the head's own quantiles there (0.1 / 0.9 for 80 %, 0.05 / 0.95 for 95 %), moved by the calibrated offsets
    with models.quantile_outputs(forecaster.model):
        quantiles = forecaster.predict(frame)  # (H, T, Q)
    offsets = calibration.offsets[0]  # (L, H, T, 2) of the one series
    np.testing.assert_allclose(table["lo-80"], quantiles[:, 0, 1] - offsets[0, :, 0, 0], rtol=1e-5)
    np.testing.assert_allclose(table["hi-95"], quantiles[:, 0, 4] + offsets[1, :, 0, 1], rtol=1e-5)


PANEL = """
model: {family: lstm, layer_sizes: "8", dropout: 0.0}
data:
  path: panel.csv
  time_column: t
  series_id: id
  target: y
  horizon: 3
  lookback: {choices: [6, 12]}
  scaler_scope: series
  stat_baselines_seconds: 0
train: {epochs: 2, batch_size: 64, lr: 0.01}
objective: {metric: mae, direction: minimize}
sampler: {name: random, seed: 0}
"""


def test_several_series_get_intervals_of_their_own_size(tmp_path, capsys):
    from tests._studies import ranked_study

    rng = np.random.default_rng(3)
    frames = []
    for name, level in (("a", 10.0), ("b", 100.0), ("c", 1000.0)):  # the noise grows with the level
        t = np.arange(300)
        y = level * (1 + 0.2 * np.sin(2 * np.pi * t / 10)) + 0.02 * level * rng.standard_normal(300)
        frames.append(pd.DataFrame({"id": name, "t": t, "y": np.round(y, 5)}))
    pd.concat(frames).to_csv(tmp_path / "panel.csv", index=False)
    space = tmp_path / "panel.yaml"
    space.write_text(textwrap.dedent(PANEL))
    url, artifacts = f"sqlite:///{tmp_path}/p.db", tmp_path / "artifacts"
    study = ranked_study(space, url, artifacts, [{"lookback": 6}, {"lookback": 12}], name="panel")
    value = served.record(study, url, str(artifacts), str(space))
    calibration = value["intervals"]["calibration"]
    assert sorted(calibration["own"]) == ["0", "1", "2"]  # every series had enough validation windows for its own offsets
    assert 60 <= value["intervals"]["test"]["coverage_80"] <= 98
    frame = pd.read_csv(tmp_path / "panel.csv")
    out = tmp_path / "bands.csv"
    assert main(["predict", "panel", "--input", str(tmp_path / "panel.csv"), "--storage", url, "--artifacts", str(artifacts), "--out", str(out)]) == 0
    table = pd.read_csv(out)
    assert list(table.columns) == ["id", "step", "y", "lo-95", "lo-80", "hi-80", "hi-95"] and len(table) == 9
    half = (table["hi-80"] - table["lo-80"]).groupby(table["id"]).mean()
    assert half["a"] < half["b"] < half["c"] and 3 < half["b"] / half["a"] < 30 and 3 < half["c"] / half["b"] < 30
    # export --forecasts: the series column and the rows of every series
    assert main(["export", "panel", "--storage", url, "--forecasts", "--space", str(space), "--artifacts", str(artifacts), "--out", str(tmp_path / "f.csv")]) == 0
    exported = pd.read_csv(tmp_path / "f.csv")
    assert list(exported.columns[:4]) == ["part", "id", "row", "step"] and set(exported["id"]) == {"a", "b", "c"}
    for name, rows in exported.groupby("id"):
        y = frame[frame["id"] == name]["y"].to_numpy()
        np.testing.assert_allclose(rows["y"].to_numpy(), y[rows["row"].to_numpy()], rtol=1e-6)
    test = exported[exported["part"] == "test"]
    covered = ((test["served-lo-80"] <= test["y"]) & (test["y"] <= test["served-hi-80"])).mean() * 100
    assert covered == pytest.approx(value["intervals"]["test"]["coverage_80"], abs=1e-9)


def test_a_served_attr_recorded_before_intervals_still_serves_points(study_of_losers, tmp_path, capsys):
    import sqlite3

    space, url, artifacts, name = study_of_losers
    with sqlite3.connect(url.removeprefix("sqlite:///")) as source, sqlite3.connect(tmp_path / "copy.db") as target:
        source.backup(target)  # the study as it is, in a copy (its write-ahead log included)
    copy = f"sqlite:///{tmp_path}/copy.db"
    study = _open(copy, name)
    value = served.recorded(study)
    write(study, {"served": {k: v for k, v in value.items() if k != "intervals"}})  # as recorded before intervals
    csv = str(space.parent / "series.csv")
    assert main(["predict", name, "--input", csv, "--storage", copy, "--artifacts", str(artifacts)]) == 0
    assert capsys.readouterr().out.splitlines()[0] == "step,y"
    assert main(["predict", name, "--input", csv, "--storage", copy, "--artifacts", str(artifacts), "--level", "80"]) == 2
    assert "no intervals to draw" in capsys.readouterr().err
    assert main(["best", name, "--storage", copy]) == 0
    shown = capsys.readouterr().out
    assert f"served: {value['label']}" in shown and "test intervals of the served forecaster" not in shown


def test_a_served_attr_recorded_before_the_scaling_draws_its_offsets_as_they_are(study_of_losers, tmp_path):
    import sqlite3

    space, url, artifacts, name = study_of_losers
    with sqlite3.connect(url.removeprefix("sqlite:///")) as source, sqlite3.connect(tmp_path / "copy.db") as target:
        source.backup(target)
    copy = f"sqlite:///{tmp_path}/copy.db"
    study = _open(copy, name)
    value = served.recorded(study)
    old = {k: v for k, v in value["intervals"].items() if k != "scaled"}  # offsets in the data's units, as recorded then
    write(study, {"served": {**value, "intervals": old}})
    frame = pd.read_csv(space.parent / "series.csv")
    table = load_best(name, copy, artifacts=str(artifacts)).predict(frame, level=[80, 95])
    offsets = np.asarray(old["calibration"]["offsets"])[0]  # (L, H, T, 2)
    np.testing.assert_allclose(table["hi-80"] - table["y"], offsets[0, :, 0, 1], rtol=1e-6)
    np.testing.assert_allclose(table["y"] - table["lo-95"], offsets[1, :, 0, 0], rtol=1e-6)
