"""Open an Optuna RDB storage with settings chosen for long searches.

SQLite: WAL journal (readers such as optuna-dashboard never block the driver's writes) and a
busy timeout, so a second process waits instead of failing with "database is locked".
Server databases (PostgreSQL): ``pool_pre_ping`` and a recycle time, so a connection dropped
by the server during a long search is replaced instead of failing a trial's bookkeeping.
Table creation is retried, so many drivers may start on a new database at the same moment.

Heartbeats are on: the driver records one for each running trial (``search.driver.bridge``), and a
trial whose heartbeat is older than the grace period is taken as left behind by a dead driver
and re-run. ``$SEARCH_HEARTBEAT_INTERVAL_S`` and ``$SEARCH_HEARTBEAT_GRACE_S`` change both.
"""

from __future__ import annotations

import json
import os
import time
import warnings

import optuna
import sqlalchemy
import sqlalchemy.event
import sqlalchemy.exc

from storage._files import create_private_file
from storage._urls import is_sqlite, mask_url, sqlite_path

HEARTBEAT_INTERVAL_S = int(os.environ.get("SEARCH_HEARTBEAT_INTERVAL_S", "10"))
HEARTBEAT_GRACE_S = int(os.environ.get("SEARCH_HEARTBEAT_GRACE_S", "60"))
SQLITE_BUSY_TIMEOUT_S = 60
NETWORK_FILESYSTEMS = {"nfs", "nfs4", "cifs", "smbfs", "smb3", "fuse.sshfs", "9p", "afs", "glusterfs", "ceph", "lustre", "gpfs"}


class StorageError(Exception):
    """The storage URL cannot be opened (missing driver, unreachable server, bad URL)."""


def _sqlite_connect_hook(dbapi_connection, _record) -> None:
    # Engine-wide listener: act on SQLite connections only.
    if not type(dbapi_connection).__module__.startswith("sqlite3"):
        return
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_S * 1000}")
    cursor.close()


def _engine_kwargs(url: str) -> dict:
    if is_sqlite(url):
        return {"connect_args": {"timeout": SQLITE_BUSY_TIMEOUT_S}}
    return {"pool_pre_ping": True, "pool_recycle": 1800, "pool_size": 5, "max_overflow": 5}


def filesystem_type(path) -> str | None:
    """The file system type holding ``path`` (from /proc/mounts; None where unknown)."""
    try:
        mounts = [line.split() for line in open("/proc/mounts", encoding="utf-8")]
    except OSError:
        return None
    target = os.path.realpath(os.path.dirname(os.path.abspath(path)) or ".")
    best = ("", None)
    for fields in mounts:
        if len(fields) >= 3 and (target == fields[1] or target.startswith(fields[1].rstrip("/") + "/")) and len(fields[1]) >= len(best[0]):
            best = (fields[1], fields[2])
    return best[1]


def sqlite_warning(url: str) -> str | None:
    """Why this SQLite URL may not serve (a network file system), or None."""
    path = sqlite_path(url)
    if path is None:
        return None
    fstype = filesystem_type(path)
    if fstype in NETWORK_FILESYSTEMS:
        return (
            f"{path} is on a network file system ({fstype}): SQLite's locking is unreliable there, "
            "and several hosts must not share one SQLite file; use PostgreSQL "
            "(a postgresql+psycopg://user:pass@host/db URL in $SEARCH_STORAGE) to share a study"
        )
    return None


SQLITE_HEADER = b"SQLite format 3\x00"


def check_url(url: str) -> None:
    """Refuse, before connecting, what the URL itself tells: an unencoded ``@`` in the
    password (the driver would take the rest for the host) and, for SQLite, a path that is a
    folder, a file that is not SQLite or not an Optuna storage, a damaged file, or a folder
    that does not exist or cannot be written (SQLite writes its -wal and -shm files there,
    even to read). Each a ``StorageError`` naming ``--storage``."""
    head = url.partition("://")[2].split("?")[0]
    if head.count("@") > 1:
        raise StorageError(f"--storage {mask_url(url)}: the password holds an '@'; write it percent-encoded (%40), e.g. user:p%40ss@host/db")
    path = sqlite_path(url)
    if is_sqlite(url) and (path is None or "mode=memory" in url):
        raise StorageError(f"--storage {mask_url(url)}: an in-memory SQLite database vanishes with the process, and the results with it; give a file, e.g. sqlite:///studies.db")
    if path is not None:
        _check_sqlite_file(url, path)
    elif not is_sqlite(url):
        _check_driver(url)


