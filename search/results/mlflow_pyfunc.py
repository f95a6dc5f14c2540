"""The served forecaster as an MLflow pyfunc model, logged as code (MLflow's "models from
code": this file is copied into the model, no pickle). ``predict(frame)`` forecasts the
``horizon`` steps after the frame's last row, as ``search.load_best(...).predict(frame)``
(``params={"level": [80, 95]}``: with its prediction intervals, as ``predict(frame, level=...)``);
the model's artifacts are the study's ``served`` attr and its trials' checkpoints (or one
trial's ``checkpoint``), built into a forecaster by ``search.results.loading`` (the
``sequence-search`` package must be installed where the model is loaded)."""

from __future__ import annotations

from pathlib import Path

import mlflow.models
import mlflow.pyfunc


class SearchForecaster(mlflow.pyfunc.PythonModel):
    def load_context(self, context) -> None:
        import json

        from search.results.forecaster import unpack
        from search.results.loading import served_from

        files = context.artifacts
        if "served" in files:  # the study's served forecaster: its trials' checkpoints and the served attr
            loaded = {int(name[len("trial_"):]): unpack(Path(path).read_bytes()) for name, path in files.items() if name.startswith("trial_")}
            self.forecaster = served_from(json.loads(Path(files["served"]).read_text()), loaded)
        else:
            self.forecaster = unpack(Path(files["checkpoint"]).read_bytes())

    def predict(self, context, model_input, params=None):
        """The point forecast (horizon, targets); with ``params={"level": [80, 95]}`` the table
        ``search predict --level`` writes (``step``, the point, ``lo-95`` ... ``hi-95``)."""
        level = [float(v) for v in (params or {}).get("level") or []]
        return self.forecaster.predict(model_input, level=level) if level else self.forecaster.predict(model_input)


mlflow.models.set_model(SearchForecaster())
