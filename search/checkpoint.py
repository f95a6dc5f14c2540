"""The best model of a study: saved as an Optuna artifact, loaded back to forecast.

A checkpoint holds everything needed to forecast from new data without the space file: the
model family and params, the best epoch's weights, the scaler, the columns and window sizes.
It is written with ``torch.save`` and read with ``weights_only=True`` (plain types only).

    forecaster = search.load_best("lstm", "sqlite:///studies.db")
    forecaster.predict(frame)   # (horizon, n_targets) after the frame's last row
"""

from __future__ import annotations

import io
import os
import tempfile
from dataclasses import dataclass
from typing import Any

import numpy as np
import optuna
import torch

import models
from search.errors import SearchError, UsageError

FORMAT = 1


def can_pack(series) -> bool:
    """Checkpoints hold one scaler: a per-series scaler (``scaler_scope: series``) cannot be
    saved in this format yet, so such trials keep no checkpoint."""
    return getattr(series, "series_offset", None) is None


def pack(model: torch.nn.Module, config: dict[str, dict[str, Any]], series) -> bytes:
    """Serialize the (unwrapped) model's weights with what forecasting needs."""
    payload = {
        "format": FORMAT,
        "family": config["model"]["family"],
        "params": {k: v for k, v in config["model"].items() if k != "family"},
        "data": {k: (list(v) if isinstance(v, tuple) else v) for k, v in config["data"].items() if k != "path"},
        "columns": list(series.columns),
        "n_targets": int(series.n_targets),
        "offset": [float(v) for v in series.offset],
        "scale": [float(v) for v in series.scale],
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
    }
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    return buffer.getvalue()


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

    def predict(self, frame) -> np.ndarray:
        """Forecast the ``horizon`` steps after the last row of ``frame`` (a pandas DataFrame
        with the training columns), in the data's own units: shape (horizon, n_targets)."""
        from search.train import LastValueReference

        columns = self.payload["columns"]
        missing = [c for c in columns if c not in frame.columns]
        if missing:
            raise UsageError(f"--input: column {missing[0]!r} is missing (the model needs {', '.join(columns)})")
        time_column = self.payload["data"].get("time_column")
        if time_column and time_column in frame.columns:
            frame = frame.sort_values(time_column, kind="stable")
        table = frame[columns].astype("float64").interpolate(method="linear", limit_direction="both")
        if len(table) < self.lookback:
            raise UsageError(f"--input: {len(table)} rows, the model needs at least its lookback of {self.lookback}")
        offset, scale = np.asarray(self.payload["offset"]), np.asarray(self.payload["scale"])
        window = ((table.to_numpy()[-self.lookback :] - offset) / scale).astype(np.float32)
        x = torch.from_numpy(window)[None]  # (1, L, F)
        model = self.model
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
    model = models.build(
        payload["family"],
        n_features=len(payload["columns"]),
        horizon=int(d["horizon"]),
        n_targets=int(payload["n_targets"]),
        lookback=int(d["lookback"]),
        **payload["params"],
    )
    model.load_state_dict(payload["state_dict"])
    return Forecaster(model, payload)


def upload(study: optuna.Study, trial: optuna.trial.Trial, store, data: bytes) -> str:
    """Write a checkpoint as an artifact of ``trial``; returns the artifact id."""
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, f"checkpoint_trial_{trial.number}.pt")
        with open(path, "wb") as f:
            f.write(data)
        return optuna.artifacts.upload_artifact(
            artifact_store=store, file_path=path, study_or_trial=trial, storage=study._storage, mimetype="application/octet-stream"
        )


def load_best(study: str | optuna.Study, storage: str | None = None, *, artifacts: str | None = None) -> Forecaster:
    """The best trial's model of a study, ready to forecast."""
    import storage as storage_mod

    url = storage or storage_mod.default_url()
    if isinstance(study, str):
        db = storage_mod.sqlite_path(url)
        if db is not None and not db.exists():
            raise UsageError(f"--storage {url}: no such database file {db}")
        try:
            study = optuna.load_study(study_name=study, storage=storage_mod.open_storage(url, heartbeat_interval=None, grace_period=None))
        except KeyError:
            raise UsageError(f"no study {study!r} in {storage_mod.mask_url(url)}") from None
    try:
        best = study.best_trial
    except ValueError:
        raise SearchError(f"study {study.study_name!r} has no completed trial yet") from None
    artifact_id = best.user_attrs.get("checkpoint")
    if artifact_id is None:
        raise SearchError(f"the best trial #{best.number} of {study.study_name!r} has no checkpoint")
    store = storage_mod.open_artifact_store(url, artifacts)
    with store.open_reader(artifact_id) as reader:
        return unpack(reader.read())
