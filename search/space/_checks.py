"""Small helpers shared by the validator's parts."""

from __future__ import annotations

import json

from search.space._fields import Field


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _fmt(values, limit: int = 8) -> str:
    values = list(values)
    shown = ", ".join(map(str, values[:limit]))
    return shown + (f", ... ({len(values)} in all)" if len(values) > limit else "")


def _listed(spec: Field, value) -> str:
    """For a list given to a searchable number key: how to search those values."""
    if spec.searchable and isinstance(value, list) and value and all(_is_number(v) and not isinstance(v, bool) for v in value):
        return f"; to search these values write {{choices: [{', '.join(str(v) for v in value)}]}}"
    return ""


def _example(spec: Field, key: str) -> str:
    if spec.default is None or spec.kind in ("columns", "fractions"):
        return ""
    return f"; e.g. {key}: {json.dumps(spec.default)}"


class _Invalid(Exception):
    """One candidate value failed its check (already recorded by the validator)."""
