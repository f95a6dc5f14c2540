"""Optuna decides, Ray executes: a searcher/scheduler pair around one Optuna study.

Ray Tune's stock ``OptunaSearch`` forces Optuna's ``NopPruner``, so it cannot apply the
study's pruner. This module keeps every decision in the study (ask/tell):

- ``StudyBridge`` owns the study and the map from Ray trial ids to Optuna trials. It asks the
  study's sampler for each new trial's params, records every epoch's value as an intermediate
  value, asks the study's pruner whether to stop, and tells the outcome (COMPLETE / PRUNED /
  FAIL) with the trial's user attrs. It also keeps the driver's heartbeats.
- ``OptunaSearcher`` (a Ray Tune ``Searcher``) and ``OptunaPruningScheduler`` (a Ray Tune
  ``TrialScheduler``) are thin adapters that forward Tune's callbacks to the bridge
  (``search.driver.tune_hooks``, with the stopper and the callback that collects checkpoints).

Only the driver process runs this code, so only the driver talks to the database.
"""

from __future__ import annotations

import math
import threading
import logging
from dataclasses import dataclass

import optuna
from optuna.trial import TrialState

from search.space.compiled import CompiledSpace
from search.driver.pruning import VIEW_PRUNERS, PruneGate, PruningView
from search.driver.study_ops import requeue, suggest_params, tell
from search.driver.tracking import NoTracker
from search.driver.uploads import shared_plotly, upload_checkpoint, upload_curve, upload_forecast, write_problem
from search.driver.writer import BatchWriter
from search.pareto import enters_front, metric_names
from storage import count_owned_running, count_trials, ranked_value, retrying, set_trial_user_attrs, start_owned_trial

log = logging.getLogger("search.driver")

FINISHED_STATES = (TrialState.COMPLETE, TrialState.PRUNED)
WAIT = "wait"  # StudyBridge.suggest: start no trial now, ask again when one ends

# Per-epoch result keys kept in the learning-curve artifact, besides epoch and train loss.
CURVE_KEYS = (
    "val_loss", "val_mse", "val_rmse", "val_mae", "val_mape", "val_smape",
    "val_accuracy", "val_cross_entropy", "val_perplexity", "val_bits_per_char",  # tasks classify and text
    "lr", "train_seconds",
)  # fmt: skip

# Result keys copied to the trial's user attrs when it ends.
ATTR_KEYS = (
    "n_params",
    "latency_ms",
    "device",
    "node",
    "train_seconds",
    "trial_seconds",
    "epochs_run",
    "samples_per_second",
    "best_epoch",
    "val_folds",
    "early_stopped",
    "precision",
    "precision_note",
    "interval_method",  # how the trial's intervals were calibrated (search.worker.uncertainty)
    "interval_windows",
    "interval_levels_short",
    "error",
)


@dataclass
class Tally:
    """What this driver has seen in this run."""

    complete: int = 0
    pruned: int = 0
    failed: int = 0
    interrupted: int = 0
    consecutive_failures: int = 0


