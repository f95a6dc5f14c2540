"""Datasets for forecasting: load, fill gaps by an explicit policy, split, scale, window.

The driver loads and prepares a dataset once (``load_series``); the prepared arrays travel to
the workers through Ray's object store, so workers need no access to the file. Each trial then
cuts its own windows (its lookback is a searched parameter) as *views* over the series
(``Tensor.unfold``): memory stays proportional to the series, not to series x lookback.

Splits are chronological (train, validation, test): by fractions of the rows, or at explicit
cut points (``split: {val_start, test_start}``, values of the time column); no window crosses a
split boundary; ``gap`` rows may be left out between the parts. The scaler is fit on the
training part only and undone before metrics are computed, so every reported error is in the
data's own units.

A file may hold several series (``series_id`` names the column): each is split by the same
rule (fractions, or cut points at the same times), windows never cross a series
(``WindowSet``: one view per series and an index map), and the scaler is fit on every training
part together or per series (``scaler_scope``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch

from models.reference import LastValueReference, SeasonalReference
from search._format import did_you_mean
from search.errors import DataError
from search.worker import forecast_view, table
from search.worker.baselines import detect_seasons, forecast_baselines
from search.worker.metrics import regression_metrics
from search.worker.origins import eval_step, scored_origins, season_list
from search.worker.stat_baselines import stat_baselines
from search.worker.table import read_table

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
    task: ClassVar[str] = "forecast"  # after the fields: TaskData makes it a field of its own

    @property
    def n_features(self) -> int:
        return self.values.shape[1]

    @property
    def n_series(self) -> int:
        return max(len(self.segments), 1)

    def parts(self, name: str) -> list[tuple[int, int]]:
        """Row range ``[start, end)`` of the part ``name`` (train, val, test) of every series."""
        return _parts(self.segments or ((0, *self.bounds, len(self.values)),), self.gap, name)

    def part(self, name: str) -> tuple[int, int]:
        return self.parts(name)[0]

    def series_starts(self) -> list[int]:
        """The first row of every series (0 for one series)."""
        return [start for start, *_ in self.segments] if self.segments else [0]

    @property
    def model_io(self) -> dict[str, Any]:
        """Keyword arguments of ``models.build`` for the task's head: none for a forecast."""
        return {}

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
        ``season`` (``models.reference``); the core model is saved as is."""
        reference = data_cfg.get("reference", "last")
        if reference == "last":
            return LastValueReference(model, self.n_targets)
        if reference == "seasonal":
            return SeasonalReference(model, self.n_targets, self.season)
        return model

    def loss_fn(self, train_cfg: dict[str, Any]):
        """The training loss on scaled targets (``train.loss``)."""
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
        pred = self.predict(model, x, device, batch_size, amp_dtype)
        ids = getattr(x, "series_index", None)  # (N,) with several series (a WindowSet)
        out = regression_metrics(self.unscale_targets(pred, ids), self.unscale_targets(y, ids))
        out["loss"] = float(((pred - y) ** 2).mean())
        return out

    def forecast_view(self, model, data_cfg: dict[str, Any], device, amp_dtype: torch.dtype | None = None) -> dict[str, Any]:
        """The data of the forecast figure (``search.worker.forecast_view``): every series'
        test part in original units, the model's forecasts from its windows and the naive and
        seasonal-naive forecasts (``season``) on the same points, bounded in size."""
        lookback, horizon = data_cfg["lookback"], data_cfg["horizon"]
        x, _ = self.windows("test", lookback, horizon)
        ids = getattr(x, "series_index", None)
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
            ))  # fmt: skip
        x_title = (data_cfg.get("time_column") or "time") if self.test_times else "row"
        return forecast_view.forecast(parts, lookback, horizon, season, target=self.columns[0], x_title=x_title)

    def checkpoint_fields(self) -> dict[str, Any]:
        """What a checkpoint records besides the forecast defaults: the seasonal naive's season."""
        return {"reference_season": self.season} if self.season else {}

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
        """Study attrs: ``naive_attrs`` and the statistical baselines within their time bound
        (``search.worker.stat_baselines``)."""
        attrs = self.naive_attrs(lookback, data_cfg, metric)
        step = eval_step(data_cfg)
        attrs.update(stat_baselines(self, data_cfg["horizon"], step, attrs["seasons"], float(data_cfg.get("stat_baselines_seconds", 0))))
        return attrs

    def scored_targets(self, part: str, horizon: int, step: int = 1) -> dict[str, int]:
        """Which validation or test targets every trial is scored on, for a reader to check:
        the windows (origins), the distinct target rows, and the first series' first and last
        origin (rows from its start). The same for every lookback the space allows."""
        origins = [
            scored_origins(first, start, end, 0, horizon, step) for first, (start, end) in zip(self.series_starts(), self.parts(part))
        ]
        covered = sum(len(range(o[0], o[-1] + horizon)) if o else 0 for o in origins)
        first_start = self.series_starts()[0]
        out = {"windows": sum(len(o) for o in origins), "points": covered}
        if origins[0]:
            out.update(first_origin=origins[0][0] - first_start, last_origin=origins[0][-1] - first_start)
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


