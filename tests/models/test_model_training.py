"""Each family learns to forecast a sine: a few hundred Adam steps beat the mean by 10x."""

import math

import pytest
import torch

import models

LOOKBACK = 24
SMALL = {
    "lstm": {"layer_sizes": [16]},
    "gru": {"layer_sizes": [16]},
    "tcn": {"layer_sizes": [16, 16, 16], "dropout": 0.0},  # receptive field 29 >= lookback
    "transformer": {
        "d_model": 16,
        "nhead": 2,
        "num_layers": 1,
        "dim_feedforward": 32,
        "dropout": 0.0,
    },
}


def sine_windows(horizon: int, n_steps: int = 600, period: float = 17.0):
    """All (window, next horizon values) pairs of a sine; the last fifth held out."""
    series = torch.sin(2 * math.pi * torch.arange(n_steps, dtype=torch.float32) / period)
    starts = range(n_steps - LOOKBACK - horizon + 1)
    x = torch.stack([series[s : s + LOOKBACK] for s in starts]).unsqueeze(-1)  # (N, T, 1)
    y = torch.stack([series[s + LOOKBACK : s + LOOKBACK + horizon] for s in starts])
    y = y.unsqueeze(-1)  # (N, horizon, 1)
    split = int(0.8 * len(x))
    return (x[:split], y[:split]), (x[split:], y[split:])


@pytest.mark.parametrize(
    ("name", "horizon"), [("lstm", 1), ("gru", 4), ("tcn", 2), ("transformer", 3)]
)
def test_learns_a_sine(name, horizon):
    (x_train, y_train), (x_test, y_test) = sine_windows(horizon)
    model = models.build(
        name, n_features=1, horizon=horizon, n_targets=1, lookback=LOOKBACK, **SMALL[name]
    )
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(300):
        batch = torch.randint(len(x_train), (32,))
        loss = torch.nn.functional.mse_loss(model(x_train[batch]), y_train[batch])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    model.eval()
    with torch.no_grad():
        mse = torch.nn.functional.mse_loss(model(x_test), y_test).item()
    baseline = torch.nn.functional.mse_loss(y_train.mean().expand_as(y_test), y_test).item()
    assert mse < 0.1 * baseline, f"{name}: mse {mse:.4f} vs predicting the mean {baseline:.4f}"
