"""The statistical baselines fitted again on new data, for ``search predict``.

A served forecaster with a statistical member (``search.results.served_forecaster``) refits
it on the input's own history: each target of each series on its own, on at most
``history_rows`` of its last rows, the model built as the study's baselines were
(``search.worker.stat_baselines``), so the forecast follows the new data.
"""

from __future__ import annotations

import numpy as np

from search.worker.stat_baselines import _model, history_rows


def forecast_after(name: str, history: np.ndarray, seasons: list[int], horizon: int) -> np.ndarray:
    """(H, T) forecasts of model ``name`` (``mstl``, ``autoets``, ``autotheta``) after the
    rows of ``history`` (n, T), in its own units, fitted on at most ``history_rows`` of them."""
    import warnings

    rows = history[-history_rows(seasons):].astype(np.float64)
    out = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for t in range(rows.shape[1]):
            model = _model(name, list(seasons))
            if model is None:
                raise ValueError(f"{name} needs a season and the study found none")
            out.append(np.asarray(model.forecast(y=rows[:, t], h=horizon)["mean"], dtype=np.float64))
    return np.stack(out, axis=1)  # (H, T)


def seasonal_naive_after(history: np.ndarray, season: int, horizon: int) -> np.ndarray:
    """(H, T) seasonal-naive forecasts after ``history`` (n, T): each step repeats the value
    one season (or a whole number of seasons) earlier (``search.worker.baselines``)."""
    steps = np.arange(1, horizon + 1)
    back = season * ((steps - 1) // season + 1)
    return history[len(history) - 1 + steps - back]
