"""Validation: every problem in a space file at once, one line each, naming file, line and key.

``_Validator`` walks the file section by section; its parts live beside it: the model section
(``_model_rules``), rules between sections (``_cross_rules``), sampler and pruner
(``_optuna_rules``), search ranges and categorical choices (``_range_rules``)."""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

from search.errors import ConfigError
from search.space import _fields, _interval_rules
from search.space._checks import _example, _Invalid, _is_number, _listed
from search.space._cross_rules import _CrossRules
from search._format import did_you_mean
from search.space._fields import CHECKPOINT_FIELDS, DATA_FIELDS, MAX_OBJECTIVES, OBJECTIVE_FIELDS, RESOURCE_FIELDS, TOP_LEVEL, TRACKING_FIELDS, TRAIN_FIELDS, Field
from search.space._model_rules import _ModelSection
from search.space._optuna_rules import _OptunaSections
from search.space._range_rules import _RangeRules
from search.space._size_rules import _SizeRules
from search.space._types import RANGE_KEYS, Objective, Space, where


# metrics users write from other tools, with what stands for them here (instead of a spelling guess)
METRIC_HINTS = {
    "mase": "; for mase write mae: MASE divides a series' MAE by a constant (its in-sample naive's), so both rank trials alike",
    "rmsse": "; for rmsse write rmse: RMSSE divides a series' RMSE by a constant (its in-sample naive's), so both rank trials alike",
}


def _choice_hint(dotted: str, value, choices) -> str:
    """What follows a refused choice: the stand-in for a metric of another tool, else a
    spelling guess."""
    if dotted.endswith(".metric") and str(value).lower() in METRIC_HINTS:
        return METRIC_HINTS[str(value).lower()]
    return did_you_mean(value, choices)


