"""The statistical baselines run beside the trials: the first trial starts at once, `search
best` says ``MSTL: running`` meanwhile, the attrs land when they finish, and a later run
computes only what is missing."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys

import optuna
import pytest

from search.driver.stat_runs import missing_models
from search.results.tables import compare_line, stat_states
from search.study_attrs import flat
from search.worker.stat_baselines import DELAY_ENV
from tests._procs import end_group, poll_until, start


def _finished(url: str, name: str) -> int:
    try:
        study = optuna.load_study(study_name=name, storage=url)
    except Exception:  # not made yet
        return 0
    return sum(t.state.is_finished() for t in study.get_trials(deepcopy=False))


@pytest.mark.slow
def test_the_first_trial_starts_before_mstl_finishes_and_best_says_it_runs(tiny_space, tmp_path):
    url = f"sqlite:///{tmp_path / 's.db'}"
    run = [sys.executable, "-m", "search", "run", str(tiny_space), "--trials", "2", "--storage", url, "--study", "beside"]
    proc = start(run, env={**os.environ, DELAY_ENV: "30"}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert poll_until(lambda: _finished(url, "beside") >= 1, timeout=240), "no trial finished"
        best = subprocess.run([sys.executable, "-m", "search", "best", "beside", "--storage", url], capture_output=True, text=True, timeout=120)
        out, _ = proc.communicate(timeout=600)
    finally:
        end_group(proc)
    assert best.returncode == 0, best.stderr
    assert "MSTL: running" in best.stdout, best.stdout
    assert proc.returncode == 0, out
    study = optuna.load_study(study_name="beside", storage=url)
    attrs = flat(study)
    assert attrs["stat_baselines_running"] == []  # the driver waited for them: the study ends with its baselines
    assert "baseline_mstl_val_rmse" in attrs and "baseline_autoets_val_rmse" in attrs and "baseline_autotheta_val_rmse" in attrs
    mstl_done = dt.datetime.fromisoformat(attrs["stat_baselines_finished"]["MSTL"]).astimezone().replace(tzinfo=None)  # optuna: local time
    first_start = min(t.datetime_start for t in study.trials)
    assert first_start < mstl_done  # the first trial did not wait for MSTL
    after = subprocess.run([sys.executable, "-m", "search", "best", "beside", "--storage", url], capture_output=True, text=True, timeout=120)
    assert "MSTL: running" not in after.stdout
    assert any(f"x {label})" in after.stdout or f"x {label}," in after.stdout for label in ("MSTL", "AutoETS", "AutoTheta")), after.stdout


def test_a_later_run_computes_only_the_models_not_recorded():
    assert missing_models({}) == ["mstl", "autoets", "autotheta"]
    recorded = {"baseline_mstl_seconds": 3.0, "baseline_autoets_note": "ValueError: x"}
    assert missing_models(recorded) == ["autotheta"]
    old = {"baseline_autoets_seconds": 1.0, "baseline_autotheta_seconds": 2.0, "stat_baselines_note": "MSTL: not done within 120 s (data.stat_baselines_seconds)"}
    assert missing_models(old) == ["mstl"]  # a study made before: its skipped MSTL runs now


def test_no_compare_line_leads_with_a_weaker_baseline_while_a_stronger_may_come():
    attrs = {"baseline_naive_test_mae": 800.0, "baseline_autoets_test_mae": 3000.0, "baseline_autoets_seconds": 1.0,
             "stat_baselines_running": ["MSTL", "AutoTheta"]}  # fmt: skip
    line = compare_line("mae", 240.0, attrs, "test")
    assert line == "test mae 240 (0.30x naive, 0.08x AutoETS, MSTL: running, AutoTheta: running)"
    old = {"baseline_naive_test_mae": 800.0, "baseline_autoets_test_mae": 3000.0, "baseline_autoets_seconds": 1.0,
           "stat_baselines_note": "MSTL: not done within 120 s (data.stat_baselines_seconds); AutoTheta: ValueError: bad"}  # fmt: skip
    assert stat_states(old) == {"MSTL": "not computed", "AutoETS": "recorded", "AutoTheta": "failed"}
    assert compare_line("mae", 240.0, old, "test") == "test mae 240 (0.30x naive, 0.08x AutoETS, MSTL: not computed)"
    done = {**attrs, "baseline_mstl_test_mae": 250.0, "baseline_mstl_seconds": 9.0, "stat_baselines_running": [], "baseline_autotheta_note": "no season"}
    assert compare_line("mae", 240.0, done, "test") == "test mae 240 (0.96x MSTL, 0.30x naive)"
    assert stat_states({"baseline_naive_test_mae": 1.0}) == {}  # baselines off: nothing said


def test_the_report_says_which_baselines_still_run():
    from search.results.report import stat_baselines_line

    running = {"baseline_naive_test_mae": 800.0, "stat_baselines_running": ["MSTL", "AutoETS", "AutoTheta"]}
    assert stat_baselines_line(running) == "Statistical baselines: MSTL: running, AutoETS: running, AutoTheta: running"
    part = {"baseline_autoets_test_mae": 3.1, "baseline_autoets_test_rmse": 3.34, "baseline_autoets_seconds": 1.0, "stat_baselines_running": ["MSTL"]}
    assert stat_baselines_line(part).endswith("AutoETS test MAE 3.1, RMSE 3.34 (MSTL: running)")
