"""Clusters, shared studies and recovery, with real processes and real servers.

A two-node Ray cluster on one machine (`ray start --head` plus `ray start --address`), a
PostgreSQL server of the tests' own, drivers killed with SIGKILL, a worker killed mid-trial,
and a database restart in the middle of a search.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time

import optuna
import pytest
from optuna.trial import TrialState

from search.driver.run import experiment_name, run_search
from tests import _procs
from tests._postgres import free_port

pytestmark = pytest.mark.slow
RAY = os.path.join(os.path.dirname(sys.executable), "ray")
FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)


def wait_for(predicate, timeout: float, what: str, poll: float = 0.5):
    value = _procs.poll_until(predicate, timeout, poll)
    if not value:
        raise AssertionError(f"timed out waiting for {what}")
    return value


def trials(url: str, name: str):
    try:
        return optuna.load_study(study_name=name, storage=url).get_trials(deepcopy=False)
    except KeyError:
        return []


def n_finished(url: str, name: str) -> int:
    return sum(t.state in FINISHED for t in trials(url, name))


@pytest.fixture(scope="module")
def ray_cluster(tmp_path_factory):
    """Two Ray nodes on this machine, one CPU each; yields the head's address."""
    env = {**os.environ, "RAY_AUTH_MODE": "disabled"}
    port = free_port()
    logs = tmp_path_factory.mktemp("ray")
    head = _procs.start(
        [RAY, "start", "--head", f"--port={port}", "--num-cpus=1", "--include-dashboard=false", "--block", "--disable-usage-stats"],
        env=env, stdout=open(logs / "head.log", "w"), stderr=subprocess.STDOUT,
    )
    procs = [head]
    try:
        address = f"127.0.0.1:{port}"
        wait_for(lambda: subprocess.run([RAY, "status", f"--address={address}"], env=env, capture_output=True).returncode == 0, 90, "the Ray head")
        worker = _procs.start(
            [RAY, "start", f"--address={address}", "--num-cpus=1", "--block", "--disable-usage-stats"],
            env=env, stdout=open(logs / "worker.log", "w"), stderr=subprocess.STDOUT,
        )
        procs.append(worker)

        def two_nodes():
            out = subprocess.run([RAY, "status", f"--address={address}"], env=env, capture_output=True, text=True).stdout
            return out.count("node_") >= 2

        wait_for(two_nodes, 90, "the second Ray node")
        yield address
    finally:
        for proc in reversed(procs):
            _procs.end_group(proc)


def search_cmd(space, url, trials_n, *extra):
    return [sys.executable, "-m", "search", "run", str(space), "--trials", str(trials_n), "--storage", url, "--quiet", *extra]


