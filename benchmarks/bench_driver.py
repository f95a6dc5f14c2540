"""Driver throughput without training: results per second through one driver and several.

Every trial is a Ray Tune function trainable that does nothing but report a synthetic
learning curve (``--epochs`` values, one every ``--every-ms`` ms; the curve's level is drawn
from the trial's number; the median pruner stops most trials, about 95 % in the measured
runs, since only a trial better than the median of those completed so far finishes, and that
median falls as the search goes on) through the
project's real searcher, scheduler and bridge (``search.driver.tune_hooks``,
``search.driver.bridge``) into a real study, as ``run_search`` wires them. The Ray runtime has
more logical CPUs (``--num-cpus``, default 128) than the machine has cores, so dozens of
trials run at once: a few dozen trials reporting every few milliseconds load the driver as a
thousand workers at 30 epochs a minute do.

Each configuration runs ``--seconds`` in a fresh process of its own (its own local Ray
runtime) for ``--seconds`` after every trial slot has reported once (the actors have started);
figures are taken from ``--warm`` seconds after that moment to the end:

- results/s: results the driver's scheduler handled (every epoch of every trial);
- report -> decision: from the worker's ``tune.report`` (a timestamp in the result) to the
  scheduler's answer (the intermediate value handled and, where the pruner may prune, its
  decision), p50 and p99;
- study lag: results the driver had handled but the study did not yet hold, sampled every
  0.5 s by a reader of its own (median and max), also in ms at the measured rate;
- driver CPU (fraction of one core) and resident memory (MiB, at the end);
- pruning: the trials pruned and the decisions made.

Configurations: SQLite (a WAL file) and PostgreSQL (``--postgres URL`` to an empty database
you can write to, else a throwaway server started like the tests' own, ``tests/_postgres.py``)
with ``--trials`` concurrent trials each (default 16,32,64; quick 16,32), then 2 and 4 drivers
at once on one PostgreSQL study (each driver its own Ray runtime and the first ``--trials``
figure's trial slots: the same per-driver load as the one-driver row it is compared with).
Baseline in the same run: plain Optuna in one process (``trial.report`` + ``trial.should_prune``
each result, no Ray, no sleep) on the same storage: the round-trip ceiling of one process.

    python benchmarks/bench_driver.py [--quick] [--trials 16,32,64] [--seconds 40] [--postgres URL]
        [--drivers 2,4] [--memory-alone 10000] [--memory-trials 10000 --memory-seconds 600] [--memory-only]

Driver memory from trial 1,000 to trial N (target <= 1.2x at N = 10,000), each on a new SQLite
study, read at every mark: the driver's RSS, its anonymous part (RssAnon) and the blocks
Python's allocator holds; then a window of trials traced by tracemalloc (allocated in the
window and still alive at its end, per trial, by file and line: what grows, and whose it is).
Tracing slows a process several times over, so no reading is taken while it traces.

- ``--memory-alone N``: the driver's own components without Ray (``StudyBridge.suggest``,
  ``report``, ``report_final``, ``complete`` called in one thread as Tune's controller calls
  them; the space's random sampler and median pruner, the pruning view, the batched writer,
  the heartbeat thread), 32 trials of 5 results at once, read every 1,000 trials, then 500
  trials more traced. 10,000 trials take about 6 minutes on the 2-core machine.
- ``--memory-trials N``: the full stack through Ray Tune (its controller keeps a ``Trial``
  object per trial), ``--memory-slots`` trials at once (default 8) on a Ray runtime of as many
  logical CPUs (with more, Tune starts an actor per trial instead of reusing them), 1-ms
  epochs, until N trials finish or
  ``--memory-seconds`` pass (default 600), read every N/20 trials, traced from
  ``--memory-trace-from`` (default 4N/5). Through Ray on 2 cores a few trials finish a second.

``--memory-only`` skips the throughput rows.

Targets (issue #18): >= 500 results/s through one driver on PostgreSQL with p99 report ->
decision <= 50 ms; 4 drivers >= 3x one driver.
"""

from __future__ import annotations

import argparse
import math
import multiprocessing
import os
import statistics
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import _common

REPO = Path(__file__).resolve().parent.parent


def make_space(folder: Path, epochs: int) -> Path:
    _common.write_series(folder / "series.csv", 200)
    return _common.write_space(folder, "driver", _common.tiny_space(epochs=epochs, pruner_startup=5, stat_baselines=False))


