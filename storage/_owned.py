"""Trials a driver of this service owns, told apart from other clients' trials in one study.

A study may be shared with plain Optuna users (``study.optimize``, ask/tell) and with other
drivers. A driver marks each trial it runs with the system attr ``OWNER_KEY`` (its driver id)
in the same transaction that makes the trial RUNNING, so no moment exists in which the trial
runs unmarked. Only marked trials are ever recovered as left behind by a dead driver; another
client's trials, with or without heartbeats, are left to that client (Optuna's own
``fail_stale_trials``).
"""

from __future__ import annotations

import json
from datetime import datetime, timezone

import optuna
import sqlalchemy
from optuna.trial import TrialState

from storage._rdb import _rdb_backend

OWNER_KEY = "search:driver"  # system attr: the id of the driver that runs (ran) the trial


# user attrs every trial a driver of this service finished before the mark existed carries
LEGACY_ATTRS = ("epochs_run", "device", "n_params", "trial_seconds", "checkpoint_sha256")


def made_here(trial: optuna.trial.FrozenTrial) -> bool:
    """Whether a driver of this service made ``trial``: it carries the mark, or (a study from
    before the mark) the attrs only a driver writes. Else another Optuna client made it (a plain
    ``study.optimize``, ``study.add_trial``): it has no model, no learning curve, no forecast."""
    return OWNER_KEY in trial.system_attrs or any(key in trial.user_attrs for key in LEGACY_ATTRS)


def servable(trial: optuna.trial.FrozenTrial) -> bool:
    """A trial whose model can be served: made by this service and kept a checkpoint."""
    return made_here(trial) and trial.user_attrs.get("checkpoint") is not None


def start_owned_trial(storage: optuna.storages.BaseStorage, study_id: int, owner: str) -> int:
    """A RUNNING trial marked as ``owner``'s, in one transaction: the first WAITING trial
    (``enqueue_trial``, by anyone) taken over, else a new trial. What ``study.ask`` does
    before it suggests params, with the mark written together with the state."""
    backend = _rdb_backend(storage)
    # the queue read through ``storage`` itself, as ``study.ask`` does: Optuna's cache in front
    # of an RDB then knows the trial taken
    waiting = [t._trial_id for t in storage.get_all_trials(study_id, deepcopy=False, states=(TrialState.WAITING,))]
    for trial_id in waiting:
        if backend is not None:
            if _take_marked(backend, trial_id, owner):
                return trial_id
            continue
        try:  # other storages: Optuna's own queue pop, then the mark
            if storage.set_trial_state_values(trial_id, state=TrialState.RUNNING):
                storage.set_trial_system_attr(trial_id, OWNER_KEY, owner)
                return trial_id
        except optuna.exceptions.UpdateFinishedTrialError:
            continue
    template = optuna.trial.FrozenTrial(
        number=-1, state=TrialState.RUNNING, value=None, datetime_start=datetime.now(), datetime_complete=None,
        params={}, distributions={}, user_attrs={}, system_attrs={OWNER_KEY: owner}, intermediate_values={}, trial_id=-1,
    )  # fmt: skip
    return storage.create_new_trial(study_id, template_trial=template)  # one transaction in an RDB


def _take_marked(backend: optuna.storages.RDBStorage, trial_id: int, owner: str) -> bool:
    """WAITING -> RUNNING and the mark, in one transaction; False when another client took it."""
    from optuna.storages._rdb.models import TrialModel, TrialSystemAttributeModel

    trials = TrialModel.__table__
    attrs = TrialSystemAttributeModel.__table__
    with backend.engine.begin() as conn:  # the state and the mark: both or neither
        now = datetime.now(timezone.utc).replace(tzinfo=None)  # Optuna stores datetime_start as naive UTC
        taken = conn.execute(
            sqlalchemy.update(trials)
            .where(trials.c.trial_id == trial_id, trials.c.state == TrialState.WAITING)
            .values(state=TrialState.RUNNING, datetime_start=now)
        ).rowcount
        if taken != 1:
            return False
        conn.execute(sqlalchemy.delete(attrs).where(attrs.c.trial_id == trial_id, attrs.c.key == OWNER_KEY))
        conn.execute(sqlalchemy.insert(attrs), [{"trial_id": trial_id, "key": OWNER_KEY, "value_json": json.dumps(owner)}])
    return True


