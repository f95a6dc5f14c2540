"""Orchestration overhead per trial: the whole stack against plain Optuna, same training work.

Every row trains the same trivial model (LSTM "4", lookback 4, a 200-row synthetic series,
5 epochs, batch 64) through ``search.worker.train.run_trial``, with the same sampler (random, seed 0)
and pruner (median); each epoch's value is reported to the study and the pruner asked:

- project: ``search.driver.run.run_search`` -- Ray Tune with the project's searcher/scheduler pair,
  ``--workers`` concurrent trials (default 2, actors reused), its storage (SQLite WAL,
  heartbeats), the user attrs and learning-curve artifact it writes for every trial;
- baseline: plain ``optuna`` ``study.optimize`` in one process on a default SQLite file
  (``sqlite:///...``), the objective calling ``run_trial`` with ``trial.report`` /
  ``trial.should_prune`` (1 torch thread, as a project worker has);
- also shown: the same plain loop on the project's storage (``storage.open_storage``: WAL,
  synchronous=NORMAL, heartbeats), which separates storage settings from orchestration, and
  on Optuna's in-memory storage (training plus Optuna's own logic, no database).

The main figure is the MARGINAL wall-clock cost of one more trial: each row runs N1 and N2
trials into fresh studies, ``(t(N2) - t(N1)) / (N2 - N1)``; Ray's start-up, the Tuner's actor
start-up and the study's creation cancel out. The "in-run" figures come from the N2 run alone,
between the moments its N1-th and N2-th trials finish: wall ms, CPU ms of every process
involved (the project's driver, Ray's daemons and workers, read from /proc) and the driver's
CPU ms, per trial. All are medians over ``--repeats`` interleaved repeats. The plain runs
happen in child processes (the project's storage registers a process-wide SQLite hook that
would otherwise change the "plain" baseline).

    python benchmarks/bench_overhead.py [--quick] [--n1 10 --n2 50] [--repeats 5] [--workers 2] [--compare-with DIR]

``--compare-with DIR`` adds a row for another version of the code (a folder holding its
``search/``, ``storage/`` and ``models/``, e.g. ``git worktree add ../base HEAD~1``), run in the
same interleaved repeats; both project rows then run in child processes with a Ray runtime each.

Reference (a quiet 2-core machine): plain Optuna 36-51 ms per trial; Ray Tune's stock
OptunaSearch ~1,020-1,060 ms by default, 35-58 ms with reuse_actors=True and
TUNE_DISABLE_AUTO_CALLBACK_LOGGERS=1. Target: project <= 1.25x plain Optuna.
"""

from __future__ import annotations

import argparse
import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import _common



def make_space(folder: Path, rows: int = 200) -> Path:
    _common.write_series(folder / "series.csv", rows)
    return _common.write_space(folder, "trivial", _common.tiny_space(epochs=5, pruner_startup=2))


# -- baseline: plain Optuna in one process (runs in a child process, see the docstring)


class _Pruned(Exception):
    """Raised from the report callback to stop run_trial, as Ray stops a pruned trial."""


def suggest(trial, name: str, distribution):
    """The public ``suggest_*`` call for one of the compiled space's distributions."""
    import optuna.distributions as d

    if isinstance(distribution, d.FloatDistribution):
        return trial.suggest_float(name, distribution.low, distribution.high, log=distribution.log, step=distribution.step)
    if isinstance(distribution, d.IntDistribution):
        return trial.suggest_int(name, distribution.low, distribution.high, log=distribution.log, step=distribution.step)
    return trial.suggest_categorical(name, distribution.choices)


def make_objective(prep):
    """The plain-Optuna objective: ``run_trial`` on the trial's params, each epoch's value
    reported with ``trial.report`` and the pruner asked with ``trial.should_prune``."""
    import optuna

    from search.worker.train import run_trial

    compiled = prep.compiled

    def objective(trial: optuna.Trial) -> float:
        params = {name: suggest(trial, name, dist) for name, dist in compiled.distributions.items()}
        last: dict = {}
        pruned = False

        def report(result: dict) -> None:
            nonlocal pruned
            if pruned or result.get("error") or "epoch" not in result:
                return
            trial.report(result["objective"], step=int(result["epoch"]))
            if trial.should_prune():
                pruned = True
                raise _Pruned  # run_trial catches it, reports an error result (ignored) and returns
            last.update(result)

        run_trial(compiled.trial_config(params), prep.series, compiled.metric, report, direction=compiled.direction)
        if pruned:
            raise optuna.TrialPruned
        return last["best_objective"]

    return objective