def synthetic_results(number: int, epochs: int, every_s: float = 0.0) -> Iterator[dict]:
    """The results of a synthetic trial: a decaying curve whose level comes from the trial
    number, one result every ``every_s``; the last marked final and ``done`` (as
    ``search.worker.trainable`` marks it), with the attrs a finished trial reports."""
    import random

    rng = random.Random(number)
    level = 1.0 + rng.random()
    best = math.inf
    started = time.perf_counter()
    for epoch in range(1, epochs + 1):
        if every_s:
            time.sleep(every_s)
        value = level + math.exp(-epoch / 3.0) + 0.01 * rng.random()
        best = min(best, value)
        result = {"epoch": epoch, "objective": value, "reported_at": time.time()}
        if epoch == epochs:
            result.update(final=True, best_objective=best, done=True, epochs_run=epochs, trial_seconds=time.perf_counter() - started)
        yield result


def synthetic_trial(config: dict, *, epochs: int, every_s: float, acks: str | None = None) -> None:
    """A Ray Tune trial that only reports ``synthetic_results``. With ``acks`` (a folder), each
    result the driver answered is appended to a file there (``trial number, epoch, value``),
    so a test can tell what the workers were told."""
    from ray import tune

    number = int(config["number"])
    ack = open(os.path.join(acks, f"{os.getpid()}.acks"), "a", buffering=1) if acks else None
    for result in synthetic_results(number, epochs, every_s):
        tune.report(result)  # returns once the driver has handled it
        if ack is not None:
            ack.write(f"{number},{result['epoch']},{result['objective']!r}\n")


# -- one driver: the real bridge on a real study, a Tune round with the synthetic trainable


