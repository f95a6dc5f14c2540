"""The attack corpus, second part: one spelling of a route for every guard. Against a real
``search dashboard`` process over real HTTP (``http.client`` and raw sockets, so that
percent-encoded bytes and framing headers go out verbatim) and in headless Chromium; every
request from the dashboard's own origin, so that only the guards under test stand in the way.
Each attack is refused and leaves the study (the SQLite file) and the artifact folder byte for
byte as they were; each has a control that shows the same request otherwise goes through.

- encoded paths: ``user-attrs%FF``, ``user%C0-attrs``, ``/api%FF/...``, an Arabic-Indic trial
  number, on the three requests of the model swap and on an artifact (``/%FFartifacts/...``);
- a chunked body sent with a ``Content-Length`` too;
- deleting the best model's checkpoint (also through another study's or trial's route);
- telling a queued or running trial of the search COMPLETE (the forged completion);
- an uploaded HTML artifact whose script writes, opened in Chromium under every spelling.
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import json
import socket
import sqlite3

import optuna
import pytest

from search.results.loading import load_best
from tests.search.test_attacks import (  # noqa: F401  (fixtures)
    Dashboard,
    attacker_checkpoint,
    fingerprint,
    make_study,
    space,
)

pytestmark = pytest.mark.slow


@pytest.fixture
def study(space, tmp_path) -> dict:  # noqa: F811
    return make_study(space, tmp_path / "study")


@pytest.fixture
def dash(study):
    server = Dashboard(study)
    yield server
    server.stop()


def send(dash: Dashboard, method: str, path: str, body: bytes | None = None, headers: dict | None = None) -> tuple[int, bytes, dict]:
    """One request with ``path`` sent exactly as written (percent escapes included)."""
    conn = http.client.HTTPConnection("127.0.0.1", dash.port, timeout=30)
    try:
        conn.request(method, path, body=body, headers={"Content-Type": "application/json", "Origin": f"http://127.0.0.1:{dash.port}", **(headers or {})})
        response = conn.getresponse()
        return response.status, response.read(), dict(response.getheaders())
    finally:
        conn.close()


def arabic(number: int) -> str:
    """``number`` in Arabic-Indic digits, percent-encoded as UTF-8 (``1`` -> ``%D9%A1``)."""
    digits = str(number).translate({ord(str(d)): chr(0x660 + d) for d in range(10)})
    return "".join(f"%{b:02X}" for b in digits.encode())


def spellings(route: str, trial: int) -> list[str]:
    """The encoded spellings of ``/api/trials/{trial}/{route}`` that reached the app before."""
    return [
        f"/api/trials/{trial}/{route}%FF",
        f"/api/trials/{trial}/{route[:4]}%C0{route[4:]}",
        f"/api%FF/trials/{trial}/{route}",
        f"/api/trials/{arabic(trial)}/{route}",
        f"/api/trials/{trial}/{route}/",
    ]


def forged_attrs(checkpoint: bytes, artifact: str) -> bytes:
    return json.dumps({"user_attrs": {"checkpoint": artifact, "checkpoint_sha256": hashlib.sha256(checkpoint).hexdigest()}}).encode()


def test_every_spelling_of_the_model_swap_is_refused(study, dash, attacker_checkpoint):  # noqa: F811
    sid, before = study["study_id"], fingerprint(study["artifacts"].parent)
    artifact = "00000000-0000-0000-0000-000000000000"
    for trial in (study["running"], study["waiting"]):
        for path in spellings("user-attrs", trial):
            code, body, _ = send(dash, "POST", path, forged_attrs(attacker_checkpoint, artifact))
            assert code in (400, 403), (path, code, body)
        for path in spellings("tell", trial):
            code, body, _ = send(dash, "POST", path, json.dumps({"state": "Complete", "values": [0.0]}).encode())
            assert code in (400, 403), (path, code, body)
        uri = "data:application/octet-stream;base64," + base64.b64encode(attacker_checkpoint).decode()
        for path in (f"/api/artifacts/{sid}/{trial}%FF", f"/api%C0/artifacts/{sid}/{trial}"):
            assert send(dash, "POST", path, json.dumps({"file": uri, "filename": "x.safetensors"}).encode())[0] == 400, path
    assert fingerprint(study["artifacts"].parent) == before
    best = optuna.load_study(study_name="tiny", storage=study["url"]).best_trial
    assert best.number == study["best"] and load_best("tiny", study["url"], artifacts=str(study["artifacts"])).lookback == 8
    # control: the same route, plainly spelt, takes another attr
    assert send(dash, "POST", f"/api/trials/{study['running']}/user-attrs", b'{"user_attrs": {"note": "ok"}}')[0] == 204


def test_an_artifact_is_sandboxed_whatever_its_spelling(study, dash):
    best = optuna.load_study(study_name="tiny", storage=study["url"]).best_trial
    sid, tid, aid = study["study_id"], best._trial_id, best.user_attrs["checkpoint"]
    assert send(dash, "GET", f"/%FFartifacts/{sid}/{tid}/{aid}")[0] == 400
    for path in (f"/artifacts/{sid}/{tid}/{aid}", f"/artifacts/{arabic(sid)}/{tid}/{aid}", f"/artifacts/{sid}/{tid}/{aid}/"):
        code, data, headers = send(dash, "GET", path)
        assert code == 200 and data == (study["artifacts"] / aid).read_bytes(), path
        assert headers["Content-Security-Policy"].startswith("sandbox allow-scripts;"), path
        assert headers["X-Content-Type-Options"] == "nosniff" and headers["Content-Disposition"] == "attachment", path
    for path in ("/api/studies", "/nowhere", "/csv/1"):  # outside the dashboard's own pages: sandboxed
        assert send(dash, "GET", path)[2]["Content-Security-Policy"].startswith("sandbox;"), path
    assert "sandbox" not in send(dash, "GET", "/dashboard")[2]["Content-Security-Policy"]  # control: its own page


def raw_request(port: int, head: str, body: bytes) -> bytes:
    """Bytes on a socket exactly as given; the server's whole answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(head.replace("\n", "\r\n").encode() + body)
        sock.shutdown(socket.SHUT_WR)
        out = b""
        while chunk := sock.recv(65536):
            out += chunk
    return out


