"""Experiment tracking in MLflow, logged by the driver (workers never get tracking credentials).

One parent run per study (a resumed search continues it: it is found by its tags ``study``,
``storage`` (the masked URL) and ``search.role``) and one child run per trial, in the MLflow experiment named after the study:
the trial's params, every epoch's metrics (the values the study records, by epoch), its state,
user attrs (as tags), test metrics, its final value under the study's metric name, and the kept
best checkpoint as an artifact; every run tagged with the study and the trial number. After
the search, ``search.results.mlflow_model`` adds the best value, the best params, the space
file, the report and the served forecaster (an MLflow pyfunc model) to the parent run.

The search never waits on MLflow: the bridge puts events on a queue and one thread logs them.
An MLflow that cannot be reached (or that refuses a call) turns tracking off for the rest of
the search and says so once; the study, the record, is unaffected.
"""

from __future__ import annotations

import math
import os
import queue
import tempfile
import threading
import time
from collections.abc import Callable
from typing import Any

ENV = "MLFLOW_TRACKING_URI"
TAG_LIMIT = 5000  # MLflow's tag value bound


# What MLflow's client sends to the tracking server it is pointed at
CREDENTIAL_ENV = ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD", "MLFLOW_TRACKING_TOKEN", "MLFLOW_TRACKING_AUTH", "MLFLOW_TRACKING_CLIENT_CERT_PATH")


def tracking_uri(flag: str | None, space_value: str | None, space_file: object = "the space") -> str | None:
    """Where to log: ``--mlflow``, else the space's ``tracking.mlflow``, else ``$MLFLOW_TRACKING_URI``.

    The server is the user's to choose, not the file's: a ``tracking.mlflow`` server other than
    ``$MLFLOW_TRACKING_URI`` while MLflow credentials are in the environment would receive them,
    so it is refused (``ConfigError`` naming its host); without credentials, or as a local
    folder, it is used."""
    if flag:
        return flag
    env_uri = os.environ.get(ENV) or None
    if space_value and space_value != env_uri:
        held = [name for name in CREDENTIAL_ENV if os.environ.get(name)]
        host = _remote_host(space_value)
        if held and host:
            from search.errors import ConfigError
            from storage import mask_url

            raise ConfigError([
                f"{space_file}: tracking.mlflow {mask_url(space_value)}: the MLflow credentials in the environment (${held[0]}) "
                f"would go to {host}, which neither --mlflow nor ${ENV} names; give --mlflow URI to log there, or unset them"
            ])
    return space_value or env_uri


def _remote_host(uri: str) -> str | None:
    """The server a tracking URI sends requests to (its host, else its scheme); None for a local folder."""
    from urllib.parse import urlsplit

    parts = urlsplit(uri)
    if parts.scheme in ("", "file") or len(parts.scheme) == 1:  # a path (C:\\... too)
        return None
    return parts.hostname or parts.scheme


class NoTracker:
    """Tracking off: every event is dropped."""

    def start(self, study_name: str, tags: dict[str, str]) -> None: ...
    def trial_started(self, number: int, params: dict[str, Any]) -> None: ...
    def epoch(self, number: int, step: int, metrics: dict[str, float]) -> None: ...
    def checkpoint(self, number: int, data: bytes, name: str) -> None: ...
    def trial_finished(self, number: int, state: str, value: float | dict[str, float] | None, attrs: dict[str, Any]) -> None: ...
    def close(self, status: str = "FINISHED") -> None: ...