def driver(
    space: str, url: str, trials: int, seconds: float, epochs: int, every_ms: float, num_cpus: int, study_name: str,
    target: int = 10**9, acks: str | None = None, watch: Callable[[int], None] | None = None, round_trials: int | None = None,
) -> dict:
    """Run one driver for ``seconds`` (or until ``target`` trials finish); returns its figures.
    ``watch`` is called with the count of finished trials whenever the bridge changes;
    ``round_trials``: the most trials a Tune round starts (``tune_rounds``)."""
    import logging

    import optuna
    import ray
    from ray import tune

    import storage as storage_mod
    from search.driver import reaper
    from search.driver.bridge import HeartbeatThread, StudyBridge
    from search.driver.prepare import prepare
    from search.driver.run import experiment_name
    from search.driver.study import open_study
    from search.driver.tune_hooks import InterruptStopper, OptunaPruningScheduler, OptunaSearcher

    os.environ.setdefault("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # workers need not import benchmarks/
    ray.init(address="local", num_cpus=num_cpus, include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR)
    reaper.start(os.getpid())  # the runtime ends with this driver, even one killed with SIGKILL (as run_search's)
    prep = prepare(space, study_name=study_name)
    rdb = storage_mod.open_storage(url)
    study = open_study(rdb, prep, None)
    bridge = StudyBridge(study, prep.compiled, target)
    if watch is not None:
        bridge.on_change = lambda: watch(bridge.tally.complete + bridge.tally.pruned)

    handled: list[tuple[float, float]] = []  # (time handled, latency s)
    slots: set[str] = set()
    warm = threading.Event()  # every trial slot has reported once (the actors have started)
    warmed_at: list[float] = []

    def seen(trial_id: str, result: dict) -> None:
        now = time.time()
        handled.append((now, now - result["reported_at"]))
        slots.add(trial_id)
        if len(slots) >= trials and not warm.is_set():
            warmed_at.append(now)
            warm.set()

    bridge.seen = seen  # the scheduler is pickled by Tune without its bridge: the readings stay here

    class Timed(OptunaPruningScheduler):
        def on_trial_result(self, controller, trial, result):
            decision = super().on_trial_result(controller, trial, result)
            self.bridge.seen(trial.trial_id, result)
            return decision

        def on_trial_complete(self, controller, trial, result):
            seen = (self.bridge.curves.get(trial.trial_id) or [{}])[-1].get("epoch")
            super().on_trial_complete(controller, trial, result)
            if result and "reported_at" in result and seen != result.get("epoch"):  # handled here, not before
                self.bridge.seen(trial.trial_id, result)

    stored_samples: list[tuple[float, int, int]] = []  # (time, handled, stored)
    stop = threading.Event()

    def watch_lag() -> None:
        import sqlalchemy

        engine = sqlalchemy.create_engine(url)
        query = sqlalchemy.text(
            "SELECT count(*) FROM trial_intermediate_values v JOIN trials t ON t.trial_id = v.trial_id WHERE t.study_id = :s"
        )
        while not stop.wait(0.5):
            try:
                with engine.connect() as conn:
                    n = int(conn.execute(query, {"s": study._study_id}).scalar_one())
            except Exception:  # noqa: BLE001 - a missed sample
                continue
            stored_samples.append((time.time(), len(handled), n))
        engine.dispose()

    def stop_after() -> None:
        warm.wait(600)
        if not stop.wait(seconds):
            bridge.interrupt()

    watcher = threading.Thread(target=watch_lag, daemon=True)
    timer = threading.Thread(target=stop_after, daemon=True)
    heartbeat = HeartbeatThread(bridge, storage_mod.HEARTBEAT_INTERVAL_S)
    fn = tune.with_parameters(synthetic_trial, epochs=epochs, every_s=every_ms / 1000, acks=acks)

    def make_tuner():
        return tune.Tuner(
            tune.with_resources(fn, {"cpu": 1}),
            tune_config=tune.TuneConfig(
                search_alg=OptunaSearcher(bridge), scheduler=Timed(bridge), num_samples=-1, max_concurrent_trials=trials, reuse_actors=True
            ),
            run_config=tune.RunConfig(
                name=experiment_name(study_name), storage_path=_common.scratch_folder("bench-driver-tune-").as_posix(), verbose=0,
                failure_config=tune.FailureConfig(max_failures=0), stop=InterruptStopper(bridge),
                checkpoint_config=tune.CheckpointConfig(checkpoint_at_end=False),
            ),
        )

    rss_start = _rss_mib()
    cpu0, wall0 = time.process_time(), time.time()
    watcher.start()
    timer.start()
    heartbeat.start()
    tune_rounds(bridge, make_tuner, round_trials)
    bridge.abandon_live("interrupted")
    close = getattr(bridge, "close", None)  # the queued writes, where the bridge batches them
    if close is not None:
        close()
    stop.set()
    heartbeat.stopped.set()
    cpu1, wall1 = time.process_time(), time.time()
    watcher.join()
    ray.shutdown()
    t = bridge.tally
    return {
        "handled": handled, "slots": len(slots), "stored": stored_samples, "cpu": cpu1 - cpu0, "wall": wall1 - wall0,
        "t0": warmed_at[0] if warmed_at else wall0, "rss_mib": _rss_mib(), "rss_start_mib": rss_start, "pruned": t.pruned, "complete": t.complete,
        "interrupted": t.interrupted,
    }


def tune_rounds(bridge, make_tuner, round_trials: int | None) -> int:
    """Tune rounds as ``search.driver.run`` runs them: each a new Tuner (``make_tuner()``) that
    starts at most ``round_trials`` trials (None: ``search.driver.run.ROUND_TRIALS``; 0: no
    bound, one round), until the bridge has no trial left to start; how many rounds ran."""
    import warnings

    from search.driver import run

    bound = run.ROUND_TRIALS if round_trials is None else round_trials
    bound = bound if bound and bound > 0 else None
    start_round = getattr(bridge, "start_round", None)  # code from before rounds: one round
    rounds = 0
    while True:
        if start_round is not None:
            start_round(bound)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            make_tuner().fit()
        rounds += 1
        if start_round is None or bound is None or bridge.stop_reason is not None or bridge.remaining() <= 0:
            return rounds


def _rss_mib(field: str = "VmRSS") -> float:
    """This process's resident memory in MiB (``field`` of /proc/self/status: VmRSS, or its
    parts RssAnon, the heap and other private memory, and RssFile, mapped files)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) / 1024
    return math.nan


def figures(runs: list[dict], warm_s: float) -> dict:
    """Figures of one configuration (one run per driver), between the warm-up and the end."""
    start = max(r["t0"] for r in runs) + warm_s
    end = min(max(h[0] for h in r["handled"]) for r in runs if r["handled"])
    lat = sorted(l for r in runs for (t, l) in r["handled"] if start <= t <= end)
    rate = len(lat) / max(end - start, 1e-9)
    # the study's rows against the results handled, one driver only (others' rows would count too)
    lag = [h - s for (t, h, s) in runs[0]["stored"] if start <= t <= end] if len(runs) == 1 else []
    return {
        "rate": rate,
        "p50": _q(lat, 0.5) * 1e3,
        "p99": _q(lat, 0.99) * 1e3,
        "lag_med": statistics.median(lag) if lag else math.nan,
        "lag_max": max(lag) if lag else math.nan,
        "cpu": sum(r["cpu"] / r["wall"] for r in runs) / len(runs),
        "cpu_ms": sum(r["cpu"] for r in runs) / max(sum(len(r["handled"]) for r in runs), 1) * 1e3,
        "rss": max(r["rss_mib"] for r in runs),
        "pruned": sum(r["pruned"] for r in runs),
        "finished": sum(r["pruned"] + r["complete"] for r in runs),
        "slots": sum(r["slots"] for r in runs),
    }


def _q(values: list[float], q: float) -> float:
    if not values:
        return math.nan
    return values[min(len(values) - 1, int(q * len(values)))]


# -- the bridge alone: no Ray, no Tune, the same calls Tune makes


def bridge_only(url: str, slots: int, seconds: float, epochs: int, study_name: str) -> dict:
    """``StudyBridge.report`` and ``complete`` called in one thread as Tune's controller calls
    them, for ``slots`` trials in turn (each ``epochs`` results): what the driver's own code
    and the storage cost per result, without Ray's share."""
    import random

    import optuna

    import storage as storage_mod
    from search.driver.bridge import StudyBridge

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    rdb = storage_mod.open_storage(url)
    study = optuna.create_study(
        storage=rdb, study_name=study_name, sampler=optuna.samplers.RandomSampler(seed=0),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=1), load_if_exists=True,
    )
    bridge = StudyBridge(study, compiled=None, target=10**9)
    running: dict[str, list] = {}
    made = results = 0
    lat: list[float] = []
    deadline = time.perf_counter() + seconds
    started, cpu0 = time.perf_counter(), time.process_time()
    while time.perf_counter() < deadline:
        while len(running) < slots:
            ray_id = f"b{made}"
            trial = study.ask()
            bridge.live[ray_id] = trial
            if hasattr(bridge, "writer"):  # its first heartbeat, as StudyBridge.suggest records it
                bridge.writer.beat([trial._trial_id])
            else:  # code from before the batched writes
                rdb.record_heartbeat(trial._trial_id)
            rng = random.Random(trial.number)
            running[ray_id] = [0, 1.0 + rng.random(), rng, math.inf]
            made += 1
        for ray_id in list(running):
            run = running[ray_id]
            run[0] += 1
            value = run[1] + math.exp(-run[0] / 3.0) + 0.01 * run[2].random()
            run[3] = min(run[3], value)
            t = time.perf_counter()
            pruned = bridge.report(ray_id, {"epoch": run[0], "objective": value})
            lat.append(time.perf_counter() - t)
            results += 1
            if pruned or run[0] == epochs:
                del running[ray_id]
                bridge.complete(ray_id, {"final": not pruned, "best_objective": run[3]}, error=False)
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu0
    close = getattr(bridge, "close", None)
    if close is not None:
        close()
    lat.sort()
    return {"rate": results / wall, "cpu_ms": cpu / max(results, 1) * 1e3, "p50": _q(lat, 0.5) * 1e3, "p99": _q(lat, 0.99) * 1e3}