def plain_optuna(space_path: str, db: str, trials: int, storage_kind: str, n1: int) -> dict:
    """``study.optimize`` with run_trial as the objective; times itself (imports excluded).

    ``storage_kind``: "sqlite" (a default ``sqlite:///`` URL), "project" (``storage.open_storage``
    on that file: WAL, synchronous=NORMAL, heartbeats) or "memory" (Optuna's in-memory storage).
    """
    import optuna
    import torch

    from search.driver.prepare import prepare

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    torch.set_num_threads(1)
    started = time.perf_counter()
    prep = prepare(space_path)
    compiled = prep.compiled
    if storage_kind == "project":
        import storage

        store = storage.open_storage(_common.sqlite_url(Path(db)))
    else:
        store = None if storage_kind == "memory" else _common.sqlite_url(Path(db))
    study = optuna.create_study(storage=store, direction=compiled.direction, sampler=compiled.sampler(), pruner=compiled.pruner())
    marks = _common.Marks(n1, trials, lambda: (time.process_time(), time.process_time()))
    finished = iter(range(1, trials + 1))
    study.optimize(make_objective(prep), n_trials=trials, callbacks=[lambda study, trial: marks.seen(next(finished))])
    return {"seconds": time.perf_counter() - started, "in_run": marks.per_trial()}


# -- the project: run_search on Ray Tune


