"""A forecasting trial's prediction intervals: calibrated on its validation part, scored on its
test part, on exactly the targets its point forecast is scored on (``SeriesData.windows`` at
``eval_step``: the same windows, horizon steps and targets; the same series' scalers undone).

- A point forecast (``train.loss`` mse, mae, huber) gets split-conformal intervals from its
  validation residuals (``data.interval_method``: symmetric or signed), per horizon step and
  target, per series where there are several (``search.worker.intervals``).
- A quantile head (``train.loss: quantile``) forecasts ``train.quantiles``; its point forecast
  is the quantile nearest 0.5. Each level's band is the pair of head quantiles nearest that
  level's ``(1 -+ level) / 2`` (the median where the head has none on one side), conformalised
  on the validation part (cqr), so its coverage is honest whatever the head learned.

The final result carries, for the test part, ``test_coverage_<level>`` (%), ``test_width_<level>``,
``test_interval_score_<level>`` and ``test_msis_<level>``, their means over the levels
(``test_interval_score``, ``test_msis``, ``test_coverage_error``: mean |coverage - level|), and
``test_crps``: twice the mean pinball loss of the level quantiles (each level's bounds and the
point forecast as the median), for every forecasting trial alike; a quantile head also gives
``test_quantile_crps`` over its own quantiles. ``interval_method`` and
``interval_windows`` (the validation windows calibrated on) go to the trial's user attrs and
the calibration itself (``Calibration.to_json``) into the checkpoint, so a forecast can draw the
same intervals later without retraining.

With an interval objective (``objective.metric: interval_score`` or ``crps``) every epoch's
validation result carries them too, calibrated and scored on the validation part itself (the
model chooses; the honest figures are the test part's).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

import models
from models._head import middle
from search.worker import intervals

INTERVAL_METRICS = ("interval_score", "crps")  # validation metrics that need the intervals every epoch


def head_quantiles(train_cfg: dict[str, Any]) -> tuple[float, ...]:
    """The quantile head's probabilities (``train.quantiles``, a list or a searched string
    ``'0.1,0.5,0.9'``), sorted; () unless ``train.loss`` is quantile."""
    if train_cfg.get("loss") != "quantile":
        return ()
    value = train_cfg.get("quantiles") or (0.1, 0.5, 0.9)
    if isinstance(value, str):
        value = [float(v) for v in value.split(",")]
    return tuple(sorted(float(v) for v in value))


def head_bands(quantiles: np.ndarray, taus, levels) -> tuple[np.ndarray, np.ndarray]:
    """A quantile head's band per level (L, ...) each, from its quantiles (Q, ...) at ``taus``:
    the head quantiles nearest the level's ``(1 -+ level) / 2`` on each side of the median (the
    median where the head has none on one side)."""
    m, los, his = middle(taus), [], []
    below = [k for k in range(len(taus)) if taus[k] < 0.5]
    above = [k for k in range(len(taus)) if taus[k] > 0.5]
    for alpha in intervals.alphas(levels):
        los.append(quantiles[min(below, key=lambda k: abs(taus[k] - alpha / 2)) if below else m])
        his.append(quantiles[min(above, key=lambda k: abs(taus[k] - (1 - alpha / 2))) if above else m])
    return np.stack(los), np.stack(his)


class PinballLoss(nn.Module):
    """The mean pinball (quantile) loss of quantile forecasts (B, H, T, Q) against targets (B, H, T)."""

    def __init__(self, quantiles):
        super().__init__()
        self.register_buffer("taus", torch.tensor([float(q) for q in quantiles]))

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if pred.dim() != target.dim() + 1:
            raise ValueError(f"the pinball loss needs every quantile (B, H, T, Q), got {tuple(pred.shape)}; run the model inside models.quantile_outputs")
        diff = target.unsqueeze(-1) - pred  # (B, H, T, Q)
        taus = self.taus.to(pred.device, pred.dtype)
        return torch.maximum(taus * diff, (taus - 1) * diff).mean()


def series_scales(series) -> np.ndarray:
    """(S, T) each series' in-sample seasonal-naive mean absolute error on its training part, in
    the data's units (season: the study's seasonal naive, else the naive): MSIS's scale."""
    n_targets = series.n_targets
    out = np.full((series.n_series, n_targets), np.nan)
    for s, (start, end) in enumerate(series.parts("train")):
        rows = series.values[start:end, :n_targets].astype(np.float64)  # (n, T) scaled
        if series.series_offset is not None:
            raw = rows * series.series_scale[s, :n_targets] + series.series_offset[s, :n_targets]
        else:
            raw = rows * series.scale[:n_targets] + series.offset[:n_targets]
        for t in range(n_targets):
            out[s, t] = intervals.insample_scale(raw[:, t], series.season)
    return out


