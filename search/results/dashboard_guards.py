"""The guards of ``search dashboard`` (``search.results.dashboard``): small WSGI middlewares
around optuna-dashboard's application, which has neither authentication nor a read-only mode.

``search.results.dashboard.make_app`` wraps them, outermost first:

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

The helpers below them read a request's host, origin and credentials; none resolves a name.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import io
import ipaddress
import json
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import urlsplit

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
REALM = "search dashboard"
DEFAULT_PORTS = {"http": "80", "https": "443"}
# The trial's model and its digest: written by the driver (search.worker.checkpoint.DIGEST_ATTR)
DRIVER_ATTRS = frozenset({"checkpoint", "checkpoint_sha256"})
USER_ATTRS_PATH = re.compile(r"/api/trials/\d+/user-attrs/?")
MAX_ATTRS_BODY = 1 << 20

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


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
