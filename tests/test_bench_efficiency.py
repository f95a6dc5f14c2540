"""The pruner replay of benchmarks/bench_efficiency.py on hand-made learning curves."""

from __future__ import annotations

import sys

import optuna
import pytest

from tests.conftest import REPO

sys.path.insert(0, str(REPO / "benchmarks"))
import bench_efficiency  # noqa: E402

optuna.logging.set_verbosity(optuna.logging.WARNING)


def curve_trial(number: int, values: list[float]) -> optuna.trial.FrozenTrial:
    trial = optuna.trial.create_trial(value=min(values), intermediate_values=dict(enumerate(values, start=1)))
    trial.number = number
    return trial


def test_replay_prunes_the_trials_worse_than_the_median_after_the_warmup():
    good = [curve_trial(i, [1.0, 0.8, 0.6, 0.5]) for i in range(3)]
    bad = curve_trial(3, [2.0, 1.9, 1.8, 1.7])  # worse than every earlier trial at every step
    better = curve_trial(4, [0.9, 0.7, 0.5, 0.4])
    pruner = optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=2)
    epochs, best = bench_efficiency.replay([*good, bad, better], "minimize", pruner)
    # three start-up trials run their 4 epochs, the bad one stops at step 2 (warm-up 2: step 2
    # is the first checked), the better one runs to the end
    assert epochs == 3 * 4 + 2 + 4
    assert best == pytest.approx(0.4)


def test_replay_without_pruning_keeps_every_epoch_and_the_best():
    trials = [curve_trial(i, [1.0 + i, 0.5 + i]) for i in range(4)]
    epochs, best = bench_efficiency.replay(trials, "minimize", optuna.pruners.NopPruner())
    assert (epochs, best) == (8, pytest.approx(0.5))


def test_replay_can_lose_the_best_trial():
    """A late bloomer: worst at the first checked step, best at the end; the median pruner cuts it."""
    early = [curve_trial(i, [1.0, 0.9, 0.8]) for i in range(2)]
    bloomer = curve_trial(2, [3.0, 0.2, 0.1])
    epochs, best = bench_efficiency.replay([*early, bloomer], "minimize", optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=0))
    assert epochs == 2 * 3 + 1
    assert best == pytest.approx(0.8)
