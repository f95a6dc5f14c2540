"""A trial's model, unpacked from its checkpoint to forecast: what ``search.load_best`` returns
(``search.results.loading`` picks the trial and reads its checkpoint).

    forecaster = search.load_best("lstm", "sqlite:///studies.db")
    forecaster.predict(frame)   # (horizon, n_targets) after the frame's last row
    forecaster.predict_series(frame)   # {series: (horizon, n_targets)}: one per series_id value

The checkpoint (``search.worker.checkpoint``) is the best trial's ``checkpoint`` artifact,
loaded only when its sha256 matches the ``checkpoint_sha256`` user attr the driver recorded
when it uploaded it, and read without pickle (safetensors with a JSON header). A
model trained on several series (``data.series_id``) forecasts each series of a frame after
that series' own last row; with per-series scalers (``scaler_scope: series``) each series is
scaled by the scaler fit on its own training part, so only series seen in training can be
forecast.

``load_best(..., ensemble=K)`` returns an ``EnsembleForecaster`` with the same interface: the
mean of the forecasts of the study's K best trials that kept a checkpoint (space key
``checkpoints.keep``), each member verified the same way and forecasting from the same rows
with its own lookback, scaler and reference, averaged in the data's own units.

Tasks classify and text record the task and the class labels (a list of numbers or strings)
or the vocabulary (a list of one-character strings): ``predict`` of a classifier returns the
label of the window that ends at the frame's last row, and ``generate(prompt, n)`` of a text
model continues a prompt by ``n`` characters (greedy).
"""

from __future__ import annotations

import hmac
import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from safetensors.torch import load as load_tensors

import models
from models.reference import FutureWindow, LastValueReference, SeasonalReference
from search.errors import CheckpointError, DataError, UsageError
from search.worker import forecast_view, gaps, known, ref_columns
from search.worker.checkpoint import DIGEST_ATTR, FORMAT, METADATA_KEY, digest
from search.worker.fill import fill_frame
from search.worker.table import order_rows, parse_times
from search.worker.tasks import OneHotInput, encode, greedy_continuation


