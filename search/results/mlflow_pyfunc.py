"""The served forecaster as an MLflow pyfunc model, logged as code (MLflow's "models from
code": this file is copied into the model, no pickle). ``predict(frame)`` forecasts the
``horizon`` steps after the frame's last row, as ``search.load_best(...).predict(frame)``;
the checkpoint is the model's ``checkpoint`` artifact, read by ``search.results.forecaster``
(the ``sequence-search`` package must be installed where the model is loaded)."""

from __future__ import annotations

from pathlib import Path

import mlflow.models
import mlflow.pyfunc


class SearchForecaster(mlflow.pyfunc.PythonModel):
    def load_context(self, context) -> None:
        from search.results.forecaster import unpack

        self.forecaster = unpack(Path(context.artifacts["checkpoint"]).read_bytes())

    def predict(self, context, model_input, params=None):
        return self.forecaster.predict(model_input)


mlflow.models.set_model(SearchForecaster())
