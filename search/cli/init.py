"""``search init DATA --target COL [--time-column C] [--series-id COL] [--horizon H] [--out FILE]``: a commented
forecasting space for a data file, that runs as it is.

What it reads from the data (through the project's own loader and baselines, on a draft space):
the rows and the missing values, the significant seasons of the training part
(``search.worker.baselines.detect_seasons``) and which seasonal naive forecasts the validation
part best. What it writes:

- ``data.season``: the detected seasons (null when none stands out);
- ``data.lookback``: a range from the season the horizon needs (the shortest detected season
  at least as long as the horizon, else as many cycles of the longest one as cover the
  horizon; without a season, twice the horizon) to twice that, each value whole windows the
  training part holds;
- ``data.reference: auto`` and ``data.time_features: auto``, decided per study from the data
  (``search.driver.defaults``), with what they choose on this file in the comment;
- ``data.eval_origins: horizon`` (non-overlapping validation and test windows, as benchmarks
  score) where the validation part holds ``MIN_HORIZON_WINDOWS`` of them and missing targets
  leave them forecasting most observed rows (``search.worker.gaps.scored_share``), else ``every``;
- ``train.epochs``: an epoch budget sized to the training rows (about ``WINDOW_BUDGET`` training
  windows a trial, between ``MIN_EPOCHS`` and ``MAX_EPOCHS`` epochs), with early stopping;
- ``model.family: lstm``: the recurrent family, the cheapest per epoch on a CPU (gru is a
  drop-in swap; tcn and transformer take other model keys, see spaces/tcn.yaml).

The written space is checked as ``search validate`` checks it before the file is written; a
bad flag is one line naming it (exit 2), and nothing is written.
"""

from __future__ import annotations

import logging
import os
import tempfile
import textwrap
from pathlib import Path

from rich.console import Console

from search.cli import init_columns
from search.errors import SearchError, UsageError
from search.worker.table import CLOCK_CHANGE_HINT

# Validation forecasts every horizon steps only where the validation part holds this many of
# them; fewer non-overlapping windows are too few numbers to rank trials and serve on (every
# step is then an origin: every point of the part is a target, each in several windows)
MIN_HORIZON_WINDOWS = 20
WINDOW_BUDGET = 150_000  # training windows one trial reads at most (epochs x windows per epoch)
MIN_EPOCHS, MAX_EPOCHS = 5, 40
TRAIN_FRACTION = 0.7  # the default split's training part
SCHEMA_FILE = "space.schema.json"  # written beside a space that --out writes, named by its $schema line