def test_a_chunked_body_with_a_content_length_is_refused(study, dash, attacker_checkpoint):  # noqa: F811
    before = fingerprint(study["artifacts"].parent)
    forged = forged_attrs(attacker_checkpoint, "00000000-0000-0000-0000-000000000000")
    chunked = f"{len(forged):x}\r\n".encode() + forged + b"\r\n0\r\n\r\n"
    head = (
        f"POST /api/trials/{study['running']}/user-attrs HTTP/1.1\nHost: 127.0.0.1:{dash.port}\nOrigin: http://127.0.0.1:{dash.port}\n"
        "Content-Type: application/json\nConnection: close\n"
    )
    answer = raw_request(dash.port, head + "Transfer-Encoding: chunked\nContent-Length: 2\n\n", chunked)
    assert answer.startswith(b"HTTP/1.1 400") and b"Transfer-Encoding and Content-Length" in answer, answer[:300]
    answer = raw_request(dash.port, head + "Transfer-Encoding: chunked\n\n", chunked)  # chunked alone: checked like any body
    assert answer.startswith(b"HTTP/1.1 403") and b"written by the search driver only" in answer, answer[:300]
    assert fingerprint(study["artifacts"].parent) == before
    note = b'{"user_attrs": {"note": "chunked"}}'  # control: a chunked body reaches the app as sent
    answer = raw_request(dash.port, head + "Transfer-Encoding: chunked\n\n", f"{len(note):x}\r\n".encode() + note + b"\r\n0\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 204"), answer[:300]
    trial = [t for t in optuna.load_study(study_name="tiny", storage=study["url"]).trials if t._trial_id == study["running"]][0]
    assert trial.user_attrs == {"note": "chunked"}


