"""Reading a study without Optuna's ORM objects: the readers of a big study.

A study of 20,000 trials of 50 epochs holds a million intermediate values; Optuna's
``get_all_trials`` builds an ORM object per row (about 15 µs each). These functions read the
same rows with a few plain queries, page through trials, and leave the intermediate values out
where a reader does not draw them. Other storages fall back to Optuna's own calls.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import optuna
import sqlalchemy

from storage._rdb import _rdb_backend

READ_CHUNK = 2000  # trial ids per ``IN (...)`` query, well under SQLite's bound variables


def _local(stored):
    """A stored datetime (naive UTC) as Optuna hands it out (naive local time)."""
    from datetime import timezone

    return None if stored is None else stored.replace(tzinfo=timezone.utc).astimezone().replace(tzinfo=None)


class _LocalTimes:
    """``_local`` for many datetimes, the local offset found once per hour of UTC: a read of
    every trial converts two per trial (40,000 at 20,000 trials, 0.13 s one by one). An hour
    whose offset is not the same at its start and its end (a daylight-saving switch) is
    converted one by one."""

    def __init__(self):
        self._offsets: dict[datetime, timedelta | None] = {}

    def __call__(self, stored: datetime | None) -> datetime | None:
        if stored is None:
            return None
        hour = stored.replace(minute=0, second=0, microsecond=0)
        try:
            offset = self._offsets[hour]
        except KeyError:
            offset = self._offsets[hour] = self._offset(hour)
        return _local(stored) if offset is None else stored + offset

    @staticmethod
    def _offset(hour: datetime) -> timedelta | None:
        last = hour + timedelta(hours=1, microseconds=-1)
        start, end = _local(hour) - hour, _local(last) - last
        return start if start == end else None


def study_summary(storage: optuna.storages.BaseStorage, study_id: int) -> tuple[dict, object]:
    """({TrialState: count}, last activity) of a study, from one grouped query: the last
    activity is the latest end (or, for a trial not ended, start) of any trial, in local time
    as ``FrozenTrial`` gives it; None without trials. Other storages: from every trial."""
    from optuna.trial import TrialState

    backend = _rdb_backend(storage)
    if backend is None:
        trials = storage.get_all_trials(study_id, deepcopy=False)
        counted = {s: sum(t.state == s for t in trials) for s in TrialState}
        times = [t.datetime_complete or t.datetime_start for t in trials]
        return counted, max((t for t in times if t is not None), default=None)
    from optuna.storages._rdb.models import TrialModel

    table = TrialModel.__table__
    query = sqlalchemy.select(
        table.c.state, sqlalchemy.func.count(), sqlalchemy.func.max(sqlalchemy.func.coalesce(table.c.datetime_complete, table.c.datetime_start))
    ).where(table.c.study_id == study_id).group_by(table.c.state)
    counted = dict.fromkeys(TrialState, 0)
    latest = None
    with backend.engine.connect() as conn:
        for state, n, last in conn.execute(query):
            state = state if isinstance(state, TrialState) else TrialState[state]
            counted[state] = int(n)
            if isinstance(last, str):  # SQLite hands back max() of a datetime column as text
                last = datetime.fromisoformat(last)
            if last is not None and (latest is None or last > latest):
                latest = last
    return counted, _local(latest)


def read_trials(
    storage: optuna.storages.BaseStorage,
    study_id: int,
    *,
    states=None,
    offset: int = 0,
    limit: int | None = None,
    intermediate_values: bool = True,
    user_attr_keys=None,
) -> list[optuna.trial.FrozenTrial]:
    """The study's trials in number order, as ``get_all_trials`` returns them, read with a few
    plain queries instead of Optuna's ORM objects (which cost about 15 µs a row: a study of
    20,000 trials of 50 epochs holds a million intermediate values). ``offset``/``limit``
    page through them (by position in number order, after the ``states`` filter);
    ``intermediate_values=False`` leaves each trial's per-epoch values out (an empty dict),
    for readers that need only params, values and attrs (``read_intermediate_values`` reads
    them for chosen trials); ``user_attr_keys`` reads only those user attrs. Other storages:
    ``get_all_trials``."""
    from optuna.distributions import json_to_distribution
    from optuna.storages._rdb import models
    from optuna.trial import FrozenTrial, TrialState

    backend = _rdb_backend(storage)
    if backend is None:
        trials = storage.get_all_trials(study_id, deepcopy=False, states=None if states is None else tuple(states))
        trials = trials[offset : None if limit is None else offset + limit]
        if not intermediate_values or user_attr_keys is not None:
            import copy

            trials = [copy.copy(t) for t in trials]
            for t in trials:
                t.intermediate_values = t.intermediate_values if intermediate_values else {}
                t.user_attrs = t.user_attrs if user_attr_keys is None else {k: v for k, v in t.user_attrs.items() if k in user_attr_keys}
        return trials
    t = models.TrialModel.__table__
    query = sqlalchemy.select(t.c.trial_id, t.c.number, t.c.state, t.c.datetime_start, t.c.datetime_complete).where(t.c.study_id == study_id)
    if states is not None:
        query = query.where(t.c.state.in_(list(states)))
    query = query.order_by(t.c.number, t.c.trial_id).offset(offset or None).limit(limit)
    values: dict[int, dict[int, float]] = {}
    params: dict[int, list[tuple[str, float, str]]] = {}
    user: dict[int, dict] = {}
    system: dict[int, dict] = {}
    with backend.engine.connect() as conn:
        heads = conn.execute(query).all()
        ids = [h.trial_id for h in heads]
        to_value, kinds = models.TrialValueModel.stored_repr_to_value, models.TrialValueModel.TrialValueType
        for trial_id, objective, value, kind in _child_rows(conn, models.TrialValueModel, ids, ("objective", "value", "value_type"), "trial_value_id"):
            values.setdefault(trial_id, {})[objective] = to_value(value, kinds[kind])
        for trial_id, name, value, dist in _child_rows(conn, models.TrialParamModel, ids, ("param_name", "param_value", "distribution_json"), "param_id"):
            params.setdefault(trial_id, []).append((name, value, dist))
        parse = _json_reader()
        keys = None if user_attr_keys is None else set(user_attr_keys)
        for trial_id, key, value in _child_rows(conn, models.TrialUserAttributeModel, ids, ("key", "value_json"), "key", keys):
            user.setdefault(trial_id, {})[key] = parse(value)
        for trial_id, key, value in _child_rows(conn, models.TrialSystemAttributeModel, ids, ("key", "value_json"), "key"):
            system.setdefault(trial_id, {})[key] = parse(value)
        steps = _intermediate(conn, ids) if intermediate_values else {}
    known: dict[str, object] = {}  # distribution JSON -> distribution, parsed once
    local = _LocalTimes()
    out = []
    for h in heads:
        dists, found = {}, {}
        for name, value, text in params.get(h.trial_id, ()):
            dist = known.get(text) or known.setdefault(text, json_to_distribution(text))
            dists[name], found[name] = dist, dist.to_external_repr(value)
        by_objective = values.get(h.trial_id)
        out.append(
            FrozenTrial(
                number=h.number, state=h.state if isinstance(h.state, TrialState) else TrialState[h.state], value=None,
                values=[by_objective[k] for k in sorted(by_objective)] if by_objective else None,
                datetime_start=local(h.datetime_start), datetime_complete=local(h.datetime_complete),
                params=found, distributions=dists, user_attrs=user.get(h.trial_id, {}), system_attrs=system.get(h.trial_id, {}),
                intermediate_values=steps.get(h.trial_id, {}), trial_id=h.trial_id,
            )  # fmt: skip
        )
    return out


def read_intermediate_values(storage: optuna.storages.BaseStorage, trial_ids: list[int]) -> dict[int, dict[int, float]]:
    """{trial id: {step: value}} of the given trials (a trial without any is left out)."""
    backend = _rdb_backend(storage)
    if backend is None:
        return {i: dict(v) for i in trial_ids if (v := storage.get_trial(i).intermediate_values)}
    with backend.engine.connect() as conn:
        return _intermediate(conn, trial_ids)


def _child_rows(conn, model, ids: list[int], columns: tuple[str, ...], order: str, keys: set | None = None) -> list[tuple]:
    """(trial_id, *columns) rows of a table holding per-trial rows, for the trials ``ids``
    (``READ_CHUNK`` ids per query), each trial's rows ordered by ``order``; with ``keys``, only
    the rows whose ``key`` is one of them. Fetched as the driver's plain tuples (enum columns as
    their names): SQLAlchemy's rows and type processing would double the time of a million."""
    table = model.__table__
    out: list[tuple] = []
    cursor = conn.connection.cursor()
    try:
        for k in range(0, len(ids), READ_CHUNK):
            query = sqlalchemy.select(table.c.trial_id, *(table.c[c] for c in columns)).where(table.c.trial_id.in_(ids[k : k + READ_CHUNK]))
            if keys is not None:
                query = query.where(table.c.key.in_(sorted(keys)))
            query = query.order_by(table.c.trial_id, table.c[order])
            # The bound values are the database's own trial ids and the caller's attr keys.
            cursor.execute(str(query.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True})))
            out += cursor.fetchall()
    finally:
        cursor.close()
    return out


