"""A trial's best model as bytes: packed on the worker, handed to the driver with the final
result, kept as an Optuna artifact of the trial (``search.driver.uploads``) and read back by
``search.results.forecaster``.

A checkpoint holds everything needed to forecast from new data without the space file: the
model family and params, the best epoch's weights, the scaler(s), the columns and window sizes,
and for tasks classify and text the class labels or the vocabulary. It is written with
``torch.save`` and read with ``weights_only=True`` (plain types only).
"""

from __future__ import annotations

import io
from typing import Any

import torch

FORMAT = 1


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
        "series_names": list(series.series_names),
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
    }
    if series.series_offset is not None:  # scaler_scope: series, rows in series_names' order
        payload["series_offset"] = series.series_offset.astype(float).tolist()
        payload["series_scale"] = series.series_scale.astype(float).tolist()
    payload.update(series.checkpoint_fields())  # classify / text: the task and the head's labels
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    return buffer.getvalue()
