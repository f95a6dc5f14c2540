"""The search-space file: load (YAML or JSON), apply ``--set`` overrides, validate.

A space file has these sections (``spaces/lstm.yaml`` documents every key)::

    model:     family + the family's parameters (validated by the family's own config)
    data:      dataset path and column roles, missing-value policy, split, scaler, windows
    train:     optimisation settings
    objective: the validation metric and its direction
    sampler:   Optuna sampler name + options        pruner: Optuna pruner name + options
    resources: CPUs / GPUs per trial

Any searchable key takes either a fixed value or a search range::

    lr: {type: float, low: 1.0e-4, high: 1.0e-2, log: true}
    lookback: {type: int, low: 8, high: 104, step: 8}
    layer_sizes: {choices: ["32", "64,32", "128,64"]}

Validation reports every problem at once, one line each: ``file:line: key: problem``.
"""

from __future__ import annotations

import difflib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import yaml

from search.errors import ConfigError, UsageError

# --------------------------------------------------------------------------- searchable values


@dataclass(frozen=True)
class Categorical:
    choices: tuple


@dataclass(frozen=True)
class IntRange:
    low: int
    high: int
    step: int = 1
    log: bool = False


@dataclass(frozen=True)
class FloatRange:
    low: float
    high: float
    step: float | None = None
    log: bool = False


Searchable = Categorical | IntRange | FloatRange
RANGE_KEYS = {"type", "choices", "low", "high", "step", "log"}


# --------------------------------------------------------------------------- the typed space


@dataclass(frozen=True)
class Objective:
    metric: str  # validation metric, see METRICS
    direction: str  # "minimize" | "maximize"


@dataclass(frozen=True)
class Space:
    path: Path  # the space file
    family: str  # model family, a key of models.FAMILIES
    model: dict[str, Any]  # family parameters: fixed values or Searchable
    data: dict[str, Any]  # DATA_FIELDS, defaults filled in; data["path"] is absolute
    train: dict[str, Any]  # TRAIN_FIELDS, defaults filled in
    objective: Objective
    sampler: dict[str, Any]  # {"name": ..., **options}
    pruner: dict[str, Any]  # {"name": ..., **options}
    resources: dict[str, float]  # {"cpu": ..., "gpu": ...}
    description: str = ""

    def searchables(self) -> dict[str, Searchable]:
        """Every searched parameter by its study name (the key's own name)."""
        out = {}
        for section in (self.model, self.data, self.train):
            out.update({k: v for k, v in section.items() if isinstance(v, Searchable)})
        return out


# --------------------------------------------------------------------------- field rules


@dataclass(frozen=True)
class Field:
    kind: str  # int | float | bool | str | choice | fractions | columns
    default: Any = None
    required: bool = False
    searchable: bool = False
    low: float | None = None  # inclusive bounds for int/float
    high: float | None = None
    low_open: bool = False  # True: value must be > low
    choices: tuple = ()
    nullable: bool = False
    doc: str = ""


METRICS = ("loss", "mse", "rmse", "mae", "mape", "smape")
MINIMIZED_METRICS = set(METRICS)

DATA_FIELDS = {
    "path": Field("str", required=True, doc="CSV or Parquet file, relative to the space file"),
    "time_column": Field("str", nullable=True, doc="column holding the time stamps (sorted by it)"),
    "target": Field("columns", required=True, doc="column(s) to forecast"),
    "features": Field("columns", default=(), doc="covariate columns fed to the model"),
    "missing": Field("choice", "interpolate", choices=("interpolate", "drop", "error")),
    "split": Field("fractions", (0.7, 0.15, 0.15), doc="train / validation / test fractions"),
    "scaler": Field("choice", "standard", choices=("standard", "minmax", "none")),
    "lookback": Field("int", 24, searchable=True, low=1, doc="input window length"),
    "horizon": Field("int", 1, low=1, doc="steps predicted per window"),
    "stride": Field("int", 1, low=1, doc="steps between training windows"),
}

