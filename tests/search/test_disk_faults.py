"""A failing disk fails one trial, not the search. An artifact folder on a read-only mount is
refused at the start in one line naming --artifacts, the storage untouched; on a tmpfs that
fills up, a real search finishes every trial with one warning line per failed write naming the
folder and the OS error, no RUNNING orphan and no trial labelled "interrupted". Needs root
(mount); skipped with the reason where mounting is not allowed."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid

import optuna
import pytest
from optuna.trial import TrialState

pytestmark = pytest.mark.slow


def _mount(args: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(["mount", *args], capture_output=True, text=True)


@pytest.fixture(params=["read-only", "full"])
def failing_folder(request, tmp_path_factory):
    """An artifact folder that exists but cannot be written: on a tmpfs remounted read-only,
    or on a 64 KiB tmpfs filled to the last byte. Unmounted afterwards."""
    point = tmp_path_factory.mktemp(f"mnt-{uuid.uuid4().hex[:6]}")
    made = _mount(["-t", "tmpfs", "-o", "size=64k", "tmpfs", str(point)])
    if made.returncode != 0:
        pytest.skip(f"mounting a tmpfs is not permitted here ({made.stderr.strip() or made.returncode}); the test needs root")
    try:
        folder = point / "artifacts"
        folder.mkdir(mode=0o700)
        if request.param == "read-only":
            done = _mount(["-o", "remount,ro", str(point)])
            assert done.returncode == 0, done.stderr
        else:
            fd = os.open(point / "filler", os.O_WRONLY | os.O_CREAT)
            try:
                while os.write(fd, b"\0" * 4096):
                    pass
            except OSError:
                pass  # full
            finally:
                os.close(fd)
        yield request.param, folder
    finally:
        subprocess.run(["umount", str(point)], capture_output=True)


def test_an_artifact_folder_that_cannot_be_written_fails_no_search(tiny_space, tmp_path, failing_folder):
    kind, folder = failing_folder
    db = tmp_path / "s.db"
    cmd = [sys.executable, "-m", "search", "run", str(tiny_space), "--trials", "3", "--storage", f"sqlite:///{db}", "--artifacts", str(folder),
           "--workers", "1", "--set", "train.epochs=2", "--set", "pruner=none"]  # fmt: skip
    done = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    if kind == "read-only":  # known before anything runs
        assert done.returncode == 2, done.stdout + done.stderr
        assert done.stderr.strip().splitlines() == [f"error: --artifacts {folder}: cannot write to the artifact folder: Read-only file system; give --artifacts a writable folder"]
        assert not db.exists()
        return
    assert done.returncode == 0, done.stdout + done.stderr
    reason = "No space left on device"
    warnings = [line for line in done.stderr.splitlines() if "cannot write to the artifact folder" in line]
    assert warnings and all(f"{folder}: {reason}" in line and line.startswith("warning: trial ") for line in warnings), done.stderr
    assert "Traceback" not in done.stderr and "TuneError" not in done.stdout + done.stderr
    trials = optuna.load_study(study_name="tiny", storage=f"sqlite:///{db}").get_trials(deepcopy=False)
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 3  # no orphan, no FAIL "interrupted"
    kept_without = [t for t in trials if "checkpoint_error" in t.user_attrs]
    assert kept_without and all(reason in t.user_attrs["checkpoint_error"] and "checkpoint" not in t.user_attrs for t in kept_without)
    best = subprocess.run([sys.executable, "-m", "search", "best", "tiny", "--storage", f"sqlite:///{db}"], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert best.returncode == 0, best.stdout + best.stderr
