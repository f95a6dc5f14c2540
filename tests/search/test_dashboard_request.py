"""The dashboard's guards against spellings and framings (``search.results.dashboard_request``,
in-process; over real HTTP in test_attacks_encoded.py), the login throttle's global budget and
IPv6 prefixes, and the forwarded headers of a proxy (``--trust-proxy``)."""

from __future__ import annotations

import io
import json
from wsgiref.util import setup_testing_defaults

import optuna
import pytest

from search.results import dashboard, dashboard_guards
from tests.search.test_dashboard import SAME_ORIGIN, STUDY_NAME, _Clock, basic, call, study_db  # noqa: F401  (a fixture)


def test_a_global_budget_of_wrong_passwords_besides_the_per_address_one():
    """Guesses spread over many addresses (each under its own limit) spend one budget; past it
    every address waits, except one that gave the right password lately. IPv6 counts per /64."""
    clock = _Clock()
    throttle = dashboard_guards.LoginThrottle(first_s=0.5, budget=5, window_s=60.0, clock=clock)
    throttle.succeeded("10.9.9.9")  # a user already in
    for i in range(5):
        assert throttle.wait_left(f"127.0.0.{i + 2}") == 0.0
        throttle.failed(f"127.0.0.{i + 2}")
    assert throttle.wait_left("127.0.0.200") == 60.0  # a fresh address: the budget is spent
    assert throttle.wait_left("10.9.9.9") == 0.0  # the known user is not locked out
    clock.now += 61
    assert throttle.wait_left("127.0.0.200") == 0.0  # the window moved on
    throttle.failed("2001:db8:1:2::1")
    assert throttle.wait_left("2001:db8:1:2:ffff::7") == 0.5  # the same /64
    assert throttle.wait_left("2001:db8:1:3::1") == 0.0  # another /64
    assert dashboard_guards.client_key("::ffff:10.0.0.1") == "10.0.0.1"


def test_forwarded_headers_are_dropped_unless_the_proxy_is_trusted(study_db):
    url, _ = study_db
    forwarded = {"X-Forwarded-Host": "evil.example", "X-Forwarded-Proto": "https"}
    status, headers, _ = call(dashboard.make_app(url), "GET", "/", headers=forwarded)
    assert status == 302 and headers["Location"] == "http://127.0.0.1/dashboard"
    status, headers, _ = call(dashboard.make_app(url, trust_proxy=True), "GET", "/", headers=forwarded)
    assert status == 302 and headers["Location"] == "https://evil.example/dashboard"  # control: a trusted proxy's name


@pytest.mark.parametrize(
    "raw",
    [
        "/api/trials/1/user-attrs\xff",  # what a WSGI server hands on for %FF: the byte as latin-1
        "/api/trials/1/user\xc0-attrs",
        "/api\xff/trials/1/user-attrs",
        "/api/trials/1/user-attrs\xed\xa0\x80",  # a UTF-16 surrogate, not UTF-8
    ],
)
def test_a_path_that_is_not_utf8_is_refused_before_any_guard(study_db, raw):
    url, _ = study_db
    study = optuna.load_study(study_name=STUDY_NAME, storage=url)
    running = study.ask()
    path = raw.replace("/1/", f"/{running._trial_id}/")
    body = json.dumps({"user_attrs": {"checkpoint": "0000"}}).encode()
    status, headers, text = call(dashboard.make_app(url), "POST", path, headers=SAME_ORIGIN, body=body)
    assert status == 400 and b"not valid UTF-8" in text and headers["Content-Security-Policy"].startswith("sandbox")
    assert study.trials[-1].user_attrs == {}


def test_the_guards_decide_on_the_route_bottle_calls(study_db):
    """A digit bottle's router accepts (Arabic-Indic one) or a trailing slash reach the same
    route; the guard sees the route, so it refuses them like the plain spelling."""
    from search.results.dashboard_request import Routes

    url, _ = study_db
    study = optuna.load_study(study_name=STUDY_NAME, storage=url)
    running = study.ask()
    app = dashboard.make_app(url)
    digits = str(running._trial_id).translate({ord(str(d)): chr(0x660 + d) for d in range(10)})
    body = json.dumps({"user_attrs": {"checkpoint": "0000"}}).encode()
    for path in (f"/api/trials/{digits}/user-attrs", f"/api/trials/{running._trial_id}/user-attrs//"):
        wsgi_path = path.encode("utf-8").decode("latin-1")  # as a WSGI server hands it on
        status, _, text = call(app, "POST", wsgi_path, headers=SAME_ORIGIN, body=body)
        assert status == 403 and b"written by the search driver only" in text, path
    routes = Routes(__import__("optuna_dashboard").wsgi(url))
    route = routes.of({"REQUEST_METHOD": "POST", "PATH_INFO": f"/api/trials/{digits}/user-attrs".encode().decode("latin-1")})
    assert route.rule == "/api/trials/<trial_id:int>/user-attrs" and route.args == {"trial_id": running._trial_id}
    assert study.trials[-1].user_attrs == {}


def test_a_body_framed_twice_is_refused_and_a_chunked_one_is_checked(study_db):
    url, _ = study_db
    study = optuna.load_study(study_name=STUDY_NAME, storage=url)
    running = study.ask()
    app = dashboard.make_app(url)
    path = f"/api/trials/{running._trial_id}/user-attrs"
    forged = json.dumps({"user_attrs": {"checkpoint": "0000"}}).encode()
    status, _, text = call(app, "POST", path, headers={**SAME_ORIGIN, "Transfer-Encoding": "chunked"}, body=forged)
    assert status == 400 and b"Transfer-Encoding and Content-Length" in text
    environ = {"HTTP_TRANSFER_ENCODING": "chunked"}  # chunked alone: the server de-chunks; no length
    environ.update(CONTENT_LENGTH="")

    def chunked(body: bytes):
        env = dict(environ)
        setup_testing_defaults(env)
        env.update(REQUEST_METHOD="POST", PATH_INFO=path, CONTENT_TYPE="application/json", HTTP_ORIGIN=SAME_ORIGIN["Origin"])
        env["wsgi.input"] = io.BytesIO(body)
        seen = {}
        out = b"".join(app(env, lambda status, headers, exc_info=None: seen.setdefault("status", int(status.split()[0]))))
        return seen["status"], out

    assert chunked(forged)[0] == 403
    assert chunked(b'{"user_attrs": {"note": "chunked"}}')[0] == 204  # control: the app reads the same body
    assert study.trials[-1].user_attrs == {"note": "chunked"}


def test_behind_a_trusted_proxy_the_throttle_counts_the_forwarded_address(study_db):
    url, _ = study_db
    clock = _Clock()
    proxy = {"REMOTE_ADDR": "10.0.0.9"}
    for trust, other_waits in ((True, False), (False, True)):
        throttle = dashboard_guards.LoginThrottle(first_s=0.5, clock=clock)
        app = dashboard.make_app(url, password="s3cret", throttle=throttle, trust_proxy=trust)
        # a client can prepend its own entries; the proxy appends the address it saw, the last one
        guess = {**basic("u", "guess"), "X-Forwarded-For": "1.2.3.4, 192.0.2.1"}
        assert call(app, "GET", "/api/studies", headers=guess, environ=proxy)[0] == 401
        right = {**basic("u", "s3cret"), "X-Forwarded-For": "192.0.2.2"}
        status = call(app, "GET", "/api/studies", headers=right, environ=proxy)[0]
        assert status == (429 if other_waits else 200), trust  # untrusted: one address, the proxy's