class _Validator(_ModelSection, _CrossRules, _OptunaSections, _SizeRules, _RangeRules):
    def __init__(self, path: Path, lines: dict[str, int], *, check_data: bool = True):
        self.path = path
        self.lines = lines
        self.check_data = check_data
        self.problems: list[str] = []
        self.warnings: list[str] = []
        self.failed_model_keys: set[str] = set()  # model keys given but invalid
        self.failed: set[str] = set()  # dotted keys of other sections given but invalid

    def where(self, key: str) -> str:
        """``file:line: key``; a key missing from the file gets the line of its section."""
        return where(self.path, self.lines, key)

    def error(self, key: str, message: str) -> None:
        self.problems.append(f"{self.where(key)}: {message}")

    def warn(self, key: str, message: str) -> None:
        self.warnings.append(f"{self.where(key)}: {message}")

    # -- the whole file

    def space(self, raw: dict) -> Space:
        for key in raw:
            if key not in TOP_LEVEL:
                self.error(str(key), f"unknown section{did_you_mean(key, TOP_LEVEL)} (valid: {', '.join(TOP_LEVEL)})")
        for key in ("model", "data"):
            if key not in raw:
                self.error(key, "missing section; every space needs one (see spaces/lstm.yaml for its keys)")
        family, model = self.model(raw.get("model", {}))
        data = self.section("data", raw.get("data", {}), DATA_FIELDS)
        train = self.section("train", raw.get("train", {}), TRAIN_FIELDS)
        objectives = self.objectives(raw.get("objective", {}))
        resources = self.section("resources", raw.get("resources", {}), RESOURCE_FIELDS)
        tracking = self.section("tracking", raw.get("tracking", {}), TRACKING_FIELDS)
        checkpoints = self.section("checkpoints", raw.get("checkpoints", {}), CHECKPOINT_FIELDS)
        sampler = self.named("sampler", raw.get("sampler"), "tpe")
        # Optuna cannot prune a multi-objective study: no pruner unless one is named (refused below)
        pruner = self.named("pruner", raw.get("pruner"), "none" if len(objectives) > 1 else "median")
        description = raw.get("description", "")
        if description is None:
            description = ""
        if not isinstance(description, str):
            self.error("description", f"must be a string, got {description!r}; quote it")
        self.task_rules(raw, family, model, data, objectives)
        if len(objectives) > 1:
            self.multi_objective(sampler, pruner)
        split = data.get("split")
        if isinstance(split, dict) and data.get("time_column") is None and "data.split" not in self.failed:
            for key in ("val_start", "test_start"):
                v = split[key]
                if not isinstance(v, int) or v <= 0:
                    self.error(
                        f"data.split.{key}",
                        f"without data.time_column a cut point is a row number (an integer > 0 within each series), got {v!r}; "
                        "set data.time_column to cut at a time value",
                    )
                    break  # one line for the pair
        self.time_keys(data)
        if unread := _interval_rules.unread_quantiles(raw.get("train") if isinstance(raw.get("train"), dict) else {}, train):
            self.warn("train.quantiles", unread)
        self.known_future(data, train, raw.get("data") if isinstance(raw.get("data"), dict) else {})
        if train.get("continuous_eval"):
            self.continuous_eval(family, model, data)
        if data.get("scaler_scope") == "series" and data.get("series_id") is None:
            self.error("data.scaler_scope", "'series' needs data.series_id (the column naming each row's series); set it, or use scaler_scope: global")
        if isinstance(data.get("path"), str):
            try:
                data["path"] = str((self.path.parent / data["path"]).resolve())
            except (OSError, RuntimeError):  # a symbolic link loop: dataset() names it
                data["path"] = os.path.abspath(self.path.parent / data["path"])
            if self.check_data:
                self.dataset(data)
        if family == "tcn" and "data.lookback" not in self.failed:
            self.tcn_receptive_field(model, data.get("lookback"))
        if sampler.get("name") == "grid":
            self.grid_values(model, data, train)
        self.model_size(family, model, data, resources)
        if self.problems:
            raise ConfigError(self.problems)
        return Space(
            path=self.path,
            family=family,
            model=model,
            data=data,
            train=train,
            objectives=tuple(Objective(o["metric"], o["direction"]) for o in objectives),
            sampler=sampler,
            pruner=pruner,
            resources=resources,
            description=description,
            tracking=tracking,
            checkpoints=checkpoints,
            lines=dict(self.lines),
            warnings=tuple(self.warnings),
        )

    def time_keys(self, data: dict) -> None:
        """``time_format`` reads a time column and is a strftime format; labels are never
        averaged (``duplicates: mean`` with task classify); ``fill_gaps`` needs a forecast's
        time column and a missing policy that fills."""
        fmt = data.get("time_format")
        if fmt is not None and "data.time_format" not in self.failed:
            if data.get("time_column") is None:
                self.error("data.time_format", "reads the time column, but data.time_column is not set; set it, or remove time_format")
            elif "%" not in fmt:
                self.error("data.time_format", f"{fmt!r} has no % field; give a strftime format such as '%d/%m/%Y' or '%Y-%m-%d %H:%M'")
        if data.get("duplicates") == "mean" and data.get("task") == "classify":
            self.error("data.duplicates", "mean would average labels; use first, last or error with task classify")
        if data.get("fill_gaps") is True and "data.fill_gaps" not in self.failed:
            if data.get("task", "forecast") != "forecast":
                self.error("data.fill_gaps", f"adds rows of made-up values between times, which task {data.get('task')} cannot label; set fill_gaps: false")
            elif data.get("time_column") is None:
                self.error("data.fill_gaps", "finds missing times in the time column, but data.time_column is not set; set it, or remove fill_gaps")
            elif data.get("missing") == "error":
                self.error("data.fill_gaps", "adds rows with empty cells, which missing: error refuses; set missing: interpolate")

    def objectives(self, raw) -> list[dict]:
        """``objective``: one mapping ``{metric, direction}``, or a list of 2 to MAX_OBJECTIVES
        of them for a multi-objective study (each entry names its metric)."""
        if not isinstance(raw, list):
            return [self.section("objective", raw, OBJECTIVE_FIELDS)]
        if not 2 <= len(raw) <= MAX_OBJECTIVES:
            self.error(
                "objective",
                f"a list of objectives takes 2 to {MAX_OBJECTIVES} entries, got {len(raw)}; "
                "for one objective write a mapping, e.g. objective: {metric: rmse}",
            )
            self.failed.add("objective")
            return [{"metric": None, "direction": None}]
        out = []
        for i, entry in enumerate(raw):
            key = f"objective[{i}]"
            if not isinstance(entry, dict):
                self.error(key, f"expected a mapping {{metric: ..., direction: ...}}, got {entry!r}; e.g. {{metric: n_params}}")
                self.failed.add(key)
                out.append({"metric": None, "direction": None})
                continue
            if "metric" not in entry:
                self.error(f"{key}.metric", "required key is missing: each objective of a list names its metric, e.g. {metric: n_params}")
                self.failed.add(f"{key}.metric")
            out.append(self.section(key, entry, OBJECTIVE_FIELDS))
        return out

    def mapping(self, name: str, value) -> dict:
        if isinstance(value, dict):
            return value
        if value is None:
            return {}
        self.error(name, f"must be a mapping of keys (key: value lines indented under {name.split('.')[-1]}:), got {value!r}")
        return {}

    # -- generic sections

    def section(self, name: str, raw, fields: dict[str, Field]) -> dict:
        raw = self.mapping(name, raw)
        for key in raw:
            if key not in fields:
                self.error(
                    f"{name}.{key}",
                    f"unknown key{did_you_mean(key, fields)} (valid: {', '.join(fields)})",
                )
        out = {}
        for key, spec in fields.items():
            dotted = f"{name}.{key}"
            if key not in raw:
                if spec.required:
                    self.error(dotted, f"required key is missing ({spec.doc})")
                out[key] = spec.default
                continue
            before = len(self.problems)
            out[key] = self.value(dotted, raw[key], spec)
            if len(self.problems) > before:
                self.failed.add(dotted)
        return out

    def value(self, dotted: str, value, spec: Field):
        if isinstance(value, dict) and (set(value) & RANGE_KEYS):
            if not spec.searchable:
                self.error(dotted, f"is not searchable; give a fixed value{_example(spec, dotted.split('.')[-1])}")
                return spec.default
            if spec.kind in ("time_features", "quantiles"):  # searched as strings: Optuna's categorical choices are scalars
                one = self.time_feature_choice if spec.kind == "time_features" else lambda d, v: self.checked(d, *_interval_rules.quantile_choice(v))
                return self.searchable(dotted, value, lambda v: one(dotted, v), "choice" if spec.kind == "time_features" else "lists")
            if dotted == "data.reference" and isinstance(value.get("choices"), list) and "auto" in value["choices"]:
                self.error(dotted, "auto is decided once per study from the data and cannot be searched; search among last, none, seasonal, mstl, or write reference: auto")
                return spec.default
            return self.searchable(dotted, value, lambda v: self.check_fixed(dotted, v, spec), spec.kind)
        try:
            return self.check_fixed(dotted, value, spec)
        except _Invalid:
            return spec.default

    def check_fixed(self, dotted: str, value, spec: Field):
        """The value, normalised, if it fits ``spec``; else records the problem and raises _Invalid."""
        problem = None
        key = dotted.split(".")[-1]
        if value is None and spec.nullable:
            return None
        if spec.kind == "int":
            if not isinstance(value, int) or isinstance(value, bool):
                problem = f"expected an integer, got {value!r}{_listed(spec, value) or _example(spec, key)}"
        elif spec.kind == "float":
            if not _is_number(value):
                problem = f"expected a number, got {value!r}{_listed(spec, value) or _example(spec, key)}"
            elif not math.isfinite(value):
                problem = f"expected a finite number, got {value!r}{_example(spec, key)}"
            else:
                value = float(value)
        elif spec.kind == "bool":
            if not isinstance(value, bool):
                problem = f"expected true or false, got {value!r}"
        elif spec.kind == "str":
            if not isinstance(value, str) or not value:
                problem = f"expected a non-empty string, got {value!r}"
        elif spec.kind == "choice":
            if value not in spec.choices:
                shown = ", ".join(str(c).lower() if isinstance(c, bool) else str(c) for c in spec.choices)  # as YAML writes them
                problem = f"{value!r} is not one of {shown}{_choice_hint(dotted, value, spec.choices)}"
        elif spec.kind == "columns":
            if isinstance(value, str):
                value = (value,)
            if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) and v for v in value):
                problem = f"expected a column name or a list of column names, got {value!r}"
            else:
                value = tuple(value)
        elif spec.kind == "seasons":
            values = [value] if not isinstance(value, (list, tuple)) else list(value)
            if not values or not all(isinstance(v, int) and not isinstance(v, bool) and v >= (spec.low or 2) for v in values):
                problem = f"expected a season length (an integer >= {spec.low:g}) or a list of them, got {value!r}; e.g. 52 or [48, 336]"
            elif isinstance(value, (list, tuple)):
                value = tuple(sorted(set(values)))
        elif spec.kind == "time_features":
            value, problem = _time_features(value)
        elif spec.kind in ("levels", "quantiles"):
            value, problem = (_interval_rules.levels if spec.kind == "levels" else _interval_rules.quantiles)(value)
        elif spec.kind == "fractions" and isinstance(value, dict):
            value, problem = self.cut_points(dotted, value)
        elif spec.kind == "fractions":
            if (
                not isinstance(value, (list, tuple))
                or len(value) != 3
                or not all(_is_number(v) and math.isfinite(v) and v >= 0 for v in value)
                or value[0] <= 0
                or value[1] <= 0
                or not math.isclose(sum(value), 1.0, abs_tol=1e-6)
            ):
                problem = (
                    f"expected [train, validation, test] fractions summing to 1 (train and validation > 0), got {value!r}; "
                    "e.g. [0.7, 0.15, 0.15], or cut points {val_start: ..., test_start: ...}"
                )
            else:
                value = tuple(float(v) for v in value)
        if problem is None and spec.kind in ("int", "float"):
            if spec.low is not None and (value < spec.low or (spec.low_open and value == spec.low)):
                problem = f"{value!r} is out of range; must be {'>' if spec.low_open else '>='} {spec.low:g}"
            elif spec.high is not None and value > spec.high:
                problem = f"{value!r} is out of range; must be <= {spec.high:g}"
        if problem is not None:
            self.error(dotted, problem)
            raise _Invalid(problem)
        return value

    def checked(self, dotted: str, value, problem: str | None):  # value, or the problem recorded and _Invalid raised
        if problem is not None:
            self.error(dotted, problem)
            raise _Invalid(problem)
        return value

    def time_feature_choice(self, dotted: str, value) -> str:
        """One choice of a searched ``data.time_features``: none, auto, or names joined by commas
        (``"hour,dayofweek"``), normalised to that string form."""
        if not isinstance(value, str) and value not in (None, True, False):
            problem = f"expected none, auto, calendar or names joined by commas like 'hour,dayofweek', got {value!r}"
        else:
            names = [v.strip() for v in value.split(",")] if isinstance(value, str) and "," in value else value
            value, problem = _time_features(names)
        return self.checked(dotted, value if problem or isinstance(value, str) else ",".join(value), problem)

    def cut_points(self, dotted: str, value: dict) -> tuple[dict, str | None]:
        """``split: {val_start: X, test_start: Y}``: where validation and test begin, as values
        of the time column (or 0-based row numbers within each series without one). Dates
        become ISO strings; the order of time values is checked when the rows are read."""
        keys = ("val_start", "test_start")
        for key in value:
            if key not in keys:
                return value, f"unknown cut point {key!r}{did_you_mean(key, keys)}; give val_start and test_start"
        for key in keys:
            if key not in value:
                return value, f"cut points need both val_start and test_start; {key} is missing"
        out = {}
        for key in keys:
            v = value[key]
            if hasattr(v, "isoformat"):  # YAML reads an unquoted 2001-01-01 as a date
                v = v.isoformat()
            if isinstance(v, bool) or not isinstance(v, (int, float, str)) or (isinstance(v, str) and not v.strip()):
                return value, f"{key}: expected a time value or a row number, got {v!r}"
            if isinstance(v, float) and not math.isfinite(v):
                return value, f"{key}: expected a finite value, got {v!r}"
            out[key] = v
        if _is_number(out["val_start"]) and _is_number(out["test_start"]) and not out["val_start"] < out["test_start"]:
            return value, f"val_start {out['val_start']!r} must come before test_start {out['test_start']!r}"
        return out, None


def _time_features(value) -> tuple[Any, str | None]:
    """``data.time_features``: none (also false or null), auto (also true), calendar, or a list
    of names."""
    valid = _fields.TIME_FEATURES
    if value is None or value is False or value == "none":
        return "none", None
    if value is True or value == "auto":
        return "auto", None
    if value == "calendar":
        return "calendar", None
    names = [value] if isinstance(value, str) else value
    if not isinstance(names, (list, tuple)) or not names or not all(isinstance(v, str) for v in names):
        return value, f"expected none, auto, calendar or a list of {', '.join(valid)}, got {value!r}"
    for name in names:
        if name not in valid:
            return value, f"{name!r} is not a time feature{did_you_mean(name, valid)} (valid: none, auto, calendar, or a list of {', '.join(valid)})"
    return tuple(dict.fromkeys(names)), None
