"""Small text helpers shared by every part of the service: a leaf, importing nothing of it."""

from __future__ import annotations

import datetime as dt
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


def not_a_file(path) -> str | None:
    """Why ``path`` cannot be read as a regular file, without opening it (a FIFO would block
    the reader): ``"no such file"``, ``"is a folder"``, ``"is a named pipe (FIFO)"``, ``"is a
    device"``, ``"is a socket"``, ``"is a symbolic link loop"``; None for a regular file."""
    import errno
    import os
    import stat

    try:
        mode = os.stat(path).st_mode
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return "is a symbolic link loop"
        if exc.errno in (errno.ENOENT, errno.ENOTDIR):
            return "no such file"
        return f"cannot be read ({exc.strerror})"
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISDIR(mode):
        return "is a folder"
    if stat.S_ISFIFO(mode):
        return "is a named pipe (FIFO)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "is a device"
    if stat.S_ISSOCK(mode):
        return "is a socket"
    return "is not a regular file"


def repeated(names: Iterable[Any]) -> tuple[str, int, int] | None:
    """The first name that appears twice, with both positions (from 1); None if all differ."""
    seen: dict[str, int] = {}
    for i, name in enumerate(names, 1):
        key = str(name)
        if key in seen:
            return key, seen[key], i
        seen[key] = i
    return None


def clean(value: Any) -> Any:
    """JSON-safe: NaN/inf -> None, datetimes -> ISO strings, tuples -> lists."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean(v) for v in value]
    return value


def fmt(value: Any) -> str:
    """A cell: ``format_value``, with yes/no for booleans and times to the second."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (list, tuple)):  # a multi-objective trial's values
        return ", ".join(fmt(v) for v in value)
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    return format_value(value)
