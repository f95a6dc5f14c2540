"""Serve optuna-dashboard on a study storage, behind guards.

optuna-dashboard has neither authentication nor a read-only mode: anyone who can reach
its HTTP API can create and delete studies, tell trials, upload artifacts and upgrade the
database schema. This module wraps its WSGI application in the middlewares of
``search.results.dashboard_guards``, outermost first: one reading of the request (a strict
UTF-8 path, one body framing, the route bottle will call: ``dashboard_request``), headers
(no wildcard CORS, no framing or sniffing, all but the dashboard's own pages sandboxed), the
Host allow-list, the password (HTTP Basic, throttled), read-only, same origin for writes, and
the search's model and trial states, which only the driver changes (``dashboard_trials``).

:func:`make_app` builds the guarded WSGI application; :class:`DashboardServer` runs it on
cheroot (CherryPy's production WSGI server: a thread pool, keep-alive, TLS through Python's
``ssl``); :func:`serve` checks the exposure rules and runs it until Ctrl-C.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from typing import TextIO

from search.errors import UsageError
from search.results.dashboard_guards import (
    LoginThrottle,
    basic_auth_middleware,
    headers_middleware,
    host_middleware,
    host_name,
    is_loopback,
    read_only_middleware,
    same_origin_middleware,
)
from search.results.dashboard_request import Routes, WSGIApp, canonical_middleware
from search.results.dashboard_trials import driver_trials_middleware

PASSWORD_ENV = "SEARCH_DASHBOARD_PASSWORD"


def make_app(
    storage_url: str,
    *,
    read_only: bool = False,
    password: str | None = None,
    artifact_dir: str | None = None,
    allowed_hosts: Iterable[str] = (),
    throttle: LoginThrottle | None = None,
    trust_proxy: bool = False,
) -> WSGIApp:
    """The WSGI application: optuna-dashboard's bottle app wrapped by the guards.

    ``storage_url`` is a SQLAlchemy URL of an Optuna RDB storage.  Missing tables are
    created as Optuna does, so a dashboard started before the first study shows an empty
    list that fills in.  The schema compatibility check is skipped, as optuna-dashboard
    does, so that an outdated schema reaches the dashboard's own migration page (whose
    POST the read-only guard refuses).  ``artifact_dir`` (an existing folder, or an
    ``s3://BUCKET/PREFIX`` object store, see ``storage.open_artifact_store``) makes
    artifacts stored with ``optuna.artifacts.FileSystemArtifactStore(artifact_dir)``
    browsable. ``allowed_hosts``: names served besides the loopback ones.
    ``password`` is used as given here (no environment lookup); an empty one is an error.
    ``trust_proxy``: keep ``X-Forwarded-*`` headers (dropped otherwise) and count the login
    throttle by a proxy's ``X-Forwarded-For``.
    """
    import optuna
    import optuna_dashboard

    if password is not None and not password:
        raise ValueError("the dashboard password must not be empty")
    from storage import is_object_store, open_artifact_store

    if artifact_dir is not None and not is_object_store(artifact_dir) and not os.path.isdir(artifact_dir):
        raise NotADirectoryError(f"artifact folder {artifact_dir!r} does not exist")
    storage = _read_fast_storage()(storage_url, skip_compatibility_check=True)
    artifact_store = None
    if artifact_dir is not None and is_object_store(artifact_dir):
        artifact_store = open_artifact_store("", artifact_dir)  # s3://BUCKET/PREFIX
    elif artifact_dir is not None:
        from storage import PrivateFileSystemArtifactStore

        artifact_store = PrivateFileSystemArtifactStore(artifact_dir)
    bottle_app = optuna_dashboard.wsgi(storage, artifact_store=artifact_store)
    routes = Routes(bottle_app)
    app: WSGIApp = same_origin_middleware(driver_trials_middleware(bottle_app, routes, storage))
    if read_only:
        app = read_only_middleware(app)
    if password is not None:
        app = basic_auth_middleware(app, password, throttle or LoginThrottle())
    app = host_middleware(app, allowed_hosts)
    return canonical_middleware(headers_middleware(app, routes), trust_proxy=trust_proxy)


def _read_fast_storage():
    """``RDBStorage`` whose ``get_all_trials`` reads with ``storage.read_trials`` (plain queries,
    no ORM objects). optuna-dashboard asks for every trial of a study on its first view and again
    whenever its cache is 10 s old; through Optuna's ORM that took minutes for a study of 20,000
    trials of 50 epochs."""
    import optuna

    from storage import read_trials

    class ReadFastStorage(optuna.storages.RDBStorage):
        def get_all_trials(self, study_id: int, deepcopy: bool = True, states=None):
            return read_trials(self, study_id, states=states)  # fresh objects: a deep copy already

    return ReadFastStorage


# --- exposure rules --------------------------------------------------------------------------


def check_exposure(host: str, *, read_only: bool, password: str | None, tls: bool = False, file: TextIO | None = None) -> list[str]:
    """Refuse (``UsageError``) a non-loopback bind with neither a password nor read-only mode;
    print a one-line warning for the weaker exposed set-ups. Returns the warnings printed."""
    if is_loopback(host):
        return []
    where = host or "all interfaces"
    if not read_only and not password:
        raise UsageError(
            f"--host {where}: the dashboard would let anyone who can reach it change or delete studies; "
            f"set a password (${PASSWORD_ENV} or --password-file FILE) or add --read-only"
        )
    warnings = []
    if not password:
        warnings.append(f"--host {where} --read-only without a password: anyone who can reach it can read every study and download every artifact, checkpoints included")
    elif not tls:
        warnings.append(f"--host {where} without --certfile/--keyfile: the password travels in clear text; use TLS or a TLS reverse proxy")
    for line in warnings:
        print(f"warning: {line}", file=file if file is not None else sys.stderr, flush=True)
    return warnings


# --- the server ------------------------------------------------------------------------------


class DashboardServer:
    """cheroot's WSGI server, bound (``port=0`` picks a free port) and ready to serve.

    ``certfile``/``keyfile`` (PEM) serve HTTPS through Python's ``ssl`` (cheroot's builtin
    adapter). ``serve_forever`` blocks until ``shutdown`` (from another thread) or Ctrl-C.
    """

    def __init__(self, app: WSGIApp, host: str, port: int, *, certfile: str | None = None, keyfile: str | None = None, quiet: bool = False, threads: int = 16):
        from cheroot import wsgi

        self.scheme = "https" if certfile else "http"
        self._server = wsgi.Server((host.strip("[]"), port), app, numthreads=threads, server_name="search-dashboard")
        if quiet:
            self._server.error_log = lambda *args, **kwargs: None
        if certfile:
            from cheroot.ssl.builtin import BuiltinSSLAdapter

            self._server.ssl_adapter = BuiltinSSLAdapter(certfile, keyfile)
        self._server.prepare()  # binds and listens

    @property
    def server_port(self) -> int:
        return int(self._server.bind_addr[1])

    def serve_forever(self) -> None:
        self._server.serve()

    def shutdown(self) -> None:
        self._server.stop()

    def server_close(self) -> None:
        self._server.stop()


def make_server_for(app: WSGIApp, host: str, port: int, *, quiet: bool = False, certfile: str | None = None, keyfile: str | None = None) -> DashboardServer:
    """A bound (not yet serving) production server for ``app``; ``port=0`` picks a free port."""
    return DashboardServer(app, host, port, certfile=certfile, keyfile=keyfile, quiet=quiet)


def _bound_server(app: WSGIApp, host: str, port: int, quiet: bool, certfile: str | None, keyfile: str | None) -> DashboardServer:
    """``make_server_for`` with its failures as one-line usage errors naming the flag."""
    import ssl

    try:
        return make_server_for(app, host, port, quiet=quiet, certfile=certfile, keyfile=keyfile)
    except (ssl.SSLError, ValueError) as exc:
        raise UsageError(f"--certfile {certfile} --keyfile {keyfile}: cannot load the certificate and key ({exc})") from None
    except OSError as exc:
        if certfile and getattr(exc, "filename", None) in (certfile, keyfile):
            raise UsageError(f"--certfile/--keyfile: cannot read {exc.filename}: {exc.strerror}") from None
        raise UsageError(f"--host {host} --port {port}: cannot listen there ({exc.strerror or exc})") from None


def serve(
    storage_url: str,
    *,
    host: str = "127.0.0.1",
    port: int = 8080,
    read_only: bool = False,
    password: str | None = None,
    artifact_dir: str | None = None,
    quiet: bool = False,
    allowed_hosts: Iterable[str] = (),
    certfile: str | None = None,
    keyfile: str | None = None,
    trust_proxy: bool = False,
) -> None:
    """Run optuna-dashboard on ``storage_url`` until interrupted (blocking).

    When ``password`` is None it is read from the environment variable
    ``SEARCH_DASHBOARD_PASSWORD`` (an empty value means no password). A non-loopback ``host``
    needs a password or ``read_only`` (``UsageError`` otherwise). The bound host is served
    besides the loopback names and ``allowed_hosts``. Prints one line with the dashboard URL
    (unless ``quiet``); the storage URL in it has its password masked. Ctrl-C stops the
    server and returns.
    """
    from storage import mask_url

    if password is None:
        password = os.environ.get(PASSWORD_ENV) or None
    if bool(certfile) != bool(keyfile):
        raise UsageError("--certfile and --keyfile: give both (PEM files) for TLS, or neither")
    check_exposure(host, read_only=read_only, password=password, tls=bool(certfile))
    allowed_hosts = list(allowed_hosts)
    if host_name(host) in ("", "0.0.0.0", "::") and not allowed_hosts:
        print("note: listening on all interfaces, but only requests addressed to a loopback name are served; add --allow-host NAME for each name clients use", file=sys.stderr, flush=True)
    try:
        app = make_app(
            storage_url, read_only=read_only, password=password, artifact_dir=artifact_dir, allowed_hosts=[*allowed_hosts, host],
            trust_proxy=trust_proxy,
        )
        server = _bound_server(app, host, port, quiet, certfile, keyfile)
    except KeyboardInterrupt:  # Ctrl-C while connecting to the database
        return
    try:
        if not quiet:
            shown_host = f"[{host.strip('[]')}]" if ":" in host else host
            guards = [g for g, on in (("read-only", read_only), ("password", password), ("TLS", certfile)) if on]
            print(
                f"optuna-dashboard: {server.scheme}://{shown_host}:{server.server_port}/dashboard/"
                f" (storage {mask_url(storage_url)}"
                f"{'; ' + ', '.join(guards) if guards else ''}) - Ctrl-C to stop",
                flush=True,
            )
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
