"""Storage URLs: the default, masking for output, and the SQLite file behind a URL."""

from __future__ import annotations

import os
import re
from pathlib import Path

import sqlalchemy.engine

DEFAULT_URL = "sqlite:///studies.db"


def default_url() -> str:
    """``$SEARCH_STORAGE`` if set, else a SQLite file ``studies.db`` in the working directory."""
    return os.environ.get("SEARCH_STORAGE") or DEFAULT_URL


_QUERY_SECRET = re.compile(r"([?&;](?:password|passwd|pwd|secret|token)=)[^&;\s]*", re.IGNORECASE)
_URL = re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.\-]*://\S+")


def mask_url(url: str) -> str:
    """The URL with every password replaced by ``***``; safe to print and log.

    Masked however it is spelled: the userinfo's password (up to the *last* ``@``, so an
    unencoded ``@``, ``:`` or ``/`` inside it is masked too; percent-encoded the same) and a
    query-string ``password=`` (also ``passwd``, ``pwd``, ``secret``, ``token``). Parsed by
    hand, not by SQLAlchemy, which splits ``user:p@ss@host`` at the first ``@``."""
    url = _QUERY_SECRET.sub(r"\1***", url)
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    at = rest.rfind("@")
    if at < 0:
        return url
    user, colon, _ = rest[:at].partition(":")
    if not colon:
        return url
    return f"{scheme}://{user}:***@{rest[at + 1:]}"


def mask_secrets(text: str) -> str:
    """``text`` with every URL in it masked (``mask_url``): for error lines that quote one."""
    return _URL.sub(lambda m: mask_url(m.group(0)), _QUERY_SECRET.sub(r"\1***", text))


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
