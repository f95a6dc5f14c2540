"""The readers' plain queries (``storage.read_trials``, ``study_summary``...) give what Optuna's
own ``get_all_trials`` gives, on SQLite and PostgreSQL."""

from __future__ import annotations

import math

import optuna
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import TrialState

import storage

SPACE = {"x": FloatDistribution(0, 1), "n": IntDistribution(1, 9, step=2), "act": CategoricalDistribution(["relu", "tanh", None])}


def make_study(url: str) -> optuna.Study:
    """Every state, odd values (inf, nan intermediate values), list-valued attrs, system attrs."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    rdb = storage.open_storage(url, heartbeat_interval=None, grace_period=None)
    study = optuna.create_study(study_name="s", storage=rdb)
    for i in range(7):
        trial = study.ask(SPACE)
        for step in range(1, i % 4 + 1):
            trial.report([0.5, math.inf, -math.inf, math.nan][step % 4] if i == 5 else 1.0 / (i + step), step)
        trial.set_user_attr("node", f"n{i % 2}")
        trial.set_user_attr("zeta", [i, {"k": "v"}])
        trial.set_user_attr("alpha", i)
        study._storage.set_trial_system_attr(trial._trial_id, "sys", {"i": i})
        if i in (1, 4):
            study.tell(trial, state=TrialState.PRUNED)
        elif i == 2:
            study.tell(trial, state=TrialState.FAIL)
        elif i == 6:
            pass  # left running
        else:
            study.tell(trial, math.inf if i == 3 else 0.1 * i)
    study.enqueue_trial({"x": 0.5})  # waiting
    return study


def test_read_trials_matches_optunas_own_reading(storage_url):
    study = make_study(storage_url)
    expected = study.get_trials(deepcopy=False)
    got = storage.read_trials(study._storage, study._study_id)
    assert got == expected  # FrozenTrial equality: every field
    for a, b in zip(got, expected, strict=True):
        assert a._trial_id == b._trial_id and list(a.params) == list(b.params)
        assert list(a.intermediate_values) == list(b.intermediate_values)
        assert sorted(a.user_attrs) == sorted(b.user_attrs)


def test_read_trials_pages_in_number_order_and_filters_states(storage_url):
    study = make_study(storage_url)
    everything = study.get_trials(deepcopy=False)
    page = storage.read_trials(study._storage, study._study_id, offset=2, limit=3)
    assert [t.number for t in page] == [2, 3, 4]
    assert page == everything[2:5]
    assert storage.read_trials(study._storage, study._study_id, offset=7, limit=10) == everything[7:]
    done = storage.read_trials(study._storage, study._study_id, states=(TrialState.COMPLETE, TrialState.PRUNED), offset=1, limit=2)
    assert [t.number for t in done] == [1, 3]


def test_read_trials_without_intermediate_values_or_with_chosen_attrs(storage_url):
    study = make_study(storage_url)
    light = storage.read_trials(study._storage, study._study_id, intermediate_values=False, user_attr_keys=("node",))
    full = study.get_trials(deepcopy=False)
    assert all(t.intermediate_values == {} for t in light)
    assert [t.user_attrs for t in light] == [{"node": t.user_attrs["node"]} if "node" in t.user_attrs else {} for t in full]
    assert [(t.params, t.values, t.state) for t in light] == [(t.params, t.values, t.state) for t in full]
    ids = [t._trial_id for t in full]
    curves = storage.read_intermediate_values(study._storage, ids)
    assert curves == {t._trial_id: t.intermediate_values for t in full if t.intermediate_values}


def test_study_summary_counts_states_and_finds_the_last_activity(storage_url):
    study = make_study(storage_url)
    trials = study.get_trials(deepcopy=False)
    counted, last = storage.study_summary(study._storage, study._study_id)
    assert counted == {s: sum(t.state == s for t in trials) for s in TrialState}
    assert last == max(t.datetime_complete or t.datetime_start for t in trials if t.datetime_start)


def test_the_readers_fall_back_to_optuna_on_other_storages():
    study = optuna.create_study()
    for x in (0.1, 0.2, 0.3):
        trial = study.ask({"x": FloatDistribution(0, 1)})
        trial.report(x, 1)
        trial.set_user_attr("node", "n")
        trial.set_user_attr("other", 1)
        study.tell(trial, x)
    storage_ = study._storage
    assert storage.read_trials(storage_, study._study_id, offset=1, limit=1) == study.trials[1:2]
    light = storage.read_trials(storage_, study._study_id, intermediate_values=False, user_attr_keys=("node",))
    assert [t.intermediate_values for t in light] == [{}] * 3 and [t.user_attrs for t in light] == [{"node": "n"}] * 3
    assert study.trials[0].intermediate_values == {1: 0.1}  # the study's own trials untouched
    assert storage.study_summary(storage_, study._study_id)[0][TrialState.COMPLETE] == 3


@pytest.mark.parametrize("reads", [0, 1])
def test_no_reader_query_loads_optunas_orm_trials(tmp_path, monkeypatch, reads):
    """The fast path never goes through RDBStorage's own trial loading."""
    study = make_study(f"sqlite:///{tmp_path / 's.db'}")
    calls = []
    monkeypatch.setattr(optuna.storages.RDBStorage, "_get_trials", lambda *a, **k: calls.append(a))
    if reads:
        storage.read_trials(study._storage, study._study_id)
    else:
        storage.study_summary(study._storage, study._study_id)
    assert calls == []


@pytest.mark.parametrize("zone", ["UTC", "Europe/Berlin", "America/St_Johns", "Australia/Lord_Howe"])
def test_local_times_by_the_hour_match_one_by_one(zone, monkeypatch):
    """The readers' datetimes, converted with the offset of their hour of UTC, are those of the
    conversion one by one, across daylight-saving switches (Lord Howe's moves by 30 minutes)."""
    import time
    from datetime import datetime, timedelta

    from storage._reads import _local, _LocalTimes

    monkeypatch.setenv("TZ", zone)
    time.tzset()
    try:
        local = _LocalTimes()
        for start in (datetime(2024, 3, 30, 22), datetime(2024, 10, 26, 22), datetime(2024, 4, 6, 14), datetime(2024, 10, 5, 14), datetime(2024, 11, 3, 2)):
            for minutes in range(0, 8 * 60, 7):
                stored = start + timedelta(minutes=minutes, seconds=minutes % 60, microseconds=minutes * 997)
                assert local(stored) == _local(stored), (zone, stored)
        assert local(None) is None
    finally:
        monkeypatch.undo()
        time.tzset()
