"""``--timeout``: a real search with a time budget, and the closing lines' plain
``optuna-dashboard`` command run as printed, serving the study's artifacts."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import urllib.request

import optuna
import pytest
from optuna.trial import TrialState

from search.cli import main
from tests import _procs
from tests._postgres import free_port

pytestmark = pytest.mark.slow


def test_a_time_budget_stops_the_search_and_the_printed_optuna_dashboard_serves_its_artifacts(tiny_space, tmp_path):
    url = f"sqlite:///{tmp_path}/s.db"
    cmd = [sys.executable, "-m", "search", "run", str(tiny_space), "--trials", "200", "--storage", url,
           "--set", "train.epochs=60", "--set", "pruner=none", "--workers", "2", "--timeout", "20"]  # fmt: skip
    done = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    out = done.stdout + done.stderr
    assert done.returncode == 0, out
    budget = re.search(r"search: time budget of 20s spent with (\d+) of 200 trials finished; run the same command again to continue", out)
    assert budget, out
    trials = optuna.load_study(study_name="tiny", storage=url).get_trials()
    finished = [t for t in trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
    assert int(budget.group(1)) == len(finished) < 200
    assert not [t for t in trials if t.state == TrialState.RUNNING]
    stopped = [t for t in trials if t.state == TrialState.FAIL]
    assert all(t.user_attrs["error"] == "stopped: time budget spent" for t in stopped)
    queued = [t for t in trials if t.state == TrialState.WAITING]  # each stopped trial runs again on resume
    assert sorted(t.user_attrs["retry_of"] for t in queued) == sorted(t.number for t in stopped)

    # The closing lines: search dashboard, and optuna-dashboard's own command with --artifact-dir.
    assert f"open the dashboard: search dashboard --storage {url}" in out
    line = re.search(r"or with optuna-dashboard itself: (optuna-dashboard .*)", out).group(1)
    assert line == f"optuna-dashboard {url} --artifact-dir {tmp_path / 's-artifacts'}"
    args = shlex.split(line)
    port = free_port()
    exe = os.path.join(os.path.dirname(sys.executable), args[0])
    server = _procs.start([exe, *args[1:], "--port", str(port), "--host", "127.0.0.1"], cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        trial = next(t for t in finished if "learning_curve" in t.user_attrs)
        study_id = optuna.load_study(study_name="tiny", storage=url)._study_id
        address = f"http://127.0.0.1:{port}/artifacts/{study_id}/{trial._trial_id}/{trial.user_attrs['learning_curve']}"

        def fetch():
            try:
                with urllib.request.urlopen(address, timeout=5) as response:
                    return response.status, response.read()
            except OSError:
                return None

        status, body = _procs.poll_until(fetch, 60)
        assert status == 200 and body
    finally:
        _procs.end_group(server)


def test_a_bad_timeout_is_one_line(tiny_space, tmp_path, capsys):
    url = f"sqlite:///{tmp_path}/s.db"
    assert main(["run", str(tiny_space), "--trials", "2", "--storage", url, "--timeout", "0"]) == 2
    err = capsys.readouterr().err
    assert "--timeout 0: must be a number of seconds > 0" in err and "Traceback" not in err
    assert not (tmp_path / "s.db").exists()