def load_series(data: dict[str, Any], *, source: str = "", frame=None) -> SeriesData:
    """Read and prepare the dataset that a space's ``data`` section names.

    ``source`` prefixes error messages (the space file), e.g. ``"spaces/lstm.yaml: "``.
    ``frame``: the table already read (``search.worker.tasks`` passes one it has prepared).
    The rows are checked (``search.worker.table``): times parsed once, cells numeric, duplicate
    times by ``data.duplicates``; irregular time steps are a warning in ``info["warnings"]``.
    """
    prefix = f"{source}: " if source else ""
    path = Path(data["path"])
    frame = read_table(path, prefix) if frame is None else frame
    _check_columns(frame, data, path.name, prefix)
    table.check_rows(frame, path.name, prefix)
    time_column, series_id = data.get("time_column"), data.get("series_id")
    when = table.parse_times(frame[time_column], data.get("time_format"), path.name, prefix) if time_column is not None else None
    used = list(data["target"]) + [c for c in data["features"] if c not in data["target"]]
    keys = {c: "target" if c in data["target"] else "features" for c in used}
    policy = data["missing"]
    numbers = table.numeric_table(frame, used, keys, policy, path.name, prefix)
    frame, numbers, when, notes = _ordered(frame, numbers, when, data, path.name, prefix)
    rows = numbers.index.to_numpy()  # each row's number in the file, from 0
    numbers = numbers.reset_index(drop=True)
    gaps = numbers.isna().any(axis=1).to_numpy()
    n_missing = int(gaps.sum())
    if n_missing and policy == "error":
        first = int(rows[np.flatnonzero(gaps)[0]]) + 1
        raise DataError([f"{prefix}data.missing: {path.name} has {n_missing} rows with missing values (first at row {first}); set missing: interpolate or drop"])
    names, raws, kept = _fill_series(frame, numbers, series_id, policy if n_missing else None, path.name, prefix)

    gap = int(data.get("gap", 0))
    cut = _cutter(data["split"], gap, when, time_column, prefix, data.get("time_format"))
    segments, start = [], 0
    for raw, kept_rows in zip(raws, kept):
        a, b = cut(len(raw), kept_rows)
        segments.append((start, start + a, start + b, start + len(raw)))
        start += len(raw)
    raw = np.concatenate(raws) if raws else np.zeros((0, len(used)))
    test_times = _test_times(when, kept, segments, gap)  # the parsed times
    values, offset, scale, series_offset, series_scale = _scale(raw, segments, gap, data["scaler"], data.get("scaler_scope", "global"))
    info = {
        "name": path.name,
        "rows": len(raw),
        "missing_policy": policy,
        "missing_rows": n_missing,
        "split_rows": [sum(max(e - s, 0) for s, e in _parts(segments, gap, name)) for name in ("train", "val", "test")],
    }
    info.update(notes)
    if gap:
        info["gap"] = gap
    if series_id is not None:
        info["series"] = len(segments)
        info["scaler_scope"] = data.get("scaler_scope", "global")
    first = segments[0]
    return SeriesData(
        values,
        len(data["target"]),
        (first[1] - first[0], first[2] - first[0]),
        offset,
        scale,
        tuple(used),
        info,
        gap=gap,
        segments=tuple(segments) if series_id is not None else (),
        series_names=tuple(names) if series_id is not None else (),
        series_offset=series_offset,
        series_scale=series_scale,
        test_times=test_times,
    )


def _test_times(times, kept: list[np.ndarray], segments, gap: int) -> tuple[np.ndarray, ...]:
    """Per series, the time column's values at the rows of its test part: float64 for numbers,
    datetime64 for anything pandas reads as a time, else strings; () without a time column.
    Only the test parts are kept (the forecast figure's x axis), not every row's time."""
    if times is None:
        return ()
    import pandas as pd

    if pd.api.types.is_numeric_dtype(times):
        values = times.to_numpy(dtype=np.float64)
    else:
        try:
            values = pd.to_datetime(times).to_numpy()
        except (TypeError, ValueError):
            values = times.astype(str).to_numpy()
    out = []
    for rows, (start, _, _, end), (lo, hi) in zip(kept, segments, _parts(segments, gap, "test")):
        out.append(values[rows[lo - start : hi - start]])
    return tuple(out)


