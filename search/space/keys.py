"""Every key of a space file, read from the validator's own definitions: the reference page of
the manual (``docs/space-keys.md``, written by ``docs/gen_keys.py``) and the JSON Schema of
``search schema`` are both made here, so neither can disagree with what ``search validate``
accepts.

The sources: ``_fields`` (the data, train, objective, resources, tracking and checkpoints
sections), each model family's config dataclass (a field's default, its type and the comment
on its line), and the constructors of the Optuna samplers and pruners ``registry`` names.
"""

from __future__ import annotations

import inspect
import re
from dataclasses import MISSING, dataclass
from typing import Any

from search.space import registry
from search.space._fields import (
    CHECKPOINT_FIELDS,
    DATA_FIELDS,
    LAYER_SIZE_ALIASES,
    OBJECTIVE_FIELDS,
    RESOURCE_FIELDS,
    TOP_LEVEL,
    TRACKING_FIELDS,
    TRAIN_FIELDS,
    UNIFORM_LAYER_KEYS,
    Field,
)

SECTION_DOCS = {
    "description": "free text about the space, shown nowhere but in the file",
    "model": "the model family and the family's own parameters",
    "data": "the dataset, its columns, the split and the windows",
    "train": "how each trial trains",
    "objective": "the validation metric a trial is ranked by and its direction; a list of 2 or 3 for a multi-objective study",
    "sampler": "the Optuna sampler (name) and its options",
    "pruner": "the Optuna pruner (name) and its options",
    "resources": "what one trial takes from the Ray runtime, and the largest model allowed",
    "tracking": "experiment tracking besides the study (not part of the space's hash)",
    "checkpoints": "which trials keep their checkpoint (not part of the space's hash)",
}
FIELD_SECTIONS = {
    "data": DATA_FIELDS,
    "train": TRAIN_FIELDS,
    "objective": OBJECTIVE_FIELDS,
    "resources": RESOURCE_FIELDS,
    "tracking": TRACKING_FIELDS,
    "checkpoints": CHECKPOINT_FIELDS,
}
SAMPLER_DEFAULT, PRUNER_DEFAULT = "tpe", "median"  # as _validate names them (pruner: none for several objectives)

_KIND_TYPES = {
    "int": "int",
    "float": "number",
    "bool": "bool",
    "str": "string",
    "columns": "column name or list of names",
    "fractions": "[train, validation, test] fractions summing to 1, or {val_start: T, test_start: T}",
    "seasons": "int or list of ints",
    "time_features": "none, auto, or a list of names",
    "sizes": 'layer sizes: "64,32", 64 or [64, 32]',
    "levels": "percent level or list of levels",
    "quantiles": "list of probabilities, or them joined by commas",
}


@dataclass(frozen=True)
class Key:
    """One key of a space file, as the manual shows it."""

    key: str  # dotted: data.lookback, model.lstm.dropout, sampler.tpe.seed
    type: str
    default: Any  # MISSING when the key is required, None for null
    searchable: bool
    choices: tuple = ()
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    description: str = ""
    nullable: bool = False

    @property
    def required(self) -> bool:
        return self.default is MISSING

    def range_text(self) -> str:
        if self.choices:
            return " \\| ".join(f"`{str(c).lower() if isinstance(c, bool) else c}`" for c in self.choices)
        parts = []
        if self.low is not None:
            parts.append(f"{'>' if self.low_open else '≥'} {self.low:g}")
        if self.high is not None:
            parts.append(f"≤ {self.high:g}")
        return ", ".join(parts)

    def default_text(self) -> str:
        if self.required:
            return "required"
        if self.default is None:
            return "null" if self.nullable or "null" in self.type else "see description"
        if self.type.startswith("layer sizes"):
            return f'`"{self.default}"`'
        return f"`{yaml_text(self.default)}`"


def yaml_text(value) -> str:
    """A default as a space file writes it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(yaml_text(v) for v in value) + "]"
    if isinstance(value, float) and value >= 1e6:
        return f"{value:.0e}".replace("e+0", "e").replace("e+", "e")
    return str(value)


def _field_key(dotted: str, spec: Field) -> Key:
    if spec.kind == "choice":
        kind = "string" if all(isinstance(c, str) for c in spec.choices if c is not None) else "choice"
    else:
        kind = _KIND_TYPES[spec.kind]
    if spec.nullable and "null" not in kind:
        kind += " or null"
    default = MISSING if spec.required else spec.default
    return Key(dotted, kind, default, spec.searchable, tuple(spec.choices), spec.low, spec.high, spec.low_open, spec.doc, spec.nullable)


_COMMENTED_FIELD = re.compile(r"^\s+(\w+)\s*:[^=#]*(?:=[^#]*)?#\s*(.+?)\s*$")


def model_keys() -> dict[str, list[Key]]:
    """family -> its keys: a family's config dataclass is what the validator checks model keys
    against (any of them is searchable); the comment on a field's line is its description."""
    import models

    from search.space._fields import _MODEL_KINDS

    out = {}
    for family in models.FAMILIES:
        cls = models.config_class(family)
        comments = {m.group(1): m.group(2) for line in inspect.getsource(cls).splitlines() if (m := _COMMENTED_FIELD.match(line))}
        keys = [Key("model.family", "string", MISSING, False, tuple(models.FAMILIES), description="the model family")]
        for name, f in cls.__dataclass_fields__.items():
            annotation = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type))
            kind = _KIND_TYPES.get(_MODEL_KINDS.get(annotation, ""), annotation)
            default = f.default if f.default is not MISSING else f.default_factory()  # type: ignore[misc]
            if kind.startswith("layer sizes"):
                default = ",".join(str(v) for v in default)
            keys.append(Key(f"model.{name}", kind, default, True, description=comments.get(name, "")))
        out[family] = keys
    return out


