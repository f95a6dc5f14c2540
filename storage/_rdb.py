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
    if path is not None:
        _check_sqlite_file(url, path)


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
        except ImportError:
            raise StorageError(
                f"--storage {mask_url(url)}: the database driver is not installed; for PostgreSQL: "
                "pip install 'psycopg[binary]' and use a postgresql+psycopg:// URL"
            ) from None
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
    backend = getattr(storage, "_backend", storage)  # Optuna wraps RDBStorage in a cache
    if isinstance(backend, optuna.storages.RDBStorage):
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
    backend = getattr(storage, "_backend", storage)  # Optuna wraps RDBStorage in a cache
    if isinstance(backend, optuna.storages.RDBStorage):
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
    backend = getattr(storage, "_backend", storage)  # Optuna wraps RDBStorage in a cache
    if not isinstance(backend, optuna.storages.RDBStorage):
        for key, value in attrs.items():
            storage.set_trial_user_attr(trial_id, key, value)
        return
    import json

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


def stale_trial_ids(storage: optuna.storages.BaseStorage, study_id: int) -> list[int]:
    """RUNNING trials of a study whose driver is gone: Optuna's stale trials (last heartbeat
    older than the grace period) and, which Optuna skips, RUNNING trials that never got a
    heartbeat and started longer ago than the grace period. A driver beats for a trial right
    after creating it, so such a trial was orphaned by a driver killed in between; left alone
    it would count as running for ever and a resumed search would wait on it."""
    backend = getattr(storage, "_backend", storage)
    stale = list(storage._get_stale_trial_ids(study_id))
    if not isinstance(backend, optuna.storages.RDBStorage):
        return stale
    from datetime import datetime, timedelta, timezone

    from optuna.storages._rdb.models import TrialHeartbeatModel, TrialModel

    grace = backend.grace_period if backend.grace_period is not None else 2 * backend.heartbeat_interval
    now = datetime.now(timezone.utc).replace(tzinfo=None)  # Optuna stores datetime_start in UTC
    with backend.engine.connect() as conn:
        beaten = sqlalchemy.select(TrialHeartbeatModel.trial_id)
        started_at = TrialModel.__table__.c.datetime_start  # naive UTC
        query = sqlalchemy.select(TrialModel.trial_id, started_at).where(
            TrialModel.study_id == study_id,
            TrialModel.state == optuna.trial.TrialState.RUNNING,
            TrialModel.trial_id.not_in(beaten),
        )
        for trial_id, started in conn.execute(query):
            if started is not None and now - started > timedelta(seconds=grace):
                stale.append(trial_id)
    return stale


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
    backend = getattr(storage, "_backend", storage)  # Optuna wraps RDBStorage in a cache
    if not isinstance(backend, optuna.storages.RDBStorage):
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
    backend = getattr(storage, "_backend", storage)
    if not isinstance(backend, optuna.storages.RDBStorage):
        return {t._trial_id for t in storage.get_all_trials(study_id, deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))}
    from optuna.storages._rdb.models import TrialModel

    with backend.engine.connect() as conn:
        query = sqlalchemy.select(TrialModel.trial_id).where(
            TrialModel.study_id == study_id, TrialModel.state == optuna.trial.TrialState.COMPLETE
        )
        return set(conn.execute(query).scalars())


# -- reading a study without Optuna's ORM: a big study's readers


READ_CHUNK = 2000  # trial ids per ``IN (...)`` query, well under SQLite's bound variables


def _rdb_backend(storage: optuna.storages.BaseStorage) -> optuna.storages.RDBStorage | None:
    backend = getattr(storage, "_backend", storage)  # Optuna wraps RDBStorage in a cache
    return backend if isinstance(backend, optuna.storages.RDBStorage) else None


def _local(stored):
    """A stored datetime (naive UTC) as Optuna hands it out (naive local time)."""
    from datetime import timezone

    return None if stored is None else stored.replace(tzinfo=timezone.utc).astimezone().replace(tzinfo=None)