def _ordered(frame, numbers, when, data: dict[str, Any], file_name: str, prefix: str):
    """The rows sorted by series and parsed time, repeated times treated by
    ``data.duplicates`` (error, mean, first, last), and notes for ``info``: how many rows
    the policy merged, and a warning when the time steps are irregular."""
    time_column, series_id = data.get("time_column"), data.get("series_id")
    if time_column is None and series_id is None:
        return frame, numbers, when, {}
    order = table.order_rows(frame, when, series_id)
    frame, numbers = frame.iloc[order], numbers.iloc[order]
    if when is None:
        return frame, numbers, when, {}
    when = when.iloc[order].reset_index(drop=True)
    sids = frame[series_id].to_numpy() if series_id is not None else None
    raw_times = frame[time_column].to_numpy()
    repeat = table.repeated_times(when.to_numpy(), sids)
    notes: dict[str, Any] = {}
    if repeat.any():
        policy = data.get("duplicates", "error")
        if policy == "error":
            raise table.duplicates_error(repeat, numbers.index.to_numpy(), raw_times, time_column, file_name, prefix)
        keep, numbers = table.collapse(numbers, repeat, policy)
        frame, when = frame.iloc[keep], when.iloc[keep].reset_index(drop=True)
        sids = sids[keep] if sids is not None else None
        raw_times = raw_times[keep]
        notes["duplicate_rows"] = int(repeat.sum())
    warning = table.spacing_warning(when.to_numpy(), sids, numbers.index.to_numpy(), raw_times, time_column, file_name, prefix)
    if warning:
        notes["warnings"] = [warning]
    return frame, numbers, when, notes


def _check_columns(frame, data: dict[str, Any], file_name: str, prefix: str) -> None:
    """Every column the ``data`` section names is in the file (all problems at once)."""
    columns = [str(c) for c in frame.columns]
    listed = ", ".join(columns)
    problems = []
    for key in ("target", "features"):
        for name in data[key]:
            if name not in columns:
                problems.append(f"{prefix}data.{key}: column {name!r} is not in {file_name}{did_you_mean(name, columns)} (columns: {listed})")
    for key in ("time_column", "series_id"):
        name = data.get(key)
        if name is not None and name not in columns:
            problems.append(f"{prefix}data.{key}: column {name!r} is not in {file_name} (columns: {listed})")
    if problems:
        raise DataError(problems)


def _fill_series(frame, numbers, series_id: str | None, policy: str | None, file_name: str, prefix: str) -> tuple[list[str], list[np.ndarray], list[np.ndarray]]:
    """Each series' name, its rows as float64 after the missing-value ``policy``
    (interpolate or drop; None: nothing missing) and the positions of the rows it kept.
    Each series is filled on its own: interpolation never reaches into another series, so a
    column without any value in one series is refused."""
    if series_id is None:
        groups = [("", numbers)]
    else:
        keys = frame[series_id].to_numpy()
        cuts = [0, *(np.flatnonzero(keys[1:] != keys[:-1]) + 1).tolist(), len(keys)]
        groups = [(str(keys[i]), numbers.iloc[i:j]) for i, j in zip(cuts, cuts[1:])]
    names, raws, kept = [], [], []
    for name, part in groups:
        if policy == "interpolate":
            part = part.interpolate(method="linear", limit_direction="both")
            empty = [c for c in part.columns if part[c].isna().all()]
            if empty and len(part):
                raise DataError([f"{prefix}data.missing: column {empty[0]!r} of {file_name} has no value in series {name!r}; nothing to interpolate from: fill it in, or set missing: drop"])
        elif policy == "drop":
            part = part.dropna()
        names.append(name)
        raws.append(part.to_numpy(dtype=np.float64))
        kept.append(part.index.to_numpy())  # positions in the sorted table (and its times)
    return names, raws, kept


def _scale(raw: np.ndarray, segments, gap: int, kind: str, scope: str):
    """Scaled float32 values and the scalers, fit on the training parts only: one for all
    series (``offset``, ``scale``), and with ``scope`` series also one per series."""
    train_parts = _parts(segments, gap, "train")
    offset, scale = _fit_scaler(np.concatenate([raw[lo:hi] for lo, hi in train_parts]), kind)
    if scope != "series":
        values = ((raw - offset) / scale).astype(np.float32)
        return values, offset.astype(np.float32), scale.astype(np.float32), None, None
    fits = [_fit_scaler(raw[lo:hi], kind) for lo, hi in train_parts]
    series_offset = np.stack([f[0] for f in fits])  # (S, F)
    series_scale = np.stack([f[1] for f in fits])
    rows = np.repeat(np.arange(len(segments)), [e - s for s, _, _, e in segments])  # (T,) series of each row
    values = ((raw - series_offset[rows]) / series_scale[rows]).astype(np.float32)
    return values, offset.astype(np.float32), scale.astype(np.float32), series_offset.astype(np.float32), series_scale.astype(np.float32)


