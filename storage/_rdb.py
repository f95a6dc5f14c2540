"""Open an Optuna RDB storage with settings chosen for long searches.

SQLite: WAL journal (readers such as optuna-dashboard never block the driver's writes) and a
busy timeout, so a second process waits instead of failing with "database is locked".
Server databases: ``pool_pre_ping`` and a recycle time, so a connection dropped by the server
during a long search is replaced instead of failing a trial's bookkeeping.

Heartbeats are on: the driver records one for each running trial (see
``search.bridge``), and a trial whose heartbeat is older than the grace period is taken as
left behind by a dead driver and re-run.
"""

from __future__ import annotations

import warnings

import optuna
import sqlalchemy
import sqlalchemy.event

from storage._urls import is_sqlite

HEARTBEAT_INTERVAL_S = 10
HEARTBEAT_GRACE_S = 60
SQLITE_BUSY_TIMEOUT_S = 60


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_S * 1000}")
    cursor.close()


def _engine_kwargs(url: str) -> dict:
    if is_sqlite(url):
        return {"connect_args": {"timeout": SQLITE_BUSY_TIMEOUT_S}}
    return {"pool_pre_ping": True, "pool_recycle": 1800, "pool_size": 5, "max_overflow": 5}


def open_storage(
    url: str,
    *,
    heartbeat_interval: int | None = HEARTBEAT_INTERVAL_S,
    grace_period: int | None = HEARTBEAT_GRACE_S,
) -> optuna.storages.RDBStorage:
    """An Optuna ``RDBStorage`` on ``url`` (tables created if missing)."""
    if is_sqlite(url) and not sqlalchemy.event.contains(
        sqlalchemy.engine.Engine, "connect", _sqlite_connect_hook
    ):
        # On every new connection, before Optuna creates its tables.
        sqlalchemy.event.listen(sqlalchemy.engine.Engine, "connect", _sqlite_connect_hook)
    with warnings.catch_warnings():
        # heartbeat_interval is marked experimental in Optuna; it is the documented way to do this.
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return optuna.storages.RDBStorage(
            url,
            engine_kwargs=_engine_kwargs(url),
            heartbeat_interval=heartbeat_interval,
            grace_period=grace_period,
        )


def _sqlite_connect_hook(dbapi_connection, record) -> None:
    # Engine-wide listener: act on SQLite connections only.
    if type(dbapi_connection).__module__.startswith("sqlite3"):
        _sqlite_pragmas(dbapi_connection, record)
