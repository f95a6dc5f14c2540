"""Stop when asked, from the first second: real ``python -m search run`` processes sent a real
SIGINT or SIGTERM while Ray starts and while trials run. Either signal ends the search the
way Ctrl-C does (exit 130, no trial left RUNNING, trials cut short recorded FAIL
'interrupted' and re-run by the next run), with no traceback and no C++ stack frames on the
terminal; during start-up no trial starts."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading

import optuna
import pytest
from optuna.trial import TrialState

from tests import _procs

pytestmark = pytest.mark.slow


def _trials(url: str):
    try:
        return optuna.load_study(study_name="tiny", storage=url).get_trials(deepcopy=False)
    except KeyError:
        return []


@pytest.mark.parametrize("moment", ["start-up", "running"])
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_stops_the_search_cleanly(tiny_space, tmp_path, signum, moment):
    url = f"sqlite:///{tmp_path}/s.db"
    epochs = "2" if moment == "start-up" else "40"
    cmd = [sys.executable, "-m", "search", "run", str(tiny_space), "--trials", "4", "--storage", url, "--workers", "1",
           "--set", f"train.epochs={epochs}", "--set", "pruner=none"]  # fmt: skip
    proc = _procs.start(cmd, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(proc.stdout), daemon=True)
    reader.start()
    try:
        if moment == "start-up":  # the study is open; the driver goes on to start Ray
            assert _procs.poll_until(lambda: any(line.startswith("study tiny on ") for line in lines), 300, 0.05), lines
        else:  # a trial is running
            assert _procs.poll_until(lambda: any(t.state == TrialState.RUNNING for t in _trials(url)), 300), lines
        proc.send_signal(signum)
        err = proc.stderr.read()
        code = proc.wait(timeout=300)
    finally:
        _procs.end_group(proc)
    reader.join(timeout=10)
    out = "".join(lines)
    assert code == 130, out + err
    assert "search: interrupted; run the same command again to resume" in out
    for frame in ("Traceback", "*** SIG", "PC: @", "@ 0x"):
        assert frame not in out + err, out + err
    trials = _trials(url)
    assert not any(t.state == TrialState.RUNNING for t in trials)
    if moment == "start-up":
        assert trials == [], [t.state for t in trials]  # no trial started
    else:
        cut = [t for t in trials if t.state == TrialState.FAIL]
        assert cut and all(t.user_attrs.get("error") == "interrupted" for t in cut)
    assert not _procs.group_alive(proc.pid) or _procs.poll_until(lambda: not _procs.group_alive(proc.pid), 30)


SIGNAL_WHILE_PREPARING = """
import os, signal, sys, time
import search.driver.prepare as preparing
real = preparing.prepare

def prepare(*args, **kwargs):  # a SIGTERM while the space and data are read, before anything is opened
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(5)
    return real(*args, **kwargs)

preparing.prepare = prepare
from search.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_sigterm_while_the_space_is_read_ends_the_run_as_ctrl_c_does(tiny_space, tmp_path):
    db = tmp_path / "studies.db"
    result = subprocess.run(
        [sys.executable, "-c", SIGNAL_WHILE_PREPARING, "run", str(tiny_space), "--trials", "1", "--storage", f"sqlite:///{db}"],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 130, result.stdout + result.stderr
    assert result.stderr.strip().endswith("interrupted") and "Traceback" not in result.stderr
    assert not db.exists()  # nothing was opened, nothing created
