"""A study's models loaded back to forecast: ``search.load_best``.

``load_best`` opens the study and picks what to serve: the served forecaster the search
recorded (``search.results.served``: a trial, an ensemble, a baseline or a weighted
combination of them; ``load_served``), else its best trial (a multi-objective study: the lead
of its Pareto front, ``search.pareto``), a given COMPLETE trial, or with ``ensemble=K`` the K
best trials that kept a checkpoint (``ensemble_members``, ``load_ensemble``). Each trial's
``checkpoint`` artifact is read from the study's artifact store and handed to
``search.results.forecaster``, which verifies it against the ``checkpoint_sha256`` the driver
recorded and unpacks it into a ``Forecaster`` (an ``EnsembleForecaster`` for K trials).
"""

from __future__ import annotations

import re
from pathlib import Path

import optuna
from optuna.artifacts.exceptions import ArtifactNotFound

import storage as storage_mod
from search import pareto
from search.errors import CheckpointError, NoResultError, SearchError, StudyNotFoundError, UsageError
from search.results.forecaster import EnsembleForecaster, Forecaster, unpack, verified
from search.results.served_forecaster import ServedForecaster, recorded
from search.store import existing_url, open_storage, storage_errors
from search.study_attrs import flat
from search.worker.checkpoint import DIGEST_ATTR

ARTIFACT_ID = re.compile(r"[0-9a-fA-F-]{1,64}")  # Optuna's artifact ids are UUIDs


def load_best(
    study: str | optuna.Study,
    storage: str | None = None,
    *,
    artifacts: str | None = None,
    trial: int | None = None,
    ensemble: int | None = None,
) -> Forecaster:
    """The best trial's model of a study, ready to forecast. Its checkpoint is loaded only when
    its sha256 matches the one the driver recorded with it (``checkpoint_sha256``).

    A multi-objective study has no single best trial: its lead trial is loaded, the trial of
    the Pareto front best by the first objective (``search.pareto``; ``search best`` lists the
    front). ``trial``: load that trial's model instead (any COMPLETE trial that kept a
    checkpoint: in a multi-objective study every trial that entered the front, else every trial
    that entered the study's best ``checkpoints.keep``). With ``ensemble=K``: an
    ``EnsembleForecaster`` of the K best trials that kept a checkpoint."""
    url = storage or storage_mod.default_url()
    if isinstance(study, str):
        url = existing_url(url, hint="")
        try:
            study = optuna.load_study(study_name=study, storage=open_storage(url, heartbeat_interval=None, grace_period=None))
        except KeyError:
            raise StudyNotFoundError(f"no study {study!r} in {storage_mod.mask_url(url)}") from None
    if ensemble is not None:
        if trial is not None:
            raise UsageError(f"trial={trial} and ensemble={ensemble}: give one (a trial's model, or the mean of the best K)")
        return load_ensemble(study, ensemble, url, artifacts)
    if trial is not None:
        best = _numbered(study, trial)
        which = f"trial #{best.number} of {study.study_name!r}"
    elif recorded(study) is not None:  # the best on validation of trials, ensembles and baselines
        return load_served(study, recorded(study), url, artifacts)
    else:
        best = pareto.lead(study)
        if best is None:
            raise NoResultError(f"study {study.study_name!r} has no completed trial yet")
        which = f"the {'lead' if pareto.is_multi(study) else 'best'} trial #{best.number} of {study.study_name!r}"
        if not storage_mod.made_here(best):
            best, which, note = _served_instead(study, best, which)
            forecaster = _load_trial(best, which, _artifact_store(study, url, artifacts))
            forecaster.note = note
            return forecaster
    if not storage_mod.made_here(best):
        raise SearchError(f"{which} was not made by this service (another Optuna client's trial): it has no model to load")
    if best.user_attrs.get("checkpoint") is None:
        kept = "entered the Pareto front" if pareto.is_multi(study) else "entered the study's best checkpoints.keep"
        raise SearchError(f"{which} has no checkpoint (only trials that {kept} when they finished keep one)")
    return _load_trial(best, which, _artifact_store(study, url, artifacts))


def _served_instead(study: optuna.Study, foreign: optuna.trial.FrozenTrial, which: str) -> tuple[optuna.trial.FrozenTrial, str, str]:
    """The best trial made by this service that kept a checkpoint, served when the study's best
    is another client's trial (no model); its label and a note saying why it is served."""
    from search.results.tables import servable_best

    served = servable_best(study)
    foreign_line = f"{which} was not made by this service (another Optuna client's trial): it has no model"
    if served is None:
        where = " on the Pareto front" if pareto.is_multi(study) else ""
        raise SearchError(f"{foreign_line}, and no trial made by this service{where} kept a checkpoint")
    return served, f"trial #{served.number} of {study.study_name!r}", f"{foreign_line}; serving trial #{served.number}, the best trial made by this service with a checkpoint"