def _parts(segments, gap: int, name: str) -> list[tuple[int, int]]:
    """Row ranges of part ``name`` of each ``(start, a, b, end)`` segment: train ``[start, a)``,
    validation ``[a + gap, b)``, test ``[b + gap, end)``; empty (never negative) where the cuts
    leave no rows."""
    out = []
    for start, a, b, end in segments:
        lo, hi = {"train": (start, a), "val": (a + gap, b), "test": (b + gap, end)}[name]
        lo = min(max(lo, start), end)
        out.append((lo, min(max(lo, hi), end)))
    return out


def _cutter(split, gap: int, times, time_column: str | None, prefix: str, time_format: str | None = None):
    """``cut(n, rows) -> (a, b)``: a series' train part ends at row ``a`` and the
    validation part at ``b`` (relative rows; ``gap`` rows follow each, see ``_parts``).

    ``split`` is either train / validation / test fractions of the rows left after the gaps,
    or cut points ``{val_start, test_start}``: where validation and test begin, as values of
    the time column (numbers, or times read like the column, ``time_format`` included) or,
    without a time column, as row numbers within each series. The ``gap`` rows before each
    cut are left out. ``times``: the parsed time column, sorted (``table.parse_times``).
    """
    if not isinstance(split, dict):
        train_frac, val_frac, _ = split

        def by_fraction(n: int, _rows) -> tuple[int, int]:
            usable = max(n - 2 * gap, 0)
            return int(round(usable * train_frac)), int(round(usable * (train_frac + val_frac))) + gap

        return by_fraction
    if times is None:
        return lambda n, _rows: (split["val_start"] - gap, split["test_start"] - gap)

    import pandas as pd

    numeric = pd.api.types.is_numeric_dtype(times)
    points = {}
    for key in ("val_start", "test_start"):
        value = split[key]
        try:
            points[key] = float(value) if numeric else table.parse_point(value, time_format)
        except (TypeError, ValueError):
            example = times.iloc[0] if len(times) else "?"
            raise DataError([f"{prefix}data.split.{key}: {table.show(value)} is not a value like those of time column {time_column!r} (e.g. {table.show(example)})"]) from None
    if not points["val_start"] < points["test_start"]:
        raise DataError([f"{prefix}data.split.test_start: {split['test_start']!r} must come after val_start {split['val_start']!r}"])

    when_all = times.to_numpy(dtype=np.float64) if numeric else times.to_numpy()  # parsed once

    def by_time(n: int, rows) -> tuple[int, int]:
        when = when_all[rows]  # this series' times, in order
        a0, b0 = np.searchsorted(when, [points["val_start"], points["test_start"]], side="left")
        return int(a0) - gap, int(b0) - gap

    return by_time


def _fit_scaler(train: np.ndarray, kind: str) -> tuple[np.ndarray, np.ndarray]:
    """(offset, scale) fit on the training part only (an empty part, which the window check
    rejects later, gets the identity)."""
    if len(train) == 0:
        return np.zeros(train.shape[1]), np.ones(train.shape[1])
    if kind == "standard":
        offset, scale = train.mean(axis=0), train.std(axis=0)
    elif kind == "minmax":
        offset, scale = train.min(axis=0), train.max(axis=0) - train.min(axis=0)
    else:
        offset, scale = np.zeros(train.shape[1]), np.ones(train.shape[1])
    return offset, np.where(scale > 0, scale, 1.0)


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
    return _part_windows(series, origins[0] - lookback, origins[-1] + horizon, lookback, horizon, step)


def _part_windows(series: SeriesData, start: int, end: int, lookback: int, horizon: int, stride: int) -> tuple[torch.Tensor, torch.Tensor]:
    segment = torch.from_numpy(series.values[start:end])  # (T, F), shares memory
    if end - start < lookback + horizon:
        empty = segment.new_zeros((0, lookback, series.n_features))
        return empty, segment.new_zeros((0, horizon, series.n_targets))
    w = segment.unfold(0, lookback + horizon, stride)  # (N, F, L+H) view
    x = w[:, :, :lookback].transpose(1, 2)  # (N, L, F) view
    y = w[:, : series.n_targets, lookback:].transpose(1, 2)  # (N, H, n_targets) view
    return x, y