# -- the baseline: plain Optuna in one process, as fast as the storage answers


def plain_optuna(url: str, seconds: float, epochs: int, study_name: str) -> dict:
    import random

    import optuna

    import storage as storage_mod

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    rdb = storage_mod.open_storage(url)
    study = optuna.create_study(
        storage=rdb, study_name=study_name, sampler=optuna.samplers.RandomSampler(seed=0),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=1), load_if_exists=True,
    )
    done = [0]
    lat: list[float] = []
    deadline = time.perf_counter() + seconds

    def objective(trial: optuna.Trial) -> float:
        trial.suggest_float("lr", 1e-3, 1e-2, log=True)
        rng = random.Random(trial.number)
        level, best = 1.0 + rng.random(), math.inf
        for epoch in range(1, epochs + 1):
            value = level + math.exp(-epoch / 3.0) + 0.01 * rng.random()
            best = min(best, value)
            t = time.perf_counter()
            trial.report(value, epoch)
            prune = trial.should_prune()
            lat.append(time.perf_counter() - t)
            done[0] += 1
            if prune:
                raise optuna.TrialPruned
        return best

    started, cpu0 = time.perf_counter(), time.process_time()
    study.optimize(objective, callbacks=[lambda s, t: s.stop() if time.perf_counter() > deadline else None])
    wall = time.perf_counter() - started
    cpu = time.process_time() - cpu0
    lat.sort()
    return {"rate": done[0] / wall, "cpu_ms": cpu / max(done[0], 1) * 1e3, "p50": _q(lat, 0.5) * 1e3, "p99": _q(lat, 0.99) * 1e3, "results": done[0]}