def _artifact_store(study: optuna.Study, url: str, artifacts: str | None):
    location = storage_mod.find_artifacts(url, artifacts, flat(study).get("artifacts"))
    if not storage_mod.is_object_store(location) and not Path(location).is_dir():  # read, never made empty
        raise CheckpointError(f"study {study.study_name!r}: its artifact folder {location} does not exist (moved or deleted?); give --artifacts where the checkpoints are")
    with storage_errors():
        return storage_mod.open_artifact_store(url, location)


def _load_trial(trial: optuna.trial.FrozenTrial, label: str, store) -> Forecaster:
    """``trial``'s checkpoint, loaded only when it matches its recorded sha256."""
    artifact_id = trial.user_attrs.get("checkpoint")
    if artifact_id is None:
        raise SearchError(f"{label} has no checkpoint")
    if not isinstance(artifact_id, str) or not ARTIFACT_ID.fullmatch(artifact_id):
        raise CheckpointError(f"{label}: its checkpoint attr {artifact_id!r} is not an artifact id; refusing to load it")
    try:
        with store.open_reader(artifact_id) as reader:
            data = reader.read()
    except (ArtifactNotFound, FileNotFoundError):
        where = getattr(store, "_base_path", None) or "the artifact store"
        raise CheckpointError(f"{label}: its checkpoint {artifact_id} is not in {where} (deleted or moved?); give --artifacts where it is, or run the search again") from None
    return unpack(verified(data, trial.user_attrs.get(DIGEST_ATTR), label))


def ensemble_members(study: optuna.Study, k: int) -> tuple[list[optuna.trial.FrozenTrial], str]:
    """The ``k`` best COMPLETE trials that kept a checkpoint, best first (ties by trial
    number), and a note naming better trials left out for want of one (else ``""``).
    Fewer than ``k`` with a checkpoint is a ``UsageError`` naming how many there are."""
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise UsageError(f"ensemble of {k!r}: K must be a whole number of trials, at least 1")
    if len(study.directions) > 1:
        raise UsageError(f"study {study.study_name!r} has {len(study.directions)} objectives; an ensemble averages the best trials of one objective")
    complete = [t for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)) if t.value is not None]
    if not complete:
        raise NoResultError(f"study {study.study_name!r} has no completed trial yet")
    sign = -1.0 if study.direction == optuna.study.StudyDirection.MAXIMIZE else 1.0
    ranked = sorted(complete, key=lambda t: (sign * t.value, t.number))
    kept = [t for t in ranked if storage_mod.servable(t)]
    if not kept:
        raise UsageError(f"ensemble of {k}: study {study.study_name!r} has no trial with a checkpoint; search with an artifact folder and checkpoints.keep: {k} or more")
    if len(kept) < k:
        which = f" (#{', #'.join(str(t.number) for t in kept)})" if kept else ""
        raise UsageError(
            f"ensemble of {k}: study {study.study_name!r} has {len(kept)} trial{'s' if len(kept) != 1 else ''} with a checkpoint{which}; "
            f"ask for at most {len(kept)}, or search with checkpoints.keep: {k} or more (trials that enter the best {k} keep theirs)"
        )
    members = kept[:k]
    foreign = [t for t in ranked if not storage_mod.made_here(t) and sign * t.value < sign * members[-1].value]
    left_out = [t for t in ranked if "checkpoint" not in t.user_attrs and storage_mod.made_here(t) and sign * t.value < sign * members[-1].value]
    notes = []
    if foreign:
        notes.append(f"{len(foreign)} better trial{'s' if len(foreign) != 1 else ''} (#{', #'.join(str(t.number) for t in foreign[:5])}{', ...' if len(foreign) > 5 else ''}) not made by this service have no model")
    note = "; ".join(notes)
    if left_out:
        note = (note + "; " if note else "") + f"{len(left_out)} better trial{'s' if len(left_out) != 1 else ''} kept no checkpoint (#{', #'.join(str(t.number) for t in left_out[:5])}{', ...' if len(left_out) > 5 else ''}); the members are the best {k} that did"
    return members, note


def load_ensemble(study: optuna.Study, k: int, url: str, artifacts: str | None = None) -> EnsembleForecaster:
    """The mean forecaster of the ``k`` best trials that kept a checkpoint (``ensemble_members``),
    each checkpoint verified against its recorded sha256; forecasting studies only."""
    trials, note = ensemble_members(study, k)
    store = _artifact_store(study, url, artifacts)
    members = [_load_trial(t, f"ensemble member trial #{t.number} of {study.study_name!r}", store) for t in trials]
    first = members[0]
    if first.task != "forecast":
        raise UsageError(f"an ensemble averages forecasts; study {study.study_name!r} is a {first.task} study")
    for trial, member in zip(trials[1:], members[1:]):
        for what, mine, theirs in (
            ("columns", member.payload["columns"], first.payload["columns"]),
            ("targets", member.payload["n_targets"], first.payload["n_targets"]),
            ("horizon", member.horizon, first.horizon),
            ("series_id", member.series_id, first.series_id),
            ("future features", _known_part(member, "future_features"), _known_part(first, "future_features")),
            ("MSTL profiles", _known_part(member, "mstl"), _known_part(first, "mstl")),
        ):
            if mine != theirs:
                raise UsageError(f"ensemble member trial #{trial.number} has {what} {mine!r}, trial #{trials[0].number} {theirs!r}; their forecasts cannot be averaged")
    payload = {**first.payload, "data": {**first.payload["data"], "lookback": max(m.lookback for m in members)}}
    spec = next((m.payload["known"] for m in members if m.payload.get("known")), None)
    if spec:  # a member reads known-future columns: the input carries the horizon's rows for it
        payload["known"] = spec
    return EnsembleForecaster(first.model, payload, members=members, trials=[t.number for t in trials], note=note)