def _no_driver(url: str, exc: ImportError) -> StorageError:
    scheme = url.partition("://")[0]
    hint = (
        "pip install 'psycopg[binary]' and use a postgresql+psycopg:// URL" if scheme.startswith("postgres")
        else f"install a Python driver for {scheme.split('+')[0]} and name it in the URL ({scheme.split('+')[0]}+DRIVER://; missing: {getattr(exc, 'name', None) or scheme}); the service is tested on SQLite and PostgreSQL"
    )
    return StorageError(f"--storage {mask_url(url)}: the database driver is not installed; {hint}")


def _check_driver(url: str) -> None:
    """The URL's database driver can be imported (before anything is made beside the storage)."""
    try:
        dialect = sqlalchemy.engine.make_url(url).get_dialect()
        (getattr(dialect, "import_dbapi", None) or dialect.dbapi)()
    except ImportError as exc:
        raise _no_driver(url, exc) from None
    except Exception:  # noqa: BLE001 - a bad URL: open_storage names it
        return


def _check_sqlite_file(url: str, path) -> None:
    import sqlite3
    from pathlib import Path

    flag = f"--storage {mask_url(url)}"
    folder = Path(path).parent
    if not folder.is_dir():
        what = "is a file, not a folder" if folder.exists() else "does not exist"
        raise StorageError(f"{flag}: folder {folder} {what}; create it, or give a path in an existing folder")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise StorageError(f"{flag}: folder {folder} is not writable; SQLite writes beside {path.name} (its -wal and -shm files) even to read it: copy it somewhere writable")
    if not path.exists():
        return
    if path.is_dir():
        raise StorageError(f"{flag}: {path} is a folder; give a SQLite file, e.g. sqlite:///{path}/studies.db")
    with open(path, "rb") as handle:
        start = handle.read(len(SQLITE_HEADER))
    if not start:
        return  # an empty file: SQLite makes it a database
    if start != SQLITE_HEADER:
        raise StorageError(f"{flag}: {path} is not a SQLite database (it starts with {start[:8]!r}); give a study storage, or a new file name")
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=SQLITE_BUSY_TIMEOUT_S) as conn:
            tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    except sqlite3.DatabaseError as exc:
        raise StorageError(f"{flag}: {path} is damaged ({str(exc).splitlines()[0]}); restore it from a copy, or give another file") from None
    if tables and not {"studies", "version_info"} <= tables:
        shown = ", ".join(sorted(tables)[:5]) + (", ..." if len(tables) > 5 else "")
        raise StorageError(f"{flag}: {path} is a SQLite database but not an Optuna study storage (tables: {shown}); give a study storage, or a new file name")


def connect_error(url: str, exc: Exception) -> StorageError:
    """A database error while opening or using the storage, as one line naming ``--storage``."""
    flag = f"--storage {mask_url(url)}"
    orig = getattr(exc, "orig", None) or exc
    reason = (str(orig).strip().splitlines() or [type(orig).__name__])[0]
    path = sqlite_path(url)
    if path is not None and isinstance(exc, sqlalchemy.exc.DatabaseError) and not isinstance(exc, sqlalchemy.exc.OperationalError):
        return StorageError(f"{flag}: {path} is damaged or not a study storage ({reason}); restore it from a copy, or give another file")
    return StorageError(f"{flag}: cannot connect: {reason}")


def open_storage(
    url: str,
    *,
    heartbeat_interval: int | None = HEARTBEAT_INTERVAL_S,
    grace_period: int | None = HEARTBEAT_GRACE_S,
    attempts: int = 5,
) -> optuna.storages.RDBStorage:
    """An Optuna ``RDBStorage`` on ``url`` (tables created if missing; a new SQLite file
    readable by its owner only, see ``storage._files``)."""
    if is_sqlite(url) and not sqlalchemy.event.contains(sqlalchemy.engine.Engine, "connect", _sqlite_connect_hook):
        # On every new connection, before Optuna creates its tables.
        sqlalchemy.event.listen(sqlalchemy.engine.Engine, "connect", _sqlite_connect_hook)
    check_url(url)
    db = sqlite_path(url)
    if db is not None:
        try:
            create_private_file(db)  # before SQLite creates it with the umask's mode
        except ValueError as exc:
            raise StorageError(str(exc)) from None
    for attempt in range(attempts):
        try:
            with warnings.catch_warnings():
                # heartbeat_interval is marked experimental in Optuna; it is the documented way.
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                return optuna.storages.RDBStorage(
                    url,
                    engine_kwargs=_engine_kwargs(url),
                    heartbeat_interval=heartbeat_interval,
                    grace_period=grace_period,
                )
        except ImportError as exc:
            raise _no_driver(url, exc) from None
        except sqlalchemy.exc.ArgumentError as exc:
            raise StorageError(f"--storage {mask_url(url)}: not a database URL ({exc})") from None
        except (sqlalchemy.exc.IntegrityError, sqlalchemy.exc.ProgrammingError, optuna.exceptions.StorageInternalError):
            # Another driver created the same tables at the same moment: look again.
            if attempt == attempts - 1:
                raise
            time.sleep(0.2 * (attempt + 1))
        except sqlalchemy.exc.DatabaseError as exc:  # OperationalError (cannot connect) among them
            raise connect_error(url, exc) from None
    raise AssertionError("unreachable")