# -- PostgreSQL: a URL given, or a throwaway server like the tests' own


class Databases:
    def __init__(self, postgres: str | None, folder: Path):
        self.folder, self.server, self.base = folder, None, postgres
        self.n = 0

    def sqlite(self) -> str:
        self.n += 1
        return _common.sqlite_url(self.folder / f"driver{self.n}.db")

    def postgres(self) -> str | None:
        self.n += 1
        if self.base is not None:
            return self.base  # one database: every configuration its own study name
        if self.server is None:
            sys.path.insert(0, str(REPO))
            from tests._postgres import start_server

            self.server = start_server()
            if self.server is None:
                return None
        return self.server.create_database(f"driver{self.n}")

    def close(self) -> None:
        if self.server is not None:
            self.server.cleanup()


def run_config(pool_ctx, space: Path, url: str, drivers: int, trials: int, args, name: str) -> list[dict]:
    """``drivers`` driver processes at once on one study, each with ``trials`` trial slots."""
    import optuna

    import storage as storage_mod
    from search.driver.prepare import prepare
    from search.driver.study import open_study

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    open_study(storage_mod.open_storage(url), prepare(space, study_name=name), None)  # created once, before the drivers
    pools = [ProcessPoolExecutor(1, mp_context=pool_ctx) for _ in range(drivers)]
    try:
        futures = [
            p.submit(driver, str(space), url, trials, args.seconds, args.epochs, args.every_ms, args.num_cpus, name) for p in pools
        ]
        return [f.result() for f in futures]
    finally:
        for p in pools:
            p.shutdown()


# -- driver memory: what grows with every trial


class MemoryWatch:
    """The driver process's memory as its trials finish.

    At each chosen count of finished trials (the marks): its RSS, the anonymous part of it
    (RssAnon: heap and other private memory, without mapped files) in MiB, and the blocks
    Python's allocator holds (``sys.getallocatedblocks``: cheap, and unmoved by how the C
    allocator keeps its arenas). From ``trace_from`` finished trials on, tracemalloc traces
    every allocation; ``close`` then gives the traced size (what was allocated since and is
    still alive) per trial, and the files and lines that allocated it. Tracing slows the process
    several times over and its own tables take memory, so no reading is taken once it traces:
    run past the last mark to trace."""

    def __init__(self, marks: Iterable[int], trace_from: int):
        import tracemalloc

        self.marks = set(marks)
        self.trace_from = trace_from
        self.readings: dict[int, tuple[float, float, int]] = {}
        self.started = time.perf_counter()
        self.seconds: dict[int, float] = {}  # seconds from the start to each reading
        self._tm = tracemalloc
        self._traced_from: int | None = None

    def __call__(self, finished: int) -> None:
        if self._traced_from is not None:
            return
        if finished in self.marks and finished not in self.readings:
            self.readings[finished] = (_rss_mib(), _rss_mib("RssAnon"), sys.getallocatedblocks())
            self.seconds[finished] = time.perf_counter() - self.started
        if finished >= self.trace_from:
            self._traced_from = finished
            self._tm.start()

    def close(self, finished: int, top: int = 12) -> dict:
        """The readings, and what the trials since ``trace_from`` left allocated: bytes per
        trial, and the ``top`` files and lines by size, as text rows; tracing stopped."""
        out: dict = {"readings": dict(sorted(self.readings.items())), "seconds": self.seconds, "traced": None, "growth": []}
        if self._traced_from is None:
            return out
        snapshot = self._tm.take_snapshot().filter_traces([tracemalloc_filter(self._tm)])
        trials = max(finished - self._traced_from, 1)
        size = sum(stat.size for stat in snapshot.statistics("filename"))
        out["traced"] = (self._traced_from, finished, size / trials)
        for key in ("filename", "lineno"):
            for stat in snapshot.statistics(key)[:top]:
                frame = stat.traceback[0]
                where = "/".join(Path(frame.filename).parts[-3:]) + (f":{frame.lineno}" if key == "lineno" else "")
                out["growth"].append(f"{stat.size / 2**20:7.2f} MiB {stat.size / trials:7.0f} B/trial {stat.count:8d} blocks  {where}")
            out["growth"].append("")
        self._tm.stop()
        return out