def cmd_init(args, console: Console) -> int:
    data = Path(args.data)
    columns = init_columns.columns(data)
    if args.time_column is None:
        args.time_column = init_columns.dates_column(data, columns, args.target)
        if args.time_column is not None:
            console.print(f"time column: {args.time_column!r}, the column of dates in {data.name} (--time-column names another; none: the rows in file order)", highlight=False)
    elif args.time_column == "none" and "none" not in columns:
        args.time_column = None
    series_id = args.series_id
    for flag, name in (("--target", args.target), ("--time-column", args.time_column), ("--series-id", series_id)):
        if name is not None and name not in columns:
            raise UsageError(f"{flag} {name!r}: {data.name} has no such column (columns: {', '.join(columns)})")
    if args.time_column is not None and args.time_column == args.target:
        raise UsageError(f"--time-column {args.time_column!r}: is also --target; the time column cannot be forecast")
    if series_id is not None and series_id in (args.target, args.time_column):
        raise UsageError(f"--series-id {series_id!r}: is also {'--target' if series_id == args.target else '--time-column'}; name the column that tells the series apart")
    if series_id is None and args.time_column is not None:
        series_id = init_columns.series_column(data, args.target, args.time_column)
        if series_id is not None:
            console.print(f"series id: {series_id!r}, the column that splits the repeated times of {data.name} into series (--series-id names another)", highlight=False)
    args.series_id = series_id
    repeats, args.fill_gaps = init_columns.time_facts(data, args.time_column, series_id) if args.time_column is not None else (0, 0)
    args.duplicates = "mean" if repeats else None
    if repeats:
        console.print(f"duplicates: mean, for the {repeats} row{'s' if repeats != 1 else ''} whose local time repeats where clocks go back (daylight saving time)", highlight=False)
    if args.horizon < 1:
        raise UsageError(f"--horizon {args.horizon}: must be at least 1")
    out = Path(args.out) if args.out else None
    if out is not None:
        if out.exists():
            raise UsageError(f"--out {out}: exists; give a new file name (nothing is overwritten)")
        if not out.parent.is_dir():
            raise UsageError(f"--out {out}: no such folder {out.parent}")
    folder = (out.parent if out is not None else Path.cwd()).resolve()
    rel = Path(os.path.relpath(data.resolve(), folder)).as_posix()
    _space_file.told = set()  # each warning once per command
    facts = _facts(rel, folder, args)
    if args.fill_gaps:
        which = f"each of the {args.fill_gaps} missing times" if args.fill_gaps != 1 else "the 1 missing time"
        console.print(f"fill_gaps: true, a row for {which} between the rows of {data.name} (interpolated, never scored)", highlight=False)
    text = space_text(rel, args.target, args.time_column, args.horizon, facts, args.series_id, args.duplicates, bool(args.fill_gaps))
    decision = _check(text, folder)
    if out is None:
        console.print(text, end="", highlight=False, markup=False, soft_wrap=True)
        return 0
    schema = _schema_beside(out)
    out.write_text(f"# yaml-language-server: $schema={SCHEMA_FILE}\n{text}", encoding="utf-8")
    if schema:
        console.print(f"wrote {schema}: the space file's JSON Schema, for editors that complete and check keys (search schema prints it)", highlight=False)
    console.print(f"wrote {out}: {facts['rows']} rows, seasons {facts['seasons'] or 'none'}, lookback {facts['lookback'][0]}-{facts['lookback'][1]}, {facts['epochs']} epochs; {decision}", highlight=False)
    console.print(f"run it: search run {out} --trials 20", highlight=False)
    return 0


def _schema_beside(out: Path) -> Path | None:
    """Write the space file's JSON Schema as ``space.schema.json`` beside ``out`` (the file the
    written space's ``$schema`` line names, as the shipped spaces name theirs), unless one is
    there already (it is never overwritten); the path written, or None."""
    import json

    from search.space.schema import json_schema

    path = out.parent / SCHEMA_FILE
    if path.exists():
        return None
    path.write_text(json.dumps(json_schema(), indent=2) + "\n", encoding="utf-8")
    return path


