"""The dashboard guards that keep a search's model the driver's (``search dashboard``).

The search driver alone decides which model a trial holds and when a trial of a search ends.
Even from the dashboard's own pages, :func:`driver_trials_middleware` refuses (``403``):

* setting a user attr the driver writes: ``checkpoint`` and its ``checkpoint_sha256``, the
  ``learning_curve`` and the ``forecast*`` artifacts' ids;
* deleting an artifact that such an attr of any trial names (a checkpoint, a forecast page);
* telling (``COMPLETE``/``FAIL``) a trial the driver owns: a WAITING trial (queued for a
  search, which runs it on its next start) or a RUNNING trial of a search's study (one with
  the ``space_hash`` attr ``search run`` records).

Each decides on the route bottle will call (``search.results.dashboard_request.Routes``) and
on the very body the application will read.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable
from typing import Any

from search.results.dashboard_request import Route, Routes, WSGIApp, plain

DRIVER_ATTRS = frozenset({"checkpoint", "checkpoint_sha256", "learning_curve"})  # and every forecast* attr
MAX_ATTRS_BODY = 1 << 20
SEARCH_STUDY_ATTR = "space_hash"  # recorded on every study ``search run`` makes
USER_ATTRS_RULE = "/api/trials/<trial_id:int>/user-attrs"
TELL_RULE = "/api/trials/<trial_id:int>/tell"
DELETE_RULES = ("/api/artifacts/<study_id:int>/<trial_id:int>/<artifact_id:re:[0-9a-fA-F-]+>", "/api/artifacts/<study_id:int>/<artifact_id:re:[0-9a-fA-F-]+>")


def is_driver_attr(key: str) -> bool:
    return key in DRIVER_ATTRS or key.startswith("forecast")


def driver_trials_middleware(app: WSGIApp, routes: Routes, storage: Any) -> WSGIApp:
    """Refuse with 403 the writes that would change a search's model or end its trials."""

    def guarded(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD", "GET").upper()
        route = routes.of(environ) if method in ("POST", "DELETE") else None
        if route is None:
            return app(environ, start_response)
        if method == "POST" and route.rule == USER_ATTRS_RULE:
            refusal = _attrs_refusal(environ)
        elif method == "POST" and route.rule == TELL_RULE:
            refusal = _tell_refusal(storage, route)
        elif method == "DELETE" and route.rule in DELETE_RULES:
            refusal = _delete_refusal(storage, route)
        else:
            refusal = None
        if refusal is not None:
            return plain(start_response, *refusal)
        return app(environ, start_response)

    return guarded


def _attrs_refusal(environ: dict[str, Any]) -> tuple[str, str] | None:
    import bottle

    body = _read_body(environ)
    if body is None:
        return "413 Content Too Large", f"a user attrs request is limited to {MAX_ATTRS_BODY} bytes"
    try:
        attrs = bottle.json_loads(body).get("user_attrs") or {}  # as the application parses it
        keys = {str(k) for k in attrs.keys()}
    except (ValueError, AttributeError, TypeError):
        return "400 Bad Request", 'a user attrs request is a JSON object {"user_attrs": {KEY: VALUE, ...}}'
    refused = sorted(k for k in keys if is_driver_attr(k))
    if refused:
        return "403 Forbidden", f"user attrs {', '.join(refused)} are written by the search driver only"
    return None


def _tell_refusal(storage: Any, route: Route) -> tuple[str, str] | None:
    import optuna

    import sqlalchemy
    from optuna.storages._rdb.models import TrialModel

    trial_id = route.args["trial_id"]
    with storage.engine.connect() as conn:
        study_id = conn.execute(sqlalchemy.select(TrialModel.study_id).where(TrialModel.trial_id == trial_id)).scalar()
    if study_id is None:
        return None  # no such trial: the application's answer
    trial = storage.get_trial(trial_id)
    search_study = SEARCH_STUDY_ATTR in storage.get_study_user_attrs(study_id)
    state = trial.state
    if state == optuna.trial.TrialState.WAITING or (state == optuna.trial.TrialState.RUNNING and search_study):
        why = "queued for a search" if state == optuna.trial.TrialState.WAITING else "run by a search"
        return "403 Forbidden", f"trial #{trial.number} is {why}: only the search driver ends it"
    return None


def _delete_refusal(storage: Any, route: Route) -> tuple[str, str] | None:
    artifact_id = str(route.args["artifact_id"]).lower()
    named = driver_artifacts(storage)
    if artifact_id in named:
        number, key = named[artifact_id]
        return "403 Forbidden", f"artifact {artifact_id} is trial #{number}'s {key}, kept by the search driver: it cannot be deleted here"
    return None


def driver_artifacts(storage: Any) -> dict[str, tuple[int, str]]:
    """Every artifact id that a driver attr of any trial in the storage names (lower case) ->
    (trial number, attr). Any study's: the artifact store does not check which study an id is
    deleted through."""
    import json

    import sqlalchemy
    from optuna.storages._rdb.models import TrialModel, TrialUserAttributeModel

    attr = TrialUserAttributeModel
    keys = sqlalchemy.or_(attr.key.in_(sorted(DRIVER_ATTRS - {"checkpoint_sha256"})), attr.key.like("forecast%"))
    query = sqlalchemy.select(attr.key, attr.value_json, TrialModel.number).join(TrialModel, TrialModel.trial_id == attr.trial_id).where(keys)
    named: dict[str, tuple[int, str]] = {}
    with storage.engine.connect() as conn:
        for key, value_json, number in conn.execute(query):
            try:
                value = json.loads(value_json)
            except ValueError:
                continue
            if isinstance(value, str):
                named[value.lower()] = (number, key)
    return named


def _read_body(environ: dict[str, Any]) -> bytes | None:
    """The request body, put back for the app to read; None when over ``MAX_ATTRS_BODY``.
    ``canonical_middleware`` has turned a chunked body into one of known length already."""
    try:
        length = max(0, int(environ.get("CONTENT_LENGTH") or 0))
    except ValueError:
        length = 0
    if length > MAX_ATTRS_BODY:
        return None
    body = environ["wsgi.input"].read(length) if length > 0 else b""
    environ["wsgi.input"] = io.BytesIO(body)
    environ["CONTENT_LENGTH"] = str(len(body))
    return body