def tracemalloc_filter(tm):
    """Leaves out tracemalloc's own allocations (its snapshots)."""
    return tm.Filter(False, tm.__file__)


def memory_alone(space: str, url: str, n: int, slots: int, every: int, window: int = 500) -> dict:
    """The driver's own components for ``n`` trials, without Ray: ``StudyBridge.suggest``,
    ``report``, ``report_final`` and ``complete`` called as Tune's controller calls them
    (``slots`` trials running, their ``synthetic_results`` in turn, a pruned trial completed on
    its last result), with the space's sampler and pruner, the pruning view, the batched
    writer, the heartbeat thread and a real study. Memory read every ``every`` trials; then
    ``window`` trials more, traced."""
    import optuna

    import storage as storage_mod
    from search.driver.bridge import HeartbeatThread, StudyBridge
    from search.driver.prepare import prepare
    from search.driver.study import open_study

    watch = MemoryWatch(range(every, n + 1, every), trace_from=n)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    prep = prepare(space, study_name="memory-alone")
    bridge = StudyBridge(open_study(storage_mod.open_storage(url), prep, None), prep.compiled, n + window)
    heartbeat = HeartbeatThread(bridge, storage_mod.HEARTBEAT_INTERVAL_S)
    heartbeat.start()
    running: dict[str, Iterator[dict]] = {}
    made, started = 0, time.perf_counter()
    while True:
        while len(running) < slots and (config := bridge.suggest(f"m{made}")) is not None:
            running[f"m{made}"] = synthetic_results(config["number"], prep.compiled.space.train["epochs"])
            made += 1
        if not running:
            break
        for ray_id, results in list(running.items()):
            result = next(results)
            if result.get("done"):  # Tune ends the trial on it: the scheduler's on_trial_complete, then the searcher's
                bridge.report_final(ray_id, result)
            elif not bridge.report(ray_id, result):
                continue
            bridge.complete(ray_id, result, error=False)
            del running[ray_id]
            watch(bridge.tally.complete + bridge.tally.pruned)
    heartbeat.stopped.set()
    bridge.close()
    out = watch.close(bridge.tally.complete + bridge.tally.pruned)
    return {**out, "wall": time.perf_counter() - started, "pruned": bridge.tally.pruned}


def memory_ray(space: str, url: str, n: int, seconds: float, slots: int, every: int, trace_from: int, round_trials: int | None) -> dict:
    """The full stack (Ray Tune's controller, searcher, scheduler, bridge, study) until ``n``
    trials finish or ``seconds`` pass, ``slots`` trials at once (1-ms epochs) on a Ray runtime
    of as many CPUs, in Tune rounds of ``round_trials`` (``tune_rounds``). Memory read every
    ``every`` trials, traced from ``trace_from`` on."""
    watch = MemoryWatch(range(every, n + 1, every), trace_from=trace_from)
    out = driver(space, url, slots, seconds, 5, 1.0, slots, "memory", target=n, watch=watch, round_trials=round_trials)
    finished = out["complete"] + out["pruned"]
    return {**watch.close(finished), "wall": out["wall"], "pruned": out["pruned"]}


def memory_lines(title: str, m: dict) -> list[str]:
    """The readings as text, each against the first at or after trial 1,000 (else the
    first), with the growth per trial from there to the last; then the traced window."""
    readings = m["readings"]
    lines = [f"   {title}: {m['wall']:.0f} s, {m['pruned']:,} pruned"]
    if len(readings) >= 2:
        base = next((k for k in readings if k >= 1000), next(iter(readings)))
        lines.append("   finished trials  seconds   RSS MiB  RssAnon MiB  Python blocks")
        lines += [f"   {k:>15,} {m['seconds'][k]:8.0f} {r:9.1f} {a:12.1f} {b:14,}" for k, (r, a, b) in readings.items()]
        last = max(readings)
        (r0, a0, b0), (r1, a1, b1), trials = readings[base], readings[last], max(last - base, 1)
        lines.append(
            f"   trial {base:,} -> {last:,}: RSS {r1 / r0:.3f}x ({(r1 - r0) * 2**20 / trials:+,.0f} B/trial), RssAnon {a1 / a0:.3f}x "
            f"({(a1 - a0) * 2**20 / trials:+,.0f} B/trial), Python blocks {b1 / b0:.3f}x ({(b1 - b0) / trials:+.1f}/trial)"
        )
    else:
        lines.append(f"   too few readings: {readings}")
    if m["traced"] is not None:
        first, last, per_trial = m["traced"]
        lines.append(f"   traced from trial {first:,} to {last:,}: {per_trial:,.0f} B/trial still allocated at the end; by file, then by line:")
        lines += ["   " + g for g in m["growth"]]
    return lines