def owned_trial_ids(storage: optuna.storages.BaseStorage, trial_ids) -> set[int]:
    """Those of ``trial_ids`` that a driver of this service marked as its own."""
    trial_ids = list(trial_ids)
    if not trial_ids:
        return set()
    backend = _rdb_backend(storage)
    if backend is None:
        return {i for i in trial_ids if OWNER_KEY in storage.get_trial(i).system_attrs}
    from optuna.storages._rdb.models import TrialSystemAttributeModel

    attrs = TrialSystemAttributeModel.__table__
    with backend.engine.connect() as conn:
        query = sqlalchemy.select(attrs.c.trial_id).where(attrs.c.key == OWNER_KEY, attrs.c.trial_id.in_(trial_ids))
        return set(conn.execute(query).scalars())


def count_owned_running(storage: optuna.storages.BaseStorage, study_id: int) -> int:
    """RUNNING trials of the study that drivers of this service run (any driver)."""
    backend = _rdb_backend(storage)
    if backend is None:
        running = storage.get_all_trials(study_id, deepcopy=False, states=(TrialState.RUNNING,))
        return sum(OWNER_KEY in t.system_attrs for t in running)
    from optuna.storages._rdb.models import TrialModel, TrialSystemAttributeModel

    trials, attrs = TrialModel.__table__, TrialSystemAttributeModel.__table__
    with backend.engine.connect() as conn:
        query = (
            sqlalchemy.select(sqlalchemy.func.count(trials.c.trial_id))
            .select_from(trials.join(attrs, attrs.c.trial_id == trials.c.trial_id))
            .where(trials.c.study_id == study_id, trials.c.state == TrialState.RUNNING, attrs.c.key == OWNER_KEY)
        )
        return int(conn.execute(query).scalar_one())


def stale_trial_ids(storage: optuna.storages.BaseStorage, study_id: int) -> list[int]:
    """RUNNING trials of a study whose driver is gone, among the trials a driver of this service
    marked as its own (``storage._owned``): Optuna's stale trials (last heartbeat older than the
    grace period) and, which Optuna skips, RUNNING trials that never got a heartbeat and started
    longer ago than the grace period. A driver beats for a trial right after creating it, so such
    a trial was orphaned by a driver killed in between; left alone it would count as running for
    ever and a resumed search would wait on it. Trials of other clients (a plain
    ``study.optimize`` beside the search) are never returned: whether they still run is theirs
    to say, through Optuna's own ``fail_stale_trials``."""
    backend = _rdb_backend(storage)
    stale = list(storage._get_stale_trial_ids(study_id))
    if backend is not None:
        from datetime import datetime, timedelta, timezone

        from optuna.storages._rdb.models import TrialHeartbeatModel, TrialModel

        grace = backend.grace_period if backend.grace_period is not None else 2 * backend.heartbeat_interval
        now = datetime.now(timezone.utc).replace(tzinfo=None)  # Optuna stores datetime_start in UTC
        with backend.engine.connect() as conn:
            beaten = sqlalchemy.select(TrialHeartbeatModel.trial_id)
            started_at = TrialModel.__table__.c.datetime_start
            query = sqlalchemy.select(TrialModel.trial_id, started_at).where(
                TrialModel.study_id == study_id,
                TrialModel.state == optuna.trial.TrialState.RUNNING,
                TrialModel.trial_id.not_in(beaten),
            )
            for trial_id, started in conn.execute(query):
                if started is not None and now - started > timedelta(seconds=grace):
                    stale.append(trial_id)
    owned = owned_trial_ids(storage, stale)
    return [trial_id for trial_id in stale if trial_id in owned]
