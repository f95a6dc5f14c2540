"""Time to a first good result for a newcomer: the README's command with pruning on and off.

Runs the command a newcomer runs, ``search run spaces/lstm.yaml --trials 200`` (the shipped
CO2 series, TPE + MedianPruner), as a subprocess from a fresh SQLite file, and the same
command with pruning off (``--set 'pruner={name: none}'``), the baseline. Each run includes
everything the newcomer waits for: the interpreter, Ray's start-up, the trials, the report.

For each: wall seconds, the trials' epochs in total, the best value, and when the first good
result appeared, in seconds from the command's start (a trial's completion time in the
study): the first COMPLETE trial within 10 % of the run's own final best, and of the best of
both runs (one yardstick for both). Target: pruned wall <= 40 % of unpruned wall.

Being the realistic search (the LSTM space, the shipped dataset, 2 workers), it also gives
the workers' utilisation, from the study alone (``utilisation``): the trials' own work over
the span times the workers. Target >= 0.97.

    python benchmarks/bench_first_result.py [--quick] [--trials 200] [--epochs 20] [--workers 2] [--keep FILE]

``--quick``: 24 trials, 8 epochs. The full run takes about an hour on a 2-core machine, mostly
the unpruned run (200 trials: 525 s pruned, 3,257 s unpruned on a quiet one).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import subprocess
import sys
import time
from pathlib import Path

import _common

ROOT = Path(__file__).resolve().parents[1]
CLOSE = 0.10  # "good": within 10 % of the best value (--within)


def run_cli(space: Path, trials: int, extra: list[str], url: str, study: str, log: Path, workers: int) -> dict:
    command = [sys.executable, "-m", "search", "run", str(space), "--trials", str(trials), "--storage", url, "--study", study, *extra]
    started_at = dt.datetime.now()  # Optuna stores local naive times
    started = time.perf_counter()
    with open(log, "w") as out:
        code = subprocess.run(command, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"}).returncode
    seconds = time.perf_counter() - started
    if code != 0:
        raise SystemExit(f"{' '.join(command)} exited with {code}; its output: {log}\n{log.read_text()[-2000:]}")
    import optuna

    trials_ = optuna.load_study(study_name=study, storage=url).get_trials(deepcopy=False)
    complete = [(t.value, (t.datetime_complete - started_at).total_seconds()) for t in trials_ if t.state.name == "COMPLETE" and t.value is not None]
    return {
        "seconds": seconds,
        "complete": complete,
        "trials": sum(t.state.is_finished() for t in trials_),
        "pruned": sum(t.state.name == "PRUNED" for t in trials_),
        "epochs": sum(len(t.intermediate_values) for t in trials_),
        **utilisation(trials_, workers),
    }


def utilisation(trials: list, workers: int) -> dict:
    """How much of the workers' time went into the trials' own work (the ``trial_seconds`` and
    ``train_seconds`` user attrs), from the study alone.

    - ``util_run``: sum of trial_seconds / ((last trial's end - first trial's start) x workers);
      the tail, where the last trials run while a worker has nothing left to start, included;
    - ``util_busy``: the same over the span while trials were still being started (first
      trial's start to last trial's start), each trial's work taken as the trial_seconds
      before its end and clipped to that span;
    - ``util_train_run``: as util_run with train_seconds (the training loop only, no validation).
    """
    done = [t for t in trials if t.datetime_start is not None and t.datetime_complete is not None and "trial_seconds" in t.user_attrs]
    if len(done) < 2:
        return {"util_run": float("nan"), "util_busy": float("nan"), "util_train_run": float("nan")}
    origin = min(t.datetime_start for t in done)

    def at(moment) -> float:
        return (moment - origin).total_seconds()

    spans = [(at(t.datetime_start), at(t.datetime_complete)) for t in done]
    end, last_start = max(b for _, b in spans), max(a for a, _ in spans)
    work = [t.user_attrs["trial_seconds"] for t in done]
    busy = sum(max(0.0, min(b, last_start) - max(b - w, 0.0)) for (_, b), w in zip(spans, work))
    return {
        "util_run": sum(work) / (end * workers),
        "util_busy": busy / (last_start * workers) if last_start > 0 else float("nan"),
        "util_train_run": sum(t.user_attrs.get("train_seconds", 0.0) for t in done) / (end * workers),
    }


def first_within(complete: list[tuple[float, float]], best: float, minimize: bool, close: float = CLOSE) -> float:
    """Seconds to the first COMPLETE trial within ``close`` (a fraction) of ``best`` (nan if none)."""
    limit = best + close * abs(best) if minimize else best - close * abs(best)
    times = [t for v, t in complete if (v <= limit if minimize else v >= limit)]
    return min(times) if times else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="24 trials, 8 epochs")
    parser.add_argument("--space", default=str(ROOT / "spaces" / "lstm.yaml"), help="space file (default spaces/lstm.yaml)")
    parser.add_argument("--trials", type=int, help="--trials of both runs (default 200; quick 24)")
    parser.add_argument("--epochs", type=int, help="train.epochs (default: the space's; quick 8)")
    parser.add_argument("--workers", type=int, help="--workers of both runs (default: the CLI's)")
    parser.add_argument("--unpruned-first", action="store_true", help="run the unpruned command first")
    parser.add_argument("--keep", metavar="FILE", help="copy both runs' studies (a SQLite file) to FILE at the end")
    parser.add_argument("--within", type=float, default=CLOSE, help="a good result: within this fraction of the best (default 0.10)")
    args = parser.parse_args()
    trials = args.trials or (24 if args.quick else 200)
    epochs = args.epochs or (8 if args.quick else None)
    space = Path(args.space).resolve()
    common = [f"--set=train.epochs={epochs}"] if epochs else []
    if args.workers:
        common += ["--workers", str(args.workers)]
    workers = args.workers or os.cpu_count() or 1  # the CLI's default: one trial per CPU (the shipped spaces take 1 each)

    _common.header(
        "bench_first_result: a newcomer's search run with pruning (default) vs without",
        f"search run {space.name} --trials {trials}{' ' + ' '.join(common) if common else ''}; "
        f"baseline: the same with --set 'pruner={{name: none}}'",
    )
    folder = _common.scratch_folder("bench-first-result-")
    url = _common.sqlite_url(folder / "studies.db")
    arms = {"pruned (default)": common, "pruning off (baseline)": [*common, "--set=pruner={name: none}"]}
    order = list(arms)[::-1] if args.unpruned_first else list(arms)
    results = {}
    for n, arm in enumerate(order):
        results[arm] = run_cli(space, trials, arms[arm], url, f"run{n}", folder / f"run{n}.log", workers)
        r = results[arm]
        print(f"   {arm}: {r['seconds']:.0f} s, {r['trials']} trials, {r['epochs']} epochs (load {_common.load()})", flush=True)

    import optuna

    minimize = optuna.load_study(study_name="run0", storage=url).direction.name == "MINIMIZE"
    pick = min if minimize else max
    overall = pick(v for r in results.values() for v, _ in r["complete"])
    base = results["pruning off (baseline)"]
    rows = []
    for arm in arms:
        r = results[arm]
        best = pick(v for v, _ in r["complete"])
        rows.append([
            arm,
            f"{r['seconds']:.0f}",
            f"{r['seconds'] / base['seconds']:.2f}",
            r["trials"],
            r["pruned"],
            r["epochs"],
            f"{best:.4f}",
            f"{first_within(r['complete'], best, minimize, args.within):.0f}",
            f"{first_within(r['complete'], overall, minimize, args.within):.0f}",
            f"{r['util_run']:.3f} / {r['util_busy']:.3f}",
            f"{r['util_train_run']:.3f}",
        ])
    print()
    print(_common.table(["", "wall s", "ratio", "trials", "pruned", "epochs", "best", "good (own best) s", "good (overall) s", "utilisation run / busy", "train only"], rows))
    print(
        f"""
   wall s: the whole command (interpreter, Ray start-up, trials); ratio: against pruning off.
   good (own best) s: seconds from the command's start to the first COMPLETE trial within {args.within:.0%} of that run's final best;
   good (overall) s: the same against the best of both runs ({overall:.4f}); nan: none got there.
   utilisation ({workers} workers): the trials' own work (trial_seconds: windows, model, every epoch
   with its validation, test evaluation; not the time a worker waits on the driver) / (span x workers); run: first trial's
   start to last trial's end; busy: while trials were still being started. train only: train_seconds (no validation) over
   the run span. Targets: pruned wall <= 0.40x the unpruned wall; utilisation >= 0.97."""
    )
    if args.keep:
        import shutil

        shutil.copyfile(folder / "studies.db", args.keep)
        print(f"   studies kept in {args.keep} (run0 ran first)")
    _common.footer()


if __name__ == "__main__":
    main()
