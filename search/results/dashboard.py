"""Serve optuna-dashboard on a study storage, behind guards.

optuna-dashboard has neither authentication nor a read-only mode: anyone who can reach
its HTTP API can create and delete studies, tell trials, upload artifacts and upgrade the
database schema. This module wraps its WSGI application in small middlewares, outermost
first:

* headers: no wildcard CORS (optuna-dashboard sends ``Access-Control-Allow-Origin: *`` with
  artifacts; it is removed, so other sites' pages cannot read them), no framing
  (``X-Frame-Options: DENY``), and artifacts sandboxed (``Content-Security-Policy: sandbox allow-scripts``: an opaque origin).
* Host allow-list: a request whose ``Host`` is not a loopback name, the bound host or a name
  given with ``--allow-host`` is answered ``403``. A web page cannot reach a loopback-only
  dashboard by DNS rebinding (its own name pointed at 127.0.0.1): its requests carry its name.
* password: HTTP Basic authentication in front of every request (any user name is
  accepted, only the password is checked, in constant time); missing or wrong credentials
  get ``401``. After each wrong password the client (by address) must wait before its next
  try, twice as long each time up to a bound (``429`` until then, the password unchecked).
* read-only: every request whose method is not GET, HEAD or OPTIONS is answered ``403``.
* same origin: a write (any other method) is accepted only when its ``Origin`` (without one,
  its ``Referer``) names the host and port it was sent to: a page of another site, even
  in a browser that holds the password, cannot write.
* driver attrs: the ``checkpoint`` and ``checkpoint_sha256`` user attrs are written by the
  search driver only; a request that sets them is answered ``403``.

:func:`make_app` builds the guarded WSGI application; :class:`DashboardServer` runs it on
cheroot (CherryPy's production WSGI server: a thread pool, keep-alive, TLS through Python's
``ssl``); :func:`serve` checks the exposure rules and runs it until Ctrl-C.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import io
import ipaddress
import json
import os
import re
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from typing import Any, TextIO
from urllib.parse import urlsplit

from search.errors import UsageError

PASSWORD_ENV = "SEARCH_DASHBOARD_PASSWORD"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
REALM = "search dashboard"
DEFAULT_PORTS = {"http": "80", "https": "443"}
# The trial's model and its digest: written by the driver (search.worker.checkpoint.DIGEST_ATTR)
DRIVER_ATTRS = frozenset({"checkpoint", "checkpoint_sha256"})
USER_ATTRS_PATH = re.compile(r"/api/trials/\d+/user-attrs/?")
MAX_ATTRS_BODY = 1 << 20

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def make_app(
    storage_url: str,
    *,
    read_only: bool = False,
    password: str | None = None,
    artifact_dir: str | None = None,
    allowed_hosts: Iterable[str] = (),
    throttle: LoginThrottle | None = None,
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
        from optuna.artifacts import FileSystemArtifactStore

        artifact_store = FileSystemArtifactStore(artifact_dir)
    app: WSGIApp = optuna_dashboard.wsgi(storage, artifact_store=artifact_store)
    app = same_origin_middleware(driver_attrs_middleware(app))
    if read_only:
        app = read_only_middleware(app)
    if password is not None:
        app = basic_auth_middleware(app, password, throttle or LoginThrottle())
    app = host_middleware(app, allowed_hosts)
    return headers_middleware(app)


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


# --- the guards ------------------------------------------------------------------------------


def headers_middleware(app: WSGIApp) -> WSGIApp:
    """Drop CORS grants (``Access-Control-Allow-*``) from every response and forbid framing.
    An artifact is served sandboxed: an HTML file among them (the forecast page) may run its
    scripts, but in an opaque origin of its own, so a write it sends through the dashboard's
    API carries ``Origin: null`` (or fails its CORS preflight) and is refused."""

    def guarded(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        policy = "frame-ancestors 'none'"
        if environ.get("PATH_INFO", "").startswith("/artifacts/"):
            policy = "sandbox allow-scripts; " + policy  # scripts run (the forecast page draws), in an opaque origin

        def start(status: str, headers: list[tuple[str, str]], exc_info=None):
            kept = [(k, v) for k, v in headers if not k.lower().startswith("access-control-allow-")]
            kept += [("X-Frame-Options", "DENY"), ("Content-Security-Policy", policy)]
            return start_response(status, kept, exc_info) if exc_info else start_response(status, kept)

        return app(environ, start)

    return guarded


def host_middleware(app: WSGIApp, allowed_hosts: Iterable[str] = ()) -> WSGIApp:
    """Refuse with 403 a request whose ``Host`` is neither a loopback name nor allowed."""
    allowed = {host_name(h) for h in allowed_hosts if h}  # a port given with a name is ignored

    def guarded(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        host = host_name(environ.get("HTTP_HOST", ""))
        if host and (is_loopback(host) or host in allowed):
            return app(environ, start_response)
        shown = environ.get("HTTP_HOST", "")[:100]
        return _plain(start_response, "403 Forbidden", f"Host {shown!r} is not served here; start the dashboard with --allow-host NAME to serve a name")

    return guarded


def read_only_middleware(app: WSGIApp) -> WSGIApp:
    """Refuse every request whose method is not GET, HEAD or OPTIONS with 403."""

    def guarded(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD", "GET").upper()
        if method in SAFE_METHODS:
            return app(environ, start_response)
        return _plain(start_response, "403 Forbidden", f"read-only dashboard: {method} {_path(environ)} refused")

    return guarded


def same_origin_middleware(app: WSGIApp) -> WSGIApp:
    """Refuse with 403 a write whose ``Origin`` (else ``Referer``) is not the dashboard's own."""

    def guarded(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD", "GET").upper()
        if method in SAFE_METHODS or is_same_origin(environ):
            return app(environ, start_response)
        source = environ.get("HTTP_ORIGIN") or environ.get("HTTP_REFERER") or "no Origin or Referer"
        return _plain(
            start_response,
            "403 Forbidden",
            f"{method} {_path(environ)} refused: writes are accepted from the dashboard's own pages only (from: {source[:100]})",
        )

    return guarded


def driver_attrs_middleware(app: WSGIApp) -> WSGIApp:
    """Refuse with 403 a request that sets a user attr only the driver writes (``checkpoint``
    and its ``checkpoint_sha256``): not even the dashboard's own pages can point a trial at
    another model."""

    def guarded(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("REQUEST_METHOD", "GET").upper() != "POST" or not USER_ATTRS_PATH.fullmatch(environ.get("PATH_INFO", "")):
            return app(environ, start_response)
        body = _read_body(environ)
        if body is None:
            return _plain(start_response, "413 Content Too Large", f"a user attrs request is limited to {MAX_ATTRS_BODY} bytes")
        try:
            keys = set(json.loads(body).get("user_attrs") or {})
        except (ValueError, AttributeError, TypeError):
            keys = set()
        if keys & DRIVER_ATTRS:
            return _plain(start_response, "403 Forbidden", f"user attrs {', '.join(sorted(keys & DRIVER_ATTRS))} are written by the search driver only")
        return app(environ, start_response)

    return guarded


def _read_body(environ: dict[str, Any]) -> bytes | None:
    """The request body, put back for the app to read; None when over ``MAX_ATTRS_BODY``."""
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > MAX_ATTRS_BODY:
        return None
    body = environ["wsgi.input"].read(length) if length > 0 else b""
    environ["wsgi.input"] = io.BytesIO(body)
    environ["CONTENT_LENGTH"] = str(len(body))
    return body


def basic_auth_middleware(app: WSGIApp, password: str, throttle: LoginThrottle | None = None) -> WSGIApp:
    """Require HTTP Basic credentials carrying ``password`` (any user name) on every request;
    a client that sent a wrong one waits (``throttle``) before its next try is checked."""
    expected = password.encode("utf-8")
    throttle = throttle or LoginThrottle()

    def guarded(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        given = _basic_password(environ.get("HTTP_AUTHORIZATION", ""))
        client = environ.get("REMOTE_ADDR", "")
        if given is not None:
            wait = throttle.wait_left(client)
            if wait > 0:
                seconds = str(max(1, round(wait + 0.5)))
                return _plain(start_response, "429 Too Many Requests", f"too many wrong passwords; try again in {seconds} s", [("Retry-After", seconds)])
            if hmac.compare_digest(given, expected):
                throttle.succeeded(client)
                return app(environ, start_response)
            throttle.failed(client)
        return _plain(start_response, "401 Unauthorized", "authentication required", [("WWW-Authenticate", f'Basic realm="{REALM}"')])

    return guarded


class LoginThrottle:
    """Slows down password guessing, per client address: after its n-th wrong password in a
    row a client waits ``min(first_s * 2**(n-1), max_s)`` seconds before its next try is
    checked. A right password clears the count; so does ``forget_s`` without a try. At most
    ``max_clients`` addresses are remembered (the oldest forgotten first)."""

    def __init__(self, first_s: float = 0.5, max_s: float = 8.0, forget_s: float = 300.0, max_clients: int = 10_000, clock=time.monotonic):
        self.first_s, self.max_s, self.forget_s, self.max_clients = first_s, max_s, forget_s, max_clients
        self.clock = clock
        self._lock = threading.Lock()
        self._clients: OrderedDict[str, tuple[int, float]] = OrderedDict()  # address -> (failures, last failure)

    def delay(self, failures: int) -> float:
        return 0.0 if failures < 1 else min(self.first_s * 2 ** (failures - 1), self.max_s)

    def wait_left(self, client: str) -> float:
        """Seconds before ``client`` may try a password again (0: now)."""
        with self._lock:
            failures, last = self._clients.get(client, (0, 0.0))
            if failures and self.clock() - last > self.forget_s:
                del self._clients[client]
                return 0.0
            return max(0.0, last + self.delay(failures) - self.clock()) if failures else 0.0

    def failed(self, client: str) -> float:
        """Record a wrong password; the wait it costs."""
        with self._lock:
            failures = self._clients.pop(client, (0, 0.0))[0] + 1
            self._clients[client] = (failures, self.clock())
            while len(self._clients) > self.max_clients:
                self._clients.popitem(last=False)
            return self.delay(failures)

    def succeeded(self, client: str) -> None:
        with self._lock:
            self._clients.pop(client, None)


# --- helpers ---------------------------------------------------------------------------------


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


def _path(environ: dict[str, Any]) -> str:
    return environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", "")


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


def normal_host(host: str) -> str:
    """A host name or address as compared: lower case, no brackets, no trailing dot."""
    return host.strip().strip("[]").rstrip(".").lower()


def host_name(netloc: str) -> str:
    """The host of a ``Host`` header or URL netloc (``[::1]:8080`` -> ``::1``), normalised."""
    netloc = netloc.strip()
    if netloc.startswith("["):
        return normal_host(netloc[1:].partition("]")[0])
    return normal_host(netloc.rpartition(":")[0] if netloc.count(":") == 1 else netloc)


def _netloc(netloc: str, scheme: str) -> str:
    """``host:port`` normalised, the scheme's default port dropped."""
    netloc = netloc.strip().lower().rstrip(".")
    default = DEFAULT_PORTS.get(scheme)
    if default and netloc.endswith(f":{default}"):
        netloc = netloc[: -len(default) - 1]
    return netloc


def is_same_origin(environ: dict[str, Any]) -> bool:
    """Whether the request's ``Origin`` (without one, its ``Referer``) names the host and port
    the request was sent to (its ``Host``). The scheme is not compared, so a dashboard behind a
    TLS proxy still accepts its own pages' writes."""
    source = environ.get("HTTP_ORIGIN") or environ.get("HTTP_REFERER")
    host = environ.get("HTTP_HOST", "")
    if not source or not host or source == "null":
        return False
    parts = urlsplit(source)
    if parts.scheme not in DEFAULT_PORTS or not parts.netloc or "@" in parts.netloc:
        return False
    return _netloc(parts.netloc, parts.scheme) == _netloc(host, environ.get("wsgi.url_scheme", "http"))


def is_loopback(host: str) -> bool:
    """Whether ``host`` names a loopback address (127.0.0.0/8, ::1, localhost or a name
    under .localhost, which browsers resolve to loopback themselves).

    Other host names are not resolved and count as non-loopback.
    """
    host = normal_host(host)
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


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
            storage_url, read_only=read_only, password=password, artifact_dir=artifact_dir, allowed_hosts=[*allowed_hosts, host]
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
