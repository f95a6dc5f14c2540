"""A trained model's inference latency: the ``latency_ms`` objective of a multi-objective study.

Measured on the worker, on the trial's device, after training: one fixed batch of
``LATENCY_BATCH`` validation windows (repeated when the part holds fewer), one untimed warm-up
pass, then ``LATENCY_REPEATS`` timed forward passes; the median in milliseconds. The model
runs as it forecasts: in eval mode, without gradients, in the trial's precision, with its
task's wrapper (the last-value reference, the one-hot input). On CUDA and MPS each pass is
synchronised, so the time is the GPU's work and not only the launch.
"""

from __future__ import annotations

import statistics
import time

import torch

LATENCY_BATCH = 32  # windows per timed forward pass
LATENCY_REPEATS = 7  # timed passes after the warm-up; the median is reported


def latency_batch(x, n: int = LATENCY_BATCH) -> torch.Tensor:
    """``n`` windows of ``x`` (a tensor or a WindowSet), the first ones repeated if it holds fewer."""
    index = torch.arange(n) % len(x)
    return x[index]  # (n, L, F)


@torch.inference_mode()
def forward_latency_ms(model, batch: torch.Tensor, device, amp_dtype: torch.dtype | None = None, repeats: int = LATENCY_REPEATS) -> float:
    """The median milliseconds of ``model(batch)`` on ``device`` over ``repeats`` passes, after one warm-up."""
    device = torch.device(device)
    model.eval()
    batch = batch.to(device)
    sync = {"cuda": torch.cuda.synchronize, "mps": torch.mps.synchronize}.get(device.type, lambda: None)
    times = []
    for i in range(repeats + 1):
        sync()
        started = time.perf_counter()
        with torch.autocast(device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
            model(batch)
        sync()
        if i:  # the first pass warms caches and kernels up
            times.append((time.perf_counter() - started) * 1000)
    return float(statistics.median(times))
