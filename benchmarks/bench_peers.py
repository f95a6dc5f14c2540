"""Peer comparison: this project's searches vs NeuralForecast's Auto models vs naive forecasts.

On the shipped weekly CO2 series, with the same trial budget, horizon, split and test points.

What runs
---------
- **This project**: ``search.driver.run.run_search`` on each shipped space (``spaces/lstm.yaml``,
  ``gru``, ``tcn``, ``transformer``) with ``--set data.horizon=H`` (and ``train.epochs`` when
  ``--epochs`` is given), ``--trials`` finished trials, a temporary SQLite study, one local Ray
  runtime with 2 CPUs (started once before the first family, its start-up timed on its own).
  Each family's best trial (the lowest validation RMSE) is read back: its ``test_mae`` /
  ``test_rmse`` user attrs, and its checkpoint (``search.load_best``), which is scored again on
  the common test windows below. Wall seconds: the ``run_search`` call.
- **NeuralForecast** (optional, ``pip install neuralforecast``): ``AutoLSTM``, ``AutoGRU``,
  ``AutoTCN`` with ``backend='optuna'``, their default search spaces, ``num_samples`` =
  ``--trials``, ``h`` = ``--horizon``, a seeded ``optuna.samplers.TPESampler`` (the default
  sampler, seeded so runs repeat). Only trainer settings that do not change the model are
  added (no progress bar, logger or model summary). ``--peer-max-steps`` overrides the
  searched ``max_steps`` (500 or 1000) for smoke tests only; the recorded figures use the
  defaults. Wall seconds: the whole ``cross_validation`` call (search, refit, forecasts).
- **Naive and seasonal naive**: ``search.worker.baselines.forecast_baselines`` on the same windows,
  the seasons detected by ``search.worker.baselines.detect_seasons`` (52 for this series).

The split and the test points
-----------------------------
The series, its missing-value filling and its chronological split come from the project's own
loader (``search.driver.prepare.prepare`` on the first family's space): train rows ``[0, a)``,
validation ``[a, b)``, test ``[b, T)``. A project trial is scored on every test origin
``t = b-1, ..., T-H-1``, each forecasting rows ``t+1..t+H`` from the ``L`` rows up to ``t``
(reaching back into the validation part), whatever its lookback ``L``: the targets are the same
for every trial and every method below. Each best trial is rescored from its checkpoint on
those windows (the study's own ``test_mae`` is over the same targets). The naive forecasts
read the same windows with a lookback ``L_c`` long enough for the longest season.

NeuralForecast is fit and scored with ``NeuralForecast.cross_validation(df, n_windows=None,
test_size=T-b, step_size=1, val_size=b-a, refit=False)`` on the whole series (``ds`` = row
number, ``freq=1``): it trains on rows ``[0, a)`` and validates on ``[a, b)`` -- the project's
train and validation parts exactly -- for every trial and for the refit of the best
configuration, then forecasts from every origin ``b-1 .. T-H-1`` with the actual history up to
the origin (rolling origin, step 1, no refit). Only the origins of the common windows are
kept (all of them), so each peer is scored on the same (window, step) target points as the
rest; the script checks that the point counts agree.

The target
----------
The best of this project's families reaches a common-window test MAE at least 10 % below the
better of (the best peer, seasonal naive), in no more wall time than that peer took.

    python benchmarks/bench_peers.py [--trials 6] [--horizon 24] [--epochs N]
        [--families lstm,gru,tcn,transformer] [--peers lstm,gru,tcn|none] [--ablate]

NeuralForecast is an optional benchmark dependency, best kept in a virtual environment of its
own: ``pip install torch==2.13.0 -e ".[bench-peers]"`` there (torch pinned in the same command,
or pip pulls a CUDA build). Without it the peer rows print as "not installed" and the rest
still runs. ``--ablate`` runs instead a one-change-at-a-time table of fixed LSTM variants
(lookback, scaler, reference, warmup, early stopping, seed), each trained once by
``search.worker.train.run_trial`` and scored on the same common windows.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import logging
import math
import os
import sys
import time
import warnings
from pathlib import Path

import _common

REPO = Path(__file__).resolve().parents[1]
FAMILIES = ("lstm", "gru", "tcn", "transformer")
PEERS = {"lstm": "AutoLSTM", "gru": "AutoGRU", "tcn": "AutoTCN"}
NOT_INSTALLED = "not installed (pip install neuralforecast)"


def space_path(family: str) -> Path:
    return REPO / "spaces" / f"{family}.yaml"


def common_lookback(horizon: int) -> int:
    """The longest lookback any shipped forecasting space (lstm, gru, tcn, transformer) can sample."""
    from search.driver.prepare import prepare

    return max(prepare(space_path(f), [f"data.horizon={horizon}"]).lookback_max for f in FAMILIES)


def score(pred, truth) -> dict[str, float]:
    """MAE and RMSE over every (window, step) point, the way ``regression_metrics`` counts."""
    import torch

    from search.worker.metrics import regression_metrics

    m = regression_metrics(torch.as_tensor(pred, dtype=torch.float64), torch.as_tensor(truth, dtype=torch.float64))
    return {"mae": m["mae"], "rmse": m["rmse"], "points": int(torch.as_tensor(truth).numel())}


# -- this project


def rescore(forecaster, series, lc: int, horizon: int) -> dict[str, float]:
    """A checkpoint's model (``search.worker.checkpoint.Forecaster``) on the common windows."""
    import torch

    from search.worker.data import windows

    lookback = forecaster.lookback
    series.season = forecaster.payload.get("reference_season", series.season)
    model = series.wrap(forecaster.model, forecaster.payload["data"]).eval()  # its reference, as in training
    x, y = windows(series, "test", lookback, horizon)  # every test origin, whatever the lookback
    with torch.no_grad():
        pred = torch.cat([model(x[i : i + 512]) for i in range(0, len(x), 512)])
    return score(series.unscale_targets(pred.double()), series.unscale_targets(y.double()))


