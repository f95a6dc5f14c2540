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


# A query key holding a secret: password, sslpassword, pwd, secret, token, key, access_key,
# api_key, X-Amz-Signature, ... (the key's end decides, whatever its case)
_SECRET_KEY = r"[\w.\-]*(?:password|passwd|pwd|secret|token|key|signature|credential)"
_QUERY_SECRET = re.compile(rf"([?&;]({_SECRET_KEY})=)[^&;\s#]*", re.IGNORECASE)
_URL = re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.\-]*://\S+")


def mask_url(url: str) -> str:
    """The URL with every secret replaced by ``***``; safe to print and log.

    Masked however it is spelled: the userinfo's password (up to the *last* ``@``, so an
    unencoded ``@``, ``:`` or ``/`` inside it is masked too; percent-encoded the same) and
    every query value whose key names a secret (``password``, ``sslpassword``, ``pwd``,
    ``secret``, ``token``, ``key``, ``access_key``, ... in any case). A database URL that
    SQLAlchemy reads as written is rendered by SQLAlchemy (``hide_password``); one it would
    split at the wrong ``@`` (``user:p@ss@host``) is masked by hand."""
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
    if not any(c in rest[:at] for c in "@/?#"):  # as SQLAlchemy reads it
        try:
            parsed = sqlalchemy.engine.make_url(url)
        except Exception:  # not a SQLAlchemy URL
            parsed = None
        if parsed is not None and parsed.password:
            return _QUERY_SECRET.sub(r"\1***", parsed.render_as_string(hide_password=True))
    return f"{scheme}://{user}:***@{rest[at + 1:]}"


def mask_secrets(text: str) -> str:
    """``text`` with every URL in it masked (``mask_url``): for error lines that quote one."""
    return _URL.sub(lambda m: mask_url(m.group(0)), _QUERY_SECRET.sub(r"\1***", text))


def url_secrets(url: str) -> list[str]:
    """What in ``url`` is a secret, as a user reads it: ``the password`` (of the userinfo)
    and each secret query key (``sslpassword=``); [] for none."""
    found = ["the password"] if url_password(url) else []
    return found + [f"{m.group(2)}=" for m in _QUERY_SECRET.finditer(url)]


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
