"""The statistical baselines, run beside the trials.

A forecasting study records MSTL, AutoETS and AutoTheta on the trials' own targets
(``search.worker.stat_baselines``). They no longer run before the first trial under a time
bound: right after Ray starts, the driver launches them one model at a time as a Ray task with
one CPU (none when the runtime has no CPU to spare beside one trial), writes
``stat_baselines_running`` (the labels not yet done) at once, and a thread of the driver polls
the task and writes each model's attrs when it finishes. Only the driver writes the study; the
task gets plain arrays and returns plain attrs.

A later run of the same study launches only the models it does not hold (no score and no
note). When the trials are done first, the driver waits for the baselines with the wait shown;
Ctrl-C there (or a stop) leaves the missing ones named in ``stat_baselines_note`` and in
``stat_baselines_running`` cleared, for the next run to compute.
"""

from __future__ import annotations

import datetime
import threading
import time
from typing import Any, Callable

import optuna

from search.study_attrs import flat, write
from search.worker import stat_baselines as sb
from storage import retrying

RUNNING_ATTR = "stat_baselines_running"
FINISHED_ATTR = "stat_baselines_finished"  # label -> when the driver recorded it (UTC, ISO 8601)
POLL_S = 0.5


def missing_models(attrs: dict[str, Any]) -> list[str]:
    """The models a study does not hold yet: neither a score nor a note of their own."""
    return [
        name for name in sb.STAT_MODELS
        if f"baseline_{name}_seconds" not in attrs and not attrs.get(f"baseline_{name}_note")
    ]  # fmt: skip


class BaselineRuns:
    """The baselines' Ray tasks and the thread that records them (``start``, ``wait``, ``stop``)."""

    def __init__(self, study: optuna.Study, spec: dict[str, Any], names: list[str], on_change: Callable[[], None] | None = None):
        self.study, self.spec, self.names = study, spec, list(names)
        self.on_change = on_change or (lambda: None)
        self.running: list[str] = list(names)
        self.current: str | None = None
        self.started_at: float | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._ref = None

    @classmethod
    def for_study(cls, study: optuna.Study, series: Any, data_cfg: dict[str, Any]) -> "BaselineRuns | None":
        """The runs a forecasting study still needs, or None (baselines off, a task other than
        forecast, nothing missing, no scored origin)."""
        attrs = flat(study)
        if getattr(series, "task", "forecast") != "forecast" or float(data_cfg.get("stat_baselines_seconds", 0) or 0) <= 0:
            return None
        names = missing_models(attrs)
        if not names:
            return None
        from search.worker.origins import eval_step

        spec = sb.baseline_jobs(series, int(data_cfg["horizon"]), eval_step(data_cfg), list(attrs.get("seasons") or []), data_cfg.get("levels") or sb.LEVELS)
        return cls(study, spec, names) if spec["jobs"] else None

    def labels(self) -> list[str]:
        return [sb.STAT_MODELS[n] for n in self.running]

    def start(self, trial_cpus: float = 1.0) -> None:
        """Write ``stat_baselines_running`` and launch the first model's task (Ray is up). It
        asks for one CPU where the runtime has one beside the ``trial_cpus`` that the search's
        concurrent trials take (workers x CPUs per trial), else none (it then shares a CPU with
        them): no trial ever waits for it, nor runs on fewer nodes because of it."""
        self._write({RUNNING_ATTR: self.labels()})
        import ray

        cpus = 1 if float(ray.cluster_resources().get("CPU", 0)) >= 1 + trial_cpus else 0
        self._remote = ray.remote(num_cpus=cpus, max_retries=0)(sb.run_model)
        self._spec_ref = ray.put(self.spec)
        self._launch()
        self._thread = threading.Thread(target=self._poll, name="search-stat-baselines", daemon=True)
        self._thread.start()

    def _launch(self) -> None:
        self.current = self.running[0] if self.running else None
        self.started_at = time.monotonic()  # the current model's task
        self._ref = self._remote.remote(self.current, self._spec_ref) if self.current else None

    def _poll(self) -> None:
        import ray

        while self._ref is not None and not self._stop.is_set():
            done, _ = ray.wait([self._ref], timeout=POLL_S)
            if not done:
                continue
            try:
                attrs = ray.get(done[0])
            except Exception as exc:  # noqa: BLE001 - a task that died: named in the note
                attrs = {f"baseline_{self.current}_note": f"{type(exc).__name__} in its task"}
            self.running.remove(self.current)
            stored = flat(self.study)
            attrs = sb.merge_forecasts({k: v for k, v in stored.items() if k == sb.stat_forecasts.ATTR}, self.current, attrs)
            merged = {**stored, **attrs}
            note = sb.notes_attr(merged)
            finished = {**(merged.get(FINISHED_ATTR) or {}), sb.STAT_MODELS[self.current]: datetime.datetime.now(datetime.timezone.utc).isoformat()}
            self._write({**attrs, FINISHED_ATTR: finished, RUNNING_ATTR: self.labels(), "stat_baselines_note": note})
            self._launch()
            self.on_change()

    @property
    def done(self) -> bool:
        return not self.running

    def wait(self, tick: Callable[[str], None] | None = None, interrupted: Callable[[], bool] = lambda: False) -> None:
        """Block until every model is recorded, calling ``tick`` with ``MSTL: running 12 s`` now
        and then; Ctrl-C (``interrupted()`` true, or KeyboardInterrupt, raised again) stops them
        (``stop``)."""
        try:
            while self._thread is not None and self._thread.is_alive():
                if interrupted():
                    self.stop("interrupted while the search waited for it")
                    return
                if tick is not None:
                    tick(self.status_text())
                self._thread.join(timeout=1.0)
        except KeyboardInterrupt:
            self.stop("interrupted")
            raise

    def status_text(self) -> str:
        waited = f" {time.monotonic() - self.started_at:.0f} s" if self.started_at else ""
        return ", ".join(f"{label}: {'running' + waited if i == 0 else 'waiting'}" for i, label in enumerate(self.labels()))

    def stop(self, why: str) -> None:
        """Cancel the task of a model not yet done; the missing ones are named in the note."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5.0)
        if self._ref is not None:
            import ray

            try:
                ray.cancel(self._ref, force=True)
            except Exception:  # noqa: BLE001 - already ended
                pass
        if self.running:
            missing = "; ".join(f"{label}: not computed ({why}; the next run of this study computes it)" for label in self.labels())
            note = "; ".join(n for n in (sb.notes_attr(flat(self.study)), missing) if n)
            self._write({RUNNING_ATTR: [], "stat_baselines_note": note})
            self.running = []

    def _write(self, attrs: dict[str, Any]) -> None:
        retrying(write, self.study, attrs)
