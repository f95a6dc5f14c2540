"""Storage URL -> Optuna storage: the one place that opens the study database.

The Optuna study in a relational database is the record of every search. This package
resolves the URL (default: ``$SEARCH_STORAGE``, else a SQLite file ``studies.db`` in the
working directory), opens it with settings fit for long searches, and masks passwords
wherever a URL is printed.
"""

from storage._urls import DEFAULT_URL, default_url, is_sqlite, mask_url, sqlite_path
from storage._rdb import HEARTBEAT_GRACE_S, HEARTBEAT_INTERVAL_S, open_storage

__all__ = [
    "DEFAULT_URL",
    "HEARTBEAT_GRACE_S",
    "HEARTBEAT_INTERVAL_S",
    "default_url",
    "is_sqlite",
    "mask_url",
    "open_storage",
    "sqlite_path",
]
