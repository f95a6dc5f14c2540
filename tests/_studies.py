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


def driver_trial(study: optuna.Study) -> optuna.trial.Trial:
    """A RUNNING trial as a driver starts it: marked as that driver's (``storage.OWNER_KEY``)."""
    return optuna.Trial(study, storage.start_owned_trial(study._storage, study._study_id, "test-host:0:driver"))


def trained(space: Path, params: dict | None = None) -> dict:
    """The final report of one trial of ``space``: its checkpoint, best validation value and
    test metrics."""
    compiled = compile_space(load_space(space))
    reports: list[dict] = []
    run_trial(compiled.trial_config(params or PARAMS), load_series(compiled.space.data), "rmse", reports.append, with_checkpoint=True)
    return reports[-1]


def trained_checkpoint(space: Path, params: dict | None = None) -> tuple[bytes, float]:
    """(checkpoint bytes, best validation value) of one trial of ``space``."""
    final = trained(space, params)
    return final["checkpoint"], final["best_objective"]


def searched_study(space: Path, url: str, artifacts: Path, name: str = "tiny") -> optuna.Study:
    """A study with one COMPLETE trial holding a checkpoint, as ``StudyBridge.complete`` writes it."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    data, value = trained_checkpoint(space)
    rdb = storage.open_storage(url, heartbeat_interval=None, grace_period=None)
    study = optuna.create_study(study_name=name, storage=rdb)
    trial = driver_trial(study)
    attrs = upload_checkpoint(storage.open_artifact_store(url, artifacts), rdb, trial, data)
    storage.set_trial_user_attrs(rdb, trial._trial_id, attrs)
    study.tell(trial, value)
    return study


def ranked_study(space: Path, url: str, artifacts: Path, params: list[dict], name: str = "ranked") -> optuna.Study:
    """A study of ``space`` with its attrs as ``search run`` records them (statistical
    baselines off) and one COMPLETE trial per ``params``, each with its checkpoint and test
    metrics, as ``StudyBridge.complete`` writes them: what an ensemble is made of."""
    from search.driver.prepare import prepare
    from search.driver.study import study_attrs

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    prep = prepare(space, ["data.stat_baselines_seconds=0"], name)
    rdb = storage.open_storage(url, heartbeat_interval=None, grace_period=None)
    study = optuna.create_study(study_name=name, storage=rdb)
    for key, value in {**study_attrs(prep), "artifacts": str(artifacts)}.items():
        study.set_user_attr(key, value)
    store = storage.open_artifact_store(url, artifacts)
    for p in params:
        final = trained(space, p)
        trial = driver_trial(study)
        attrs = upload_checkpoint(store, rdb, trial, final["checkpoint"])
        attrs.update({k: v for k, v in final.items() if k.startswith("test_")})
        storage.set_trial_user_attrs(rdb, trial._trial_id, attrs)
        study.tell(trial, final["best_objective"])
    return study