def rescore_best(study, url: str, series, lc: int, horizon: int) -> tuple[dict[str, float], int]:
    """The best trial's checkpoint on the common windows: (metrics, its lookback)."""
    from search.results.forecaster import load_best

    forecaster = load_best(study, url)
    return rescore(forecaster, series, lc, horizon), forecaster.lookback


def run_ours(family: str, args, folder: Path, series, lc: int) -> dict:
    from search.driver.prepare import prepare

    overrides = [f"data.horizon={args.horizon}"] + ([f"train.epochs={args.epochs}"] if args.epochs else [])
    prep = prepare(space_path(family), overrides)
    if prep.series.info["split_rows"] != series.info["split_rows"]:
        raise SystemExit(f"{family}: split {prep.series.info['split_rows']} differs from {series.info['split_rows']}")
    url = _common.sqlite_url(folder / f"{family}.db")
    cpu0 = _common.tree_cpu_seconds()[1]
    summary, wall = _common.run_project(space_path(family), url, args.trials, args.workers, overrides=overrides, prepared=prep)
    cpu = _common.tree_cpu_seconds()[1] - cpu0
    if cpu < 0:  # Ray ended worker processes whose time left the process tree: not measurable
        cpu = math.nan
    study = summary.study
    states = [t.state.name for t in study.get_trials(deepcopy=False)]
    row = {"method": f"this project: {family}", "wall": wall, "cpu": cpu,
           "trials": f"{states.count('COMPLETE')} done, {states.count('PRUNED')} pruned, {states.count('FAIL')} failed"}
    try:
        best = study.best_trial
    except ValueError:
        return {**row, "note": "no completed trial"}
    attrs = best.user_attrs
    metrics, lookback = rescore_best(study, url, series, lc, args.horizon)
    return {**row, **metrics, "params": best.params,
            "note": f"best #{best.number} lookback {lookback}, {attrs.get('epochs_run')} epochs, val {study.user_attrs.get('metric', 'value')} {best.value:.3f}; "
                    f"attr test MAE {attrs.get('test_mae', math.nan):.3f} RMSE {attrs.get('test_rmse', math.nan):.3f} "
                    f"(its own {len(range(series.part('test')[0], series.part('test')[1] - args.horizon + 1))} windows)"}