def test_the_checkpoint_cannot_be_deleted(study, dash, tmp_path):
    study_ = optuna.load_study(study_name="tiny", storage=study["url"])
    best = study_.best_trial
    sid, tid, aid = study["study_id"], best._trial_id, best.user_attrs["checkpoint"]
    other = optuna.create_study(study_name="other", storage=study["url"])
    with sqlite3.connect(study["artifacts"].parent / "studies.db") as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    before = fingerprint(study["artifacts"].parent)
    for path in (
        f"/api/artifacts/{sid}/{tid}/{aid}",
        f"/api/artifacts/{sid}/{aid}",  # the study's route: the store does not check whose id it is
        f"/api/artifacts/{other._study_id}/{aid}",
        f"/api/artifacts/{sid}/{study['running']}/{aid.upper()}",
        f"/api/artifacts/{sid}/{tid}/{aid}%FF",
    ):
        code, body, _ = send(dash, "DELETE", path)
        assert code in (400, 403), (path, code, body)
    assert fingerprint(study["artifacts"].parent) == before
    assert load_best("tiny", study["url"], artifacts=str(study["artifacts"])).lookback == 8
    # control: an artifact no driver attr names is deleted through the same route
    (tmp_path / "note.txt").write_text("a note")
    running = optuna.trial.Trial(study_, study["running"])
    mine = optuna.artifacts.upload_artifact(
        study_or_trial=running, file_path=str(tmp_path / "note.txt"), artifact_store=optuna.artifacts.FileSystemArtifactStore(str(study["artifacts"]))
    )
    assert send(dash, "DELETE", f"/api/artifacts/{sid}/{study['running']}/{mine}")[0] == 204
    assert not (study["artifacts"] / mine).exists()


def test_a_forged_completion_is_refused(study, dash):
    before = fingerprint(study["artifacts"].parent)
    for trial in (study["waiting"], study["running"]):
        for state, values in (("Complete", [0.0]), ("Fail", None)):
            code, body, _ = send(dash, "POST", f"/api/trials/{trial}/tell", json.dumps({"state": state, "values": values}).encode())
            assert code == 403 and b"only the search driver ends it" in body, body
    assert fingerprint(study["artifacts"].parent) == before
    assert optuna.load_study(study_name="tiny", storage=study["url"]).best_trial.number == study["best"]


# --- a real browser ------------------------------------------------------------------------------

XSS = """<!doctype html><body>waiting</body><script>
fetch("/api/studies", {method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify({study_name: "xss", directions: ["minimize"]})})
  .then(r => { document.body.textContent = "status " + r.status; })
  .catch(e => { document.body.textContent = "failed " + e; });
</script>"""


def test_an_html_artifact_runs_no_script_in_the_dashboards_origin(study, dash, tmp_path):
    """An uploaded HTML page that creates a study, opened in Chromium under every spelling of
    its artifact route: either refused or sandboxed (its write carries ``Origin: null``)."""
    from tests._browser import dump_dom

    page = tmp_path / "xss.html"
    page.write_text(XSS)
    target = optuna.load_study(study_name="tiny", storage=study["url"])
    aid = optuna.artifacts.upload_artifact(
        study_or_trial=target, file_path=str(page), artifact_store=optuna.artifacts.FileSystemArtifactStore(str(study["artifacts"])), mimetype="text/html"
    )
    with sqlite3.connect(study["artifacts"].parent / "studies.db") as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    before = fingerprint(study["artifacts"].parent)
    sid = study["study_id"]
    for n, path in enumerate((f"/%FFartifacts/{sid}/{aid}", f"/artifacts/{sid}/{aid}", f"/artifacts/{arabic(sid)}/{aid}", f"/artifacts/{sid}/{aid}/")):
        text = dump_dom(f"{dash.base}{path}", tmp_path / f"profile{n}")
        body = text.split("<body>", 1)[-1]
        assert not body.startswith("status 2"), (path, text[:500])
    assert fingerprint(study["artifacts"].parent) == before
    assert "xss" not in optuna.get_all_study_names(study["url"])
    # control: the same write from the dashboard's own origin goes through (test_attacks: from Chromium too)
    assert send(dash, "POST", "/api/studies", json.dumps({"study_name": "control", "directions": ["minimize"]}).encode())[0] == 201
