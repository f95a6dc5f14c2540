"""Tests of search.results.dashboard and its guards (search.results.dashboard_guards): the
read-only and password guards, the exposure rules, serve(), and a real browser. The attack
corpus (Host, Origin, model swap, over real HTTP) is in test_dashboard_attacks.py."""

from __future__ import annotations

import base64
import io
import json
import os
from pathlib import Path
import signal
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from wsgiref.util import setup_testing_defaults

import optuna
import pytest

from search.results import dashboard, dashboard_guards
from tests._browser import dump_dom, require_chromium

REPO_ROOT = Path(__file__).resolve().parents[2]
STUDY_NAME = "dashboard-test-study"


@pytest.fixture
def study_db(tmp_path: Path) -> tuple[str, int]:
    """A SQLite storage with one study: 3 complete, 1 pruned and 1 failed trial."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    url = f"sqlite:///{tmp_path / 'studies.db'}"
    study = optuna.create_study(study_name=STUDY_NAME, storage=url)
    for number in range(5):
        trial = study.ask()
        x = trial.suggest_float("x", -5.0, 5.0)
        layers = trial.suggest_int("layers", 1, 4)
        cell = trial.suggest_categorical("cell", ["lstm", "gru"])
        trial.set_user_attr("cell_upper", cell.upper())
        for step in range(3):
            trial.report(x * x + layers + step, step)
        if number == 3:
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        elif number == 4:
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
        else:
            study.tell(trial, x * x + layers)
    return url, study._study_id


def call(app, method: str, path: str, *, headers: dict[str, str] | None = None, body: bytes = b"", environ: dict | None = None):
    """One plain WSGI request; returns (status code, headers dict, body bytes)."""
    environ = dict(environ or {})
    setup_testing_defaults(environ)
    path, _, query = path.partition("?")
    environ.update(
        REQUEST_METHOD=method,
        PATH_INFO=path,
        QUERY_STRING=query,
        CONTENT_LENGTH=str(len(body)),
        CONTENT_TYPE="application/json",
    )
    environ["wsgi.input"] = io.BytesIO(body)
    for name, value in (headers or {}).items():
        environ["HTTP_" + name.upper().replace("-", "_")] = value
    captured = {}

    def start_response(status, response_headers, exc_info=None):
        captured["status"] = int(status.split()[0])
        captured["headers"] = dict(response_headers)

    chunks = app(environ, start_response)
    data = b"".join(chunks)
    if hasattr(chunks, "close"):
        chunks.close()
    return captured["status"], captured["headers"], data


def basic(user: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def study_names(app, headers=None) -> list[str]:
    status, _, data = call(app, "GET", "/api/studies", headers=headers)
    assert status == 200
    return [s["study_name"] for s in json.loads(data)["study_summaries"]]


# --- read-only guard ---------------------------------------------------------------------


SAME_ORIGIN = {"Origin": "http://127.0.0.1"}  # the Host of setup_testing_defaults


def test_unguarded_app_really_deletes(study_db):
    """Control: the routes refused below are real and destructive without the guard."""
    url, study_id = study_db
    app = dashboard.make_app(url)
    assert call(app, "DELETE", f"/api/studies/{study_id}", headers=SAME_ORIGIN)[0] == 204
    assert study_names(app) == []


def test_read_only_refuses_writes_and_serves_reads(study_db):
    url, study_id = study_db
    app = dashboard.make_app(url, read_only=True)

    status, headers, body = call(app, "DELETE", f"/api/studies/{study_id}")
    assert status == 403
    assert headers["Content-Type"].startswith("text/plain")
    assert body.decode().strip() == f"read-only dashboard: DELETE /api/studies/{study_id} refused"

    new = json.dumps({"study_name": "intruder", "directions": ["minimize"]}).encode()
    assert call(app, "POST", "/api/studies", body=new)[0] == 403
    assert call(app, "POST", f"/api/studies/{study_id}/rename", body=b'{"study_name": "x"}')[0] == 403
    assert call(app, "PUT", f"/api/studies/{study_id}/note", body=b"{}")[0] == 403
    assert call(app, "POST", "/api/trials/1/tell", body=b'{"state": "Complete"}')[0] == 403
    assert call(app, "POST", "/incompatible-rdb-schema")[0] == 403

    assert study_names(app) == [STUDY_NAME]
    assert optuna.load_study(study_name=STUDY_NAME, storage=url).trials[0].params
    status, _, data = call(app, "GET", f"/api/studies/{study_id}?after=0")
    assert status == 200
    detail = json.loads(data)
    assert len(detail["trials"]) == 5
    assert {t["state"] for t in detail["trials"]} == {"Complete", "Pruned", "Fail"}
    assert call(app, "GET", "/dashboard")[0] == 200
    assert call(app, "HEAD", "/api/studies")[0] == 200
    assert call(app, "GET", f"/csv/{study_id}")[0] == 200


# --- password guard ----------------------------------------------------------------------


def test_password_guard(study_db):
    url, study_id = study_db
    no_wait = dashboard_guards.LoginThrottle(first_s=0.0)  # the slow-down has its own test below
    app = dashboard.make_app(url, password="s3cret", throttle=no_wait)

    status, headers, _ = call(app, "GET", "/api/studies")
    assert status == 401
    assert headers["WWW-Authenticate"] == 'Basic realm="search dashboard"'
    assert call(app, "GET", "/api/studies", headers=basic("anyone", "wrong"))[0] == 401
    assert call(app, "GET", "/dashboard", headers=basic("anyone", "s3cret!"))[0] == 401
    assert call(app, "GET", "/api/studies", headers={"Authorization": "Basic !!notbase64"})[0] == 401
    assert call(app, "GET", "/api/studies", headers={"Authorization": "Bearer s3cret"})[0] == 401
    no_colon = {"Authorization": "Basic " + base64.b64encode(b"s3cret").decode()}
    assert call(app, "GET", "/api/studies", headers=no_colon)[0] == 401
    # Unauthenticated writes are refused before they reach the app.
    assert call(app, "DELETE", f"/api/studies/{study_id}")[0] == 401

    assert study_names(app, headers=basic("anyone", "s3cret")) == [STUDY_NAME]
    assert study_names(app, headers=basic("", "s3cret")) == [STUDY_NAME]
    assert call(app, "GET", "/dashboard", headers=basic("me", "s3cret"))[0] == 200


class _Clock:
    now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_wrong_passwords_slow_the_client_down(study_db):
    url, _ = study_db
    clock = _Clock()
    throttle = dashboard_guards.LoginThrottle(first_s=0.5, max_s=4.0, clock=clock)
    app = dashboard.make_app(url, password="s3cret", throttle=throttle)
    me, other = {"REMOTE_ADDR": "10.0.0.1"}, {"REMOTE_ADDR": "10.0.0.2"}

    def attempt(password: str, client: dict) -> tuple[int, dict]:
        status, headers, _ = call(app, "GET", "/api/studies", headers=basic("u", password), environ=client)
        return status, headers

    waits = []
    for _ in range(5):
        assert attempt("guess", me)[0] == 401
        status, headers = attempt("s3cret", me)  # even the right one waits
        assert status == 429
        waits.append(throttle.wait_left("10.0.0.1"))
        assert int(headers["Retry-After"]) >= 1
        clock.now += waits[-1]
    assert waits == [0.5, 1.0, 2.0, 4.0, 4.0]  # doubling, bounded
    assert attempt("s3cret", other)[0] == 200  # per client
    assert attempt("s3cret", me)[0] == 200  # after the wait; and the count is cleared
    assert attempt("guess", me)[0] == 401 and throttle.wait_left("10.0.0.1") == 0.5
    assert call(app, "GET", "/api/studies", environ=me)[0] == 401  # no credentials: not throttled
    clock.now += 301
    assert throttle.wait_left("10.0.0.1") == 0.0  # forgotten after a quiet while


def test_the_throttle_remembers_a_bounded_number_of_clients():
    throttle = dashboard_guards.LoginThrottle(max_clients=3)
    for i in range(10):
        throttle.failed(f"10.0.0.{i}")
    assert len(throttle._clients) == 3 and throttle.wait_left("10.0.0.9") > 0 and throttle.wait_left("10.0.0.0") == 0


def test_password_and_read_only_together(study_db):
    url, study_id = study_db
    app = dashboard.make_app(url, password="pw", read_only=True)
    assert call(app, "DELETE", f"/api/studies/{study_id}")[0] == 401
    assert call(app, "DELETE", f"/api/studies/{study_id}", headers={**basic("u", "pw"), **SAME_ORIGIN})[0] == 403
    assert study_names(app, headers=basic("u", "pw")) == [STUDY_NAME]


def test_empty_password_is_rejected(study_db):
    with pytest.raises(ValueError, match="empty"):
        dashboard.make_app(study_db[0], password="")


# --- artifacts ---------------------------------------------------------------------------


def test_artifact_dir_makes_artifacts_browsable(tmp_path, study_db):
    url, study_id = study_db
    artifacts = tmp_path / "artifacts"
    artifacts.mkdir()
    store = optuna.artifacts.FileSystemArtifactStore(str(artifacts))
    study = optuna.load_study(study_name=STUDY_NAME, storage=url)
    trial = study.ask()
    payload = tmp_path / "curve.txt"
    payload.write_text("loss curve\n")
    artifact_id = optuna.artifacts.upload_artifact(
        study_or_trial=trial, file_path=str(payload), artifact_store=store
    )
    study.tell(trial, 1.0)

    app = dashboard.make_app(url, artifact_dir=str(artifacts), read_only=True)
    status, _, data = call(app, "GET", f"/artifacts/{study_id}/{trial._trial_id}/{artifact_id}")
    assert (status, data) == (200, b"loss curve\n")
    assert call(app, "DELETE", f"/api/artifacts/{study_id}/{trial._trial_id}/{artifact_id}")[0] == 403
    assert (artifacts / artifact_id).exists()


def test_missing_artifact_dir_is_an_error(tmp_path, study_db):
    with pytest.raises(NotADirectoryError, match="nowhere"):
        dashboard.make_app(study_db[0], artifact_dir=str(tmp_path / "nowhere"))


# --- exposure rules ------------------------------------------------------------------------


@pytest.mark.parametrize("host", ["127.0.0.1", "127.3.2.1", "localhost", "::1", "[::1]"])
def test_loopback_hosts_need_no_guard(host, capsys):
    assert dashboard_guards.is_loopback(host)
    assert dashboard.check_exposure(host, read_only=False, password=None) == []
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("host", ["0.0.0.0", "", "::", "192.168.1.20", "dashboard.example.org"])
def test_unguarded_public_host_is_refused(host):
    from search.errors import UsageError

    assert not dashboard_guards.is_loopback(host)
    with pytest.raises(UsageError, match=r"change or delete studies; set a password \(\$SEARCH_DASHBOARD_PASSWORD or --password-file FILE\) or add --read-only") as refused:
        dashboard.check_exposure(host, read_only=False, password=None)
    assert "\n" not in str(refused.value) and refused.value.exit_code == 2


def test_guarded_public_host_warns_about_what_is_left_open(capsys):
    assert dashboard.check_exposure("0.0.0.0", read_only=False, password="pw", tls=True) == []
    assert capsys.readouterr().err == ""
    (open_reads,) = dashboard.check_exposure("0.0.0.0", read_only=True, password=None)
    assert "download every artifact" in open_reads
    (clear_text,) = dashboard.check_exposure("0.0.0.0", read_only=False, password="pw")
    assert "clear text" in clear_text
    err = capsys.readouterr().err
    assert err.count("\n") == 2 and all(line.startswith("warning: ") for line in err.splitlines())


class _FakeServer:
    server_port = 8080
    scheme = "http"

    def serve_forever(self):
        raise KeyboardInterrupt  # what Ctrl-C raises in the main thread

    def server_close(self):
        self.closed = True


@pytest.mark.parametrize(
    ("env_value", "expected"), [("from-env", "from-env"), ("", None), (None, None)]
)
def test_serve_resolves_password_masks_url_and_refuses_an_open_bind(monkeypatch, capsys, env_value, expected):
    from search.errors import UsageError

    seen = {}

    def fake_make_app(storage_url, **kwargs):
        seen.update(kwargs, storage_url=storage_url)
        return lambda environ, start_response: []

    server = _FakeServer()
    monkeypatch.setattr(dashboard, "make_app", fake_make_app)
    monkeypatch.setattr(dashboard, "make_server_for", lambda *args, **kwargs: server)
    if env_value is None:
        monkeypatch.delenv(dashboard.PASSWORD_ENV, raising=False)
    else:
        monkeypatch.setenv(dashboard.PASSWORD_ENV, env_value)

    secret_url = "postgresql://searcher:topsecret@db.internal/studies"
    if expected is None:  # 0.0.0.0 with neither guard: refused before anything starts
        with pytest.raises(UsageError, match="--host 0.0.0.0"):
            dashboard.serve(secret_url, host="0.0.0.0")
        assert not seen
        return
    dashboard.serve(secret_url, host="0.0.0.0")  # returns on Ctrl-C

    out, err = capsys.readouterr()
    assert seen["password"] == expected and seen["storage_url"] == secret_url
    assert "0.0.0.0" in seen["allowed_hosts"]
    assert server.closed
    assert "topsecret" not in out + err
    assert out.count("\n") == 1 and "http://0.0.0.0:8080/dashboard/" in out
    assert "clear text" in err


def test_serve_argument_password_wins_over_env(monkeypatch, capsys):
    seen = {}
    monkeypatch.setattr(dashboard, "make_app", lambda url, **kw: seen.update(kw))
    monkeypatch.setattr(dashboard, "make_server_for", lambda *args, **kwargs: _FakeServer())
    monkeypatch.setenv(dashboard.PASSWORD_ENV, "from-env")
    dashboard.serve("sqlite:///x.db", password="from-arg", quiet=True)
    assert seen["password"] == "from-arg"
    assert capsys.readouterr() == ("", "")


# --- serve() in a real process -------------------------------------------------------------

SERVE_SCRIPT = """
import signal, sys
from search.results.dashboard import serve
# Ctrl-C as in a terminal, even when the test runner was started with SIGINT ignored.
signal.signal(signal.SIGINT, signal.default_int_handler)
serve(sys.argv[1], host="127.0.0.1", port=0, read_only=sys.argv[2] == "ro")
"""


def _start_serve(url: str, mode: str, env: dict[str, str]) -> tuple[subprocess.Popen, str, str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", SERVE_SCRIPT, url, mode],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    timer = threading.Timer(30, proc.kill)  # never wait forever for the URL line
    timer.start()
    try:
        line = proc.stdout.readline()
    finally:
        timer.cancel()
    if "http://" not in line:
        proc.kill()
        raise AssertionError(f"no URL line from serve(): {line!r} {proc.stderr.read()}")
    base = line.split("http://", 1)[1].split()[0].split("/dashboard")[0]
    return proc, line, f"http://{base}"


def _stop(proc: subprocess.Popen) -> tuple[int, str]:
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
    try:
        _, err = proc.communicate(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate()
    return proc.returncode, err


@pytest.mark.slow
def test_serve_process_password_from_env_and_clean_ctrl_c(study_db):
    url, study_id = study_db
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), dashboard.PASSWORD_ENV: "envpw"}
    proc, line, base = _start_serve(url, "rw", env)
    try:
        assert "envpw" not in line and "password" in line
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(f"{base}/api/studies", timeout=10)
        assert refused.value.code == 401
        request = urllib.request.Request(f"{base}/api/studies", headers=basic("u", "envpw"))
        with urllib.request.urlopen(request, timeout=10) as response:
            names = [s["study_name"] for s in json.load(response)["study_summaries"]]
        assert names == [STUDY_NAME]
    finally:
        code, err = _stop(proc)
    assert code == 0, err
    assert "Traceback" not in err


# --- real browser --------------------------------------------------------------------------

@pytest.mark.slow
def test_dashboard_renders_in_headless_chromium(tmp_path, study_db):
    require_chromium()
    url, study_id = study_db
    app = dashboard.make_app(url, read_only=True)
    server = dashboard.make_server_for(app, "127.0.0.1", 0, quiet=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_port}"
    try:
        study_list = dump_dom(f"{base}/dashboard/", tmp_path / "profile-list")
        assert STUDY_NAME in study_list

        trials = dump_dom(f"{base}/dashboard/studies/{study_id}/trials", tmp_path / "profile-trials")
        assert STUDY_NAME in trials
        assert "5 Trials" in trials
        for number in range(5):
            assert f"Trial {number}" in trials
        for state in ("Complete", "Pruned", "Fail"):
            assert state in trials
        # The first trial's detail pane: intermediate values, params and user attrs.
        first = optuna.load_study(study_name=STUDY_NAME, storage=url).trials[0]
        cell_attr = f"cell_upper {first.user_attrs['cell_upper']}"
        for text in ("Trial 0 (trial_id=", "Intermediate Values", "layers", cell_attr):
            assert text in trials
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


# --- Host, Origin and CORS rules (over real HTTP in test_dashboard_attacks.py) --------------


@pytest.mark.parametrize(
    ("header", "name"),
    [("127.0.0.1:8080", "127.0.0.1"), ("[::1]:8080", "::1"), ("LocalHost.:80", "localhost"), ("example.org", "example.org"), ("[::1]", "::1")],
)
def test_host_name(header, name):
    assert dashboard_guards.host_name(header) == name


@pytest.mark.parametrize(
    ("origin", "referer", "host", "scheme", "same"),
    [
        ("http://127.0.0.1:8080", None, "127.0.0.1:8080", "http", True),
        ("https://dash.example.org", None, "dash.example.org", "http", True),  # behind a TLS proxy
        ("https://dash.example.org:443", None, "dash.example.org", "https", True),
        (None, "http://127.0.0.1:8080/dashboard/studies/1", "127.0.0.1:8080", "http", True),
        ("http://127.0.0.1:8081", None, "127.0.0.1:8080", "http", False),  # another port, another origin
        ("http://evil.example", "http://127.0.0.1:8080/", "127.0.0.1:8080", "http", False),  # Origin wins
        ("null", None, "127.0.0.1:8080", "http", False),
        (None, None, "127.0.0.1:8080", "http", False),
        ("http://user@127.0.0.1:8080", None, "127.0.0.1:8080", "http", False),
        ("file://127.0.0.1:8080", None, "127.0.0.1:8080", "http", False),
    ],
)
def test_same_origin(origin, referer, host, scheme, same):
    environ = {"HTTP_HOST": host, "wsgi.url_scheme": scheme}
    environ.update({k: v for k, v in (("HTTP_ORIGIN", origin), ("HTTP_REFERER", referer)) if v})
    assert dashboard_guards.is_same_origin(environ) is same


def test_host_allow_list_and_no_wildcard_cors(tmp_path, study_db):
    url, study_id = study_db
    artifacts = tmp_path / "artifacts"
    artifacts.mkdir()
    study = optuna.load_study(study_name=STUDY_NAME, storage=url)
    trial = study.ask()
    (tmp_path / "a.txt").write_text("a")
    artifact_id = optuna.artifacts.upload_artifact(
        study_or_trial=trial, file_path=str(tmp_path / "a.txt"), artifact_store=optuna.artifacts.FileSystemArtifactStore(str(artifacts))
    )
    app = dashboard.make_app(url, artifact_dir=str(artifacts), allowed_hosts=["dash.example.org"])
    for host, code in (("localhost:8080", 200), ("dash.example.org", 200), ("attacker.example:8080", 403), ("", 403)):
        assert call(app, "GET", "/api/studies", environ={"HTTP_HOST": host})[0] == code, host
    status, headers, data = call(app, "GET", f"/artifacts/{study_id}/{trial._trial_id}/{artifact_id}")
    assert (status, data) == (200, b"a")
    assert not [k for k in headers if k.lower().startswith("access-control-")]
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["Content-Security-Policy"].startswith("sandbox allow-scripts;")  # an HTML artifact gets an opaque origin of its own
    assert headers["X-Content-Type-Options"] == "nosniff" and headers["Content-Disposition"] == "attachment"  # text/plain: a download
    assert call(app, "GET", "/api/studies")[1]["Content-Security-Policy"].startswith("sandbox;")  # not a page of the dashboard's own
    assert "sandbox" not in call(app, "GET", "/dashboard")[1]["Content-Security-Policy"]


def test_a_busy_port_is_one_line_naming_the_flags(study_db):
    import socket

    from search.errors import UsageError

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        with pytest.raises(UsageError, match=rf"^--host 127.0.0.1 --port {port}: cannot listen there") as refused:
            dashboard.serve(study_db[0], port=port, quiet=True)
    assert "\n" not in str(refused.value)


def test_certfile_without_keyfile_is_refused(study_db):
    from search.errors import UsageError

    with pytest.raises(UsageError, match="--certfile and --keyfile: give both"):
        dashboard.serve(study_db[0], port=0, certfile="cert.pem", quiet=True)


def test_the_driver_attrs_cannot_be_set_through_the_dashboard(study_db):
    from search.results import dashboard_trials
    from search.worker.checkpoint import DIGEST_ATTR

    assert {"checkpoint", DIGEST_ATTR, "learning_curve"} <= dashboard_trials.DRIVER_ATTRS
    url, _ = study_db
    study = optuna.load_study(study_name=STUDY_NAME, storage=url)
    running = study.ask()
    app = dashboard.make_app(url)
    path = f"/api/trials/{running._trial_id}/user-attrs"
    for attrs in ({"checkpoint": "0000"}, {"checkpoint_sha256": "ab", "x": 1}, {"forecast_html": "0000"}):
        status, _, body = call(app, "POST", path, headers=SAME_ORIGIN, body=json.dumps({"user_attrs": attrs}).encode())
        assert status == 403 and b"written by the search driver only" in body
    for body in (b'{"user_attrs": [1]}', b"\xff\xfe{}", b"not json"):  # what the guard cannot read is refused, not passed on
        assert call(app, "POST", path, headers=SAME_ORIGIN, body=body)[0] == 400, body
    big = json.dumps({"user_attrs": {"x": "a" * (dashboard_trials.MAX_ATTRS_BODY + 1)}}).encode()
    assert call(app, "POST", path, headers=SAME_ORIGIN, body=big)[0] == 413
    assert call(app, "POST", path, headers=SAME_ORIGIN, body=b'{"user_attrs": {"note": "ok"}}')[0] == 204  # the body reaches the app intact
    assert study.trials[-1].user_attrs == {"note": "ok"}

