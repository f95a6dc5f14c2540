"""Memory of windowing: peak RSS of ``search.worker.data.windows`` over a long series.

A 10-million-step float32 series with one feature (40 MB) is built as a ``SeriesData``
directly (70/15/15 split) and cut into windows of lookback 512 (horizon 1). Each stage runs in
a fresh subprocess, which measures its peak RSS (``resource.getrusage`` maxrss) minus the
peak it had right after the raw series was allocated (imports and a warm-up of the same
torch operations on a tiny tensor come before that baseline):

- windows: the train/validation/test windows (``Tensor.unfold`` views);
- + one batch: ``x[idx]`` / ``y[idx]`` for 64 random window indices;
- + epoch order as int64: ``torch.randperm`` over every training window (torch's default
  dtype, which run_trial used at first), then one batch taken from it;
- + epoch order as int32: the same with ``dtype=torch.int32``, as run_trial draws each
  epoch's order (the same permutation for the same generator, in half the memory).

Ratio: the extra peak over the raw series' bytes (target <= 2x). A copy of every window
(``x.contiguous()``) would need N x lookback x features x 4 bytes; that figure is printed,
not allocated.

    python benchmarks/bench_memory.py [--quick] [--steps 10000000] [--lookback 512]

Full mode also repeats the measurement at lookbacks 64 and 2,048 (the extra memory does not
depend on the lookback).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys

import _common

STAGES = ("windows", "batch", "epoch", "epoch32")
BATCH = 64


def peak_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB


def child(steps: int, lookback: int, stage: str) -> dict:
    """One measurement in this (fresh) process; printed as JSON for the parent."""
    import numpy as np
    import torch

    from search.worker.data import SeriesData, windows

    # Warm-up on a tiny series: the same operations, so their one-time allocations
    # (kernels, thread pools) fall before the baseline.
    tiny = SeriesData(np.zeros((64, 1), np.float32), 1, (32, 48), np.zeros(1, np.float32), np.ones(1, np.float32), ("y",))
    tx, ty = windows(tiny, "train", 4, 1)
    tx[torch.randperm(len(tx))[:4]].sum(), ty[:4].sum()

    values = np.random.default_rng(0).random((steps, 1), dtype=np.float32)  # (T, F), written: resident
    raw = values.nbytes
    a, b = int(steps * 0.7), int(steps * 0.85)
    series = SeriesData(values, 1, (a, b), np.zeros(1, np.float32), np.ones(1, np.float32), ("y",), {"name": "synthetic"})
    base = peak_bytes()

    x, y = windows(series, "train", lookback, 1)  # (N, L, F), (N, H, T) views
    xv, yv = windows(series, "val", lookback, 1)
    xt, yt = windows(series, "test", lookback, 1)
    batch_bytes = 0
    if stage == "batch":
        idx = torch.randint(len(x), (BATCH,))
        xb, yb = x[idx], y[idx]  # copies: (B, L, F), (B, H, T)
        batch_bytes = xb.nbytes + yb.nbytes
    elif stage in ("epoch", "epoch32"):
        # run_trial draws int32: the same permutation as int64 in half the memory.
        order = torch.randperm(len(x), dtype=torch.int32 if stage == "epoch32" else torch.int64)
        xb, yb = x[order[:BATCH]], y[order[:BATCH]]
        batch_bytes = xb.nbytes + yb.nbytes
    return {
        "raw": raw,
        "extra": peak_bytes() - base,
        "windows": len(x) + len(xv) + len(xt),
        "train_windows": len(x),
        "copy_all": (len(x) + len(xv) + len(xt)) * lookback * series.n_features * 4,
        "batch_bytes": batch_bytes,
        "shares_memory": x.untyped_storage().data_ptr() == torch.from_numpy(values).untyped_storage().data_ptr(),
    }


def measure(steps: int, lookback: int, stage: str) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--child", stage, "--steps", str(steps), "--lookback", str(lookback)],
        capture_output=True, text=True, check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def mib(n: float) -> str:
    return f"{n / 2**20:,.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="lookback 512 only (seconds)")
    parser.add_argument("--steps", type=int, default=10_000_000, help="series length (default 10,000,000)")
    parser.add_argument("--lookback", type=int, default=512, help="window length (default 512)")
    parser.add_argument("--child", choices=STAGES, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.steps, args.lookback, args.child)))
        return

    lookbacks = [args.lookback] if args.quick else sorted({64, args.lookback, 2048})
    _common.header(
        "bench_memory: peak RSS of windowing a long series (search.worker.data.windows)",
        f"{args.steps:,} steps x 1 feature, float32; lookbacks {', '.join(map(str, lookbacks))}; one subprocess per row",
    )
    labels = {
        "windows": "windows (views)",
        "batch": f"+ one batch of {BATCH}",
        "epoch": "+ epoch order as int64 + batch",
        "epoch32": "+ epoch order as int32 (run_trial) + batch",
    }
    rows = []
    facts = {}
    for lookback in lookbacks:
        for stage in STAGES:
            m = measure(args.steps, lookback, stage)
            facts[lookback] = m
            rows.append([
                f"lookback {lookback}: {labels[stage]}",
                mib(m["raw"]),
                mib(m["extra"]),
                f"{m['extra'] / m['raw']:.3f}",
                mib(m["batch_bytes"]) if m["batch_bytes"] else "-",
            ])
    print(_common.table(["", "raw series MiB", "extra peak MiB", "ratio", "batch tensors MiB"], rows))
    print()
    for lookback, m in facts.items():
        print(
            f"   lookback {lookback}: {m['windows']:,} windows ({m['train_windows']:,} train), views of the series: "
            f"{m['shares_memory']}; a copy of every window: {m['copy_all'] / 2**30:,.1f} GiB ({m['copy_all'] / m['raw']:,.0f}x)"
        )
    print(
        "\n   extra peak: maxrss after the stage minus maxrss right after the raw series was allocated; ratio over the raw"
        "\n   series' bytes. Target: ratio <= 2. The epoch order costs 8 bytes per training window (4 as int32)."
    )
    _common.footer(timing=False)


if __name__ == "__main__":
    main()