def _facts(rel: str, folder: Path, args) -> dict:
    """What the data says, from a draft space through the project's loader: rows, missing
    values, detected seasons, the validation-best seasonal naive."""
    from search.driver import defaults
    from search.driver.prepare import profile_metrics, prepare, seasonal_problem

    draft = space_text(rel, args.target, args.time_column, args.horizon, None, args.series_id, args.duplicates, bool(args.fill_gaps))
    with _space_file(draft, folder) as path:
        try:
            prep = prepare(path)
        except SearchError as exc:
            if args.fill_gaps:  # gaps too long to fill (data.max_gap): the rows as they are, and the loader's warning
                args.fill_gaps = 0
                return _facts(rel, folder, args)
            raise UsageError(_as_flags(exc, path)) from None
        series = prep.series
        attrs = series.naive_attrs(args.horizon, prep.compiled.space.data, "mae")
        seasons = [int(m) for m in attrs.get("seasons", [])]
        data = defaults.neutral(prep.compiled.space.data)
        profile = profile_metrics(data, args.horizon, str(path)) if seasons else None
    train_rows = min(end - start for start, end in series.parts("train"))
    need = next((m for m in seasons if m >= args.horizon), max(seasons, default=None))
    # at least a horizon of history, in whole cycles of that season (a weekly season, 28 days ahead: 28)
    low = need * -(-args.horizon // need) if need is not None else 2 * args.horizon
    fits = max(1, train_rows - args.horizon)  # the longest lookback a training window holds
    low = max(1, min(low, fits // 4))
    high = max(low, min(2 * low, fits // 2))
    windows = max(1, train_rows - high - args.horizon + 1)
    val_rows = min(end - start for start, end in series.parts("val"))
    from search.worker.gaps import MIN_SCORED, scored_share

    # origins every horizon steps keep the parts' observed rows scored (a missing target loses its whole window)
    whole = all(scored >= 1 and share >= MIN_SCORED for part in ("val", "test") for scored, _, share in scored_share(series, part, args.horizon, args.horizon))
    epochs = int(min(MAX_EPOCHS, max(MIN_EPOCHS, round(WINDOW_BUDGET / windows))))
    decision = defaults.decide(attrs, {k: defaults.AUTO for k in defaults.KEYS}, "mae", lambda: seasonal_problem(series), profile)
    return {
        "decision": decision.describe(),
        "rows": int(series.info["rows"]),
        "missing": int(series.info.get("missing_rows") or 0),
        "train_rows": int(train_rows),
        "seasons": seasons,
        "best_season": attrs.get("seasonal_naive_season"),
        "lookback": (int(low), int(high)),
        "epochs": epochs,
        "windows": int(windows),
        "val_windows": int(val_rows // max(args.horizon, 1)),  # non-overlapping validation windows
        "whole_windows": bool(whole),
    }


class _space_file:
    """A temporary space file in ``folder`` (so its relative data path holds), removed after.
    What the project's loader warns about it (irregular time steps) is told once, by the flag
    that set the key, not by the temporary file's name."""

    told: set[str] = set()  # warnings already told by this command

    def __init__(self, text: str, folder: Path):
        self.text, self.folder = text, folder

    def __enter__(self) -> Path:
        try:
            fd, name = tempfile.mkstemp(prefix=".search-init-", suffix=".yaml", dir=self.folder)
        except OSError as exc:
            raise UsageError(f"--out {self.folder}: cannot write there ({exc.strerror or exc})") from None
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(self.text)
        self.path = Path(name)
        self.heard: list[str] = []
        self.filter = _Hear(self.heard)
        logging.getLogger(LOADER_LOG).addFilter(self.filter)
        return self.path

    def __exit__(self, *exc) -> None:
        logging.getLogger(LOADER_LOG).removeFilter(self.filter)
        self.path.unlink(missing_ok=True)
        for line in self.heard:
            said = "warning: " + _as_flags(SearchError(line.removeprefix("warning: ")), self.path)
            if said not in _space_file.told:
                _space_file.told.add(said)
                logging.getLogger(LOADER_LOG).warning("%s", said)


class _Hear(logging.Filter):
    """Keeps the loader's warnings about a draft space instead of letting them through."""

    def __init__(self, heard: list[str]):
        super().__init__()
        self.heard = heard

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.WARNING:
            self.heard.append(record.getMessage())
            return False
        return True


def _check(text: str, folder: Path) -> str:
    """Prepare the written space as ``search validate`` does; what its auto keys chose."""
    from search.driver.prepare import prepare

    with _space_file(text, folder) as path:
        try:
            prep = prepare(path)
        except SearchError as exc:
            raise UsageError(_as_flags(exc, path)) from None
    return prep.decision.describe() or "nothing left to the data"


LOADER_LOG = "search.space"  # the logger search.driver.prepare warns through
FLAGS = {"data.target": "--target", "data.time_column": "--time-column", "data.series_id": "--series-id", "data.horizon": "--horizon", "data.path": "DATA", "data.lookback": "--horizon",
         "data.duplicates": "--time-column"}  # fmt: skip
PANEL_HINT = "; a file of several series: name the column that tells them apart with --series-id"


def _as_flags(exc: SearchError, path: Path) -> str:
    """The first problem of a draft space, told by the flag that set the key."""
    line = (getattr(exc, "problems", None) or [str(exc)])[0]
    line = line.replace(f"{path}: ", "").replace(str(path), "the space")
    for key, flag in FLAGS.items():
        if key in line:
            head, _, rest = line.partition(key)
            rest = rest.split(": ", 1)[-1] if ": " in rest else rest
            return f"{flag}: {rest}" + (PANEL_HINT if key == "data.duplicates" and CLOCK_CHANGE_HINT not in rest else "")
    return line


def _lookback_range(low: int, high: int) -> str:
    if low == high:
        return str(low)
    step = max(1, (high - low) // 4)
    high = low + step * ((high - low) // step)
    return f"{{type: int, low: {low}, high: {high}, step: {step}}}"


def space_text(rel: str, target: str, time_column: str | None, horizon: int, facts: dict | None, series_id: str | None = None, duplicates: str | None = None, fill_gaps: bool = False) -> str:
    """The space file's text. ``facts`` None: the draft that the data is first read with."""
    lines = [
        f"# Forecasting space for {Path(rel).name}, written by `search init` ({target}, {horizon} step{'s' if horizon != 1 else ''} ahead).",
        "#",
        "#   search validate THIS_FILE; search run THIS_FILE --trials 20",
        "#",
    ]
    if facts is not None:
        seasons = ", ".join(map(str, facts["seasons"])) or "none"
        best = facts["best_season"]
        lines += [
            f"# The data: {facts['rows']} rows ({facts['missing']} with a missing value), {facts['train_rows']} in the training part;",
            f"# detected seasons: {seasons}" + (f"; the seasonal naive of {best} forecast the validation part best." if best else "."),
            "# Edit any key; a key a comment does not name keeps its default (spaces/lstm.yaml documents them all).",
            "#",
        ]
    lines += [
        "# Any key marked searchable takes a fixed value or a range: {type: int, low: A, high: B, step: S},",
        "# {type: float, low: A, high: B, log: true}, {choices: [a, b]}.",
        "",
        f"description: LSTM forecaster of {target} in {Path(rel).name}, {horizon} step{'s' if horizon != 1 else ''} ahead (written by search init).",
        "",
        "model:",
        "  # Model family: lstm, the recurrent family that trains cheapest per epoch on a CPU; gru is",
        "  # a drop-in swap (same keys); tcn and transformer take other model keys (spaces/tcn.yaml).",
        "  family: lstm",
        "  # Units per recurrent layer, comma-separated (\"64,32\": two layers). Searchable.",
        "  layer_sizes: {choices: [\"32\", \"64\", \"64,32\"]}",
        "  # Dropout between recurrent layers (no effect with one layer). Searchable.",
        "  dropout: {type: float, low: 0.0, high: 0.3}",
        "",
        "data:",
        "  # The data file, relative to this space file.",
        f"  path: {_yaml_str(rel)}",
    ]
    if time_column is not None:
        lines += ["  # Column of the time stamps; the rows are sorted by it.", f"  time_column: {_yaml_str(time_column)}"]
    else:
        lines += ["  # No time column: the rows are in time order as the file holds them; time_features can", "  # only be the position within each season."]
    if series_id is not None:
        lines += ["  # Column naming each row's series: each is split, windowed and scored on its own.", f"  series_id: {_yaml_str(series_id)}"]
    if duplicates is not None:
        lines += ["  # Local times repeat where clocks go back (daylight saving time): the rows of a repeated", "  # time are averaged into one.", f"  duplicates: {duplicates}"]
    if fill_gaps:
        lines += ["  # Times are missing between the rows: a row of empty cells is added for each, so that", "  # the rows keep the calendar's rhythm (interpolated below; a filled target is never scored).", "  fill_gaps: true"]
    lines += [
        "  # Column to forecast.",
        f"  target: {_yaml_str(target)}",
        "  # Rows with a missing value are filled by linear interpolation (only observed values are scored).",
        "  missing: interpolate",
        "  # Chronological train / validation / test fractions.",
        "  split: [0.7, 0.15, 0.15]",
        "  # Steps predicted per window.",
        f"  horizon: {horizon}",
    ]
    if facts is None:
        lines += ["  lookback: 1", "  reference: last", "  time_features: none"]  # origins at every step: scored with the fewest refusals
        lines += ["", "objective:", "  metric: mae"]  # the seasonal naive's season chosen by the final space's metric
    else:
        low, high = facts["lookback"]
        lines += [
            "  # Seasonal-naive candidates and the seasons of MSTL, as detected on the training part",
            "  # (null: detect again when the search starts).",
            f"  season: {('[' + ', '.join(map(str, facts['seasons'])) + ']') if facts['seasons'] else 'null'}",
            "  # Input window length in steps: from the season the horizon needs (the shortest detected season",
            "  # at least as long as the horizon, else whole cycles of the longest covering the horizon;",
            "  # without one, twice the horizon) to twice that. Searchable.",
            f"  lookback: {_lookback_range(low, high)}",
            "  # What the model forecasts relative to: auto decides once per study from the validation part,",
            "  # where the seasonal naive beats the naive forecast: mstl (the deviation from the last",
            "  # deseasonalised value plus the seasonal profile of the cycles before) where that forecast",
            "  # beats the seasonal naive, else seasonal (the deviation from the seasonal naive); else last",
            "  # (the change from the last value); recorded in the study (defaults_chosen) and printed when",
            "  # the search starts. Or write last, none, seasonal or mstl. Searchable (without auto).",
            *textwrap.wrap(f"On this file: {facts['decision']}.", 96, initial_indent="  # ", subsequent_indent="  # "),
            "  reference: auto",
            "  # Known-future calendar inputs (sin/cos): auto decides with reference, calendar (the cycles",
            "  # the time step suggests) where the seasonal naive beats the naive forecast, else none. Or",
            "  # write none, calendar or a list of hour, dayofweek, dayofmonth, dayofyear, month, season.",
            "  time_features: auto",
        ]
        if horizon > 1 and facts["val_windows"] >= MIN_HORIZON_WINDOWS and facts["whole_windows"]:
            lines += [
                "  # Validation and test forecasts every horizon steps (non-overlapping), as forecasting",
                f"  # benchmarks score them: the validation part holds {facts['val_windows']} of them.",
                "  eval_origins: horizon",
            ]
        elif horizon > 1 and facts["val_windows"] >= MIN_HORIZON_WINDOWS:
            lines += [
                "  # Validation and test forecasts from every step: a window is scored only where every target",
                "  # of its horizon is in the file, and non-overlapping windows would leave too few of them.",
                "  eval_origins: every",
            ]
        elif horizon > 1:
            lines += [
                "  # Validation and test forecasts from every step: the validation part holds only",
                f"  # {facts['val_windows']} non-overlapping window{'' if facts['val_windows'] == 1 else 's'} of {horizon} (under {MIN_HORIZON_WINDOWS}), too few to rank trials on.",
                "  eval_origins: every",
            ]
        lines += [
            "",
            "train:",
            f"  # Maximum epochs per trial: about {WINDOW_BUDGET:,} training windows a trial ({facts['windows']:,} an epoch at the",
            f"  # longest lookback), between {MIN_EPOCHS} and {MAX_EPOCHS}; early stopping and the pruner end most trials sooner.",
            f"  epochs: {facts['epochs']}",
            "  # Early stopping after this many epochs without a better validation value.",
            "  patience: 4",
            "  # Windows per optimisation step. Searchable.",
            "  batch_size: {choices: [64, 128]}",
            "  # Learning rate. Searchable.",
            "  lr: {type: float, low: 1.0e-4, high: 1.0e-2, log: true}",
            "  # Training loss on the scaled targets: mse, mae or huber.",
            "  loss: mae",
            "",
            "objective:",
            "  # Validation metric, in the data's own units.",
            "  metric: mae",
            "",
            "sampler:",
            "  # Optuna's TPE; seeded, so the sequence of params repeats.",
            "  name: tpe",
            "  seed: 0",
            "",
            "pruner:",
            "  # Median pruning after 3 finished trials and 2 epochs of each.",
            "  name: median",
            "  n_startup_trials: 3",
            "  n_warmup_steps: 2",
        ]
    return "\n".join(lines) + "\n"


def _yaml_str(value: str) -> str:
    """A YAML scalar that reads back as the string ``value``."""
    import json

    plain = value and value.strip() == value and all(c.isalnum() or c in "_-./" for c in value) and value[0] != "-" and value.lower() not in ("null", "true", "false", "yes", "no", "on", "off", "none", "~", ".nan", ".inf")
    try:
        float(value)
        plain = False
    except ValueError:
        pass
    return value if plain else json.dumps(value)
