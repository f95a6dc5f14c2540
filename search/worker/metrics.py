"""Forecast error metrics in the data's own units: a leaf that training, baselines and
continuous evaluation share."""

from __future__ import annotations

import math

import torch


def regression_metrics(pred: torch.Tensor, target: torch.Tensor) -> dict[str, float]:
    """mse, rmse, mae, mape (%), smape (%) over all elements, in the units given."""
    err = pred - target
    mse = float((err**2).mean())
    abs_t = target.abs()
    mape = float((err.abs() / abs_t.clamp_min(1e-8)).mean() * 100)
    smape = float((2 * err.abs() / (abs_t + pred.abs()).clamp_min(1e-8)).mean() * 100)
    return {"mse": mse, "rmse": math.sqrt(mse), "mae": float(err.abs().mean()), "mape": mape, "smape": smape}
