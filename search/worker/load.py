"""Reading a dataset into a ``SeriesData``: check, order, fill gaps by an explicit policy,
split, scale.

Splits are chronological (train, validation, test): by fractions of the rows, or at explicit
cut points (``split: {val_start, test_start}``, values of the time column); ``gap`` rows may be
left out before each cut. The scaler is fit on the training part only. A file may hold several
series (``series_id`` names the column): each is split by the same rule (fractions, or cut
points at the same times) and filled on its own, and the scaler is fit on every training part
together or per series (``scaler_scope``). The rows themselves are checked by
``search.worker.table`` (times parsed once, cells numeric, repeated times).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from search._format import did_you_mean
from search.errors import DataError
from search.worker import fill, gaps, known, ref_columns, sense, table
from search.worker.baselines import detect_seasons
from search.worker.data import SeriesData, part_ranges
from search.worker.origins import eval_step
from search.worker.table import read_table


def load_series(data: dict[str, Any], *, source: str = "", frame=None) -> SeriesData:
    """Read and prepare the dataset that a space's ``data`` section names.

    ``source`` prefixes error messages (the space file), e.g. ``"spaces/lstm.yaml: "``.
    ``frame``: the table already read (``search.worker.tasks`` passes one it has prepared).
    The rows are checked (``search.worker.table``): times parsed once, cells numeric, duplicate
    times by ``data.duplicates``; irregular time steps are a warning in ``info["warnings"]``.
    """
    prefix = f"{source}: " if source else ""
    path = Path(data["path"])
    frame = read_table(path, prefix) if frame is None else frame
    _check_columns(frame, data, path.name, prefix)
    table.check_rows(frame, path.name, prefix)
    time_column, series_id = data.get("time_column"), data.get("series_id")
    when = table.parse_times(frame[time_column], data.get("time_format"), path.name, prefix) if time_column is not None else None
    used = list(data["target"]) + [c for c in data["features"] if c not in data["target"]]
    future = [c for c in data.get("future_features") or () if c not in used]  # known ahead: the last file columns
    keys = {c: "target" if c in data["target"] else "features" for c in used} | {c: "future_features" for c in future}
    used += future
    policy = data["missing"]
    numbers = table.numeric_table(frame, used, keys, policy, path.name, prefix)
    frame, numbers, when, notes = _ordered(frame, numbers, when, data, path.name, prefix)
    rows = numbers.index.to_numpy()  # each row's number in the file, from 0
    numbers = numbers.reset_index(drop=True)
    gaps = numbers.isna().any(axis=1).to_numpy()
    n_missing = int(gaps.sum())
    if n_missing and policy == "error":
        first = int(rows[np.flatnonzero(gaps)[0]]) + 1
        raise DataError([f"{prefix}data.missing: {path.name} has {n_missing} rows with missing values (first at row {first}); set missing: interpolate or drop"])
    file_rows = rows + 1  # each sorted row's number in the file, from 1
    names, raws, kept = _fill_series(frame, numbers, series_id, policy if n_missing else None, path.name, prefix, file_rows)

    gap = int(data.get("gap", 0))
    cut = _cutter(data["split"], gap, when, time_column, prefix, data.get("time_format"))
    folds = int(data.get("val_folds", 1))
    segments, start = [], 0
    for name, raw, kept_rows in zip(names, raws, kept):
        a, b = cut(len(raw), kept_rows)
        a = _with_folds(a, b, gap, folds, name if series_id is not None else "", prefix)
        segments.append((start, start + a, start + b, start + len(raw)))
        start += len(raw)
    _check_cuts(segments, data["split"], gap, names if series_id is not None else None, path.name, prefix)
    raw = np.concatenate(raws) if raws else np.zeros((0, len(used)))
    test_times = _test_times(when, kept, segments, gap)  # the parsed times
    sense.check_size(raw, raw[:0], used, len(data["target"]), path.name, prefix)  # before the scaler squares them
    with np.errstate(over="ignore", invalid="ignore"):
        values, offset, scale, series_offset, series_scale = _scale(raw, segments, gap, data["scaler"], data.get("scaler_scope", "global"))
    sense.check_size(raw[:0], values, used, len(data["target"]), path.name, prefix)
    info = {
        "name": path.name,
        "rows": len(raw),
        "missing_policy": policy,
        "missing_rows": n_missing,
        "split_rows": [sum(max(e - s, 0) for s, e in part_ranges(segments, gap, name)) for name in ("train", "val", "test")],
    }
    info.update(notes)
    if gap:
        info["gap"] = gap
    if series_id is not None:
        info["series"] = len(segments)
        info["scaler_scope"] = data.get("scaler_scope", "global")
    first = segments[0]
    series = SeriesData(
        values,
        len(data["target"]),
        (first[1] - first[0], first[2] - first[0]),
        offset,
        scale,
        tuple(used),
        info,
        gap=gap,
        segments=tuple(segments) if series_id is not None else (),
        series_names=tuple(names) if series_id is not None else (),
        series_offset=series_offset,
        series_scale=series_scale,
        test_times=test_times,
        val_folds=folds,
    )
    if n_missing and policy == "interpolate":
        _check_filled(series, numbers, kept, file_rows, names, data, path.name, prefix)
    if _has_known(data):
        _add_known(series, data, _row_times(when, kept), raw, path.name, prefix)
    return series


def _check_filled(series: SeriesData, numbers, kept: list[np.ndarray], file_rows: np.ndarray, names: list[str], data: dict[str, Any], file_name: str, prefix: str) -> None:
    """After interpolation (``search.worker.gaps``): refuse a gap longer than ``data.max_gap``,
    mark the rows whose targets were filled (never scored), refuse a validation or test part
    left with too few observed targets, and record the bound and the filled target rows."""
    values, columns = numbers.to_numpy(dtype=np.float64), list(numbers.columns)
    inside = [g for name, rows in zip(names, kept) for g in gaps.inside_gaps(values[rows], columns, file_rows[rows], name)]
    bound, source = gaps.max_gap(data, lambda: detect_seasons(series))
    gaps.check_lengths(inside, bound, source, file_name, prefix)
    observed = ~np.isnan(values[:, : series.n_targets]).any(axis=1)
    observed = np.concatenate([observed[rows] for rows in kept])  # (T,) in the series' row order
    series.info["max_gap"] = bound
    series.info["filled_target_rows"] = int((~observed).sum())
    if observed.all():
        return
    series.observed = observed
    gaps.check_scored(series, int(data["horizon"]), eval_step(data), np.concatenate([file_rows[rows] for rows in kept]), file_name, prefix)


def _check_cuts(segments, split, gap: int, names, file_name: str, prefix: str) -> None:
    """Blame the key that empties a part: cut points at or past a series' end
    (``data.split``), or a ``data.gap`` that leaves no rows."""
    for i, (start, a, b, end) in enumerate(segments):
        n, which = end - start, f" of series {names[i]!r}" if names else ""
        if gap and 2 * gap >= n:
            raise DataError([f"{prefix}data.gap: {gap} rows left out twice leave nothing of the {n} rows{which} of {file_name}; lower data.gap"])
        if isinstance(split, dict):
            for key, cut in (("val_start", a), ("test_start", b)):
                if cut - start + gap >= n:
                    raise DataError([f"{prefix}data.split.{key}: {table.show(split[key])} is at or after the end of {file_name}{which} ({n} rows); "
                                     "a cut point must leave rows after it: move it earlier"])


def _has_known(data: dict[str, Any]) -> bool:
    """Whether the space asks for known-future columns: time features, future features, or a
    reference that can be ``mstl`` or ``seasonal`` (fixed, or among a searched key's choices;
    ``search.worker.ref_columns``)."""
    reference, features = data.get("reference", "last"), known.decided("time_features", data.get("time_features", "none"))
    times = any(v not in ("none", None, False) for v in getattr(features, "choices", [features]))
    return times or bool(data.get("future_features")) or bool({"mstl", "seasonal"} & set(getattr(reference, "choices", [reference])))


def _add_known(series: SeriesData, data: dict[str, Any], when, raw: np.ndarray, file_name: str, prefix: str) -> None:
    """Append the time feature columns and, when ``reference`` can be ``mstl``, the scaled
    seasonal profile of each target, refreshed at every row from the rows before it
    (``search.worker.ref_columns``). ``reference: seasonal``'s lag columns follow once the
    study's season is chosen (``search.driver.prepare``)."""
    given = data.get("season")
    seasons = sorted(set(given if isinstance(given, (list, tuple)) else [given])) if given else detect_seasons(series)
    spec = known.build_spec(data, when, seasons, prefix, file_name)
    segments = series.segments or ((0, *series.bounds, len(series.values)),)
    pos = np.concatenate([known.positions(spec, None if when is None else when[s:e], e - s) for s, _, _, e in segments])
    extra = [known.time_columns(spec, when, pos)]
    n_profile = 0
    reference = data.get("reference", "last")
    if "mstl" in getattr(reference, "choices", [reference]):
        extra.append(_mstl_columns(series, seasons, int(data["horizon"]), file_name, prefix))
        spec["mstl"] = {"seasons": series.info.pop("mstl_seasons"), "refresh": {"horizon": int(data["horizon"]), "cycles": ref_columns.PROFILE_CYCLES}}
        n_profile = series.n_targets
    series.values = np.concatenate([series.values, *extra], axis=1)
    series.n_known = len(spec["future_features"]) + known.n_time_columns(spec)
    series.n_profile = n_profile
    series.known = spec
    series.info["known_future"] = {k: spec[k] for k in ("time_features", "seasons", "future_features")} | ({"mstl_seasons": spec["mstl"]["seasons"]} if n_profile else {})