def option_keys(kind: str) -> dict[str, list[Key]]:
    """sampler or pruner name -> its options, from the Optuna class's constructor."""
    classes = registry.SAMPLERS if kind == "sampler" else registry.PRUNERS
    out = {}
    for name, cls in classes.items():
        annotations = registry.option_annotations(cls)
        keys = []
        for option, param in registry._parameters(cls).items():
            option = registry._RENAMED.get(option, option)
            default = MISSING if param.default is inspect.Parameter.empty else param.default
            if option == "wrapped":
                type_text, default = "pruner mapping {name: ..., options} or null", None
            else:
                type_text = annotations.get(option, "any").replace("str | int", "int or auto").replace(" | None", " or null")
                type_text = {"str": "string", "float": "number"}.get(type_text, type_text).replace("float or", "number or")
            keys.append(Key(f"{kind}.{option}", type_text, default, False, description=f"`{cls.__name__}({param.name}=...)`", nullable="null" in type_text))
        out[name] = keys
    return out


def section_keys() -> dict[str, list[Key]]:
    """section -> its keys, for the sections the validator checks field by field."""
    return {section: [_field_key(f"{section}.{name}", spec) for name, spec in fields.items()] for section, fields in FIELD_SECTIONS.items()}


# --------------------------------------------------------------------------- the manual's page


def _table(keys: list[Key], *, searchable_column: bool = True) -> list[str]:
    head = "| key | type | default | range | searchable | description |" if searchable_column else "| key | type | default | description |"
    lines = [head, "|" + "---|" * (6 if searchable_column else 4)]
    for k in keys:
        if k.key == "model.family":
            continue
        desc = k.description.replace("|", "\\|")
        if searchable_column:
            lines.append(f"| `{k.key}` | {k.type} | {k.default_text()} | {k.range_text()} | {'yes' if k.searchable else 'no'} | {desc} |")
        else:
            lines.append(f"| `{k.key.split('.', 1)[1]}` | {k.type} | {k.default_text()} | {desc} |")
    return lines


def markdown() -> str:
    """The manual's page of every key (docs/space-keys.md)."""
    out = [
        "# Every key",
        "",
        "<!-- Generated by `python docs/gen_keys.py` from search/space/_fields.py, the model families' config",
        "     dataclasses and the Optuna classes in search/space/registry.py; do not edit by hand. -->",
        "",
        "Every key a space file may hold, read from the definitions `search validate` checks against:",
        "its type, its default (a key left out takes it), the values it accepts and whether it is",
        "**searchable**, i.e. takes a range instead of a fixed value:",
        "`{type: float, low: A, high: B, log: true}`, `{type: int, low: A, high: B, step: S}` or",
        "`{choices: [...]}` ([Ranges](space-file.md#ranges)). `search show SPACE` prints a space with",
        "every default filled in; `search schema` prints the same definitions as a JSON Schema.",
        "",
        "## Sections",
        "",
        "| section | what it holds |",
        "|---|---|",
    ]
    out += [f"| `{name}` | {SECTION_DOCS[name]} |" for name in TOP_LEVEL]
    out += ["", "## model", "", "`model.family` (required) is one of the families below; every other key is the family's own"]
    out += ["parameter and searchable. An unknown parameter is refused with the family's valid ones.", ""]
    for family, keys in model_keys().items():
        out += [f"### model: {family}", ""] + _table(keys) + [""]
    out += [
        f"The recurrent families also read {', '.join(f'`{k}`' for k in LAYER_SIZE_ALIASES)} as `layer_sizes`, and the pair",
        f"{' + '.join(f'`{k}`' for k in UNIFORM_LAYER_KEYS)} as uniform layers (`LAYERS: 2, HIDDEN_UNITS: 64` is `\"64,64\"`; each a",
        "fixed int, a range string `\"[1,3]\"` or a range); see [Layer sizes](space-file.md#layer-sizes).",
        "",
    ]
    for section, keys in section_keys().items():
        out += [f"## {section}", ""]
        if section == "objective":
            out += ["A mapping, or a list of 2 or 3 of them ([Several objectives](space-file.md#several-objectives)).", ""]
        out += _table(keys) + [""]
    for kind, default in (("sampler", SAMPLER_DEFAULT), ("pruner", PRUNER_DEFAULT)):
        names = option_keys(kind)
        out += [f"## {kind}", ""]
        extra = " (`none` in a multi-objective study)" if kind == "pruner" else ""
        out += [f"`{kind}.name` is one of {', '.join(f'`{n}`' for n in names)}; default `{default}`{extra}. The other keys are the"]
        out += ["options of the Optuna class it names, with that class's defaults; none is searchable.", ""]
        for name, keys in names.items():
            if not keys:
                out += [f"### {kind}: {name}", "", "No options.", ""]
                continue
            out += [f"### {kind}: {name}", ""] + _table(keys, searchable_column=False) + [""]
    return "\n".join(out).rstrip("\n") + "\n"
