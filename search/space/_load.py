"""Reading a space file: YAML (or JSON) with line numbers, and ``--set`` overrides."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import yaml

from search._format import did_you_mean, not_a_file
from search.errors import ConfigError, UsageError


# --------------------------------------------------------------------------- loading


class _Loader(yaml.SafeLoader):
    """YAML 1.1 reads ``1e-4`` (no dot) as a string; here it is a float, as in YAML 1.2/JSON."""


_Loader.yaml_implicit_resolvers = {k: list(v) for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


def yaml_load(text: str):
    """``yaml.safe_load`` that also reads exponents without a dot (``1e-4``) as floats."""
    return yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass


def _line_index(text: str) -> tuple[dict[str, int], list[tuple[str, int, int]]]:
    """Dotted key -> 1-based line (list items as ``key[i]``), from the YAML node tree (JSON is
    YAML too), and the keys that appear twice in one mapping: (key, first line, second line)."""
    lines: dict[str, int] = {}
    duplicates: list[tuple[str, int, int]] = []

    def walk(node, prefix: str) -> None:
        if isinstance(node, yaml.MappingNode):
            seen: dict[str, int] = {}
            for key_node, value_node in node.value:
                key = f"{prefix}{key_node.value}"
                line = key_node.start_mark.line + 1
                if key in seen:
                    duplicates.append((key, seen[key], line))
                seen[key] = line
                lines.setdefault(key, line)
                walk(value_node, key + ".")
        elif isinstance(node, yaml.SequenceNode):
            base = prefix[:-1]
            for i, item in enumerate(node.value):
                lines.setdefault(f"{base}[{i}]", item.start_mark.line + 1)
                walk(item, f"{base}[{i}].")

    try:
        walk(yaml.compose(text, Loader=yaml.SafeLoader), "")
    except yaml.YAMLError:
        pass
    return lines, duplicates


# A space file is a page of keys: these bounds refuse, at once, files that are not one.
MAX_SPACE_BYTES = 1 << 20  # 1 MiB
MAX_VALUES = 10_000  # values after YAML aliases are expanded
MAX_DEPTH = 50  # levels of nested mappings and lists


def _read_text(path: Path) -> str:
    """The file's text: UTF-8 (a byte-order mark is skipped), at most ``MAX_SPACE_BYTES``."""
    size = path.stat().st_size
    if size > MAX_SPACE_BYTES:
        raise ConfigError([f"{path}: {size} bytes, more than a space file's {MAX_SPACE_BYTES} bytes; a space is a page of keys (see spaces/lstm.yaml)"])
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise ConfigError([f"{path}:{line}: not UTF-8 (byte 0x{data[exc.start]:02x} at column {column}); a space file must be UTF-8 text: save it as UTF-8"]) from None


def _expanded_size(node, memo: dict[int, int]) -> int:
    """How many values the YAML node tree holds once its aliases are expanded (each alias
    counts the whole subtree it repeats), computed without expanding anything."""
    key = id(node)
    if key in memo:
        return memo[key]
    memo[key] = 1  # a recursive alias counts once
    if isinstance(node, yaml.MappingNode):
        total = 1 + sum(_expanded_size(k, memo) + _expanded_size(v, memo) for k, v in node.value)
    elif isinstance(node, yaml.SequenceNode):
        total = 1 + sum(_expanded_size(item, memo) for item in node.value)
    else:
        total = 1
    memo[key] = total
    return total


