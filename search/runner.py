"""Run a search: space -> study -> Ray Tune trials -> the same study.

``run_search`` validates everything that can be checked before touching the storage (space,
dataset, window sizes), then opens or resumes the study, and runs Ray Tune rounds until the
study holds ``trials`` finished trials (COMPLETE + PRUNED). Re-running the same command
resumes: a finished study starts nothing, an interrupted one runs only the rest.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import shutil
import signal
import threading
import tempfile
import time
import uuid
import warnings
from dataclasses import dataclass
from pathlib import Path

import optuna
from rich.console import Console

import storage as storage_mod
from search import __version__
from search.baselines import baseline_metrics, detect_season
from search.bridge import (
    CheckpointCollector,
    HeartbeatThread,
    InterruptStopper,
    OptunaPruningScheduler,
    OptunaSearcher,
    StudyBridge,
)
from search.compile import CompiledSpace, compile_space
from search.data import SeriesData, check_windows_fit
from search.errors import DataError, StudyMismatchError, UsageError
from search.fork import CONTENT_ATTR, describe_change, fork_for_run
from search.space import Categorical, FloatRange, IntRange, load_space
from search.study_ops import recover_stale_trials
from search.tasks import load_data

# Ray Tune's own per-trial loggers (CSV, JSON, TensorBoard) cost time on every result and the
# study is the record anyway. Must be set before Ray Tune starts an experiment.
os.environ.setdefault("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")
os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")  # with verbose=0: Tune prints nothing
os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")
# Ctrl-C is handled here (see _interruptible), not by Ray Tune, whose handler ends trials
# without telling the searcher, which would leave them RUNNING in the study.
os.environ["TUNE_DISABLE_SIGINT_HANDLER"] = "1"


@dataclass
class Prepared:
    """A space checked and compiled, with its dataset loaded: everything before the storage."""

    compiled: CompiledSpace
    series: SeriesData
    study_name: str
    lookback_max: int  # the longest lookback the space can sample

    def baselines(self) -> dict:
        """Naive and seasonal-naive metrics on the validation and test windows (study attrs);
        tasks classify and text: the majority class or a unigram model (``search.tasks``)."""
        if hasattr(self.series, "task_windows"):
            from search.tasks import baseline_metrics as task_baselines

            return {**self.series.study_attrs(), **task_baselines(self.series, self.lookback_max)}
        data = self.compiled.space.data
        season = data.get("season") or detect_season(self.series)
        attrs = baseline_metrics(self.series, self.lookback_max, data["horizon"], season)
        attrs["season"] = season
        return attrs


def prepare(space_path: str | Path, overrides: list[str] | None = None, study_name: str | None = None) -> Prepared:
    space = load_space(space_path, overrides)
    compiled = compile_space(space)
    lookback = space.data["lookback"]
    lookback_max = {Categorical: lambda s: max(s.choices), IntRange: lambda s: s.high, FloatRange: lambda s: int(s.high)}.get(type(lookback), lambda s: s)(lookback)
    try:
        series = load_data(space.data, source=str(space.path))  # forecast: search.data.load_series
        check_windows_fit(series, int(lookback_max), space.data["horizon"], source=str(space.path))
    except DataError as exc:  # found in the rows: point at the key's line too
        raise DataError([space.locate(p) for p in exc.problems]) from None
    return Prepared(compiled, series, study_name or Path(space_path).stem, int(lookback_max))


def study_attrs(prep: Prepared) -> dict:
    space = prep.compiled.space
    return {
        "space_file": space.path.name,
        "space_hash": prep.compiled.hash,
        "family": prep.compiled.family,
        "dataset": prep.series.info["name"],
        "dataset_rows": prep.series.info["rows"],
        "missing_policy": prep.series.info["missing_policy"],
        "missing_rows": prep.series.info["missing_rows"],
        "split_rows": prep.series.info["split_rows"],
        "metric": prep.compiled.metric,
        "direction": prep.compiled.direction,
        "task": prep.compiled.space.data.get("task", "forecast"),
        "version": __version__,
        CONTENT_ATTR: json.dumps(prep.compiled.content(), sort_keys=True, default=str),
        **prep.baselines(),
    }


def open_study(storage: optuna.storages.BaseStorage, prep: Prepared) -> optuna.Study:
    """Create the study, or load it after checking it was made from the same space."""
    compiled = prep.compiled
    try:
        study = optuna.load_study(study_name=prep.study_name, storage=storage, pruner=compiled.pruner())
        study.sampler = compiled.sampler(seed_offset=len(study.get_trials(deepcopy=False)))
    except KeyError:
        study = optuna.create_study(
            study_name=prep.study_name,
            storage=storage,
            direction=compiled.direction,
            sampler=compiled.sampler(),
            pruner=compiled.pruner(),
            load_if_exists=True,  # another driver may create it at the same moment
        )
        for key, value in study_attrs(prep).items():
            study.set_user_attr(key, value)
        return study
    old_hash = study.user_attrs.get("space_hash")
    direction = study.direction.name.lower()
    if direction != compiled.direction:
        raise StudyMismatchError(
            f"study {prep.study_name!r} optimizes in direction {direction}, the space says {compiled.direction}; "
            "use --study NEW_NAME for a new study"
        )
    if old_hash is not None and old_hash != compiled.hash:
        old_content = study.user_attrs.get(CONTENT_ATTR)
        changed = (
            describe_change(json.loads(old_content), compiled.content())
            if old_content
            else "a range, a fixed value or the sampler/pruner changed, e.g. through --set"
        )
        raise StudyMismatchError(
            f"study {prep.study_name!r} was made from a different space (hash {old_hash}, now {compiled.hash}; changed: {changed}); "
            "run the original space to resume it, add --fork NEW_NAME to continue in a new study seeded with the trials that fit, "
            "or use --study NEW_NAME for an empty one"
        )
    return study


@dataclass
class Summary:
    study: optuna.Study
    storage_url: str
    ran: int  # trials ended in this run
    stop_reason: str | None
    interrupted: bool


def _init_ray(address: str | None, num_cpus: int | None) -> None:
    import ray

    if ray.is_initialized():
        return
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


def _default_workers(cpus: float, gpus: float) -> int:
    """As many concurrent trials as the Ray cluster's resources allow."""
    import ray

    total = ray.cluster_resources()
    n = int(total.get("CPU", 1) // cpus)
    if gpus > 0:
        n = min(n, int(total.get("GPU", 0) // gpus))
    return max(1, n)


@contextlib.contextmanager
def _interruptible(bridge: StudyBridge, console: Console):
    """First Ctrl-C: no new trials, running ones stop at their next epoch and are recorded FAIL
    ('interrupted') so the next run re-runs them. Second Ctrl-C: stop at once."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def first(signum, frame):
        console.print("stopping: no new trials; running trials end at their next epoch (Ctrl-C again to stop at once)", highlight=False)
        bridge.interrupt()
        signal.signal(signal.SIGINT, signal.default_int_handler)

    previous = signal.signal(signal.SIGINT, first)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def experiment_name(study_name: str) -> str:
    """A Tune experiment name no other driver uses. Ray stages driver files under the cluster's
    session directory by name and a timestamp in whole seconds, so drivers that share a cluster
    and start a round in the same second would otherwise write into one directory."""
    return f"{study_name}-{int(time.time())}-{uuid.uuid4().hex[:8]}"


def _tune_round(bridge: StudyBridge, prep: Prepared, cpus: float, gpus: float, workers: int, workdir: str) -> None:
    from ray import tune

    from search.trainable import trainable

    fn = tune.with_parameters(
        trainable, series=prep.series, metric=prep.compiled.metric, direction=prep.compiled.direction, cpus=cpus
    )
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
) -> Summary:
    from search.progress import Progress

    if trials < 1:
        raise UsageError(f"--trials {trials}: must be at least 1")
    if workers is not None and workers < 1:
        raise UsageError(f"--workers {workers}: must be at least 1")
    console = console or Console(stderr=False)
    prep = prepared or prepare(space_path, overrides, study_name)  # everything checked before the storage
    url = storage_url or storage_mod.default_url()
    warning = storage_mod.sqlite_warning(url)
    if warning:
        console.print(f"warning: {warning}", highlight=False)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    rdb = storage_mod.open_storage(url, heartbeat_interval=storage_mod.HEARTBEAT_INTERVAL_S, grace_period=storage_mod.HEARTBEAT_GRACE_S)
    if fork:
        source = prep.study_name
        prep, copied = fork_for_run(rdb, prep, fork, study_attrs(prep))
        if copied is not None and not quiet:
            console.print(f"forked study {fork} from {source}: {copied} finished trials fit this space", highlight=False)
    study = open_study(rdb, prep)
    recover_stale_trials(study)  # trials a dead driver left RUNNING run again

    resources = prep.compiled.space.resources
    bridge = StudyBridge(
        study,
        prep.compiled,
        trials,
        max_consecutive_failures=max_consecutive_failures,
        artifact_store=storage_mod.open_artifact_store(url, artifacts),
    )
    if not quiet:
        console.print(
            f"study [bold]{prep.study_name}[/] on {storage_mod.mask_url(url)}: {prep.compiled.family}, "
            f"{prep.compiled.metric} ({prep.compiled.direction}), sampler {prep.compiled.space.sampler['name']}, "
            f"pruner {prep.compiled.space.pruner['name']}; {bridge.finished()} of {trials} trials finished",
            highlight=False,
        )
    if bridge.remaining() <= 0 and bridge.count(optuna.trial.TrialState.RUNNING) == 0:
        return Summary(study, url, 0, None, False)

    _init_ray(address, num_cpus)
    workers = workers or _default_workers(resources["cpu"], resources["gpu"])
    workdir = tempfile.mkdtemp(prefix="search-tune-")
    heartbeat = HeartbeatThread(bridge, storage_mod.HEARTBEAT_INTERVAL_S)
    heartbeat.start()
    progress = Progress(bridge, console, quiet=quiet)
    bridge.on_change = progress.update
    try:
        with progress, _interruptible(bridge, console):
            while bridge.stop_reason is None and not bridge.exhausted:
                _tune_round(bridge, prep, resources["cpu"], resources["gpu"], workers, workdir)
                if bridge.remaining() <= 0:
                    if bridge.finished() >= trials:
                        break
                    # other drivers' trials are still running: wait for them to end or go stale
                    time.sleep(storage_mod.HEARTBEAT_INTERVAL_S)
                    recover_stale_trials(study)
    except KeyboardInterrupt:
        pass
    finally:
        bridge.abandon_live("interrupted")  # anything Tune did not report back
        heartbeat.stopped.set()
        shutil.rmtree(workdir, ignore_errors=True)
    t = bridge.tally
    stop_reason = None if bridge.interrupted else bridge.stop_reason
    return Summary(study, url, t.complete + t.pruned + t.failed + t.interrupted, stop_reason, bridge.interrupted)


def format_value(value: float | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:.6g}"