def upgrade_storage(url: str) -> tuple[str, str]:
    """Upgrade the schema of a storage made by an older Optuna; returns (before, after) revisions."""
    import logging

    logging.getLogger("alembic").setLevel(logging.WARNING)
    check_url(url)
    try:
        rdb = optuna.storages.RDBStorage(url, engine_kwargs=_engine_kwargs(url), skip_compatibility_check=True, skip_table_creation=True)
        before = rdb.get_current_version()
        rdb.upgrade()
        return before, rdb.get_current_version()
    except (ImportError, sqlalchemy.exc.SQLAlchemyError, optuna.exceptions.StorageInternalError) as exc:
        cause = exc.__cause__ if isinstance(exc, optuna.exceptions.StorageInternalError) and exc.__cause__ else exc
        raise connect_error(url, cause) from None


def count_trials(storage: optuna.storages.BaseStorage, study_id: int, states) -> int:
    """Trials of a study in ``states``, counted by the database (one ``count`` query) rather
    than by loading every trial: the driver asks this before each new trial."""
    backend = _rdb_backend(storage)
    if backend is not None:
        from optuna.storages._rdb.models import TrialModel

        with backend.engine.connect() as conn:
            query = sqlalchemy.select(sqlalchemy.func.count(TrialModel.trial_id)).where(
                TrialModel.study_id == study_id, TrialModel.state.in_(list(states))
            )
            return int(conn.execute(query).scalar_one())
    return len(storage.get_all_trials(study_id, deepcopy=False, states=tuple(states)))


def ranked_value(storage: optuna.storages.BaseStorage, study_id: int, rank: int, maximize: bool) -> float | None:
    """The ``rank``-th best value (1 = the best) among the study's COMPLETE trials, or None when
    it holds fewer. One ordered query with a limit on a relational storage, rather than loading
    every trial: the driver asks it as each trial finishes."""
    backend = _rdb_backend(storage)
    if backend is not None:
        from optuna.storages._rdb.models import TrialModel, TrialValueModel

        order = TrialValueModel.value.desc() if maximize else TrialValueModel.value.asc()
        query = (
            sqlalchemy.select(TrialValueModel.value)
            .join(TrialModel, TrialModel.trial_id == TrialValueModel.trial_id)
            .where(
                TrialModel.study_id == study_id,
                TrialModel.state == optuna.trial.TrialState.COMPLETE,
                TrialValueModel.objective == 0,
                TrialValueModel.value.is_not(None),  # finite values; Optuna stores +-inf as a type, no value
            )
            .order_by(order)
            .offset(rank - 1)
            .limit(1)
        )
        with backend.engine.connect() as conn:
            value = conn.execute(query).scalar_one_or_none()
        return None if value is None else float(value)
    values = sorted(
        (t.value for t in storage.get_all_trials(study_id, deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)) if t.value is not None),
        reverse=maximize,
    )
    return values[rank - 1] if len(values) >= rank else None


def set_trial_user_attrs(storage: optuna.storages.BaseStorage, trial_id: int, attrs: dict) -> None:
    """Several user attrs of one running trial in ONE transaction.

    Optuna's ``set_trial_user_attr`` opens a session, looks the trial up and commits once per
    key; a finishing trial writes about ten. Here the trial's state is read once and the attrs
    are upserted together, into the same rows Optuna writes (one row per key, the value as
    JSON), so ``trial.user_attrs`` and optuna-dashboard read them as before. Like Optuna, a
    finished trial is refused (``UpdateFinishedTrialError``). Other storages: one call per key.
    """
    if not attrs:
        return
    backend = _rdb_backend(storage)
    if backend is None:
        for key, value in attrs.items():
            storage.set_trial_user_attr(trial_id, key, value)
        return
    from optuna.storages._rdb.models import TrialModel, TrialUserAttributeModel

    table = TrialUserAttributeModel.__table__
    rows = {str(key): json.dumps(value) for key, value in attrs.items()}
    with backend.engine.begin() as conn:  # one transaction: all keys or none
        state = conn.execute(sqlalchemy.select(TrialModel.state).where(TrialModel.trial_id == trial_id)).scalar_one_or_none()
        if state is None:
            raise KeyError(f"no trial with id {trial_id}")
        if state.is_finished():
            raise optuna.exceptions.UpdateFinishedTrialError(
                f"trial {trial_id} has already finished ({state.name}); its user attrs cannot change"
            )
        existing = set(
            conn.execute(
                sqlalchemy.select(table.c.key).where(table.c.trial_id == trial_id, table.c.key.in_(list(rows)))
            ).scalars()
        )
        new = [{"trial_id": trial_id, "key": k, "value_json": v} for k, v in rows.items() if k not in existing]
        if new:
            conn.execute(sqlalchemy.insert(table), new)
        for key in existing:
            conn.execute(
                sqlalchemy.update(table).where(table.c.trial_id == trial_id, table.c.key == key).values(value_json=rows[key])
            )


