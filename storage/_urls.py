"""Storage URLs: the default, masking for output, and the SQLite file behind a URL."""

from __future__ import annotations

import os
from pathlib import Path

import sqlalchemy.engine

DEFAULT_URL = "sqlite:///studies.db"


def default_url() -> str:
    """``$SEARCH_STORAGE`` if set, else a SQLite file ``studies.db`` in the working directory."""
    return os.environ.get("SEARCH_STORAGE") or DEFAULT_URL


def mask_url(url: str) -> str:
    """The URL with its password replaced by ``***``; safe to print and log."""
    try:
        parsed = sqlalchemy.engine.make_url(url)
    except Exception:  # not a SQLAlchemy URL: mask anything that looks like user:pass@
        head, sep, tail = url.rpartition("@")
        if not sep or "://" not in head:
            return url
        scheme, _, userinfo = head.partition("://")
        user = userinfo.split(":", 1)[0]
        return f"{scheme}://{user}:***@{tail}"
    if parsed.password is None:
        return url
    return parsed.render_as_string(hide_password=True)


def url_password(url: str) -> str | None:
    """The password a storage URL carries, or None."""
    try:
        return sqlalchemy.engine.make_url(url).password
    except Exception:  # not a SQLAlchemy URL: whatever sits between user: and @
        head, sep, _ = url.rpartition("@")
        userinfo = head.partition("://")[2]
        return userinfo.partition(":")[2] or None if sep and ":" in userinfo else None


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def sqlite_path(url: str) -> Path | None:
    """The database file of a SQLite URL (None for in-memory or non-SQLite URLs)."""
    if not is_sqlite(url):
        return None
    database = sqlalchemy.engine.make_url(url).database
    if not database or database == ":memory:":
        return None
    return Path(database)
