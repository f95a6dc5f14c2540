"""A JSON Schema (draft 2020-12) of a space file, made from the same definitions as the manual's
page of every key (``search.space.keys``): ``search schema`` prints it, and an editor that reads
JSON Schema (``# yaml-language-server: $schema=space.schema.json``) then completes and checks keys
as they are typed.

The schema checks each key's name, type, bounds, choices and whether it may take a range; what
lies between keys (``nhead`` divides ``d_model``, the dataset's columns, a grid's finite values)
stays with ``search validate``.
"""

from __future__ import annotations

from dataclasses import MISSING
from typing import Any

from search.space._fields import LEGACY_KEYS, TIME_FEATURES, TOP_LEVEL
from search.space.keys import PRUNER_DEFAULT, SAMPLER_DEFAULT, SECTION_DOCS, Key, model_keys, option_keys, section_keys

DIALECT = "https://json-schema.org/draft/2020-12/schema"

RANGE = {
    "type": "object",
    "description": "a search range: {type: float|int, low, high, log, step} or {choices: [...]}",
    "properties": {
        "type": {"enum": ["int", "float"]},
        "low": {"type": "number"},
        "high": {"type": "number"},
        "step": {"type": "number", "exclusiveMinimum": 0},
        "log": {"type": "boolean"},
        "choices": {"type": "array", "minItems": 1},
    },
    "additionalProperties": False,
    "anyOf": [{"required": ["choices"]}, {"required": ["low", "high"]}],
}


def _bounds(schema: dict, key: Key) -> dict:
    if key.low is not None:
        schema["exclusiveMinimum" if key.low_open else "minimum"] = key.low
    if key.high is not None:
        schema["maximum"] = key.high
    return schema


def _fixed(key: Key) -> dict:
    """The schema of a fixed value of ``key``."""
    kind = key.type.replace(" or null", "")
    if key.choices:
        schema: dict[str, Any] = {"enum": list(key.choices)}
    elif kind == "int":
        schema = _bounds({"type": "integer"}, key)
    elif kind == "number":
        schema = _bounds({"type": "number"}, key)
    elif kind == "bool":
        schema = {"type": "boolean"}
    elif kind == "string":
        schema = {"type": "string", "minLength": 1}
    elif kind == "int or auto":
        schema = {"anyOf": [{"type": "integer"}, {"const": "auto"}]}
    elif kind.startswith("column name"):
        schema = {"anyOf": [{"type": "string", "minLength": 1}, {"type": "array", "items": {"type": "string", "minLength": 1}}]}
    elif kind.startswith("[train, validation, test]"):
        point = {"type": ["string", "number"]}
        schema = {
            "anyOf": [
                {"type": "array", "items": {"type": "number", "minimum": 0}, "minItems": 3, "maxItems": 3},
                {"type": "object", "properties": {"val_start": point, "test_start": point}, "required": ["val_start", "test_start"], "additionalProperties": False},
            ]
        }
    elif kind.startswith("int or list of ints"):
        season = _bounds({"type": "integer"}, key)
        schema = {"anyOf": [season, {"type": "array", "items": season, "minItems": 1}]}
    elif kind.startswith("none, auto"):
        schema = {"anyOf": [{"type": "string"}, {"type": "array", "items": {"enum": list(TIME_FEATURES)}}]}
    elif kind.startswith("layer sizes"):
        schema = {"anyOf": [{"type": "string", "pattern": r"^\s*\d+(\s*,\s*\d+)*\s*$"}, {"type": "integer", "minimum": 1}, {"type": "array", "items": {"type": "integer", "minimum": 1}, "minItems": 1}]}
    elif kind.startswith("percent level"):
        level = {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 100}
        schema = {"anyOf": [level, {"type": "array", "items": level, "minItems": 1}]}
    elif kind.startswith("list of probabilities"):
        prob = {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1}
        schema = {"anyOf": [prob, {"type": "array", "items": prob, "minItems": 1}, {"type": "string", "pattern": r"^[\d.\s]+(,[\d.\s]+)*$"}]}
    elif kind.startswith("pruner mapping"):
        schema = {"type": "object", "properties": {"name": {"type": "string"}}}
    else:
        schema = {}
    if key.nullable or "null" in key.type:
        schema = {"anyOf": [schema, {"type": "null"}]}
    return schema