def _intermediate(conn, ids: list[int]) -> dict[int, dict[int, float]]:
    from optuna.storages._rdb.models import TrialIntermediateValueModel as model

    kinds = model.TrialIntermediateValueType
    to_value = model.stored_repr_to_intermediate_value
    steps: dict[int, dict[int, float]] = {}
    rows = _child_rows(conn, model, ids, ("step", "intermediate_value", "intermediate_value_type"), "trial_intermediate_value_id")
    for trial_id, step, value, kind in rows:
        steps.setdefault(trial_id, {})[step] = value if kind == "FINITE" else to_value(value, kinds[kind])
    return steps


def _json_reader():
    """``json.loads`` remembering the texts it has read that hold a plain value (attr values
    repeat: device, node...); a list or dict is parsed afresh, so no two trials share one."""
    seen: dict[str, object] = {}

    def parse(text: str):
        try:
            return seen[text]
        except KeyError:
            value = json.loads(text)
            if value is None or isinstance(value, (str, int, float)):
                seen[text] = value
            return value

    return parse


def intermediate_counts(storage: optuna.storages.BaseStorage, trial_ids: list[int]) -> dict[int, int]:
    """How many intermediate values each trial holds (trials without one are left out),
    counted by the database."""
    backend = _rdb_backend(storage)
    if backend is None:
        return {i: n for i in trial_ids if (n := len(storage.get_trial(i).intermediate_values))}
    from optuna.storages._rdb.models import TrialIntermediateValueModel

    table = TrialIntermediateValueModel.__table__
    out: dict[int, int] = {}
    with backend.engine.connect() as conn:
        for k in range(0, len(trial_ids), READ_CHUNK):
            query = sqlalchemy.select(table.c.trial_id, sqlalchemy.func.count()).where(table.c.trial_id.in_(trial_ids[k : k + READ_CHUNK])).group_by(table.c.trial_id)
            out.update({trial_id: int(n) for trial_id, n in conn.execute(query)})
    return out
