"""The study a search runs in: created with its facts as user attrs, or loaded after checking
that it was made from the same space (else the changed-space message that offers ``--fork``)."""

from __future__ import annotations

import json
import warnings

import optuna

from search._version import __version__
from search.driver.defaults import DECISION_ATTR
from search.driver.fork import CONTENT_ATTR, describe_change
from search.driver.prepare import Prepared
from search.errors import StudyMismatchError
from search.study_attrs import flat, write


def study_attrs(prep: Prepared) -> dict:
    """What a new study records about itself, by flat name (``search.study_attrs`` lays them out)."""
    space = prep.compiled.space
    return {
        "space_file": space.path.name,
        "space_hash": prep.compiled.hash,
        "family": prep.compiled.family,
        "dataset": prep.series.info["name"],
        "dataset_rows": prep.series.info["rows"],
        "missing_policy": prep.series.info["missing_policy"],
        "missing_rows": prep.series.info["missing_rows"],
        "split_rows": prep.series.info["split_rows"],
        **{k: prep.series.info[k] for k in ("max_gap", "filled_target_rows") if k in prep.series.info},  # filled targets are never scored (targets_val/test count what is)
        "metric": prep.compiled.metric,  # the first objective's: the intermediate values' metric
        "direction": prep.compiled.direction,
        **({"metrics": prep.compiled.metrics, "directions": prep.compiled.directions} if prep.compiled.multi_objective else {}),
        "task": prep.compiled.space.data.get("task", "forecast"),
        "version": __version__,
        CONTENT_ATTR: json.dumps(prep.compiled.content(), sort_keys=True, default=str),
        **prep.baselines(),
        **({"known_future": prep.series.info["known_future"]} if "known_future" in prep.series.info else {}),
        **({DECISION_ATTR: prep.decision.attr()} if prep.decision.chosen else {}),
    }


def open_study(storage: optuna.storages.BaseStorage, prep: Prepared, artifacts: str | None = None) -> optuna.Study:
    """Create the study, or load it after checking it was made from the same space.
    ``artifacts``: where the artifacts go (an absolute folder or an ``s3://`` URL), recorded on a new study so that readers
    elsewhere find it (``storage.find_artifacts``)."""
    compiled = prep.compiled
    try:
        study = optuna.load_study(study_name=prep.study_name, storage=storage, pruner=compiled.pruner())
        study.sampler = compiled.driver_sampler()  # seeded per trial number: see TrialSeededSampler
    except KeyError:
        study = optuna.create_study(
            study_name=prep.study_name,
            storage=storage,
            directions=compiled.directions,
            sampler=compiled.driver_sampler(),
            pruner=compiled.pruner(),
            load_if_exists=True,  # another driver may create it at the same moment
        )
        write(study, {**study_attrs(prep), **({"artifacts": artifacts} if artifacts else {})})
        _name_metrics(study, compiled.metrics)
        return study
    recorded = flat(study)
    old_hash = recorded.get("space_hash")
    directions = [d.name.lower() for d in study.directions]
    if directions != compiled.directions:  # one objective or several, and which way each goes
        says = ", ".join(compiled.directions)
        if compiled.multi_objective:
            says += f" (objectives {', '.join(compiled.metrics)})"
        raise StudyMismatchError(
            f"study {prep.study_name!r} optimizes in direction {', '.join(directions)}, the space says {says}; "
            "use --study NEW_NAME for a new study"
        )
    if old_hash is not None and old_hash != compiled.hash:
        old_content = recorded.get(CONTENT_ATTR)
        changed = (
            describe_change(json.loads(old_content), compiled.content())
            if old_content
            else "a range, a fixed value or the sampler/pruner changed, e.g. through --set"
        )
        raise StudyMismatchError(
            f"study {prep.study_name!r} was made from a different space (hash {old_hash}, now {compiled.hash}; changed: {changed}); "
            "run the original space to resume it, add --fork NEW_NAME to continue in a new study seeded with the trials that fit, "
            "or use --study NEW_NAME for an empty one"
        )
    if study.metric_names is None:  # made before metric names were set
        _name_metrics(study, compiled.metrics)
    return study


def _name_metrics(study: optuna.Study, metrics: list[str]) -> None:
    """Name the study's values after their metrics, so optuna-dashboard and Optuna's plots label
    the axes ``rmse`` (``mae``, ``n_params``) instead of "Objective 0" (``set_metric_names`` is
    marked experimental)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        study.set_metric_names(list(metrics))
