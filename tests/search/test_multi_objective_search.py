"""A real multi-objective search (mae and n_params, NSGA-II) through Ray, from Python and from the
command line, read back by ``search best``, the report, ``search.load_best`` and the dashboard."""

from __future__ import annotations

import contextlib
import io
import json
import subprocess
import sys
import textwrap
import urllib.request

import optuna
import pandas as pd
import pytest
from optuna.trial import TrialState

import search
from search.cli import main
from search.errors import ConfigError
from search.study_attrs import flat
from tests import _procs
from tests._browser import dump_dom, require_chromium
from tests._postgres import free_port
from tests.conftest import TINY_SPACE, write_series

pytestmark = pytest.mark.slow

OBJECTIVES = "objective: [{metric: mae}, {metric: n_params}]"
SPACE = (
    textwrap.dedent(TINY_SPACE)
    .replace('layer_sizes: {choices: ["8", "16,8"]}', 'layer_sizes: {choices: ["4", "8", "16,8"]}')
    .replace("  epochs: 3\n", "  epochs: 2\n")
    .replace("objective: {metric: rmse, direction: minimize}", OBJECTIVES)
    .replace("sampler: {name: random, seed: 0}", "sampler: {name: nsga2, population_size: 4, seed: 0}")
    .replace("pruner: {name: median, n_startup_trials: 2, n_warmup_steps: 1}\n", "")
)


@pytest.fixture(scope="module")
def searched(ray_local, tmp_path_factory):
    """Three trials from ``search.run``, then one more from ``search run`` (a resume), whose
    printed lines are kept."""
    folder = tmp_path_factory.mktemp("mo")
    write_series(folder / "series.csv")
    (folder / "mo.yaml").write_text(SPACE)
    (folder / "tiny.yaml").write_text(textwrap.dedent(TINY_SPACE))
    url, artifacts = f"sqlite:///{folder}/studies.db", str(folder / "artifacts")
    returned = search.run(folder / "mo.yaml", trials=3, storage=url, artifacts=artifacts, quiet=True)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(["run", str(folder / "mo.yaml"), "--trials", "4", "--storage", url, "--artifacts", artifacts])
    return {"folder": folder, "url": url, "artifacts": artifacts, "returned": returned, "code": code, "printed": out.getvalue()}


def load(searched) -> optuna.Study:
    return optuna.load_study(study_name="mo", storage=searched["url"])


def test_the_study_holds_every_objective(searched):
    assert len(searched["returned"].directions) == 2  # search.run returns the study
    study = load(searched)
    assert [d.name for d in study.directions] == ["MINIMIZE", "MINIMIZE"]
    assert study.metric_names == ["mae", "n_params"]
    assert flat(study)["metrics"] == ["mae", "n_params"] and flat(study)["metric"] == "mae"
    assert len(study.trials) == 4 and all(t.state == TrialState.COMPLETE for t in study.trials)
    for t in study.trials:
        assert len(t.values) == 2 and t.values[1] == t.user_attrs["n_params"]
        assert sorted(t.intermediate_values) == list(range(1, t.user_attrs["epochs_run"] + 1))  # the learning curve, first objective
        assert t.values[0] == min(t.intermediate_values.values())  # the best epoch's mae
        assert "test_mae" in t.user_attrs
    front = study.best_trials
    assert front and all("checkpoint" in t.user_attrs for t in front)  # every trial on the front kept its model
    # the resumed command ran the fourth trial and printed the front, lead first
    assert searched["code"] == 0, searched["printed"]
    printed = searched["printed"]
    assert "mae (minimize), n_params (minimize), sampler nsga2, pruner none; 3 of 4 trials finished" in printed
    lead = min(front, key=lambda t: (t.values[0], t.number))
    assert f"pareto front of {len(front)} trial" in printed and f"  trial #{lead.number}: mae=" in printed


