"""Small text helpers shared by every part of the service: a leaf, importing nothing of it."""

from __future__ import annotations

import difflib
import math
from typing import Any, Iterable


def format_value(value: Any) -> str:
    """A metric or param as printed: floats to 6 significant digits, None and NaN as ``-``."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def did_you_mean(name: Any, valid: Iterable[Any]) -> str:
    """``"; did you mean 'lookback'?"`` for the closest valid name, or ``""``."""
    close = difflib.get_close_matches(str(name), [str(v) for v in valid], n=1)
    return f"; did you mean '{close[0]}'?" if close else ""
