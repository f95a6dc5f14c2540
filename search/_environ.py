"""Credentials stay in the driver: the environment handed to Ray and to helper processes.

The driver may hold credentials in its environment: the storage URL with its password
(``$SEARCH_STORAGE``), MLflow's (``$MLFLOW_TRACKING_PASSWORD``, ``..._TOKEN``, ...), an object
store's (``$AWS_*``) and the dashboard password. Workers need none of them (they never open
the storage nor MLflow; the driver writes every record). A process inherits its parent's
environment, where it can be read in ``/proc/PID/environ`` and by any code that runs there (a
Ray task can return ``os.environ``), so the processes the driver starts get an environment
without them: :func:`public_environ` for a ``subprocess`` and :func:`withheld` around
``ray.init``, which starts Ray's own processes (the GCS, the raylet and, from the raylet, every
worker) with the environment of that moment. The driver keeps them in its own (and takes them
off the list of variables Ray Tune copies into its trainables: ``search.driver.run``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

SECRET_NAMES = frozenset({"SEARCH_STORAGE", "SEARCH_DASHBOARD_PASSWORD"})
SECRET_PREFIXES = ("MLFLOW_", "AWS_")


def is_secret(name: str) -> bool:
    """Whether an environment variable is one the driver keeps to itself."""
    return name in SECRET_NAMES or name.startswith(SECRET_PREFIXES)


def public_environ(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """A copy of ``environ`` (default ``os.environ``) without the driver's credentials."""
    environ = os.environ if environ is None else environ
    return {k: v for k, v in environ.items() if not is_secret(k)}


@contextmanager
def withheld() -> Iterator[dict[str, str]]:
    """The driver's credentials out of ``os.environ`` for the block (the processes started
    in it inherit none), back when it ends; yields them."""
    kept = {k: os.environ.pop(k) for k in [k for k in os.environ if is_secret(k)]}
    try:
        yield kept
    finally:
        os.environ.update(kept)

