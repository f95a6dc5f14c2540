"""The `search` command as a user runs it: exit codes, one-line errors, Ctrl-C and resume."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time

import optuna
import pytest
from optuna.trial import TrialState

from search.cli import main


def test_usage_errors_exit_2_without_traceback(tiny_space, tmp_path, capsys):
    db = tmp_path / "s.db"
    cases = [
        (["run", str(tiny_space), "--trials", "0"], "--trials 0: must be at least 1"),
        (["run", str(tiny_space)], "--trials"),
        (["run", str(tiny_space), "--trials", "2", "--set", "train.epochs"], "--set 'train.epochs': expected KEY=VALUE"),
        (["run", str(tiny_space), "--trials", "2", "--set", "train.epochs=ten"], "train.epochs: expected an integer, got 'ten'"),
        (["run", str(tiny_space), "--trials", "2", "--set", "train.lrr=0.1"], "train.lrr: unknown key; did you mean 'lr'?"),
        (["run", str(tmp_path / "missing.yaml"), "--trials", "2"], "no such space file"),
    ]
    for argv, expected in cases:
        code = main(argv + ["--storage", f"sqlite:///{db}"] if argv[0] == "run" and "--trials" in argv else argv)
        err = capsys.readouterr().err
        assert code == 2, (argv, err)
        assert expected in err, (argv, err)
        assert "Traceback" not in err
        assert not db.exists(), "a rejected run must not create the storage"


def test_debug_shows_the_traceback(tiny_space, capsys):
    assert main(["--debug", "run", str(tiny_space), "--trials", "2", "--set", "train.epochs=ten"]) == 2
    assert "Traceback" in capsys.readouterr().err


def test_validate_and_show(tiny_space, capsys):
    assert main(["validate", str(tiny_space)]) == 0
    assert "ok (lstm, 3 searched parameters" in capsys.readouterr().out
    assert main(["show", str(tiny_space), "--set", "train.epochs=7"]) == 0
    out = capsys.readouterr().out
    assert '"lookback"' in out and '"epochs": 7' in out


def _finished(db) -> int:
    try:
        with sqlite3.connect(db) as conn:
            return conn.execute("select count(*) from trials where state in ('COMPLETE', 'PRUNED')").fetchone()[0]
    except sqlite3.Error:
        return 0


@pytest.mark.slow
def test_ctrl_c_records_interrupted_trials_and_the_same_command_resumes(tiny_space, tmp_path):
    db = tmp_path / "s.db"
    cmd = [sys.executable, "-m", "search", "run", str(tiny_space), "--trials", "8", "--storage", f"sqlite:///{db}", "--set", "train.epochs=40", "--set", "pruner=none"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 240
        while _finished(db) < 1 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.5)
        assert _finished(db) >= 1, "no trial finished in time"
        os.kill(proc.pid, signal.SIGINT)
        out, _ = proc.communicate(timeout=240)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, out
    assert "interrupted; run the same command again to resume" in out

    url = f"sqlite:///{db}"
    study = optuna.load_study(study_name="tiny", storage=url)
    states = [t.state for t in study.trials]
    assert TrialState.RUNNING not in states
    interrupted = [t for t in study.trials if t.state == TrialState.FAIL]
    assert interrupted and all(t.user_attrs["error"] == "interrupted" for t in interrupted)
    complete_before = {t.number: t.value for t in study.trials if t.state == TrialState.COMPLETE}
    assert complete_before and len(complete_before) < 8

    rerun = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    study = optuna.load_study(study_name="tiny", storage=url)
    finished = [t for t in study.trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
    assert len(finished) == 8
    for number, value in complete_before.items():
        assert study.trials[number].state == TrialState.COMPLETE and study.trials[number].value == value
    # every interrupted trial ran again with the same params
    retried = {t.user_attrs.get("retry_of"): t for t in study.trials if "retry_of" in t.user_attrs}
    for t in interrupted:
        assert t.number in retried and retried[t.number].params == t.params
    assert "best trial #" in rerun.stdout and "search dashboard --storage" in rerun.stdout


@pytest.mark.slow
def test_several_spaces_run_one_after_the_other(ray_local, tiny_space, tmp_path, capsys):
    other = tmp_path / "tiny2.yaml"
    other.write_text(tiny_space.read_text())
    url = f"sqlite:///{tmp_path}/s.db"
    assert main(["run", str(tiny_space), str(other), "--trials", "2", "--storage", url, "--quiet"]) == 0
    out = capsys.readouterr().out
    assert out.count("best trial #") == 2
    for name in ("tiny", "tiny2"):
        study = optuna.load_study(study_name=name, storage=url)
        assert sum(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in study.trials) == 2


@pytest.mark.slow
def test_changed_space_is_refused_then_forked(ray_local, tiny_space, tmp_path, capsys):
    url = f"sqlite:///{tmp_path}/s.db"
    assert main(["run", str(tiny_space), "--trials", "4", "--storage", url, "--quiet"]) == 0
    capsys.readouterr()
    narrower = ["--set", "train.lr={type: float, low: 0.004, high: 0.01, log: true}"]
    assert main(["run", str(tiny_space), "--trials", "4", "--storage", url, "--quiet", *narrower]) == 2
    err = capsys.readouterr().err
    assert "made from a different space" in err and "train.lr" in err and "--fork" in err
    old = optuna.load_study(study_name="tiny", storage=url)
    fitting = [t for t in old.trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED) and t.params["lr"] >= 0.004]

    assert main(["run", str(tiny_space), "--trials", "6", "--storage", url, "--quiet", "--fork", "tiny-narrow", *narrower]) == 0
    new = optuna.load_study(study_name="tiny-narrow", storage=url)
    assert sum(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in new.trials) == 6
    copied = new.trials[: len(fitting)]
    assert [t.params for t in copied] == [t.params for t in fitting]
    assert [t.intermediate_values for t in copied] == [t.intermediate_values for t in fitting]
    assert all(t.params["lr"] >= 0.004 for t in new.trials)
    assert len(optuna.load_study(study_name="tiny", storage=url).trials) == len(old.trials)  # the old study is untouched