def _mstl_columns(series: SeriesData, seasons: list[int], horizon: int, file_name: str, prefix: str) -> np.ndarray:
    """Each target's refreshed seasonal profile (``search.worker.ref_columns``), scaled like the
    target without its offset, over the seasons that every training part holds twice."""
    segments = series.segments or ((0, *series.bounds, len(series.values)),)
    train = part_ranges(segments, series.gap, "train")
    used = [m for m in seasons if all(hi - lo >= 2 * m for lo, hi in train)]
    if not used:
        raise DataError([f"{prefix}data.reference: mstl needs a season with two whole cycles in every training part of {file_name}, and none is found; set data.season, or use reference: last"])
    columns = np.zeros((len(series.values), series.n_targets), np.float32)
    for s, _, _, e in segments:
        for j in range(series.n_targets):
            columns[s:e, j] = ref_columns.refreshed_profile(series.values[s:e, j], used, horizon)  # linear: scaled values give the scaled profile
    series.info["mstl_seasons"] = [int(m) for m in used]
    return columns


def _row_times(when, kept: list[np.ndarray]):
    """Every kept row's parsed time (datetime64 or float64), in the series' row order; None
    without a time column."""
    if when is None:
        return None
    values = when.to_numpy()
    return np.concatenate([values[rows] for rows in kept]) if kept else values[:0]