def project(space_path: Path, db: Path, trials: int, workers: int, n1: int) -> dict:
    marks = _common.Marks(n1, trials, _common.tree_cpu_seconds)
    summary, seconds = _common.run_project(space_path, _common.sqlite_url(db), trials, workers, marks)
    done = summary.study.get_trials(deepcopy=False)
    train = sum(t.user_attrs.get("train_seconds", 0.0) for t in done)
    return {"seconds": seconds, "in_run": marks.per_trial(), "train_per_trial": train / max(len(done), 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="N1=5, N2=25, 2 repeats (about 2 minutes)")
    parser.add_argument("--n1", type=int, help="trials in the short run (default 10; quick 5)")
    parser.add_argument("--n2", type=int, help="trials in the long run (default 50; quick 25)")
    parser.add_argument("--repeats", type=int, help="interleaved repeats (default 5; quick 2)")
    parser.add_argument("--workers", type=int, default=2, help="concurrent project trials (default 2)")
    parser.add_argument("--num-cpus", type=int, default=2, help="CPUs of the local Ray runtime (default 2)")
    parser.add_argument("--compare-with", metavar="DIR", help="also run the project from another version of the code in DIR")
    args = parser.parse_args()
    n1 = args.n1 or (5 if args.quick else 10)
    n2 = args.n2 or (25 if args.quick else 50)
    repeats = args.repeats or (2 if args.quick else 5)
    if n2 <= n1:
        parser.error(f"--n2 {n2} must be larger than --n1 {n1}")

    _common.header(
        "bench_overhead: marginal cost per trial, project (run_search on Ray Tune) vs plain Optuna",
        f"trivial LSTM '4', lookback 4, 200 rows, 5 epochs, random sampler, median pruner, SQLite; "
        f"N1={n1}, N2={n2}, {repeats} repeats; project workers={args.workers}, plain Optuna 1 process",
    )
    folder = _common.scratch_folder("bench-overhead-")
    space = make_space(folder)
    spawn = multiprocessing.get_context("spawn")
    # The project's storage registers a process-wide SQLite hook: its plain run gets a process of its own.
    pools = {"sqlite": ProcessPoolExecutor(1, mp_context=spawn), "project": ProcessPoolExecutor(1, mp_context=spawn)}
    pools["memory"] = pools["sqlite"]
    runs = iter(range(1_000_000))

    def db() -> Path:
        return folder / f"run{next(runs)}.db"

    # Warm-up, not timed: the children's imports; Ray's start-up and imports in this process.
    for kind, pool in pools.items():
        pool.submit(plain_optuna, str(space), str(db()), 2, kind, 1).result()
    projects = {"run_search": None}  # None: in this process
    if args.compare_with:
        projects = {"run_search": _common.code_pool(None, args.num_cpus), "base": _common.code_pool(args.compare_with, args.num_cpus)}
        for pool in projects.values():  # Ray's start-up and the imports, not timed
            pool.submit(project, space, db(), 2, args.workers, 1).result()
    else:
        _common.start_ray(args.num_cpus)

    results: dict[str, dict[int, list[dict]]] = {k: {n1: [], n2: []} for k in (*pools, *projects)}
    for r in range(repeats):
        for n in (n1, n2):
            for kind, pool in pools.items():
                results[kind][n].append(pool.submit(plain_optuna, str(space), str(db()), n, kind, n1).result())
            for kind, pool in projects.items():
                if pool is None:
                    results[kind][n].append(project(space, db(), n, args.workers, n1))
                else:
                    results[kind][n].append(pool.submit(project, space, db(), n, args.workers, n1).result())
        print(f"   repeat {r + 1}/{repeats} done (load {_common.load()})", flush=True)
    for pool in [*pools.values(), *projects.values()]:
        if pool is not None:
            pool.shutdown()

    def marginal(key: str) -> list[float]:
        return [(b["seconds"] - a["seconds"]) / (n2 - n1) for a, b in zip(results[key][n1], results[key][n2], strict=True)]

    def in_run(key: str, field: str) -> float:
        return _common.median([x["in_run"][field] for x in results[key][n2]])

    labels = {
        "sqlite": "plain Optuna, default SQLite (baseline)",
        "project": "plain Optuna, project's storage (WAL)",
        "memory": "plain Optuna, in-memory storage",
        "run_search": f"project run_search, {args.workers} workers",
    }
    if args.compare_with:
        labels["base"] = f"  the same, code from {Path(args.compare_with).name}/"
    base_wall, base_in_run, base_cpu = _common.median(marginal("sqlite")), in_run("sqlite", "wall"), in_run("sqlite", "cpu")
    rows = []
    for key, label in labels.items():
        wall = marginal(key)
        fixed = _common.median([x["seconds"] for x in results[key][n1]]) - n1 * _common.median(wall)
        rows.append([
            label,
            f"{_common.median(wall) * 1e3:.0f}",
            _common.spread(wall, 1e3),
            f"{_common.median(wall) / base_wall:.2f}",
            f"{in_run(key, 'wall') * 1e3:.0f}",
            f"{in_run(key, 'wall') / base_in_run:.2f}",
            f"{in_run(key, 'cpu') * 1e3:.0f}",
            f"{in_run(key, 'cpu') / base_cpu:.2f}",
            f"{in_run(key, 'driver_cpu') * 1e3:.0f}",
            f"{fixed:.1f}",
        ])
    print()
    print(_common.table(["", "wall ms/trial", "min..max", "ratio", "in-run wall", "ratio", "in-run CPU", "ratio", "driver CPU", "fixed s/run"], rows))
    train = _common.median([x["train_per_trial"] for x in results["run_search"][n2]])
    same_storage = in_run("run_search", "wall") / in_run("project", "wall")
    print(
        f"""
   wall ms/trial: marginal (t(N2) - t(N1)) / (N2 - N1) over two runs, median of {repeats} (min..max of the repeats);
   for the project it carries the noise of each run's actor start-up (seconds): the in-run figure is steadier.
   in-run: from the N2 run alone, between the N1-th and the N2-th finished trial (no start-up inside), per trial:
   wall ms, CPU ms of every process involved (project: driver, Ray daemons and workers, read from /proc), and
   the driver process's CPU ms. fixed s/run: t(N1) - N1 x wall ms/trial (study creation; for the project also the
   Tuner and its actors' start-up, paid once per run_search call). Ratios are against the first row.
   project trials' own train_seconds (training loop only): {train * 1e3:.0f} ms per trial (median over runs).
   project / plain Optuna on the same storage settings (in-run wall): {same_storage:.2f}.
   Target: project <= 1.25x plain Optuna (wall)."""
    )
    _common.footer()


if __name__ == "__main__":
    main()
