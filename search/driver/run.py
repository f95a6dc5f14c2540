"""Run a search: space -> study -> Ray Tune trials -> the same study.

``run_search`` validates everything that can be checked before touching the storage (space,
dataset, window sizes), then opens or resumes the study, and runs Ray Tune rounds until the
study holds ``trials`` finished trials (COMPLETE + PRUNED). Re-running the same command
resumes: a finished study starts nothing, an interrupted one runs only the rest.
"""

from __future__ import annotations

import logging
import math
import os
import re
import shutil
import tempfile
import threading
import time
import uuid
import warnings
from dataclasses import dataclass
from pathlib import Path

import optuna
from rich.console import Console

import storage as storage_mod
from search._environ import is_secret, withheld
from search.driver.bridge import HeartbeatThread, StudyBridge
from search.driver.fork import fork_for_run
from search.driver import reaper
from search.driver.signals import StopSignals
from search.driver.prepare import Prepared, prepare
from search.driver.recorded import as_recorded
from search.driver.study import open_study, study_attrs
from search.driver.stat_runs import BaselineRuns
from search.driver.study_ops import recover_stale_trials
from search.driver.tracking import ENV as TRACKING_ENV
from search.driver.tracking import MlflowTracker, NoTracker, tracking_uri
from search.driver.tune_hooks import CheckpointCollector, InterruptStopper, OptunaPruningScheduler, OptunaSearcher, silent_reporter
from search.errors import UsageError
from search.store import open_storage, storage_errors

# Ray Tune's own per-trial loggers (CSV, JSON, TensorBoard) cost time on every result and the
# study is the record anyway. Must be set before Ray Tune starts an experiment.
os.environ.setdefault("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")
os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")  # with verbose=0: Tune prints nothing
os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")
# Ctrl-C is handled here (see StopSignals), not by Ray Tune, whose handler ends trials
# without telling the searcher, which would leave them RUNNING in the study.
os.environ["TUNE_DISABLE_SIGINT_HANDLER"] = "1"

# The most trials one Tune round starts. Ray Tune's controller keeps every trial of its round
# in the driver's memory (the Trial object, statistics of each result's metrics, its state
# cached as JSON): about 80 KB a trial (benchmarks/bench_driver.py --memory-trials: in one
# round the driver grew 1.22 times from trial 1,000 to 2,500, on course for 2.3 times by
# 10,000). A longer search runs in rounds of this many trials, each a new Tuner whose trials
# are freed when it ends (1.10 times from trial 1,000 to 3,500 in rounds of 1,000). A round's
# start costs the workers' start (seconds), once per this many trials. 0: one round.
ROUND_TRIALS = int(os.environ.get("SEARCH_ROUND_TRIALS", "1000"))


@dataclass
class Summary:
    study: optuna.Study
    storage_url: str
    ran: int  # trials ended in this run
    stop_reason: str | None
    interrupted: bool
    timed_out: bool = False  # the time budget was spent before the study held its trials
    tracked: tuple[str, str] | None = None  # (MLflow tracking URI, the parent run's id) when logged there


def _init_ray(address: str | None, num_cpus: int | None) -> None:
    import ray

    if ray.is_initialized():
        return
    import ray._private.utils as ray_utils

    own = ray_utils.set_sigterm_handler
    ray_utils.set_sigterm_handler = lambda handler: None  # SIGTERM is the driver's (search.driver.signals), while Ray starts too
    try:
        with withheld():  # Ray's processes (the GCS, the raylet, every worker) start without the driver's credentials
            _ray_init(address, num_cpus)
    finally:
        ray_utils.set_sigterm_handler = own
    _keep_from_tune()  # nor does Tune copy them into its trainables' runtime environment
    if not address:
        reaper.start(os.getpid())  # the runtime ends with this driver, even one killed with SIGKILL


def _keep_from_tune() -> None:
    """Ray Tune copies some of the driver's variables (``AWS_ACCESS_KEY_ID``,
    ``AWS_SECRET_ACCESS_KEY``, ``AWS_SESSION_TOKEN``, ...) into each trainable's runtime
    environment, from the driver's ``os.environ`` at the moment it starts the trainable; the
    driver's own credentials are taken off that list (``ray.tune.execution.class_cache``)."""
    try:
        from ray.tune.execution import class_cache
    except ImportError:  # another Ray: its workers' environments are checked by the tests
        return
    names = getattr(class_cache, "ENV_VARS_TO_PROPAGATE", None)
    if names is not None:
        class_cache.ENV_VARS_TO_PROPAGATE = {n for n in names if not is_secret(n)}


