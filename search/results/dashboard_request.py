"""The request as optuna-dashboard will route and read it, before any guard decides on it.

bottle (optuna-dashboard's framework) does not route the ``PATH_INFO`` a WSGI server hands it:
it re-encodes it as latin-1 and decodes UTF-8 *ignoring* bad bytes, and optuna-dashboard then
strips trailing slashes. A guard that matched the raw path let ``/api/trials/4/user-attrs%FF``
through to the route ``/api/trials/<trial_id:int>/user-attrs``, and ``/api/trials/%D9%A1/...``
(an Arabic-Indic digit, which bottle's ``\\d`` and ``int`` accept) likewise. So here:

* :func:`canonical_middleware`, the outermost of all, refuses (``400``) a path that is not
  strict UTF-8, and a request with both ``Transfer-Encoding`` and ``Content-Length`` (the
  two framings disagree about where the body ends). A chunked body is read here, within a
  bound, and handed on with its length, so every guard and the application read the same
  bytes. ``X-Forwarded-*`` and ``Forwarded`` headers are dropped unless ``--trust-proxy``
  (bottle builds redirect URLs from them); a trusted proxy's ``X-Forwarded-For`` (its last
  address, the one the proxy saw) is the client address the login throttle counts.
* :class:`Routes` asks bottle's own router which route a request reaches, from the path as
  bottle decodes it: the guards decide on the route (its rule and arguments), not on a
  spelling of the path.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
MAX_CHUNKED_BODY = 1 << 30  # bigger chunked bodies are refused (413); a Content-Length one is the server's to bound
FORWARDED = ("HTTP_FORWARDED", "HTTP_X_FORWARDED_")


class Route(NamedTuple):
    """The route a request reaches: its rule (``/api/trials/<trial_id:int>/tell``) and arguments."""

    rule: str
    args: dict[str, Any]


def routed_path(environ: dict[str, Any]) -> str:
    """``PATH_INFO`` exactly as bottle and optuna-dashboard route it: latin-1 re-encoded,
    UTF-8 decoded with bad bytes dropped, trailing slashes stripped."""
    path = environ.get("PATH_INFO", "")
    return path.encode("latin-1", "replace").decode("utf-8", "ignore").rstrip("/") or "/"


def is_strict_utf8(path: str) -> bool:
    """Whether a WSGI ``PATH_INFO`` (bytes decoded as latin-1) is valid UTF-8."""
    try:
        path.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return False
    return True


class Routes:
    """Which of a bottle application's routes a request reaches (bottle's own router)."""

    def __init__(self, bottle_app: Any):
        self.router = bottle_app.router

    def of(self, environ: dict[str, Any]) -> Route | None:
        """The route of ``environ``'s method and path; None where bottle answers 404 or 405."""
        import bottle

        probe = {"REQUEST_METHOD": environ.get("REQUEST_METHOD", "GET"), "PATH_INFO": routed_path(environ)}
        try:
            route, args = self.router.match(probe)
        except bottle.HTTPError:
            return None
        return Route(route.rule, dict(args))


def canonical_middleware(app: WSGIApp, *, trust_proxy: bool = False, max_chunked: int = MAX_CHUNKED_BODY) -> WSGIApp:
    """One reading of each request for every guard and the application (see the module)."""

    def guarded(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        def refuse(status: str, text: str) -> list[bytes]:  # outside the headers guard: its headers here
            return plain(start_response, status, text, [("Content-Security-Policy", "sandbox; frame-ancestors 'none'"), ("X-Frame-Options", "DENY")])

        if not is_strict_utf8(environ.get("PATH_INFO", "")):
            return refuse("400 Bad Request", "the request path is not valid UTF-8 (percent-encoded bytes included)")
        chunked = environ.get("HTTP_TRANSFER_ENCODING") is not None
        if chunked and environ.get("CONTENT_LENGTH", "") not in ("", None):
            return refuse("400 Bad Request", "Transfer-Encoding and Content-Length together: send one of them")
        if not trust_proxy:
            for key in [k for k in environ if k.startswith(FORWARDED)]:
                del environ[key]
        elif environ.get("HTTP_X_FORWARDED_FOR", "").strip():  # the proxy appends the address it saw
            environ["REMOTE_ADDR"] = environ["HTTP_X_FORWARDED_FOR"].rsplit(",", 1)[-1].strip()
        if chunked:
            body = _buffered(environ["wsgi.input"], max_chunked)
            if body is None:
                return refuse("413 Content Too Large", f"a chunked request body is limited to {max_chunked} bytes")
            environ["wsgi.input"], environ["CONTENT_LENGTH"] = body, str(body.seek(0, 2))
            body.seek(0)
            del environ["HTTP_TRANSFER_ENCODING"]  # the server removed the chunk framing already
        return app(environ, start_response)

    return guarded


def plain(start_response: Callable[..., Any], status: str, text: str, extra_headers: list[tuple[str, str]] | None = None) -> list[bytes]:
    """A short plain-text answer (a refusal)."""
    body = (text + "\n").encode("utf-8", errors="replace")
    headers = [
        ("Content-Type", "text/plain; charset=utf-8"),
        ("Content-Length", str(len(body))),
        ("X-Content-Type-Options", "nosniff"),
        *(extra_headers or []),
    ]
    start_response(status, headers)
    return [body]


def _buffered(stream, limit: int):
    """The whole of a (de-chunked) input stream in a spooled temporary file; None past ``limit``."""
    out, size = tempfile.SpooledTemporaryFile(max_size=1 << 20), 0
    while True:
        block = stream.read(1 << 16)
        if not block:
            return out
        size += len(block)
        if size > limit:
            out.close()
            return None
        out.write(block)
