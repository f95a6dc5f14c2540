"""An attack corpus, against real servers over real HTTP: each attack is refused and leaves the
study byte for byte as it was (the SQLite file, its WAL and every file of the artifact
folder hashed before and after).

- the three-step model swap (upload an artifact to a trial, point its ``checkpoint`` attr at
  it, tell it COMPLETE with a better value) from another site's page;
- DNS rebinding (another site's name resolved to 127.0.0.1, so its page's requests carry its
  own ``Host`` and ``Origin``);
- an authenticated write from another origin (a browser that holds the password);
- a checkpoint file replaced on disk (its sha256 no longer matches);
- the storage password in Ray's job table and in a driver's ``/proc/PID/cmdline``.

Each refusal has a control that shows the same request is otherwise accepted.
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import optuna
import pytest

from search.errors import CheckpointError
from search.results.loading import load_best
from tests import _procs
from tests._postgres import free_port
from tests._studies import searched_study, trained_checkpoint

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]
EVIL = "http://evil.example"
PASSWORD = "dash-pw-0f3c"


# --- the study and its fingerprint -----------------------------------------------------------


def fingerprint(folder: Path) -> str:
    """sha256 over the database file, its WAL and every artifact (name, mode, bytes). The
    ``-shm`` index is left out (readers write their read marks there), and so is an empty WAL
    (SQLite removes it when the last connection closes)."""
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        empty_wal = path.name.endswith("-wal") and path.stat().st_size == 0
        if path.is_file() and not path.name.endswith("-shm") and not empty_wal:
            digest.update(f"{path.relative_to(folder)}\0{path.stat().st_mode:o}\0".encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


def make_study(space: Path, folder: Path) -> dict:
    """A study as a search leaves it (one COMPLETE trial with its checkpoint and the
    ``space_hash`` attr ``search run`` records) plus one RUNNING trial, as while a search runs,
    and one queued (WAITING) trial, as Ctrl-C leaves them; WAL checkpointed so that readers
    leave every byte alone."""
    folder.mkdir()
    url, artifacts = f"sqlite:///{folder / 'studies.db'}", folder / "studies-artifacts"
    study = searched_study(space, url, artifacts)
    study.set_user_attr("space_hash", "0123456789abcdef")
    running = study.ask()
    study.enqueue_trial(dict(running.params))
    waiting = [t for t in study.get_trials(deepcopy=False) if t.state.name == "WAITING"][0]
    with sqlite3.connect(folder / "studies.db") as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return {
        "url": url, "artifacts": artifacts, "study_id": study._study_id, "running": running._trial_id, "waiting": waiting._trial_id,
        "best": study.best_trial.number,
    }


@pytest.fixture(scope="module")
def attacker_checkpoint(tmp_path_factory) -> bytes:
    from tests.conftest import TINY_SPACE, write_series

    folder = tmp_path_factory.mktemp("attacker")
    write_series(folder / "series.csv")
    (folder / "tiny.yaml").write_text(TINY_SPACE)
    data, _ = trained_checkpoint(folder / "tiny.yaml", {"layer_sizes": "8", "lookback": 8, "lr": 0.009})
    return data


@pytest.fixture(scope="module")
def space(tmp_path_factory) -> Path:
    from tests.conftest import TINY_SPACE, write_series

    folder = tmp_path_factory.mktemp("space")
    write_series(folder / "series.csv")
    (folder / "tiny.yaml").write_text(TINY_SPACE)
    return folder / "tiny.yaml"


# --- a real dashboard ------------------------------------------------------------------------


class Dashboard:
    """``search dashboard`` in its own process on a free loopback port."""

    def __init__(self, study: dict, *extra: str, env: dict | None = None):
        cmd = [sys.executable, "-m", "search", "dashboard", "--storage", study["url"], "--artifacts", str(study["artifacts"]), "--port", "0", *extra]
        self.proc = _procs.start(cmd, cwd=REPO, env={**os.environ, **(env or {})}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        timer = threading.Timer(60, self.proc.kill)
        timer.start()
        try:
            line = self.proc.stdout.readline()
        finally:
            timer.cancel()
        if "://" not in line:
            _procs.end_group(self.proc)
            raise AssertionError(f"the dashboard did not start: {line!r} {self.proc.stderr.read()}")
        self.base = line.split(": ", 1)[1].split("/dashboard/")[0]
        self.port = int(self.base.rsplit(":", 1)[1])

    def request(self, method: str, path: str, body: dict | None = None, headers: dict | None = None) -> tuple[int, bytes, dict]:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base + path, data=data, method=method, headers={"Content-Type": "application/json", **(headers or {})})
        try:
            with urllib.request.urlopen(req, timeout=20) as response:
                return response.status, response.read(), dict(response.headers)
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read(), dict(exc.headers)

    def stop(self) -> None:
        _procs.end_group(self.proc)


def swap_requests(study: dict, checkpoint: bytes) -> list[tuple[str, str, dict]]:
    """The three requests that replaced the best model before: upload the attacker's file as an
    artifact of the running trial, point the trial's ``checkpoint`` attr (and its digest) at
    it, and tell the trial COMPLETE with a value better than the best."""
    sid, tid = study["study_id"], study["running"]
    uri = "data:application/octet-stream;base64," + base64.b64encode(checkpoint).decode()
    return [
        ("POST", f"/api/artifacts/{sid}/{tid}", {"file": uri, "filename": "checkpoint.safetensors"}),
        ("POST", f"/api/trials/{tid}/user-attrs", {"user_attrs": {"checkpoint": "{artifact}", "checkpoint_sha256": hashlib.sha256(checkpoint).hexdigest()}}),
        ("POST", f"/api/trials/{tid}/tell", {"state": "Complete", "values": [0.0]}),
    ]


def attempt_swap(dash: Dashboard, study: dict, checkpoint: bytes, headers: dict) -> list[int]:
    codes, artifact = [], "00000000-0000-0000-0000-000000000000"
    for method, path, body in swap_requests(study, checkpoint):
        body = json.loads(json.dumps(body).replace("{artifact}", artifact))
        code, data, _ = dash.request(method, path, body, headers)
        if code == 201:
            artifact = json.loads(data)["artifact_id"]
        codes.append(code)
    return codes


@pytest.fixture
def study(space, tmp_path) -> dict:
    return make_study(space, tmp_path / "study")


@pytest.fixture
def writable(study):
    dash = Dashboard(study)  # the default: writable, no password, loopback
    yield dash
    dash.stop()


# --- the corpus ------------------------------------------------------------------------------


def test_model_swap_from_another_origin_is_refused(study, writable, attacker_checkpoint):
    before = fingerprint(study["artifacts"].parent)
    for headers in ({"Origin": EVIL}, {"Referer": f"{EVIL}/page.html"}, {"Origin": "null"}, {}):
        assert attempt_swap(writable, study, attacker_checkpoint, headers) == [403, 403, 403], headers
    assert fingerprint(study["artifacts"].parent) == before
    forecaster = load_best("tiny", study["url"], artifacts=str(study["artifacts"]))
    assert forecaster.lookback == 8 and optuna.load_study(study_name="tiny", storage=study["url"]).best_trial.number == study["best"]


def test_control_from_the_dashboards_own_origin_writes_go_through_but_not_the_model(study, writable, attacker_checkpoint):
    """The refusals above come from the Origin: from the dashboard's own origin the same upload
    goes through. Pointing a trial at another model does not, even from there (the
    ``checkpoint`` attrs are the driver's alone), nor ending a trial the search runs; so the
    study's model stays the driver's. In a study no search made, the same tell goes through."""
    own = {"Origin": f"http://127.0.0.1:{writable.port}"}
    note = {"user_attrs": {"reviewed": "yes"}}  # any other attr is written as before
    assert writable.request("POST", f"/api/trials/{study['running']}/user-attrs", note, own)[0] == 204
    assert attempt_swap(writable, study, attacker_checkpoint, own) == [201, 403, 403]
    trials = optuna.load_study(study_name="tiny", storage=study["url"]).trials
    running = [t for t in trials if t._trial_id == study["running"]][0]
    assert running.state.name == "RUNNING" and running.user_attrs == {"reviewed": "yes"}  # the note was real
    assert optuna.load_study(study_name="tiny", storage=study["url"]).best_trial.number == study["best"]
    other = optuna.create_study(study_name="by-hand", storage=study["url"]).ask()  # human in the loop: not a search's
    assert writable.request("POST", f"/api/trials/{other._trial_id}/tell", {"state": "Complete", "values": [1.0]}, own)[0] == 204


def test_dns_rebinding_host_is_refused(study, writable, attacker_checkpoint):
    before = fingerprint(study["artifacts"].parent)
    rebound = f"evil.example:{writable.port}"
    page = {"Host": rebound, "Origin": f"http://{rebound}"}  # what the rebinding page sends
    code, body, _ = writable.request("GET", "/api/studies", headers={"Host": rebound})
    assert code == 403 and b"--allow-host" in body
    best = optuna.load_study(study_name="tiny", storage=study["url"]).best_trial
    artifact = f"/artifacts/{study['study_id']}/{best._trial_id}/{best.user_attrs['checkpoint']}"
    assert writable.request("GET", artifact, headers={"Host": rebound})[0] == 403  # the model cannot be read either
    assert attempt_swap(writable, study, attacker_checkpoint, page) == [403, 403, 403]
    assert writable.request("DELETE", f"/api/studies/{study['study_id']}", headers=page)[0] == 403
    assert fingerprint(study["artifacts"].parent) == before
    # control: the same reads under the dashboard's own name, and no wildcard CORS on them
    code, data, headers = writable.request("GET", artifact, headers={"Host": f"localhost:{writable.port}"})
    assert code == 200 and data == (study["artifacts"] / best.user_attrs["checkpoint"]).read_bytes()
    assert "Access-Control-Allow-Origin" not in headers


def test_allow_host_serves_a_name(study):
    dash = Dashboard(study, "--allow-host", "dash.example.org")
    try:
        assert dash.request("GET", "/api/studies", headers={"Host": f"dash.example.org:{dash.port}"})[0] == 200
        assert dash.request("GET", "/api/studies", headers={"Host": f"other.example.org:{dash.port}"})[0] == 403
        own = {"Host": "dash.example.org", "Origin": "https://dash.example.org"}  # behind a TLS proxy
        assert dash.request("PUT", f"/api/studies/{study['study_id']}/note", {"version": 1, "body": "ok"}, own)[0] in (200, 204)
    finally:
        dash.stop()


def test_authenticated_write_from_another_origin_is_refused(study, attacker_checkpoint):
    dash = Dashboard(study, env={"SEARCH_DASHBOARD_PASSWORD": PASSWORD})
    try:
        before = fingerprint(study["artifacts"].parent)
        auth = {"Authorization": "Basic " + base64.b64encode(f"me:{PASSWORD}".encode()).decode()}
        assert attempt_swap(dash, study, attacker_checkpoint, {**auth, "Origin": EVIL}) == [403, 403, 403]
        assert dash.request("DELETE", f"/api/studies/{study['study_id']}", headers={**auth, "Origin": EVIL})[0] == 403
        assert attempt_swap(dash, study, attacker_checkpoint, {"Origin": f"http://127.0.0.1:{dash.port}"}) == [401, 401, 401]
        assert fingerprint(study["artifacts"].parent) == before
        code, body, _ = dash.request("GET", "/api/studies", headers=auth)  # control: the password works
        assert code == 200 and b"tiny" in body
    finally:
        dash.stop()


def test_replaced_checkpoint_on_disk_is_refused(study, space, attacker_checkpoint):
    best = optuna.load_study(study_name="tiny", storage=study["url"]).best_trial
    (study["artifacts"] / best.user_attrs["checkpoint"]).write_bytes(attacker_checkpoint)
    before = fingerprint(study["artifacts"].parent)
    with pytest.raises(CheckpointError, match=f"trial #{best.number} of 'tiny': the checkpoint does not match"):
        load_best("tiny", study["url"], artifacts=str(study["artifacts"]))
    done = subprocess.run(
        [sys.executable, "-m", "search", "predict", "tiny", "--input", str(space.parent / "series.csv"), "--storage", study["url"], "--artifacts", str(study["artifacts"])],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 1 and done.stderr.count("\n") == 1 and "sha256" in done.stderr, done.stderr
    assert fingerprint(study["artifacts"].parent) == before


# --- the storage password, Ray's job table and /proc ----------------------------------------


@pytest.fixture
def ray_head(tmp_path):
    """A one-node Ray cluster (``ray start --head``) on a free loopback port; its address."""
    ray = os.path.join(os.path.dirname(sys.executable), "ray")
    env = {**os.environ, "RAY_AUTH_MODE": "disabled"}
    port = free_port()
    head = _procs.start(
        [ray, "start", "--head", f"--port={port}", "--num-cpus=1", "--include-dashboard=false", "--block", "--disable-usage-stats"],
        env=env, stdout=open(tmp_path / "head.log", "w"), stderr=subprocess.STDOUT,
    )
    address = f"127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while subprocess.run([ray, "status", f"--address={address}"], env=env, capture_output=True).returncode != 0:
            assert time.monotonic() < deadline and head.poll() is None, "the Ray head did not start"
            time.sleep(0.5)
        yield address
    finally:
        _procs.end_group(head)


JOB_TABLE = """
import json, sys, ray
ray.init(address=sys.argv[1], logging_level="ERROR", log_to_driver=False)
print(json.dumps(ray._private.state.jobs(), default=str))
"""


def test_the_storage_password_is_in_neither_rays_job_table_nor_proc_cmdline(postgres, ray_head, space, tmp_path):
    url = postgres.create_database("attack_ray")
    secret = postgres.password
    env = {**os.environ, "RAY_AUTH_MODE": "disabled", "PYTHONPATH": str(REPO)}
    env.pop("SEARCH_STORAGE", None)
    run = [sys.executable, "-m", "search", "run", str(space), "--trials", "1", "--address", ray_head, "--quiet", "--set", "train.epochs=2"]

    # 1. the URL in the environment: never on the command line, sampled while the driver runs
    driver = _procs.start([*run, "--study", "from_env"], cwd=tmp_path, env={**env, "SEARCH_STORAGE": url}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    seen = []
    try:
        while driver.poll() is None:
            try:
                seen.append(Path(f"/proc/{driver.pid}/cmdline").read_bytes())
            except OSError:
                break
            time.sleep(0.05)
        out = driver.communicate(timeout=300)[0].decode()
    finally:
        _procs.end_group(driver)
    assert driver.returncode == 0, out
    seen = [s for s in seen if b"search" in s]  # not the moment between fork and exec
    assert len(seen) > 10 and all(secret.encode() not in s for s in seen)

    # 2. the URL given in --storage (warned about): masked before the driver joins Ray
    given = subprocess.run([*run, "--study", "from_argv", "--storage", url], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert given.returncode == 0, given.stdout + given.stderr
    assert "warning: --storage" in given.stderr and secret not in given.stdout + given.stderr

    table = subprocess.run([sys.executable, "-c", JOB_TABLE, ray_head], env=env, capture_output=True, text=True, timeout=120)
    assert table.returncode == 0, table.stderr
    jobs = json.loads(table.stdout.strip().splitlines()[-1])
    entrypoints = [job.get("Entrypoint", "") for job in jobs]
    drivers = [e for e in entrypoints if "search run" in e]
    assert len(drivers) == 2, entrypoints  # both drivers are in the table, with their command lines
    assert any("search:***@" in e for e in drivers), drivers  # the --storage one, masked
    assert secret not in table.stdout
    for name in ("from_env", "from_argv"):  # both searches ran
        assert optuna.load_study(study_name=name, storage=url).best_trial is not None


# --- TLS ----------------------------------------------------------------------------------------


@pytest.fixture
def certificate(tmp_path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and localhost (openssl)."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is missing")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=60,
    )
    return cert, key


def test_tls_with_a_password(study, certificate):
    import ssl

    cert, key = certificate
    dash = Dashboard(study, "--certfile", str(cert), "--keyfile", str(key), env={"SEARCH_DASHBOARD_PASSWORD": PASSWORD})
    try:
        assert dash.base.startswith("https://127.0.0.1:")
        context = ssl.create_default_context(cafile=str(cert))
        auth = {"Authorization": "Basic " + base64.b64encode(f"me:{PASSWORD}".encode()).decode()}
        request = urllib.request.Request(f"{dash.base}/api/studies", headers=auth)
        with urllib.request.urlopen(request, timeout=20, context=context) as response:
            assert response.status == 200 and b"tiny" in response.read()
        with pytest.raises(urllib.error.URLError):  # an unverified client is turned away by its own check
            urllib.request.urlopen(f"{dash.base}/api/studies", timeout=20)
        with pytest.raises((urllib.error.URLError, ConnectionError, http.client.HTTPException)):  # no plain HTTP on that port
            urllib.request.urlopen(f"http://127.0.0.1:{dash.port}/api/studies", timeout=20).read()
    finally:
        dash.stop()


def test_a_bad_certificate_is_one_line(study, tmp_path):
    bad = tmp_path / "bad.pem"
    bad.write_text("not a certificate\n")
    bad.chmod(0o600)  # a readable key file is warned about (test_file_modes); this is about the one error line
    done = subprocess.run(
        [sys.executable, "-m", "search", "dashboard", "--storage", study["url"], "--port", "0", "--certfile", str(bad), "--keyfile", str(bad)],
        cwd=REPO, capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 2 and done.stderr.startswith("error: --certfile") and done.stderr.count("\n") == 1, done.stderr


# --- a real browser ------------------------------------------------------------------------------

BROWSER_WRITE = """<!doctype html><body>waiting</body><script>
fetch("/api/trials/%d/tell", {method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify({state: "Complete", values: [0.5]})})
  .then(r => { document.body.textContent = "status " + r.status; })
  .catch(e => { document.body.textContent = "failed " + e; });
</script>"""


def _serve_html_artifact(study: dict, tmp_path: Path, app_for) -> tuple[str, str]:
    """An HTML page that tells the running trial COMPLETE, uploaded as an artifact of the study
    and opened in headless Chromium from the dashboard's own origin; (page text, trial state)."""
    from search.results import dashboard
    from tests._browser import dump_dom

    page = tmp_path / "page.html"
    page.write_text(BROWSER_WRITE % study["running"])
    rdb = optuna.storages.RDBStorage(study["url"])
    target = optuna.load_study(study_name="tiny", storage=rdb)
    artifact = optuna.artifacts.upload_artifact(
        study_or_trial=target, file_path=str(page), artifact_store=optuna.artifacts.FileSystemArtifactStore(str(study["artifacts"])), mimetype="text/html"
    )
    with sqlite3.connect(study["artifacts"].parent / "studies.db") as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    server = dashboard.make_server_for(app_for(study), "127.0.0.1", 0, quiet=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        text = dump_dom(f"http://127.0.0.1:{server.server_port}/artifacts/{study['study_id']}/{artifact}", tmp_path / "profile")
    finally:
        server.shutdown()
        thread.join(timeout=10)
    return text, rdb.get_trial(study["running"]).state.name


def test_a_real_browser_sends_origin_on_same_origin_writes(study, tmp_path):
    """The same-origin rule keeps the dashboard's own pages working: Chromium sends ``Origin``
    on a same-origin POST, and the guard lets it through (artifacts served unsandboxed here,
    as a stand-in for the dashboard's own page)."""
    import optuna_dashboard

    from search.results import dashboard_guards

    def unsandboxed(s):
        store = optuna.artifacts.FileSystemArtifactStore(str(s["artifacts"]))
        raw = optuna_dashboard.wsgi(optuna.storages.RDBStorage(s["url"]), artifact_store=store)
        return dashboard_guards.host_middleware(dashboard_guards.same_origin_middleware(raw))

    text, state = _serve_html_artifact(study, tmp_path, unsandboxed)
    assert text.split("<body>", 1)[1].startswith("status 204") and state == "COMPLETE"


def test_an_html_artifact_cannot_write_through_the_dashboard(study, tmp_path):
    """Served by the full dashboard, an HTML artifact runs sandboxed (scripts allowed, in an
    opaque origin of its own), so the same page's write is refused and the study is left as
    it was."""
    from search.results import dashboard

    def full(s):
        return dashboard.make_app(s["url"], artifact_dir=str(s["artifacts"]))

    before = []

    def full_after_fingerprint(s):
        before.append(fingerprint(s["artifacts"].parent))
        return full(s)

    text, state = _serve_html_artifact(study, tmp_path, full_after_fingerprint)
    body = text.split("<body>", 1)[1]
    # its script runs in an opaque origin: the write is refused (Origin: null) or its preflight fails
    assert body.startswith(("waiting", "failed", "status 403")), text
    assert state == "RUNNING" and fingerprint(study["artifacts"].parent) == before[0]