class TrialIntervals:
    """One trial's intervals: ``evaluate`` scores a part's windows (the point metrics as
    ``SeriesData.score`` does, plus the interval figures when asked) and may calibrate on them."""

    def __init__(self, series, data_cfg: dict[str, Any], train_cfg: dict[str, Any], objectives=()):
        self.series = series
        self.levels = tuple(data_cfg.get("levels") or (80, 95))
        self.taus = head_quantiles(train_cfg)
        self.method = "cqr" if self.taus else data_cfg.get("interval_method", "symmetric")
        self.every_epoch = any(m in INTERVAL_METRICS for m in objectives)
        self.scales = series_scales(series)  # (S, T)
        self.calibration: intervals.Calibration | None = None

    def forecast(self, model, x, y, device, amp_dtype=None) -> dict[str, Any]:
        """The part's targets and forecasts: ``point`` (N, H, T) scaled (what the point metrics
        read), and in the data's units ``truth``, ``point_raw`` and a quantile head's
        ``quantiles`` (Q, N, H, T); ``ids`` each window's series (None for one series)."""
        series, ids = self.series, getattr(x, "series_index", None)
        with models.quantile_outputs(model):
            out = series.predict(model, x, device, amp_dtype=amp_dtype)  # (N, H, T) or (N, H, T, Q), scaled
        point = out[..., middle(self.taus)] if self.taus else out
        raw = lambda v: series.unscale_targets(v, ids).double().numpy()  # noqa: E731
        quantiles = np.stack([raw(out[..., k]) for k in range(len(self.taus))]) if self.taus else None
        return {"point": point, "truth": raw(y), "point_raw": raw(point), "quantiles": quantiles, "ids": None if ids is None else ids.numpy()}

    def bands(self, fc: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
        """The base bands the intervals are built around: the point forecast (N, H, T) twice, or
        for a quantile head each level's pair of head quantiles (L, N, H, T)."""
        if not self.taus:
            return fc["point_raw"], fc["point_raw"]
        return head_bands(fc["quantiles"], self.taus, self.levels)

    def calibrate(self, fc: dict[str, Any]) -> intervals.Calibration:
        lo, hi = self.bands(fc)
        scales = _usable(self.scales) if self.series.n_series > 1 else None
        self.calibration = intervals.calibrate(fc["truth"], lo, hi, self.levels, self.method, fc["ids"], scales)
        return self.calibration

    def scores(self, fc: dict[str, Any], calibration: intervals.Calibration) -> dict[str, float]:
        """The interval figures of a part's forecasts under ``calibration``."""
        lo, hi = calibration.bounds(*self.bands(fc), fc["ids"])  # (L, N, H, T) each
        ids = np.zeros(len(fc["truth"]), dtype=np.int64) if fc["ids"] is None else fc["ids"]
        scale = self.scales[ids]  # (N, T)
        scale = np.where(np.isfinite(scale) & (scale > 0), scale, np.nan)  # a flat training part: no MSIS
        out = intervals.interval_scores(fc["truth"], lo, hi, self.levels, scale)
        quantiles, taus = intervals.level_quantiles(fc["point_raw"], lo, hi, self.levels)
        out["crps"] = intervals.crps(fc["truth"], quantiles, taus)
        if self.taus:
            out["quantile_crps"] = intervals.crps(fc["truth"], fc["quantiles"], self.taus)
        return out

    def evaluate(self, model, x, y, device, amp_dtype=None, *, calibrate: bool = False, score: bool = False) -> dict[str, float]:
        """The point metrics of a part (``SeriesData.score``); with ``calibrate`` the part also
        calibrates the intervals, with ``score`` their figures join the metrics (scored under
        the calibration held)."""
        fc = self.forecast(model, x, y, device, amp_dtype)
        out = self.series.score(fc["point"], y, None if fc["ids"] is None else torch.as_tensor(fc["ids"]))
        if calibrate:
            self.calibrate(fc)
        if score and self.calibration is not None and len(fc["truth"]):
            out.update(self.scores(fc, self.calibration))
        return out

    def validation(self, model, x, y, device, amp_dtype=None) -> dict[str, float]:
        """An epoch's validation metrics; with an interval objective, the interval figures
        calibrated and scored on the validation part itself."""
        return self.evaluate(model, x, y, device, amp_dtype, calibrate=self.every_epoch, score=self.every_epoch)

    def attrs(self) -> dict[str, Any]:
        """The trial's facts about its intervals (user attrs)."""
        if self.calibration is None:
            return {}
        out: dict[str, Any] = {"interval_method": self.method, "interval_windows": self.calibration.windows}
        if self.calibration.short:
            out["interval_levels_short"] = list(self.calibration.short)
        return out


def _usable(scales: np.ndarray) -> np.ndarray:
    """Scales to pool series by (``search.worker.intervals.usable_scales``)."""
    return intervals.usable_scales(scales)
