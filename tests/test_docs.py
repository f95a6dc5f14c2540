"""The manual (docs/, mkdocs.yml): it builds in strict mode, its page of every space-file key is
the one the validator's definitions generate, the shipped spaces' comments agree with those
definitions, and every example of Getting started, Your own data and the README runs.

A fenced block may be headed by an HTML comment that says what the test does with it:
``<!-- file: NAME -->`` writes the block to NAME; ``<!-- not-run: why -->`` only parses its
commands with the real argument parser (a server that runs until stopped);
``<!-- first-command -->`` and ``<!-- test-command -->`` must equal the README's own blocks.
Every other ``bash`` block runs line by line and every ``python`` block runs, in order, in one
folder per page."""

from __future__ import annotations

import csv
import math
import os
import re
import shlex
import sqlite3
import subprocess
import sys
from dataclasses import MISSING, dataclass
from pathlib import Path

import pytest

from tests.conftest import REPO

DOCS = REPO / "docs"
FENCE = re.compile(r"(?:<!-- ([a-z-]+)(?::\s*(.*?))? -->\s*\n)?```(\w+)\n(.*?)\n```", re.S)


@dataclass
class Block:
    lang: str
    code: str
    marker: str | None = None  # file | not-run | first-command | test-command | python-api
    arg: str | None = None


def blocks(text: str) -> list[Block]:
    return [Block(m.group(3), m.group(4), m.group(1), m.group(2)) for m in FENCE.finditer(text)]


def marked(text: str, marker: str) -> Block:
    found = [b for b in blocks(text) if b.marker == marker]
    assert len(found) == 1, f"expected one {marker} block, found {len(found)}"
    return found[0]


# --------------------------------------------------------------------------- the site


def test_the_site_builds_in_strict_mode(tmp_path):
    """Broken links, missing anchors, pages outside the navigation all fail the build."""
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=REPO, capture_output=True, text=True, timeout=600, env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )  # fmt: skip
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    for page in ("getting-started", "own-data", "space-keys", "benchmarks", "coming-from"):
        assert (tmp_path / "site" / page / "index.html").is_file()
    assert "model.layer_sizes" in (tmp_path / "site" / "space-keys" / "index.html").read_text()


def test_every_page_is_in_the_navigation():
    import yaml

    def pages(nav):
        for entry in nav:
            for value in entry.values():
                yield from pages(value) if isinstance(value, list) else [value]

    config = yaml.safe_load((REPO / "mkdocs.yml").read_text())
    assert sorted(pages(config["nav"])) == sorted(p.name for p in DOCS.glob("*.md"))


def test_the_readme_is_short_and_keeps_the_two_commands():
    readme = (REPO / "README.md").read_text()
    assert len(readme.splitlines()) <= 250
    guide = (DOCS / "getting-started.md").read_text()
    for marker in ("first-command", "test-command"):
        assert marked(guide, marker).code == marked(readme, marker).code
    for link in re.findall(r"\]\((docs/[^)#]+)", readme):
        assert (REPO / link).is_file(), link


# --------------------------------------------------------------------------- one source for every key


def test_the_key_page_is_generated_from_the_definitions():
    from search.space.keys import markdown

    assert (DOCS / "space-keys.md").read_text() == markdown(), "docs/space-keys.md is out of date: run python docs/gen_keys.py"


def test_every_key_has_a_description():
    """A key added to the definitions (search/space/_fields.py, a model's config dataclass) says
    what it does there, so the manual and the schema say it too."""
    from search.space.keys import model_keys, section_keys

    keys = [k for ks in section_keys().values() for k in ks] + [k for ks in model_keys().values() for k in ks]
    assert [k.key for k in keys if not k.description.strip()] == []


