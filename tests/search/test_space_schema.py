"""The JSON Schema of a space file (`search schema`, search.space.schema): made from the same
definitions as the validator and the manual, it accepts every shipped space and refuses what the
validator refuses key by key."""

from __future__ import annotations

import json

import jsonschema
import pytest

from search.cli import main
from search.errors import ConfigError
from search.space import compile_space, load_space
from search.space._load import yaml_load
from search.space.schema import json_schema
from tests.conftest import REPO

SHIPPED = sorted((REPO / "spaces").glob("*.yaml")) + sorted(p for p in (REPO / "spaces").glob("*.json") if not p.name.endswith(".schema.json"))


COMMITTED = REPO / "spaces" / "space.schema.json"  # what the shipped spaces' $schema line names
MODELINE = "# yaml-language-server: $schema=space.schema.json"


@pytest.fixture(scope="module")
def validator():
    schema = json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def test_the_committed_schema_is_what_search_schema_prints_now():
    committed = json.loads(COMMITTED.read_text())
    assert committed == json_schema(), f"{COMMITTED.relative_to(REPO)} is stale: regenerate it with `search schema --out spaces/space.schema.json`"


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_every_shipped_space_fits_the_committed_schema(path):
    schema = json.loads(COMMITTED.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    raw = yaml_load(path.read_text()) if path.suffix == ".yaml" else json.loads(path.read_text())
    problems = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in jsonschema.Draft202012Validator(schema).iter_errors(raw)]
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("path", [p for p in SHIPPED if p.suffix == ".yaml"], ids=lambda p: p.name)
def test_every_shipped_yaml_space_names_the_schema_for_editors(path):
    assert path.read_text().splitlines()[0] == MODELINE
    assert (path.parent / MODELINE.rpartition("=")[2]).is_file()


def test_the_shipped_json_space_names_the_schema_by_its_key():
    (path,) = [p for p in SHIPPED if p.suffix == ".json"]
    assert json.loads(path.read_text())["$schema"] == "space.schema.json"


@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_a_space_with_a_schema_key_loads_and_is_still_validated(tmp_path, suffix):
    space = tmp_path / f"s{suffix}"
    raw = {"$schema": "space.schema.json", "model": {"family": "lstm"}, "data": {"path": str(REPO / "datasets" / "mauna_loa_co2_weekly.csv"), "time_column": "date", "target": "co2"}}
    space.write_text(json.dumps(raw))  # JSON is YAML too
    plain = tmp_path / f"plain{suffix}"
    plain.write_text(json.dumps({k: v for k, v in raw.items() if k != "$schema"}))
    assert compile_space(load_space(space)).content() == compile_space(load_space(plain)).content()  # ignored: the same space
    raw["data"]["lookbak"] = 12
    space.write_text(json.dumps(raw))
    with pytest.raises(ConfigError, match="lookbak"):
        load_space(space)
    raw["data"].pop("lookbak")
    raw["$schema"] = 3
    space.write_text(json.dumps(raw))
    with pytest.raises(ConfigError, match=r"\$schema: must be the path or URL"):
        load_space(space)


def test_search_schema_prints_it(capsys, tmp_path):
    assert main(["schema"]) == 0
    assert json.loads(capsys.readouterr().out) == json_schema()
    out = tmp_path / "space.schema.json"
    assert main(["schema", "--out", str(out)]) == 0
    assert json.loads(out.read_text()) == json_schema()
    assert main(["schema", "--out", str(tmp_path / "missing" / "s.json")]) == 2
    assert "--out" in capsys.readouterr().err


@pytest.mark.parametrize(
    "key, value",
    [
        ("colour", "red"),  # no such section
        ("data.lookbak", 12),  # no such key
        ("model.kernel_size", 3),  # a TCN key in an LSTM space
        ("data.horizon", {"type": "int", "low": 1, "high": 4}),  # not searchable
        ("data.lookback", 0),  # below its bound
        ("data.lookback", {"type": "int", "low": 0, "high": 8}),  # a range below it
        ("train.loss", {"choices": ["mse", "l2"]}),  # a choice it does not take
        ("train.optimizer", "adagrad"),
        ("model.dropout", "high"),  # not a number
        ("sampler", {"name": "tpe", "population_size": 10}),  # an option of another sampler
        ("pruner", {"name": "percentile"}),  # its required option missing
        ("objective", {"metric": "r2"}),
    ],
)
def test_what_the_schema_refuses_the_validator_refuses(validator, tmp_path, key, value):
    space = tmp_path / "s.yaml"
    space.write_text(f"model: {{family: lstm}}\ndata: {{path: {REPO / 'datasets' / 'mauna_loa_co2_weekly.csv'}, time_column: date, target: co2}}\n")
    raw = yaml_load(space.read_text())
    assert not list(validator.iter_errors(raw))
    section, _, name = key.partition(".")
    if name:
        raw.setdefault(section, {})[name] = value
    else:
        raw[section] = value
    assert list(validator.iter_errors(raw)), f"the schema accepts {key}={value!r}"
    space.write_text(json.dumps(raw))
    with pytest.raises(ConfigError):
        load_space(space)


def _documented_spaces() -> list[tuple[str, int, dict]]:
    """Every whole space the manual and the README show: a YAML block whose top level has a
    ``model`` and a ``data`` section, outside the pages of refused examples."""
    import re

    fence = re.compile(r"```yaml\n(.*?)\n```", re.S)
    pages = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
    out = []
    for page in pages:
        if page.name == "errors.md":  # what the validator refuses, on purpose
            continue
        for k, match in enumerate(fence.finditer(page.read_text())):
            try:
                raw = yaml_load(match.group(1))
            except Exception:
                continue  # a fragment, not a file
            if isinstance(raw, dict) and {"model", "data"} <= set(raw):
                out.append((page.name, k, raw))
    return out


DOCUMENTED = _documented_spaces()


def test_the_manual_shows_whole_spaces():
    assert len(DOCUMENTED) >= 3, [(p, k) for p, k, _ in DOCUMENTED]


@pytest.mark.parametrize("page,k,raw", DOCUMENTED, ids=[f"{p}#{k}" for p, k, _ in DOCUMENTED])
def test_every_documented_space_fits_the_committed_schema(page, k, raw):
    schema = json.loads(COMMITTED.read_text())
    problems = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in jsonschema.Draft202012Validator(schema).iter_errors(raw)]
    assert not problems, f"{page} block {k}:\n" + "\n".join(problems)
