"""Artifacts the driver attaches to a trial (``optuna.artifacts``): the best model's
checkpoint with its forecast figure (the data as JSON, a self-contained HTML page and an SVG
image the dashboard previews) and every
trial's learning curve, all browsable in optuna-dashboard.

Workers hand their bytes and rows to the driver with their results; only the driver writes
to the artifact store, as only it writes to the study.
"""

from __future__ import annotations

import csv
import json
import os
import tempfile
from collections.abc import Callable
from typing import IO

import optuna

from search.worker.checkpoint import DIGEST_ATTR, digest
from storage import retrying


def _upload(store, storage, trial: optuna.trial.Trial | optuna.Study, file_name: str, mimetype: str, write: Callable[[IO], None], mode: str) -> str:
    """Write a file with ``write`` in a temporary folder and upload it as an artifact of
    ``trial`` (retried through a database restart); its artifact id."""
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, file_name)
        with open(path, mode, **({} if "b" in mode else {"newline": ""})) as f:
            write(f)
        return retrying(
            optuna.artifacts.upload_artifact, artifact_store=store, file_path=path, study_or_trial=trial, storage=storage, mimetype=mimetype
        )


def write_problem(store, exc: OSError) -> str:
    """One line naming the artifact folder (or bucket) and the OS error of a failed write."""
    where = getattr(store, "_base_path", None) or getattr(store, "prefix", None) or type(store).__name__
    reason = exc.strerror or str(exc) or type(exc).__name__
    return f"cannot write to the artifact folder {where}: {reason}" + (f" (errno {exc.errno})" if exc.errno else "")


def upload_checkpoint(store, storage, trial: optuna.trial.Trial, data: bytes) -> dict[str, str]:
    """A checkpoint (``search.worker.checkpoint.pack``) as an artifact of ``trial``; the trial's
    user attrs that name it: ``checkpoint`` (the artifact id) and ``checkpoint_sha256`` (the
    digest of the bytes the worker sent, which the reader checks before loading)."""
    artifact_id = _upload(
        store, storage, trial, f"checkpoint_trial_{trial.number}.safetensors", "application/octet-stream", lambda f: f.write(data), "wb"
    )
    return {"checkpoint": artifact_id, DIGEST_ATTR: digest(data)}


def upload_curve(store, storage, trial: optuna.trial.Trial, curve: list[dict]) -> str | None:
    """The trial's per-epoch metrics as a CSV artifact; its id (the ``learning_curve`` user
    attr), or None when the artifact folder is not writable: the study still holds every value."""
    columns = list(dict.fromkeys(k for row in curve for k in row))

    def write(f) -> None:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        writer.writerows(curve)

    try:
        return _upload(store, storage, trial, f"learning_curve_trial_{trial.number}.csv", "text/csv", write, "w")
    except OSError:
        return None


PLOTLY_ATTR = "search:plotly_js"  # study system attr: the id of the study's one plotly.js artifact


def shared_plotly(store, study: optuna.Study) -> str | None:
    """The study's plotly.js artifact (uploaded once, its id in the study system attr
    ``PLOTLY_ATTR``), which every trial's forecast page loads; None when the artifact folder
    is not writable (the pages then embed plotly.js). Two drivers starting at once may each
    upload one; each page loads the one its driver recorded."""
    storage = study._storage
    recorded = retrying(storage.get_study_system_attrs, study._study_id).get(PLOTLY_ATTR)
    if recorded:
        return recorded
    from plotly.offline import get_plotlyjs

    try:
        artifact_id = _upload(store, storage, study, "plotly.min.js", "text/javascript", lambda f: f.write(get_plotlyjs()), "w")
    except OSError:
        return None
    retrying(storage.set_study_system_attr, study._study_id, PLOTLY_ATTR, artifact_id)
    return artifact_id


def upload_forecast(store, storage, trial: optuna.trial.Trial, view_json: str, plotly_artifact: str | None = None) -> dict[str, str]:
    """The forecast figure's data (``search.worker.forecast_view``, JSON text), the page that
    draws it (``search.forecast_figure``: with the study's plotly.js artifact ``plotly_artifact``,
    about 50 KB, it opens from optuna-dashboard and the artifact folder with no network; without
    one, plotly.js embedded) and a static SVG of it that optuna-dashboard previews (forecast and classify) as
    artifacts of ``trial``: their ids as the user attrs ``forecast``, ``forecast_html`` and
    ``forecast_image``; {} when the artifact folder is not writable, and ``forecast_error`` (why)
    when the figure cannot be drawn, so that keeping the checkpoint and telling the trial go on."""
    from search.forecast_figure import page
    from search.forecast_svg import svg

    try:
        view = json.loads(view_json)
        lines = [f"trial #{trial.number}, the best epoch's weights, on the test part"]
        doc = page(view, f"Forecast of trial #{trial.number}", lines, plotly_artifact)
        ids = {"forecast": _upload(store, storage, trial, f"forecast_trial_{trial.number}.json", "application/json", lambda f: f.write(view_json), "w")}
        ids["forecast_html"] = _upload(store, storage, trial, f"forecast_trial_{trial.number}.html", "text/html", lambda f: f.write(doc), "w")
        image = svg(view)  # previewed inline among the trial's artifacts (HTML is a link)
        if image is not None:
            ids["forecast_image"] = _upload(store, storage, trial, f"forecast_trial_{trial.number}.svg", "image/svg+xml", lambda f: f.write(image), "w")
    except OSError:
        return {}
    except Exception as exc:  # unreadable data or a figure that cannot be drawn: the trial is still told
        return {"forecast_error": f"{type(exc).__name__}: {exc}"[:500]}
    return ids
