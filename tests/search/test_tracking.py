"""MLflow tracking against a real ``mlflow server`` started by the test, read back through
MLflow's own client; an outage does not stop the search."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request

import optuna
import pytest

from search.driver.run import run_search
from search.driver.tracking import tracking_uri
from tests._postgres import free_port
from tests.conftest import REPO

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory):
    pytest.importorskip("mlflow")
    folder = tmp_path_factory.mktemp("mlflow")
    port = free_port()
    command = [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", f"sqlite:///{folder / 'mlflow.db'}",
               "--artifacts-destination", str(folder / "artifacts"), "--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=open(folder / "server.log", "w"), start_new_session=True)
    uri = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        try:
            with urllib.request.urlopen(f"{uri}/health", timeout=2) as response:
                if response.status == 200:
                    break
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            os.killpg(proc.pid, signal.SIGKILL)
            pytest.fail("mlflow server did not start: " + (folder / "server.log").read_text()[-2000:])
        time.sleep(0.5)
    yield uri
    # the server and the workers it started, in the session the test started it in
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    shutil.rmtree(folder, ignore_errors=True)


def test_every_trial_lands_in_mlflow(mlflow_server, ray_local, tiny_space, tmp_path):
    from mlflow.tracking import MlflowClient

    url = f"sqlite:///{tmp_path / 's.db'}"
    summary = run_search(tiny_space, trials=3, storage_url=url, quiet=True, artifacts=str(tmp_path / "a"), mlflow=mlflow_server)
    assert summary.stop_reason is None
    study = optuna.load_study(study_name="tiny", storage=url)
    client = MlflowClient(tracking_uri=mlflow_server)
    experiment = client.get_experiment_by_name("tiny")
    runs = client.search_runs([experiment.experiment_id])
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    children = {int(r.data.tags["trial"]): r for r in runs if "mlflow.parentRunId" in r.data.tags}
    assert len(parents) == 1 and parents[0].info.status == "FINISHED" and parents[0].data.tags["study"] == "tiny"
    assert set(children) == {t.number for t in study.trials}
    for trial in study.trials:
        run = children[trial.number]
        assert run.data.tags["mlflow.parentRunId"] == parents[0].info.run_id and run.data.tags["state"] == trial.state.name
        assert run.data.params == {k: str(v) for k, v in trial.params.items()}
        history = client.get_metric_history(run.info.run_id, "objective")
        assert {m.step: m.value for m in history} == pytest.approx(trial.intermediate_values)  # every epoch
        assert run.info.status == {"COMPLETE": "FINISHED", "PRUNED": "KILLED"}.get(trial.state.name, "FAILED")
        if trial.state.name == "COMPLETE":
            assert run.data.metrics["test_rmse"] == pytest.approx(trial.user_attrs["test_rmse"])
            assert run.data.metrics["rmse"] == pytest.approx(trial.value)  # the final value under the metric's name
    best = children[study.best_trial.number]
    names = [f.path for f in client.list_artifacts(best.info.run_id)]
    assert f"checkpoint_trial_{study.best_trial.number}.safetensors" in names


def test_an_mlflow_outage_does_not_stop_the_search(ray_local, tiny_space, tmp_path):
    from rich.console import Console

    pytest.importorskip("mlflow")
    url = f"sqlite:///{tmp_path / 's.db'}"
    console = Console(file=open(tmp_path / "out.txt", "w"), width=300)
    down = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    summary = run_search(tiny_space, trials=2, storage_url=url, console=console, artifacts=str(tmp_path / "a"), mlflow=down)
    console.file.close()
    assert summary.stop_reason is None
    assert len(optuna.load_study(study_name="tiny", storage=url).trials) == 2  # the study has every trial
    said = [line for line in (tmp_path / "out.txt").read_text().splitlines() if "MLflow" in line]
    assert len(said) == 1 and said[0].startswith(f"warning: MLflow at {down} failed") and "goes on without tracking" in said[0]


def test_where_tracking_goes(monkeypatch):
    for name in ("MLFLOW_TRACKING_URI", "MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD", "MLFLOW_TRACKING_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    assert tracking_uri(None, None) is None
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://env")
    assert tracking_uri(None, None) == "http://env"
    assert tracking_uri(None, "http://space") == "http://space"
    assert tracking_uri("http://flag", "http://space") == "http://flag"


def test_a_space_cannot_send_the_environments_mlflow_credentials_elsewhere(monkeypatch):
    from search.errors import ConfigError

    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://mine:5000")
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", "pw")
    with pytest.raises(ConfigError, match=r"^s.yaml: tracking.mlflow http://u:\*\*\*@evil.example:5000: the MLflow credentials in the environment \(\$MLFLOW_TRACKING_PASSWORD\) would go to evil.example"):
        tracking_uri(None, "http://u:x@evil.example:5000", "s.yaml")
    assert tracking_uri(None, "http://mine:5000") == "http://mine:5000"  # the same server: fine
    assert tracking_uri("http://evil.example:5000", "http://other") == "http://evil.example:5000"  # --mlflow: the user's choice
    assert tracking_uri(None, "./mlruns") == "./mlruns" and tracking_uri(None, "file:///tmp/mlruns") == "file:///tmp/mlruns"  # local
    monkeypatch.delenv("MLFLOW_TRACKING_PASSWORD")
    assert tracking_uri(None, "http://evil.example:5000") == "http://evil.example:5000"  # no credentials to send


def test_search_run_refuses_it_before_anything_is_sent_or_stored(tiny_space, tmp_path):
    """A real listener stands in for the file's server: it is never contacted, and no storage is made."""
    import http.server
    import threading

    heard = []

    class Listener(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            heard.append(dict(self.headers))
            self.send_response(404)
            self.end_headers()

        do_POST = do_GET

    server = http.server.HTTPServer(("127.0.0.1", 0), Listener)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        space = tiny_space.read_text() + f"tracking: {{mlflow: http://127.0.0.1:{server.server_port}}}\n"
        tiny_space.write_text(space)
        env = {**os.environ, "MLFLOW_TRACKING_USERNAME": "alice", "MLFLOW_TRACKING_PASSWORD": "alice-pw-5"}
        env.pop("MLFLOW_TRACKING_URI", None)
        done = subprocess.run(
            [sys.executable, "-m", "search", "run", str(tiny_space), "--trials", "1", "--storage", f"sqlite:///{tmp_path / 'st.db'}"],
            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
        )
    finally:
        server.shutdown()
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
    assert f"tracking.mlflow http://127.0.0.1:{server.server_port}" in done.stderr and "would go to 127.0.0.1" in done.stderr
    assert heard == [] and not (tmp_path / "st.db").exists() and "alice-pw" not in done.stderr


def test_the_parent_run_holds_the_summary_and_a_served_pyfunc_model_and_a_resume_continues_it(mlflow_server, tiny_space, tmp_path):
    """Two ``search run`` of one study (the second a resume) log to one parent run: the best
    value under the metric's name, the best params, the space file, the report and the served
    forecaster, which ``mlflow.pyfunc.load_model`` loads and which forecasts as ``load_best``."""
    import mlflow
    import pandas as pd
    from mlflow.tracking import MlflowClient

    from search.results.loading import load_best

    url = f"sqlite:///{tmp_path / 's.db'}"
    cmd = [sys.executable, "-m", "search", "run", str(tiny_space), "--storage", url, "--mlflow", mlflow_server, "--mlflow-register", "tiny-forecaster", "--trials"]
    for n in ("2", "3"):
        done = subprocess.run([*cmd, n], cwd=tmp_path, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stdout + done.stderr
        said = done.stdout + done.stderr
        assert "warning: MLflow" not in said and "WARNING mlflow" not in said and "Downloading artifacts" not in said, said
    assert "MLflow: the served forecaster is the pyfunc model runs:/" in done.stdout and "registered as tiny-forecaster" in done.stdout

    study = optuna.load_study(study_name="tiny", storage=url)
    client = MlflowClient(tracking_uri=mlflow_server)
    experiment = client.get_experiment_by_name("tiny")
    runs = [r for r in client.search_runs([experiment.experiment_id]) if r.data.tags.get("storage") == url or "mlflow.parentRunId" in r.data.tags]
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]  # this storage's study "tiny" (another test's has its own)
    assert len(parents) == 1, [r.data.tags for r in parents]  # the resume continued it
    parent = parents[0]
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    assert len(children) == len(study.trials)
    assert parent.info.status == "FINISHED"
    best = study.best_trial
    assert parent.data.metrics["rmse"] == pytest.approx(best.value)
    assert [m.step for m in client.get_metric_history(parent.info.run_id, "rmse")] == [2, 3]  # one per search, by trials finished
    assert {k: parent.data.tags[f"best.{k}"] for k in best.params} == {k: str(v) for k, v in best.params.items()}
    assert set(parent.data.params) == set(best.params)
    for child in children:
        if child.data.tags["state"] == "COMPLETE":
            assert "rmse" in child.data.metrics and "value" not in child.data.metrics  # the final value under the metric's name
    names = {f.path for f in client.list_artifacts(parent.info.run_id)}
    assert {"tiny.yaml", "report.html"} <= names  # the model is a logged model of the run (MLflow 3), loaded below

    mlflow.set_tracking_uri(mlflow_server)
    try:
        model = mlflow.pyfunc.load_model(f"runs:/{parent.info.run_id}/forecaster")
        frame = pd.read_csv(tiny_space.parent / "series.csv")
        # the MLflow model is what the study serves (the run's tag names it): load_best without flags
        from search.study_attrs import flat

        assert parent.data.tags["search.served"] == flat(study)["served"]["label"]
        expected = load_best("tiny", url).predict(frame)
        assert model.predict(frame) == pytest.approx(expected)
        versions = client.search_model_versions("name = 'tiny-forecaster'")
        assert len(versions) == 2  # one per search
        registered = mlflow.pyfunc.load_model("models:/tiny-forecaster/2")
        assert registered.predict(frame) == pytest.approx(expected)
    finally:
        mlflow.set_tracking_uri(None)  # unsets $MLFLOW_TRACKING_URI too: later tests' processes must not inherit it


def test_publishing_points_mlflow_at_its_server_for_its_own_calls_only(monkeypatch):
    """mlflow.set_tracking_uri also sets $MLFLOW_TRACKING_URI: the search restores both, so a
    notebook's next search, and every process started later, see what they saw before."""
    pytest.importorskip("mlflow")
    from search.results.mlflow_model import _tracking_uri

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    with _tracking_uri("http://127.0.0.1:9"):
        assert os.environ["MLFLOW_TRACKING_URI"] == "http://127.0.0.1:9"
    assert "MLFLOW_TRACKING_URI" not in os.environ
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://mine:5000")
    with _tracking_uri("http://127.0.0.1:9"):
        pass
    assert os.environ["MLFLOW_TRACKING_URI"] == "http://mine:5000"


def test_mlflow_models_serve_answers_with_the_served_forecast(mlflow_server, tiny_space, tmp_path):
    """The logged pyfunc model served by the real ``mlflow models serve`` (scoring server, local
    env): a frame POSTed to /invocations as ``dataframe_split`` gets the horizon's forecast, the
    numbers ``mlflow.pyfunc.load_model(uri).predict(frame)`` gives; with ``params: {level: [80,
    95]}`` the prediction intervals beside it."""
    import json

    import mlflow
    import numpy as np
    import pandas as pd

    from tests._procs import end_group, poll_until, start

    url = f"sqlite:///{tmp_path / 's.db'}"
    cmd = [sys.executable, "-m", "search", "run", str(tiny_space), "--storage", url, "--study", "served", "--mlflow", mlflow_server, "--trials", "2", "--set", "data.horizon=4"]
    done = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    (uri,) = [w.rstrip(".,;:") for w in done.stdout.split() if w.startswith("runs:/")]

    port = free_port()
    # as from an activated environment: the scoring server runs this environment's uvicorn
    path = os.pathsep.join([os.path.dirname(sys.executable), os.environ.get("PATH", "")])
    env = os.environ | {"MLFLOW_TRACKING_URI": mlflow_server, "PATH": path, "PYTHONPATH": os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p)}
    log = open(tmp_path / "serve.log", "w")
    server = start([sys.executable, "-m", "mlflow", "models", "serve", "-m", uri, "--env-manager", "local", "-h", "127.0.0.1", "-p", str(port)], cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        def ping():
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=2) as response:
                    return response.status == 200
            except OSError:
                return server.poll() is not None  # ended: stop waiting, the assertion below says why

        assert poll_until(ping, timeout=180, poll=0.5) and server.poll() is None, (tmp_path / "serve.log").read_text()[-3000:]
        frame = pd.read_csv(tiny_space.parent / "series.csv")
        body = json.dumps({"dataframe_split": json.loads(frame.to_json(orient="split", index=False))}).encode()
        request = urllib.request.Request(f"http://127.0.0.1:{port}/invocations", data=body, headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=120) as response:
            served = np.asarray(json.loads(response.read())["predictions"], dtype=float)
        # the prediction intervals, asked for with the model's one param
        body = json.dumps({"dataframe_split": json.loads(frame.to_json(orient="split", index=False)), "params": {"level": [80, 95]}}).encode()
        request = urllib.request.Request(f"http://127.0.0.1:{port}/invocations", data=body, headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=120) as response:
            bands = pd.DataFrame(json.loads(response.read())["predictions"])
    finally:
        end_group(server)
        log.close()

    mlflow.set_tracking_uri(mlflow_server)
    try:
        expected = np.asarray(mlflow.pyfunc.load_model(uri).predict(frame), dtype=float)
    finally:
        mlflow.set_tracking_uri(None)
    assert served.shape == expected.shape == (4, 1)  # the horizon's steps, one target
    np.testing.assert_allclose(served, expected, rtol=1e-6)
    assert sorted(bands.columns) == sorted(["step", "y", "lo-95", "lo-80", "hi-80", "hi-95"])
    np.testing.assert_allclose(bands["y"].to_numpy(dtype=float), expected[:, 0], rtol=1e-6)
    assert (bands["lo-95"] <= bands["lo-80"]).all() and (bands["lo-80"] < bands["hi-80"]).all() and (bands["hi-80"] <= bands["hi-95"]).all()