def _test_times(times, kept: list[np.ndarray], segments, gap: int) -> tuple[np.ndarray, ...]:
    """Per series, the time column's values at the rows of its test part: float64 for numbers,
    datetime64 for anything pandas reads as a time, else strings; () without a time column.
    Only the test parts are kept (the forecast figure's x axis), not every row's time."""
    if times is None:
        return ()
    import pandas as pd

    if pd.api.types.is_numeric_dtype(times):
        values = times.to_numpy(dtype=np.float64)
    else:
        try:
            values = pd.to_datetime(times).to_numpy()
        except (TypeError, ValueError):
            values = times.astype(str).to_numpy()
    out = []
    for rows, (start, _, _, end), (lo, hi) in zip(kept, segments, part_ranges(segments, gap, "test")):
        out.append(values[rows[lo - start : hi - start]])
    return tuple(out)


def _filled(frame, numbers, when, sids, raw_times, time_column: str, file_name: str, prefix: str):
    """The sorted rows with a row of empty cells for every missing time (``data.fill_gaps``,
    ``search.worker.fill.fill_times``): an inserted row keeps the number of the file row
    before it (for messages) and its series; the count inserted last."""
    import pandas as pd

    filled = fill.fill_times(when.to_numpy(), sids)
    if filled is None:
        return frame, numbers, when, sids, raw_times, 0
    source, inserted, times = filled
    added = int(inserted.sum())
    if added > fill.MAX_FILLED * len(when):
        raise DataError([f"{prefix}data.fill_gaps: column {time_column!r} of {file_name} would need {added} rows added to its {len(when)} "
                         f"to be regular; its times are not a regular series with gaps: set fill_gaps: false"])  # fmt: skip
    values = numbers.to_numpy(dtype=np.float64)[source]
    values[inserted] = np.nan
    numbers = pd.DataFrame(values, index=numbers.index.to_numpy()[source], columns=numbers.columns)
    shown = np.asarray(raw_times, dtype=object)[source]
    shown[inserted] = [str(t) for t in times[inserted]]
    return frame.iloc[source], numbers, pd.Series(times), (sids[source] if sids is not None else None), shown, added