TRAIN_FIELDS = {
    "epochs": Field("int", 20, low=1),
    "batch_size": Field("int", 64, searchable=True, low=1),
    "lr": Field("float", 1e-3, searchable=True, low=0, low_open=True),
    "optimizer": Field("choice", "adam", searchable=True, choices=("adam", "adamw", "sgd")),
    "momentum": Field("float", 0.9, searchable=True, low=0, high=1),
    "weight_decay": Field("float", 0.0, searchable=True, low=0),
    "grad_clip": Field("float", 1.0, searchable=True, low=0, doc="max gradient norm; 0 = off"),
    "patience": Field("int", 0, low=0, doc="early-stopping patience in epochs; 0 = off"),
    "seed": Field("int", 0, low=0),
    "device": Field("choice", "auto", choices=("auto", "cpu", "cuda", "mps")),
}

OBJECTIVE_FIELDS = {
    "metric": Field("choice", "rmse", choices=METRICS),
    "direction": Field("choice", "minimize", choices=("minimize", "maximize")),
}

RESOURCE_FIELDS = {
    "cpu": Field("float", 1.0, low=0, low_open=True),
    "gpu": Field("float", 0.0, low=0),
}

TOP_LEVEL = ("description", "model", "data", "train", "objective", "sampler", "pruner", "resources")


# --------------------------------------------------------------------------- loading


def _line_index(text: str) -> dict[str, int]:
    """Dotted key -> 1-based line number, from the YAML node tree (JSON is YAML too)."""
    lines: dict[str, int] = {}

    def walk(node, prefix: str) -> None:
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                key = f"{prefix}{key_node.value}"
                lines[key] = key_node.start_mark.line + 1
                walk(value_node, key + ".")

    try:
        walk(yaml.compose(text, Loader=yaml.SafeLoader), "")
    except yaml.YAMLError:
        pass
    return lines


def read_raw(path: str | Path) -> tuple[dict, dict[str, int]]:
    """The file's mapping and its key -> line index. Raises ConfigError on unreadable files."""
    path = Path(path)
    if not path.exists():
        raise ConfigError([f"{path}: no such space file"])
    if path.is_dir():
        raise ConfigError([f"{path}: is a folder; give a .yaml or .json space file"])
    text = path.read_text(encoding="utf-8")
    try:
        raw = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except json.JSONDecodeError as exc:
        raise ConfigError([f"{path}:{exc.lineno}: invalid JSON: {exc.msg}"]) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError([f"{path}{where}: invalid YAML: {problem}"]) from None
    if raw is None:
        raise ConfigError([f"{path}: the file is empty; a space needs at least 'model' and 'data'"])
    if not isinstance(raw, dict):
        raise ConfigError([f"{path}: the top level must be a mapping of sections, got {type(raw).__name__}"])
    return raw, _line_index(text)


def apply_overrides(raw: dict, overrides: list[str]) -> dict:
    """Apply ``KEY=VALUE`` overrides (dotted key, YAML value) to a copy of ``raw``."""
    raw = json.loads(json.dumps(raw))  # deep copy of plain data
    for item in overrides:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--set {item!r}: expected KEY=VALUE, e.g. --set train.epochs=3")
        try:
            value = yaml.safe_load(text)
        except yaml.YAMLError:
            raise UsageError(f"--set {item!r}: the value is not valid YAML") from None
        node = raw
        parts = key.strip().split(".")
        for part in parts[:-1]:
            child = node.get(part)
            if not isinstance(child, dict):
                child = node[part] = {}
            node = child
        node[parts[-1]] = value
    return raw


def load_space(path: str | Path, overrides: list[str] | None = None) -> Space:
    """Load, override and validate a space file. Raises ConfigError listing every problem."""
    path = Path(path)
    raw, lines = read_raw(path)
    raw = apply_overrides(raw, overrides or [])
    return _Validator(path, lines).space(raw)


