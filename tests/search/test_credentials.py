"""Credentials stay in the driver (``search._environ``): a real local ``search run`` with the
storage URL, MLflow's, an object store's and the dashboard's credentials in its environment;
every process it starts (Ray's GCS and raylet, every Ray worker, the reaper, the Ray task of
the statistical baselines), found as the driver's descendants in ``/proc`` while it runs, has an
environment (``/proc/PID/environ``) without them."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest

from search._environ import is_secret, public_environ, withheld
from tests import _procs

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]


def test_public_environ_and_withheld(monkeypatch):
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "s")
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", "t")
    monkeypatch.setenv("SEARCH_ARTIFACTS", "/a")  # a place, not a credential
    assert is_secret("SEARCH_STORAGE") and is_secret("SEARCH_DASHBOARD_PASSWORD") and not is_secret("SEARCH_ARTIFACTS")
    assert "AWS_SECRET_ACCESS_KEY" not in public_environ() and public_environ()["SEARCH_ARTIFACTS"] == "/a"
    with withheld() as kept:
        assert {"AWS_SECRET_ACCESS_KEY": "s", "MLFLOW_TRACKING_TOKEN": "t"}.items() <= kept.items() and not any(map(is_secret, os.environ))
    assert os.environ["MLFLOW_TRACKING_TOKEN"] == "t"  # the driver keeps them


def descendants(root: int) -> set[int]:
    """Every process below ``root`` (by the parent pid in ``/proc/PID/stat``)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(entry))
    found, todo = set(), [root]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def test_no_process_of_a_local_run_gets_the_drivers_credentials(tiny_space, tmp_path):
    secrets = {
        "SEARCH_STORAGE": f"sqlite:///{tmp_path / 'secret-store.db'}",
        "MLFLOW_TRACKING_USERNAME": "alice",
        "MLFLOW_TRACKING_PASSWORD": "mlflow-pw-7c1e",
        "AWS_ACCESS_KEY_ID": "AKIAEXAMPLE7Q",
        "AWS_SECRET_ACCESS_KEY": "aws-secret-9d2f",
        "SEARCH_DASHBOARD_PASSWORD": "dash-pw-3e4a",
    }
    env = {k: v for k, v in os.environ.items() if not is_secret(k)} | secrets | {"PYTHONPATH": str(REPO), "RAY_AUTH_MODE": "disabled"}
    cmd = [sys.executable, "-m", "search", "run", str(tiny_space), "--trials", "4", "--quiet", "--set", "train.epochs=4", "--set", "data.stat_baselines_seconds=20"]
    driver = _procs.start(cmd, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    own = Path(f"/proc/{driver.pid}/cmdline").read_bytes()
    seen: dict[tuple[int, bytes], bytes] = {}  # (pid, command line after exec) -> its environment
    try:
        while driver.poll() is None:
            for pid in descendants(driver.pid):
                try:
                    cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
                    environ = Path(f"/proc/{pid}/environ").read_bytes()
                except OSError:
                    continue
                if cmdline and cmdline != own:  # not the moment between fork and exec
                    seen.setdefault((pid, cmdline), environ)
            time.sleep(0.05)
        out = driver.communicate(timeout=600)[0].decode()
    finally:
        _procs.end_group(driver)
    assert driver.returncode == 0, out
    names = b"\n".join(cmdline for _, cmdline in seen)
    for part in (b"gcs_server", b"raylet", b"reaper.py", b"run_model"):  # run_model: the baselines' Ray task
        assert part in names, (part, names[:3000])
    assert any(b"default_worker" in c or c.startswith(b"ray::") for _, c in seen), names[:3000]
    for (pid, cmdline), environ in seen.items():
        variables = dict(v.split(b"=", 1) for v in environ.split(b"\0") if b"=" in v)
        leaked = [k for k in secrets if k.encode() in variables or secrets[k].encode() in environ]
        assert not leaked, (pid, cmdline[:200], leaked)
    assert len(seen) >= 5
    # the driver itself kept them: the search went to the storage $SEARCH_STORAGE names
    assert len(optuna.load_study(study_name="tiny", storage=secrets["SEARCH_STORAGE"]).trials) == 4