def _ordered(frame, numbers, when, data: dict[str, Any], file_name: str, prefix: str):
    """The rows sorted by series and parsed time, repeated times treated by
    ``data.duplicates`` (error, mean, first, last), and notes for ``info``: how many rows
    the policy merged, and a warning when the time steps are irregular."""
    time_column, series_id = data.get("time_column"), data.get("series_id")
    if time_column is None and series_id is None:
        return frame, numbers, when, {}
    order = table.order_rows(frame, when, series_id)
    frame, numbers = frame.iloc[order], numbers.iloc[order]
    if when is None:
        return frame, numbers, when, {}
    when = when.iloc[order].reset_index(drop=True)
    sids = frame[series_id].to_numpy() if series_id is not None else None
    raw_times = frame[time_column].to_numpy()
    repeat = table.repeated_times(when.to_numpy(), sids)
    notes: dict[str, Any] = {}
    if repeat.any():
        policy = data.get("duplicates", "error")
        if policy == "error":
            raise table.duplicates_error(repeat, numbers.index.to_numpy(), raw_times, time_column, file_name, prefix, when.to_numpy())
        keep, numbers = table.collapse(numbers, repeat, policy)
        frame, when = frame.iloc[keep], when.iloc[keep].reset_index(drop=True)
        sids = sids[keep] if sids is not None else None
        raw_times = raw_times[keep]
        notes["duplicate_rows"] = int(repeat.sum())
    if data.get("fill_gaps") is True:  # "auto" undecided (a classify task) fills nothing
        frame, numbers, when, sids, raw_times, added = _filled(frame, numbers, when, sids, raw_times, time_column, file_name, prefix)
        if added:
            notes["filled_times"] = added
    warning = table.spacing_warning(when.to_numpy(), sids, numbers.index.to_numpy(), raw_times, time_column, file_name, prefix)
    if warning:
        notes["warnings"] = [warning]
    return frame, numbers, when, notes


def _check_columns(frame, data: dict[str, Any], file_name: str, prefix: str) -> None:
    """Every column the ``data`` section names is in the file (all problems at once)."""
    columns = [str(c) for c in frame.columns]
    listed = ", ".join(columns)
    problems = []
    for key in ("target", "features", "future_features"):
        for name in data.get(key) or ():
            if name not in columns:
                problems.append(f"{prefix}data.{key}: column {name!r} is not in {file_name}{did_you_mean(name, columns)} (columns: {listed})")
    for key in ("time_column", "series_id"):
        name = data.get(key)
        if name is not None and name not in columns:
            problems.append(f"{prefix}data.{key}: column {name!r} is not in {file_name} (columns: {listed})")
    if problems:
        raise DataError(problems)


def _fill_series(frame, numbers, series_id: str | None, policy: str | None, file_name: str, prefix: str, file_rows: np.ndarray) -> tuple[list[str], list[np.ndarray], list[np.ndarray]]:
    """Each series' name, its rows as float64 after the missing-value ``policy``
    (interpolate or drop; None: nothing missing) and the positions of the rows it kept.
    Each series is filled on its own: interpolation never reaches into another series, so a
    column without any value in one series is refused, and so are missing values before a
    column's first or after its last value (``search.worker.gaps.check_ends``)."""
    if series_id is None:
        groups = [("", numbers)]
    else:
        keys = frame[series_id].to_numpy()
        cuts = [0, *(np.flatnonzero(keys[1:] != keys[:-1]) + 1).tolist(), len(keys)]
        groups = [(str(keys[i]), numbers.iloc[i:j]) for i, j in zip(cuts, cuts[1:])]
    names, raws, kept = [], [], []
    for name, part in groups:
        if policy == "interpolate":
            empty = [c for c in part.columns if part[c].isna().all()]
            if empty and len(part):
                raise DataError([f"{prefix}data.missing: column {empty[0]!r} of {file_name} has no value in series {name!r}; nothing to interpolate from: fill it in, or set missing: drop"])
            positions = part.index.to_numpy()
            gaps.check_ends(part.to_numpy(dtype=np.float64), list(part.columns), file_rows[positions], name, file_name, prefix)
            part = part.interpolate(method="linear", limit_area="inside")  # lengths checked by _check_filled
        elif policy == "drop":
            part = part.dropna()
        names.append(name)
        raws.append(part.to_numpy(dtype=np.float64))
        kept.append(part.index.to_numpy())  # positions in the sorted table (and its times)
    return names, raws, kept


