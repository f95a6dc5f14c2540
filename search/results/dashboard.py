"""Serve optuna-dashboard on a study storage, with optional read-only and password guards.

optuna-dashboard has neither authentication nor a read-only mode: anyone who can reach
its HTTP API can create and delete studies, tell trials, upload artifacts and upgrade the
database schema.  This module wraps its WSGI application in two small middlewares:

* read-only: every request whose method is not GET, HEAD or OPTIONS is answered with
  ``403 Forbidden``; pages and GET API calls are served as usual.
* password: HTTP Basic authentication in front of every request (any user name is
  accepted, only the password is checked); missing or wrong credentials get ``401``.

:func:`make_app` builds the guarded WSGI application; :func:`serve` runs it on a threaded
``wsgiref`` server (the same server ``optuna-dashboard`` itself uses by default) until
Ctrl-C.  ``serve`` takes the password from the environment variable
``SEARCH_DASHBOARD_PASSWORD`` when none is passed, and warns on stderr when it binds to a
non-loopback address with neither guard enabled.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Iterable
import hmac
import ipaddress
import os
import socket
from socketserver import ThreadingMixIn
import sys
from typing import Any, TextIO
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

PASSWORD_ENV = "SEARCH_DASHBOARD_PASSWORD"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
REALM = "search dashboard"

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def make_app(
    storage_url: str,
    *,
    read_only: bool = False,
    password: str | None = None,
    artifact_dir: str | None = None,
) -> WSGIApp:
    """The WSGI application: optuna-dashboard's bottle app wrapped by the guards.

    ``storage_url`` is a SQLAlchemy URL of an Optuna RDB storage.  Missing tables are
    created as Optuna does, so a dashboard started before the first study shows an empty
    list that fills in.  The schema compatibility check is skipped, as optuna-dashboard
    does, so that an outdated schema reaches the dashboard's own migration page (whose
    POST the read-only guard refuses).  ``artifact_dir`` (an existing folder) makes
    artifacts stored with ``optuna.artifacts.FileSystemArtifactStore(artifact_dir)``
    browsable.
    ``password`` is used as given here (no environment lookup); an empty one is an error.
    """
    import optuna
    import optuna_dashboard

    if password is not None and not password:
        raise ValueError("the dashboard password must not be empty")
    if artifact_dir is not None and not os.path.isdir(artifact_dir):
        raise NotADirectoryError(f"artifact folder {artifact_dir!r} does not exist")
    storage = optuna.storages.RDBStorage(storage_url, skip_compatibility_check=True)
    artifact_store = None
    if artifact_dir is not None:
        from optuna.artifacts import FileSystemArtifactStore

        artifact_store = FileSystemArtifactStore(artifact_dir)
    app: WSGIApp = optuna_dashboard.wsgi(storage, artifact_store=artifact_store)
    if read_only:
        app = read_only_middleware(app)
    if password is not None:
        app = basic_auth_middleware(app, password)
    return app


def read_only_middleware(app: WSGIApp) -> WSGIApp:
    """Refuse every request whose method is not GET, HEAD or OPTIONS with 403."""

    def guarded(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD", "GET").upper()
        if method in SAFE_METHODS:
            return app(environ, start_response)
        path = environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", "")
        return _plain(start_response, "403 Forbidden", f"read-only dashboard: {method} {path} refused")

    return guarded


def basic_auth_middleware(app: WSGIApp, password: str) -> WSGIApp:
    """Require HTTP Basic credentials carrying ``password`` (any user name) on every request."""
    expected = password.encode("utf-8")

    def guarded(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        given = _basic_password(environ.get("HTTP_AUTHORIZATION", ""))
        if given is not None and hmac.compare_digest(given, expected):
            return app(environ, start_response)
        return _plain(
            start_response,
            "401 Unauthorized",
            "authentication required",
            [("WWW-Authenticate", f'Basic realm="{REALM}"')],
        )

    return guarded


def _basic_password(header: str) -> bytes | None:
    """The password part of an ``Authorization: Basic ...`` header, or None."""
    scheme, _, encoded = header.strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True)
    except (binascii.Error, ValueError):
        return None
    _user, sep, given = decoded.partition(b":")
    return given if sep else None


def _plain(
    start_response: Callable[..., Any],
    status: str,
    text: str,
    extra_headers: list[tuple[str, str]] | None = None,
) -> list[bytes]:
    body = (text + "\n").encode("utf-8", errors="replace")
    headers = [
        ("Content-Type", "text/plain; charset=utf-8"),
        ("Content-Length", str(len(body))),
        ("X-Content-Type-Options", "nosniff"),
        *(extra_headers or []),
    ]
    start_response(status, headers)
    return [body]


def is_loopback(host: str) -> bool:
    """Whether ``host`` names a loopback address (127.0.0.0/8, ::1 or localhost).

    Other host names are not resolved and count as non-loopback.
    """
    host = host.strip().strip("[]")
    if host.lower() == "localhost" or host.lower().endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def warn_if_exposed(
    host: str, *, read_only: bool, password: str | None, file: TextIO | None = None
) -> bool:
    """Print a warning (to stderr by default) for an unguarded non-loopback bind.

    Returns True when the warning was printed.
    """
    if is_loopback(host) or read_only or password:
        return False
    print(
        f"warning: the dashboard listens on {host or 'all interfaces'} with neither a password "
        "nor read-only mode: anyone who can reach it can delete studies and trials.",
        file=file if file is not None else sys.stderr,
        flush=True,
    )
    return True


class _ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    """wsgiref server handling each request in its own thread (browsers fetch in parallel)."""

    daemon_threads = True


class _ThreadingWSGIServerV6(_ThreadingWSGIServer):
    address_family = socket.AF_INET6


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


def make_server_for(app: WSGIApp, host: str, port: int, *, quiet: bool = False) -> WSGIServer:
    """A bound (not yet serving) threaded WSGI server; ``port=0`` picks a free port."""
    bind_host = host.strip("[]")
    server_class = _ThreadingWSGIServerV6 if ":" in bind_host else _ThreadingWSGIServer
    handler = _QuietHandler if quiet else WSGIRequestHandler
    return make_server(bind_host, port, app, server_class=server_class, handler_class=handler)


def serve(
    storage_url: str,
    *,
    host: str = "127.0.0.1",
    port: int = 8080,
    read_only: bool = False,
    password: str | None = None,
    artifact_dir: str | None = None,
    quiet: bool = False,
) -> None:
    """Run optuna-dashboard on ``storage_url`` until interrupted (blocking).

    When ``password`` is None it is read from the environment variable
    ``SEARCH_DASHBOARD_PASSWORD`` (an empty value means no password).  Prints one line
    with the dashboard URL (unless ``quiet``, which also silences the request log); the
    storage URL in it has its password masked.  Ctrl-C stops the server and returns.
    """
    from storage import mask_url

    if password is None:
        password = os.environ.get(PASSWORD_ENV) or None
    warn_if_exposed(host, read_only=read_only, password=password)
    try:
        app = make_app(
            storage_url, read_only=read_only, password=password, artifact_dir=artifact_dir
        )
        server = make_server_for(app, host, port, quiet=quiet)
    except KeyboardInterrupt:  # Ctrl-C while connecting to the database
        return
    try:
        if not quiet:
            shown_host = f"[{host.strip('[]')}]" if ":" in host else host
            guards = [g for g, on in (("read-only", read_only), ("password", password)) if on]
            print(
                f"optuna-dashboard: http://{shown_host}:{server.server_port}/dashboard/"
                f" (storage {mask_url(storage_url)}"
                f"{'; ' + ', '.join(guards) if guards else ''}) - Ctrl-C to stop",
                flush=True,
            )
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
