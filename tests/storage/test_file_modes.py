"""The SQLite file, its WAL and the artifact folder are created readable by their owner only."""

from __future__ import annotations

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
