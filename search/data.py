"""Datasets for forecasting: load, fill gaps by an explicit policy, split, scale, window.

The driver loads and prepares a dataset once (``load_series``); the prepared arrays travel to
the workers through Ray's object store, so workers need no access to the file. Each trial then
cuts its own windows (its lookback is a searched parameter) as *views* over the series
(``Tensor.unfold``): memory stays proportional to the series, not to series x lookback.

Splits are chronological (train, validation, test) and no window crosses a split boundary.
The scaler is fit on the training part only and undone before metrics are computed, so every
reported error is in the data's own units.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from search.errors import DataError


@dataclass
class SeriesData:
    """A prepared series, ready for windowing. Plain arrays: cheap to pickle and share."""

    values: np.ndarray  # (T, F) float32, scaled; columns = targets then features
    n_targets: int  # the first n_targets columns are forecast
    bounds: tuple[int, int]  # train = [0, a), validation = [a, b), test = [b, T)
    offset: np.ndarray  # (F,) scaled = (raw - offset) / scale
    scale: np.ndarray  # (F,)
    columns: tuple[str, ...]
    info: dict[str, Any] = field(default_factory=dict)  # name, rows, missing policy and count

    @property
    def n_features(self) -> int:
        return self.values.shape[1]

    def part(self, name: str) -> tuple[int, int]:
        a, b = self.bounds
        return {"train": (0, a), "val": (a, b), "test": (b, len(self.values))}[name]

    def unscale_targets(self, y: torch.Tensor) -> torch.Tensor:
        """(..., n_targets) scaled -> original units."""
        scale = torch.as_tensor(self.scale[: self.n_targets], dtype=y.dtype, device=y.device)
        offset = torch.as_tensor(self.offset[: self.n_targets], dtype=y.dtype, device=y.device)
        return y * scale + offset


def _read_table(path: Path, key_prefix: str):
    import pandas as pd

    if not path.exists():
        raise DataError([f"{key_prefix}data.path: no such file: {path}"])
    suffix = path.suffix.lower()
    try:
        if suffix in (".parquet", ".pq"):
            return pd.read_parquet(path)
        if suffix in (".csv", ".txt", ".gz"):
            return pd.read_csv(path)
    except Exception as exc:  # a parser error: name the file, keep it to one line
        raise DataError([f"{key_prefix}data.path: cannot read {path.name}: {str(exc).splitlines()[0]}"]) from None
    raise DataError([f"{key_prefix}data.path: unsupported file type {suffix!r}; use .csv or .parquet"])


def load_series(data: dict[str, Any], *, source: str = "") -> SeriesData:
    """Read and prepare the dataset that a space's ``data`` section names.

    ``source`` prefixes error messages (the space file), e.g. ``"spaces/lstm.yaml: "``.
    """
    prefix = f"{source}: " if source else ""
    path = Path(data["path"])
    frame = _read_table(path, prefix)
    columns = list(frame.columns)
    problems = []
    for key in ("target", "features"):
        for name in data[key]:
            if name not in columns:
                close = difflib.get_close_matches(name, [str(c) for c in columns], n=1)
                hint = f"; did you mean '{close[0]}'?" if close else ""
                problems.append(f"{prefix}data.{key}: column {name!r} is not in {path.name}{hint} (columns: {', '.join(map(str, columns))})")
    time_column = data.get("time_column")
    if time_column is not None and time_column not in columns:
        problems.append(f"{prefix}data.time_column: column {time_column!r} is not in {path.name} (columns: {', '.join(map(str, columns))})")
    if problems:
        raise DataError(problems)

    if time_column is not None:
        frame = frame.sort_values(time_column, kind="stable")
    used = list(data["target"]) + [c for c in data["features"] if c not in data["target"]]
    table = frame[used]
    non_numeric = [c for c in used if not np.issubdtype(table[c].dtype, np.number)]
    if non_numeric:
        raise DataError([f"{prefix}data.target: column {non_numeric[0]!r} is not numeric"])
    table = table.astype("float64")
    n_missing = int(table.isna().any(axis=1).sum())
    policy = data["missing"]
    if n_missing:
        if policy == "error":
            first = int(np.flatnonzero(table.isna().any(axis=1).to_numpy())[0])
            raise DataError([f"{prefix}data.missing: {path.name} has {n_missing} rows with missing values (first at row {first}); set missing: interpolate or drop"])
        if policy == "interpolate":
            table = table.interpolate(method="linear", limit_direction="both")
        else:  # drop
            table = table.dropna()
    raw = table.to_numpy(dtype=np.float64)

    n = len(raw)
    train_frac, val_frac, _ = data["split"]
    a = int(round(n * train_frac))
    b = int(round(n * (train_frac + val_frac)))
    offset, scale = _fit_scaler(raw[:a], data["scaler"])
    values = ((raw - offset) / scale).astype(np.float32)
    info = {
        "name": path.name,
        "rows": n,
        "missing_policy": policy,
        "missing_rows": n_missing,
        "split_rows": [a, b - a, n - b],
    }
    return SeriesData(values, len(data["target"]), (a, b), offset.astype(np.float32), scale.astype(np.float32), tuple(used), info)


def _fit_scaler(train: np.ndarray, kind: str) -> tuple[np.ndarray, np.ndarray]:
    """(offset, scale) fit on the training part only."""
    if kind == "standard":
        offset, scale = train.mean(axis=0), train.std(axis=0)
    elif kind == "minmax":
        offset, scale = train.min(axis=0), train.max(axis=0) - train.min(axis=0)
    else:
        offset, scale = np.zeros(train.shape[1]), np.ones(train.shape[1])
    return offset, np.where(scale > 0, scale, 1.0)


def check_windows_fit(series: SeriesData, lookback_max: int, horizon: int, *, source: str = "") -> None:
    """Every split must hold at least one window of the longest lookback."""
    prefix = f"{source}: " if source else ""
    for name in ("train", "val", "test"):
        start, end = series.part(name)
        if end - start < lookback_max + horizon:
            raise DataError([
                f"{prefix}data.lookback: the {name} part has {end - start} rows, fewer than lookback "
                f"{lookback_max} + horizon {horizon}; lower the lookback or change data.split"
            ])


def windows(series: SeriesData, part: str, lookback: int, horizon: int, stride: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """Inputs (N, lookback, F) and targets (N, horizon, n_targets) of one split, as views.

    Window i covers rows [s + i*stride, s + i*stride + lookback + horizon) of the part, all
    inside it. Indexing a batch (``x[idx]``) copies only that batch.
    """
    start, end = series.part(part)
    segment = torch.from_numpy(series.values[start:end])  # (T, F), shares memory
    if end - start < lookback + horizon:
        empty = segment.new_zeros((0, lookback, series.n_features))
        return empty, segment.new_zeros((0, horizon, series.n_targets))
    w = segment.unfold(0, lookback + horizon, stride)  # (N, F, L+H) view
    x = w[:, :, :lookback].transpose(1, 2)  # (N, L, F) view
    y = w[:, : series.n_targets, lookback:].transpose(1, 2)  # (N, H, n_targets) view
    return x, y