def test_the_key_page_lists_what_the_validator_accepts(tmp_path):
    """A key the page lists is accepted, with the default it states; a key it does not list is refused."""
    import search
    from search.errors import ConfigError
    from search.space.keys import model_keys, section_keys

    space = tmp_path / "s.yaml"
    space.write_text(f"model: {{family: lstm}}\ndata: {{path: {REPO / 'datasets' / 'mauna_loa_co2_weekly.csv'}, time_column: date, target: co2}}\n")
    loaded = search.load_space(space)
    for key in section_keys()["data"] + section_keys()["train"]:
        section, name = key.key.split(".")
        if key.default is not MISSING and key.default is not None:
            value = getattr(loaded, section)[name]
            assert value == key.default or list(value) == list(key.default), key.key
    for key in model_keys()["lstm"][1:]:
        search.load_space(space, {key.key: key.default})
    with pytest.raises(ConfigError, match="train.epoch"):
        search.load_space(space, {"train.epoch": 3})


MODEL_KEY = re.compile(r"^( *)([A-Za-z_][A-Za-z0-9_]*):")
DEFAULT = re.compile(r"\bDefault: (.+?)(?:\.\s*$|\.\s|\s\(|;|$)")


def commented_keys(text: str) -> list[tuple[str, str, int]]:
    """(dotted key, its comment, line) for every key of a space file with comments right above it."""
    stack, comment, out = [], [], []
    for n, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if stripped.startswith("#"):
            comment.append(stripped.lstrip("#").strip())
            continue
        m = MODEL_KEY.match(line)
        if m:
            stack = stack[: len(m.group(1)) // 2] + [m.group(2)]
            if comment:
                out.append((".".join(stack), " ".join(comment), n))
        comment = []
    return out


@pytest.mark.parametrize("path", sorted((REPO / "spaces").glob("*.yaml")), ids=lambda p: p.name)
def test_a_shipped_space_comments_only_keys_that_exist_with_their_defaults_and_searchability(path):
    from search.space._fields import DEFAULT_METRIC, LEGACY_KEYS, MAXIMIZED_METRICS, TOP_LEVEL
    from search.space._load import yaml_load
    from search.space.keys import PRUNER_DEFAULT, SAMPLER_DEFAULT, model_keys, option_keys, section_keys

    text = path.read_text()
    raw = yaml_load(text)
    definitions = {k.key: k for keys in section_keys().values() for k in keys}
    definitions |= {k.key: k for k in model_keys()[raw["model"]["family"]]}
    definitions |= {k.key: k for k in option_keys("sampler")[(raw.get("sampler") or {}).get("name", SAMPLER_DEFAULT)]}
    definitions |= {k.key: k for k in option_keys("pruner")[(raw.get("pruner") or {}).get("name", PRUNER_DEFAULT)]}
    task = raw["data"].get("task", "forecast")
    metric = (raw.get("objective") or {}).get("metric", DEFAULT_METRIC[task]) if isinstance(raw.get("objective"), dict) else None
    problems, checked = [], 0
    for dotted, comment, line in commented_keys(text):
        if dotted in TOP_LEVEL or dotted.split(".")[-1] in LEGACY_KEYS or dotted in ("sampler.name", "pruner.name") or dotted.startswith("pruner.wrapped."):
            continue
        if dotted not in definitions:
            problems.append(f"{path.name}:{line}: {dotted} is commented but is no key of the definitions")
            continue
        if "Type:" in comment and ("searchable" in comment) != definitions[dotted].searchable:
            problems.append(f"{path.name}:{line}: {dotted}: the comment's type says searchable={'searchable' in comment}, the definitions {definitions[dotted].searchable}")
        stated = DEFAULT.search(comment)
        if not stated:
            continue
        checked += 1
        key = definitions[dotted]
        want = None if key.default is MISSING else key.default
        if dotted == "objective.metric":
            want = DEFAULT_METRIC[task]
        elif dotted == "objective.direction":
            if stated.group(1).startswith("the metric's own"):
                continue
            want = "maximize" if metric in MAXIMIZED_METRICS else "minimize"
        value = yaml_load(stated.group(1))
        if isinstance(want, tuple):
            want = list(want)
        if key.type.startswith("layer sizes") and isinstance(value, int):
            value = str(value)
        if value != want:
            problems.append(f"{path.name}:{line}: {dotted}: the comment says Default: {stated.group(1)}, the definitions {want!r}")
    assert not problems, "\n".join(problems)
    assert checked >= 5, f"{path.name}: only {checked} stated defaults found"


# --------------------------------------------------------------------------- the examples run


def _run_page(blocks_: list[Block], folder: Path, replace: dict[str, str], *, skip_first_command: bool = False) -> dict[str, str]:
    """Runs the blocks in ``folder``; returns each command's (or python block's) output."""
    from search.cli import build_parser

    bin_dir = folder / ".bin"
    bin_dir.mkdir()
    (bin_dir / "search").write_text(f'#!/bin/sh\nexec "{sys.executable}" -m search "$@"\n')
    (bin_dir / "search").chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "PYTHONPATH": f"{REPO}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    env.pop("SEARCH_STORAGE", None)
    outputs = {}

    def run(args: list[str], what: str) -> str:
        result = subprocess.run(args, cwd=folder, env=env, capture_output=True, text=True, timeout=1200)
        output = result.stdout + result.stderr
        assert result.returncode == 0, f"{what}\n{output[-4000:]}"
        return result.stdout

    for block in blocks_:
        if block.marker == "file":
            (folder / block.arg).write_text(block.code + "\n")
        elif block.marker == "test-command" or block.lang not in ("bash", "python"):
            continue
        elif block.marker == "not-run":
            for line in block.code.splitlines():
                build_parser().parse_args(shlex.split(line)[1:])  # a bad flag exits 2 here
        elif block.lang == "python":
            outputs[block.code] = run([sys.executable, "-c", block.code], block.code)
        else:
            code = block.code
            if block.marker == "first-command":  # the install is tested by tests/test_readme.py
                code = code.rsplit("&& ", 1)[1].replace(".venv/bin/search", "search")
            for line in code.splitlines():
                for old, new in replace.items():
                    line = line.replace(old, new)
                outputs[line] = run(["bash", "-c", line], line)
    return outputs


def _finished(db: Path, study: str) -> int:
    with sqlite3.connect(db) as conn:
        return conn.execute(
            "select count(*) from trials t join studies s on s.study_id = t.study_id where s.study_name = ? and t.state in ('COMPLETE', 'PRUNED')",
            (study,),
        ).fetchone()[0]


def _study_attrs(db: Path, study: str) -> set[str]:
    """The names of what the study records about itself, in either layout (search.study_attrs)."""
    import optuna

    from search.study_attrs import flat

    return set(flat(optuna.load_study(study_name=study, storage=f"sqlite:///{db}")))


@pytest.mark.slow
def test_getting_started_runs(tmp_path):
    text = (DOCS / "getting-started.md").read_text()
    for folder in ("spaces", "datasets"):
        (tmp_path / folder).symlink_to(REPO / folder)
    # small trials; the statistical baselines (tested elsewhere) left out to keep this test short
    small = "--set train.epochs=2 --set data.stat_baselines_seconds=0"
    out = _run_page(blocks(text), tmp_path, {"--trials 20": f"--trials 2 {small}", "--trials 40": f"--trials 3 {small}"})
    ran = {line.split(" --")[0]: output for line, output in out.items()}
    assert "best trial #" in ran["search run spaces/lstm.yaml"]
    assert _finished(tmp_path / "studies.db", "lstm") == 3  # 2, then resumed to 3
    assert "lstm" in ran["search studies"]
    assert re.search(r"COMPLETE|PRUNED", ran["search trials lstm"])
    assert "study lstm: best trial #" in ran["search best lstm"]
    assert (tmp_path / "report.html").stat().st_size > 1_000_000  # plotly.js embedded
    forecast = ran["search predict lstm"].split()
    assert forecast[0] == "step,co2,lo-95,lo-80,hi-80,hi-95" and float(forecast[1].split(",")[1]) > 300  # ppm, with the served intervals
    python = next(o for code, o in out.items() if "load_best" in code)
    assert python.split()[0] == "1"  # the shipped space forecasts one week


@pytest.mark.slow
def test_your_own_data_runs(tmp_path):
    text = (DOCS / "own-data.md").read_text()
    out = _run_page(blocks(text), tmp_path, {"--trials 20": "--trials 2 --set train.epochs=2"})
    with open(tmp_path / "sales.csv") as f:
        assert len(list(csv.reader(f))) == 731
    assert "sales.yaml: ok" in next(o for line, o in out.items() if line.startswith("search validate"))
    assert "wrote sales_init.yaml" in next(o for line, o in out.items() if line.startswith("search init"))
    assert "sales_init.yaml: ok" in next(o for line, o in out.items() if line.startswith("search validate sales_init"))
    assert _finished(tmp_path / "studies.db", "sales") == 2
    attrs = _study_attrs(tmp_path / "studies.db", "sales")
    assert {"baseline_naive_test_mae", "baseline_seasonal_naive_test_mae", "baseline_mstl_test_mae", "baseline_autoets_test_mae", "baseline_autotheta_test_mae"} <= attrs
    assert "study sales: best trial #" in next(o for line, o in out.items() if line.startswith("search best"))
    assert (tmp_path / "sales.html").is_file()
    with open(tmp_path / "forecast.csv") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["step", "sales", "lo-95", "lo-80", "hi-80", "hi-95"] and [r[0] for r in rows[1:]] == [str(i) for i in range(1, 8)]
    assert all(math.isfinite(float(r[1])) and 50 < float(r[1]) < 300 for r in rows[1:])
    assert all(float(r[2]) <= float(r[3]) <= float(r[1]) <= float(r[4]) <= float(r[5]) for r in rows[1:])


@pytest.mark.slow
def test_the_readmes_example_runs(tmp_path):
    """The README's example on your own CSV, on the file Your own data makes."""
    make_csv = next(b for b in blocks((DOCS / "own-data.md").read_text()) if b.lang == "python")
    readme = [b for b in blocks((REPO / "README.md").read_text()) if b.marker == "file" or b.marker is None and b.lang in ("python", "bash")]
    out = _run_page([make_csv] + readme, tmp_path, {"--trials 20": "--trials 2 --set train.epochs=2"})
    assert _finished(tmp_path / "studies.db", "sales") == 2
    forecast = next(o for line, o in out.items() if line.startswith("search predict")).split()
    assert forecast[0] == "step,sales,lo-95,lo-80,hi-80,hi-95" and len(forecast) == 8


def test_the_python_api_page_shows_the_real_signatures():
    import inspect

    import search

    text = (DOCS / "python-api.md").read_text()
    for name in set(search.__all__) - {"__version__"}:
        sig = inspect.signature(getattr(search, name))
        plain = sig.replace(parameters=[p.replace(annotation=inspect.Parameter.empty) for p in sig.parameters.values()], return_annotation=inspect.Signature.empty)
        assert f"search.{name}{plain}" in text, f"docs/python-api.md: search.{name}{plain}"


def test_every_benchmark_section_is_dated():
    """Current figures say when, where and how they were measured; superseded ones are dated history."""
    text = (DOCS / "benchmarks.md").read_text()
    current, _, history = text.partition("\n## History\n")
    assert history, "benchmarks.md has no History section"
    for section in re.split(r"\n## ", current)[2:]:  # after the title and the summary table
        assert re.search(r"^\*Measured 20\d\d-\d\d-\d\d", section, re.M), section.splitlines()[0]
        assert "2-core" in section or "machine" in section, section.splitlines()[0]
    summary = re.split(r"\n## ", current)[1]
    rows = [r for r in summary.splitlines() if r.startswith("| `")]
    assert rows and all(re.search(r"\| 20\d\d-\d\d-\d\d \|$", r) for r in rows)
    assert all(re.match(r"20\d\d-\d\d-\d\d: ", h) for h in re.findall(r"^### (.*)$", history, re.M))