# -- what decides quality: fixed LSTM variants, one change at a time (--ablate)

ABLATION_BASE = ["model.layer_sizes=64", "model.dropout=0.0", "data.lookback=104", "train.batch_size=64", "train.lr=0.003",
                 "train.epochs=20", "train.patience=5", "train.seed=0", "train.loss=mse", "train.schedule=none", "data.reference=last"]
ABLATIONS = [
    ("base: LSTM 64, lookback 104, standard scaler, relative to last value, MSE loss, lr 3e-3, patience 5", []),
    ("lookback 156 (three seasons)", ["data.lookback=156"]),
    ("lookback 52 (one season)", ["data.lookback=52"]),
    ("lookback 26 (half a season)", ["data.lookback=26"]),
    ("lookback 13", ["data.lookback=13"]),
    ("scaler none (raw ppm)", ["data.scaler=none"]),
    ("reference none (levels, not changes)", ["data.reference=none"]),
    ("reference seasonal (the deviation from the seasonal naive)", ["data.reference=seasonal"]),
    ("reference seasonal, lookback 156", ["data.reference=seasonal", "data.lookback=156"]),
    ("lr 1e-2, no warmup", ["train.lr=0.01"]),
    ("lr 1e-2, warmup 3 epochs", ["train.lr=0.01", "train.warmup_epochs=3"]),
    ("loss mae (L1)", ["train.loss=mae"]),
    ("loss huber", ["train.loss=huber"]),
    ("40 epochs, patience 8, plateau schedule", ["train.epochs=40", "train.patience=8", "train.schedule=plateau"]),
    ("loss mae, 40 epochs, patience 8, plateau", ["train.loss=mae", "train.epochs=40", "train.patience=8", "train.schedule=plateau"]),
    ("the LSTM space's settings: loss mae, lookback 156, 40 epochs, patience 8, plateau",
     ["train.loss=mae", "data.lookback=156", "train.epochs=40", "train.patience=8", "train.schedule=plateau"]),
    ("no early stopping (patience 0, all 20 epochs)", ["train.patience=0"]),
    ("seed 1", ["train.seed=1"]),
    ("seed 2", ["train.seed=2"]),
]


def run_ablation(args, lc: int, seasonal_mae: float | None) -> None:
    """Each variant trained once by ``run_trial`` (no search, no Ray, one thread), its best
    epoch's checkpoint scored on the common windows."""
    import torch

    from search.results.forecaster import unpack
    from search.driver.prepare import prepare
    from search.worker.train import run_trial

    torch.set_num_threads(1)
    rows = []
    wanted = [w.strip() for w in args.variants.split(",")] if args.variants else None
    for label, changes in ABLATIONS:
        if wanted and changes and not any(w in label for w in wanted):
            continue
        prep = prepare(space_path("lstm"), [f"data.horizon={args.horizon}", *ABLATION_BASE, *changes])
        config = prep.compiled.trial_config({})
        results: list[dict] = []
        started = time.perf_counter()
        run_trial(config, prep.series, prep.compiled.metric, results.append, with_checkpoint=True)
        wall = time.perf_counter() - started
        final = results[-1]
        if final.get("error"):
            rows.append([label, "-", "-", "-", "-", "-", f"{wall:.1f}", final["error"][:60]])
            continue
        m = rescore(unpack(final["checkpoint"]), prep.series, lc, args.horizon)
        ratio = f"{m['mae'] / seasonal_mae:.2f}x" if seasonal_mae else "-"
        rows.append([label, f"{final['best_objective']:.3f}", f"{m['mae']:.3f}", f"{m['rmse']:.3f}", ratio,
                     f"{final['best_epoch']}/{final['epochs_run']}", f"{wall:.1f}", ""])
        print(f"   done: {label}", flush=True)
    print()
    print(_common.table(["variant", "val RMSE", "test MAE", "test RMSE", "MAE / seasonal naive", "best/run epochs", "wall s", "error"], rows))


