"""A prepared forecasting series and its windows.

The driver loads and prepares a dataset once (``search.worker.load.load_series``); the
prepared arrays (``SeriesData``) travel to the workers through Ray's object store, so workers
need no access to the file. Each trial then cuts its own windows (its lookback is a searched
parameter) as *views* over the series (``Tensor.unfold``): memory stays proportional to the
series, not to series x lookback.

Training windows stay inside the training part; validation and test windows have their
targets in their part and their inputs reaching back before it, so every lookback is scored on
the same targets. The scaler was fit on the training part only and is undone before metrics
are computed, so every reported error is in the data's own units.

A file may hold several series (``series_id`` names the column): windows never cross a series
(``WindowSet``: one view per series and an index map).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import torch

from models.reference import FutureWindow, LastValueReference, NoCorrection, SeasonalReference
from search.errors import DataError
from search.worker import forecast_view
from search.worker import known as known_inputs
from search.worker import ref_columns
from search.worker.baselines import detect_seasons, forecast_baselines
from search.worker.metrics import regression_metrics
from search.worker.origins import eval_step, observed_mask, scored_origins, season_list
from search.worker.uncertainty import PinballLoss, head_quantiles

# Training losses of a forecast, on the scaled targets (``train.loss``). Huber's delta of 1 is
# one standard deviation of the training part with the default scaler.
FORECAST_LOSSES = {"mse": torch.nn.MSELoss, "mae": torch.nn.L1Loss, "huber": torch.nn.HuberLoss}


@dataclass
class SeriesData:
    """A prepared series, ready for windowing. Plain arrays: cheap to pickle and share.

    Several series in one file (``data.series_id``) are stored one after the other in
    ``values``, each sorted by time; ``segments`` holds each one's rows. Each series is split
    chronologically by the same rule (fractions or cut points), and windows never cross a
    series or a split.
    ``part(name)`` is the part of the first (for one series: the only) series, ``parts(name)``
    that part of every series. ``gap`` rows are left out between train and validation and
    between validation and test, in each series.

    What differs between tasks is told by methods: a ``SeriesData`` is a forecast, and
    ``search.worker.tasks.TaskData`` (classify, text) overrides ``windows``, ``model_io``,
    ``wrap``, ``loss_fn``, ``evaluate``, ``checkpoint_fields``, ``baseline_attrs`` and
    ``forecast_view``.
    """

    values: np.ndarray  # (T, F) float32, scaled; columns = targets then features
    n_targets: int  # the first n_targets columns are forecast
    bounds: tuple[int, int]  # train = [0, a), validation = [a + gap, b), test = [b + gap, T); the first series' with several
    offset: np.ndarray  # (F,) scaled = (raw - offset) / scale; fit on the training part(s) (scaler_scope series: see series_offset)
    scale: np.ndarray  # (F,)
    columns: tuple[str, ...]
    info: dict[str, Any] = field(default_factory=dict)  # name, rows, missing policy and count
    gap: int = 0  # rows left out after the train and the validation part
    segments: tuple[tuple[int, int, int, int], ...] = ()  # several series: (start, a, b, end) rows of each
    series_names: tuple[str, ...] = ()  # several series: each one's series_id value
    series_offset: np.ndarray | None = None  # (S, F) with scaler_scope series: each series' own scaler
    series_scale: np.ndarray | None = None  # (S, F)
    season: int | None = None  # the seasonal naive's season (best on validation): reference seasonal
    test_times: tuple[np.ndarray, ...] = ()  # per series: the time column at its test part's rows (datetime64 or float64); () without one
    n_known: int = 0  # the last n_known model inputs are known in the future (future_features, then time features)
    n_profile: int = 0  # columns after the model inputs: each target's seasonal profile (reference mstl), then its seasonal lags (seasonal); search.worker.ref_columns
    known: dict[str, Any] = field(default_factory=dict)  # how the known columns are built (search.worker.known), for checkpoints
    observed: np.ndarray | None = None  # (T,) bool: every target of the row was in the file (not filled); None: nothing filled
    val_folds: int = 1  # the validation part's folds (data.val_folds): equal stretches, in time order
    task: ClassVar[str] = "forecast"  # after the fields: TaskData makes it a field of its own

    @property
    def n_features(self) -> int:
        return self.values.shape[1]

    @property
    def n_inputs(self) -> int:
        """Columns the model reads at each step of the lookback (every column but the profile)."""
        return self.n_features - self.n_profile

    def future_rows(self, horizon: int) -> int:
        """Rows a window holds after its origin: the horizon when some columns are known in the
        future (``models.reference.FutureWindow`` reads only those there), else none."""
        return horizon if self.n_known or self.n_profile else 0

    @property
    def n_series(self) -> int:
        return max(len(self.segments), 1)

    def parts(self, name: str) -> list[tuple[int, int]]:
        """Row range ``[start, end)`` of the part ``name`` (train, val, test) of every series."""
        return part_ranges(self.segments or ((0, *self.bounds, len(self.values)),), self.gap, name)

    def part(self, name: str) -> tuple[int, int]:
        return self.parts(name)[0]

    def series_starts(self) -> list[int]:
        """The first row of every series (0 for one series)."""
        return [start for start, *_ in self.segments] if self.segments else [0]

    def for_trial(self, data_cfg: dict[str, Any]) -> SeriesData:
        """The series as the trial sees it. With a searched ``data.time_features`` the loaded
        series holds the time columns of every choice; the trial keeps only its own (and its
        checkpoint records only those), as if the space had fixed its value."""
        if "time_feature_choices" not in self.known:
            return self
        spec, keep = known_inputs.select(self.known, data_cfg.get("time_features", "none"))
        first = self.n_inputs - known_inputs.n_time_columns(self.known)
        columns = [*range(first), *(first + k for k in keep), *range(self.n_inputs, self.n_features)]
        n_known = self.n_known - known_inputs.n_time_columns(self.known) + len(keep)
        if not (n_known or self.n_profile):  # nothing known ahead: as a space without the keys
            spec = {}
        return dataclasses.replace(self, values=np.ascontiguousarray(self.values[:, columns]), n_known=n_known, known=spec)

    @property
    def model_io(self) -> dict[str, Any]:
        """Keyword arguments of ``models.build`` for the task's head: for a forecast, the
        known-future features per horizon step, if any."""
        return {"n_future": self.n_known} if self.n_known else {}

    def windows(self, part: str, lookback: int, horizon: int, stride: int = 1) -> tuple[torch.Tensor | WindowSet, torch.Tensor]:
        """Inputs (N, lookback, F) and targets (N, horizon, n_targets) of one split, as views
        (see the module function ``windows``)."""
        if part == "train":
            pairs = [_part_windows(self, start, end, lookback, horizon, stride) for start, end in self.parts(part)]
        else:
            pairs = [
                _scored_windows(self, first, start, end, lookback, horizon, stride)
                for first, (start, end) in zip(self.series_starts(), self.parts(part))
            ]
        if not self.segments:
            return pairs[0]
        return WindowSet([x for x, _ in pairs], list(range(len(pairs)))), torch.cat([y for _, y in pairs])

    def wrap(self, model: torch.nn.Module, data_cfg: dict[str, Any]) -> torch.nn.Module:
        """The module that training and evaluation call: ``reference: last`` forecasts changes
        from the window's last value, ``seasonal`` the deviation from the seasonal naive of
        ``season`` (``models.reference``); the core model is saved as is. With known-future
        columns (or ``mstl``) the windows reach past the origin and ``FutureWindow`` reads them."""
        reference = known_inputs.decided("reference", data_cfg.get("reference", "last"))  # auto: search.driver.defaults
        if self.future_rows(1):
            if reference == "mstl" and not self.n_profile:
                raise DataError(["data.reference: mstl needs the seasonal profile columns, which this series was loaded without"])
            lags_at, n_lags, _ = ref_columns.lag_block(self.known, self.n_inputs, self.n_targets)
            return FutureWindow(model, self.n_targets, data_cfg["lookback"], self.n_inputs, self.n_known, reference, self.season, lags_at, n_lags)
        if reference == "last":
            return LastValueReference(model, self.n_targets)
        if reference == "seasonal":
            return SeasonalReference(model, self.n_targets, self.season)
        return model

    def loss_fn(self, train_cfg: dict[str, Any]):
        """The training loss on scaled targets (``train.loss``; quantile: the pinball loss of
        ``train.quantiles``, see ``search.worker.uncertainty``)."""
        if train_cfg.get("loss") == "quantile":
            return PinballLoss(head_quantiles(train_cfg))
        return FORECAST_LOSSES[train_cfg.get("loss", "mse")]()

    @torch.no_grad()
    def predict(self, model, x: torch.Tensor | WindowSet, device, batch_size: int = 1024, amp_dtype: torch.dtype | None = None) -> torch.Tensor:
        """The model's outputs (N, H, T) for windows ``x``, scaled, on the CPU, in batches."""
        model.eval()
        preds = []
        for i in range(0, len(x), batch_size):
            with torch.autocast(torch.device(device).type, dtype=amp_dtype, enabled=amp_dtype is not None):
                preds.append(model(x[i : i + batch_size].to(device)).float().cpu())  # (B, H, T)
        return torch.cat(preds)

    def evaluate(self, model, x: torch.Tensor | WindowSet, y: torch.Tensor, device, batch_size: int = 1024, amp_dtype: torch.dtype | None = None) -> dict[str, float]:
        """Loss (scaled MSE) and regression metrics in original units over all windows of a part."""
        return self.score(self.predict(model, x, device, batch_size, amp_dtype), y, getattr(x, "series_index", None))

    def reference_metrics(self, data_cfg: dict[str, Any]) -> dict[str, float] | None:
        """The regression metrics of ``data_cfg["reference"]``'s own forecast (the model's
        correction zero) on the validation targets every trial is scored on; None without
        validation windows."""
        horizon = int(data_cfg["horizon"])
        x, y = self.windows("val", int(data_cfg["lookback"]), horizon, eval_step(data_cfg))
        if len(x) == 0:
            return None
        model = self.wrap(NoCorrection(horizon, self.n_targets), data_cfg)
        return self.evaluate(model, x, y, "cpu")

    def score(self, pred: torch.Tensor, y: torch.Tensor, series_index: torch.Tensor | None = None) -> dict[str, float]:
        """Metrics of scaled forecasts ``pred`` against scaled targets ``y`` (N, H, T): the
        regression metrics in original units and the loss (scaled MSE); ``series_index`` (N,)
        names each window's series (a WindowSet's, with several series)."""
        out = regression_metrics(self.unscale_targets(pred, series_index), self.unscale_targets(y, series_index))
        out["loss"] = float(((pred - y) ** 2).mean())
        return out

    def forecast_view(self, model, data_cfg: dict[str, Any], device, amp_dtype: torch.dtype | None = None, intervals=None) -> dict[str, Any]:
        """The data of the forecast figure (``search.worker.forecast_view``): every series'
        test part in original units, the model's forecasts from its windows and the naive and
        seasonal-naive forecasts (``season``) on the same points, bounded in size. With the
        trial's calibrated ``intervals`` (``search.worker.uncertainty.TrialIntervals``) the
        model's interval bounds at each level too (the figure's shaded bands)."""
        lookback, horizon = data_cfg["lookback"], data_cfg["horizon"]
        x, y = dataclasses.replace(self, observed=None).windows("test", lookback, horizon)  # every origin: the figure's x axis is contiguous
        ids = getattr(x, "series_index", None)
        calibration = None if intervals is None else intervals.calibration
        bounds = None
        if calibration is not None:  # the point forecast (a quantile head's median) and its bounds, (L, N, H, T) each
            fc = intervals.forecast(model, x, y, device, amp_dtype)
            pred = fc["point_raw"][..., 0]
            bounds = calibration.bounds(*intervals.bands(fc), fc["ids"])
        else:
            pred = self.unscale_targets(self.predict(model, x, device, amp_dtype=amp_dtype), ids)[..., 0].double().numpy()  # (N, H) first target
        index = np.zeros(len(pred), dtype=np.int64) if ids is None else ids.numpy()
        segments = self.segments or ((0, *self.bounds, len(self.values)),)
        season = self.season  # the study's seasonal naive: the season best on the validation part
        back = season * ((horizon - 1) // season + 1) if season else 1  # the furthest a (seasonal) naive looks back
        parts = []
        for s, ((start, _, _, end), (lo, hi)) in enumerate(zip(segments, self.parts("test"))):
            first = max(start, lo - back)  # the rows the figure reads: the test part and what its naive forecasts look back to
            rows = torch.from_numpy(self.values[first:end, : self.n_targets])  # (n, T) scaled
            raw = self.unscale_targets(rows, torch.full((len(rows),), s) if self.series_offset is not None else None)
            parts.append(forecast_view.SeriesPart(
                name=self.series_names[s] if self.series_names else "",
                raw=raw[:, 0].double().numpy(),
                test=(lo - first, hi - first),
                pred=pred[index == s],
                times=self.test_times[s] if self.test_times else None,
                first=first - start,
                bands=None if bounds is None else {
                    f"{level:g}": (bounds[0][k][index == s][..., 0], bounds[1][k][index == s][..., 0]) for k, level in enumerate(calibration.levels)
                },
            ))  # fmt: skip
        x_title = (data_cfg.get("time_column") or "time") if self.test_times else "row"
        return forecast_view.forecast(parts, lookback, horizon, season, target=self.columns[0], x_title=x_title)

    def checkpoint_fields(self) -> dict[str, Any]:
        """What a checkpoint records besides the forecast defaults: the seasonal naive's season,
        and how to rebuild the known-future columns (``search.worker.known``)."""
        out: dict[str, Any] = {"reference_season": self.season} if self.season else {}
        if self.known:
            out["known"] = self.known
        if "max_gap" in self.info:  # the gaps a predict input's lookback may have (search.worker.gaps)
            out["max_gap"] = self.info["max_gap"]
        return out

    def choose_season(self, lookback: int, data_cfg: dict[str, Any], metric: str) -> None:
        """Set ``season``: of the candidate seasons (``data.season`` or detected), the one whose
        seasonal naive is best on the validation part (what ``reference: seasonal`` builds on)."""
        self.season = self.naive_attrs(lookback, data_cfg, metric).get("seasonal_naive_season")

    def naive_attrs(self, lookback: int, data_cfg: dict[str, Any], metric: str = "rmse") -> dict[str, Any]:
        """The candidate seasons (``data.season`` or detected), naive and seasonal-naive metrics
        on the validation and test targets (the season best on the validation part by
        ``metric`` wins), and which targets every trial is scored on. Quick: no model fits."""
        horizon, step = data_cfg["horizon"], eval_step(data_cfg)
        history = min(start - first for first, (start, _) in zip(self.series_starts(), self.parts("val")))
        given = data_cfg.get("season")
        seasons = [m for m in (season_list(given) if given else detect_seasons(self)) if m <= history]
        attrs = forecast_baselines(self, lookback, horizon, seasons, step=step, metric=metric)
        attrs["seasons"] = seasons
        attrs["season"] = attrs.get("seasonal_naive_season")  # read by older versions' summaries
        attrs["eval_origins"] = data_cfg.get("eval_origins", "every")
        for part in ("val", "test"):
            attrs[f"targets_{part}"] = self.scored_targets(part, horizon, step)
        return attrs

    def baseline_attrs(self, lookback: int, data_cfg: dict[str, Any], metric: str = "rmse") -> dict[str, Any]:
        """Study attrs made with the study: ``naive_attrs``. The statistical baselines run
        beside the trials (``search.driver.stat_runs``)."""
        return self.naive_attrs(lookback, data_cfg, metric)

    def scored_targets(self, part: str, horizon: int, step: int = 1) -> dict[str, int]:
        """Which validation or test targets every trial is scored on, for a reader to check:
        the windows (origins), the distinct target rows, and the first series' first and last
        origin (rows from its start). The same for every lookback the space allows."""
        origins = [
            scored_origins(first, start, end, 0, horizon, step) for first, (start, end) in zip(self.series_starts(), self.parts(part))
        ]
        kept = [np.asarray(o)[observed_mask(o, self.observed, horizon)] for o in origins]  # only observed targets are scored
        covered = sum(len(range(o[0], o[-1] + horizon)) if o else 0 for o in origins) if self.observed is None else sum(len(np.unique(k[:, None] + np.arange(horizon))) for k in kept)
        first_start = self.series_starts()[0]
        out = {"windows": sum(len(k) for k in kept), "points": covered}
        if self.observed is not None:
            out["unscored_windows"] = sum(len(o) for o in origins) - out["windows"]  # a target filled, not observed
        if len(kept[0]):
            out.update(first_origin=int(kept[0][0]) - first_start, last_origin=int(kept[0][-1]) - first_start)
        return out

    def fold_metrics(self, pred: torch.Tensor, y: torch.Tensor, series_index, lookback: int, horizon: int, step: int, metric: str) -> list[float]:
        """``metric`` of scaled validation forecasts ``pred`` (N, H, T) on each validation fold
        (``data.val_folds``): a window belongs to the fold its origin lies in."""
        folds = []
        for first, (start, end) in zip(self.series_starts(), self.parts("val")):
            scored = scored_origins(first, start, end, lookback, horizon, step)
            kept = np.asarray(scored, dtype=np.int64)[observed_mask(scored, self.observed, horizon)]  # as _scored_windows keeps them
            origins = torch.as_tensor(kept, dtype=torch.long)
            folds.append(((origins - start) * self.val_folds // max(end - start, 1)).clamp(max=self.val_folds - 1))  # (N_s,)
        fold = torch.cat(folds)
        out = []
        for k in range(self.val_folds):
            mine = fold == k
            ids = None if series_index is None else series_index[mine]
            out.append(float(self.score(pred[mine], y[mine], ids)[metric]) if mine.any() else float("nan"))
        return out

    def unscale_targets(self, y: torch.Tensor, series_index: torch.Tensor | None = None) -> torch.Tensor:
        """(N, ..., n_targets) scaled -> original units. With per-series scalers
        (``scaler_scope: series``) ``series_index`` (N,) names each row's series."""
        if self.series_offset is not None:
            if series_index is None:
                raise DataError(["data.scaler_scope: 'series' needs each window's series to undo the scaling (series_index); "
                                 "pass the windows' series_index, or use scaler_scope: global"])
            shape = (len(series_index),) + (1,) * (y.dim() - 2) + (self.n_targets,)
            idx = torch.as_tensor(series_index, dtype=torch.long).cpu()
            scale = torch.as_tensor(self.series_scale[:, : self.n_targets])[idx].reshape(shape).to(y.device, y.dtype)
            offset = torch.as_tensor(self.series_offset[:, : self.n_targets])[idx].reshape(shape).to(y.device, y.dtype)
            return y * scale + offset
        scale = torch.as_tensor(self.scale[: self.n_targets], dtype=y.dtype, device=y.device)
        offset = torch.as_tensor(self.offset[: self.n_targets], dtype=y.dtype, device=y.device)
        return y * scale + offset


class WindowSet:
    """The windows of several series, indexed as one (N, L, F) tensor without copying them.

    It keeps one ``unfold`` view per series and maps a window number to (series, offset), so
    memory stays proportional to the series (a ``torch.cat`` of the views would copy every
    window). Indexing (``w[idx]``, ``w[i:j]``, ``w[:, -1:, :n]``) gathers, and so copies, only
    the windows asked for; the result is a plain tensor in the order asked for.
    """

    def __init__(self, views: list[torch.Tensor], series: list[int]):
        self.views = views  # per series: (N_s, L, F) views
        counts = torch.tensor([len(v) for v in views], dtype=torch.long)
        self.starts = torch.cat([counts.new_zeros(1), counts.cumsum(0)])  # (S+1,) first window of each view
        self.series_index = torch.repeat_interleave(torch.tensor(series, dtype=torch.long), counts)  # (N,) series of each window

    def __len__(self) -> int:
        return int(self.starts[-1])

    @property
    def shape(self) -> torch.Size:
        return torch.Size((len(self), *self.views[0].shape[1:]))

    def __getitem__(self, key) -> torch.Tensor:
        first, rest = (key[0], key[1:]) if isinstance(key, tuple) else (key, ())
        scalar = isinstance(first, int)
        wanted = torch.arange(len(self))[first].reshape(-1)  # (n,) window numbers
        view = torch.searchsorted(self.starts, wanted, right=True) - 1  # (n,) which view
        local = wanted - self.starts[view]  # (n,) window inside it
        order = torch.argsort(view, stable=True)
        pieces = [self.views[int(k)][local[order[view[order] == k]]] for k in torch.unique_consecutive(view[order])]
        out = torch.cat(pieces)[torch.argsort(order)] if pieces else self.views[0][:0]
        if scalar:
            return out[0][rest] if rest else out[0]
        return out[(slice(None), *rest)] if rest else out


def part_ranges(segments, gap: int, name: str) -> list[tuple[int, int]]:
    """Row ranges of part ``name`` of each ``(start, a, b, end)`` segment: train ``[start, a)``,
    validation ``[a + gap, b)``, test ``[b + gap, end)``; empty (never negative) where the cuts
    leave no rows."""
    out = []
    for start, a, b, end in segments:
        lo, hi = {"train": (start, a), "val": (a + gap, b), "test": (b + gap, end)}[name]
        lo = min(max(lo, start), end)
        out.append((lo, min(max(lo, hi), end)))
    return out


def check_windows_fit(series: SeriesData, lookback_max: int, horizon: int, *, source: str = "") -> None:
    """Every training part must hold a window of the longest lookback (which then also fits
    before the validation part's first target); every validation and test part at least one
    ``horizon`` of targets."""
    prefix = f"{source}: " if source else ""
    for name in ("train", "val", "test"):
        for i, (start, end) in enumerate(series.parts(name)):
            need = (lookback_max if name == "train" else 0) + horizon
            if end - start >= need:
                continue
            which = f"the {name} part of series {series.series_names[i]!r}" if series.series_names else f"the {name} part"
            if name == "train":
                problem = f"data.lookback: {which} has {end - start} rows, fewer than lookback {lookback_max} + horizon {horizon}; lower the lookback or change data.split"
            else:
                problem = f"data.horizon: {which} has {end - start} rows, fewer than horizon {horizon}; lower the horizon or change data.split"
            raise DataError([prefix + problem])


def windows(series: SeriesData, part: str, lookback: int, horizon: int, stride: int = 1) -> tuple[torch.Tensor | WindowSet, torch.Tensor]:
    """Inputs (N, lookback, F) and targets (N, horizon, n_targets) of one split, as views.

    Training windows lie wholly inside the training part: window i covers rows
    [s + i*stride, s + i*stride + lookback + horizon) of it.

    Validation and test windows are scored on the same targets whatever the lookback: a
    window's targets lie in its part, and its inputs are the ``lookback`` rows before its
    origin, reaching back into the parts before (history known at forecast time; never into
    another series). Origins are every row from the part's first (``stride`` 1: every point of
    the part is a target), or every ``stride`` rows aligned so the last window ends at the
    part's last row (``stride`` = horizon: non-overlapping, as forecasting benchmarks score).
    Indexing a batch (``x[idx]``) copies only that batch.

    With several series the inputs are a ``WindowSet`` (per-series views + an index map; its
    ``series_index`` names each window's series) and the targets one tensor: the targets are
    copied (N x horizon x n_targets values, small next to the inputs), the inputs never.

    Tasks classify and text (``search.worker.tasks.TaskData``) cut their own windows.
    """
    return series.windows(part, lookback, horizon, stride)


def _scored_windows(series: SeriesData, first_row: int, start: int, end: int, lookback: int, horizon: int, step: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Windows whose targets lie in rows [start, end), inputs reaching back before ``start``."""
    origins = scored_origins(first_row, start, end, lookback, horizon, step)
    if not origins:
        return _part_windows(series, start, start, lookback, horizon, step)
    x, y = _part_windows(series, origins[0] - lookback, origins[-1] + horizon, lookback, horizon, step)
    if series.observed is None:
        return x, y
    keep = torch.from_numpy(observed_mask(origins, series.observed, horizon))  # (N,) a filled target is never scored
    return x[keep], y[keep]


def _part_windows(series: SeriesData, start: int, end: int, lookback: int, horizon: int, stride: int) -> tuple[torch.Tensor, torch.Tensor]:
    segment = torch.from_numpy(series.values[start:end])  # (T, F), shares memory
    if end - start < lookback + horizon:
        empty = segment.new_zeros((0, lookback + series.future_rows(horizon), series.n_features))
        return empty, segment.new_zeros((0, horizon, series.n_targets))
    w = segment.unfold(0, lookback + horizon, stride)  # (N, F, L+H) view
    x = w[:, :, : lookback + series.future_rows(horizon)].transpose(1, 2)  # (N, L, F) view; (N, L+H, F) with known-future columns
    y = w[:, : series.n_targets, lookback:].transpose(1, 2)  # (N, H, n_targets) view
    return x, y
