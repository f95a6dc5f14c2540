"""The boundaries between the packages, checked on the code itself.

- import-linter's contracts (``.importlinter``): the layers of ``search``, the worker never
  importing the driver, the results side or the storage, ``models`` and ``storage`` importing
  nothing of the project, ``search validate``'s code importing neither Ray nor the storage,
  and no import circle in any package;
- the worker uses only the trial side of Ray Tune (``tune.report``), never its driver side
  (tuners, searchers, schedulers, callbacks), which import-linter cannot tell apart;
- ``search validate`` imports no Ray, seen in a fresh interpreter.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")

# What a worker may use of Ray: the module itself (its node id) and ``ray.tune`` for the
# trial's side of the exchange.
WORKER_RAY_MODULES = {"ray", "ray.tune"}
WORKER_TUNE_ATTRS = {"report", "get_context", "get_checkpoint", "Checkpoint"}


def test_import_contracts_are_kept():
    done = subprocess.run([str(LINT_IMPORTS), "--no-cache"], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "0 broken" in done.stdout
    kept = [line for line in done.stdout.splitlines() if line.startswith("Contracts:")]
    assert kept and int(kept[0].split()[1]) >= 7, kept  # every contract of .importlinter ran


def _ray_uses(path: Path) -> tuple[set[str], set[str]]:
    """The Ray modules a file imports and the attributes it reads from a name bound to ray.tune."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    modules, tune_names, attrs = set(), set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules |= {a.name for a in node.names if a.name.split(".")[0] == "ray"}
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "ray":
            for alias in node.names:
                full = f"{node.module}.{alias.name}"
                modules.add(full if full in WORKER_RAY_MODULES else f"{node.module}:{alias.name}")
                if full == "ray.tune":
                    tune_names.add(alias.asname or alias.name)
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in tune_names:
            attrs.add(node.attr)
    return modules, attrs


def test_the_worker_uses_only_the_trial_side_of_ray_tune():
    seen = {}
    for path in sorted((REPO / "search" / "worker").glob("*.py")):
        modules, attrs = _ray_uses(path)
        assert modules <= WORKER_RAY_MODULES, f"{path.name} imports {sorted(modules - WORKER_RAY_MODULES)}"
        assert attrs <= WORKER_TUNE_ATTRS, f"{path.name} uses tune.{sorted(attrs - WORKER_TUNE_ATTRS)}"
        seen[path.name] = (modules, attrs)
    assert "ray.tune" in seen["trainable.py"][0] and "report" in seen["trainable.py"][1]  # the check reads real code


def test_the_ray_check_sees_driver_side_imports(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("from ray.tune.schedulers import FIFOScheduler\nfrom ray import tune\ntune.Tuner\n")
    modules, attrs = _ray_uses(bad)
    assert not modules <= WORKER_RAY_MODULES and "Tuner" in attrs


def test_search_validate_imports_no_ray():
    code = (
        "import sys\n"
        "from search.cli import main\n"
        "code = main(['validate', 'spaces/lstm.yaml'])\n"
        "loaded = sorted(m for m in sys.modules if m == 'ray' or m.startswith('ray.'))\n"
        "print('RAY', loaded)\n"
        "sys.exit(code)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "spaces/lstm.yaml: ok" in done.stdout
    assert "RAY []" in done.stdout, done.stdout
