"""The ``latency_ms`` objective (``search.worker.latency``) and the values a multi-objective
trial reports (``run_trial(objectives=...)``)."""

from __future__ import annotations

import torch

from search.space import compile_space, load_space
from search.worker.latency import LATENCY_BATCH, forward_latency_ms, latency_batch
from search.worker.load import load_series
from search.worker.train import run_trial


def test_the_batch_is_fixed_and_the_median_of_timed_passes():
    x = torch.arange(5 * 3 * 2, dtype=torch.float32).reshape(5, 3, 2)  # (N, L, F)
    batch = latency_batch(x)
    assert batch.shape == (LATENCY_BATCH, 3, 2) and torch.equal(batch[5], x[0])  # fewer windows: repeated
    calls = []

    class Counting(torch.nn.Module):
        def forward(self, inputs):
            calls.append((torch.is_grad_enabled(), self.training))
            return inputs.sum()

    model = Counting().train()
    ms = forward_latency_ms(model, batch, "cpu", repeats=5)
    assert ms > 0 and len(calls) == 6  # one warm-up, five timed
    assert set(calls) == {(False, False)}  # no gradients, eval mode


def test_a_multi_objective_trial_reports_every_objective_at_its_best_epoch(tiny_space):
    compiled = compile_space(load_space(tiny_space))
    config = compiled.trial_config({"layer_sizes": "8", "lookback": 8, "lr": 0.005})
    reports: list[dict] = []
    run_trial(config, load_series(compiled.space.data), "mae", reports.append, objectives=("mae", "n_params", "latency_ms", "rmse"))
    final = reports[-1]
    best = next(r for r in reports if r["epoch"] == final["best_epoch"])
    mae, n_params, latency, rmse = final["objective_values"]
    assert mae == final["best_objective"] == best["val_mae"] and rmse == best["val_rmse"]
    assert n_params == final["n_params"] > 0 and latency == final["latency_ms"] > 0
    assert all("objective_values" not in r for r in reports[:-1])
    single: list[dict] = []
    run_trial(config, load_series(compiled.space.data), "rmse", single.append)
    assert "objective_values" not in single[-1] and "latency_ms" not in single[-1]  # measured only when asked for
