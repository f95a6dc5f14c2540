"""Riding out a database restart: retry storage calls that failed on a lost connection."""

from __future__ import annotations

import logging
import time
from typing import Callable, TypeVar

import optuna
import sqlalchemy.exc

T = TypeVar("T")
log = logging.getLogger("search.storage")

TRANSIENT = (optuna.exceptions.StorageInternalError, sqlalchemy.exc.OperationalError, sqlalchemy.exc.InterfaceError)


def retrying(fn: Callable[..., T], *args, deadline_s: float = 180.0, **kwargs) -> T:
    """``fn(*args, **kwargs)``, retried with backoff while the database is unreachable.

    Connection errors (a server restart, a dropped connection) are retried for up to
    ``deadline_s`` seconds; ``pool_pre_ping`` then hands out fresh connections. Anything else,
    and the last error after the deadline, is raised.
    """
    started, delay, warned = time.monotonic(), 0.25, False
    while True:
        try:
            return fn(*args, **kwargs)
        except TRANSIENT as exc:
            if time.monotonic() - started > deadline_s:
                raise
            if not warned:
                log.warning("storage unreachable (%s); retrying for up to %.0f s", type(exc).__name__, deadline_s)
                warned = True
            time.sleep(delay)
            delay = min(delay * 2, 5.0)
