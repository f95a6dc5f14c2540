"""The statistical baselines' own prediction intervals (statsforecast's ``level=``), scored on
exactly the targets of their point forecasts and of the trials, and ``search best``'s line that
puts the served intervals beside them."""

from __future__ import annotations

import json
import math
import textwrap

import numpy as np
import optuna
import pytest

from search.cli import main
from search.results.interval_summary import interval_summary
from search.study_attrs import flat
from search.worker import intervals, stat_forecasts
from search.worker import stat_baselines as sb
from search.worker.data import SeriesData
from search.worker.uncertainty import series_scales
from tests.conftest import TINY_SPACE, write_series

MODELS = ("mstl", "autoets", "autotheta")
LABELS = {"mstl": "MSTL", "autoets": "AutoETS", "autotheta": "AutoTheta"}


def noisy_cycle(n: int = 700, seed: int = 3) -> SeriesData:
    """A season of 12 with a trend and Gaussian noise (sd 0.5), split 0.7 / 0.15 / 0.15."""
    t = np.arange(n)
    y = 10 + 3 * np.sin(2 * math.pi * t / 12) + 0.01 * t + np.random.default_rng(seed).normal(0, 0.5, n)
    values = y.astype(np.float32).reshape(-1, 1)
    return SeriesData(values, 1, (int(n * 0.7), int(n * 0.85)), np.zeros(1, np.float32), np.ones(1, np.float32), ("y",))


def test_each_baselines_intervals_are_scored_on_its_point_forecasts_targets():
    series, horizon, step, levels = noisy_cycle(), 4, 2, (80, 95)
    attrs = sb.stat_baselines(series, horizon, step, [12], 120, levels)
    assert "stat_baselines_note" not in attrs
    # the trials' own test targets: the windows every trial is scored on (any lookback)
    _, y = series.windows("test", 24, horizon, step)
    truth = series.unscale_targets(y).double().numpy()  # (N, H, T)
    kept = stat_forecasts.decode(attrs[stat_forecasts.ATTR])
    scale = series_scales(series)[0]  # (T,) the trials' MSIS scale
    spec = sb.baseline_jobs(series, horizon, step, [12], levels)
    job = next(j for j in spec["jobs"] if j["part"] == "test")
    for name in MODELS:
        point = kept[name]["test"]
        assert point.shape == truth.shape  # one forecast per target the trials are scored on
        assert np.abs(point - truth).mean() == pytest.approx(attrs[f"baseline_{name}_test_mae"], rel=1e-5)
        pred, lo, hi = sb.forecast_bands(name, [12], job["history"], job["n_windows"], horizon, step, levels)
        assert lo.shape == hi.shape == (len(levels), *truth.shape)
        np.testing.assert_allclose(pred, point, rtol=1e-5)  # the bounds belong to the point forecast recorded
        mine = intervals.interval_scores(truth, lo, hi, levels, np.repeat(scale[None], len(truth), axis=0))
        for key in ("coverage_80", "coverage_95", "width_80", "interval_score_80", "interval_score_95", "msis_80", "interval_score", "coverage_error"):
            assert attrs[f"baseline_{name}_test_{key}"] == pytest.approx(mine[key], rel=1e-9), (name, key)
        # coverage is a share of exactly these targets, and MSIS the trials' scale
        hits = attrs[f"baseline_{name}_test_coverage_80"] * truth.size / 100
        assert hits == pytest.approx(round(hits), abs=1e-6)
        assert attrs[f"baseline_{name}_test_msis_80"] == pytest.approx(attrs[f"baseline_{name}_test_interval_score_80"] / scale[0], rel=1e-9)
        assert attrs[f"baseline_{name}_test_width_95"] > attrs[f"baseline_{name}_test_width_80"] > 0
        assert attrs[f"baseline_{name}_test_coverage_95"] >= attrs[f"baseline_{name}_test_coverage_80"]
        assert f"baseline_{name}_val_interval_score" in attrs


def test_the_baselines_intervals_follow_the_studys_levels():
    attrs = sb.stat_baselines(noisy_cycle(500), 3, 3, [12], 120, (90,))
    assert "baseline_autoets_test_coverage_90" in attrs and "baseline_autoets_test_interval_score_90" in attrs
    assert not any("_80" in k or "_95" in k for k in attrs)


def summary_of(test: dict, trial: int = 3, served: dict | None = None) -> dict:
    return {"trial": trial, "test": test, **({"served": served} if served else {})}


