"""The utilisation figures of benchmarks/bench_first_result.py on hand-made trial timings."""

from __future__ import annotations

import datetime as dt
import sys
from types import SimpleNamespace

import pytest

from tests.conftest import REPO

sys.path.insert(0, str(REPO / "benchmarks"))
import bench_first_result  # noqa: E402

T0 = dt.datetime(2026, 1, 1)


def trial(start: float, end: float, work: float, train: float = 0.0):
    return SimpleNamespace(
        datetime_start=T0 + dt.timedelta(seconds=start),
        datetime_complete=T0 + dt.timedelta(seconds=end),
        user_attrs={"trial_seconds": work, "train_seconds": train},
    )


def test_workers_busy_all_the_time_is_full_utilisation():
    trials = [trial(0, 10, 10, 8), trial(0, 6, 6, 5), trial(6, 10, 4, 3)]
    u = bench_first_result.utilisation(trials, 2)
    assert u["util_run"] == pytest.approx(1.0)
    assert u["util_busy"] == pytest.approx(1.0)
    assert u["util_train_run"] == pytest.approx(16 / 20)


def test_gaps_and_the_tail_count_against_the_run_but_the_tail_not_against_the_busy_span():
    # worker A: one trial 0..4 (work 3: 1 s lost to the driver); worker B: 0..2 then 2..10 alone
    trials = [trial(0, 4, 3), trial(0, 2, 2), trial(2, 10, 8)]
    u = bench_first_result.utilisation(trials, 2)
    assert u["util_run"] == pytest.approx(13 / 20)
    # busy span 0..2 (the last start): A's work lies in 1..4 (1 s inside), B's 0..2 (2 s), the last 2..10 (none)
    assert u["util_busy"] == pytest.approx(3 / 4)


def test_too_few_trials_give_nan():
    u = bench_first_result.utilisation([trial(0, 1, 1)], 2)
    assert u["util_run"] != u["util_run"]
