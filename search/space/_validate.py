"""Validation: every problem in a space file at once, one line each, naming file, line and key."""

from __future__ import annotations

import csv
import importlib.util
import json
import math
import re
import warnings
from pathlib import Path
from typing import Any, Callable

from search.errors import ConfigError
from search.space import _fields
from search.space._load import _did_you_mean
from search.space._fields import (
    _MODEL_KINDS,
    DATA_FIELDS,
    LAYER_SIZE_ALIASES,
    LEGACY_KEYS,
    MAX_ATTENTION_PAIRS,
    MINIMIZED_METRICS,
    OBJECTIVE_FIELDS,
    RESOURCE_FIELDS,
    TOP_LEVEL,
    TRAIN_FIELDS,
    UNIFORM_LAYER_KEYS,
    Field,
)
from search.space._types import (
    RANGE_KEYS,
    Categorical,
    FloatRange,
    IntRange,
    Objective,
    Searchable,
    Space,
    UniformLayers,
    uniform_sizes,
    values_of,
    where,
)

# --------------------------------------------------------------------------- validation




def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _fmt(values, limit: int = 8) -> str:
    values = list(values)
    shown = ", ".join(map(str, values[:limit]))
    return shown + (f", ... ({len(values)} in all)" if len(values) > limit else "")


def _example(spec: Field, key: str) -> str:
    if spec.default is None or spec.kind in ("columns", "fractions"):
        return ""
    return f"; e.g. {key}: {json.dumps(spec.default)}"


class _Invalid(Exception):
    """One candidate value failed its check (already recorded by the validator)."""


