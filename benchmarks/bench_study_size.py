"""Driver overhead per trial as the study grows: 100, 1,000 and 5,000 finished trials.

A study is seeded with finished trials (``optuna.trial.create_trial`` + ``study.add_trials``):
params and per-epoch values taken from a dozen real unpruned runs of the space (run_trial in
this process) with a little noise, 2 of 3 COMPLETE after all 5 epochs, 1 of 3 PRUNED after 2,
and the user attrs the project writes for every trial. The space is
bench_overhead's trivial one (LSTM "4", lookback 4, 200 rows, 5 epochs, random sampler,
median pruner), so a trial costs little besides its bookkeeping; the study is created with
``search.driver.run.open_study``, as run_search creates it.

Then ``run_search`` runs ``--more`` further trials on that study (2 workers). The figures are
per trial, between the moments the 2nd and the last of them finish (start-up excluded, and
only a few dozen trials added to the seeded size): wall ms, and the driver's CPU ms (the
driver does all the study's reads and writes). Ratio: against the 100-trial study. For
comparison, plain Optuna (``study.optimize`` in one process, the same storage settings,
the same training through run_trial) runs the same number of trials on the same seeded study.
"fixed s" is the rest of a run_search call: opening a study of that size and Ray's actors.

SQLite: each run works on a fresh copy of the seeded file. PostgreSQL (``--postgres URL``, an
empty database you can write to): each size is seeded once as its own study and the repeats
add to it (a few dozen trials on top of the seeded size).

    python benchmarks/bench_study_size.py [--quick] [--sizes 100,1000,5000] [--postgres URL]

Target: <= 1.5x the 100-trial figure at 5,000 trials. Quick mode: 100 and 1,000 only.
"""

from __future__ import annotations

import argparse
import multiprocessing
import random
import shutil
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import _common
import bench_overhead

ATTRS = {"n_params": 113, "device": "cpu", "node": "bench/00000000", "train_seconds": 0.02, "samples_per_second": 30000.0, "early_stopped": False}


def sample_curves(prep, n: int, rng: random.Random) -> list[tuple[dict, list[float]]]:
    """``n`` real (params, per-epoch objective) pairs of this space: run_trial in this process,
    unpruned. Seeded trials reuse them, so new trials meet a realistic pruner."""
    import torch

    from search.worker.train import run_trial

    torch.set_num_threads(1)
    compiled = prep.compiled
    curves = []
    for _ in range(n):
        params = {name: _draw(d, rng) for name, d in compiled.distributions.items()}
        results: list[dict] = []
        run_trial(compiled.trial_config(params), prep.series, compiled.metric, results.append, direction=compiled.direction)
        curves.append((params, [r["objective"] for r in results if "epoch" in r]))
    return curves


def seed_trials(study, distributions: dict, curves: list[tuple[dict, list[float]]], n: int, rng: random.Random) -> None:
    """``n`` finished trials, each a sampled curve with a little noise: 2 of 3 COMPLETE after
    every epoch, 1 of 3 PRUNED after 2; with the user attrs the project writes."""
    import optuna
    from optuna.trial import TrialState

    trials = []
    for i in range(n):
        params, curve = rng.choice(curves)
        pruned = i % 3 == 2
        epochs = min(2, len(curve)) if pruned else len(curve)
        values = {epoch + 1: curve[epoch] * (1 + 0.02 * rng.gauss(0, 1)) for epoch in range(epochs)}
        best_epoch = min(values, key=values.get)
        trials.append(
            optuna.trial.create_trial(
                state=TrialState.PRUNED if pruned else TrialState.COMPLETE,
                value=None if pruned else values[best_epoch],
                params=params,
                distributions=distributions,
                intermediate_values=values,
                user_attrs={**ATTRS, "epochs_run": epochs, "best_epoch": best_epoch},
            )
        )
    study.add_trials(trials)


