"""The guards of ``search dashboard`` (``search.results.dashboard``): small WSGI middlewares
around optuna-dashboard's application, which has neither authentication nor a read-only mode.

``search.results.dashboard.make_app`` wraps them, outermost first:

* one reading of the request (``search.results.dashboard_request``): a path that is not
  UTF-8 and a body framed twice are refused, ``X-Forwarded-*`` dropped unless trusted, and
  every guard below decides on the route bottle will call, not on the path's spelling.
* headers: no wildcard CORS (optuna-dashboard sends ``Access-Control-Allow-Origin: *`` with
  artifacts; it is removed, so other sites' pages cannot read them), no framing
  (``X-Frame-Options: DENY``), no MIME sniffing, and every response but the dashboard's own
  pages sandboxed (``Content-Security-Policy: sandbox``: an opaque origin; artifacts with
  ``allow-scripts``, and a ``Content-Disposition``).
* Host allow-list: a request whose ``Host`` is not a loopback name, the bound host or a name
  given with ``--allow-host`` is answered ``403``. A web page cannot reach a loopback-only
  dashboard by DNS rebinding (its own name pointed at 127.0.0.1): its requests carry its name.
* password: HTTP Basic authentication in front of every request (any user name is
  accepted, only the password is checked, in constant time); missing or wrong credentials
  get ``401``. After each wrong password the client (by address, IPv6 by /64) must wait
  before its next try, twice as long each time up to a bound (``429`` until then, the password
  unchecked); past a global budget of wrong passwords a minute, every client not recently
  let in waits too.
* read-only: every request whose method is not GET, HEAD or OPTIONS is answered ``403``.
* same origin: a write (any other method) is accepted only when its ``Origin`` (without one,
  its ``Referer``) names the host and port it was sent to: a page of another site, even
  in a browser that holds the password, cannot write.
* driver trials (``search.results.dashboard_trials``): a search's model and trial states are
  the driver's: its artifact attrs cannot be set, its artifacts not deleted, its trials not told.

The helpers below them read a request's host, origin and credentials; none resolves a name.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import ipaddress
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import urlsplit

from search.results.dashboard_request import Routes, WSGIApp
from search.results.dashboard_request import plain as _plain

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
REALM = "search dashboard"
DEFAULT_PORTS = {"http": "80", "https": "443"}
# The dashboard's own pages (bottle route rules); every other response is sandboxed
OWN_PAGES = frozenset({"/", "/dashboard<:re:(/.*)?>", "/incompatible-rdb-schema"})
ARTIFACT_RULE_PREFIX = "/artifacts/"
INLINE_TYPES = ("text/html", "image/")  # artifacts shown in the browser (sandboxed); others are downloads


def headers_middleware(app: WSGIApp, routes: Routes) -> WSGIApp:
    """Drop CORS grants (``Access-Control-Allow-*``) from every response, forbid framing and
    MIME sniffing, and sandbox every response but the dashboard's own pages
    (``Content-Security-Policy: sandbox``: an opaque origin, whatever a response holds).

    Decided on the route bottle calls (``routes``), not on the path's spelling. An artifact
    is sandboxed with ``allow-scripts``: an HTML file among them (the forecast page) may draw,
    but in an opaque origin of its own, so a write it sends through the dashboard's API
    carries ``Origin: null`` (or fails its CORS preflight) and is refused. An artifact is sent
    with a ``Content-Disposition``: ``inline`` for HTML and images, else ``attachment``."""

    def guarded(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        route = routes.of(environ)
        rule = route.rule if route is not None else ""
        artifact = rule.startswith(ARTIFACT_RULE_PREFIX)
        policy = "frame-ancestors 'none'"
        if artifact:
            policy = "sandbox allow-scripts; " + policy  # scripts run (the forecast page draws), in an opaque origin
        elif rule not in OWN_PAGES:
            policy = "sandbox; " + policy

        def start(status: str, headers: list[tuple[str, str]], exc_info=None):
            dropped = ("access-control-allow-", "x-content-type-options", "content-disposition", "x-frame-options")
            kept = [(k, v) for k, v in headers if not k.lower().startswith(dropped)]
            kept += [("X-Frame-Options", "DENY"), ("Content-Security-Policy", policy), ("X-Content-Type-Options", "nosniff")]
            if artifact:
                kind = next((v for k, v in headers if k.lower() == "content-type"), "").lower()
                kept.append(("Content-Disposition", "inline" if kind.startswith(INLINE_TYPES) else "attachment"))
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
    """Slows down password guessing. Per client (an address; IPv6 by its /64, which one host
    usually holds whole): after its n-th wrong password in a row a client waits
    ``min(first_s * 2**(n-1), max_s)`` seconds before its next try is checked; a right
    password clears the count, and so does ``forget_s`` without a try. At most
    ``max_clients`` clients are remembered (the oldest forgotten first).

    Globally: past ``budget`` wrong passwords within ``window_s`` (from any number of
    addresses), a client waits until the oldest of them leaves the window, unless it gave the
    right password within ``forget_s`` (so guessing from many addresses does not lock out
    those already in)."""

    def __init__(
        self, first_s: float = 0.5, max_s: float = 8.0, forget_s: float = 300.0, max_clients: int = 10_000,
        budget: int = 60, window_s: float = 60.0, clock=time.monotonic,
    ):
        self.first_s, self.max_s, self.forget_s, self.max_clients = first_s, max_s, forget_s, max_clients
        self.budget, self.window_s = budget, window_s
        self.clock = clock
        self._lock = threading.Lock()
        self._clients: OrderedDict[str, tuple[int, float]] = OrderedDict()  # client -> (failures, last failure)
        self._failures: deque[float] = deque()  # times of the wrong passwords within the window
        self._let_in: OrderedDict[str, float] = OrderedDict()  # client -> last right password

    def delay(self, failures: int) -> float:
        return 0.0 if failures < 1 else min(self.first_s * 2 ** (failures - 1), self.max_s)

    def wait_left(self, client: str) -> float:
        """Seconds before ``client`` may try a password again (0: now)."""
        key, now = client_key(client), self.clock()
        with self._lock:
            wait = 0.0
            failures, last = self._clients.get(key, (0, 0.0))
            if failures and now - last > self.forget_s:
                del self._clients[key]
            elif failures:
                wait = max(0.0, last + self.delay(failures) - now)
            while self._failures and now - self._failures[0] > self.window_s:
                self._failures.popleft()
            known = now - self._let_in.get(key, -float("inf")) <= self.forget_s
            if len(self._failures) >= self.budget and not known:
                wait = max(wait, self._failures[0] + self.window_s - now)
            return wait

    def failed(self, client: str) -> float:
        """Record a wrong password; the wait it costs."""
        key, now = client_key(client), self.clock()
        with self._lock:
            failures = self._clients.pop(key, (0, 0.0))[0] + 1
            self._clients[key] = (failures, now)
            self._failures.append(now)
            while len(self._failures) > self.budget:
                self._failures.popleft()
            while len(self._clients) > self.max_clients:
                self._clients.popitem(last=False)
            return self.delay(failures)

    def succeeded(self, client: str) -> None:
        key = client_key(client)
        with self._lock:
            self._clients.pop(key, None)
            self._let_in.pop(key, None)
            self._let_in[key] = self.clock()
            while len(self._let_in) > self.max_clients:
                self._let_in.popitem(last=False)


def client_key(address: str) -> str:
    """What the throttle counts a client by: its IPv4 address, or its IPv6 /64."""
    try:
        ip = ipaddress.ip_address(address.strip("[]"))
    except ValueError:
        return address
    if ip.version == 4:
        return str(ip)
    if ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    return str(ipaddress.ip_network(f"{ip}/64", strict=False))


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
