"""What an MLflow user expects on a search's parent run, added when the search ends: the best
value under the study's metric name, the best params, the space file and the study's report as
artifacts, and the served forecaster as an MLflow model (``forecaster``, a pyfunc) that
``mlflow.pyfunc.load_model(uri).predict(frame)`` and ``mlflow models serve`` use; registered
under a name when asked (``--mlflow-register NAME``).

The served forecaster is the model ``search predict`` serves without flags (``load_best``):
the study's recorded served forecaster (a trial, an ensemble, a baseline or a combination of
them), else the best trial, or, when another Optuna client made the best, the best trial this
service made that kept a checkpoint. The pyfunc model (``search.results.mlflow_pyfunc``, logged
as code) carries the ``served`` attr and the checkpoints of the trials it needs (or the one
trial's checkpoint) and builds the same forecaster through ``search.results.loading`` (the
``sequence-search`` package must be installed where the model is loaded).
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import tempfile
import time
import warnings
from pathlib import Path

import optuna

import storage as storage_mod
from search.study_attrs import flat

MODEL_NAME = "forecaster"  # the model's artifact path in the parent run
PYFUNC = str(Path(__file__).with_name("mlflow_pyfunc.py"))  # models from code: no pickle


def signature():
    """The model's signature: no input schema (the input is the study's own columns), one
    param ``level``, the prediction intervals' levels in percent (default none: the point
    forecast), as ``predict(frame, params={"level": [80, 95]})`` or a served model's
    ``{"dataframe_split": ..., "params": {"level": [80, 95]}}`` asks for them."""
    from mlflow.models import ModelSignature
    from mlflow.types.schema import ParamSchema, ParamSpec

    return ModelSignature(params=ParamSchema([ParamSpec("level", "double", [], (-1,))]))


def publish(study: optuna.Study, storage_url: str, artifacts: str | None, tracked: tuple[str, str], space_path: Path, register: str | None = None) -> str | None:
    """Log the summary, the files and the served model to the parent run ``tracked`` =
    (tracking URI, run id); the model's URI (``runs:/RUN/forecaster``), or None without a
    model to serve. Raises what MLflow raises (the caller warns and goes on)."""
    import mlflow
    from mlflow.entities import Metric, Param, RunTag
    from mlflow.tracking import MlflowClient

    from search import pareto
    from search.results.loading import load_best
    from search.results.report import write_report
    from search.results.tables import metric_name

    uri, run_id = tracked
    client = MlflowClient(tracking_uri=uri)
    status = client.get_run(run_id).info.status
    best = pareto.lead(study)
    if best is not None and not pareto.is_multi(study):
        finished = sum(t.state.is_finished() for t in study.get_trials(deepcopy=False))
        now = int(time.time() * 1000)
        metrics = [Metric(metric_name(study), float(best.value), now, finished), Metric("best_trial", float(best.number), now, finished)]
        client.log_batch(run_id, metrics=metrics, tags=[RunTag(f"best.{k}", str(v)[:5000]) for k, v in best.params.items()])
        logged = client.get_run(run_id).data.params
        fresh = [Param(k, str(v)[:500]) for k, v in best.params.items() if k not in logged]
        if fresh:  # MLflow params never change: a resumed search's new best is in the best.* tags
            client.log_batch(run_id, params=fresh)
    client.log_artifact(run_id, str(space_path))
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.html"
        write_report(study, report, storage_url, artifacts)
        client.log_artifact(run_id, str(report))
    model_uri = None
    try:
        forecaster = load_best(study, storage_url, artifacts=artifacts)
    except Exception:  # noqa: BLE001 - no model to serve (no checkpoint, a foreign best): the rest is logged
        forecaster = None
    if forecaster is not None:
        with tempfile.TemporaryDirectory() as tmp:
            files, served = model_files(study, storage_url, artifacts, forecaster, Path(tmp))
            with _tracking_uri(uri), _quiet_mlflow(), mlflow.start_run(run_id=run_id):
                mlflow.pyfunc.log_model(name=MODEL_NAME, python_model=PYFUNC, artifacts=files, registered_model_name=register, signature=signature())
        client.set_tag(run_id, "search.served", served)
        model_uri = f"runs:/{run_id}/{MODEL_NAME}"
    client.set_terminated(run_id, status if status != "RUNNING" else "FINISHED")
    return model_uri


@contextlib.contextmanager
def _tracking_uri(uri: str):
    """MLflow's fluent API pointed at ``uri`` for the block only: ``mlflow.set_tracking_uri``
    also sets ``$MLFLOW_TRACKING_URI``, which would outlive the search in this process (a
    notebook's next search would log there) and reach every process it starts."""
    import mlflow
    from mlflow.tracking._tracking_service import utils

    before, env = getattr(utils, "_tracking_uri", None), os.environ.get("MLFLOW_TRACKING_URI")
    mlflow.set_tracking_uri(uri)
    try:
        yield
    finally:
        mlflow.set_tracking_uri(before)
        if env is None:
            os.environ.pop("MLFLOW_TRACKING_URI", None)
        else:
            os.environ["MLFLOW_TRACKING_URI"] = env


def publish_or_warn(summary, space_path: Path, artifacts: str | None, register: str | None, say) -> str | None:
    """``publish`` after a tracked search; an MLflow failure is one warning line (``say``),
    the search's result stands. The model's URI, or None."""
    if summary.tracked is None:
        return None
    try:
        return publish(summary.study, summary.storage_url, artifacts, summary.tracked, space_path, register)
    except Exception as exc:  # noqa: BLE001 - MLflow refusing or down: the study is the record
        reason = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        say(f"warning: MLflow at {summary.tracked[0]}: the search's summary and model were not logged ({reason})")
        return None


@contextlib.contextmanager
def _quiet_mlflow():
    """MLflow's progress bars, notes and warnings kept out of the search's output."""
    logger = logging.getLogger("mlflow")
    level = logger.level
    logger.setLevel(logging.ERROR)
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)


