"""One trial's training: build the model, train epoch by epoch, report each epoch.

Knows nothing of Ray or Optuna: ``run_trial`` calls ``report(result)`` once per epoch, and
the caller decides what a report means (Ray Tune's ``tune.report`` in a search, a list in
tests and benchmarks). Stopping a pruned trial is the caller's business too.

Every result carries the epoch's validation metrics (original units), the running totals
(``train_seconds``: seconds inside the training loop, ``samples_per_second``) and the trial's
facts (``n_params``, ``device``, ``node``). The last one has ``final: True``, the best epoch,
and the test metrics of the best epoch's weights. A trial that cannot train (a non-finite loss,
an exception) reports ``final: True`` with ``error`` set and ``objective`` NaN.
"""

from __future__ import annotations

import copy
import math
import random
import socket
import time
import traceback
from typing import Any, Callable

import numpy as np
import torch

import models
from search.data import SeriesData, windows

Report = Callable[[dict[str, Any]], None]


class NonFiniteLoss(RuntimeError):
    pass


class LastValueReference(torch.nn.Module):
    """Forecast relative to the window's last value: inputs minus the last row, outputs plus
    the last targets. The model then learns changes, not levels, and a trending series whose
    validation and test levels lie outside the training range (most real ones) stays within
    what it has seen. The wrapped model is unchanged and saved as is."""

    def __init__(self, model: torch.nn.Module, n_targets: int):
        super().__init__()
        self.model = model
        self.n_targets = n_targets

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        last = x[:, -1:, :]  # (B, 1, F)
        return self.model(x - last) + last[:, :, : self.n_targets]  # (B, H, T)


def pick_device(requested: str = "auto") -> torch.device:
    """CUDA > MPS > CPU for ``auto``; otherwise the device asked for."""
    if requested != "auto":
        return torch.device(requested)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def node_name() -> str:
    """Host name plus the Ray node id when inside Ray: tells nodes apart on one host too."""
    host = socket.gethostname()
    try:
        import ray

        if ray.is_initialized():
            return f"{host}/{ray.get_runtime_context().get_node_id()[:8]}"
    except Exception:
        pass
    return host


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def regression_metrics(pred: torch.Tensor, target: torch.Tensor) -> dict[str, float]:
    """mse, rmse, mae, mape (%), smape (%) over all elements, in the units given."""
    err = pred - target
    mse = float((err**2).mean())
    abs_t = target.abs()
    mape = float((err.abs() / abs_t.clamp_min(1e-8)).mean() * 100)
    smape = float((2 * err.abs() / (abs_t + pred.abs()).clamp_min(1e-8)).mean() * 100)
    return {"mse": mse, "rmse": math.sqrt(mse), "mae": float(err.abs().mean()), "mape": mape, "smape": smape}


@torch.no_grad()
def evaluate(model, x: torch.Tensor, y: torch.Tensor, series: SeriesData, device, batch_size: int = 1024) -> dict[str, float]:
    """Loss (scaled MSE) and regression metrics in original units over all windows of a part."""
    model.eval()
    preds = []
    for i in range(0, len(x), batch_size):
        preds.append(model(x[i : i + batch_size].to(device)).float().cpu())  # (B, H, T)
    pred = torch.cat(preds)
    out = regression_metrics(series.unscale_targets(pred), series.unscale_targets(y))
    out["loss"] = float(((pred - y) ** 2).mean())
    return out


def make_optimizer(model, train: dict[str, Any]) -> torch.optim.Optimizer:
    name, lr, wd = train["optimizer"], train["lr"], train["weight_decay"]
    if name == "adam":
        return torch.optim.Adam(model.parameters(), lr=lr, weight_decay=wd)
    if name == "adamw":
        return torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=wd)
    return torch.optim.SGD(model.parameters(), lr=lr, momentum=train["momentum"], weight_decay=wd)