# -- NeuralForecast


def nf_available() -> str | None:
    """NeuralForecast's version, or None when it is not importable."""
    try:
        import neuralforecast
    except Exception:
        return None
    return getattr(neuralforecast, "__version__", "?")


def quiet_lightning() -> None:
    for name in ("pytorch_lightning", "lightning", "lightning.pytorch", "lightning_fabric", "neuralforecast"):
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")


def run_peer(family: str, args, series, lc: int) -> dict:
    import numpy as np
    import optuna
    import pandas as pd
    from neuralforecast import NeuralForecast
    from neuralforecast import auto

    quiet_lightning()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    cls = getattr(auto, PEERS[family])
    a, b = series.part("val")
    end = len(series.values)
    raw = series.values[:, 0].astype(np.float64) * float(series.scale[0]) + float(series.offset[0])
    df = pd.DataFrame({"unique_id": "co2", "ds": np.arange(end), "y": raw})
    base = cls.get_default_config(h=args.horizon, backend="optuna")

    def config(trial):
        cfg = base(trial)
        cfg.update(enable_progress_bar=False, enable_model_summary=False, logger=False)
        if args.peer_max_steps:  # smoke tests only: not the default space
            cfg["max_steps"] = args.peer_max_steps
            cfg["val_check_steps"] = min(100, args.peer_max_steps)
        return cfg

    model = cls(h=args.horizon, backend="optuna", config=config, num_samples=args.trials,
                search_alg=optuna.samplers.TPESampler(seed=args.seed))
    nf = NeuralForecast(models=[model], freq=1)
    cpu0 = _common.tree_cpu_seconds()[1]
    started = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        cv = nf.cross_validation(df, n_windows=None, test_size=end - b, step_size=1, val_size=b - a, refit=False)
    wall = time.perf_counter() - started
    cpu = _common.tree_cpu_seconds()[1] - cpu0
    cv = cv[cv["cutoff"] >= b - 1]  # every test origin: the targets the project's trials are scored on
    expected = (end - b - args.horizon + 1) * args.horizon
    if not np.allclose(cv["y"].to_numpy(), raw[cv["ds"].to_numpy()]) or not ((cv["ds"] > cv["cutoff"]) & (cv["ds"] <= cv["cutoff"] + args.horizon)).all():
        raise SystemExit(f"{cls.__name__}: cross_validation's rows do not line up with the series' rows")
    metrics = score(cv[cls.__name__].to_numpy(), raw[cv["ds"].to_numpy()])
    if metrics["points"] != expected:
        raise SystemExit(f"{cls.__name__}: scored {metrics['points']} points, the common windows hold {expected}")
    fitted = nf.models[0]  # cross_validation fits a copy of the model passed in
    best = fitted.results.best_trial
    params = best.user_attrs.get("ALL_PARAMS", best.params)
    return {"method": f"NeuralForecast {cls.__name__}", **metrics, "params": best.params, "wall": wall, "cpu": cpu, "trials": f"{len(fitted.results.trials)} done",
            "note": f"best input_size {params.get('input_size')}, max_steps {params.get('max_steps')}, "
                    f"val loss {best.value:.3f}"}


# -- table