def study_summary(storage: optuna.storages.BaseStorage, study_id: int) -> tuple[dict, object]:
    """({TrialState: count}, last activity) of a study, from one grouped query: the last
    activity is the latest end (or, for a trial not ended, start) of any trial, in local time
    as ``FrozenTrial`` gives it; None without trials. Other storages: from every trial."""
    from optuna.trial import TrialState

    backend = _rdb_backend(storage)
    if backend is None:
        trials = storage.get_all_trials(study_id, deepcopy=False)
        counted = {s: sum(t.state == s for t in trials) for s in TrialState}
        times = [t.datetime_complete or t.datetime_start for t in trials]
        return counted, max((t for t in times if t is not None), default=None)
    from optuna.storages._rdb.models import TrialModel

    table = TrialModel.__table__
    query = sqlalchemy.select(
        table.c.state, sqlalchemy.func.count(), sqlalchemy.func.max(sqlalchemy.func.coalesce(table.c.datetime_complete, table.c.datetime_start))
    ).where(table.c.study_id == study_id).group_by(table.c.state)
    counted = dict.fromkeys(TrialState, 0)
    latest = None
    with backend.engine.connect() as conn:
        for state, n, last in conn.execute(query):
            state = state if isinstance(state, TrialState) else TrialState[state]
            counted[state] = int(n)
            if isinstance(last, str):  # SQLite hands back max() of a datetime column as text
                from datetime import datetime

                last = datetime.fromisoformat(last)
            if last is not None and (latest is None or last > latest):
                latest = last
    return counted, _local(latest)


def read_trials(
    storage: optuna.storages.BaseStorage,
    study_id: int,
    *,
    states=None,
    offset: int = 0,
    limit: int | None = None,
    intermediate_values: bool = True,
    user_attr_keys=None,
) -> list[optuna.trial.FrozenTrial]:
    """The study's trials in number order, as ``get_all_trials`` returns them, read with a few
    plain queries instead of Optuna's ORM objects (which cost about 15 µs a row: a study of
    20,000 trials of 50 epochs holds a million intermediate values). ``offset``/``limit``
    page through them (by position in number order, after the ``states`` filter);
    ``intermediate_values=False`` leaves each trial's per-epoch values out (an empty dict),
    for readers that need only params, values and attrs (``read_intermediate_values`` reads
    them for chosen trials); ``user_attr_keys`` reads only those user attrs. Other storages:
    ``get_all_trials``."""
    from optuna.distributions import json_to_distribution
    from optuna.storages._rdb import models
    from optuna.trial import FrozenTrial, TrialState

    backend = _rdb_backend(storage)
    if backend is None:
        trials = storage.get_all_trials(study_id, deepcopy=False, states=None if states is None else tuple(states))
        trials = trials[offset : None if limit is None else offset + limit]
        if not intermediate_values or user_attr_keys is not None:
            import copy

            trials = [copy.copy(t) for t in trials]
            for t in trials:
                t.intermediate_values = t.intermediate_values if intermediate_values else {}
                t.user_attrs = t.user_attrs if user_attr_keys is None else {k: v for k, v in t.user_attrs.items() if k in user_attr_keys}
        return trials
    t = models.TrialModel.__table__
    query = sqlalchemy.select(t.c.trial_id, t.c.number, t.c.state, t.c.datetime_start, t.c.datetime_complete).where(t.c.study_id == study_id)
    if states is not None:
        query = query.where(t.c.state.in_(list(states)))
    query = query.order_by(t.c.number, t.c.trial_id).offset(offset or None).limit(limit)
    values: dict[int, dict[int, float]] = {}
    params: dict[int, list[tuple[str, float, str]]] = {}
    user: dict[int, dict] = {}
    system: dict[int, dict] = {}
    with backend.engine.connect() as conn:
        heads = conn.execute(query).all()
        ids = [h.trial_id for h in heads]
        to_value, kinds = models.TrialValueModel.stored_repr_to_value, models.TrialValueModel.TrialValueType
        for trial_id, objective, value, kind in _child_rows(conn, models.TrialValueModel, ids, ("objective", "value", "value_type"), "trial_value_id"):
            values.setdefault(trial_id, {})[objective] = to_value(value, kinds[kind])
        for trial_id, name, value, dist in _child_rows(conn, models.TrialParamModel, ids, ("param_name", "param_value", "distribution_json"), "param_id"):
            params.setdefault(trial_id, []).append((name, value, dist))
        parse = _json_reader()
        keys = None if user_attr_keys is None else set(user_attr_keys)
        for trial_id, key, value in _child_rows(conn, models.TrialUserAttributeModel, ids, ("key", "value_json"), "key", keys):
            user.setdefault(trial_id, {})[key] = parse(value)
        for trial_id, key, value in _child_rows(conn, models.TrialSystemAttributeModel, ids, ("key", "value_json"), "key"):
            system.setdefault(trial_id, {})[key] = parse(value)
        steps = _intermediate(conn, ids) if intermediate_values else {}
    known: dict[str, object] = {}  # distribution JSON -> distribution, parsed once
    out = []
    for h in heads:
        dists, found = {}, {}
        for name, value, text in params.get(h.trial_id, ()):
            dist = known.get(text) or known.setdefault(text, json_to_distribution(text))
            dists[name], found[name] = dist, dist.to_external_repr(value)
        by_objective = values.get(h.trial_id)
        out.append(
            FrozenTrial(
                number=h.number, state=h.state if isinstance(h.state, TrialState) else TrialState[h.state], value=None,
                values=[by_objective[k] for k in sorted(by_objective)] if by_objective else None,
                datetime_start=_local(h.datetime_start), datetime_complete=_local(h.datetime_complete),
                params=found, distributions=dists, user_attrs=user.get(h.trial_id, {}), system_attrs=system.get(h.trial_id, {}),
                intermediate_values=steps.get(h.trial_id, {}), trial_id=h.trial_id,
            )  # fmt: skip
        )
    return out


