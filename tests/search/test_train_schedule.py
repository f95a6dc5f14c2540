"""Learning-rate schedules: warmup, cosine, onecycle, plateau; the epoch's rate in each report."""

from __future__ import annotations

import math

import pytest
import torch

from search.worker.train import LrSchedule
from tests.search.test_train import run, trial_config


def epoch_lrs(schedule: LrSchedule, epochs: int, values=None) -> list[float]:
    """The rate of each epoch's last step, as ``run_trial`` reports it (``values``: validation)."""
    model = torch.nn.Linear(1, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=schedule.lr)
    out, step = [], 0
    for epoch in range(1, epochs + 1):
        for _ in range(schedule.steps_per_epoch):
            schedule.apply(optimizer, step)
            step += 1
        out.append(optimizer.param_groups[0]["lr"])
        schedule.epoch_end(epoch, values[epoch - 1] if values else 0.0)
    return out


def test_none_keeps_the_rate():
    assert epoch_lrs(LrSchedule(0.01, "none", 0, 5, 4), 5) == [0.01] * 5


def test_warmup_rises_linearly_then_holds():
    lrs = epoch_lrs(LrSchedule(0.01, "none", 4, 6, 3), 6)
    assert lrs == pytest.approx([0.01 * (0.1 + 0.9 * e / 4) for e in (1, 2, 3, 4)] + [0.01, 0.01])
    # the very first step starts near lr/10
    assert LrSchedule(0.01, "none", 4, 6, 3).factor(0) == pytest.approx(0.1 + 0.9 / 12)


def test_cosine_goes_down_to_about_zero_at_the_last_epoch():
    lrs = epoch_lrs(LrSchedule(0.01, "cosine", 0, 10, 5), 10)
    assert all(a > b for a, b in zip(lrs, lrs[1:]))
    assert lrs[-1] < 1e-3 * 0.01
    # first step at the full rate, as CosineAnnealingLR
    assert LrSchedule(0.01, "cosine", 0, 10, 5).factor(0) == 1.0


def test_cosine_after_warmup():
    lrs = epoch_lrs(LrSchedule(0.01, "cosine", 2, 10, 5), 10)
    assert lrs[:2] == pytest.approx([0.01 * 0.55, 0.01])
    assert all(a > b for a, b in zip(lrs[2:], lrs[3:])) and lrs[-1] < 1e-4


def test_onecycle_matches_torch():
    epochs, steps = 6, 5
    model = torch.nn.Linear(1, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    torch_sched = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=0.01, total_steps=epochs * steps)
    expected = []
    for _ in range(epochs * steps):
        expected.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        torch_sched.step()
    ours = LrSchedule(0.01, "onecycle", 0, epochs, steps)
    assert [0.01 * ours.factor(i) for i in range(epochs * steps)] == pytest.approx(expected, rel=1e-9)


def test_plateau_halves_after_more_than_two_epochs_without_improvement():
    values = [1.0, 0.9, 0.95, 0.95, 0.95, 0.8, 0.9, 0.9, 0.9, 0.9]
    lrs = epoch_lrs(LrSchedule(0.01, "plateau", 0, 10, 3), 10, values)
    # epochs 3, 4, 5 do not improve on 0.9: the rate halves from epoch 6 on; 7, 8, 9 do not
    # improve on 0.8: halved again from epoch 10
    assert lrs == pytest.approx([0.01] * 5 + [0.005] * 4 + [0.0025])


def test_plateau_follows_the_direction():
    values = [1.0, 0.9, 0.8, 0.7, 0.6]  # getting worse when maximizing
    lrs = epoch_lrs(LrSchedule(0.01, "plateau", 0, 5, 1, "maximize"), 5, values)
    assert lrs == pytest.approx([0.01] * 4 + [0.005])


def test_reports_carry_the_epoch_rate(tiny_space):
    config, series = trial_config(tiny_space, epochs=4, schedule="cosine", warmup_epochs=1)
    reports = run(config, series)
    lrs = [r["lr"] for r in reports]
    assert len(lrs) == 4 and lrs[0] == pytest.approx(0.005)  # warmup reaches lr at its end
    assert all(a > b for a, b in zip(lrs[1:], lrs[2:])) and lrs[-1] < 0.005 * 0.05
    assert math.isfinite(reports[-1]["test_rmse"])


def test_schedule_keys_are_validated(tiny_space):
    from search.errors import ConfigError
    from search.space import Categorical, load_space

    space = load_space(tiny_space, ["train.schedule={choices: [none, cosine]}", "train.warmup_epochs=2"])
    assert space.train["schedule"] == Categorical(("none", "cosine")) and space.train["warmup_epochs"] == 2
    assert load_space(tiny_space).train["schedule"] == "none"
    with pytest.raises(ConfigError, match=r"train.schedule: 'cosin' is not one of .*did you mean 'cosine'"):
        load_space(tiny_space, ["train.schedule=cosin"])
    with pytest.raises(ConfigError, match=r"train.warmup_epochs: -1 is out of range; must be >= 0"):
        load_space(tiny_space, ["train.warmup_epochs=-1"])