def fmt(value, spec: str = ".3f") -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:{spec}}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=6, help="trials per method (default 6)")
    parser.add_argument("--horizon", type=int, default=24, help="steps forecast per window (default 24)")
    parser.add_argument("--epochs", type=int, help="override train.epochs of this project's spaces (default: the spaces' own)")
    parser.add_argument("--families", default=",".join(FAMILIES), help="this project's spaces to run (default all four)")
    parser.add_argument("--peers", default=",".join(PEERS), help="NeuralForecast Auto models: lstm,gru,tcn or none (default all three)")
    parser.add_argument("--peer-max-steps", type=int, help="fix NeuralForecast's max_steps (smoke tests only; default: its search space)")
    parser.add_argument("--workers", type=int, default=2, help="concurrent trials of this project (default 2)")
    parser.add_argument("--num-cpus", type=int, default=2, help="CPUs of the local Ray runtime (default 2)")
    parser.add_argument("--seed", type=int, default=0, help="NeuralForecast's TPE sampler seed (default 0)")
    parser.add_argument("--ablate", action="store_true", help="instead: fixed LSTM variants, one change at a time, no search")
    parser.add_argument("--variants", help="with --ablate: only the variants whose label contains one of these comma-separated words (the base always runs)")
    args = parser.parse_args()
    families = [f for f in args.families.split(",") if f and f != "none"]
    peers = [p for p in args.peers.split(",") if p and p != "none"]
    for f in families:
        if f not in FAMILIES:
            parser.error(f"--families: unknown family {f!r} (choose from {', '.join(FAMILIES)})")
    for p in peers:
        if p not in PEERS:
            parser.error(f"--peers: unknown peer {p!r} (choose from {', '.join(PEERS)}, or none)")
    if args.trials < 1:
        parser.error("--trials must be at least 1")

    from search.worker.baselines import detect_seasons, forecast_baselines
    from search.driver.prepare import prepare

    nf_version = nf_available()
    prep = prepare(space_path(families[0] if families else "lstm"), [f"data.horizon={args.horizon}"])
    series = prep.series
    seasons = detect_seasons(series)
    lc = max(common_lookback(args.horizon), *seasons, 1)
    (a, b), end = series.part("val"), len(series.values)
    n_windows = end - b - args.horizon + 1  # every origin of the test part; inputs reach back
    _common.header(
        "bench_peers: this project's searches vs NeuralForecast Auto models vs naive forecasts",
        f"{series.info['name']}: {end} rows, split {series.info['split_rows']} (train [0,{a}), val [{a},{b}), test [{b},{end})); "
        f"horizon {args.horizon}; seasons {seasons or 'none'}; common test windows: lookback {lc}, {n_windows} windows x {args.horizon} steps\n"
        f"   budget: {args.trials} trials per method; this project: epochs {args.epochs or 'as in each space'}, "
        f"{args.workers} workers x 1 thread; NeuralForecast {nf_version or 'not installed'}"
        f"{f', max_steps fixed at {args.peer_max_steps}' if args.peer_max_steps else ', default search spaces'}, "
        f"torch threads {__import__('torch').get_num_threads()}",
    )

    rows: list[dict] = []
    started = time.perf_counter()
    base = forecast_baselines(series, lc, args.horizon, seasons)
    base_wall = time.perf_counter() - started
    if args.ablate:
        print(f"   naive test MAE {base['baseline_naive_test_mae']:.3f}, seasonal naive {base.get('baseline_seasonal_naive_test_mae', math.nan):.3f}")
        run_ablation(args, lc, base.get("baseline_seasonal_naive_test_mae"))
        _common.footer()
        return
    rows.append({"method": "naive (last value)", "mae": base["baseline_naive_test_mae"], "rmse": base["baseline_naive_test_rmse"],
                 "wall": base_wall, "cpu": math.nan, "trials": "-", "note": ""})
    if "seasonal_naive_season" in base:
        rows.append({"method": f"seasonal naive (season {base['seasonal_naive_season']})", "mae": base["baseline_seasonal_naive_test_mae"],
                     "rmse": base["baseline_seasonal_naive_test_rmse"], "wall": base_wall, "cpu": math.nan, "trials": "-", "note": ""})

    ours: list[dict] = []
    if families:
        import ray

        folder = _common.scratch_folder("bench-peers-")
        ray_started = time.perf_counter()
        _common.start_ray(args.num_cpus)
        print(f"   Ray runtime started in {time.perf_counter() - ray_started:.1f} s (not counted in the families' wall seconds)", flush=True)
        try:
            for family in families:
                row = run_ours(family, args, folder, series, lc)
                print(f"   done: {row['method']}: MAE {fmt(row.get('mae'))}, {row['wall']:.0f} s, {row['trials']}; best params {row.get('params')}", flush=True)
                ours.append(row)
        finally:
            ray.shutdown()
    rows.extend(ours)

    theirs: list[dict] = []
    for peer in peers:
        if nf_version is None:
            rows.append({"method": f"NeuralForecast {PEERS[peer]}", "mae": None, "rmse": None, "wall": None, "cpu": None,
                         "trials": "-", "note": NOT_INSTALLED})
            continue
        try:
            row = run_peer(peer, args, series, lc)
        except (KeyboardInterrupt, SystemExit) as exc:  # Ctrl-C: keep what finished, print the table
            if isinstance(exc, SystemExit) and isinstance(exc.code, str):
                raise  # this script's own check failed
            # (Lightning turns a Ctrl-C during training into sys.exit(1))
            theirs.append({"method": f"NeuralForecast {PEERS[peer]}", "mae": None, "rmse": None, "wall": None, "cpu": None,
                           "trials": "-", "note": "interrupted"})
            break
        print(f"   done: {row['method']}: MAE {fmt(row.get('mae'))}, {row['wall']:.0f} s; best params {row.get('params')}", flush=True)
        theirs.append(row)
    rows.extend(theirs)

    seasonal = base.get("baseline_seasonal_naive_test_mae")
    print()
    print(_common.table(
        ["method", "test MAE", "test RMSE", "MAE / seasonal naive", "wall s", "CPU s", "trials", "notes"],
        [[r["method"], fmt(r.get("mae")), fmt(r.get("rmse")),
          fmt(r["mae"] / seasonal, ".2f") + "x" if seasonal and r.get("mae") is not None else "-",
          fmt(r.get("wall"), ".1f"), fmt(r.get("cpu"), ".0f"), r["trials"], r["note"]] for r in rows],
    ))
    print(f"\n   test points per method: {n_windows} windows x {args.horizon} steps = {n_windows * args.horizon} "
          f"(origins rows {b - 1}..{end - args.horizon - 1}); MAE/RMSE in ppm")

    # the target
    scored = [r for r in ours if r.get("mae") is not None]
    peer_scored = [r for r in theirs if r.get("mae") is not None]
    if not scored:
        print("   target: not checked (no family of this project finished a trial)")
    else:
        best_ours = min(scored, key=lambda r: r["mae"])
        best_peer = min(peer_scored, key=lambda r: r["mae"]) if peer_scored else None
        refs = [(seasonal, "seasonal naive")] if seasonal else []
        if best_peer:
            refs.append((best_peer["mae"], best_peer["method"]))
        ref, ref_name = min(refs) if refs else (rows[0]["mae"], "naive")
        quality = best_ours["mae"] <= 0.9 * ref
        line = (f"   target: best of this project ({best_ours['method'].split(': ')[-1]}) MAE {best_ours['mae']:.3f} vs {ref_name} {ref:.3f} "
                f"({best_ours['mae'] / ref:.2f}x; needs <= 0.90x): {'met' if quality else 'missed'}")
        if best_peer:
            fast = best_ours["wall"] <= best_peer["wall"]
            line += (f"; wall {best_ours['wall']:.0f} s vs {best_peer['method']} {best_peer['wall']:.0f} s: "
                     f"{'within' if fast else 'over'}; overall {'MET' if quality and fast else 'MISSED'}")
        else:
            line += f"; no peer ran ({NOT_INSTALLED if nf_version is None and peers else 'none asked for'}), so checked against seasonal naive only"
        print(line)
    _common.footer()


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    os.environ.setdefault("PYTHONWARNINGS", "ignore")
    main()
