"""The service's way into the study storage: the ``storage`` package's errors become
``search.errors.StorageError`` (one exception tree), and commands that only read refuse a
SQLite URL whose file does not exist, since opening it would create an empty database.

Used by the driver (which writes) and the results side (which reads); never by workers,
which have no database access.
"""

from __future__ import annotations

import contextlib

import optuna
import sqlalchemy.exc

import storage
from search.errors import StorageError, StorageNotFoundError
from search.study_attrs import flat


@contextlib.contextmanager
def storage_errors(url: str | None = None):
    """Re-raise the ``storage`` package's error as ``search.errors.StorageError``; with
    ``url``, a database error too (one line naming ``--storage``, see ``storage.connect_error``)."""
    try:
        yield
    except storage.StorageError as exc:
        raise StorageError(str(exc)) from None
    except storage.ObjectStoreError as exc:
        raise StorageError(f"--artifacts {exc}") from None
    except (sqlalchemy.exc.SQLAlchemyError, optuna.exceptions.StorageInternalError) as exc:
        if url is None:
            raise
        cause = exc.__cause__ if isinstance(exc, optuna.exceptions.StorageInternalError) and exc.__cause__ else exc
        raise StorageError(str(storage.connect_error(url, cause))) from None


def open_storage(url: str, **kwargs) -> optuna.storages.RDBStorage:
    """``storage.open_storage`` with its error in the service's tree."""
    with storage_errors():
        return storage.open_storage(url, **kwargs)


def existing_url(url: str | None, hint: str = "; run a search first") -> str:
    """The URL to read (``--storage``, else the default), refusing a missing SQLite file."""
    url = url or storage.default_url()
    db = storage.sqlite_path(url)
    if db is not None and not db.exists():
        raise StorageNotFoundError(f"--storage {storage.mask_url(url)}: no such database file {db}{hint}")
    return url


def open_read(url: str | None) -> tuple[str, optuna.storages.BaseStorage]:
    """(resolved URL, storage) for reading an existing storage; no heartbeats, nothing written."""
    url = existing_url(url)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return url, open_storage(url, heartbeat_interval=None, grace_period=None)


def recorded_artifacts(url: str) -> str | None:
    """The artifact folder the studies of ``url`` recorded (their ``artifacts`` user attr), when
    they all name the same one; None otherwise (``storage.find_artifacts`` decides)."""
    _, rdb = open_read(url)
    found = {flat(s).get("artifacts") for s in rdb.get_all_studies()} - {None}
    return found.pop() if len(found) == 1 else None
