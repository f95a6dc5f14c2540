"""The SQLite file, its WAL and the artifact folder are created readable by their owner only."""

from __future__ import annotations

import socket
import stat

import optuna
import pytest

import storage
from search.errors import StorageError
from search.store import open_storage


def mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def umask_022():
    import os

    old = os.umask(0o022)
    yield
    os.umask(old)


def test_database_wal_and_artifacts_are_private(tmp_path, umask_022, monkeypatch):
    monkeypatch.delenv("SEARCH_FILE_MODE", raising=False)
    url = f"sqlite:///{tmp_path / 'studies.db'}"
    study = optuna.create_study(study_name="s", storage=storage.open_storage(url, heartbeat_interval=None, grace_period=None))
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=2)
    store = storage.open_artifact_store(url)
    (tmp_path / "f.txt").write_text("x")
    optuna.artifacts.upload_artifact(study_or_trial=study, file_path=str(tmp_path / "f.txt"), artifact_store=store)
    assert (tmp_path / "studies.db-wal").exists()  # WAL mode: the writes went through it
    assert mode(tmp_path / "studies.db") == 0o600
    assert mode(tmp_path / "studies.db-wal") == 0o600
    assert mode(tmp_path / "studies.db-shm") == 0o600
    assert mode(tmp_path / "studies-artifacts") == 0o700
    (tmp_path / "plain").write_text("")  # control: the umask alone would give 0644
    assert mode(tmp_path / "plain") == 0o644


def test_the_mode_is_overridable_and_existing_files_keep_theirs(tmp_path, umask_022, monkeypatch):
    monkeypatch.setenv("SEARCH_FILE_MODE", "640")
    url = f"sqlite:///{tmp_path / 'studies.db'}"
    storage.open_storage(url, heartbeat_interval=None, grace_period=None)
    storage.open_artifact_store(url, tmp_path / "arts")
    assert mode(tmp_path / "studies.db") == 0o640 and mode(tmp_path / "arts") == 0o750
    existing = tmp_path / "old.db"
    existing.touch(mode=0o644)
    storage.open_storage(f"sqlite:///{existing}", heartbeat_interval=None, grace_period=None)
    assert mode(existing) == 0o644


@pytest.mark.parametrize("value", ["abc", "400", "1777", "-1"])
def test_a_bad_mode_is_one_line_naming_the_variable(tmp_path, monkeypatch, value):
    monkeypatch.setenv("SEARCH_FILE_MODE", value)
    with pytest.raises(StorageError, match=r"^\$SEARCH_FILE_MODE=") as refused:
        open_storage(f"sqlite:///{tmp_path / 'x.db'}")
    assert "\n" not in str(refused.value) and not (tmp_path / "x.db").exists()


@pytest.fixture
def umask_000():
    import os

    old = os.umask(0o000)
    yield
    os.umask(old)


def test_artifacts_logs_and_out_files_are_private_whatever_the_umask(tmp_path, umask_000, monkeypatch):
    """Under umask 000 and in an artifact folder that already exists open to all, every file
    the project writes there is 0600 and a folder it makes 0700; a plain file is 0666 (control)."""
    from storage import make_private_folders, open_private

    monkeypatch.delenv("SEARCH_FILE_MODE", raising=False)
    shared = tmp_path / "shared-artifacts"
    shared.mkdir(mode=0o777)
    url = f"sqlite:///{tmp_path / 'studies.db'}"
    study = optuna.create_study(study_name="s", storage=storage.open_storage(url, heartbeat_interval=None, grace_period=None))
    (tmp_path / "f.bin").write_bytes(b"model")
    artifact = optuna.artifacts.upload_artifact(study_or_trial=study, file_path=str(tmp_path / "f.bin"), artifact_store=storage.open_artifact_store(url, shared))
    assert mode(shared / artifact) == 0o600 and (shared / artifact).read_bytes() == b"model"
    make_private_folders(shared / "logs" / "deeper")
    assert mode(shared / "logs") == 0o700 and mode(shared / "logs" / "deeper") == 0o700
    with open_private(shared / "logs" / "x.log", "a", encoding="utf-8") as f:
        f.write("line\n")
    assert mode(shared / "logs" / "x.log") == 0o600
    (tmp_path / "plain").write_text("")
    assert mode(tmp_path / "plain") == 0o666  # the umask alone


def test_out_files_are_private_and_readable_secret_files_are_warned_about(tmp_path, umask_000, capsys):
    import os

    from search.cli import main

    url = f"sqlite:///{tmp_path / 'studies.db'}"
    study = optuna.create_study(study_name="s", storage=url)
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=2)
    for command in (["export", "s", "--out", str(tmp_path / "out" / "t.csv")], ["report", "s", "--out", str(tmp_path / "r" / "sub" / "r.html")]):
        (tmp_path / "out").mkdir(exist_ok=True)
        (tmp_path / "r" / "sub").mkdir(parents=True, exist_ok=True)  # --out's folder must exist (it is not created)
        assert main([*command, "--storage", url]) == 0, capsys.readouterr()
    assert mode(tmp_path / "out" / "t.csv") == 0o600
    assert mode(tmp_path / "r" / "sub" / "r.html") == 0o600
    capsys.readouterr()
    secret = tmp_path / "pw"
    secret.write_text("pw-1\n")
    os.chmod(secret, 0o644)
    with socket.socket() as busy:  # the dashboard stops at its port, after reading the password
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        dashboard = ["dashboard", "--storage", url, "--password-file", str(secret), "--port", str(busy.getsockname()[1])]
        assert main(dashboard) == 2
        err = capsys.readouterr().err
        assert f"warning: --password-file {secret}: everyone can read it (mode 0644); chmod 600 {secret}" in err
        os.chmod(secret, 0o640)
        assert main(dashboard) == 2 and "its group can read it (mode 0640)" in capsys.readouterr().err
        os.chmod(secret, 0o600)  # control: no warning
        assert main(dashboard) == 2 and "warning" not in capsys.readouterr().err
