"""The best model of a study, loaded back to forecast: ``search.load_best``.

    forecaster = search.load_best("lstm", "sqlite:///studies.db")
    forecaster.predict(frame)   # (horizon, n_targets) after the frame's last row
    forecaster.predict_series(frame)   # {series: (horizon, n_targets)}: one per series_id value

The checkpoint (``search.worker.checkpoint``) is the best trial's ``checkpoint`` artifact. A
model trained on several series (``data.series_id``) forecasts each series of a frame after
that series' own last row; with per-series scalers (``scaler_scope: series``) each series is
scaled by the scaler fit on its own training part, so only series seen in training can be
forecast.

Tasks classify and text record the task and the class labels (a list of numbers or strings)
or the vocabulary (a list of one-character strings): ``predict`` of a classifier returns the
label of the window that ends at the frame's last row, and ``generate(prompt, n)`` of a text
model continues a prompt by ``n`` characters (greedy).
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import optuna
import torch

import models
import storage as storage_mod
from models.reference import LastValueReference
from search.errors import DataError, NoResultError, SearchError, StudyNotFoundError, UsageError
from search.store import existing_url, open_storage
from search.worker.checkpoint import FORMAT
from search.worker.table import order_rows, parse_times
from search.worker.tasks import encode


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

    def predict(self, frame) -> np.ndarray:
        """Forecast the ``horizon`` steps after the last row of ``frame`` (a pandas DataFrame
        with the training columns), in the data's own units: shape (horizon, n_targets).
        For a model trained on several series the frame must hold one series (see
        ``predict_series`` for several)."""
        forecasts = self.predict_series(frame)
        if len(forecasts) > 1:
            raise UsageError(f"--input: holds {len(forecasts)} series ({self.series_id}); forecast them with predict_series")
        return next(iter(forecasts.values()))

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
        return {str(name): self._forecast(str(name), part[columns]) for name, part in groups}

    def _in_order(self, frame):
        """The input's rows sorted by series and by time, its time column read as in training
        (``search.worker.table.parse_times``, the space's ``time_format`` included)."""
        time_column = self.payload["data"].get("time_column")
        when = None
        if time_column and time_column in frame.columns:
            try:
                when = parse_times(frame[time_column], self.payload["data"].get("time_format"), "the input", "")
            except DataError as exc:
                raise UsageError(f"--input: {exc.problems[0]}") from None
        if when is None and not self.series_id:
            return frame
        return frame.iloc[order_rows(frame, when, self.series_id)]

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
        tokens = encode(prompt, vocab).tolist()
        out = []
        self.model.eval()
        with torch.no_grad():
            for _ in range(n):
                window = torch.tensor(tokens[-self.lookback :])
                x = torch.nn.functional.one_hot(window, unknown + 1).float()[None]  # (1, L, V)
                logits = self.model(x)[0, -1]  # (V,) the next character
                logits[unknown] = -math.inf
                token = int(logits.argmax())
                tokens.append(token)
                out.append(vocab[token])
        return "".join(out)

    def _forecast(self, name: str, table):
        table = table.astype("float64").interpolate(method="linear", limit_direction="both")
        if len(table) < self.lookback:
            which = f"series {name!r} has" if name else "it has"
            raise UsageError(f"--input: {which} {len(table)} rows, the model needs at least its lookback of {self.lookback}")
        offset, scale = self._scaler(name)
        window = ((table.to_numpy()[-self.lookback :] - offset) / scale).astype(np.float32)
        x = torch.from_numpy(window)[None]  # (1, L, F)
        model = self.model
        if self.task == "classify":  # the label of the window ending at the last row
            model.eval()
            with torch.no_grad():
                return self.classes[int(model(x)[0].argmax())]
        if self.payload["data"].get("reference", "last") == "last":
            model = LastValueReference(model, self.payload["n_targets"])
        model.eval()
        with torch.no_grad():
            pred = model(x)[0].numpy()  # (H, T)
        n = self.payload["n_targets"]
        return pred * scale[:n] + offset[:n]


def unpack(data: bytes) -> Forecaster:
    payload = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    if payload.get("format") != FORMAT:
        raise SearchError(f"checkpoint format {payload.get('format')!r} is not supported (expected {FORMAT})")
    d = payload["data"]
    task = payload.get("task", "forecast")
    n_features, head = len(payload["columns"]), {}
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
    model.load_state_dict(payload["state_dict"])
    return Forecaster(model, payload)


def load_best(study: str | optuna.Study, storage: str | None = None, *, artifacts: str | None = None) -> Forecaster:
    """The best trial's model of a study, ready to forecast."""
    url = storage or storage_mod.default_url()
    if isinstance(study, str):
        url = existing_url(url, hint="")
        try:
            study = optuna.load_study(study_name=study, storage=open_storage(url, heartbeat_interval=None, grace_period=None))
        except KeyError:
            raise StudyNotFoundError(f"no study {study!r} in {storage_mod.mask_url(url)}") from None
    try:
        best = study.best_trial
    except ValueError:
        raise NoResultError(f"study {study.study_name!r} has no completed trial yet") from None
    artifact_id = best.user_attrs.get("checkpoint")
    if artifact_id is None:
        raise SearchError(f"the best trial #{best.number} of {study.study_name!r} has no checkpoint")
    store = storage_mod.open_artifact_store(url, artifacts)
    with store.open_reader(artifact_id) as reader:
        return unpack(reader.read())