def write_trial_batch(storage: optuna.storages.BaseStorage, values: dict[int, dict[int, float]], beats=()) -> set[int]:
    """Intermediate values of several running trials and their heartbeats in ONE transaction.

    ``values``: trial id -> {step: value}; ``beats``: trial ids whose heartbeat is recorded now.
    The rows are Optuna's own (``trial_intermediate_values``, ``trial_heartbeats``, with its
    encoding of nan and infinities), so every reader sees them as if ``trial.report`` and
    ``record_heartbeat`` had written them one by one. As Optuna refuses to change a finished
    trial, finished trials are left alone: their ids are returned. Other storages: one call
    per value and per beat."""
    beats = set(beats)
    ids = set(values) | beats
    if not ids:
        return set()
    backend = _rdb_backend(storage)
    if backend is None:
        finished = set()
        for trial_id in ids:
            try:
                for step, value in values.get(trial_id, {}).items():
                    storage.set_trial_intermediate_value(trial_id, step, value)
                if trial_id in beats:
                    storage.record_heartbeat(trial_id)
            except optuna.exceptions.UpdateFinishedTrialError:
                finished.add(trial_id)
        return finished
    from optuna.storages._rdb.models import TrialHeartbeatModel, TrialIntermediateValueModel, TrialModel

    table = TrialIntermediateValueModel.__table__
    hb = TrialHeartbeatModel.__table__
    with backend.engine.begin() as conn:  # one transaction: every row or none
        states = dict(conn.execute(sqlalchemy.select(TrialModel.trial_id, TrialModel.state).where(TrialModel.trial_id.in_(list(ids)))).all())
        running = {i for i, state in states.items() if not state.is_finished()}
        write = {i: steps for i, steps in values.items() if i in running and steps}
        if write:
            existing = {
                (row[0], row[1]) for row in conn.execute(sqlalchemy.select(table.c.trial_id, table.c.step).where(table.c.trial_id.in_(list(write))))
            }
            new, changed = [], []
            for trial_id, steps in write.items():
                for step, value in steps.items():
                    stored, kind = TrialIntermediateValueModel.intermediate_value_to_stored_repr(value)
                    row = {"trial_id": trial_id, "step": int(step), "intermediate_value": stored, "intermediate_value_type": kind}
                    (changed if (trial_id, int(step)) in existing else new).append(row)
            if new:
                conn.execute(sqlalchemy.insert(table), new)
            for row in changed:
                conn.execute(
                    sqlalchemy.update(table)
                    .where(table.c.trial_id == row["trial_id"], table.c.step == row["step"])
                    .values(intermediate_value=row["intermediate_value"], intermediate_value_type=row["intermediate_value_type"])
                )
        beat = beats & running
        if beat:
            now = conn.execute(sqlalchemy.select(sqlalchemy.func.now())).scalar()  # the database's clock, as Optuna's
            have = set(conn.execute(sqlalchemy.select(hb.c.trial_id).where(hb.c.trial_id.in_(list(beat)))).scalars())
            if have:
                conn.execute(sqlalchemy.update(hb).where(hb.c.trial_id.in_(list(have))).values(heartbeat=now))
            if beat - have:
                conn.execute(sqlalchemy.insert(hb), [{"trial_id": i, "heartbeat": now} for i in sorted(beat - have)])
    return ids - running


def complete_trial_ids(storage: optuna.storages.BaseStorage, study_id: int) -> set[int]:
    """The ids of a study's COMPLETE trials (one query of integers, no trial loaded)."""
    backend = _rdb_backend(storage)
    if backend is None:
        return {t._trial_id for t in storage.get_all_trials(study_id, deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))}
    from optuna.storages._rdb.models import TrialModel

    with backend.engine.connect() as conn:
        query = sqlalchemy.select(TrialModel.trial_id).where(
            TrialModel.study_id == study_id, TrialModel.state == optuna.trial.TrialState.COMPLETE
        )
        return set(conn.execute(query).scalars())


def _rdb_backend(storage: optuna.storages.BaseStorage) -> optuna.storages.RDBStorage | None:
    backend = getattr(storage, "_backend", storage)  # Optuna wraps RDBStorage in a cache
    return backend if isinstance(backend, optuna.storages.RDBStorage) else None
