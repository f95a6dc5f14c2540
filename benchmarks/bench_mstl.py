"""How long the study's MSTL baseline takes on one core, and what it scores.

A 4,000-row half-hourly series (the first 4,000 rows of ``datasets/demand_halfhourly.csv``:
daily and weekly cycles, seasons 48 and 336), split 0.7 / 0.15 / 0.15, horizon 24, scored
from every origin of the validation and the test part (``eval_origins: every``, the costly
case: 1,176 origins) and from every horizon steps. The figures are printed, not asserted:

    python benchmarks/bench_mstl.py [--rows 4000] [--horizon 24] [--step 1] [--levels 80,95] [--model mstl]
    python benchmarks/bench_mstl.py --series long --step 24 --levels "" [--max-refits 1000000000]

``--series long`` takes a synthetic 60,000-row hourly series instead (seven years: daily,
weekly and yearly cycles under a random walk, seasons 24 and 168), where the cap on MSTL's
decompositions per part (``stat_baselines.MAX_REFITS``; ``--max-refits`` sets it, a huge value
undoes it) decides the cost.

It runs ``search.worker.stat_baselines.forecast_mstl`` in this process (pinned to one core
where the platform allows), on exactly the origins a study scores; wall and CPU seconds (on a
busy machine the CPU seconds are the figure to compare). ``--levels`` adds MSTL's own prediction
intervals at those levels (what a study records beside the point forecast; ``--levels ""``:
the point forecast alone) and prints their test coverage and interval score; ``--model``
autoets or autotheta times the other baselines on the same origins.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def _series(rows: int) -> np.ndarray:
    import pandas as pd

    frame = pd.read_csv(ROOT / "datasets" / "demand_halfhourly.csv", nrows=rows)
    return frame["load"].to_numpy(np.float64)


def _long() -> np.ndarray:
    """Seven years of synthetic hourly load: daily, weekly and yearly cycles, a random walk and noise."""
    rng = np.random.default_rng(8)
    t = np.arange(60000)
    cycles = 200 * np.sin(2 * np.pi * t / 24) + 100 * np.sin(2 * np.pi * t / 168) + 150 * np.sin(2 * np.pi * t / 8766)
    return 1000 + cycles + np.cumsum(rng.normal(0, 3, len(t))) + rng.normal(0, 30, len(t))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=4000)
    parser.add_argument("--horizon", type=int, default=24)
    parser.add_argument("--step", type=int, default=1, help="origin spacing: 1 (every) or the horizon")
    parser.add_argument("--levels", default="80,95", help='interval levels, comma-separated ("" for none)')
    parser.add_argument("--model", default="mstl", choices=["mstl", "autoets", "autotheta"])
    parser.add_argument("--series", default="demand", choices=["demand", "long"])
    parser.add_argument("--max-refits", type=int, default=None, help="MSTL decompositions per part at most (default: the study's)")
    args = parser.parse_args(argv)
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    from search.worker import intervals
    from search.worker import stat_baselines as sb
    from search.worker.origins import scored_origins

    if args.max_refits is not None:
        sb.MAX_REFITS = args.max_refits
    levels = [float(v) for v in args.levels.split(",") if v.strip()]
    y = _long() if args.series == "long" else _series(args.rows)
    n = len(y)
    a, b = int(n * 0.7), int(n * 0.85)
    seasons = [24, 168] if args.series == "long" else [48, 336]
    total, total_cpu, errors = 0.0, 0.0, {}
    for part, (start, end) in (("val", (a, b)), ("test", (b, n))):
        origins = scored_origins(0, start, end, 0, args.horizon, args.step)
        history = y[: origins[-1] + args.horizon, None]
        started, cpu = time.perf_counter(), time.process_time()
        pred, lo, hi = sb.forecast_bands(args.model, seasons, history, len(origins), args.horizon, args.step, levels)
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
        total += seconds
        total_cpu += cpu
        truth = np.stack([y[o : o + args.horizon] for o in origins])
        errors[part] = float(np.abs(pred[:, :, 0] - truth).mean())
        scored = ""
        if levels:
            figures = intervals.interval_scores(truth[..., None], lo, hi, levels)
            coverage = ", ".join(f"{figures[f'coverage_{v:g}']:.1f} % at {v:g} %" for v in levels)
            scored = f", coverage {coverage}, interval score {figures['interval_score']:.4g}"
        print(f"{part}: {len(origins)} origins, {seconds:.1f} s wall, {cpu:.1f} s CPU, MAE {errors[part]:.4g}{scored}", flush=True)
    with_levels = f", intervals at {', '.join(f'{v:g}' for v in levels)} %" if levels else ", no intervals"
    print(f"{sb.STAT_MODELS[args.model]}, {n} rows, seasons {seasons}, horizon {args.horizon}, step {args.step}{with_levels}, "
          f"at most {sb.MAX_REFITS} decompositions per part: {total:.1f} s wall, {total_cpu:.1f} s CPU on one core")


if __name__ == "__main__":
    main()