def _ray_init(address: str | None, num_cpus: int | None) -> None:
    import ray

    ray.init(
        # "local": without --address always start a runtime of our own, never silently join a
        # cluster that happens to run on this machine.
        address=address or "local",
        num_cpus=None if address else num_cpus,
        include_dashboard=False,
        log_to_driver=False,
        logging_level=logging.ERROR,
        configure_logging=True,
    )


class _RayLog(logging.FileHandler):
    """Ray's and Ray Tune's own log records, in a file; the first error among them (a failed
    worker's traceback, say) prints one line on the terminal naming the file."""

    def __init__(self, path: Path, tell):
        storage_mod.make_private_folders(path.parent)  # the logs folder, in the private artifact folder
        super().__init__(path, encoding="utf-8", delay=True)
        self.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        self.tell = tell
        self.told = False

    def handleError(self, record: logging.LogRecord) -> None:  # noqa: N802 - logging's name
        """A log file that cannot be written (a full disk) loses the record, never the search."""

    def _open(self):
        return storage_mod.open_private(self.baseFilename, self.mode, encoding=self.encoding, errors=self.errors)

    def emit(self, record: logging.LogRecord) -> None:
        super().emit(record)
        if record.levelno >= logging.ERROR and not self.told:
            self.told = True
            self.tell(f"ray: Ray's own messages (tracebacks of failed workers) are in {self.baseFilename}")


def _ray_log_to(path: Path, console: Console) -> _RayLog:
    """Send the ``ray`` loggers' records to ``path`` instead of the terminal (their stream
    handlers removed); called before each Tune round, since Ray may set its handlers again."""
    handler = next((h for h in logging.getLogger("ray").handlers if isinstance(h, _RayLog)), None)
    if handler is None:
        handler = _RayLog(path, lambda line: console.print(line, highlight=False, markup=False))
    names = ["ray"] + [n for n in list(logging.Logger.manager.loggerDict) if n.startswith("ray.")]
    for name in names:
        logger = logging.getLogger(name)
        for old in [h for h in logger.handlers if type(h) is not _RayLog and isinstance(h, logging.StreamHandler) and not isinstance(h, logging.FileHandler)]:
            logger.removeHandler(old)
        if (name == "ray" or not logger.propagate) and handler not in logger.handlers:
            logger.addHandler(handler)
    _raylet_messages_to_log()
    return handler


def _raylet_messages_to_log() -> None:
    """Ray prints the raylet's error messages ("A worker died or was killed ...", one long
    line per failure) to stdout from a thread of its own, through
    ``ray._private.worker.print_to_stdstream``, which with ``log_to_driver=False`` serves
    nothing else: they become records of the ``ray`` logger (and so land in the log file)."""
    try:
        import ray._private.worker as ray_worker
    except ImportError:
        return
    if getattr(ray_worker.print_to_stdstream, "_to_log", False):
        return

    def to_log(data, ignore_prefix=False):
        for line in data.get("lines", ()):
            logging.getLogger("ray").error("(%s) %s", data.get("pid", "ray"), line)

    to_log._to_log = True
    ray_worker.print_to_stdstream = to_log