def memory_rows(ctx, space: Path, dbs: Databases, args) -> None:
    """``--memory-alone`` and ``--memory-trials``: each in a fresh process of its own, on a new
    SQLite study; printed as they end."""
    if args.memory_alone:
        with ProcessPoolExecutor(1, mp_context=ctx) as pool:
            m = pool.submit(memory_alone, str(space), dbs.sqlite(), args.memory_alone, 32, 1000).result()
        print("\n".join(memory_lines(f"the driver's components alone, no Ray, {args.memory_alone:,} trials of {args.epochs} results (load {_common.load()})", m)), flush=True)
    if args.memory_trials:
        every = max(args.memory_trials // 20, 50)
        trace_from = args.memory_trace_from or args.memory_trials * 4 // 5
        with ProcessPoolExecutor(1, mp_context=ctx) as pool:
            m = pool.submit(memory_ray, str(space), dbs.sqlite(), args.memory_trials, args.memory_seconds, args.memory_slots, every, trace_from, args.round_trials).result()
        rounds = "one Tune round" if args.round_trials == 0 else f"Tune rounds of {args.round_trials or 'search.driver.run.ROUND_TRIALS'} trials"
        print("\n".join(memory_lines(f"the full stack through Ray Tune, {args.memory_slots} trials at once, 1-ms epochs, {rounds} (load {_common.load()})", m)), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="16 and 32 trials, 20 s each, 2 and 4 drivers at 16 (a few minutes)")
    parser.add_argument("--trials", help="concurrent trials per driver, comma-separated (default 16,32,64; quick 16,32)")
    parser.add_argument("--seconds", type=float, help="seconds per configuration (default 40; quick 20)")
    parser.add_argument("--warm", type=float, default=2.0, help="seconds left out once every slot has reported (default 2)")
    parser.add_argument("--epochs", type=int, default=5, help="results per trial (default 5)")
    parser.add_argument("--every-ms", type=float, default=5.0, help="ms between a trial's results (default 5)")
    parser.add_argument("--num-cpus", type=int, default=128, help="logical CPUs of each driver's Ray runtime (default 128)")
    parser.add_argument("--drivers", default="2,4", help="driver counts on one PostgreSQL study (default 2,4; 0 for none)")
    parser.add_argument("--postgres", metavar="URL", help="an empty PostgreSQL database (default: start a throwaway server)")
    parser.add_argument("--no-sqlite", action="store_true", help="PostgreSQL rows only")
    parser.add_argument("--bridge-only", action="store_true", help="the plain Optuna and bridge-alone rows only (no Ray)")
    parser.add_argument("--memory-trials", type=int, default=0, help="also: the full stack's driver memory up to this trial, through Ray (SQLite)")
    parser.add_argument("--memory-seconds", type=float, default=600, help="--memory-trials stops after this many seconds (default 600)")
    parser.add_argument("--memory-slots", type=int, default=8, help="--memory-trials: trials at once (default 8)")
    parser.add_argument("--memory-trace-from", type=int, default=0, help="--memory-trials: trace allocations from this trial on (default: 4/5 of --memory-trials)")
    parser.add_argument("--round-trials", type=int, help="the most trials a Tune round starts (default: search.driver.run.ROUND_TRIALS; 0: one round)")
    parser.add_argument("--memory-alone", type=int, default=0, help="also: the driver's own components' memory up to this trial, without Ray (SQLite)")
    parser.add_argument("--memory-only", action="store_true", help="the memory runs only, no throughput rows")
    args = parser.parse_args()
    sizes = [int(x) for x in (args.trials or ("16,32" if args.quick else "16,32,64")).split(",")]
    args.seconds = args.seconds or (20.0 if args.quick else 40.0)
    warm = args.warm
    multi = [int(x) for x in args.drivers.split(",") if int(x) > 1]
    folder = _common.scratch_folder("bench-driver-")
    space = make_space(folder, args.epochs)
    ctx = multiprocessing.get_context("spawn")
    dbs = Databases(args.postgres, folder)
    _common.header(
        "bench_driver: results through the driver (searcher, scheduler, bridge, study), no training",
        f"{args.epochs} results per trial, one every {args.every_ms:g} ms, median pruner (5 start-up, warm-up 1); "
        f"{args.seconds:g} s per row once every slot has reported, its first {warm:g} s left out; Ray runtime of {args.num_cpus} logical CPUs per driver",
    )
    rows, base = [], {}
    try:
        backends = [] if args.memory_only else ([] if args.no_sqlite else ["sqlite"]) + ["postgresql"]
        for backend in backends:
            url = dbs.sqlite() if backend == "sqlite" else dbs.postgres()
            if url is None:
                print("   PostgreSQL: no server binaries and no --postgres URL: rows left out")
                continue
            with ProcessPoolExecutor(1, mp_context=ctx) as pool:
                plain = pool.submit(plain_optuna, url, min(args.seconds, 10.0), args.epochs, "plain").result()
            base[backend] = plain["rate"]
            rows.append([f"{backend}: plain Optuna, 1 process (baseline)", f"{plain['rate']:.0f}", "1.00", f"{plain['p50']:.1f}", f"{plain['p99']:.1f}", "", "", f"{plain['cpu_ms']:.2f}", "", ""])
            _done(rows)
            with ProcessPoolExecutor(1, mp_context=ctx) as pool:
                alone = pool.submit(bridge_only, url, sizes[0], min(args.seconds, 10.0), args.epochs, "bridge").result()
            rows.append([f"{backend}: the bridge alone, {sizes[0]} trials, no Ray", f"{alone['rate']:.0f}", f"{alone['rate'] / plain['rate']:.2f}", f"{alone['p50']:.1f}", f"{alone['p99']:.1f}", "", "", f"{alone['cpu_ms']:.2f}", "", ""])
            _done(rows)
            if args.bridge_only:
                continue
            one = {}
            for n in sizes:
                f = figures(run_config(ctx, space, url, 1, n, args, f"d1-{n}"), warm)
                one[n] = f["rate"]
                rows.append(_row(f"{backend}: 1 driver, {n} trials", f, plain["rate"]))
                _done(rows)
            if backend == "postgresql":
                for k in multi:
                    n = sizes[0]
                    f = figures(run_config(ctx, space, url, k, n, args, f"d{k}-{n}"), warm)
                    rows.append(_row(f"{backend}: {k} drivers x {n} trials, one study", f, plain["rate"], f" ({f['rate'] / one[n]:.2f}x 1 driver)"))
                    _done(rows)
        memory_rows(ctx, space, dbs, args)
    finally:
        dbs.close()
    if not rows:
        _common.footer()
        return
    print()
    print(_common.table(["", "results/s", "x plain", "p50 ms", "p99 ms", "lag med/max", "driver CPU", "CPU ms/result", "RSS MiB", "pruned/finished"], rows))
    print(
        """
   results/s: results handled by the driver(s) per second after the warm-up (every epoch of every trial);
   x plain: against plain Optuna in one process on the same storage (trial.report + trial.should_prune, no Ray).
   the bridge alone: StudyBridge.report/complete called in one thread as Tune calls them (the driver's own code and
   the storage, without Ray's share of the driver).
   p50/p99 ms: worker's tune.report -> the scheduler's answer (for plain Optuna: report + should_prune; for the bridge
   alone: one report call).
   lag: results handled but not yet in the study (sampled every 0.5 s; several drivers: summed).
   driver CPU: fraction of one core (mean over drivers); CPU ms/result: the driver's CPU over every result it handled
   (steadier than rates when other jobs share the machine). Targets: >= 500 results/s on PostgreSQL, p99 <= 50 ms;
   4 drivers >= 3x one."""
    )
    _common.footer()


def _done(rows: list) -> None:
    """Each row as soon as it is measured (a long run cut short keeps what it measured)."""
    print(f"   done ({_common.load()}): " + " | ".join(str(c) for c in rows[-1]), flush=True)


def _row(label: str, f: dict, plain_rate: float, extra: str = "") -> list:
    return [
        label + extra, f"{f['rate']:.0f}", f"{f['rate'] / plain_rate:.2f}", f"{f['p50']:.1f}", f"{f['p99']:.1f}",
        "–" if math.isnan(f["lag_med"]) else f"{f['lag_med']:.0f}/{f['lag_max']:.0f}", f"{f['cpu']:.2f}", f"{f['cpu_ms']:.2f}", f"{f['rss']:.0f}", f"{f['pruned']}/{f['finished']}",
    ]


if __name__ == "__main__":
    main()