class StudyBridge:
    def __init__(
        self,
        study: optuna.Study,
        compiled: CompiledSpace,
        target: int,
        *,
        max_consecutive_failures: int = 10,
        on_change=None,
        artifact_store=None,
        tracker=None,
        keep_checkpoints: int = 1,
    ):
        self.study = study
        self.compiled = compiled
        self.target = target  # finished trials (COMPLETE + PRUNED) the study should hold
        self.max_consecutive_failures = max_consecutive_failures
        self.live: dict[str, optuna.trial.Trial] = {}  # Ray trial id -> Optuna trial
        self.pruned: set[str] = set()
        self.failure_reasons: dict[str, str] = {}
        self.tally = Tally()
        self.stop_reason: str | None = None
        self.interrupted = False
        self.timed_out = False  # the run's time budget (--timeout) is spent
        self.exhausted = False
        self.on_change = on_change or (lambda: None)
        self._lock = threading.Lock()
        self._storage = study._storage
        self.artifact_store = artifact_store  # learning curves go here when set
        self.keep_checkpoints = keep_checkpoints  # a trial entering the best K keeps its checkpoint (space key checkpoints.keep)
        self.tracker = tracker or NoTracker()  # MLflow (search.driver.tracking): queued, never waited on
        self.curves: dict[str, list[dict]] = {}  # Ray trial id -> one row per epoch
        self.checkpoints: dict[str, bytes] = {}  # Ray trial id -> best-epoch model (final report)
        self.forecasts: dict[str, str] = {}  # Ray trial id -> its forecast figure's data, JSON (final report)
        # a multi-objective study (its directions): every objective's value told, never pruned
        self.directions = [d.name.lower() for d in study.directions]
        self.multi_objective = len(self.directions) > 1
        self.metric_names = metric_names(study) if self.multi_objective else None
        self.gate = PruneGate(study.pruner)
        # median/percentile: decided in memory (the study's COMPLETE trials, the trial's own values)
        self.view = PruningView(study) if type(study.pruner) in VIEW_PRUNERS else None
        self.values: dict[str, dict[int, float]] = {}  # Ray trial id -> its intermediate values
        self._refreshed = 0.0
        self.writer = BatchWriter(self._storage, after_write=self._refresh_view)  # values and beats, batched
        self.round_left: int | None = None  # trials the current Tune round may still start (None: no bound)
        self._plotly: str | None = None  # the study's plotly.js artifact, which forecast pages load
        self.owner = driver_id()  # the mark on every trial this driver runs (storage.OWNER_KEY)

    # -- counting

    def count(self, *states: TrialState) -> int:
        return retrying(count_trials, self._storage, self.study._study_id, states)

    def finished(self) -> int:
        return self.count(*FINISHED_STATES)

    def remaining(self) -> int:
        """Trials still to start for the study to reach its target, counting the trials running
        here and in other drivers of this service. Another client's running trial (a plain
        ``study.optimize`` on the same study) counts once it has finished: the search never
        waits on a trial it cannot recover."""
        running = retrying(count_owned_running, self._storage, self.study._study_id)
        return max(0, self.target - self.count(*FINISHED_STATES) - running)

    # -- Searcher side

    def start_round(self, trials: int | None) -> None:
        """A Tune round begins: it may start at most ``trials`` trials (None or less than 1: no
        bound); then ``suggest`` answers None and the round ends with its running trials
        (``search.driver.run.ROUND_TRIALS`` says why)."""
        self.round_left = trials if trials is not None and trials > 0 else None

    def suggest(self, ray_id: str) -> dict | str | None:
        """The next trial's config; None: the round starts no more trials; ``WAIT``: not now.
        A new trial waits while the trials running here could make the failures in a row reach
        ``max_consecutive_failures``: the search stops after exactly that many."""
        if self.stop_reason is not None or self.round_left == 0 or self.remaining() <= 0:
            return None
        with self._lock:
            running = len(self.live)
        if running and self.tally.consecutive_failures + running >= self.max_consecutive_failures:
            return WAIT
        sampler = getattr(self.study.sampler, "inner", self.study.sampler)  # TrialSeededSampler: the one it wraps
        if isinstance(sampler, optuna.samplers.GridSampler) and sampler.is_exhausted(self.study):
            self.exhausted = True  # every grid point has run: the search is complete
            return None
        # The trial first, RUNNING and marked as this driver's in one transaction (what
        # ``study.ask()`` does, with the mark), then its params: each step is safe to retry
        # through a database restart. Retrying ``study.ask(distributions)`` as a whole left the
        # half-made trial of a failed attempt RUNNING with no heartbeat, counted as running for
        # ever (a search waiting on it never ended); a marked one is recovered after the grace period.
        trial_id = retrying(start_owned_trial, self._storage, self.study._study_id, self.owner)
        trial = retrying(optuna.Trial, self.study, trial_id)
        with self._lock:
            self.live[ray_id] = trial  # beaten from now on; recorded FAIL if the search stops
        if self.round_left is not None:
            self.round_left -= 1
        self.writer.beat([trial._trial_id])
        retrying(suggest_params, trial, self.compiled.distributions)
        self.tracker.trial_started(trial.number, trial.params)
        self.on_change()
        # "decide": the steps at which the worker waits for the pruner's decision; at every
        # other step it reports and trains on (search.worker.trainable)
        return {"number": trial.number, "config": self.compiled.trial_config(trial.params), "decide": self.gate.decide}

    def complete(self, ray_id: str, result: dict | None, error: bool) -> None:
        """Record a trial Tune reports finished. Nothing raised here may reach Tune (it would
        end the whole search): a failure before the trial is told fails that trial alone."""
        with self._lock:
            trial = self.live.pop(ray_id, None)
        if trial is None:
            return
        try:
            self._complete(ray_id, trial, result or {}, error)
        except Exception as exc:
            reason = f"driver: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"[:500]
            if retrying(self._storage.get_trial, trial._trial_id).state.is_finished():
                log.warning("warning: trial %d: after it was recorded: %s", trial.number, reason)
                return
            log.warning("warning: trial %d failed while being recorded: %s", trial.number, reason)
            self._finish(trial, {"error": reason}, TrialState.FAIL)
            self._count_failure(reason)
            self.on_change()

    def _complete(self, ray_id: str, trial: optuna.trial.Trial, result: dict, error: bool) -> None:
        attrs = {}
        for key in ATTR_KEYS + tuple(k for k in result if k.startswith("test_")):
            value = result.get(key)
            if value is not None and not (isinstance(value, float) and math.isnan(value)):
                attrs[key] = value

        checkpoint = self.checkpoints.pop(ray_id, None)
        forecast = self.forecasts.pop(ray_id, None)
        curve = self.curves.pop(ray_id, None)
        if curve and self.artifact_store is not None:
            artifact_id = upload_curve(self.artifact_store, self._storage, trial, curve)
            if artifact_id is not None:
                attrs["learning_curve"] = artifact_id
        if error or result.get("error"):
            reason = result.get("error") or self.failure_reasons.pop(ray_id, "worker failed")
            attrs["error"] = reason
            if result.get("traceback"):
                attrs["traceback"] = result["traceback"]
            self._finish(trial, attrs, TrialState.FAIL)
            if error:  # the worker died (not the trial's own exception): run its params again
                self.retry(trial)
            self._count_failure(reason)
        elif ray_id in self.pruned:
            self.pruned.discard(ray_id)
            self._finish(trial, attrs, TrialState.PRUNED)
            self.tally.pruned += 1
            self.tally.consecutive_failures = 0
        elif result.get("final"):
            value = self._final_value(result)
            if checkpoint is not None and self.artifact_store is not None and self._keeps(value, self.keep_checkpoints):
                try:
                    attrs.update(upload_checkpoint(self.artifact_store, self._storage, trial, checkpoint))
                except OSError as exc:  # a read-only or full disk: the trial's value stands, without its checkpoint
                    attrs["checkpoint_error"] = write_problem(self.artifact_store, exc)
                    log.warning("warning: trial %d: %s; kept without its checkpoint, the search goes on", trial.number, attrs["checkpoint_error"])
                    checkpoint = forecast = None
                if checkpoint is not None and (self.multi_objective or self.keep_checkpoints == 1 or self._keeps(value, 1)):  # a new best (or on the front): its forecast figure and the tracker's copy too
                    self.tracker.checkpoint(trial.number, checkpoint, f"checkpoint_trial_{trial.number}.safetensors")
                    if forecast is not None:
                        if self._plotly is None:
                            self._plotly = shared_plotly(self.artifact_store, self.study)
                        attrs.update(upload_forecast(self.artifact_store, self._storage, trial, forecast, self._plotly))
            self._finish(trial, attrs, TrialState.COMPLETE, value)
            if self.view is not None:  # median/percentile pruners only: a single objective
                self.view.add(self._frozen(ray_id, trial, TrialState.COMPLETE, value))
            self.tally.complete += 1
            self.tally.consecutive_failures = 0
        else:  # stopped from outside before its last epoch (Ctrl-C, the time budget, shutdown)
            reason = "stopped: time budget spent" if self.timed_out and not self.interrupted else "interrupted"
            self._finish(trial, {**attrs, "error": reason}, TrialState.FAIL)
            self.retry(trial)
            self.tally.interrupted += 1
        self.values.pop(ray_id, None)
        self.on_change()

    def _final_value(self, result: dict) -> float | list[float]:
        """What the study is told for a COMPLETE trial: the best epoch's value, or for a
        multi-objective study the values of every objective (``objective_values``, in order)."""
        if self.multi_objective:
            return [float(v) for v in result["objective_values"]]
        return result["best_objective"]

    def _keeps(self, value: float | list[float], k: int) -> bool:
        """Whether a finished trial keeps its checkpoint. Single objective: ``value`` enters
        the study's best ``k`` COMPLETE trials so far: fewer than ``k`` are complete, or it
        beats or ties the ``k``-th best. A tie is kept too (accuracies tie often), so whichever
        tied trials the study ranks first have a checkpoint. A trial only falls in rank as
        others finish, so each of the study's final best ``k`` kept one. Several objectives:
        whether the trial enters the Pareto front (no COMPLETE trial dominates it), so every
        trial on the final front, the one ``search.load_best`` loads among them, has one."""
        if self.multi_objective:
            return retrying(enters_front, self.study, value, self.directions)
        maximize = self.directions[0] == "maximize"
        kth = retrying(ranked_value, self._storage, self.study._study_id, k, maximize)
        if kth is None:
            return True
        return value >= kth if maximize else value <= kth

    def _finish(self, trial: optuna.trial.Trial, attrs: dict, state: TrialState, value: float | list[float] | None = None) -> None:
        """User attrs (one transaction), then the outcome; retried through a database restart.
        The tracker hears of it after the study holds it."""

        self.writer.flush()  # a finished trial holds every value it reported

        def write() -> None:
            try:
                set_trial_user_attrs(self._storage, trial._trial_id, attrs)
            except optuna.exceptions.UpdateFinishedTrialError:
                return  # an earlier attempt got through before the connection dropped
            try:
                tell(self.study, trial, value if state == TrialState.COMPLETE else None, state)
            except optuna.exceptions.UpdateFinishedTrialError:
                pass  # an earlier attempt got through before the connection dropped

        retrying(write)
        if isinstance(value, list):
            value = dict(zip(self.metric_names, value))
        self.tracker.trial_finished(trial.number, state.name, value, attrs)

    def _count_failure(self, reason: str) -> None:
        self.tally.failed += 1
        self.tally.consecutive_failures += 1
        if self.tally.consecutive_failures >= self.max_consecutive_failures:
            self.stop_reason = f"{self.tally.consecutive_failures} trials failed in a row; last error: {reason}"

    def retry(self, trial: optuna.trial.Trial) -> None:
        """Queue a failed trial's params to run again (up to ``study_ops.MAX_RETRIES`` times)."""
        requeue(self.study, retrying(self._storage.get_trial, trial._trial_id))

    # -- Scheduler side

    def report(self, ray_id: str, result: dict) -> bool:
        """Record one epoch's value; True when the study's pruner says stop."""
        trial = self.live.get(ray_id)
        if trial is None or "epoch" not in result or result.get("error"):
            return False
        value, epoch = result["objective"], int(result["epoch"])
        self.curves.setdefault(ray_id, []).append(
            {k: result[k] for k in ("epoch", "train_loss", *CURVE_KEYS) if k in result}
        )
        values = self.values.setdefault(ray_id, {})
        if epoch not in values:  # as trial.report: a step's first value stands
            # written to the storage directly (Optuna's Trial.report refuses a multi-objective
            # trial; there the first objective's value per epoch is the learning curve, never pruned on)
            values[epoch] = float(value)
            self.writer.add(trial._trial_id, epoch, float(value))  # in the study within one write interval
            cached = getattr(trial, "_cached_frozen_trial", None)  # what trial.should_prune reads, as trial.report keeps it
            if cached is not None:
                cached.intermediate_values[epoch] = float(value)
        self.tracker.epoch(trial.number, epoch, {k: result[k] for k in ("objective", "train_loss", "lr", *CURVE_KEYS) if k in result})
        # the pruner reads the study: only ask it where it can say "prune"
        earlier = [row["epoch"] for row in self.curves[ray_id]]
        if self.gate.may_prune(epoch, earlier, self._n_complete) and self._should_prune(ray_id, trial):
            self.pruned.add(ray_id)
            return True
        return False

    def _n_complete(self) -> int:
        return self.view.n_complete if self.view is not None else self.count(TrialState.COMPLETE)

    def _should_prune(self, ray_id: str, trial: optuna.trial.Trial) -> bool:
        """``trial.should_prune()``. Median/percentile: the pruner's own ``prune`` on the
        in-memory view (``PruningView``) and the trial's values as the study will hold them,
        no storage read. Any other pruner reads the study: the queued values are written first."""
        if self.view is None:
            self.writer.flush()
            return bool(retrying(trial.should_prune))
        return self.view.decide(self.study.pruner, self._frozen(ray_id, trial, TrialState.RUNNING))

    def _frozen(self, ray_id: str, trial: optuna.trial.Trial, state: TrialState, value: float | None = None) -> optuna.trial.FrozenTrial:
        """The trial as the pruner reads it (number, state, value, intermediate values)."""
        return optuna.trial.FrozenTrial(
            number=trial.number, state=state, value=value, datetime_start=None, datetime_complete=None,
            params={}, distributions={}, user_attrs={}, system_attrs={},
            intermediate_values=dict(self.values.get(ray_id, {})), trial_id=trial._trial_id,
        )

    def _refresh_view(self) -> None:
        """Other drivers' COMPLETE trials into the view, at most every 0.2 s (the writer's thread)."""
        import time

        if self.view is not None and time.monotonic() - self._refreshed >= 0.2:
            self._refreshed = time.monotonic()
            self.view.refresh()

    def flush(self) -> None:
        """Every queued value and heartbeat written, other drivers' COMPLETE trials read."""
        self.writer.flush()
        if self.view is not None:
            self.view.refresh()

    def close(self) -> None:
        """Stop the writer after writing what it holds."""
        self.writer.close()

    def report_final(self, ray_id: str, result: dict) -> None:
        """A trial's last result when Tune ended the trial on it (the worker marks its final
        result ``done``) without passing it to the scheduler: recorded like every epoch, the
        pruner asked too (a trial pruned at its last epoch is PRUNED, as in study.optimize)."""
        if not result.get("final") or result.get("error") or "epoch" not in result:
            return
        curve = self.curves.get(ray_id) or [{}]
        if curve[-1].get("epoch") != result["epoch"]:  # not seen by the scheduler
            self.report(ray_id, result)

    # -- stopping

    def interrupt(self) -> None:
        """First Ctrl-C: start no new trial; running ones stop at their next epoch report."""
        self.interrupted = True
        self.stop_reason = self.stop_reason or "interrupted"

    def time_up(self) -> None:
        """The time budget is spent: start no new trial; running ones stop at their next epoch
        report and are recorded as with Ctrl-C (FAIL, their params queued to run again)."""
        self.timed_out = True
        self.stop_reason = self.stop_reason or "time budget spent"

    @property
    def stopping(self) -> bool:
        """Whether running trials stop at their next report (Ctrl-C or the time budget)."""
        return self.interrupted or self.timed_out

    def abandon_live(self, reason: str = "interrupted") -> None:
        """Record every trial still running here as FAIL and queue its params to run again."""
        with self._lock:
            live, self.live = dict(self.live), {}
        for trial in live.values():
            self._finish(trial, {"error": reason}, TrialState.FAIL)
            self.retry(trial)
            self.tally.interrupted += 1

    # -- heartbeats: the driver beats for its running trials

    def beat(self) -> None:
        with self._lock:
            ids = [t._trial_id for t in self.live.values()]
        self.writer.beat(ids)  # with the next batch, one transaction for all


def driver_id() -> str:
    """This driver among all drivers of a study: host, process and a random part."""
    import os
    import socket
    import uuid

    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class HeartbeatThread(threading.Thread):
    def __init__(self, bridge: StudyBridge, interval: float):
        super().__init__(name="search-heartbeat", daemon=True)
        self.bridge, self.interval = bridge, interval
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(self.interval):
            try:
                self.bridge.beat()
            except Exception:  # a missed beat is retried next interval
                pass