def load_served(study: optuna.Study, value: dict, url: str, artifacts: str | None = None) -> ServedForecaster:
    """The study's served forecaster (``search.results.served``) from its recorded ``served``
    attr: each network member's checkpoints verified, each statistical member refitted on the
    input when it forecasts."""
    store = _artifact_store(study, url, artifacts)
    trials = {n: _numbered(study, n) for n in served_trials(study, value)}
    loaded = {n: _load_trial(t, f"served member trial #{n} of {study.study_name!r}", store) for n, t in trials.items()}
    return served_from(value, loaded)


def served_trials(study: optuna.Study, value: dict) -> list[int]:
    """The trials whose checkpoints the served forecaster ``value`` needs: its network members'
    (an ensemble's, best first), or, when only baselines are served, the best trial that kept
    a checkpoint (its input columns and time settings)."""
    numbers = [int(n) for m in value["members"] if m["kind"] in ("trial", "ensemble") for n in m["trials"]]
    if numbers:
        return list(dict.fromkeys(numbers))
    kept, _ = ensemble_members(study, 1)
    return [kept[0].number]


def served_from(value: dict, loaded: dict[int, Forecaster]) -> ServedForecaster:
    """The served forecaster of a ``served`` attr value from its trials' loaded checkpoints
    (``served_trials``: number -> forecaster); also what the MLflow model builds."""
    members = []
    for member in value["members"]:
        net = None
        if member["kind"] in ("trial", "ensemble"):
            numbers = [int(n) for n in member["trials"]]
            nets = [loaded[n] for n in numbers]
            net = nets[0] if member["kind"] == "trial" else _ensemble_of(numbers, nets)
        members.append((float(member["weight"]), net, member))
    first = next((net for _, net, _ in members if net is not None), None)
    if first is None:  # only baselines served: the input's columns and time settings of the best kept trial
        first = next(iter(loaded.values()))
        payload = {**first.payload, "data": {**first.payload["data"], "lookback": 1}, "known": None}
    else:
        lookback = max(net.lookback for _, net, _ in members if net is not None)
        payload = {**first.payload, "data": {**first.payload["data"], "lookback": lookback}}
    edge = value.get("edge") or {}
    why = f"the classical answer ({edge.get('challenger')}'s edge on validation was not significant)" if edge and edge.get("served") != edge.get("challenger") else "the best on validation"
    note = f"serving {value['label']}, {why} ({value['metric']} {value['val'][value['metric']]:.6g})"
    return ServedForecaster(first.model, payload, members=members, seasons=list(value.get("seasons") or []), label=value["label"], note=note, intervals=value.get("intervals") or None, floor=value.get("floor"))


def _ensemble_of(numbers: list[int], members: list[Forecaster]) -> EnsembleForecaster:
    """The mean forecaster of loaded ``members`` (the lookback: the longest member's)."""
    first = members[0]
    payload = {**first.payload, "data": {**first.payload["data"], "lookback": max(m.lookback for m in members)}}
    spec = next((m.payload["known"] for m in members if m.payload.get("known")), None)
    if spec:
        payload["known"] = spec
    return EnsembleForecaster(first.model, payload, members=members, trials=list(numbers))


def _known_part(member: Forecaster, key: str):
    """A member's known-future setting ``key``; members of one study differ at most in their
    time features (a searched ``data.time_features``)."""
    return (member.payload.get("known") or {}).get(key) or None


def _numbered(study: optuna.Study, number: int) -> optuna.trial.FrozenTrial:
    """Trial ``number`` of the study, COMPLETE; UsageError naming ``trial`` otherwise."""
    if isinstance(number, bool) or not isinstance(number, int):
        raise UsageError(f"trial {number!r}: expected a trial number (an integer)")
    trials = {t.number: t for t in study.get_trials(deepcopy=False)}
    found = trials.get(number)
    if found is None:
        raise UsageError(f"trial {number}: study {study.study_name!r} has no such trial (trials 0..{len(trials) - 1})")
    if found.state != optuna.trial.TrialState.COMPLETE:
        raise UsageError(f"trial {number}: trial #{number} of {study.study_name!r} is {found.state.name}, not COMPLETE; it has no model")
    return found
