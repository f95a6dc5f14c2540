"""One study shared with a plain Optuna user: a real ``study.optimize`` process beside a real
``search run``. The search recovers only the trials its drivers made; the plain user's long
trial, older than the grace period and without a heartbeat, is theirs and finishes."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time

import optuna
import pytest
from optuna.trial import TrialState

import storage
from tests import _procs

pytestmark = pytest.mark.slow

PLAIN = """
import os, sys, time
import optuna

study = optuna.load_study(study_name="tiny", storage=sys.argv[1])
flag = sys.argv[2]

def objective(trial):
    x = trial.suggest_float("plain_x", -1, 1)
    trial.set_user_attr("by", "plain optuna")
    deadline = time.monotonic() + 300
    while not os.path.exists(flag) and time.monotonic() < deadline:  # runs until the search has ended
        time.sleep(0.2)
    return 5.0 + x * x

study.optimize(objective, n_trials=1)
print("plain optimize done", flush=True)
"""


def test_a_plain_optuna_trial_beside_a_search_is_left_alone(tiny_space, tmp_path):
    url = f"sqlite:///{tmp_path}/s.db"
    env = {**os.environ, "SEARCH_HEARTBEAT_INTERVAL_S": "1", "SEARCH_HEARTBEAT_GRACE_S": "2"}
    cmd = [sys.executable, "-m", "search", "run", str(tiny_space), "--storage", url, "--quiet", "--trials"]
    first = subprocess.run([*cmd, "1"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert first.returncode == 0, first.stdout + first.stderr
    script = tmp_path / "plain.py"
    script.write_text(textwrap.dedent(PLAIN))
    flag = tmp_path / "search-ended"
    plain = _procs.start([sys.executable, str(script), url, str(flag)], cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:

        def plain_running():
            trials = optuna.load_study(study_name="tiny", storage=url).get_trials(deepcopy=False)
            return [t for t in trials if t.state == TrialState.RUNNING]

        assert _procs.poll_until(plain_running, 60), "the plain trial never started"
        time.sleep(3)  # the plain trial is older than the grace period and has no heartbeat
        search = subprocess.run([*cmd, "4"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
        flag.write_text("done")
        out, _ = plain.communicate(timeout=120)
    finally:
        _procs.end_group(plain)
    assert search.returncode == 0, search.stdout + search.stderr
    assert plain.returncode == 0 and "plain optimize done" in out, out

    trials = optuna.load_study(study_name="tiny", storage=url).get_trials()
    assert not [t for t in trials if t.state in (TrialState.FAIL, TrialState.RUNNING)], [(t.number, t.state, t.user_attrs) for t in trials]
    plain_trials = [t for t in trials if t.user_attrs.get("by") == "plain optuna"]
    assert len(plain_trials) == 1 and plain_trials[0].state == TrialState.COMPLETE and plain_trials[0].value >= 5.0
    assert storage.OWNER_KEY not in plain_trials[0].system_attrs
    ours = [t for t in trials if t not in plain_trials]
    assert len(ours) == 4 and all(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in ours)
    assert all(storage.OWNER_KEY in t.system_attrs for t in ours)
