"""Faults with real processes: two drivers started at once on one seeded SQLite study, a
damaged storage file, a trial's worker killed, a driver killed with SIGKILL. (Recovery after
those: ``test_distributed``.)"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import optuna
import pytest
from optuna.trial import TrialState

from tests import _procs

pytestmark = pytest.mark.slow


def search_cmd(space, url, trials_n, *extra):
    return [sys.executable, "-m", "search", "run", str(space), "--trials", str(trials_n), "--storage", url, "--quiet", *extra]


def test_two_drivers_started_at_once_on_one_seeded_study_draw_distinct_params(tiny_space, tmp_path):
    # tiny_space: sampler random, seed 0; lr is a float range, so equal params mean equal draws.
    url = f"sqlite:///{tmp_path}/s.db"
    cmd = search_cmd(tiny_space, url, 6, "--workers", "1", "--set", "train.epochs=2", "--set", "pruner=none")
    _procs.run_together(cmd, 2, cwd=tmp_path)
    done = [t for t in optuna.load_study(study_name="tiny", storage=url).get_trials(deepcopy=False) if "retry_of" not in t.user_attrs]
    assert sum(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in done) >= 6
    draws = [tuple(sorted(t.params.items())) for t in done if t.params]
    assert len(draws) == len(set(draws)), draws

    # One seeded driver alone is reproducible: the same params for the same trial numbers.
    again = f"sqlite:///{tmp_path}/again.db"
    alone = subprocess.run(search_cmd(tiny_space, again, 3, "--workers", "1", "--set", "train.epochs=2", "--set", "pruner=none"), cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert alone.returncode == 0, alone.stdout + alone.stderr
    by_number = {t.number: t.params for t in done}
    for t in optuna.load_study(study_name="tiny", storage=again).get_trials(deepcopy=False):
        assert t.params["lr"] == by_number[t.number]["lr"]


@pytest.mark.parametrize("damage", ["malformed", "not_sqlite", "other_tables"])
def test_a_damaged_storage_file_is_one_line_naming_the_flag(tiny_space, tmp_path, damage):
    import sqlite3

    db = tmp_path / "s.db"
    if damage == "not_sqlite":
        db.write_text("these are my notes, not a database\n")
    else:
        with sqlite3.connect(db) as conn:
            conn.execute("CREATE TABLE people (name TEXT)")
            conn.executemany("INSERT INTO people VALUES (?)", [("x" * 500,)] * 200)
        if damage == "malformed":
            data = bytearray(db.read_bytes())
            data[100:4096] = b"\xff" * (4096 - 100)  # the schema page
            db.write_bytes(bytes(data))
    before = db.read_bytes()
    for args in (search_cmd(tiny_space, f"sqlite:///{db}", 1), [sys.executable, "-m", "search", "studies", "--storage", f"sqlite:///{db}"]):
        result = subprocess.run(args, cwd=tmp_path, capture_output=True, text=True, timeout=300)
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert result.returncode == 2, result.stderr
        assert len(lines) == 1 and lines[0].startswith(f"error: --storage sqlite:///{db}: "), result.stderr
        assert "Traceback" not in result.stderr
    assert db.read_bytes() == before  # untouched


def _trial_worker(driver) -> int | None:
    return next((pid for pid, cmdline in _procs.descendants(driver.pid).items() if cmdline.startswith("ray::ImplicitFunc")), None)


def test_a_killed_worker_is_told_in_one_line_with_why_and_the_log_file(tiny_space, tmp_path):
    url = f"sqlite:///{tmp_path}/s.db"
    cmd = search_cmd(tiny_space, url, 2, "--workers", "1", "--set", "train.epochs=300", "--set", "pruner=none")
    cmd.remove("--quiet")
    driver = _procs.start(cmd, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        worker = _procs.poll_until(lambda: _trial_worker(driver), 240)
        assert worker, "no trial worker started"
        time.sleep(2)
        os.kill(worker, signal.SIGKILL)
        out, err = driver.communicate(timeout=600)
    finally:
        _procs.end_group(driver)
    assert driver.returncode == 0, out + err
    assert "Traceback" not in out + err and "ActorDiedError" not in out + err and "A worker died" not in out + err
    log = tmp_path / "s-artifacts" / "logs" / "tiny-ray.log"
    assert [line for line in out.splitlines() if line.startswith("ray: ")] == [f"ray: Ray's own messages (tracebacks of failed workers) are in {log}"]
    assert "ActorDiedError" in log.read_text()
    failed = [t for t in optuna.load_study(study_name="tiny", storage=url).get_trials(deepcopy=False) if t.state == TrialState.FAIL]
    assert len(failed) == 1
    assert failed[0].user_attrs["error"].startswith(f"worker process {worker} died (SYSTEM_ERROR): killed by a signal such as SIGKILL")
    assert f"error=worker process {worker} died" in out


def test_a_driver_killed_with_sigkill_leaves_no_ray_process_behind(tiny_space, tmp_path):
    url = f"sqlite:///{tmp_path}/s.db"
    cmd = search_cmd(tiny_space, url, 2, "--workers", "1", "--set", "train.epochs=300", "--set", "pruner=none")
    driver = _procs.start(cmd, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert _procs.poll_until(lambda: _trial_worker(driver), 240), "no trial worker started"
        time.sleep(1)
        ray_procs = {pid: cmdline for pid, cmdline in _procs.descendants(driver.pid).items() if "reaper.py" not in cmdline}
        assert any("raylet" in c for c in ray_procs.values()) and any("Agent" in c for c in ray_procs.values()), ray_procs
        os.kill(driver.pid, signal.SIGKILL)  # the driver alone, as the out-of-memory killer would
        driver.wait()

        def all_gone():
            return not [pid for pid in ray_procs if os.path.exists(f"/proc/{pid}") and open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0] != "Z"]

        assert _procs.poll_until(all_gone, 15), {p: c for p, c in ray_procs.items() if os.path.exists(f"/proc/{p}")}
    finally:
        _procs.end_group(driver)