def _default_workers(cpus: float, gpus: float) -> int:
    """As many concurrent trials as the Ray cluster's resources allow."""
    import ray

    total = ray.cluster_resources()
    n = int(total.get("CPU", 1) // cpus)
    if gpus > 0:
        n = min(n, int(total.get("GPU", 0) // gpus))
    return max(1, n)


def experiment_name(study_name: str) -> str:
    """A Tune experiment name no other driver uses. Ray stages driver files under the cluster's
    session directory by name and a timestamp in whole seconds, so drivers that share a cluster
    and start a round in the same second would otherwise write into one directory."""
    plain = re.sub(r"[^A-Za-z0-9._-]+", "_", study_name).lstrip(".")[:64] or "study"  # a folder name, never a path
    return f"{plain}-{int(time.time())}-{uuid.uuid4().hex[:8]}"


def _trainable(prep: Prepared, cpus: float):
    """The trial function with the prepared series in Ray's object store. Made once per run
    and used by every round: each ``tune.with_parameters`` puts its objects in the store and
    keeps them there for as long as Ray runs."""
    from ray import tune

    from search.worker.trainable import trainable

    return tune.with_parameters(
        trainable, series=prep.series, metric=prep.compiled.metric, direction=prep.compiled.direction, cpus=cpus,
        objectives=tuple(prep.compiled.metrics) if prep.compiled.multi_objective else (),
    )  # fmt: skip


def _tune_round(bridge: StudyBridge, prep: Prepared, fn, cpus: float, gpus: float, workers: int, workdir: str) -> None:
    """One Tune round: trials until the searcher has none left to start (the study's target
    reached, the round's ``ROUND_TRIALS``, a stop), then until the running ones end."""
    from ray import tune

    bridge.start_round(ROUND_TRIALS)
    tuner = tune.Tuner(
        tune.with_resources(fn, {"cpu": cpus, "gpu": gpus}),
        tune_config=tune.TuneConfig(
            search_alg=OptunaSearcher(bridge),
            scheduler=OptunaPruningScheduler(bridge),
            num_samples=-1,
            max_concurrent_trials=workers,
            reuse_actors=True,
        ),
        run_config=tune.RunConfig(
            name=experiment_name(prep.study_name),
            storage_path=workdir,
            verbose=0,
            progress_reporter=silent_reporter(),  # progress is the service's own, in a notebook too
            failure_config=tune.FailureConfig(max_failures=0),
            stop=InterruptStopper(bridge),
            callbacks=[CheckpointCollector(bridge)],
            checkpoint_config=tune.CheckpointConfig(checkpoint_at_end=False),
        ),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tuner.fit()


def run_search(
    space_path: str | Path,
    *,
    trials: int,
    storage_url: str | None = None,
    study_name: str | None = None,
    overrides: list[str] | None = None,
    workers: int | None = None,
    address: str | None = None,
    num_cpus: int | None = None,
    console: Console | None = None,
    quiet: bool = False,
    prepared: Prepared | None = None,
    max_consecutive_failures: int = 10,
    artifacts: str | None = None,
    fork: str | None = None,
    mlflow: str | None = None,
    timeout: float | None = None,
) -> Summary:
    """``timeout``: seconds after which no new trial starts; running trials stop at their next
    epoch report and are recorded as with Ctrl-C, to run again on resume (None: no budget)."""
    if trials < 1:
        raise UsageError(f"--trials {trials}: must be at least 1")
    if timeout is not None and not (isinstance(timeout, (int, float)) and not isinstance(timeout, bool) and timeout > 0 and math.isfinite(timeout)):
        raise UsageError(f"--timeout {timeout}: must be a number of seconds > 0")
    if workers is not None and workers < 1:
        raise UsageError(f"--workers {workers}: must be at least 1")
    console = console or Console(stderr=False)
    prep = prepared or prepare(space_path, overrides, study_name)  # everything checked before the storage
    tracker = _tracker(mlflow, prep.compiled.space.tracking.get("mlflow"), console, prep.compiled.space.path)
    url = storage_url or storage_mod.default_url()
    with storage_errors():
        storage_mod.check_url(url)  # before the artifact folder is made beside it
    artifact_store = _artifact_store(url, artifacts)
    location = storage_mod.artifact_location(url, artifacts)  # recorded on a new study
    prep, study = _open_study(url, prep, fork, console, quiet, location)
    bridge = StudyBridge(
        study,
        prep.compiled,
        trials,
        max_consecutive_failures=max_consecutive_failures,
        artifact_store=artifact_store,
        keep_checkpoints=prep.compiled.space.checkpoints["keep"],
    )
    if not quiet:
        console.print(
            f"study [bold]{prep.study_name}[/] on {storage_mod.mask_url(url)}: {prep.compiled.family}, "
            f"{prep.compiled.objective_text()}, sampler {prep.compiled.space.sampler['name']}, "
            f"pruner {prep.compiled.space.pruner['name']}; {bridge.finished()} of {trials} trials finished"
            + (f"; {prep.decision.describe()}" if prep.decision.chosen else ""),
            highlight=False,
        )
    if bridge.remaining() <= 0 and bridge.count(optuna.trial.TrialState.RUNNING) == 0:
        _baselines_only(study, prep, address, num_cpus, console, quiet)  # what an earlier run left missing
        return Summary(study, url, 0, None, False)

    with StopSignals(console) as stop:
        try:
            _init_ray(address, num_cpus)
        except (SystemExit, KeyboardInterrupt):  # Ray's own SIGTERM handler, set while it starts
            stop.requested = True
        stop.install()  # Ray replaced SIGTERM's handler (and its C++ core would print a stack)
        stop.bridge = bridge
        if stop.requested:  # asked to stop while starting: no trial starts
            bridge.interrupt()
            return Summary(study, url, 0, None, True)
        resources = prep.compiled.space.resources
        workers = workers or _default_workers(resources["cpu"], resources["gpu"])
        baselines = BaselineRuns.for_study(study, prep.series, prep.compiled.space.data)
        if baselines is not None:
            baselines.start(float(resources["cpu"]) * workers)  # beside the trials: no trial slot waits for it
        log = storage_mod.log_dir(url, artifacts) / f"{prep.study_name}-ray.log"
        bridge.tracker = tracker
        tracker.start(prep.study_name, {"space_file": prep.compiled.space.path.name, "space_hash": prep.compiled.hash, "storage": storage_mod.mask_url(url), "metric": prep.compiled.metric})
        try:
            _run_rounds(bridge, prep, workers, console, quiet, log, stop, timeout, baselines)
        finally:
            if baselines is not None and not baselines.done:
                baselines.stop("the search was interrupted" if bridge.interrupted else "the search stopped")
            tracker.close("KILLED" if bridge.interrupted else "FINISHED")
    t = bridge.tally
    stop_reason = None if bridge.stopping else bridge.stop_reason
    tracked = (tracker.uri, tracker.parent) if getattr(tracker, "parent", None) and not tracker.failed else None
    return Summary(study, url, t.complete + t.pruned + t.failed + t.interrupted, stop_reason, bridge.interrupted, bridge.timed_out and not bridge.interrupted, tracked)


def _baselines_only(study: optuna.Study, prep: Prepared, address: str | None, num_cpus: int | None, console: Console, quiet: bool) -> None:
    """A study with its trials done but statistical baselines missing (a run stopped before
    they finished, a study made when they could be skipped): compute those, waited for."""
    runs = BaselineRuns.for_study(study, prep.series, prep.compiled.space.data)
    if runs is None:
        return
    _init_ray(address, num_cpus)
    if not quiet:
        console.print(f"the trials are done; computing the statistical baselines the study lacks: {', '.join(runs.labels())}", highlight=False)
    runs.start(0.0)
    try:
        runs.wait()
    except KeyboardInterrupt:
        pass


def _tracker(flag: str | None, space_value: str | None, console: Console, space_file: object = "the space"):
    """The MLflow tracker the search logs to (``search.driver.tracking``), or none. Asked for by
    ``--mlflow`` or the space without mlflow installed: one line, before the storage is opened;
    by ``$MLFLOW_TRACKING_URI`` alone: a warning, and the search goes on untracked."""
    import importlib.util

    uri = tracking_uri(flag, space_value, space_file)
    if uri is None:
        return NoTracker()
    if importlib.util.find_spec("mlflow") is None:
        where = "--mlflow" if flag else "tracking.mlflow" if space_value else f"${TRACKING_ENV}"
        message = f"{where} {storage_mod.mask_url(uri)}: MLflow tracking needs mlflow; pip install 'sequence-search[mlflow]'"
        if flag or space_value:
            raise UsageError(message)
        console.print(f"warning: {message}; the search goes on without tracking", highlight=False)
        return NoTracker()
    return MlflowTracker(uri, lambda line: console.print(f"warning: {line}", highlight=False, soft_wrap=True))


def _artifact_store(url: str, artifacts: str | None):
    """The artifact store (its folder made), before the storage is opened: a folder that
    cannot be made is one line naming ``--artifacts`` and leaves the storage untouched."""
    try:
        store = storage_mod.open_artifact_store(url, artifacts)
    except storage_mod.ObjectStoreError as exc:
        raise UsageError(f"--artifacts {exc}") from None
    except OSError as exc:
        where = storage_mod.artifact_dir(url, artifacts)
        raise UsageError(f"--artifacts {where}: cannot make the artifact folder: {exc.strerror or exc}; give --artifacts a writable folder") from None
    folder = getattr(store, "_base_path", None)
    if folder is not None:
        try:  # a folder that exists on a read-only disk: refused now, not at the first checkpoint
            with tempfile.TemporaryFile(dir=folder):
                pass
        except OSError as exc:
            raise UsageError(f"--artifacts {folder}: cannot write to the artifact folder: {exc.strerror or exc}; give --artifacts a writable folder") from None
    return store


def _open_study(url: str, prep: Prepared, fork: str | None, console: Console, quiet: bool, artifacts: str) -> tuple[Prepared, optuna.Study]:
    """Open the storage and the study (forked into ``fork`` when asked), with the trials a dead
    driver left RUNNING put back to run again."""
    warning = storage_mod.sqlite_warning(url)
    if warning:
        console.print(f"warning: {warning}", highlight=False)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    rdb = open_storage(url, heartbeat_interval=storage_mod.HEARTBEAT_INTERVAL_S, grace_period=storage_mod.HEARTBEAT_GRACE_S)
    if fork:
        source = prep.study_name
        prep, copied = fork_for_run(rdb, prep, fork, {**study_attrs(prep), "artifacts": artifacts})
        if copied is not None and not quiet:
            console.print(f"forked study {fork} from {source}: {copied} finished trials fit this space", highlight=False)
    study = open_study(rdb, prep, artifacts)
    prep = as_recorded(study, prep)
    recover_stale_trials(study)
    return prep, study


def _run_rounds(bridge: StudyBridge, prep: Prepared, workers: int, console: Console, quiet: bool, log: Path, stop: StopSignals, timeout: float | None = None, baselines: BaselineRuns | None = None) -> None:
    """Tune rounds until the study holds its trials, the search stops (failures in a row, an
    exhausted grid) or Ctrl-C; with heartbeats and progress throughout, and Ray's own log
    records in ``log``. The statistical baselines (``baselines``, running beside the trials)
    are then waited for, the wait shown."""
    from search.driver.progress import Progress

    resources = prep.compiled.space.resources
    workdir = tempfile.mkdtemp(prefix="search-tune-")
    heartbeat = HeartbeatThread(bridge, storage_mod.HEARTBEAT_INTERVAL_S)
    heartbeat.start()
    progress = Progress(bridge, console, quiet=quiet, baselines=baselines)
    bridge.on_change = progress.update
    if baselines is not None:
        baselines.on_change = progress.baseline_done
    fn = _trainable(prep, resources["cpu"])
    budget = threading.Timer(timeout, bridge.time_up) if timeout else None  # --timeout: as Optuna's optimize(timeout=)
    if budget is not None:
        budget.daemon = True
        budget.start()
    try:
        with progress:
            while bridge.stop_reason is None and not bridge.exhausted:
                _ray_log_to(log, console)
                stop.install()  # Ray may set its own handlers again as a round starts
                _tune_round(bridge, prep, fn, resources["cpu"], resources["gpu"], workers, workdir)
                if bridge.remaining() <= 0:
                    if bridge.finished() >= bridge.target:
                        break
                    # other drivers' trials are still running: wait for them to end or go stale
                    time.sleep(storage_mod.HEARTBEAT_INTERVAL_S)
                    recover_stale_trials(bridge.study)
            if baselines is not None and not baselines.done and not bridge.interrupted and not bridge.timed_out:
                baselines.wait(progress.waiting, lambda: bridge.interrupted)  # the study ends with its baselines recorded
    except KeyboardInterrupt:
        pass
    finally:
        if budget is not None:
            budget.cancel()
        bridge.abandon_live("interrupted")  # anything Tune did not report back
        bridge.close()  # the queued values written
        heartbeat.stopped.set()
        shutil.rmtree(workdir, ignore_errors=True)