def _check_shape(path: Path, text: str) -> None:
    """Refuse YAML nested deeper than ``MAX_DEPTH`` or whose aliases expand beyond
    ``MAX_VALUES`` values (an alias bomb), before any value is built: the events are read
    once (linear in the text), and the node tree is measured only when there are aliases."""
    depth, alias_line = 0, None
    for event in yaml.parse(text, Loader=_Loader):
        if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
            depth += 1
            if depth > MAX_DEPTH:
                raise ConfigError([f"{path}:{event.start_mark.line + 1}: nested more than {MAX_DEPTH} levels deep; a space is a few levels of keys (see spaces/lstm.yaml)"])
        elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
            depth -= 1
        elif isinstance(event, yaml.AliasEvent) and alias_line is None:
            alias_line = event.start_mark.line + 1
    if alias_line is None:
        return
    node = yaml.compose(text, Loader=_Loader)
    if node is not None and _expanded_size(node, {}) > MAX_VALUES:
        raise ConfigError([f"{path}:{alias_line}: YAML aliases expand to more than {MAX_VALUES} values; a space file needs no such thing: write the values out"])


# A top-level key an editor reads (JSON has no comment to carry yaml-language-server's
# ``# yaml-language-server: $schema=...`` line); the space itself ignores it.
SCHEMA_KEY = "$schema"


def read_raw(path: str | Path) -> tuple[dict, dict[str, int]]:
    """The file's mapping and its key -> line index. Raises ConfigError on unreadable files:
    not UTF-8, beyond ``MAX_SPACE_BYTES``, aliases beyond ``MAX_VALUES``, bad syntax. A top-level
    ``$schema`` key (an editor's pointer to the JSON Schema) is dropped."""
    path = Path(path)
    problem = not_a_file(path)
    if problem and problem != "no such file":
        raise ConfigError([f"{path}: {problem}; give a .yaml or .json space file"])
    if problem:
        hint = did_you_mean(path.name, [p.name for p in path.parent.glob("*.y*ml")] + [p.name for p in path.parent.glob("*.json")]) if path.parent.is_dir() else ""
        raise ConfigError([f"{path}: no such space file{hint}"])
    if path.is_dir():
        raise ConfigError([f"{path}: is a folder; give a .yaml or .json space file"])
    text = _read_text(path)
    try:
        if path.suffix.lower() == ".json":
            raw = json.loads(text)
        else:
            _check_shape(path, text)
            raw = yaml_load(text)
    except json.JSONDecodeError as exc:
        raise ConfigError([f"{path}:{exc.lineno}: invalid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"]) from None
    except RecursionError:  # JSON nested thousands deep
        raise ConfigError([f"{path}: nested too deeply to read; a space is a few levels of keys (see spaces/lstm.yaml)"]) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        context = getattr(exc, "context", None)
        detail = f"{problem} ({context})" if context else problem
        col = f" at column {mark.column + 1}" if mark else ""
        raise ConfigError([f"{path}{where}: invalid YAML{col}: {detail}; check the indentation and quoting on that line or the one above"]) from None
    if raw is None:
        raise ConfigError([f"{path}: the file is empty; a space needs at least 'model' and 'data' (see spaces/lstm.yaml)"])
    if not isinstance(raw, dict):
        raise ConfigError([f"{path}: the top level must be a mapping of sections (model:, data:, ...), got {type(raw).__name__}"])
    schema = raw.pop(SCHEMA_KEY, None)  # for editors only: which JSON Schema completes the file
    if schema is not None and not isinstance(schema, str):
        raise ConfigError([f"{path}: {SCHEMA_KEY}: must be the path or URL of a JSON Schema (e.g. space.schema.json), got {schema!r}"])
    lines, duplicates = _line_index(text)
    if duplicates:
        raise ConfigError([f"{path}:{second}: {key}: appears twice (lines {first} and {second}); keep one" for key, first, second in duplicates])
    return raw, lines


def apply_overrides(raw: dict, overrides: list[str]) -> dict:
    """Apply ``KEY=VALUE`` overrides (dotted key, YAML value) to a copy of ``raw``."""
    raw = copy.deepcopy(raw)  # YAML may hold dates, which JSON cannot copy
    for item in overrides:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--set {item!r}: expected KEY=VALUE, e.g. --set train.epochs=3")
        try:
            value = yaml_load(text)
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