# --------------------------------------------------------------------------- validation


def _did_you_mean(name: str, valid) -> str:
    close = difflib.get_close_matches(str(name), [str(v) for v in valid], n=1)
    return f"; did you mean '{close[0]}'?" if close else ""


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


class _Validator:
    def __init__(self, path: Path, lines: dict[str, int]):
        self.path = path
        self.lines = lines
        self.problems: list[str] = []

    def error(self, key: str, message: str) -> None:
        line = self.lines.get(key)
        where = f"{self.path}:{line}" if line else str(self.path)
        self.problems.append(f"{where}: {key}: {message}")

    # -- the whole file

    def space(self, raw: dict) -> Space:
        for key in raw:
            if key not in TOP_LEVEL:
                self.error(key, f"unknown section{_did_you_mean(key, TOP_LEVEL)} (valid: {', '.join(TOP_LEVEL)})")
        for key in ("model", "data"):
            if key not in raw:
                self.error(key, "missing section")
        family, model = self.model(raw.get("model", {}))
        data = self.section("data", raw.get("data", {}), DATA_FIELDS)
        train = self.section("train", raw.get("train", {}), TRAIN_FIELDS)
        objective = self.section("objective", raw.get("objective", {}), OBJECTIVE_FIELDS)
        resources = self.section("resources", raw.get("resources", {}), RESOURCE_FIELDS)
        sampler = self.named("sampler", raw.get("sampler", {"name": "tpe"}), "tpe")
        pruner = self.named("pruner", raw.get("pruner", {"name": "median"}), "median")
        description = raw.get("description", "")
        if not isinstance(description, str):
            self.error("description", f"must be a string, got {description!r}")
        if objective.get("metric") in MINIMIZED_METRICS and objective.get("direction") == "maximize":
            self.error(
                "objective.direction",
                f"'maximize' does not fit metric '{objective['metric']}', an error to minimize; "
                "use direction: minimize",
            )
        if self.problems:
            raise ConfigError(self.problems)
        data["path"] = str((self.path.parent / data["path"]).resolve())
        return Space(
            path=self.path,
            family=family,
            model=model,
            data=data,
            train=train,
            objective=Objective(objective["metric"], objective["direction"]),
            sampler=sampler,
            pruner=pruner,
            resources=resources,
            description=description,
        )

    def mapping(self, name: str, value) -> dict:
        if isinstance(value, dict):
            return value
        self.error(name, f"must be a mapping of keys, got {value!r}")
        return {}

    # -- generic sections

    def section(self, name: str, raw, fields: dict[str, Field]) -> dict:
        raw = self.mapping(name, raw)
        for key in raw:
            if key not in fields:
                self.error(
                    f"{name}.{key}",
                    f"unknown key{_did_you_mean(key, fields)} (valid: {', '.join(fields)})",
                )
        out = {}
        for key, spec in fields.items():
            dotted = f"{name}.{key}"
            if key not in raw:
                if spec.required:
                    self.error(dotted, f"required key is missing ({spec.doc})")
                out[key] = spec.default
                continue
            out[key] = self.value(dotted, raw[key], spec)
        return out

    def value(self, dotted: str, value, spec: Field):
        if isinstance(value, dict) and (set(value) & RANGE_KEYS):
            if not spec.searchable:
                self.error(dotted, "is not searchable; give a fixed value")
                return spec.default
            return self.searchable(dotted, value, lambda v: self.check_fixed(dotted, v, spec), spec.kind)
        try:
            return self.check_fixed(dotted, value, spec)
        except _Invalid:
            return spec.default

    def check_fixed(self, dotted: str, value, spec: Field):
        """The value, normalised, if it fits ``spec``; else records the problem and returns None."""
        problem = None
        if value is None and spec.nullable:
            return None
        if spec.kind == "int":
            if not isinstance(value, int) or isinstance(value, bool):
                problem = f"expected an integer, got {value!r}"
        elif spec.kind == "float":
            if not _is_number(value):
                problem = f"expected a number, got {value!r}"
            elif not math.isfinite(value):
                problem = f"expected a finite number, got {value!r}"
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
                problem = f"{value!r} is not one of {', '.join(map(str, spec.choices))}{_did_you_mean(value, spec.choices)}"
        elif spec.kind == "columns":
            if isinstance(value, str):
                value = (value,)
            if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) and v for v in value):
                problem = f"expected a column name or a list of column names, got {value!r}"
            else:
                value = tuple(value)
        elif spec.kind == "fractions":
            if (
                not isinstance(value, (list, tuple))
                or len(value) != 3
                or not all(_is_number(v) and v >= 0 for v in value)
                or value[0] <= 0
                or value[1] <= 0
                or not math.isclose(sum(value), 1.0, abs_tol=1e-6)
            ):
                problem = f"expected [train, validation, test] fractions summing to 1 (train and validation > 0), got {value!r}"
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

    # -- search ranges

    def searchable(self, dotted: str, raw: dict, check: Callable, kind: str) -> Searchable | None:
        """Parse a search range; ``check(value)`` validates one candidate value (raises _Invalid)."""
        unknown = set(raw) - RANGE_KEYS
        if unknown:
            key = sorted(unknown)[0]
            self.error(f"{dotted}.{key}", f"unknown range key{_did_you_mean(key, RANGE_KEYS)} (valid: {', '.join(sorted(RANGE_KEYS))})")
            return None
        rtype = raw.get("type", "categorical" if "choices" in raw else None)
        if rtype == "categorical":
            return self.categorical(dotted, raw, check)
        if rtype not in ("int", "float"):
            self.error(f"{dotted}.type", f"a range needs type: int, float or categorical (with choices), got {rtype!r}")
            return None
        if kind not in (rtype, "model") and not (kind == "float" and rtype == "int"):
            self.error(f"{dotted}.type", f"{rtype} range does not fit a {kind} value")
            return None
        low, high, step, log = raw.get("low"), raw.get("high"), raw.get("step"), raw.get("log", False)
        bad = False
        for name, bound in (("low", low), ("high", high)):
            if not _is_number(bound) or (rtype == "int" and not isinstance(bound, int)):
                self.error(f"{dotted}.{name}", f"expected {'an integer' if rtype == 'int' else 'a number'}, got {bound!r}")
                bad = True
            elif not math.isfinite(bound):
                self.error(f"{dotted}.{name}", f"must be finite, got {bound!r}")
                bad = True
        if not isinstance(log, bool):
            self.error(f"{dotted}.log", f"expected true or false, got {log!r}")
            bad = True
        if step is not None and (not _is_number(step) or step <= 0 or (rtype == "int" and not isinstance(step, int))):
            self.error(f"{dotted}.step", f"expected a positive {'integer' if rtype == 'int' else 'number'}, got {step!r}")
            bad = True
        if bad:
            return None
        if low > high:
            self.error(dotted, f"low={low!r} > high={high!r}; low must not exceed high")
            return None
        if log and low <= 0:
            self.error(f"{dotted}.low", f"a log range needs low > 0, got {low!r}")
            return None
        if log and step not in (None, 1):
            self.error(f"{dotted}.step", "a log range cannot have a step (other than 1 for int)")
            return None
        if step is not None and abs((high - low) / step - round((high - low) / step)) > 1e-9:
            self.error(f"{dotted}.step", f"step={step!r} does not divide high - low = {high - low!r}")
            return None
        for bound in (low, high):
            try:
                check(bound)
            except _Invalid as exc:
                self.problems.pop()  # replace the fixed-value message with the range form
                self.error(dotted, f"range bound {exc}")
                return None
        if rtype == "int":
            return IntRange(low, high, step or 1, log)
        return FloatRange(float(low), float(high), None if step is None else float(step), log)

    def categorical(self, dotted: str, raw: dict, check: Callable) -> Categorical | None:
        extra = set(raw) - {"type", "choices"}
        if extra:
            self.error(dotted, f"a categorical takes only 'choices', not {', '.join(sorted(extra))}")
            return None
        choices = raw.get("choices")
        if not isinstance(choices, list) or not choices:
            self.error(f"{dotted}.choices", f"expected a non-empty list, got {choices!r}")
            return None
        normalised = []
        for i, choice in enumerate(choices):
            if isinstance(choice, (dict, list)):
                self.error(f"{dotted}.choices[{i}]", f"choices must be scalars (number, string, bool, null), got {choice!r}")
                return None
            try:
                normalised.append(check(choice))
            except _Invalid as exc:
                self.problems.pop()
                self.error(f"{dotted}.choices[{i}]", str(exc))
                return None
        seen = set()
        for i, choice in enumerate(normalised):
            if choice in seen:
                self.error(f"{dotted}.choices[{i}]", f"duplicate choice {choices[i]!r}")
                return None
            seen.add(choice)
        return Categorical(tuple(normalised))

    # -- model section: the family's own config validates its parameters

    def model(self, raw) -> tuple[str, dict]:
        import models

        raw = dict(self.mapping("model", raw))
        family = raw.pop("family", None)
        if family not in models.FAMILIES:
            if family is None:
                self.error("model.family", f"required key is missing (one of {', '.join(models.FAMILIES)})")
            else:
                self.error("model.family", f"unknown model family {family!r}{_did_you_mean(family, models.FAMILIES)} (valid: {', '.join(models.FAMILIES)})")
            return str(family), {}
        config_cls = models.config_class(family)
        valid = [f for f in config_cls.__dataclass_fields__]
        out = {}
        for key, value in raw.items():
            dotted = f"model.{key}"
            if key not in valid:
                self.error(dotted, f"unknown parameter for {family}{_did_you_mean(key, valid)} (valid: {', '.join(valid)})")
                continue

            def check(v, key=key, dotted=dotted):
                return self.check_model_value(family, key, v, dotted)

            if isinstance(value, dict) and (set(value) & RANGE_KEYS):
                out[key] = self.searchable(dotted, value, check, "model")
            else:
                try:
                    out[key] = check(value)
                except _Invalid:
                    pass
        return family, out

    def check_model_value(self, family: str, key: str, value, dotted: str):
        import models

        try:
            if key == "layer_sizes":
                value = models.format_layer_sizes(models.parse_layer_sizes(value))
            models.config_class(family)(**{key: models.parse_layer_sizes(value) if key == "layer_sizes" else value}).validate()
        except (models.ModelParamError, TypeError, ValueError) as exc:
            message = getattr(exc, "message", None) or str(exc)
            self.error(dotted, message)
            raise _Invalid(message) from None
        return value

    # -- sampler / pruner: a name plus the options of the Optuna class it names

    def named(self, section: str, raw, default_name: str) -> dict:
        from search import compile as compile_mod

        if isinstance(raw, str):
            raw = {"name": raw}
        raw = dict(self.mapping(section, raw))
        table = compile_mod.SAMPLERS if section == "sampler" else compile_mod.PRUNERS
        name = raw.pop("name", default_name)
        if name not in table:
            self.error(f"{section}.name", f"unknown {section} {name!r}{_did_you_mean(name, table)} (valid: {', '.join(table)})")
            return {"name": name}
        options = compile_mod.option_names(table[name])
        for key in raw:
            if key not in options:
                listed = ", ".join(options) if options else "none"
                self.error(f"{section}.{key}", f"{name} {section} has no option {key!r}{_did_you_mean(key, options)} (valid: {listed})")
        return {"name": name, **raw}


class _Invalid(Exception):
    """One candidate value failed its check (already recorded by the validator)."""
