"""A quantity never negative before the test part (a count, a load, sales) is never served
below zero: every candidate's forecasts are raised to the floor before they are scored and
combined, and the served forecaster raises its members' forecasts of new data alike."""

from __future__ import annotations

import numpy as np
import torch

from search.results import served
from search.results.served_forecaster import ServedForecaster


class _Scaled:
    """A series whose targets are scaled as ``(raw - 1) / 2`` (two targets)."""

    def unscale_targets(self, values, ids):
        return values * 2.0 + 1.0


def test_a_members_forecasts_are_raised_to_the_floor_in_the_scaled_units():
    scaled = torch.tensor([[[-1.0, -1.0], [0.0, -3.0]], [[1.0, 0.5], [-0.75, 2.0]]], dtype=torch.float64)  # (N=2, H=2, T=2)
    out = served._floored(_Scaled(), scaled, None, [0.0, None])
    raw = out * 2.0 + 1.0
    assert torch.all(raw[..., 0] >= 0.0)
    assert torch.equal(out[..., 0], torch.tensor([[-0.5, 0.0], [1.0, -0.5]], dtype=torch.float64))  # raw -1 and -0.5 raised to 0
    assert torch.equal(out[..., 1], scaled[..., 1])  # a target that may be negative: untouched
    assert served._floored(_Scaled(), scaled, None, [None, None]) is scaled


def test_a_combination_of_floored_members_stays_above_the_floor_and_scores_no_worse():
    rng = np.random.default_rng(0)
    truth = torch.from_numpy(rng.poisson(0.4, (40, 3, 1)).astype(np.float64))  # counts, mostly zero
    raw = {"a": truth - 0.6 + 0.3 * torch.from_numpy(rng.standard_normal((40, 3, 1))), "b": truth * 0.0 - 0.2}
    scaled = {k: (v - 1.0) / 2.0 for k, v in raw.items()}
    floored = {k: served._floored(_Scaled(), v, None, [0.0]) for k, v in scaled.items()}
    combined = 0.3 * floored["a"] + 0.7 * floored["b"]
    assert torch.all(combined * 2.0 + 1.0 >= -1e-12)
    truth_scaled = (truth - 1.0) / 2.0
    for k in raw:  # raising a forecast to a floor no target is under never moves it away from its target
        assert torch.all((floored[k] - truth_scaled).abs() <= (scaled[k] - truth_scaled).abs() + 1e-12)


def test_the_served_forecaster_raises_each_member_to_the_recorded_floor():
    forecaster = ServedForecaster(None, {}, floor=[0.0, None])
    got = forecaster._up(np.array([[-1.0, -1.0], [2.0, -3.0]]))
    assert np.array_equal(got, np.array([[0.0, -1.0], [2.0, -3.0]]))
    old = ServedForecaster(None, {})  # a study recorded before the floor: its forecasts as they were scored
    assert np.array_equal(old._up(np.array([[-1.0]])), np.array([[-1.0]]))
