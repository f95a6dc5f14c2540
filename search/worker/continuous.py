"""Continuous evaluation of a recurrent forecaster: one pass over each test series.

Window evaluation starts every window from a fresh hidden state and reads only ``lookback``
steps. Deployed recurrent models (battery state estimation, sensor streams) usually run
instead over the whole stream, carrying their state from step to step. This evaluation does
that on the test part: for each series, one pass from the initial state over its test rows;
after reading step ``t`` the model forecasts steps ``t+1 .. t+horizon``; the first ``warmup``
forecasts (while the state is still settling) are discarded, as are those whose targets run
past the part's end. The state is reset between series. Metrics are in the data's own units,
named ``continuous_<metric>`` (stored as ``test_continuous_<metric>`` on the trial).

It needs raw levels (``data.reference: none``, a window's last value is undefined on a
stream) and a unidirectional LSTM or GRU; the space validator checks both.
"""

from __future__ import annotations

import numpy as np
import torch

from search.worker.data import SeriesData
from search.worker.metrics import regression_metrics


@torch.no_grad()
def continuous_metrics(model, series: SeriesData, horizon: int, warmup: int, device, part: str = "test") -> dict[str, float]:
    """``continuous_<metric>`` over every series' ``part``, from ``model.step_outputs``."""
    model.eval()
    preds, truths, ids = [], [], []
    for i, (start, end) in enumerate(series.parts(part)):
        rows = torch.from_numpy(series.values[start:end])  # (T, F), scaled
        n = len(rows) - horizon  # forecasts made after steps 0 .. n-1 have all their targets
        if n <= warmup:
            continue
        out = model.step_outputs(rows[None].to(device))[0].float().cpu()  # (T, H, n_targets)
        steps = torch.arange(warmup, n)  # (M,) the steps whose forecasts count
        if series.observed is not None:  # a filled target is never scored
            filled = torch.from_numpy(np.concatenate([[0], np.cumsum(~series.observed[start:end])]))
            steps = steps[filled[steps + horizon + 1] == filled[steps + 1]]
        ahead = steps[:, None] + torch.arange(1, horizon + 1)  # (M, H) rows forecast
        preds.append(out[steps])  # (M, H, n_targets)
        truths.append(rows[ahead, : series.n_targets])  # (M, H, n_targets)
        ids.append(torch.full((len(steps),), i, dtype=torch.long))
    if not preds:
        return {}
    index = torch.cat(ids) if series.series_offset is not None else None
    pred, truth = series.unscale_targets(torch.cat(preds), index), series.unscale_targets(torch.cat(truths), index)
    return {f"continuous_{k}": v for k, v in regression_metrics(pred, truth).items()}
