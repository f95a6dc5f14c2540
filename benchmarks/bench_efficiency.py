"""Search efficiency: what pruning saves, on the shipped dataset, over several sampler seeds.

Three arms run the same space (default ``spaces/lstm.yaml``: the weekly CO2 series, LSTM) with
the same number of finished trials, each once per seed (the sampler's seed), through
``search.driver.run.run_search`` on one local Ray runtime:

- ``tpe + median``: the space as shipped (TPE sampler, MedianPruner), the project's default;
- ``tpe, no pruning``: the same with ``pruner: {name: none}``, the baseline;
- ``random, no pruning``: ``sampler: {name: random}``, no pruning.

For each arm: the best validation value (mean, standard deviation and min..max over seeds),
the epochs trained in total (the sum of every trial's reported epochs: what the search cost),
and the wall seconds. Target: ``tpe + median`` reaches the same best value as ``tpe, no
pruning`` (within the seeds' spread) with at most 50 % of its epochs.

A second table replays other pruners on the learning curves of the unpruned TPE runs
(``replay``): each run's trials in order, each fed its own curve epoch by epoch, against the
trials before it that the replayed pruner let complete. It shows the share of epochs each
pruner would have trained and whether it would have cut the run's best trial, all from the
same runs, so a pruner's settings can be chosen without a search per candidate. The sampler's
choices stay those of the unpruned run, and the replay is sequential where the runs had
``--workers`` trials at once, so it isolates the pruner's decisions only.

    python benchmarks/bench_efficiency.py [--quick] [--trials 40] [--epochs 20] [--seeds 3]

``--quick``: 12 trials, 6 epochs, 3 seeds (a few minutes). The figures depend on the machine's
load only through the wall seconds; values and epochs are set by the seeds (Ray's scheduling
order can still change which trials the sampler has seen when it asks).
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

import _common

ROOT = Path(__file__).resolve().parents[1]

ARMS = {
    "tpe + median": [],
    "tpe, no pruning": ["pruner={name: none}"],
    "random, no pruning": ["pruner={name: none}", "sampler={name: random, seed: SEED}"],
}


def run_arm(space: Path, overrides: list[str], seed: int, epochs: int | None, trials: int, workers: int, folder: Path, tag: str) -> dict:
    sets = [o.replace("SEED", str(seed)) for o in overrides]
    if not any(o.startswith("sampler=") for o in sets):
        sets.append(f"sampler.seed={seed}")
    if epochs is not None:
        sets.append(f"train.epochs={epochs}")
    db = folder / f"{tag}-seed{seed}.db"
    summary, seconds = _common.run_project(space, _common.sqlite_url(db), trials, workers, overrides=sets, study_name=f"{tag}-{seed}")
    done = [t for t in summary.study.get_trials(deepcopy=False) if t.state.is_finished()]
    complete = [t for t in done if t.value is not None and t.state.name == "COMPLETE"]
    values = [t.value for t in complete]
    direction = summary.study.direction.name.lower()
    best = (min(values) if direction == "minimize" else max(values)) if values else float("nan")
    return {
        "best": best,
        "epochs": sum(len(t.intermediate_values) for t in done),
        "pruned": sum(t.state.name == "PRUNED" for t in done),
        "trials": len(done),
        "seconds": seconds,
        "complete": complete,
        "direction": direction,
    }


# Pruners replayed on the unpruned runs' learning curves (``replay``): name -> (class, options).
REPLAYS = {
    "median, 3 start-up trials, warm-up 2 (shipped)": ("MedianPruner", {"n_startup_trials": 3, "n_warmup_steps": 2}),
    "median, 5 start-up, warm-up 3 (shipped before)": ("MedianPruner", {"n_startup_trials": 5, "n_warmup_steps": 3}),
    "median, 5 start-up, warm-up 1": ("MedianPruner", {"n_startup_trials": 5, "n_warmup_steps": 1}),
    "percentile 25, 5 start-up, warm-up 3": ("PercentilePruner", {"percentile": 25.0, "n_startup_trials": 5, "n_warmup_steps": 3}),
    "percentile 33, 5 start-up, warm-up 2": ("PercentilePruner", {"percentile": 33.0, "n_startup_trials": 5, "n_warmup_steps": 2}),
}


def replay(complete: list, direction: str, pruner) -> tuple[int, float]:
    """What ``pruner`` would have done to an unpruned run: its trials, in the order they were
    numbered, each fed its own learning curve epoch by epoch against the trials before it
    that the replay let complete. Returns (epochs trained, best value among the trials kept).
    The sampler's choices are those of the unpruned run: a pruned run's TPE would have seen
    other trials, so this isolates the pruner's decisions, not the whole search."""
    import datetime

    import optuna
    from optuna.trial import FrozenTrial, TrialState

    study = optuna.create_study(direction=direction)
    epochs, kept = 0, []
    for t in sorted(complete, key=lambda t: t.number):
        curve = sorted(t.intermediate_values.items())
        pruned = False
        for i, (step, _) in enumerate(curve, start=1):
            running = FrozenTrial(
                number=t.number, state=TrialState.RUNNING, value=None, datetime_start=datetime.datetime.now(), datetime_complete=None,
                params={}, distributions={}, user_attrs={}, system_attrs={}, intermediate_values=dict(curve[:i]), trial_id=t.number,
            )
            if pruner.prune(study, running):
                epochs += i
                pruned = True
                break
        if not pruned:
            epochs += len(curve)
            kept.append(t.value)
            study.add_trial(optuna.trial.create_trial(value=t.value, intermediate_values=dict(curve)))
    best = (min(kept) if direction == "minimize" else max(kept)) if kept else float("nan")
    return epochs, best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="12 trials, 6 epochs, 3 seeds")
    parser.add_argument("--space", default=str(ROOT / "spaces" / "lstm.yaml"), help="space file (default spaces/lstm.yaml)")
    parser.add_argument("--trials", type=int, help="finished trials per run (default 40; quick 12)")
    parser.add_argument("--epochs", type=int, help="train.epochs (default: the space's; quick 6)")
    parser.add_argument("--seeds", type=int, help="sampler seeds 0..N-1 (default 3; quick 3)")
    parser.add_argument("--workers", type=int, default=2, help="concurrent trials (default 2)")
    parser.add_argument("--num-cpus", type=int, default=2, help="CPUs of the local Ray runtime (default 2)")
    args = parser.parse_args()
    trials = args.trials or (12 if args.quick else 40)
    epochs = args.epochs or (6 if args.quick else None)
    seeds = args.seeds or 3
    space = Path(args.space).resolve()

    _common.header(
        "bench_efficiency: best value and epochs trained, TPE + median pruner vs TPE without pruning vs random",
        f"{space.name}, {trials} finished trials per run, epochs {epochs or 'as in the space'}, seeds 0..{seeds - 1}, "
        f"{args.workers} workers, Ray num_cpus={args.num_cpus}",
    )
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    folder = _common.scratch_folder("bench-efficiency-")
    _common.start_ray(args.num_cpus)
    results: dict[str, list[dict]] = {arm: [] for arm in ARMS}
    for seed in range(seeds):
        order = list(ARMS) if seed % 2 == 0 else list(reversed(ARMS))
        for arm in order:
            tag = arm.replace(" ", "").replace(",", "_").replace("+", "_")
            results[arm].append(run_arm(space, ARMS[arm], seed, epochs, trials, args.workers, folder, tag))
        line = "; ".join(f"{arm}: best {results[arm][-1]['best']:.4g}, {results[arm][-1]['epochs']} epochs" for arm in ARMS)
        print(f"   seed {seed}: {line} (load {_common.load()})", flush=True)

    base_epochs = statistics.mean(r["epochs"] for r in results["tpe, no pruning"])
    rows = []
    for arm, runs in results.items():
        best = [r["best"] for r in runs]
        total = [r["epochs"] for r in runs]
        rows.append([
            arm,
            f"{statistics.mean(best):.4f}",
            f"{statistics.stdev(best):.4f}" if len(best) > 1 else "-",
            _common.spread(best, fmt=".4f"),
            f"{statistics.mean(total):.0f}",
            f"{statistics.mean(total) / base_epochs:.2f}",
            f"{statistics.mean(r['pruned'] for r in runs):.1f}",
            f"{statistics.mean(r['seconds'] for r in runs):.0f}",
        ])
    print()
    print(_common.table(["", "best (mean)", "sd", "min..max", "epochs", "vs no pruning", "pruned/run", "wall s"], rows))
    pruned, unpruned = results["tpe + median"], results["tpe, no pruning"]
    gap = statistics.mean(r["best"] for r in pruned) - statistics.mean(r["best"] for r in unpruned)
    noise = max(statistics.stdev([r["best"] for r in unpruned]) if len(unpruned) > 1 else 0.0, 1e-12)
    print(
        f"""
   best: the best COMPLETE trial's validation value of each run ({space.name}'s objective), over {seeds} seeds.
   epochs: every trial's reported epochs summed over the run (pruned trials count the epochs they ran), mean over seeds.
   tpe + median vs tpe, no pruning: best differs by {gap:+.4f} ({gap / noise:+.1f} sd of the unpruned runs), epochs
   {statistics.mean(r['epochs'] for r in pruned) / base_epochs:.2f}x. Target: same best value within seed noise at <= 0.50x the epochs."""
    )
    import ray

    ray.shutdown()

    # the same unpruned runs, replayed under other pruners
    rows = []
    for label, (cls_name, options) in REPLAYS.items():
        outcomes = [replay(r["complete"], r["direction"], getattr(optuna.pruners, cls_name)(**options)) for r in unpruned]
        ratios = [e / max(r["epochs"], 1) for (e, _), r in zip(outcomes, unpruned)]
        lost = [b - r["best"] for (_, b), r in zip(outcomes, unpruned)]
        rows.append([label, f"{statistics.mean(ratios):.2f}", _common.spread(ratios, fmt=".2f"), f"{statistics.mean(lost):+.4f}",
                     f"{sum(abs(x) > 1e-12 for x in lost)}/{len(lost)}"])
    print()
    print(_common.table(["pruner replayed on the tpe, no pruning runs", "epochs vs no pruning", "min..max", "best lost (mean)", "runs that lost the best"], rows))
    print("   (each unpruned run's trials in order, each fed its own curve; the sampler's choices stay those of the unpruned run)")
    _common.footer()


if __name__ == "__main__":
    main()