class _Validator:
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
                self.error(str(key), f"unknown section{_did_you_mean(key, TOP_LEVEL)} (valid: {', '.join(TOP_LEVEL)})")
        for key in ("model", "data"):
            if key not in raw:
                self.error(key, "missing section; every space needs one (see spaces/lstm.yaml for its keys)")
        family, model = self.model(raw.get("model", {}))
        data = self.section("data", raw.get("data", {}), DATA_FIELDS)
        train = self.section("train", raw.get("train", {}), TRAIN_FIELDS)
        objective = self.section("objective", raw.get("objective", {}), OBJECTIVE_FIELDS)
        resources = self.section("resources", raw.get("resources", {}), RESOURCE_FIELDS)
        sampler = self.named("sampler", raw.get("sampler"), "tpe")
        pruner = self.named("pruner", raw.get("pruner"), "median")
        description = raw.get("description", "")
        if description is None:
            description = ""
        if not isinstance(description, str):
            self.error("description", f"must be a string, got {description!r}; quote it")
        if objective.get("metric") in MINIMIZED_METRICS and objective.get("direction") == "maximize":
            self.error(
                "objective.direction",
                f"'maximize' does not fit metric '{objective['metric']}', an error to minimize; "
                "use direction: minimize",
            )
        if data.get("scaler_scope") == "series" and data.get("series_id") is None:
            self.error("data.scaler_scope", "'series' needs data.series_id (the column naming each row's series); set it, or use scaler_scope: global")
        if isinstance(data.get("path"), str):
            data["path"] = str((self.path.parent / data["path"]).resolve())
            if self.check_data:
                self.dataset(data)
        if family == "tcn" and "data.lookback" not in self.failed:
            self.tcn_receptive_field(model, data.get("lookback"))
        if sampler.get("name") == "grid":
            self.grid_values(model, data, train)
        if self.problems:
            raise ConfigError(self.problems)
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
            lines=dict(self.lines),
            warnings=tuple(self.warnings),
        )

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
                problem = f"expected an integer, got {value!r}{_example(spec, key)}"
        elif spec.kind == "float":
            if not _is_number(value):
                problem = f"expected a number, got {value!r}{_example(spec, key)}"
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
                or not all(_is_number(v) and math.isfinite(v) and v >= 0 for v in value)
                or value[0] <= 0
                or value[1] <= 0
                or not math.isclose(sum(value), 1.0, abs_tol=1e-6)
            ):
                problem = f"expected [train, validation, test] fractions summing to 1 (train and validation > 0), got {value!r}; e.g. [0.7, 0.15, 0.15]"
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
        """Parse a search range of a key of ``kind`` (int, float, bool, str, choice, sizes, any);
        ``check(value)`` validates one candidate value (records the problem, raises _Invalid)."""
        unknown = sorted(set(raw) - RANGE_KEYS, key=str)
        for key in unknown:
            self.error(f"{dotted}.{key}", f"unknown range key{_did_you_mean(key, RANGE_KEYS)} (valid: {', '.join(sorted(RANGE_KEYS))})")
        if unknown:
            return None
        rtype = raw.get("type")
        if "choices" in raw and rtype not in (None, "categorical"):
            self.error(f"{dotted}.type", f"choices go with type: categorical (or no type), got type {rtype!r}; drop 'type' or 'choices'")
            return None
        if rtype is None:
            if "choices" in raw:
                rtype = "categorical"
            elif kind in ("int", "float"):
                rtype = kind
            elif kind == "any" and all(isinstance(raw.get(b), int) and not isinstance(raw.get(b), bool) for b in ("low", "high")):
                rtype = "int"
            elif kind == "any":
                rtype = "float"
        if rtype == "categorical":
            return self.categorical(dotted, raw, check, allow_lists=kind == "sizes")
        if rtype not in ("int", "float"):
            self.error(f"{dotted}.type", f"a range needs type: int, float or categorical (with choices), got {rtype!r}{_did_you_mean(rtype, ('int', 'float', 'categorical'))}")
            return None
        if kind == "sizes":
            self.error(dotted, "layer sizes take a string like '64,32', a list of ints, or {choices: [...]} of those, not a numeric range; for a range of uniform layers use LAYERS + HIDDEN_UNITS (e.g. LAYERS: '[1,3]', HIDDEN_UNITS: {choices: [32, 64]})")
            return None
        if kind in ("bool", "str", "choice"):
            self.error(f"{dotted}.type", f"a {rtype} range does not fit this key (a {kind}); use {{choices: [...]}}")
            return None
        if kind == "int" and rtype == "float":
            self.error(f"{dotted}.type", "a float range does not fit an integer key; use type: int")
            return None
        low, high, step, log = raw.get("low"), raw.get("high"), raw.get("step"), raw.get("log", False)
        bad = False
        for name, bound in (("low", low), ("high", high)):
            if name not in raw:
                self.error(dotted, f"missing '{name}'; a {rtype} range needs low and high, e.g. {{type: {rtype}, low: 1, high: 4}}")
                bad = True
            elif not _is_number(bound) or (rtype == "int" and not isinstance(bound, int)):
                self.error(f"{dotted}.{name}", f"expected {'an integer' if rtype == 'int' else 'a number'}, got {bound!r}")
                bad = True
            elif not math.isfinite(bound):
                self.error(f"{dotted}.{name}", f"must be finite, got {bound!r}; give a finite bound")
                bad = True
        if not isinstance(log, bool):
            self.error(f"{dotted}.log", f"expected true or false, got {log!r}")
            bad = True
        if step is not None and (
            not _is_number(step) or not math.isfinite(step) or step <= 0 or (rtype == "int" and not isinstance(step, int))
        ):
            self.error(f"{dotted}.step", f"expected a positive {'integer' if rtype == 'int' else 'finite number'}, got {step!r}")
            bad = True
        if bad:
            return None
        if low > high:
            self.error(dotted, f"low={low!r} > high={high!r}; low must not exceed high (swap them: low: {high!r}, high: {low!r})")
            return None
        if log and low <= 0:
            self.error(f"{dotted}.low", f"a log range needs low > 0, got {low!r}; set a positive low (e.g. {'1' if rtype == 'int' else '1.0e-5'}) or drop log: true")
            return None
        if log and step is not None and not (rtype == "int" and step == 1):
            self.error(f"{dotted}.step", f"a log range cannot have a step (got step={step!r}); drop step or log")
            return None
        if step is not None:
            ratio = (high - low) / step
            if abs(ratio - round(ratio)) > 1e-9 * max(1.0, abs(ratio)):
                below = low + math.floor(ratio) * step
                above = low + math.ceil(ratio) * step
                if rtype == "float":
                    below, above = round(below, 12), round(above, 12)
                self.error(f"{dotted}.step", f"step={step!r} does not divide high - low = {high - low!r}; set high to {below!r} or {above!r}, or pick a step that divides {high - low!r}")
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

    def categorical(self, dotted: str, raw: dict, check: Callable, *, allow_lists: bool = False) -> Categorical | None:
        extra = set(raw) - {"type", "choices"}
        if extra:
            self.error(dotted, f"a categorical takes only 'choices', not {', '.join(sorted(map(str, extra)))}; drop them or use a range (type: int/float, low, high)")
            return None
        choices = raw.get("choices")
        if not isinstance(choices, list) or not choices:
            self.error(f"{dotted}.choices", f"expected a non-empty list, got {choices!r}; list the values to try, e.g. {{choices: [32, 64]}}, or give a fixed value")
            return None
        normalised = []
        bad = False
        for i, choice in enumerate(choices):
            if isinstance(choice, dict) or (isinstance(choice, list) and not allow_lists):
                self.error(f"{dotted}.choices[{i}]", f"choices must be scalars (number, string, bool, null), got {choice!r}")
                bad = True
                continue
            try:
                normalised.append(check(choice))
            except _Invalid as exc:
                self.problems.pop()
                self.error(f"{dotted}.choices[{i}]", str(exc))
                bad = True
        if bad:
            return None
        seen: dict[tuple, int] = {}
        for i, choice in enumerate(normalised):
            key = (type(choice).__name__, choice)
            if key in seen:
                self.error(f"{dotted}.choices[{i}]", f"duplicate choice {choices[i]!r} (same as choices[{seen[key]}] {choices[seen[key]]!r}); remove one")
                return None
            seen[key] = i
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
        kinds = {
            name: _MODEL_KINDS.get(f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type)), "any")
            for name, f in config_cls.__dataclass_fields__.items()
        }
        valid = list(kinds)
        legacy = {k: raw.pop(k) for k in list(raw) if k in LEGACY_KEYS}
        out = {}
        for key, value in raw.items():
            dotted = f"model.{key}"
            if key not in kinds:
                names = valid + (list(LEGACY_KEYS) if "layer_sizes" in kinds else [])
                self.error(dotted, f"unknown parameter for {family}{_did_you_mean(key, names)} (valid: {', '.join(valid)})")
                continue
            parsed = self.model_value(family, key, value, dotted, kinds[key])
            if parsed is None:
                self.failed_model_keys.add(key)
            else:
                out[key] = parsed
        if legacy:
            if "layer_sizes" not in kinds:
                for key in legacy:
                    self.error(f"model.{key}", f"{family} has no layer sizes; set its own parameters instead (valid: {', '.join(valid)})")
            else:
                sizes = self.legacy_layer_sizes(family, legacy, "layer_sizes" in raw)
                if sizes is None:
                    self.failed_model_keys.add("layer_sizes")
                else:
                    out["layer_sizes"] = sizes
        if family == "transformer" and not self.failed_model_keys & {"d_model", "nhead"}:
            self.attention(out, raw)
        return family, out

    def model_value(self, family: str, key: str, value, dotted: str, kind: str):
        """A model key's fixed value (normalised) or search range; None when invalid."""

        def check(v):
            return self.check_model_value(family, key, v, dotted)

        if isinstance(value, dict) and (set(value) & RANGE_KEYS):
            return self.searchable(dotted, value, check, kind)
        try:
            return check(value)
        except _Invalid:
            return None

    def check_model_value(self, family: str, key: str, value, dotted: str):
        """One value of one model key, checked by the family's config on its own (rules between
        keys, such as nhead dividing d_model, are checked over the whole section later)."""
        import models

        others: dict[str, Any] = {}
        if key == "nhead" and isinstance(value, int) and not isinstance(value, bool) and value > 0:
            others = {"d_model": value}
        elif key == "d_model":
            others = {"nhead": 1}
        try:
            if key == "layer_sizes":
                value = models.format_layer_sizes(value)
                models.config_class(family)(layer_sizes=models.parse_layer_sizes(value)).validate()
            else:
                models.config_class(family)(**{key: value, **others}).validate()
        except (models.ModelParamError, TypeError, ValueError) as exc:
            message = getattr(exc, "message", None) or str(exc)
            self.error(dotted, message)
            raise _Invalid(message) from None
        return value

    def legacy_layer_sizes(self, family: str, legacy: dict, canonical_given: bool):
        """``RNN_LAYER_SIZES`` / ``GRU_UNITS`` / ``LAYERS`` + ``HIDDEN_UNITS`` -> layer sizes."""
        aliases = [k for k in LAYER_SIZE_ALIASES if k in legacy]
        uniform = [k for k in UNIFORM_LAYER_KEYS if k in legacy]
        sources = (["layer_sizes"] if canonical_given else []) + aliases + uniform[:1]
        if len(sources) > 1:
            for extra in sources[1:]:
                self.error(f"model.{extra}", f"sets the layer sizes again (model.{sources[0]} sets them already); keep one of {', '.join('model.' + s for s in sources)}")
            return None
        if aliases:
            key = aliases[0]
            return self.model_value(family, "layer_sizes", legacy[key], f"model.{key}", "sizes")
        missing = [k for k in UNIFORM_LAYER_KEYS if k not in legacy]
        if missing:
            self.error(f"model.{uniform[0]}", f"needs model.{missing[0]} too: LAYERS is the number of layers, HIDDEN_UNITS the units in each (e.g. LAYERS: 2, HIDDEN_UNITS: 64 is layer_sizes '64,64')")
            return None
        n_layers = self.legacy_int("model.LAYERS", legacy["LAYERS"])
        hidden = self.legacy_int("model.HIDDEN_UNITS", legacy["HIDDEN_UNITS"])
        if n_layers is None or hidden is None:
            return None
        if isinstance(n_layers, int) and isinstance(hidden, int):
            return uniform_sizes(n_layers, hidden)
        return UniformLayers(n_layers, hidden)

    def legacy_int(self, dotted: str, value):
        """A positive int, or a range of them: ``"[1,3]"``, ``[1, 3]`` or a range mapping."""

        def check(v):
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                message = f"expected a positive integer, got {v!r}"
                self.error(dotted, message)
                raise _Invalid(message)
            return v

        if isinstance(value, str):
            text = value.strip()
            match = re.fullmatch(r"\[\s*([+-]?\d+)\s*,\s*([+-]?\d+)\s*\]", text)
            if match:
                value = [int(match.group(1)), int(match.group(2))]
            elif re.fullmatch(r"[+-]?\d+", text):
                value = int(text)
            else:
                self.error(dotted, f"expected an integer, a range string like '[1,3]', or a range mapping, got {value!r}")
                return None
        if isinstance(value, list):
            if len(value) != 2 or not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
                self.error(dotted, f"a range is two integers [low, high], got {value!r}; for a set of values use {{choices: [...]}}")
                return None
            value = {"type": "int", "low": value[0], "high": value[1]}
        if isinstance(value, dict) and (set(value) & RANGE_KEYS):
            return self.searchable(dotted, value, check, "int")
        try:
            return check(value)
        except _Invalid:
            return None

    def attention(self, out: dict, raw: dict) -> None:
        """nhead must divide d_model: for fixed values, every choice of a searched one, and (when
        both are searched) at least one pair; the compiler then samples valid pairs only."""
        import models

        defaults = models.config_class("transformer")()
        d_model, nhead = out.get("d_model", defaults.d_model), out.get("nhead", defaults.nhead)
        d_values, h_values = values_of(d_model), values_of(nhead)
        if d_values is None or h_values is None:
            return
        key = "model.nhead" if "nhead" in raw or "d_model" not in raw else "model.d_model"
        pairs = [(d, h) for d in d_values for h in h_values if d % h == 0]
        default_note = "" if "nhead" in raw else " (the default)"
        if not pairs:
            if len(d_values) == 1 and len(h_values) == 1:
                divisors = [n for n in range(1, d_model + 1) if d_model % n == 0]
                self.error(key, f"nhead={nhead}{default_note} must divide d_model={d_model}; valid nhead for d_model={d_model}: {_fmt(divisors, 12)}")
            else:
                self.error(key, f"no nhead value divides any d_model value (d_model: {_fmt(d_values)}; nhead: {_fmt(h_values)}); nhead must divide d_model, e.g. d_model 128 with nhead 4 or 8")
            return
        if len(d_values) == 1 and len(pairs) < len(h_values):
            bad = [h for h in h_values if d_values[0] % h]
            divisors = [n for n in range(1, d_values[0] + 1) if d_values[0] % n == 0]
            verb, them = ("does", "it") if len(bad) == 1 else ("do", "them")
            self.error("model.nhead", f"nhead {_fmt(bad)} {verb} not divide d_model={d_values[0]}; remove {them} (valid nhead for d_model={d_values[0]}: {_fmt(divisors, 12)})")
        elif len(h_values) == 1 and len(pairs) < len(d_values):
            bad = [d for d in d_values if d % h_values[0]]
            self.error("model.d_model", f"d_model {_fmt(bad)} {'is' if len(bad) == 1 else 'are'} not a multiple of nhead={h_values[0]}{default_note}; use multiples of {h_values[0]} only (e.g. a step that is a multiple of {h_values[0]} from a multiple of {h_values[0]})")
        elif len(pairs) > MAX_ATTENTION_PAIRS:
            self.error("model.d_model", f"d_model x nhead gives {len(pairs)} valid pairs, too many to sample as one categorical (at most {MAX_ATTENTION_PAIRS}); give d_model a step (e.g. step: 32) or choices")

    # -- rules that need several sections

    def tcn_receptive_field(self, model: dict, lookback) -> None:
        """A TCN output step sees ``1 + (k-1) * 2 * sum(base**i)`` input steps; a window longer
        than that is partly unused. Reject when no configuration covers the shortest lookback;
        warn, listing them, when some configurations do not cover the longest."""
        import models

        defaults = models.config_class("tcn")()
        if lookback is None or self.failed_model_keys & {"kernel_size", "dilation_base", "layer_sizes"}:
            return  # already reported
        kernels = values_of(model.get("kernel_size", defaults.kernel_size), 10_000)
        bases = values_of(model.get("dilation_base", defaults.dilation_base), 10_000)
        blocks = self.block_counts(model.get("layer_sizes", models.format_layer_sizes(defaults.layer_sizes)))
        lookbacks = values_of(lookback)
        if lookbacks is None:
            lookbacks = [lookback.low, lookback.high] if isinstance(lookback, IntRange) else None
        if not kernels or not bases or not blocks or not lookbacks or len(kernels) * len(bases) * len(blocks) > 100_000:
            return
        shortest, longest = min(lookbacks), max(lookbacks)
        fields = [(k, n, b, models.receptive_field(k, n, b)) for k in kernels for n in blocks for b in bases]
        widest = max(fields, key=lambda f: f[3])
        fix = "raise kernel_size, dilation_base or the number of blocks, or lower data.lookback"
        if widest[3] < shortest:
            self.error(
                "data.lookback",
                f"no TCN configuration sees a whole window: the widest receptive field is {widest[3]} steps "
                f"(kernel_size={widest[0]}, {widest[1]} blocks, dilation_base={widest[2]}; 1 + (k-1)*2*sum(base^i)) "
                f"but the lookback is at least {shortest}; {fix}",
            )
            return
        short = [f for f in fields if f[3] < longest]
        if short:
            listed = "; ".join(f"kernel_size={k}, {n} blocks, dilation_base={b}: {rf}" for k, n, b, rf in short[:6])
            more = f"; ... ({len(short)} in all)" if len(short) > 6 else ""
            self.warn(
                "data.lookback",
                f"{len(short)} of {len(fields)} TCN configurations have a receptive field shorter than the lookback "
                f"(up to {longest}), so they ignore the oldest steps of each window: {listed}{more}; {fix}",
            )

    @staticmethod
    def block_counts(layer_sizes) -> list[int] | None:
        import models

        if isinstance(layer_sizes, UniformLayers):
            return values_of(layer_sizes.n_layers, 10_000)
        values = values_of(layer_sizes)
        if values is None:
            return None
        return sorted({len(models.parse_layer_sizes(v)) for v in values})

    def grid_values(self, model: dict, data: dict, train: dict) -> None:
        """The grid sampler enumerates values: every searched key needs a finite set of them."""
        for section, values in (("model", model), ("data", data), ("train", train)):
            for key, value in values.items():
                parts = [(key, value)]
                if isinstance(value, UniformLayers):
                    parts = [(f"{key} (HIDDEN_UNITS)", value.hidden_units), (f"{key} (LAYERS)", value.n_layers)]
                for name, part in parts:
                    if isinstance(part, FloatRange) and (part.step is None or part.log):
                        if part.log:
                            decades = sorted({10.0 ** e for e in range(math.ceil(math.log10(part.low)), math.floor(math.log10(part.high)) + 1)})
                            fix = f"give it choices (e.g. {{choices: [{', '.join(f'{d:g}' for d in decades[:5]) or f'{part.low:g}, {part.high:g}'}]}})"
                        else:
                            fix = f"give it a step (e.g. step: {(part.high - part.low) / 4:g}) or choices"
                        self.error(
                            f"{section}.{key}",
                            f"the grid sampler needs a finite set of values, but this is a continuous float range "
                            f"({part.low:g}..{part.high:g}{', log' if part.log else ''}); {fix}, or use another sampler",
                        )

    def dataset(self, data: dict) -> None:
        """The dataset file exists and holds the named columns (its header only)."""
        path = Path(data["path"])
        if not path.exists():
            near = [p.name for p in path.parent.iterdir()] if path.parent.is_dir() else []
            self.error("data.path", f"no such file: {path} (paths are relative to the space file's folder){_did_you_mean(path.name, near)}")
            return
        columns = _columns(path)
        if columns is None:
            return  # read (and reported) by search.data.load_series
        keys = [("target", c) for c in data.get("target") or ()] + [("features", c) for c in data.get("features") or ()]
        for key in ("time_column", "series_id"):
            if data.get(key):
                keys.append((key, data[key]))
        for key, name in keys:
            if name not in columns:
                self.error(f"data.{key}", f"column {name!r} is not in {path.name}{_did_you_mean(name, columns)} (columns: {_fmt(columns, 20)})")

    # -- sampler / pruner: a name plus the options of the Optuna class it names

    def named(self, section: str, raw, default_name: str) -> dict:
        from search import compile as compile_mod

        if raw is None:
            raw = {"name": default_name}
        if isinstance(raw, str):
            raw = {"name": raw}
        raw = dict(self.mapping(section, raw))
        kind = section.split(".")[0]
        table = compile_mod.SAMPLERS if kind == "sampler" else compile_mod.PRUNERS
        name = raw.pop("name", default_name)
        if not isinstance(name, str) or name not in table:
            self.error(f"{section}.name", f"unknown {kind} {name!r}{_did_you_mean(name, table)} (valid: {', '.join(table)})")
            return {"name": name}
        cls = table[name]
        options = compile_mod.option_names(cls)
        annotations = compile_mod.option_annotations(cls)
        before = len(self.problems)
        for key, value in raw.items():
            dotted = f"{section}.{key}"
            if key not in options:
                listed = ", ".join(options) if options else "none"
                self.error(dotted, f"{name} {kind} has no option {key!r}{_did_you_mean(key, options)} (valid: {listed})")
            elif key == "wrapped":
                raw[key] = self.named(dotted, value, "median")
            else:
                self.check_option(dotted, value, annotations.get(key))
        for key in compile_mod.required_options(cls):
            if key not in raw:
                self.error(f"{section}.{key}", f"the {name} {kind} needs this option (e.g. {key}: {compile_mod.OPTION_EXAMPLES.get(key, '...')})")
        spec = {"name": name, **raw}
        if len(self.problems) == before and kind == "sampler":
            missing = [p for p in _fields.SAMPLER_PACKAGES.get(name, ()) if importlib.util.find_spec(p) is None]
            if missing:
                self.error(f"{section}.name", f"the {name} sampler needs the package{'s' if len(missing) > 1 else ''} {', '.join(missing)}, not installed; pip install {' '.join(missing)}, or use tpe")
        if len(self.problems) == before and name != "grid":
            self.constructs(section, kind, spec)
        return spec

    def check_option(self, dotted: str, value, annotation: str | None) -> None:
        """Type-check a sampler/pruner option by its constructor annotation (simple types only)."""
        if annotation is None:
            return
        tokens = {t.strip() for t in annotation.split("|")}
        if not tokens <= {"int", "float", "bool", "str", "None"}:
            return
        ok = (
            (value is None and "None" in tokens)
            or (isinstance(value, bool) and "bool" in tokens)
            or (isinstance(value, int) and not isinstance(value, bool) and tokens & {"int", "float"})
            or (isinstance(value, float) and "float" in tokens and math.isfinite(value))
            or (isinstance(value, str) and "str" in tokens)
        )
        if not ok:
            words = {"int": "an integer", "float": "a number", "bool": "true or false", "str": "a string", "None": "null"}
            expected = " or ".join(words[t] for t in ("int", "float", "bool", "str", "None") if t in tokens)
            self.error(dotted, f"expected {expected}, got {value!r}")

    def constructs(self, section: str, kind: str, spec: dict) -> None:
        """Build the sampler/pruner once, so that Optuna's own checks fail now, naming the option."""
        from search import compile as compile_mod

        build = compile_mod.make_sampler if kind == "sampler" else compile_mod.make_pruner
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                build(spec)
            for warning in caught:
                if issubclass(warning.category, (FutureWarning, DeprecationWarning)):
                    text = str(warning.message).split(". ")[0]
                    key = next((k for k in spec if k != "name" and f"`{k}`" in text), None)
                    self.warn(f"{section}.{key}" if key else section, f"{text} (Optuna); drop it")
            return
        except (TypeError, ValueError) as exc:
            message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        culprit = section
        for key in spec:
            if key in ("name", "wrapped"):
                continue
            try:
                build({"name": spec["name"], key: spec[key], **({"wrapped": spec["wrapped"]} if "wrapped" in spec else {})})
            except (TypeError, ValueError):
                culprit = f"{section}.{key}"
                break
        self.error(culprit, f"the {spec['name']} {kind} rejects its options: {message}")


def _columns(path: Path) -> list[str] | None:
    """Column names from a CSV header or a Parquet schema; None when the file cannot tell."""
    suffix = path.suffix.lower()
    try:
        if suffix in (".csv", ".txt"):
            with path.open(newline="", encoding="utf-8") as handle:
                return next(csv.reader(handle), [])
        if suffix in (".parquet", ".pq"):
            import pyarrow.parquet as pq

            return list(pq.read_schema(path).names)
    except Exception:  # unreadable: search.data reports it with the reader's own message
        return None
    return None
