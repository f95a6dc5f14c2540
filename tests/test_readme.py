"""The README's first command, run as a new user would: a fresh virtual environment in a fresh
copy of the project, then a real (small) search on the shipped dataset; and the manual's Python
API example (docs/python-api.md). tests/test_docs.py runs the other examples of the manual."""

from __future__ import annotations

import re
import shutil
import sqlite3
import subprocess

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.slow


def readme_command(marker: str) -> str:
    text = (REPO / "README.md").read_text()
    match = re.search(rf"<!-- {marker} -->\s*```bash\n(.+?)\n```", text)
    assert match, f"README.md has no {marker} block"
    return match.group(1)


def project_files() -> list[str]:
    out = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=REPO, capture_output=True, text=True, check=True)
    return [line for line in out.stdout.splitlines() if line and (REPO / line).is_file()]


def test_ci_runs_the_readme_test_command():
    ci = (REPO / ".ci" / "run").read_text()
    assert "test-command" in ci  # .ci/run extracts and runs the README block itself
    assert "pytest" in readme_command("test-command")


def test_first_command_on_a_fresh_virtual_environment(tmp_path):
    command = readme_command("first-command")
    assert "--trials 20" in command
    command = command.replace("--trials 20", "--trials 2 --set train.epochs=2")
    for name in project_files():
        target = tmp_path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, target)
    result = subprocess.run(["bash", "-c", command], cwd=tmp_path, capture_output=True, text=True, timeout=1500)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    assert "best trial #" in result.stdout and "search dashboard --storage sqlite:///studies.db" in result.stdout
    with sqlite3.connect(tmp_path / "studies.db") as conn:
        n = conn.execute("select count(*) from trials where state in ('COMPLETE', 'PRUNED')").fetchone()[0]
    assert n == 2


def docs_python(page: str, marker: str) -> str:
    text = (REPO / "docs" / page).read_text()
    match = re.search(rf"<!-- {marker} -->\s*```python\n(.+?)\n```", text, re.S)
    assert match, f"docs/{page} has no {marker} block"
    return match.group(1)


def test_the_python_api_example_runs(tmp_path):
    import sys

    for folder in ("spaces", "datasets"):
        (tmp_path / folder).symlink_to(REPO / folder)
    code = docs_python("python-api.md", "python-api") + "\nprint('BEST', study.best_trial.number, forecaster.horizon, len(study.trials))\n"
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    first = result.stdout.splitlines()[0].split()
    assert first[0] == "lstm" and first[1:2] == ["['rmse']"] and first[-1] == "52"
    assert "BEST" in result.stdout and result.stdout.rstrip().endswith(" 3")
    with sqlite3.connect(tmp_path / "api-example.db") as conn:
        n = conn.execute("select count(*) from trials where state in ('COMPLETE', 'PRUNED')").fetchone()[0]
    assert n == 3
