"""The bridge's Optuna-side steps, on the study alone (no Ray): telling an outcome, drawing a
trial's params in retry-safe steps, re-queueing a failed trial, recovering trials a dead
driver left RUNNING. ``search.driver.bridge`` calls them from the driver; ``search.driver.run`` recovers
stale trials before and between Tune rounds.
"""

from __future__ import annotations

import optuna
from optuna.storages._heartbeat import is_heartbeat_enabled
from optuna.trial import TrialState

from storage import retrying, stale_trial_ids

MAX_RETRIES = 3  # a failed trial's params run again at most this many times


def tell(study: optuna.Study, trial: optuna.trial.Trial, value: float | list[float] | None, state: TrialState) -> None:
    """``study.tell`` without its return value: Optuna's public ``tell`` reads the finished trial
    back from the storage once more and deep-copies it for the caller, which the bridge never
    uses (about 5 % of the driver's time on trivial trials). ``study.optimize`` calls the same
    internal function; the public method is the fallback for another Optuna version."""
    try:
        from optuna.study._tell import _tell_with_warning
    except ImportError:
        study.tell(trial, value, state=state)
        return
    _tell_with_warning(study=study, trial=trial, value_or_values=value, state=state)


def suggest_params(trial: optuna.trial.Trial, distributions: dict) -> None:
    """The trial's params from the study's sampler (what ``study.ask(distributions)`` does),
    through the public ``suggest_*`` calls. Params already set (by an earlier attempt that
    failed half-way) are kept, so a retry after a lost connection completes the same trial."""
    dists = optuna.distributions
    for name, dist in distributions.items():
        if name in trial.params:
            continue
        if isinstance(dist, dists.FloatDistribution):
            trial.suggest_float(name, dist.low, dist.high, step=dist.step, log=dist.log)
        elif isinstance(dist, dists.IntDistribution):
            trial.suggest_int(name, dist.low, dist.high, step=dist.step, log=dist.log)
        elif isinstance(dist, dists.CategoricalDistribution):
            trial.suggest_categorical(name, dist.choices)
        else:
            raise TypeError(f"{name}: unsupported distribution {dist!r}")


def requeue(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
    """Queue a failed trial's params to run again, up to MAX_RETRIES times in a chain."""
    retries = int(trial.user_attrs.get("retries", 0))
    if retries < MAX_RETRIES and trial.params:
        user_attrs = {"retry_of": trial.number, "retries": retries + 1}
        retrying(study.enqueue_trial, trial.params, user_attrs=user_attrs, skip_if_exists=False)


def recover_stale_trials(study: optuna.Study) -> int:
    """Trials left RUNNING by a dead driver of this service (no heartbeat within the grace
    period) become FAIL with the error ``driver lost (heartbeat stale)``, and their params are
    queued to run again. Only trials a driver marked as its own when it started them are
    touched; other clients' trials in the same study are theirs (``storage._owned``).

    Like Optuna's ``fail_stale_trials``, but the reason is written while the trial is still
    RUNNING (Optuna refuses user attrs on finished trials), and a trial orphaned before its
    first heartbeat counts too (``storage.stale_trial_ids``). Safe with several drivers: only the
    one whose state change succeeds re-queues the trial. Returns the number recovered.
    """
    storage = study._storage
    if not is_heartbeat_enabled(storage):
        return 0
    recovered = 0
    for trial_id in retrying(stale_trial_ids, storage, study._study_id):
        try:
            storage.set_trial_user_attr(trial_id, "error", "driver lost (heartbeat stale)")
            if not storage.set_trial_state_values(trial_id, state=TrialState.FAIL):
                continue
        except optuna.exceptions.UpdateFinishedTrialError:
            continue  # another driver got there first
        requeue(study, storage.get_trial(trial_id))
        recovered += 1
    return recovered
