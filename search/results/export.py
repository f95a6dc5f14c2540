"""``search export``: every trial of a study as CSV or JSON, written while it is read.

The trials are read once without their intermediate values (the CSV's columns come from
them), then ``EXPORT_CHUNK`` trials' intermediate values at a time, so a study of a million
intermediate values is never held whole.
"""

from __future__ import annotations

import csv
import io
import json
import math
from typing import Any, Iterator, TextIO

import optuna
from optuna.trial import FrozenTrial

import storage as storage_mod
from search.errors import UsageError
from search.results.tables import clean, duration_seconds, union_keys, value_of
from search.study_attrs import flat


EXPORT_FORMATS = ("csv", "json")


EXPORT_CHUNK = 1000  # trials read at once (with their intermediate values) while exporting


def export_rows(study: optuna.Study) -> Iterator[dict[str, Any]]:
    """Every trial, JSON-ready: number, state, value, times, duration, params, user attrs,
    intermediate values ({step: value}). The trials are read without their intermediate values,
    which are then read and yielded ``EXPORT_CHUNK`` trials at a time: a study of a million
    intermediate values is never held whole."""
    yield from _export_rows(study, storage_mod.read_trials(study._storage, study._study_id, intermediate_values=False))


def _export_rows(study: optuna.Study, trials: list[FrozenTrial]) -> Iterator[dict[str, Any]]:
    for k in range(0, len(trials), EXPORT_CHUNK):
        chunk = trials[k : k + EXPORT_CHUNK]
        steps = storage_mod.read_intermediate_values(study._storage, [t._trial_id for t in chunk])
        for t in chunk:
            curve = steps.get(t._trial_id, {})
            yield {
                "number": t.number,
                "state": t.state.name,
                "value": value_of(t),
                "datetime_start": clean(t.datetime_start),
                "datetime_complete": clean(t.datetime_complete),
                "duration_seconds": duration_seconds(t) if t.datetime_complete else None,
                "params": clean(dict(t.params)),
                "user_attrs": clean(dict(t.user_attrs)),
                "intermediate_values": {str(step): v if math.isfinite(v) else None for step, v in sorted(curve.items())},
            }


def export_text(study: optuna.Study, fmt_name: str) -> str:
    """The export (``write_export``) as one string."""
    buf = io.StringIO()
    write_export(study, fmt_name, buf)
    return buf.getvalue()


def write_export(study: optuna.Study, fmt_name: str, out: TextIO) -> int:
    """Write the export to ``out`` as it is read: CSV (one row per trial; params_*/user_attrs_*
    columns, intermediate values as a JSON object) or JSON (the study's facts and a list of
    trials). Returns the number of trials written. The CSV's columns are known before its first
    row from a first pass over the trials without their intermediate values."""
    if fmt_name not in EXPORT_FORMATS:
        raise UsageError(f"--format {fmt_name}: choose one of {', '.join(EXPORT_FORMATS)}")
    n = 0
    if fmt_name == "json":
        head = {
            "study": study.study_name,
            "directions": [d.name.lower() for d in study.directions],
            "user_attrs": clean(dict(flat(study))),
            "trials": [],
        }
        text = json.dumps(head, indent=2)
        out.write(text[: text.rindex("[]")] + "[")  # "trials" is the last key: its list is streamed
        for r in export_rows(study):
            out.write(("," if n else "") + "\n    " + json.dumps(r, indent=2).replace("\n", "\n    "))
            n += 1
        out.write("\n  ]\n}\n" if n else "]\n}\n")
        return n
    light = storage_mod.read_trials(study._storage, study._study_id, intermediate_values=False)
    params = union_keys(t.params for t in light)
    attrs = union_keys(t.user_attrs for t in light)
    head = ["number", "state", "value", "datetime_start", "datetime_complete", "duration_seconds"]
    columns = head + [f"params_{p}" for p in params] + [f"user_attrs_{a}" for a in attrs] + ["intermediate_values"]
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for r in _export_rows(study, light):
        cells = [r[k] for k in head]
        cells += [r["params"].get(p) for p in params]
        cells += [r["user_attrs"].get(a) for a in attrs]
        cells.append(json.dumps(r["intermediate_values"]))
        writer.writerow(["" if c is None else json.dumps(c) if isinstance(c, (dict, list)) else c for c in cells])
        n += 1
    return n