def _key_schema(key: Key) -> dict:
    fixed = _fixed(key)
    if key.searchable:  # a range whose choices and bounds are values the key takes
        within = {"choices": {"items": fixed}}
        if key.type in ("int", "number"):
            within |= {"low": _bounds({}, key), "high": _bounds({}, key)}
        schema = {"anyOf": [fixed, {"$ref": "#/$defs/range", "properties": within}]}
    else:
        schema = fixed
    schema["description"] = key.description
    if key.default is not MISSING and key.default is not None:
        schema["default"] = list(key.default) if isinstance(key.default, tuple) else key.default
    return schema


def _section(keys: list[Key], doc: str) -> dict:
    props = {k.key.split(".", 1)[1]: _key_schema(k) for k in keys}
    schema = {"type": "object", "description": doc, "properties": props, "additionalProperties": False}
    required = [k.key.split(".", 1)[1] for k in keys if k.required]
    if required:
        schema["required"] = required
    return schema


def _model() -> dict:
    families = model_keys()
    branches = []
    for family, keys in families.items():
        props = {k.key.split(".", 1)[1]: _key_schema(k) for k in keys[1:]}
        props["family"] = {"const": family}
        if "layer_sizes" in props:
            props |= {name: {"description": "legacy spelling of layer sizes (see the manual's Layer sizes)"} for name in LEGACY_KEYS}
        branches.append({"if": {"properties": {"family": {"const": family}}, "required": ["family"]}, "then": {"properties": props, "additionalProperties": False}})
    return {
        "type": "object",
        "description": SECTION_DOCS["model"],
        "properties": {"family": {"enum": list(families), "description": "the model family"}},
        "required": ["family"],
        "allOf": branches,
    }


def _named(kind: str, default: str) -> dict:
    """sampler or pruner: a name, then the options of the class it names."""
    names = option_keys(kind)
    branches = []
    for name, keys in names.items():
        props = {k.key.split(".", 1)[1]: _key_schema(k) for k in keys} | {"name": {"const": name}}
        then = {"properties": props, "additionalProperties": False}
        required = [k.key.split(".", 1)[1] for k in keys if k.required]
        if required:
            then["required"] = required
        branches.append({"if": {"properties": {"name": {"const": name}}, "required": ["name"]}, "then": then})
        if name == default:  # no name: the default's options
            branches.append({"if": {"not": {"required": ["name"]}}, "then": then})
    return {
        "type": "object",
        "description": SECTION_DOCS[kind] + f"; default {default}",
        "properties": {"name": {"enum": list(names)}},
        "allOf": branches,
    }


def json_schema() -> dict:
    """The JSON Schema of a space file."""
    sections = section_keys()
    objective = _section(sections.pop("objective"), SECTION_DOCS["objective"])
    props: dict[str, Any] = {
        "description": {"type": "string", "description": SECTION_DOCS["description"]},
        "model": _model(),
        "objective": {"description": SECTION_DOCS["objective"], "anyOf": [objective, {"type": "array", "items": objective, "minItems": 2, "maxItems": 3}]},
        "sampler": _named("sampler", SAMPLER_DEFAULT),
        "pruner": _named("pruner", PRUNER_DEFAULT),
    }
    props |= {name: _section(keys, SECTION_DOCS[name]) for name, keys in sections.items()}
    return {
        "$schema": DIALECT,
        "title": "sequence-search space file",
        "description": "A search space: the model family and its parameters, the data, the training, the objective, the sampler and the pruner.",
        "type": "object",
        "properties": {"$schema": {"type": "string", "description": "the path or URL of this schema, for editors; the space ignores it"}} | {name: props[name] for name in TOP_LEVEL},
        "required": ["model", "data"],
        "additionalProperties": False,
        "$defs": {"range": RANGE},
    }
