"""Scaling: trials per minute with 1 worker against 2 workers, on trials of a fixed cost.

Every trial is the same (every searched key is a categorical with a single choice, fixed
epochs, pruner none, early stopping off): an LSTM [32], lookback 32, on a synthetic series
(default 5,000 rows), 3 epochs, 1 CPU per trial. ``search.driver.run.run_search(...,
workers=K)`` runs them on one local Ray runtime (``--num-cpus``, default 2).

Figures, each the median over ``--repeats`` interleaved repeats:

- trials/min in-run: between the moments the 2nd and the last trial finish (start-up
  excluded), and over the whole run_search call (Tuner and actor start-up included);
- speed-up: trials/min with K workers over trials/min with 1 worker (target for 2: >= 1.8x);
- utilisation = sum of the trials' ``train_seconds`` (the study's user attrs: time inside the
  training loop, without validation) / (run wall seconds x workers), target >= 0.97; trial
  work = the same with ``trial_seconds`` (all of a trial's own work on its worker: windows,
  model, epochs with their validation, test evaluation; not the time spent waiting on the
  driver); and occupancy = sum of the trials' own durations in the study (Optuna trial start to end, which
  includes validation, test evaluation and the driver's bookkeeping) / (wall x workers).
  Both over the in-run window, from the trials that finished inside it.

    python benchmarks/bench_scaling.py [--quick] [--trials 40] [--repeats 3] [--rows 5000] [--compare-with DIR]

``--compare-with DIR`` adds rows for another version of the code (a folder holding its
``search/``, ``storage/`` and ``models/``), run in the same interleaved repeats; all runs then
happen in child processes with a Ray runtime each.

On a 2-core machine the driver and Ray's own processes share the two cores with the two
workers, so 2 workers cannot quite reach 2x there; other load on the machine lowers it more.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import _common

SPACE = """
    model:
      family: lstm
      layer_sizes: {choices: ["32"]}
      dropout: 0.0
    data:
      path: series.csv
      time_column: t
      target: y
      lookback: {choices: [32]}
    train:
      epochs: 3
      batch_size: 64
      lr: {choices: [0.003]}
      patience: 0
      device: cpu
    objective: {metric: rmse, direction: minimize}
    sampler: {name: random, seed: 0}
    pruner: {name: none}
    resources: {cpu: 1, gpu: 0}
