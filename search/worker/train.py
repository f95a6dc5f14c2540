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
and the test metrics of the best epoch's weights (with ``with_checkpoint``, also the model as
``checkpoint`` bytes and its forecast figure's data as ``forecast``, JSON text: see
``search.worker.forecast_view``). A trial that cannot train (a non-finite loss,
an exception) reports ``final: True`` with ``error`` set and ``objective`` NaN.
"""

from __future__ import annotations

import copy
import json
import math
import random
import socket
import time
import traceback
from typing import Any, Callable

import numpy as np
import torch

import models
from search.worker import forecast_view
from search.worker.checkpoint import pack
from search.worker.continuous import continuous_metrics
from search.worker.data import SeriesData, windows
from search.worker.latency import forward_latency_ms, latency_batch
from search.worker.origins import eval_step
from search.worker.uncertainty import TrialIntervals, head_quantiles

Report = Callable[[dict[str, Any]], None]


PLATEAU_FACTOR = 0.5  # schedule "plateau": multiply the rate by this ...
PLATEAU_PATIENCE = 2  # ... after more than this many epochs without a better validation value


class NonFiniteLoss(RuntimeError):
    pass


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
    objectives: tuple[str, ...] | list[str] = (),
) -> None:
    """Train one configuration (sections model/data/train), reporting every epoch. With
    ``with_checkpoint`` the final report carries the best epoch's model (``checkpoint`` bytes)
    and the data of its forecast figure (``forecast``, JSON text). ``objectives``: the metrics of
    a multi-objective study (the first is ``metric``); the final report then carries their
    values in order as ``objective_values`` (validation metrics of the best epoch, ``n_params``,
    ``latency_ms`` measured by ``search.worker.latency``)."""
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
        _train(config, series, metric, timed, facts, direction, with_checkpoint, tuple(objectives))
    except Exception as exc:  # recorded on the trial; the search goes on
        message = str(exc) if isinstance(exc, NonFiniteLoss) else f"{type(exc).__name__}: {exc}"
        timed({**facts, "final": True, "objective": float("nan"), "error": message, "traceback": traceback.format_exc()[-4000:]})


def _train(config, series: SeriesData, metric: str, report: Report, facts: dict, direction: str, with_checkpoint: bool, objectives: tuple[str, ...] = ()) -> None:
    model_cfg, data_cfg, train_cfg = config["model"], config["data"], config["train"]
    series = series.for_trial(data_cfg)  # a searched time_features: this trial's columns only
    seed_everything(train_cfg["seed"])
    device, amp_dtype = _setup_device(train_cfg, facts)
    lookback, horizon = data_cfg["lookback"], data_cfg["horizon"]
    x_train, y_train = windows(series, "train", lookback, horizon, data_cfg["stride"])
    step = eval_step(data_cfg)  # scored origins: every step, or every horizon
    x_val, y_val = windows(series, "val", lookback, horizon, step)
    x_test, y_test = windows(series, "test", lookback, horizon, step)

    params = {k: v for k, v in model_cfg.items() if k != "family"}
    quantiles = {"quantiles": head_quantiles(train_cfg)} if head_quantiles(train_cfg) else {}  # train.loss quantile: a quantile head
    core = models.build(  # saved in checkpoints without the task's wrapper
        model_cfg["family"], n_features=series.n_inputs, horizon=horizon, n_targets=series.n_targets, lookback=lookback, **series.model_io, **quantiles, **params
    ).to(device)
    facts["n_params"] = models.count_params(core)
    model = series.wrap(core, data_cfg)  # forecast: relative to the last value; text: one-hot tokens
    loop = _EpochLoop(model, series.loss_fn(train_cfg), train_cfg, len(x_train), device, amp_dtype, direction)
    # a forecast's intervals: calibrated on the validation part, scored on the test part (search.worker.uncertainty)
    bands = TrialIntervals(series, data_cfg, train_cfg, (metric, *objectives)) if series.task == "forecast" else None
    evaluate = bands.validation if bands is not None else series.evaluate

    best_val: dict[str, float] = {}  # the best epoch's validation metrics
    for epoch in range(1, train_cfg["epochs"] + 1):
        train_loss, lr = loop.train_epoch(x_train, y_train, epoch)
        val = evaluate(model, x_val, y_val, device, amp_dtype=amp_dtype)
        value = val[metric]
        if not math.isfinite(value):
            raise NonFiniteLoss(f"non-finite validation {metric} at epoch {epoch}")
        stop_early = loop.epoch_end(epoch, value)
        if loop.best_epoch == epoch:
            best_val = val
        final = stop_early or epoch == train_cfg["epochs"]
        result = {
            **facts,
            "epoch": epoch,
            "objective": value,
            "train_loss": train_loss,
            "lr": lr,
            **{f"val_{k}": v for k, v in val.items()},
            "train_seconds": loop.train_seconds,
            "epochs_run": epoch,
            "samples_per_second": loop.samples / loop.train_seconds if loop.train_seconds > 0 else 0.0,
            "best_epoch": loop.best_epoch,
            "best_objective": loop.best,
            "final": final,
        }
        if final:
            model.load_state_dict(loop.best_state)
            if bands is not None:  # the best epoch's validation residuals calibrate its intervals
                bands.evaluate(model, x_val, y_val, device, amp_dtype, calibrate=True)
                test = bands.evaluate(model, x_test, y_test, device, amp_dtype, score=True)
                result.update(bands.attrs())
            else:
                test = series.evaluate(model, x_test, y_test, device, amp_dtype=amp_dtype)
            if with_checkpoint:
                calibration = None if bands is None or bands.calibration is None else bands.calibration.to_json()
                result["checkpoint"] = pack(core, config, series, calibration)
                result["forecast"] = _forecast_json(series, model, data_cfg, device, amp_dtype, bands)
            result.update({f"test_{k}": v for k, v in test.items()})
            if getattr(series, "val_folds", 1) > 1 and series.task == "forecast":  # the best weights' metric on each validation fold
                folds = _fold_metrics(series, model, bands, x_val, y_val, device, amp_dtype, (lookback, horizon, step), metric)
                if folds is not None:
                    result["val_folds"] = folds
            if train_cfg.get("continuous_eval"):  # one pass over each test series, state carried
                warmup = train_cfg.get("continuous_warmup")
                continuous = continuous_metrics(core, series, horizon, lookback if warmup is None else warmup, device)
                result.update({f"test_{k}": v for k, v in continuous.items()})
            result["early_stopped"] = stop_early
            if "latency_ms" in objectives:
                result["latency_ms"] = forward_latency_ms(model, latency_batch(x_val), device, amp_dtype)
            if len(objectives) > 1:
                result["objective_values"] = [float(result[m] if m in ("n_params", "latency_ms") else best_val[m]) for m in objectives]
        report(result)
        if final:
            return


def _fold_metrics(series: SeriesData, model, bands, x_val, y_val, device, amp_dtype, windows: tuple[int, int, int], metric: str) -> list[float] | None:
    """The model's validation ``metric`` on each fold (``data.val_folds``), from its point
    forecast (a quantile head's median); None for a metric of the intervals (coverage, ...)."""
    if metric not in ("loss", "mse", "rmse", "mae", "mape", "smape"):
        return None
    point = bands.forecast(model, x_val, y_val, device, amp_dtype)["point"] if bands is not None else series.predict(model, x_val, device, amp_dtype=amp_dtype)
    return series.fold_metrics(point, y_val, getattr(x_val, "series_index", None), *windows, metric)


def _forecast_json(series: SeriesData, model, data_cfg: dict[str, Any], device, amp_dtype, bands=None) -> str:
    """The forecast figure's data (``series.forecast_view``, with the bands of the trial's
    calibrated intervals ``bands``) as JSON text. A figure that cannot be built says why in its
    ``error`` instead of failing a trial that trained well."""
    try:
        view = series.forecast_view(model, data_cfg, device, amp_dtype=amp_dtype, **({"intervals": bands} if bands is not None else {}))
    except Exception as exc:
        view = {"format": forecast_view.FORMAT, "task": series.task, "error": f"{type(exc).__name__}: {exc}"}
    return json.dumps(view, allow_nan=False, separators=(",", ":"))


def _setup_device(train_cfg: dict[str, Any], facts: dict) -> tuple[torch.device, torch.dtype | None]:
    """The trial's device and autocast dtype (None: fp32), recorded in ``facts``."""
    device = pick_device(train_cfg["device"])
    facts["device"] = str(device)
    precision, note = resolve_precision(train_cfg.get("precision", "auto"), device)
    facts["precision"] = precision
    if note:
        facts["precision_note"] = note
    return device, AMP_DTYPES.get(precision)


class _EpochLoop:
    """The optimisation of one trial, an epoch at a time: batches in a seeded random order,
    the learning-rate schedule, mixed precision and clipping; then the best epoch so far
    (its weights kept) and early stopping."""

    def __init__(self, model, loss_fn, train_cfg: dict[str, Any], n_windows: int, device: torch.device, amp_dtype, direction: str):
        self.model, self.loss_fn, self.device, self.amp_dtype = model, loss_fn, device, amp_dtype
        self.batch_size, self.clip, self.patience = train_cfg["batch_size"], train_cfg["grad_clip"], train_cfg["patience"]
        self.optimizer = make_optimizer(model, train_cfg)
        self.grad_scaler = torch.amp.GradScaler("cuda", enabled=amp_dtype is torch.float16)  # fp16 gradients underflow without it
        self.generator = torch.Generator().manual_seed(train_cfg["seed"])
        self.schedule = LrSchedule(
            train_cfg["lr"], train_cfg.get("schedule", "none"), train_cfg.get("warmup_epochs", 0),
            train_cfg["epochs"], math.ceil(n_windows / self.batch_size), direction,
        )
        self.sign = 1.0 if direction == "minimize" else -1.0
        self.step = 0
        self.best, self.best_epoch, self.best_state = math.inf, 0, None
        self.train_seconds, self.samples = 0.0, 0

    def train_epoch(self, x_train, y_train, epoch: int) -> tuple[float, float]:
        """One pass over the training windows: (mean training loss, the last step's rate)."""
        self.model.train()
        started = time.perf_counter()
        order = torch.randperm(len(x_train), generator=self.generator, dtype=torch.int32)  # half of int64's memory, same order
        self.lr = self.schedule.lr * self.schedule.factor(self.step)
        with models.quantile_outputs(self.model):  # a quantile head's loss reads every quantile
            total = self._batches(x_train, y_train, order, epoch)
        self.train_seconds += time.perf_counter() - started
        self.samples += len(order)
        return total / max(len(order), 1), self.lr

    def _batches(self, x_train, y_train, order, epoch: int) -> float:
        """The optimisation steps of one epoch over the windows in ``order``: the summed loss."""
        model, optimizer, scaler = self.model, self.optimizer, self.grad_scaler
        total = 0.0
        for i in range(0, len(order), self.batch_size):
            idx = order[i : i + self.batch_size]
            xb, yb = x_train[idx].to(self.device), y_train[idx].to(self.device)  # (B, L, F), (B, H, T)
            self.lr = self.schedule.apply(optimizer, self.step)
            self.step += 1
            optimizer.zero_grad(set_to_none=True)
            with torch.autocast(self.device.type, dtype=self.amp_dtype, enabled=self.amp_dtype is not None):
                loss = self.loss_fn(model(xb).float(), yb)  # (B, H, T) or a quantile head's (B, H, T, Q)
            if not torch.isfinite(loss):
                raise NonFiniteLoss(f"non-finite loss at epoch {epoch}")
            scaler.scale(loss).backward()
            if self.clip > 0:
                scaler.unscale_(optimizer)  # clip the true gradients (a no-op unless fp16)
                torch.nn.utils.clip_grad_norm_(model.parameters(), self.clip)
            scaler.step(optimizer)
            scaler.update()
            total += loss.item() * len(idx)
        return total

    def epoch_end(self, epoch: int, value: float) -> bool:
        """Record the epoch's validation value; whether to stop early (``patience``)."""
        self.schedule.epoch_end(epoch, value)
        if self.sign * value < self.sign * self.best or self.best_state is None:
            self.best, self.best_epoch = value, epoch
            self.best_state = copy.deepcopy(self.model.state_dict())
        return self.patience > 0 and epoch - self.best_epoch >= self.patience