class MlflowTracker(NoTracker):
    """Logs to the MLflow tracking server at ``uri`` from a thread of its own (see the module
    docstring). ``warn`` prints the one line said when MLflow fails."""

    def __init__(self, uri: str, warn: Callable[[str], None]):
        self.uri, self.warn = uri, warn
        self.events: queue.Queue = queue.Queue()
        self.failed = False
        self.parent: str | None = None
        self.runs: dict[int, str] = {}  # trial number -> child run id
        self.experiment: str | None = None
        self.tags: dict[str, str] = {}
        self.metric = "value"  # the study's metric (the tags' ``metric``): the name of a trial's final value
        self.logged = 0  # events logged, for tests and the summary
        self.thread = threading.Thread(target=self._loop, name="search-mlflow", daemon=True)
        self.thread.start()

    # -- events, from the driver's threads: a queue put each, never a network call

    def start(self, study_name: str, tags: dict[str, str]) -> None:
        self.events.put(("start", (study_name, tags)))

    def trial_started(self, number: int, params: dict[str, Any]) -> None:
        self.events.put(("trial_started", (number, dict(params))))

    def epoch(self, number: int, step: int, metrics: dict[str, float]) -> None:
        self.events.put(("epoch", (number, step, dict(metrics))))

    def checkpoint(self, number: int, data: bytes, name: str) -> None:
        self.events.put(("checkpoint", (number, data, name)))

    def trial_finished(self, number: int, state: str, value: float | dict[str, float] | None, attrs: dict[str, Any]) -> None:
        self.events.put(("trial_finished", (number, state, value, dict(attrs))))

    def close(self, status: str = "FINISHED", timeout: float = 60.0) -> None:
        """End the parent run after every queued event is logged (at most ``timeout`` s)."""
        self.events.put(("close", (status,)))
        self.events.put(None)
        self.thread.join(timeout)

    # -- the logging thread

    def _loop(self) -> None:
        # an unreachable server fails fast instead of MLflow's minutes of retries (unless set)
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "10")
        os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")  # no "View run" lines in the progress
        from mlflow.tracking import MlflowClient

        client = None
        while True:
            item = self.events.get()
            if item is None:
                return
            if self.failed:
                continue
            kind, args = item
            try:
                client = client or MlflowClient(tracking_uri=self.uri)
                getattr(self, f"_{kind}")(client, *args)
                self.logged += 1
            except Exception as exc:  # noqa: BLE001 - MLflow down or refusing: stop tracking, say it once
                self.failed = True
                reason = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
                self.warn(f"MLflow at {self.uri} failed ({reason}); the search goes on without tracking")

    def _start(self, client, study_name: str, tags: dict[str, str]) -> None:
        experiment = client.get_experiment_by_name(study_name)
        self.experiment = experiment.experiment_id if experiment else client.create_experiment(study_name)
        self.tags = {"study": study_name}
        self.metric = tags.get("metric", "value")
        def quoted(text: str) -> str:
            return "'" + text.replace("'", "\\'") + "'"

        # the study is its name in its storage (masked URL): another storage's study of the same name has its own run
        where = f"tags.study = {quoted(study_name)} and tags.storage = {quoted(tags.get('storage', ''))} and tags.`search.role` = 'parent'"
        found = client.search_runs([self.experiment], filter_string=where, order_by=["attributes.start_time ASC"], max_results=1)
        if found:  # a resumed search: the study's parent run goes on
            self.parent = found[0].info.run_id
            client.update_run(self.parent, status="RUNNING")
            return
        run = client.create_run(self.experiment, run_name=f"{study_name} search", tags={**self.tags, **tags, "search.role": "parent"})
        self.parent = run.info.run_id

    def _trial_started(self, client, number: int, params: dict[str, Any]) -> None:
        from mlflow.entities import Param

        tags = {**self.tags, "trial": str(number), "mlflow.parentRunId": self.parent}
        run = client.create_run(self.experiment, run_name=f"trial {number}", tags=tags)
        self.runs[number] = run.info.run_id
        client.log_batch(run.info.run_id, params=[Param(k, str(v)[:500]) for k, v in params.items()])

    def _epoch(self, client, number: int, step: int, metrics: dict[str, float]) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        values = [Metric(k, float(v), now, step) for k, v in metrics.items() if _finite(v)]
        if number in self.runs and values:
            client.log_batch(self.runs[number], metrics=values)

    def _checkpoint(self, client, number: int, data: bytes, name: str) -> None:
        if number not in self.runs:
            return
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, name)
            with open(path, "wb") as f:
                f.write(data)
            client.log_artifact(self.runs[number], path)

    def _trial_finished(self, client, number: int, state: str, value: float | dict[str, float] | None, attrs: dict[str, Any]) -> None:
        from mlflow.entities import Metric, RunTag

        run = self.runs.get(number)
        if run is None:
            return
        now = int(time.time() * 1000)
        metrics = [Metric(k, float(v), now, 0) for k, v in attrs.items() if k.startswith("test_") and _finite(v)]
        if isinstance(value, dict):  # a multi-objective trial: one metric per objective
            metrics += [Metric(f"value_{name}", float(v), now, 0) for name, v in value.items() if _finite(v)]
        elif value is not None and _finite(value):
            metrics.append(Metric(self.metric, float(value), now, 0))  # named as the study's metric
        tags = [RunTag("state", state)] + [RunTag(f"attr.{k}", str(v)[:TAG_LIMIT]) for k, v in attrs.items() if not k.startswith("test_")]
        client.log_batch(run, metrics=metrics, tags=tags)
        status = {"COMPLETE": "FINISHED", "PRUNED": "KILLED"}.get(state, "FAILED")
        client.set_terminated(run, status)

    def _close(self, client, status: str) -> None:
        if self.parent is not None:
            client.set_terminated(self.parent, status)


def _finite(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