"""


def run(space: Path, db: Path, trials: int, workers: int) -> dict:
    marks = _common.Marks(2, trials, lambda: (0.0, 0.0))
    summary, seconds = _common.run_project(space, _common.sqlite_url(db), trials, workers, marks)
    done = sorted((t for t in summary.study.get_trials(deepcopy=False) if t.datetime_complete is not None), key=lambda t: t.datetime_complete)
    # The in-run window runs from the 2nd to the last trial's end: the trials that ended inside it.
    inside, span = done[2:trials], marks.per_trial()["wall"] * (trials - 2)
    train = sum(t.user_attrs.get("train_seconds", 0.0) for t in inside)
    work = sum(t.user_attrs.get("trial_seconds", 0.0) for t in inside)
    busy = sum((t.datetime_complete - t.datetime_start).total_seconds() for t in inside)
    return {
        "per_min": 60 * (trials - 2) / span,
        "per_min_whole": 60 * len(done) / seconds,
        "utilisation": train / (span * workers),
        "work": work / (span * workers),
        "occupancy": busy / (span * workers),
        "train_per_trial": _common.median([t.user_attrs.get("train_seconds", 0.0) for t in done]),
    }


def in_process_ceiling(space: Path, repeats: int = 3) -> float:
    """train_seconds / wall of run_trial called directly (no Ray, no study): the utilisation a
    worker reaches at best, since validation and the test evaluation are outside train_seconds."""
    import torch

    from search.driver.prepare import prepare
    from search.worker.train import run_trial

    torch.set_num_threads(1)
    prep = prepare(space)
    config = prep.compiled.trial_config({name: d.choices[0] for name, d in prep.compiled.distributions.items()})
    shares = []
    for _ in range(repeats):
        results: list[dict] = []
        started = time.perf_counter()
        run_trial(config, prep.series, prep.compiled.metric, results.append)
        shares.append(results[-1]["train_seconds"] / (time.perf_counter() - started))
    return _common.median(shares)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="16 trials, 2 repeats (about 1-2 minutes)")
    parser.add_argument("--trials", type=int, help="trials per run (default 40; quick 16)")
    parser.add_argument("--repeats", type=int, help="interleaved repeats (default 3; quick 2)")
    parser.add_argument("--rows", type=int, default=5000, help="rows of the synthetic series (default 5000)")
    parser.add_argument("--max-workers", type=int, default=2, help="compare 1..N workers (default 2)")
    parser.add_argument("--num-cpus", type=int, default=2, help="CPUs of the local Ray runtime (default 2)")
    parser.add_argument("--compare-with", metavar="DIR", help="also run another version of the code in DIR")
    args = parser.parse_args()
    trials = args.trials or (16 if args.quick else 40)
    repeats = args.repeats or (2 if args.quick else 3)
    if trials < 4:
        parser.error("--trials must be at least 4")

    _common.header(
        "bench_scaling: trials per minute, 1 worker vs more, fixed-cost trials",
        f"LSTM [32], lookback 32, {args.rows} rows, 3 epochs, pruner none; {trials} trials per run, {repeats} repeats; "
        f"Ray num_cpus={args.num_cpus}",
    )
    folder = _common.scratch_folder("bench-scaling-")
    _common.write_series(folder / "series.csv", args.rows)
    space = _common.write_space(folder, "fixed", SPACE)
    ceiling = in_process_ceiling(space)
    counter = iter(range(1_000_000))
    levels = list(range(1, args.max_workers + 1))
    versions = {"": None}  # label suffix -> pool (None: this process)
    if args.compare_with:
        versions = {"": _common.code_pool(None, args.num_cpus), f", {Path(args.compare_with).name}/": _common.code_pool(args.compare_with, args.num_cpus)}
        for pool in versions.values():  # Ray's start-up and the imports, not timed
            pool.submit(run, space, folder / f"run{next(counter)}.db", 4, 1).result()
    else:
        _common.start_ray(args.num_cpus)
    results: dict[tuple, list[dict]] = {(v, k): [] for v in versions for k in levels}
    for r in range(repeats):
        for k in levels if r % 2 == 0 else reversed(levels):
            for v, pool in versions.items():
                db = folder / f"run{next(counter)}.db"
                results[v, k].append(run(space, db, trials, k) if pool is None else pool.submit(run, space, db, trials, k).result())
        print(f"   repeat {r + 1}/{repeats} done (load {_common.load()})", flush=True)
    for pool in versions.values():
        if pool is not None:
            pool.shutdown()

    def med(k, field: str) -> float:
        key = k if isinstance(k, tuple) else ("", k)
        return _common.median([x[field] for x in results[key]])

    rows = []
    for v, k in results:
        k_key = (v, k)
        one = (v, 1)
        rows.append([
            f"{k} worker{'s' if k > 1 else ''}{v}",
            f"{med(k_key, 'per_min'):.1f}",
            _common.spread([x["per_min"] for x in results[k_key]], fmt=".1f"),
            f"{med(k_key, 'per_min') / med(one, 'per_min'):.2f}",
            f"{med(k_key, 'per_min_whole'):.1f}",
            f"{med(k_key, 'per_min_whole') / med(one, 'per_min_whole'):.2f}",
            f"{med(k_key, 'utilisation'):.2f}",
            f"{med(k_key, 'work'):.2f}",
            f"{med(k_key, 'occupancy'):.2f}",
        ])
    print()
    print(_common.table(["", "trials/min in-run", "min..max", "speed-up", "trials/min whole", "speed-up", "utilisation", "trial work", "occupancy"], rows))
    print(
        f"\n   trial cost: median train_seconds {med(1, 'train_per_trial'):.2f} s (1 worker), {med(levels[-1], 'train_per_trial'):.2f} s "
        f"({levels[-1]} workers).\n   utilisation: sum of train_seconds / (wall x workers); occupancy: sum of the trials' study "
        f"durations / (wall x workers);\n   trial work: sum of trial_seconds (the trials' own work, validation included) / (wall x workers);\n   all over the in-run window. Targets: 2 workers >= 1.8x, utilisation >= 0.97."
        f"\n   ceiling: run_trial called in-process (no Ray, no study) spends {ceiling:.2f} of its wall time in train_seconds;"
        f"\n   a utilisation at that level means no time lost to orchestration."
    )
    _common.footer()


if __name__ == "__main__":
    main()