def test_best_prints_the_front_and_load_best_loads_its_lead(searched, capsys):
    study = load(searched)
    front = sorted(study.best_trials, key=lambda t: (t.values[0], t.number))
    url, artifacts = searched["url"], searched["artifacts"]
    assert main(["best", "mo", "--storage", url]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"study mo: Pareto front of {len(front)} trial{'s' if len(front) > 1 else ''}, mae (minimize), n_params (minimize)"
    rows = [line.split() for line in lines[3 : 3 + len(front)]]
    assert [int(r[0]) for r in rows] == [t.number for t in front]
    assert [int(r[2]) for r in rows] == [t.values[1] for t in front]
    assert any(line.startswith(f"lead trial #{front[0].number} (mae ") for line in lines)
    assert main(["best", "mo", "--storage", url, "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert [r["trial"] for r in summary["pareto_front"]] == [t.number for t in front] and summary["trial"] == front[0].number

    frame = pd.read_csv(searched["folder"] / "series.csv")
    lead = search.load_best("mo", url, artifacts=artifacts)
    assert lead.predict(frame).shape == (1, 1)
    for t in front:  # any trial of the front by its number
        assert search.load_best("mo", url, artifacts=artifacts, trial=t.number).predict(frame).shape == (1, 1)
    assert main(["predict", "mo", "--input", str(searched["folder"] / "series.csv"), "--storage", url, "--artifacts", artifacts, "--trial", str(front[-1].number)]) == 0


def test_the_report_draws_the_pareto_front(searched, tmp_path):
    out = tmp_path / "report.html"
    assert main(["report", "mo", "--storage", searched["url"], "--out", str(out), "--artifacts", searched["artifacts"]]) == 0
    page = out.read_text()
    assert 'id="fig-pareto"' in page and 'id="pareto-front"' in page
    assert 'data-skipped="pareto"' not in page and 'data-skipped="history"' not in page
    assert 'data-skipped="forecast"' not in page  # the lead trial's forecasts


def test_refusals_one_line_each(searched, capsys, tmp_path):
    folder, url = searched["folder"], searched["url"]
    # a single-objective space cannot resume the multi-objective study
    assert main(["run", str(folder / "tiny.yaml"), "--trials", "5", "--study", "mo", "--storage", url]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["error: study 'mo' optimizes in direction minimize, minimize, the space says minimize; use --study NEW_NAME for a new study"]
    # a pruner is refused before any storage is made, from the command line and from Python
    other = tmp_path / "other.db"
    assert main(["run", str(folder / "mo.yaml"), "--trials", "1", "--storage", f"sqlite:///{other}", "--set", "pruner={name: median}"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: --set pruner: ") and "pruner.name: Optuna cannot prune a multi-objective study" in err[0]  # the flag that gave it is named
    with pytest.raises(ConfigError, match="pruner.name: Optuna cannot prune"):
        search.run(folder / "mo.yaml", trials=1, storage=f"sqlite:///{other}", overrides={"pruner": {"name": "percentile", "percentile": 25.0}})
    assert not other.exists()


def test_the_dashboard_names_the_objectives(searched, tmp_path):
    require_chromium()
    study = load(searched)
    port = free_port()
    server = _procs.start(
        [sys.executable, "-m", "search", "dashboard", "--storage", searched["url"], "--port", str(port), "--read-only"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        assert _procs.poll_until(lambda: _answers(f"{base}/api/studies"), timeout=60), "the dashboard did not start"
        page = dump_dom(f"{base}/dashboard/studies/{study._study_id}", tmp_path / "p1")
        assert "Pareto Front" in page
        for name in ("mae", "n_params"):  # the plot's axis selectors and legends, not "Objective 0"
            assert f'data-unformatted="{name}"' in page, name
        assert "Objective 0" not in page and "Objective 1" not in page
    finally:
        _procs.end_group(server)


def _answers(url: str) -> bool:
    try:
        urllib.request.urlopen(url, timeout=2)
        return True
    except OSError:
        return False