def test_two_node_cluster_runs_trials_on_both_nodes(ray_cluster, tiny_space, tmp_path):
    # Two trials at a time on two one-CPU nodes. Each trial must outlast a node's first actor
    # start (imports in a fresh worker process, 10 s and more on a busy machine): with 30
    # epochs (about a second) Tune placed every trial on the node that was ready first, and
    # the search ended before the other node had started its first trial.
    url = f"sqlite:///{tmp_path}/s.db"
    env = {**os.environ, "RAY_AUTH_MODE": "disabled"}
    result = subprocess.run(
        search_cmd(tiny_space, url, 4, "--address", ray_cluster, "--set", "train.epochs=600", "--set", "pruner=none"),
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    done = trials(url, "tiny")
    assert sum(t.state in FINISHED for t in done) == 4
    nodes = {t.user_attrs["node"] for t in done}
    assert len(nodes) == 2, nodes
    host = socket.gethostname()
    assert all(node.startswith(f"{host}/") for node in nodes)


def test_four_drivers_share_one_postgres_study(ray_cluster, postgres, tiny_space, tmp_path):
    url = postgres.create_database("four_drivers")
    env = {**os.environ, "RAY_AUTH_MODE": "disabled"}
    cmd = search_cmd(tiny_space, url, 8, "--address", ray_cluster, "--workers", "1")
    cmd.insert(3, "--debug")  # a failure shows its traceback
    for out in _procs.run_together(cmd, 4, cwd=tmp_path, env=env):
        assert "s3cret" not in out  # the password never shows
    done = trials(url, "tiny")
    numbers = [t.number for t in done]
    assert len(numbers) == len(set(numbers)) == max(numbers) + 1
    finished = sum(t.state in FINISHED for t in done)
    assert 8 <= finished <= 8 + 3, finished  # the study as a whole holds N (a race may add one per driver)
    assert not [t for t in done if t.state == TrialState.FAIL]
    assert not [t for t in done if t.state == TrialState.RUNNING]


def test_drivers_starting_in_the_same_second_use_their_own_tune_experiments(monkeypatch):
    # Ray stages a Tune experiment's state under the cluster's session directory by name and a
    # timestamp in whole seconds, and rewrites it in place: two drivers sharing a name there
    # read each other's half-written state.
    monkeypatch.setattr(time, "time", lambda: 1_700_000_000.0)
    names = {experiment_name("tiny") for _ in range(100)}
    assert len(names) == 100
    assert all(name.startswith("tiny-1700000000-") for name in names)


def test_driver_killed_then_the_same_command_recovers(tiny_space, tmp_path):
    url = f"sqlite:///{tmp_path}/s.db"
    env = {**os.environ, "SEARCH_HEARTBEAT_INTERVAL_S": "1", "SEARCH_HEARTBEAT_GRACE_S": "4"}
    cmd = search_cmd(tiny_space, url, 6, "--set", "train.epochs=150", "--set", "pruner=none")
    driver = _procs.start(cmd, cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: n_finished(url, "tiny") >= 1 and any(t.state == TrialState.RUNNING and t.intermediate_values for t in trials(url, "tiny")), 300, "a finished and a running trial")
    finally:
        os.killpg(driver.pid, signal.SIGKILL)  # the driver and the Ray runtime it started
        _procs.end_group(driver)
    before = trials(url, "tiny")
    lost = [t for t in before if t.state == TrialState.RUNNING]
    complete = {t.number: t.value for t in before if t.state == TrialState.COMPLETE}
    assert lost and complete

    rerun = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    after = trials(url, "tiny")
    assert sum(t.state in FINISHED for t in after) == 6
    assert not [t for t in after if t.state == TrialState.RUNNING]
    for number, value in complete.items():
        assert after[number].state == TrialState.COMPLETE and after[number].value == value
    retried = {t.user_attrs.get("retry_of"): t for t in after if "retry_of" in t.user_attrs}
    for t in lost:
        assert after[t.number].state == TrialState.FAIL
        assert after[t.number].user_attrs["error"] == "driver lost (heartbeat stale)"
        assert retried[t.number].params == t.params


def test_worker_killed_mid_trial_is_recorded_and_retried(ray_local, tiny_space, tmp_path):
    url = f"sqlite:///{tmp_path}/s.db"
    killed = {}

    def kill_one_trial_worker():
        def busy_worker():
            for pid, cmdline in _procs.descendants(os.getpid()).items():
                if cmdline.startswith("ray::ImplicitFunc"):
                    running = [t for t in trials(url, "tiny") if t.state == TrialState.RUNNING and len(t.intermediate_values) >= 2]
                    if running:
                        return pid
            return None

        try:
            pid = wait_for(busy_worker, 120, "a trial's worker process", poll=0.2)
            os.kill(pid, signal.SIGKILL)
            killed["pid"] = pid
        except AssertionError:
            pass

    killer = threading.Thread(target=kill_one_trial_worker, daemon=True)
    killer.start()
    summary = run_search(tiny_space, trials=4, storage_url=url, quiet=True, overrides=["train.epochs=300", "pruner=none"])
    killer.join(timeout=5)
    assert killed, "no worker was killed"
    done = trials(url, "tiny")
    failed = [t for t in done if t.state == TrialState.FAIL]
    assert len(failed) == 1 and failed[0].user_attrs["error"] not in ("", "interrupted")
    retry = [t for t in done if t.user_attrs.get("retry_of") == failed[0].number]
    assert retry and retry[0].params == failed[0].params and retry[0].state in FINISHED
    assert sum(t.state in FINISHED for t in done) == 4 and summary.stop_reason is None


def test_postgres_restart_mid_search(ray_local, postgres, tiny_space):
    url = postgres.create_database("restart")

    def restart_after_first_trial():
        wait_for(lambda: n_finished(url, "tiny") >= 1, 300, "a finished trial")
        postgres.restart()

    restarter = threading.Thread(target=restart_after_first_trial, daemon=True)
    restarter.start()
    summary = run_search(tiny_space, trials=6, storage_url=url, quiet=True, overrides=["train.epochs=100", "pruner=none"], artifacts=str(tiny_space.parent / "artifacts"))
    restarter.join(timeout=60)
    assert not restarter.is_alive()
    done = trials(url, "tiny")
    assert summary.stop_reason is None
    assert sum(t.state == TrialState.COMPLETE for t in done) == 6
    assert not [t for t in done if t.state in (TrialState.FAIL, TrialState.RUNNING)]
