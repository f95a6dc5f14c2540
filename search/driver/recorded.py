"""What a resumed forecasting study runs its data-decided keys with (``reference`` and
``time_features`` left to ``auto``): the values it was made with, not a new decision
(``search.driver.defaults``)."""

from __future__ import annotations

import json

import optuna

from search.driver import defaults
from search.driver.fork import CONTENT_ATTR
from search.driver.prepare import Prepared, prepare
from search.errors import StudyMismatchError
from search.study_attrs import flat


def as_recorded(study: optuna.Study, prep: Prepared) -> Prepared:
    """A resumed forecasting study runs ``reference`` and ``time_features`` as it was made with
    (its space's hash leaves out auto and the old defaults, see ``CompiledSpace.hash``): keys
    the space leaves to the data take the study's recorded values (for a study made before
    these defaults, those its stored space holds; ``search.driver.defaults.ran_with``), and the
    space is prepared again with them where they differ; a key written out that differs from
    what the study ran is refused, as a changed space is."""
    attrs = flat(study)
    content = attrs.get(CONTENT_ATTR)
    stored = json.loads(content) if isinstance(content, str) else None
    data, fixed = prep.compiled.space.data, prep.compiled.fixed["data"]
    if stored is None or prep.series.task != "forecast" or prep.compiled.space.train.get("continuous_eval"):
        return prep
    old, changed = {}, []
    for key in defaults.RECORDED_KEYS:
        was = defaults.ran_with(attrs, stored, key)
        if was is None or key in prep.compiled.distributions:
            continue
        if key in prep.decision.chosen:
            old[key] = was
        elif json.loads(json.dumps(fixed.get(key), default=str)) != json.loads(json.dumps(was, default=str)):
            changed.append(f"data.{key} {was} -> {data.get(key)}")
    if changed:
        raise StudyMismatchError(
            f"study {prep.study_name!r} ran with other settings ({'; '.join(changed)}); write the study's values (or auto) to resume it, "
            "add --fork NEW_NAME to continue in a new study seeded with its trials, or use --study NEW_NAME for an empty one"
        )
    if not old or old == prep.decision.chosen:
        return prep
    return prepare(prep.compiled.space.path, list(prep.overrides), prep.study_name, decided=old)
