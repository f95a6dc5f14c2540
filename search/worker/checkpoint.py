"""A trial's best model as bytes: packed on the worker, handed to the driver with the final
result, kept as an Optuna artifact of the trial (``search.driver.uploads``) and read back by
``search.results.forecaster``.

A checkpoint holds everything needed to forecast from new data without the space file: the
model family and params, the best epoch's weights, the scaler(s), the columns and window sizes,
and for tasks classify and text the class labels or the vocabulary.

Format 2 is one safetensors file: the weights as its tensors, everything else as JSON in its
metadata (key ``search``). Reading it runs no pickle: the safetensors header is JSON and the
tensors are raw bytes, so a checkpoint can be read safely whoever wrote it. Format 1
(``torch.save``, a pickle) is refused by the reader.

The driver records the checkpoint's sha256 (``digest``) in the trial's ``checkpoint_sha256``
user attr when it uploads it; the reader loads only bytes that match it.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import torch
from safetensors.torch import save as save_tensors

from search.worker.uncertainty import head_quantiles

FORMAT = 2
METADATA_KEY = "search"  # the safetensors metadata entry that holds the JSON header
DIGEST_ATTR = "checkpoint_sha256"  # the trial's user attr beside ``checkpoint``, written by the driver


def _plain(value: Any) -> Any:
    """JSON for what ``json`` cannot write itself: numpy scalars and arrays, tuples."""
    if hasattr(value, "tolist"):  # numpy scalar or array
        return value.tolist()
    if isinstance(value, (tuple, set)):
        return list(value)
    raise TypeError(f"checkpoint header: {type(value).__name__} is not JSON")


def header(config: dict[str, dict[str, Any]], series, intervals: dict[str, Any] | None = None) -> dict[str, Any]:
    """Everything but the weights: what forecasting needs, as plain JSON values. A quantile
    head's probabilities are in ``params`` (``quantiles``: ``models.build`` takes them, and the
    model then forecasts its middle quantile); ``intervals``: the trial's interval calibration
    (``search.worker.intervals.Calibration.to_json``)."""
    params = {k: v for k, v in config["model"].items() if k != "family"}
    quantiles = head_quantiles(config.get("train", {}))
    if quantiles:
        params["quantiles"] = list(quantiles)
    fields = {
        "format": FORMAT,
        "family": config["model"]["family"],
        "params": params,
        "data": {k: v for k, v in config["data"].items() if k != "path"},
        "columns": list(series.columns),
        "n_targets": int(series.n_targets),
        "offset": [float(v) for v in series.offset],
        "scale": [float(v) for v in series.scale],
        "series_names": list(series.series_names),
    }
    if series.series_offset is not None:  # scaler_scope: series, rows in series_names' order
        fields["series_offset"] = series.series_offset.astype(float).tolist()
        fields["series_scale"] = series.series_scale.astype(float).tolist()
    fields.update(series.checkpoint_fields())  # forecast: the seasonal reference's season; classify / text: the task and the head's labels
    if intervals is not None:
        fields["intervals"] = intervals
    return json.loads(json.dumps(fields, default=_plain))


def pack(model: torch.nn.Module, config: dict[str, dict[str, Any]], series, intervals: dict[str, Any] | None = None) -> bytes:
    """The (unwrapped) model's weights with what forecasting needs, as safetensors bytes."""
    # clone: safetensors refuses tensors that share memory (views, tied weights)
    tensors = {k: v.detach().cpu().contiguous().clone() for k, v in model.state_dict().items()}
    return save_tensors(tensors, metadata={METADATA_KEY: json.dumps(header(config, series, intervals), sort_keys=True)})


def digest(data: bytes) -> str:
    """The checkpoint's sha256 as hex: what the driver records and the reader compares."""
    return hashlib.sha256(data).hexdigest()