def _draw(distribution, rng: random.Random):
    """A value of an Optuna distribution (uniform, or log-uniform where ``log``)."""
    import math

    import optuna.distributions as d

    if isinstance(distribution, d.CategoricalDistribution):
        return rng.choice(distribution.choices)
    low, high, step = distribution.low, distribution.high, distribution.step
    if step is not None:  # int ranges always have one (1 by default)
        value = low + step * rng.randint(0, int((high - low) // step))
        return int(value) if isinstance(distribution, d.IntDistribution) else value
    if distribution.log:
        return math.exp(rng.uniform(math.log(low), math.log(high)))
    return rng.uniform(low, high)


def finished_count(url: str, study_name: str) -> int:
    import optuna

    import storage
    from search.driver.bridge import FINISHED_STATES

    rdb = storage.open_storage(url)
    try:
        return len(optuna.load_study(study_name=study_name, storage=rdb).get_trials(deepcopy=False, states=FINISHED_STATES))
    finally:
        rdb.engine.dispose()


def seed_study(space: Path, url: str, size: int, study_name: str, curves) -> float:
    """Create the study as run_search would and seed it; returns the seconds it took."""
    import optuna

    import storage
    from search.driver.prepare import prepare
    from search.driver.study import open_study

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    started = time.perf_counter()
    prep = prepare(space, study_name=study_name)
    rdb = storage.open_storage(url)
    study = open_study(rdb, prep)
    seed_trials(study, prep.compiled.distributions, curves, size, random.Random(size))
    rdb.engine.dispose()  # SQLite: the last connection closed folds the WAL into the file
    return time.perf_counter() - started


def plain(space: str, url: str, study_name: str, more: int) -> dict:
    """Plain Optuna (child process): ``more`` trials on the seeded study, per-trial figures."""
    import optuna
    import torch

    import storage
    from search.driver.prepare import prepare

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    torch.set_num_threads(1)
    prep = prepare(space, study_name=study_name)
    compiled = prep.compiled
    study = optuna.load_study(study_name=study_name, storage=storage.open_storage(url), sampler=compiled.sampler(), pruner=compiled.pruner())
    marks = _common.Marks(2, more, lambda: (time.process_time(), time.process_time()))
    finished = iter(range(1, more + 1))
    study.optimize(bench_overhead.make_objective(prep), n_trials=more, callbacks=[lambda study, trial: marks.seen(next(finished))])
    return marks.per_trial()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="sizes 100 and 1,000, 2 repeats (about 2 minutes)")
    parser.add_argument("--sizes", help="comma-separated study sizes (default 100,1000,5000; quick 100,1000)")
    parser.add_argument("--more", type=int, default=20, help="trials run_search adds per run (default 20)")
    parser.add_argument("--repeats", type=int, help="repeats per size (default 3; quick 2)")
    parser.add_argument("--workers", type=int, default=2, help="concurrent project trials (default 2)")
    parser.add_argument("--postgres", metavar="URL", help="also measure on this PostgreSQL database (postgresql+psycopg://...)")
    parser.add_argument("--num-cpus", type=int, default=2, help="CPUs of the local Ray runtime (default 2)")
    args = parser.parse_args()
    sizes = [int(s) for s in (args.sizes or ("100,1000" if args.quick else "100,1000,5000")).split(",")]
    repeats = args.repeats or (2 if args.quick else 3)
    if args.more < 4:
        parser.error("--more must be at least 4")

    import storage

    _common.header(
        "bench_study_size: driver overhead per trial vs finished trials already in the study",
        f"sizes {', '.join(f'{s:,}' for s in sizes)}; {args.more} more trials per run, {repeats} repeats; "
        f"project workers={args.workers}; trivial space (bench_overhead), random sampler, median pruner",
    )
    folder = _common.scratch_folder("bench-size-")
    space = bench_overhead.make_space(folder)
    from search.driver.prepare import prepare

    curves = sample_curves(prepare(space), 12, random.Random(0))
    backends = ["sqlite"] + (["postgresql"] if args.postgres else [])
    seeded: dict[tuple[str, int], str] = {}  # (backend, size) -> URL of the seeded study
    for backend in backends:
        for size in sizes:
            if backend == "sqlite":
                url = _common.sqlite_url(folder / f"seed{size}.db")
            else:
                url = args.postgres
            seconds = seed_study(space, url, size, f"size{size}", curves)
            seeded[backend, size] = url
            print(f"   seeded {size:,} trials on {backend} in {seconds:.1f} s", flush=True)

    pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))
    pool.submit(time.sleep, 0).result()  # the child's start-up, before timing
    _common.start_ray(args.num_cpus)
    counter = iter(range(1_000_000))

    def working_copy(backend: str, size: int) -> str:
        """SQLite: a fresh copy of the seeded file; PostgreSQL: the seeded study itself."""
        url = seeded[backend, size]
        if backend != "sqlite":
            return url
        copy = folder / f"run{next(counter)}.db"
        shutil.copy(storage.sqlite_path(url), copy)
        return _common.sqlite_url(copy)

    results: dict[tuple[str, int], dict[str, list]] = {}
    for r in range(repeats):
        for backend in backends:
            for size in sizes if r % 2 == 0 else reversed(sizes):
                entry = results.setdefault((backend, size), {"project": [], "plain": [], "fixed": []})
                marks = _common.Marks(2, args.more, _common.tree_cpu_seconds)
                url = working_copy(backend, size)
                before = finished_count(url, f"size{size}")
                if before < size:
                    print(f"   warning: the {backend} study of size {size:,} holds only {before:,} finished trials", flush=True)
                target = before + args.more
                _, seconds = _common.run_project(space, url, target, args.workers, marks, study_name=f"size{size}", artifacts=str(folder / "artifacts"))
                entry["project"].append(marks.per_trial())
                entry["fixed"].append(seconds - args.more * marks.per_trial()["wall"])
                entry["plain"].append(pool.submit(plain, str(space), working_copy(backend, size), f"size{size}", args.more).result())
        print(f"   repeat {r + 1}/{repeats} done (load {_common.load()})", flush=True)
    pool.shutdown()

    def med(backend: str, size: int, who: str, field: str) -> float:
        return _common.median([x[field] for x in results[backend, size][who]])

    for backend in backends:
        base = sizes[0]
        rows = []
        for size in sizes:
            rows.append([
                f"{size:,}",
                f"{med(backend, size, 'project', 'wall') * 1e3:.0f}",
                f"{med(backend, size, 'project', 'wall') / med(backend, base, 'project', 'wall'):.2f}",
                f"{med(backend, size, 'project', 'driver_cpu') * 1e3:.0f}",
                f"{med(backend, size, 'project', 'driver_cpu') / med(backend, base, 'project', 'driver_cpu'):.2f}",
                f"{med(backend, size, 'plain', 'wall') * 1e3:.0f}",
                f"{med(backend, size, 'plain', 'wall') / med(backend, base, 'plain', 'wall'):.2f}",
                f"{_common.median(results[backend, size]['fixed']):.1f}",
            ])
        print(f"\n{backend}:")
        print(_common.table(
            ["finished trials", "project ms/trial", "ratio", "driver CPU ms", "ratio", "plain Optuna ms/trial", "ratio", "fixed s"], rows
        ))
    print(
        f"\n   ms/trial: in-run, between the 2nd and the {args.more}th of the added trials, median of {repeats}; ratios against "
        f"{sizes[0]:,} trials.\n   plain Optuna: study.optimize in one process on the same storage settings. "
        f"Target: project <= 1.5x at 5,000 trials."
    )
    _common.footer()


if __name__ == "__main__":
    main()
