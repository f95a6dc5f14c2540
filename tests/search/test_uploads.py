"""search.driver.uploads: the forecast figure's artifacts beside a kept checkpoint."""

from __future__ import annotations

import json

import numpy as np
import optuna
from optuna.artifacts import FileSystemArtifactStore

from search.driver.uploads import upload_forecast
from search.worker import forecast_view


def study_and_store(tmp_path):
    study = optuna.create_study(storage=f"sqlite:///{tmp_path / 's.db'}")
    (tmp_path / "art").mkdir()
    return study, study.ask(), FileSystemArtifactStore(str(tmp_path / "art"))


def test_a_forecast_is_kept_as_data_page_and_image(tmp_path):
    study, trial, store = study_and_store(tmp_path)
    raw = np.sin(np.arange(80) / 3)
    pred = np.stack([raw[20 + 5 + i : 20 + 5 + i + 2] for i in range(80 - 20 - 5 - 1)])
    view = forecast_view.forecast([forecast_view.SeriesPart("", raw, (20, 80), pred, None)], 5, 2, None, target="y", x_title="row")
    text = json.dumps(view)
    ids = upload_forecast(store, study._storage, trial, text)
    assert set(ids) == {"forecast", "forecast_html", "forecast_image"}
    assert (tmp_path / "art" / ids["forecast"]).read_text() == text
    assert "<title>Forecast of trial #0</title>" in (tmp_path / "art" / ids["forecast_html"]).read_text()
    assert (tmp_path / "art" / ids["forecast_image"]).read_text().startswith("<svg ")
    names = {a.filename: a.mimetype for a in optuna.artifacts.get_all_artifact_meta(trial, storage=study._storage)}
    assert names == {"forecast_trial_0.json": "application/json", "forecast_trial_0.html": "text/html", "forecast_trial_0.svg": "image/svg+xml"}


def test_a_figure_that_cannot_be_drawn_is_a_reason_not_a_crash(tmp_path):
    study, trial, store = study_and_store(tmp_path)
    assert upload_forecast(store, study._storage, trial, "{not json") == {"forecast_error": "JSONDecodeError: Expecting property name enclosed in double quotes: line 1 column 2 (char 1)"}
    broken = json.dumps({"format": 1, "task": "forecast", "series": [{"x": [1]}]})  # panels without their traces
    assert set(upload_forecast(store, study._storage, trial, broken)) == {"forecast_error"}