def run_trial(
    config: dict[str, dict[str, Any]],
    series: SeriesData,
    metric: str,
    report: Report,
    *,
    direction: str = "minimize",
    with_checkpoint: bool = False,
) -> None:
    """Train one configuration (sections model/data/train), reporting every epoch. With
    ``with_checkpoint`` the final report carries the best epoch's model (``checkpoint`` bytes)."""
    facts: dict[str, Any] = {"node": node_name(), "device": "?", "n_params": 0}
    try:
        _train(config, series, metric, report, facts, direction, with_checkpoint)
    except Exception as exc:  # recorded on the trial; the search goes on
        message = str(exc) if isinstance(exc, NonFiniteLoss) else f"{type(exc).__name__}: {exc}"
        report({**facts, "final": True, "objective": float("nan"), "error": message, "traceback": traceback.format_exc()[-4000:]})


def _train(config, series: SeriesData, metric: str, report: Report, facts: dict, direction: str, with_checkpoint: bool) -> None:
    model_cfg, data_cfg, train_cfg = config["model"], config["data"], config["train"]
    seed_everything(train_cfg["seed"])
    device = pick_device(train_cfg["device"])
    facts["device"] = str(device)
    lookback, horizon, stride = data_cfg["lookback"], data_cfg["horizon"], data_cfg["stride"]
    x_train, y_train = windows(series, "train", lookback, horizon, stride)
    x_val, y_val = windows(series, "val", lookback, horizon)
    x_test, y_test = windows(series, "test", lookback, horizon)

    params = {k: v for k, v in model_cfg.items() if k != "family"}
    model = models.build(
        model_cfg["family"], n_features=series.n_features, horizon=horizon, n_targets=series.n_targets, lookback=lookback, **params
    ).to(device)
    facts["n_params"] = models.count_params(model)
    core = model  # saved in checkpoints without the wrapper below
    if data_cfg.get("reference", "last") == "last":
        model = LastValueReference(model, series.n_targets)
    optimizer = make_optimizer(model, train_cfg)
    loss_fn = torch.nn.MSELoss()
    batch_size, clip, patience = train_cfg["batch_size"], train_cfg["grad_clip"], train_cfg["patience"]
    sign = 1.0 if direction == "minimize" else -1.0

    best, best_epoch, best_state = math.inf, 0, None
    train_seconds, samples = 0.0, 0
    generator = torch.Generator().manual_seed(train_cfg["seed"])
    for epoch in range(1, train_cfg["epochs"] + 1):
        model.train()
        started = time.perf_counter()
        order = torch.randperm(len(x_train), generator=generator)
        total = 0.0
        for i in range(0, len(order), batch_size):
            idx = order[i : i + batch_size]
            xb, yb = x_train[idx].to(device), y_train[idx].to(device)  # (B, L, F), (B, H, T)
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(model(xb), yb)
            if not torch.isfinite(loss):
                raise NonFiniteLoss(f"non-finite loss at epoch {epoch}")
            loss.backward()
            if clip > 0:
                torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
            optimizer.step()
            total += loss.item() * len(idx)
        train_seconds += time.perf_counter() - started
        samples += len(order)

        val = evaluate(model, x_val, y_val, series, device)
        value = val[metric]
        if not math.isfinite(value):
            raise NonFiniteLoss(f"non-finite validation {metric} at epoch {epoch}")
        if sign * value < sign * best or best_state is None:
            best, best_epoch = value, epoch
            best_state = copy.deepcopy(model.state_dict())
        stop_early = patience > 0 and epoch - best_epoch >= patience
        final = stop_early or epoch == train_cfg["epochs"]
        result = {
            **facts,
            "epoch": epoch,
            "objective": value,
            "train_loss": total / max(len(order), 1),
            **{f"val_{k}": v for k, v in val.items()},
            "train_seconds": train_seconds,
            "epochs_run": epoch,
            "samples_per_second": samples / train_seconds if train_seconds > 0 else 0.0,
            "best_epoch": best_epoch,
            "best_objective": best,
            "final": final,
        }
        if final:
            model.load_state_dict(best_state)
            if with_checkpoint:
                from search.checkpoint import pack

                result["checkpoint"] = pack(core, config, series)
            result.update({f"test_{k}": v for k, v in evaluate(model, x_test, y_test, series, device).items()})
            result["early_stopped"] = stop_early
        report(result)
        if final:
            return