@dataclass
class Forecaster:
    """A trained model with its data settings: ``predict`` forecasts after a frame's last row."""

    model: torch.nn.Module
    payload: dict[str, Any]

    @property
    def lookback(self) -> int:
        return int(self.payload["data"]["lookback"])

    @property
    def horizon(self) -> int:
        return int(self.payload["data"]["horizon"])

    @property
    def targets(self) -> list[str]:
        return self.payload["columns"][: self.payload["n_targets"]]

    @property
    def task(self) -> str:
        return self.payload.get("task", "forecast")

    @property
    def classes(self) -> list:
        """Task classify: the class labels, in the order of the model's outputs."""
        return list(self.payload.get("classes", []))

    @property
    def vocab(self) -> list[str]:
        """Task text: the characters, in token order; token ``len(vocab)`` is the unknown one."""
        return list(self.payload.get("vocab", []))

    @property
    def series_id(self) -> str | None:
        """The column naming each row's series, for a model trained on several series."""
        return self.payload["data"].get("series_id")

    def predict(self, frame, level=None):
        """Forecast the ``horizon`` steps after the last row of ``frame`` (a pandas DataFrame
        with the training columns), in the data's own units: shape (horizon, n_targets).
        For a model trained on several series the frame must hold one series (see
        ``predict_series`` for several).

        ``level`` (a list of levels in percent, e.g. ``[80, 95]``): a DataFrame instead, the
        table ``search predict --level`` writes: ``step``, each target's point forecast and
        its prediction intervals ``lo-80``, ``hi-80``, ... (several targets: ``<target>-lo-80``),
        at levels the study calibrated (``search.results.forecast_intervals``)."""
        if level is not None:
            from search.results import forecast_intervals

            forecasts = self.predict_series(frame)
            if len(forecasts) > 1:
                raise UsageError(f"--input: holds {len(forecasts)} series ({self.series_id}); forecast them with search predict")
            return forecast_intervals.table(self, forecasts, forecast_intervals.bands(self, frame, level, forecasts))
        forecasts = self.predict_series(frame)
        if len(forecasts) > 1:
            raise UsageError(f"--input: holds {len(forecasts)} series ({self.series_id}); forecast them with predict_series")
        return next(iter(forecasts.values()))

    # why a forecaster without a calibration draws no intervals (a usage error names it)
    uncalibrated = "its study recorded no prediction intervals for it (made before they were; run the search again to record them)"

    def interval_calibration(self) -> tuple[dict[str, Any] | None, int | None]:
        """The interval calibration this forecaster draws with (``Calibration.to_json``: a
        trial's is packed in its checkpoint) and the season its series' scales were taken at;
        (None, None) where it has none (a checkpoint written before intervals, another task)."""
        if self.task != "forecast" or not self.payload.get("intervals"):
            return None, None
        season = self.payload.get("reference_season") or self.payload["data"].get("season")
        return self.payload["intervals"], season if isinstance(season, int) else None

    def predict_series(self, frame) -> dict[str, np.ndarray]:
        """One forecast (horizon, n_targets) per series of ``frame``, after each one's last row,
        keyed by its ``series_id`` value (``""`` for a model of one series). Task classify: the
        label of the window ending at each series' last row instead."""
        if self.task == "text":
            raise UsageError("a text model continues text: use generate(prompt, n) (search predict reads --input as the prompt)")
        columns = self.payload["columns"]
        series_id = self.series_id
        needed = columns + ([series_id] if series_id else [])
        missing = [c for c in needed if c not in frame.columns]
        if missing:
            raise UsageError(f"--input: column {missing[0]!r} is missing (the model needs {', '.join(needed)})")
        frame = self._in_order(frame)
        groups = frame.groupby(frame[series_id].astype(str), sort=False) if series_id else [("", frame)]
        if self.payload.get("known"):  # known-future columns: the window reaches over the horizon
            return {str(name): self._forecast_known(str(name), part) for name, part in groups}
        return {str(name): self._forecast(str(name), part[columns]) for name, part in groups}

    def plot_view(self, frame, forecasts: dict[str, np.ndarray], bands: dict[str, dict] | None = None) -> dict[str, Any]:
        """The data ``search.forecast_figure`` draws for ``search predict --plot``: per series
        (the first ``MAX_SERIES``), the last rows of ``frame`` (at most ``max(4 * lookback,
        8 * horizon)``, thinned to ``MAX_POINTS``) and ``forecasts`` (from ``predict_series``)
        after them, at the times that follow (the time column's median step) or row numbers.

        ``bands``: the forecasts' prediction intervals, shaded around them, keyed like
        ``forecasts`` by series then by level, ``{name: {80: (lo, hi), 95: (lo, hi)}}``, each
        bound (horizon,) or (horizon, targets) like the forecast (the first target drawn)."""
        series_id, time_column = self.series_id, self.payload["data"].get("time_column")
        target = self.targets[0]
        frame = self._in_order(frame)  # the time column read as in training
        groups = dict(iter(frame.groupby(frame[series_id].astype(str), sort=False))) if series_id else {"": frame}
        tail = max(4 * self.lookback, 8 * self.horizon)
        panels = []
        for name in list(forecasts)[: forecast_view.MAX_SERIES]:
            part = groups[name]
            if self.payload.get("known"):  # rows after the last target value carry the horizon's known inputs, not data
                has = part[self.targets].notna().all(axis=1).to_numpy()
                part = part.iloc[: int(np.flatnonzero(has)[-1]) + 1 if has.any() else 0]
            part = part.tail(tail)
            keep = forecast_view.keep_indices(len(part))
            x, future = _axis(part, time_column, self.horizon)
            panels.append({
                "name": name,
                "x": [x[i] for i in keep],
                "actual": [float(v) for v in part[target].to_numpy(dtype=np.float64)[keep]],
                "forecast_x": future,
                "forecast": [float(v) for v in np.asarray(forecasts[name])[:, 0]],
            })  # fmt: skip
            if bands and bands.get(name):
                panels[-1]["bands"] = {f"{float(level):g}": {"lo": _first_target(lo), "hi": _first_target(hi)} for level, (lo, hi) in bands[name].items()}
        return {"format": forecast_view.FORMAT, "task": "predict", "target": target, "x_title": time_column or "row",
                "horizon": self.horizon, "tail": min(tail, max(len(g) for g in groups.values())),
                "series_total": len(forecasts), "series": panels}  # fmt: skip

    def _in_order(self, frame):
        """The input's rows sorted by series and by time, its time column read as in training
        (``search.worker.table.parse_times``, the space's ``time_format`` included), and with
        ``data.fill_gaps`` a row of empty cells at each missing time."""
        time_column = self.payload["data"].get("time_column")
        when = None
        if time_column and time_column in frame.columns:
            try:
                when = parse_times(frame[time_column], self.payload["data"].get("time_format"), "the input", "")
            except DataError as exc:
                raise UsageError(f"--input: {exc.problems[0]}") from None
        if when is None and not self.series_id:
            return frame
        order = order_rows(frame, when, self.series_id)
        if when is not None and self.payload["data"].get("fill_gaps") is True:  # the missing times as in training
            return fill_frame(frame.iloc[order], when.iloc[order], self.series_id, time_column)
        return frame.iloc[order]

    def _scaler(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """(offset, scale) of series ``name``: its own with per-series scalers, else the global one."""
        if "series_offset" not in self.payload:
            return np.asarray(self.payload["offset"]), np.asarray(self.payload["scale"])
        names = self.payload["series_names"]
        if name not in names:
            known = ", ".join(names[:8]) + (", ..." if len(names) > 8 else "")
            raise UsageError(
                f"--input: series {name!r} was not in the training data, and this model scales each series "
                f"by its own training scaler (scaler_scope: series); known series: {known}"
            )
        i = names.index(name)
        return np.asarray(self.payload["series_offset"][i]), np.asarray(self.payload["series_scale"][i])

    def generate(self, prompt: str, n: int) -> str:
        """Task text: the ``n`` most likely next characters after ``prompt``, one at a time
        (greedy; the unknown token is never chosen). The model reads at most its lookback."""
        if self.task != "text":
            raise UsageError(f"generate continues text, but this is a {self.task} model; use predict")
        if not prompt:
            raise UsageError("--input: the prompt is empty; give some text to continue")
        vocab, unknown = self.vocab, len(self.vocab)
        model = OneHotInput(self.model, unknown + 1)
        tokens = greedy_continuation(model, encode(prompt, vocab).tolist(), n, self.lookback, unknown)
        return "".join(vocab[t] for t in tokens)

    def _forecast_known(self, name: str, part) -> np.ndarray:
        """A forecast from a window with known-future columns (``search.worker.known``)."""
        offset, scale = self._scaler(name)
        x = torch.from_numpy(known.predict_window(self.payload, name, part, offset, scale))[None]  # (1, L+H, C)
        n = self.payload["n_targets"]
        model = self.wrapped()
        model.eval()
        with torch.no_grad():
            pred = model(x)[0].numpy()  # (H, T); all of a quantile head's quantiles: (H, T, Q)
        return _unscaled(pred, offset[:n], scale[:n])

    def _input(self, name: str, table) -> np.ndarray:
        """The model's scaled input window (L, F) for a forecast after the last row of ``table``."""
        if len(table) < self.lookback:
            which = f"series {name!r} has" if name else "it has"
            raise UsageError(f"--input: {which} {len(table)} rows, the model needs at least its lookback of {self.lookback}")
        if self.task == "forecast":  # only observed values end the input; bounded gaps filled (search.worker.gaps)
            filled = gaps.fill_input(table, self.payload["n_targets"], self.lookback, gaps.input_bound(self.payload), f"series {name!r}" if name else "the input")
        else:
            filled = table.astype("float64").interpolate(method="linear", limit_direction="both").to_numpy()
        offset, scale = self._scaler(name)
        return ((filled[-self.lookback :] - offset) / scale).astype(np.float32)

    def forecast_at(self, name: str, part, origins: list[int]) -> np.ndarray:
        """Forecasts (len(origins), H, T) in the data's units from each origin of ``part`` (one
        series of the input, in time order, every column): each from the rows before it, as
        ``predict`` would forecast after them (known-future columns: the horizon's rows with
        their targets hidden), the model run once on all the windows."""
        if self.payload.get("known"):
            offset, scale = self._scaler(name)
            make = lambda o: known.predict_window(self.payload, name, hidden_after(part.iloc[: o + self.horizon], self.targets, o), offset, scale)  # noqa: E731
        else:
            make = lambda o: self._input(name, part.iloc[:o][self.payload["columns"]])  # noqa: E731
        x = torch.from_numpy(np.stack([make(o) for o in origins]).astype(np.float32))  # (k, L(+H), F)
        with torch.no_grad():
            pred = self.wrapped().eval()(x).numpy()  # (k, H, T)
        offset, scale = self._scaler(name)
        n = self.payload["n_targets"]
        return pred * scale[:n] + offset[:n]

    def _forecast(self, name: str, table):
        x = torch.from_numpy(self._input(name, table))[None]  # (1, L, F)
        offset, scale = self._scaler(name)
        model = self.model
        if self.task == "classify":  # the label of the window ending at the last row
            model.eval()
            with torch.no_grad():
                return self.classes[int(model(x)[0].argmax())]
        model = self.wrapped().eval()
        with torch.no_grad():
            pred = model(x)[0].numpy()  # (H, T); all of a quantile head's quantiles: (H, T, Q)
        n = self.payload["n_targets"]
        return _unscaled(pred, offset[:n], scale[:n])

    def wrapped(self) -> torch.nn.Module:
        """The model as training called it: a forecast relative to the window's last value, or
        to the seasonal naive (``data.reference``); scaled inputs in, scaled forecasts out."""
        reference = known.decided("reference", self.payload["data"].get("reference", "last"))
        if self.task == "forecast" and self.payload.get("known"):  # the window reaches over the horizon
            spec = self.payload["known"]
            n_inputs = len(self.payload["columns"]) + known.n_time_columns(spec)
            n_known = len(spec["future_features"]) + known.n_time_columns(spec)
            lags_at, n_lags, _ = ref_columns.lag_block(spec, n_inputs, self.payload["n_targets"])
            return FutureWindow(self.model, self.payload["n_targets"], self.lookback, n_inputs, n_known, reference, self.payload.get("reference_season"), lags_at, n_lags)
        if self.task == "forecast" and reference == "last":
            return LastValueReference(self.model, self.payload["n_targets"])
        if self.task == "forecast" and reference == "seasonal":
            return SeasonalReference(self.model, self.payload["n_targets"], int(self.payload["reference_season"]))
        return self.model


@dataclass
class EnsembleForecaster(Forecaster):
    """The mean of several forecasters' forecasts (``load_best(..., ensemble=K)``), with the
    interface of one. ``model`` and ``payload`` are the first (best) member's, except that the
    lookback is the longest member's, which an input must hold; each member forecasts from the
    same rows with its own lookback, scaler and reference, in the data's own units, and the
    forecasts are averaged."""

    members: list[Forecaster] = field(default_factory=list)
    trials: list[int] = field(default_factory=list)  # the members' trial numbers, best first
    note: str = ""  # better trials left out because they kept no checkpoint

    uncalibrated = "the mean of the best K trials was not calibrated (the served forecaster and --trial N have intervals)"

    def interval_calibration(self) -> tuple[dict[str, Any] | None, int | None]:
        """None: the mean of the best K was not calibrated (the served forecaster is, when it is one)."""
        return None, None

    def _forecast(self, name: str, table):
        return np.mean([member._forecast(name, table) for member in self.members], axis=0)  # (H, T)

    def forecast_at(self, name: str, part, origins: list[int]) -> np.ndarray:
        """The members' mean of ``Forecaster.forecast_at``, each member with its own windows."""
        return np.mean([member.forecast_at(name, part, origins) for member in self.members], axis=0)

    def _forecast_known(self, name: str, part) -> np.ndarray:
        """Members with known-future columns (their time features may differ: a searched
        ``data.time_features``) read the horizon's rows; the others only the rows up to the
        last one with every target."""
        targets = part[self.targets].notna().all(axis=1).to_numpy()
        history = part.iloc[: int(np.flatnonzero(targets)[-1]) + 1 if targets.any() else 0]
        columns = self.payload["columns"]
        forecasts = [m._forecast_known(name, part) if m.payload.get("known") else m._forecast(name, history[columns]) for m in self.members]
        return np.mean(forecasts, axis=0)  # (H, T)


def hidden_after(rows, targets: list[str], origin: int):
    """``rows`` with the targets from row ``origin`` on left empty: a window's horizon as
    ``search predict`` reads it (known-future columns only)."""
    rows = rows.copy()
    rows.iloc[origin:, [rows.columns.get_loc(t) for t in targets]] = np.nan
    return rows


def _unscaled(pred: np.ndarray, offset: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """Scaled forecasts (H, T), or a quantile head's (H, T, Q), in the data's own units."""
    if pred.ndim == 3:
        return pred * scale[:, None] + offset[:, None]
    return pred * scale + offset


def _axis(part, time_column: str | None, horizon: int) -> tuple[list, list]:
    """x labels of a series' rows and of the ``horizon`` steps after its last row: the time
    column's values continued by its median step, or row numbers (0 = the series' first row
    shown) without a usable time column."""
    import pandas as pd

    n = len(part)
    if time_column and time_column in part.columns and n >= 2:
        times = part[time_column]
        if not pd.api.types.is_numeric_dtype(times):
            try:
                times = pd.to_datetime(times)
            except (TypeError, ValueError):
                times = None
        if times is not None:
            step = times.diff().median()
            future = [times.iloc[-1] + step * k for k in range(1, horizon + 1)]
            label = (lambda t: str(pd.Timestamp(t))) if not pd.api.types.is_numeric_dtype(times) else float
            return [label(t) for t in times], [label(t) for t in future]
    return list(range(n)), list(range(n, n + horizon))


def _looks_like_format_1(data: bytes) -> bool:
    """``torch.save`` output: a zip archive, or a bare pickle from its legacy writer. Only
    the first bytes are looked at; nothing is unpickled."""
    return data[:4] == b"PK\x03\x04" or (data[:1] == b"\x80" and data[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05"))


def read_header(data: bytes) -> dict[str, Any]:
    """The JSON header of a format-2 checkpoint, read from the safetensors header (JSON: no
    pickle). A format-1 checkpoint (``torch.save``) is refused unread."""
    size = int.from_bytes(data[:8], "little") if len(data) >= 8 else -1
    if not 0 < size <= len(data) - 8 or data[8:9] != b"{":
        if _looks_like_format_1(data):
            raise CheckpointError(
                "checkpoint format 1 (torch.save, a pickle) is no longer loaded; run the search again to write a format-2 (safetensors) checkpoint"
            )
        raise CheckpointError(f"not a checkpoint ({len(data)} bytes, no safetensors header)")
    try:
        meta = json.loads(data[8 : 8 + size]).get("__metadata__") or {}
        fields = json.loads(meta[METADATA_KEY])
    except (ValueError, KeyError, TypeError, AttributeError):
        raise CheckpointError("not a checkpoint of this service (no search header in its safetensors metadata)") from None
    if not isinstance(fields, dict) or fields.get("format") != FORMAT:
        found = fields.get("format") if isinstance(fields, dict) else None
        raise CheckpointError(f"checkpoint format {found!r} is not supported (expected {FORMAT})")
    return fields


def unpack(data: bytes) -> Forecaster:
    """A forecaster from checkpoint bytes (``search.worker.checkpoint.pack``); no pickle runs."""
    payload = read_header(data)
    d = payload["data"]
    task = payload.get("task", "forecast")
    n_features, head = len(payload["columns"]), {}
    if payload.get("known"):  # time features after the file's columns; known-future ones also over the horizon
        n_time = known.n_time_columns(payload["known"])
        n_features += n_time
        head = {"n_future": len(payload["known"]["future_features"]) + n_time} if len(payload["known"]["future_features"]) + n_time else {}
    if task == "classify":
        head = {"n_classes": len(payload["classes"])}
    elif task == "text":  # one-hot tokens in, next-token logits out; + the unknown token
        n_features = len(payload["vocab"]) + 1
        head = {"n_classes": n_features, "per_step": True}
    model = models.build(
        payload["family"],
        n_features=n_features,
        horizon=int(d["horizon"]),
        n_targets=int(payload["n_targets"]),
        lookback=int(d["lookback"]),
        **head,
        **payload["params"],
    )
    try:
        tensors = load_tensors(data)
    except Exception as exc:  # safetensors' own error for a malformed file
        raise CheckpointError(f"the checkpoint's tensors cannot be read ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})") from None
    model.load_state_dict(tensors)
    return Forecaster(model, payload)


def verified(data: bytes, recorded: str | None, trial: str) -> bytes:
    """``data`` when its sha256 is the one the driver recorded for ``trial``; else refused,
    naming the trial. A checkpoint without a recorded digest is refused too (a format-1
    checkpoint, which never had one, is named as such)."""
    if recorded and not hmac.compare_digest(digest(data), str(recorded)):
        raise CheckpointError(
            f"{trial}: the checkpoint does not match the sha256 recorded when it was written; it was changed or replaced, refusing to load it"
        )
    try:
        read_header(data)
    except CheckpointError as exc:
        raise CheckpointError(f"{trial}: {exc}") from None
    if not recorded:
        raise CheckpointError(
            f"{trial}: no checkpoint digest (user attr {DIGEST_ATTR}) was recorded, so its checkpoint cannot be verified; refusing to load it"
        )
    return data


def _first_target(bound) -> list[float]:
    """A band's bound (H,) or (H, T) as the figure draws it: the first target's values."""
    values = np.asarray(bound, dtype=np.float64)
    return [float(v) for v in (values if values.ndim == 1 else values[:, 0])]
