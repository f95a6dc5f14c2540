"""A real search through Ray whose trials trade point error against interval score: every trial
of the study holds its interval figures as user attrs, and a searched loss picks the quantile
head for some trials."""

from __future__ import annotations

import textwrap

import optuna
import pytest
from optuna.trial import TrialState

import search
from tests.conftest import TINY_SPACE, write_series

pytestmark = pytest.mark.slow

SPACE = (
    textwrap.dedent(TINY_SPACE)
    .replace("  target: y\n", "  target: y\n  horizon: 2\n  levels: [80, 95]\n")
    .replace("  epochs: 3\n", "  epochs: 2\n  loss: {choices: [mse, quantile]}\n  quantiles: {choices: [[0.1, 0.5, 0.9], [0.05, 0.5, 0.95]]}\n")
    .replace("objective: {metric: rmse, direction: minimize}", "objective: [{metric: rmse}, {metric: interval_score}]")
    .replace("sampler: {name: random, seed: 0}", "sampler: {name: random, seed: 1}")
    .replace("pruner: {name: median, n_startup_trials: 2, n_warmup_steps: 1}\n", "")
)


def test_a_study_trades_rmse_against_interval_score(ray_local, tmp_path):
    write_series(tmp_path / "series.csv")
    (tmp_path / "iv.yaml").write_text(SPACE)
    url = f"sqlite:///{tmp_path}/studies.db"
    search.run(tmp_path / "iv.yaml", trials=4, storage=url, artifacts=str(tmp_path / "artifacts"), quiet=True)
    study = optuna.load_study(study_name="iv", storage=url)
    assert study.metric_names == ["rmse", "interval_score"]
    trials = study.trials
    assert len(trials) == 4 and all(t.state == TrialState.COMPLETE for t in trials)
    for t in trials:
        attrs = t.user_attrs
        for level in (80, 95):
            assert 0 <= attrs[f"test_coverage_{level}"] <= 100
            assert attrs[f"test_width_{level}"] > 0 and attrs[f"test_msis_{level}"] > 0
        assert attrs["test_interval_score"] >= attrs["test_width_80"]
        assert attrs["interval_method"] == ("cqr" if t.params["loss"] == "quantile" else "symmetric")
        assert ("test_quantile_crps" in attrs) == (t.params["loss"] == "quantile")
        assert t.values[1] > 0  # the best epoch's validation interval score
    assert {t.params["loss"] for t in trials} == {"mse", "quantile"}, "seed 1 draws both losses in four trials"