def _scale(raw: np.ndarray, segments, gap: int, kind: str, scope: str):
    """Scaled float32 values and the scalers, fit on the training parts only: one for all
    series (``offset``, ``scale``), and with ``scope`` series also one per series."""
    train_parts = part_ranges(segments, gap, "train")
    offset, scale = _fit_scaler(np.concatenate([raw[lo:hi] for lo, hi in train_parts]), kind)
    if scope != "series":
        values = ((raw - offset) / scale).astype(np.float32)
        return values, offset.astype(np.float32), scale.astype(np.float32), None, None
    fits = [_fit_scaler(raw[lo:hi], kind) for lo, hi in train_parts]
    series_offset = np.stack([f[0] for f in fits])  # (S, F)
    series_scale = np.stack([f[1] for f in fits])
    rows = np.repeat(np.arange(len(segments)), [e - s for s, _, _, e in segments])  # (T,) series of each row
    values = ((raw - series_offset[rows]) / series_scale[rows]).astype(np.float32)
    return values, offset.astype(np.float32), scale.astype(np.float32), series_offset.astype(np.float32), series_scale.astype(np.float32)


def _with_folds(a: int, b: int, gap: int, folds: int, name: str, prefix: str) -> int:
    """The end of the training part with ``folds`` validation folds: the validation part
    grows by ``folds - 1`` stretches of its own length, taken from the end of the training
    part (``data.val_folds``)."""
    if folds <= 1:
        return a
    moved = a - (folds - 1) * max(b - a - gap, 0)
    if moved <= 0:
        which = f" of series {name!r}" if name else ""
        raise DataError([f"{prefix}data.val_folds: {folds} folds of the validation part's {b - a - gap} rows leave no training rows{which}; lower val_folds or change data.split"])
    return moved


def _cutter(split, gap: int, times, time_column: str | None, prefix: str, time_format: str | None = None):
    """``cut(n, rows) -> (a, b)``: a series' train part ends at row ``a`` and the
    validation part at ``b`` (relative rows; ``gap`` rows follow each, see ``part_ranges``).

    ``split`` is either train / validation / test fractions of the rows left after the gaps,
    or cut points ``{val_start, test_start}``: where validation and test begin, as values of
    the time column (numbers, or times read like the column, ``time_format`` included) or,
    without a time column, as row numbers within each series. The ``gap`` rows before each
    cut are left out. ``times``: the parsed time column, sorted (``table.parse_times``).
    """
    if not isinstance(split, dict):
        train_frac, val_frac, _ = split

        def by_fraction(n: int, _rows) -> tuple[int, int]:
            usable = max(n - 2 * gap, 0)
            return int(round(usable * train_frac)), int(round(usable * (train_frac + val_frac))) + gap

        return by_fraction
    if times is None:
        return lambda n, _rows: (split["val_start"] - gap, split["test_start"] - gap)

    import pandas as pd

    numeric = pd.api.types.is_numeric_dtype(times)
    points = {}
    for key in ("val_start", "test_start"):
        value = split[key]
        try:
            points[key] = float(value) if numeric else table.parse_point(value, time_format)
        except (TypeError, ValueError):
            example = times.iloc[0] if len(times) else "?"
            raise DataError([f"{prefix}data.split.{key}: {table.show(value)} is not a value like those of time column {time_column!r} (e.g. {table.show(example)})"]) from None
    if not points["val_start"] < points["test_start"]:
        raise DataError([f"{prefix}data.split.test_start: {split['test_start']!r} must come after val_start {split['val_start']!r}"])

    when_all = times.to_numpy(dtype=np.float64) if numeric else times.to_numpy()  # parsed once

    def by_time(n: int, rows) -> tuple[int, int]:
        when = when_all[rows]  # this series' times, in order
        a0, b0 = np.searchsorted(when, [points["val_start"], points["test_start"]], side="left")
        return int(a0) - gap, int(b0) - gap

    return by_time


def _fit_scaler(train: np.ndarray, kind: str) -> tuple[np.ndarray, np.ndarray]:
    """(offset, scale) fit on the training part only (an empty part, which the window check
    rejects later, gets the identity)."""
    if len(train) == 0:
        return np.zeros(train.shape[1]), np.ones(train.shape[1])
    if kind == "standard":
        offset, scale = train.mean(axis=0), train.std(axis=0)
    elif kind == "minmax":
        offset, scale = train.min(axis=0), train.max(axis=0) - train.min(axis=0)
    else:
        offset, scale = np.zeros(train.shape[1]), np.ones(train.shape[1])
    return offset, np.where(scale > 0, scale, 1.0)