def read_intermediate_values(storage: optuna.storages.BaseStorage, trial_ids: list[int]) -> dict[int, dict[int, float]]:
    """{trial id: {step: value}} of the given trials (a trial without any is left out)."""
    backend = _rdb_backend(storage)
    if backend is None:
        return {i: dict(v) for i in trial_ids if (v := storage.get_trial(i).intermediate_values)}
    with backend.engine.connect() as conn:
        return _intermediate(conn, trial_ids)


def _child_rows(conn, model, ids: list[int], columns: tuple[str, ...], order: str, keys: set | None = None) -> list[tuple]:
    """(trial_id, *columns) rows of a table holding per-trial rows, for the trials ``ids``
    (``READ_CHUNK`` ids per query), each trial's rows ordered by ``order``; with ``keys``, only
    the rows whose ``key`` is one of them. Fetched as the driver's plain tuples (enum columns as
    their names): SQLAlchemy's rows and type processing would double the time of a million."""
    table = model.__table__
    out: list[tuple] = []
    cursor = conn.connection.cursor()
    try:
        for k in range(0, len(ids), READ_CHUNK):
            query = sqlalchemy.select(table.c.trial_id, *(table.c[c] for c in columns)).where(table.c.trial_id.in_(ids[k : k + READ_CHUNK]))
            if keys is not None:
                query = query.where(table.c.key.in_(sorted(keys)))
            query = query.order_by(table.c.trial_id, table.c[order])
            # The bound values are the database's own trial ids and the caller's attr keys.
            cursor.execute(str(query.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True})))
            out += cursor.fetchall()
    finally:
        cursor.close()
    return out


def _intermediate(conn, ids: list[int]) -> dict[int, dict[int, float]]:
    from optuna.storages._rdb.models import TrialIntermediateValueModel as model

    kinds = model.TrialIntermediateValueType
    to_value = model.stored_repr_to_intermediate_value
    steps: dict[int, dict[int, float]] = {}
    rows = _child_rows(conn, model, ids, ("step", "intermediate_value", "intermediate_value_type"), "trial_intermediate_value_id")
    for trial_id, step, value, kind in rows:
        steps.setdefault(trial_id, {})[step] = value if kind == "FINITE" else to_value(value, kinds[kind])
    return steps


def _json_reader():
    """``json.loads`` remembering the texts it has read that hold a plain value (attr values
    repeat: device, node...); a list or dict is parsed afresh, so no two trials share one."""
    seen: dict[str, object] = {}

    def parse(text: str):
        try:
            return seen[text]
        except KeyError:
            value = json.loads(text)
            if value is None or isinstance(value, (str, int, float)):
                seen[text] = value
            return value

    return parse


def intermediate_counts(storage: optuna.storages.BaseStorage, trial_ids: list[int]) -> dict[int, int]:
    """How many intermediate values each trial holds (trials without one are left out),
    counted by the database."""
    backend = _rdb_backend(storage)
    if backend is None:
        return {i: n for i in trial_ids if (n := len(storage.get_trial(i).intermediate_values))}
    from optuna.storages._rdb.models import TrialIntermediateValueModel

    table = TrialIntermediateValueModel.__table__
    out: dict[int, int] = {}
    with backend.engine.connect() as conn:
        for k in range(0, len(trial_ids), READ_CHUNK):
            query = sqlalchemy.select(table.c.trial_id, sqlalchemy.func.count()).where(table.c.trial_id.in_(trial_ids[k : k + READ_CHUNK])).group_by(table.c.trial_id)
            out.update({trial_id: int(n) for trial_id, n in conn.execute(query)})
    return out