def test_the_line_names_coverage_per_level_and_the_ratio_to_the_best_baseline():
    test = {"mae": 1.0, "coverage_80": 79.6, "coverage_95": 94.1, "interval_score_80": 0.8, "interval_score_95": 1.0, "interval_score": 0.9}
    study = {
        "baseline_mstl_seconds": 1.0, "baseline_mstl_test_interval_score_80": 1.0, "baseline_mstl_test_interval_score_95": 1.2,
        "baseline_autoets_seconds": 1.0, "baseline_autoets_test_interval_score_80": 2.0, "baseline_autoets_test_interval_score_95": 2.0,
        "baseline_autotheta_seconds": 1.0,  # recorded before intervals: no interval figure
    }  # fmt: skip
    shown = interval_summary(summary_of(test), study, LABELS)
    assert shown["line"] == f"test intervals of trial #3: coverage 79.6 % at 80 %, 94.1 % at 95 %; interval score {0.9 / 1.1:.2f}x MSTL"
    assert shown["versus"] == {"baseline": "MSTL", "ratio": pytest.approx(0.9 / 1.1)}
    # the served forecaster's own figures win over the best trial's once recorded
    served = {"label": "0.6 x trial #3 + 0.4 x MSTL", "intervals": {"test": {**test, "coverage_80": 81.0, "interval_score_80": 0.6, "interval_score_95": 0.6}}}
    line = interval_summary(summary_of(test, served=served), study, LABELS)["line"]
    assert line == f"test intervals of the served forecaster (0.6 x trial #3 + 0.4 x MSTL): coverage 81.0 % at 80 %, 94.1 % at 95 %; interval score {0.6 / 1.1:.2f}x MSTL"
    # a baseline still running: every ratio shown, none leads
    assert interval_summary(summary_of(test), study, LABELS, ["AutoTheta"])["line"].endswith(f"interval score {0.9 / 1.1:.2f}x MSTL, {0.9 / 2.0:.2f}x AutoETS, AutoTheta: running")
    # no baseline intervals (an older study's baselines): the score alone; no interval figure at all: no line
    assert interval_summary(summary_of(test), {"baseline_mstl_test_mae": 1.0}, LABELS)["line"].endswith("; interval score 0.9")
    assert interval_summary(summary_of({"mae": 1.0, "rmse": 2.0}), study, LABELS) is None


# -- a real search


SPACE = TINY_SPACE.replace("epochs: 3", "epochs: 2")


@pytest.mark.slow
def test_a_search_records_the_baselines_intervals_and_search_best_compares(ray_local, tmp_path, capsys):
    from search.driver.run import run_search

    write_series(tmp_path / "series.csv")
    (tmp_path / "tiny.yaml").write_text(textwrap.dedent(SPACE))
    url = f"sqlite:///{tmp_path / 'studies.db'}"
    run_search(tmp_path / "tiny.yaml", trials=2, storage_url=url, quiet=True, artifacts=str(tmp_path / "art"), overrides=["pruner=none"])
    study = optuna.load_study(study_name="tiny", storage=url)
    attrs = flat(study)  # the grouped study attrs, read by their flat names
    best = study.best_trial
    shape = stat_forecasts.decode(attrs[stat_forecasts.ATTR])["mstl"]["test"].shape  # (N, H, T) the point forecasts' targets
    targets = int(np.prod(shape))
    means = {}
    for name in MODELS:
        for key in ("coverage_80", "coverage_95", "width_80", "width_95", "interval_score_80", "interval_score_95", "msis_80", "msis_95"):
            assert math.isfinite(attrs[f"baseline_{name}_test_{key}"]), (name, key)
        for level in ("80", "95"):  # shares of the same targets as the point figures and the trials' coverage
            for share in (attrs[f"baseline_{name}_test_coverage_{level}"], best.user_attrs[f"test_coverage_{level}"]):
                assert share * targets / 100 == pytest.approx(round(share * targets / 100), abs=1e-6)
        assert attrs[f"baseline_{name}_test_interval_score"] == pytest.approx((attrs[f"baseline_{name}_test_interval_score_80"] + attrs[f"baseline_{name}_test_interval_score_95"]) / 2)
        means[sb.STAT_MODELS[name]] = attrs[f"baseline_{name}_test_interval_score"]
    label = min(means, key=means.get)
    mine = (best.user_attrs["test_interval_score_80"] + best.user_attrs["test_interval_score_95"]) / 2
    capsys.readouterr()
    assert main(["best", "tiny", "--storage", url]) == 0
    out = capsys.readouterr().out
    coverage = f"{best.user_attrs['test_coverage_80']:.1f} % at 80 %, {best.user_attrs['test_coverage_95']:.1f} % at 95 %"
    assert f"test intervals of trial #{best.number}: coverage {coverage}; interval score {mine / means[label]:.2f}x {label}\n" in out
    assert main(["best", "tiny", "--storage", url, "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)["intervals"]
    assert shown["versus"] == {"baseline": label, "ratio": pytest.approx(mine / means[label])}
    assert shown["coverage"] == {"80": pytest.approx(best.user_attrs["test_coverage_80"]), "95": pytest.approx(best.user_attrs["test_coverage_95"])}

    # an old study: its attrs have no interval figure, and search best says what it always said
    old = optuna.create_study(study_name="old", storage=url)
    for key, value in attrs.items():
        if not any(f"_{m}" in key for m in ("coverage", "width", "interval_score", "msis", "crps")):
            old.set_user_attr(key, value)
    trial = old.ask({"x": optuna.distributions.FloatDistribution(0, 1)})
    for key, value in best.user_attrs.items():
        if key.startswith("test_") and not any(m in key for m in ("coverage", "width", "interval_score", "msis", "crps")):
            trial.set_user_attr(key, value)
    trial.set_user_attr("epochs_run", 1)
    old.tell(trial, best.value)
    assert main(["best", "old", "--storage", url]) == 0
    out = capsys.readouterr().out
    assert "test rmse" in out and "x MSTL" in out and "test intervals" not in out and "interval score" not in out
