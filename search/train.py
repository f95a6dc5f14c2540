"""One trial's training: build the model, train epoch by epoch, report each epoch.

Knows nothing of Ray or Optuna: ``run_trial`` calls ``report(result)`` once per epoch, and
the caller decides what a report means (Ray Tune's ``tune.report`` in a search, a list in
tests and benchmarks). Stopping a pruned trial is the caller's business too.

Every result carries the epoch's validation metrics (original units), the running totals
(``train_seconds``: seconds inside the training loop, ``samples_per_second``;
``trial_seconds``: all of the trial's own work so far, validation included, without the time
spent in ``report``) and the trial's
facts (``n_params``, ``device``, ``precision``, ``node``), and ``lr``: the learning rate of the epoch's last
step (see ``LrSchedule``). The last one has ``final: True``, the best epoch,
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
from search.data import SeriesData, WindowSet, windows

Report = Callable[[dict[str, Any]], None]


PLATEAU_FACTOR = 0.5  # schedule "plateau": multiply the rate by this ...
PLATEAU_PATIENCE = 2  # ... after more than this many epochs without a better validation value


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


# Training losses of a forecast, on the scaled targets (``train.loss``). Huber's delta of 1 is
# one standard deviation of the training part with the default scaler.
FORECAST_LOSSES = {"mse": torch.nn.MSELoss, "mae": torch.nn.L1Loss, "huber": torch.nn.HuberLoss}


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
def evaluate(
    model, x: torch.Tensor | WindowSet, y: torch.Tensor, series: SeriesData, device, batch_size: int = 1024, amp_dtype: torch.dtype | None = None
) -> dict[str, float]:
    """Loss (scaled MSE) and regression metrics in original units over all windows of a part
    (tasks classify and text: their own metrics, ``search.tasks.TaskData.evaluate``)."""
    if hasattr(series, "task_windows"):
        return series.evaluate(model, x, y, device, batch_size, amp_dtype)
    model.eval()
    preds = []
    for i in range(0, len(x), batch_size):
        with torch.autocast(torch.device(device).type, dtype=amp_dtype, enabled=amp_dtype is not None):
            preds.append(model(x[i : i + batch_size].to(device)).float().cpu())  # (B, H, T)
    pred = torch.cat(preds)
    ids = getattr(x, "series_index", None)  # (N,) with several series (a WindowSet)
    out = regression_metrics(series.unscale_targets(pred, ids), series.unscale_targets(y, ids))
    out["loss"] = float(((pred - y) ** 2).mean())
    return out


AMP_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def resolve_precision(requested: str, device: torch.device) -> tuple[str, str | None]:
    """The precision a run uses (fp32, bf16, fp16) and, when it differs from the one asked
    for, why. ``auto``: bf16 on CUDA where supported, else fp16 there; fp32 on CPU and MPS.
    Mixed precision runs on CUDA only (torch.autocast; fp16 with a GradScaler): asked for
    elsewhere, the run falls back to fp32 and says so rather than failing."""
    if device.type != "cuda":
        if requested in ("auto", "fp32"):
            return "fp32", None
        return "fp32", f"precision {requested} needs CUDA; ran fp32 on {device.type}"
    bf16_ok = torch.cuda.is_bf16_supported()
    if requested == "auto":
        return ("bf16" if bf16_ok else "fp16"), None
    if requested == "bf16" and not bf16_ok:
        return "fp16", "precision bf16 is not supported by this GPU; ran fp16"
    return requested, None


def make_optimizer(model, train: dict[str, Any]) -> torch.optim.Optimizer:
    name, lr, wd = train["optimizer"], train["lr"], train["weight_decay"]
    if name == "adam":
        return torch.optim.Adam(model.parameters(), lr=lr, weight_decay=wd)
    if name == "adamw":
        return torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=wd)
    return torch.optim.SGD(model.parameters(), lr=lr, momentum=train["momentum"], weight_decay=wd)


class LrSchedule:
    """The learning rate of every optimisation step: a linear warmup, then a schedule.

    - warmup: over the first ``warmup_epochs`` epochs the rate rises linearly, step by step,
      from ``lr / 10`` to ``lr`` (it reaches ``lr`` at the warmup's last step);
    - ``none``: ``lr`` after the warmup;
    - ``cosine``: per step, from ``lr`` down to ~0 at the last step (``CosineAnnealingLR`` with
      ``T_max`` = the steps after the warmup);
    - ``onecycle``: per step, the shape of ``torch.optim.lr_scheduler.OneCycleLR`` with its
      defaults (up from ``lr/25`` to ``lr`` over 30 % of the steps after the warmup, then down to
      ``lr/25e4``; both cosine);
    - ``plateau``: per epoch, halved when the validation metric has not improved for more than
      ``PLATEAU_PATIENCE`` epochs (``ReduceLROnPlateau(factor=0.5, patience=2)`` semantics,
      counting from the end of the warmup).

    One object computes the rate and writes it into the optimizer (``apply``) before each step,
    so warmup and schedule compose without chaining torch schedulers.
    """

    def __init__(self, lr: float, kind: str, warmup_epochs: int, epochs: int, steps_per_epoch: int, direction: str = "minimize"):
        self.lr, self.kind = lr, kind
        self.steps_per_epoch = max(steps_per_epoch, 1)
        self.warmup_steps = min(warmup_epochs, epochs) * self.steps_per_epoch
        self.total_steps = epochs * self.steps_per_epoch
        self.sign = 1.0 if direction == "minimize" else -1.0
        self.plateau_scale = 1.0
        self.best = math.inf  # sign * the best validation value so far
        self.bad_epochs = 0

    def factor(self, step: int) -> float:
        """Multiplier of ``lr`` at optimisation step ``step`` (0-based, over the whole run)."""
        if step < self.warmup_steps:
            return 0.1 + 0.9 * (step + 1) / self.warmup_steps
        j, n = step - self.warmup_steps, max(self.total_steps - self.warmup_steps, 1)
        if self.kind == "cosine":
            return 0.5 * (1 + math.cos(math.pi * min(j, n) / n))
        if self.kind == "onecycle":
            return _one_cycle(j, n)
        if self.kind == "plateau":
            return self.plateau_scale
        return 1.0

    def apply(self, optimizer: torch.optim.Optimizer, step: int) -> float:
        lr = self.lr * self.factor(step)
        for group in optimizer.param_groups:
            group["lr"] = lr
        return lr

    def epoch_end(self, epoch: int, value: float) -> None:
        """Record an epoch's validation value (only ``plateau`` uses it, after the warmup)."""
        if self.kind != "plateau" or epoch * self.steps_per_epoch <= self.warmup_steps:
            return
        if self.sign * value < self.best:
            self.best, self.bad_epochs = self.sign * value, 0
            return
        self.bad_epochs += 1
        if self.bad_epochs > PLATEAU_PATIENCE:
            self.plateau_scale *= PLATEAU_FACTOR
            self.bad_epochs = 0


def _one_cycle(step: int, total: int, pct_start: float = 0.3, div: float = 25.0, final_div: float = 1e4) -> float:
    """``OneCycleLR``'s default two-phase cosine shape, as a multiplier of the peak rate."""

    def anneal(start: float, end: float, pct: float) -> float:
        return end + (start - end) / 2 * (math.cos(math.pi * pct) + 1)

    initial, final = 1 / div, 1 / (div * final_div)
    up_end = float(pct_start * total) - 1
    if step <= up_end:
        return anneal(initial, 1.0, step / up_end if up_end > 0 else 1.0)
    down = (total - 1) - up_end
    return anneal(1.0, final, (step - up_end) / down if down > 0 else 1.0)


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
    started, waited = time.perf_counter(), 0.0

    def timed(result: dict) -> None:
        # trial_seconds: the trial's own work so far (windows, model, epochs with their
        # validation, test evaluation), without the time spent handing results to the caller
        nonlocal waited
        handed = time.perf_counter()
        result["trial_seconds"] = handed - started - waited
        report(result)
        waited += time.perf_counter() - handed

    try:
        _train(config, series, metric, timed, facts, direction, with_checkpoint)
    except Exception as exc:  # recorded on the trial; the search goes on
        message = str(exc) if isinstance(exc, NonFiniteLoss) else f"{type(exc).__name__}: {exc}"
        timed({**facts, "final": True, "objective": float("nan"), "error": message, "traceback": traceback.format_exc()[-4000:]})


def _train(config, series: SeriesData, metric: str, report: Report, facts: dict, direction: str, with_checkpoint: bool) -> None:
    model_cfg, data_cfg, train_cfg = config["model"], config["data"], config["train"]
    seed_everything(train_cfg["seed"])
    device = pick_device(train_cfg["device"])
    facts["device"] = str(device)
    precision, note = resolve_precision(train_cfg.get("precision", "auto"), device)
    facts["precision"] = precision
    if note:
        facts["precision_note"] = note
    amp_dtype = AMP_DTYPES.get(precision)  # None: fp32, no autocast
    grad_scaler = torch.amp.GradScaler("cuda", enabled=precision == "fp16")  # fp16 gradients underflow without it
    lookback, horizon, stride = data_cfg["lookback"], data_cfg["horizon"], data_cfg["stride"]
    x_train, y_train = windows(series, "train", lookback, horizon, stride)
    x_val, y_val = windows(series, "val", lookback, horizon)
    x_test, y_test = windows(series, "test", lookback, horizon)

    params = {k: v for k, v in model_cfg.items() if k != "family"}
    task_io = getattr(series, "model_io", {})  # classify / text: a class head (search.tasks)
    model = models.build(
        model_cfg["family"], n_features=series.n_features, horizon=horizon, n_targets=series.n_targets, lookback=lookback, **task_io, **params
    ).to(device)
    facts["n_params"] = models.count_params(model)
    core = model  # saved in checkpoints without the wrapper below
    if not task_io and data_cfg.get("reference", "last") == "last":
        model = LastValueReference(model, series.n_targets)
    if task_io:
        model = series.wrap(model)  # text: one-hot tokens, built per batch on the device
    optimizer = make_optimizer(model, train_cfg)
    loss_fn = series.loss if task_io else FORECAST_LOSSES[train_cfg.get("loss", "mse")]()  # classify / text: cross-entropy
    batch_size, clip, patience = train_cfg["batch_size"], train_cfg["grad_clip"], train_cfg["patience"]
    sign = 1.0 if direction == "minimize" else -1.0

    best, best_epoch, best_state = math.inf, 0, None
    train_seconds, samples = 0.0, 0
    generator = torch.Generator().manual_seed(train_cfg["seed"])
    schedule = LrSchedule(
        train_cfg["lr"], train_cfg.get("schedule", "none"), train_cfg.get("warmup_epochs", 0),
        train_cfg["epochs"], math.ceil(len(x_train) / batch_size), direction,
    )
    step = 0
    for epoch in range(1, train_cfg["epochs"] + 1):
        model.train()
        started = time.perf_counter()
        order = torch.randperm(len(x_train), generator=generator, dtype=torch.int32)  # half of int64's memory, same order
        total = 0.0
        lr = schedule.lr * schedule.factor(step)
        for i in range(0, len(order), batch_size):
            idx = order[i : i + batch_size]
            xb, yb = x_train[idx].to(device), y_train[idx].to(device)  # (B, L, F), (B, H, T)
            lr = schedule.apply(optimizer, step)
            step += 1
            optimizer.zero_grad(set_to_none=True)
            with torch.autocast(device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
                loss = loss_fn(model(xb).float(), yb)
            if not torch.isfinite(loss):
                raise NonFiniteLoss(f"non-finite loss at epoch {epoch}")
            grad_scaler.scale(loss).backward()
            if clip > 0:
                grad_scaler.unscale_(optimizer)  # clip the true gradients (a no-op unless fp16)
                torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
            grad_scaler.step(optimizer)
            grad_scaler.update()
            total += loss.item() * len(idx)
        train_seconds += time.perf_counter() - started
        samples += len(order)

        val = evaluate(model, x_val, y_val, series, device, amp_dtype=amp_dtype)
        value = val[metric]
        if not math.isfinite(value):
            raise NonFiniteLoss(f"non-finite validation {metric} at epoch {epoch}")
        schedule.epoch_end(epoch, value)
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
            "lr": lr,
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
            from search.checkpoint import pack

            if with_checkpoint:
                result["checkpoint"] = pack(core, config, series)
            result.update({f"test_{k}": v for k, v in evaluate(model, x_test, y_test, series, device, amp_dtype=amp_dtype).items()})
            if train_cfg.get("continuous_eval"):  # one pass over each test series, state carried
                from search.continuous import continuous_metrics

                warmup = train_cfg.get("continuous_warmup")
                continuous = continuous_metrics(core, series, horizon, lookback if warmup is None else warmup, device)
                result.update({f"test_{k}": v for k, v in continuous.items()})
            result["early_stopped"] = stop_early
        report(result)
        if final:
            return