def model_files(study: optuna.Study, storage_url: str, artifacts: str | None, forecaster, folder: Path) -> tuple[dict[str, str], str]:
    """The MLflow model's artifacts written under ``folder`` ({name: path}) and what it serves:
    with a recorded served forecaster, its ``served`` attr (``served.json``) and the
    checkpoint of every trial it needs (``trial_N``); else the served trial's ``checkpoint``."""
    import json

    from search.results.loading import served_trials
    from search.results.served_forecaster import ServedForecaster, recorded

    value = recorded(study) if isinstance(forecaster, ServedForecaster) else None
    if value is not None:
        files = {"served": str(folder / "served.json")}
        Path(files["served"]).write_text(json.dumps(value))
        for number in served_trials(study, value):
            files[f"trial_{number}"] = str(folder / f"checkpoint_trial_{number}.safetensors")
            Path(files[f"trial_{number}"]).write_bytes(_checkpoint_bytes(study, storage_url, artifacts, _trial(study, number)))
        return files, value["label"]
    trial = forecaster_trial(study, forecaster)
    path = folder / f"checkpoint_trial_{trial.number}.safetensors"
    path.write_bytes(_checkpoint_bytes(study, storage_url, artifacts, trial))
    return {"checkpoint": str(path)}, f"trial #{trial.number}"


def _trial(study: optuna.Study, number: int) -> optuna.trial.FrozenTrial:
    return next(t for t in study.get_trials(deepcopy=False) if t.number == number)


def forecaster_trial(study: optuna.Study, forecaster) -> optuna.trial.FrozenTrial:
    """The trial whose model ``load_best`` served: the best, else the best made here."""
    from search import pareto
    from search.results.tables import servable_best

    best = pareto.lead(study)
    return best if storage_mod.servable(best) else servable_best(study)


def _checkpoint_bytes(study: optuna.Study, storage_url: str, artifacts: str | None, trial: optuna.trial.FrozenTrial) -> bytes:
    """The trial's checkpoint, verified against its recorded sha256."""
    from search.results.forecaster import verified
    from search.worker.checkpoint import DIGEST_ATTR

    location = storage_mod.find_artifacts(storage_url, artifacts, flat(study).get("artifacts"))
    store = storage_mod.open_artifact_store("", location) if storage_mod.is_object_store(location) else optuna.artifacts.FileSystemArtifactStore(location)
    with store.open_reader(trial.user_attrs["checkpoint"]) as reader:
        data = reader.read()
    return verified(data, trial.user_attrs.get(DIGEST_ATTR), f"trial #{trial.number}")
