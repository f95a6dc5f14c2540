"""Training throughput: ``search.worker.train.run_trial``'s loop against a minimal hand-written loop.

One LSTM [64], lookback 48, horizon 1, batch 64, Adam, grad clip 1.0, 3 epochs, 1 torch
thread, on the shipped weekly CO2 series (``datasets/mauna_loa_co2_weekly.csv``; a synthetic
series of the same length with ``--synthetic`` or when the file is missing). Both loops train
the same network (``models.build`` + the same last-value reference wrapper, same seed, so the
same initial weights) on the same windows (``search.worker.data.windows``) in the same random batch
order (``torch.randperm`` with the same generator seed), with the same optimizer:

- run_trial: samples / its own ``train_seconds`` (the project's training-loop clock, which
  excludes the per-epoch validation and the final test evaluation);
- hand loop: index batch, zero_grad, forward, MSE, backward, clip, step -- nothing else,
  no validation; samples / its wall seconds.

A third row gives run_trial's whole call (validation every epoch, test evaluation, best-epoch
copy, checkpoint packing) in samples / wall second, for scale. The ratio is run_trial / hand
loop (1.00 = no overhead; target >= 0.97). Medians over ``--repeats`` interleaved repeats (the
order alternates).

    python benchmarks/bench_train.py [--quick] [--repeats 21] [--epochs 3] [--synthetic]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import _common
import torch

import models
from search.worker.data import windows
from search.driver.prepare import prepare
from models.reference import LastValueReference
from search.worker.train import make_optimizer, run_trial, seed_everything

CO2 = Path(__file__).resolve().parents[1] / "datasets" / "mauna_loa_co2_weekly.csv"

SPACE = """
    model: {{family: lstm, layer_sizes: "64", dropout: 0.0}}
    data:
      path: {path}
      time_column: {time_column}
      target: {target}
      lookback: 48
      horizon: 1
    train: {{epochs: {epochs}, batch_size: 64, lr: 1.0e-3, optimizer: adam, grad_clip: 1.0, patience: 0, seed: 0, device: cpu}}
    objective: {{metric: rmse, direction: minimize}}
    sampler: {{name: random, seed: 0}}
    pruner: {{name: none}}
"""


def make_space(folder: Path, epochs: int, synthetic: bool) -> Path:
    if synthetic or not CO2.exists():
        rows = sum(1 for _ in CO2.open()) - 1 if CO2.exists() else 2284
        path, time_column, target = _common.write_series(folder / "series.csv", rows), "t", "y"
    else:
        path, time_column, target = CO2, "date", "co2"
    return _common.write_space(folder, "train", SPACE.format(path=path, time_column=time_column, target=target, epochs=epochs))


def project_loop(config: dict, series, metric: str) -> tuple[float, float, int]:
    """(train_seconds as run_trial reports it, wall seconds of the whole call, samples)."""
    results: list[dict] = []
    started = time.perf_counter()
    run_trial(config, series, metric, results.append)
    wall = time.perf_counter() - started
    last = results[-1]
    if last.get("error"):
        raise SystemExit(f"run_trial failed: {last['error']}")
    samples = round(last["samples_per_second"] * last["train_seconds"])
    return last["train_seconds"], wall, samples


def hand_loop(config: dict, series) -> tuple[float, int]:
    """The same training, written out plainly: (seconds, samples)."""
    model_cfg, data_cfg, train_cfg = config["model"], config["data"], config["train"]
    seed_everything(train_cfg["seed"])
    x, y = windows(series, "train", data_cfg["lookback"], data_cfg["horizon"], data_cfg["stride"])
    params = {k: v for k, v in model_cfg.items() if k != "family"}
    net = models.build(
        model_cfg["family"], n_features=series.n_features, horizon=data_cfg["horizon"], n_targets=series.n_targets,
        lookback=data_cfg["lookback"], **params,
    )
    model = LastValueReference(net, series.n_targets) if data_cfg.get("reference", "last") == "last" else net
    optimizer = make_optimizer(model, train_cfg)
    loss_fn = torch.nn.MSELoss()
    batch_size, clip = train_cfg["batch_size"], train_cfg["grad_clip"]
    generator = torch.Generator().manual_seed(train_cfg["seed"])
    model.train()
    samples = 0
    started = time.perf_counter()
    for _ in range(train_cfg["epochs"]):
        order = torch.randperm(len(x), generator=generator)
        for i in range(0, len(order), batch_size):
            idx = order[i : i + batch_size]
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(model(x[idx]), y[idx])  # (B, H, T)
            loss.backward()
            if clip > 0:
                torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
            optimizer.step()
        samples += len(order)
    return time.perf_counter() - started, samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="7 repeats (about 15 seconds)")
    parser.add_argument("--repeats", type=int, help="interleaved repeats (default 21; quick 7)")
    parser.add_argument("--epochs", type=int, default=3, help="epochs per run (default 3)")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    parser.add_argument("--synthetic", action="store_true", help="a synthetic series of the CO2 file's length")
    args = parser.parse_args()
    repeats = args.repeats or (7 if args.quick else 21)
    torch.set_num_threads(args.threads)

    folder = _common.scratch_folder("bench-train-")
    prep = prepare(make_space(folder, args.epochs, args.synthetic))
    config = prep.compiled.trial_config({})
    n_windows = len(windows(prep.series, "train", config["data"]["lookback"], config["data"]["horizon"])[0])
    _common.header(
        "bench_train: training throughput, run_trial's loop vs a hand-written PyTorch loop",
        f"LSTM [64], lookback 48, batch 64, {args.epochs} epochs, {torch.get_num_threads()} thread(s); "
        f"{prep.series.info['name']}: {prep.series.info['rows']} rows, {n_windows} training windows; {repeats} repeats",
    )

    project_loop(config, prep.series, prep.compiled.metric)  # warm-up (allocator, kernels)
    hand_loop(config, prep.series)
    ours, whole, hand, paired = [], [], [], []
    for r in range(repeats):
        if r % 2:  # alternate which loop goes first, against drift in the machine's load
            seconds, hand_samples = hand_loop(config, prep.series)
        train_seconds, wall, samples = project_loop(config, prep.series, prep.compiled.metric)
        if not r % 2:
            seconds, hand_samples = hand_loop(config, prep.series)
        ours.append(samples / train_seconds)
        whole.append(samples / wall)
        hand.append(hand_samples / seconds)
        paired.append(ours[-1] / hand[-1])

    base, base_best = _common.median(hand), max(hand)
    rows = []
    for label, rates in (
        ("hand-written loop (baseline)", hand),
        ("run_trial, train_seconds", ours),
        ("run_trial, whole call (with validation)", whole),
    ):
        rows.append([
            label,
            f"{_common.median(rates):,.0f}",
            f"{max(rates):,.0f}",
            _common.spread(rates, fmt=",.0f"),
            f"{_common.median(rates) / base:.3f}",
            f"{max(rates) / base_best:.3f}",
        ])
    print(_common.table(["", "samples/s median", "best", "min..max", "ratio median", "ratio best"], rows))
    print(
        f"\n   ratio: samples/s over the baseline's (median of the repeats, and best of the repeats); paired per repeat,"
        f"\n   run_trial train_seconds / hand loop: median {_common.median(paired):.3f} ({_common.spread(paired, fmt='.3f')})."
        f" Target >= 0.97 (train_seconds row)."
    )
    _common.footer()


if __name__ == "__main__":
    main()
