"""The statistical baselines' forecasts, kept so a combination can be fitted later.

``search.worker.stat_baselines`` scores MSTL, AutoETS and AutoTheta on the validation and test
targets; besides their metrics it records their forecasts of every scored window (in the
data's own units, in the order of ``SeriesData.windows``: series by series, origins
ascending) in one study user attr, ``stat_forecasts``: float32, zlib-compressed, base64
text. ``search.results.served`` reads them back to fit the weights of a combination of
trials and baselines on the validation targets and to score it on the test targets, without
fitting any statistical model again (``search.worker.stat_refit`` fits them on new data).
"""

from __future__ import annotations

import base64
import zlib
from typing import Any

import numpy as np

ATTR = "stat_forecasts"
FORMAT = 1


def encode(forecasts: dict[str, dict[str, np.ndarray]]) -> dict[str, Any]:
    """``{model: {part: (N, H, T) forecasts}}`` -> the ``stat_forecasts`` attr value."""
    models: dict[str, Any] = {}
    for name, parts in forecasts.items():
        models[name] = {
            part: {"shape": list(pred.shape), "data": base64.b64encode(zlib.compress(np.ascontiguousarray(pred, dtype="<f4").tobytes(), 6)).decode("ascii")}
            for part, pred in parts.items()
        }
    return {"format": FORMAT, "models": models}


def decode(value: Any) -> dict[str, dict[str, np.ndarray]]:
    """The attr value back as ``{model: {part: (N, H, T) float64}}``; {} for anything else
    (a study made before forecasts were recorded, another format)."""
    if not isinstance(value, dict) or value.get("format") != FORMAT:
        return {}
    out: dict[str, dict[str, np.ndarray]] = {}
    for name, parts in (value.get("models") or {}).items():
        try:
            out[name] = {
                part: np.frombuffer(zlib.decompress(base64.b64decode(item["data"])), dtype="<f4").reshape(item["shape"]).astype(np.float64)
                for part, item in parts.items()
            }
        except (KeyError, TypeError, ValueError, zlib.error):
            continue
    return out
