"""Storage URLs and the SQLite settings."""

from __future__ import annotations

import sqlite3

import optuna

import storage


def test_mask_url_hides_passwords():
    assert storage.mask_url("postgresql+psycopg://bob:s3cret@db:5432/st") == "postgresql+psycopg://bob:***@db:5432/st"
    assert "s3cret" not in storage.mask_url("postgresql://u:s3cret@h/db")
    assert storage.mask_url("sqlite:///studies.db") == "sqlite:///studies.db"


def test_default_url_reads_environment(monkeypatch):
    monkeypatch.delenv("SEARCH_STORAGE", raising=False)
    assert storage.default_url() == "sqlite:///studies.db"
    monkeypatch.setenv("SEARCH_STORAGE", "sqlite:////tmp/x.db")
    assert storage.default_url() == "sqlite:////tmp/x.db"


def test_sqlite_storage_uses_wal_and_heartbeats(tmp_path):
    path = tmp_path / "s.db"
    rdb = storage.open_storage(f"sqlite:///{path}")
    study = optuna.create_study(storage=rdb, study_name="s")
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=2)
    assert sqlite3.connect(path).execute("pragma journal_mode").fetchone()[0] == "wal"
    assert rdb.get_heartbeat_interval() == storage.HEARTBEAT_INTERVAL_S
    assert storage.sqlite_path(f"sqlite:///{path}") == path
