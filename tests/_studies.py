"""A study as a search leaves it, made without Ray: one trial trained in this process, its
checkpoint uploaded and recorded by the driver's own code (artifact id and sha256)."""

from __future__ import annotations

from pathlib import Path

import optuna

import storage
from search.driver.uploads import upload_checkpoint
from search.space import compile_space, load_space
from search.worker.load import load_series
from search.worker.train import run_trial

PARAMS = {"layer_sizes": "8", "lookback": 8, "lr": 0.005}


def trained_checkpoint(space: Path, params: dict | None = None) -> tuple[bytes, float]:
    """(checkpoint bytes, best validation value) of one trial of ``space``."""
    compiled = compile_space(load_space(space))
    reports: list[dict] = []
    run_trial(compiled.trial_config(params or PARAMS), load_series(compiled.space.data), "rmse", reports.append, with_checkpoint=True)
    return reports[-1]["checkpoint"], reports[-1]["best_objective"]


def searched_study(space: Path, url: str, artifacts: Path, name: str = "tiny") -> optuna.Study:
    """A study with one COMPLETE trial holding a checkpoint, as ``StudyBridge.complete`` writes it."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    data, value = trained_checkpoint(space)
    rdb = storage.open_storage(url, heartbeat_interval=None, grace_period=None)
    study = optuna.create_study(study_name=name, storage=rdb)
    trial = study.ask()
    attrs = upload_checkpoint(storage.open_artifact_store(url, artifacts), rdb, trial, data)
    storage.set_trial_user_attrs(rdb, trial._trial_id, attrs)
    study.tell(trial, value)
    return study
