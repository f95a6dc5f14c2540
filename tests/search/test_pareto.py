"""Multi-objective studies without Ray: the Pareto front and its lead (``search.pareto``), the
driver's bridge (the list told, the learning curve kept, checkpoints of trials entering the
front), a study's directions as part of its identity, and the readers' tables."""

from __future__ import annotations

import dataclasses
import io
import json
import textwrap
import warnings

import optuna
import pytest
from optuna.trial import TrialState
from rich.console import Console

from search import pareto
from search.driver.prepare import Prepared, prepare
from search.driver.study import open_study
from search.errors import NoResultError, StudyMismatchError, UsageError
from search.study_attrs import flat
from tests._studies import driver_trial
from tests.conftest import TINY_SPACE, write_series

optuna.logging.set_verbosity(optuna.logging.WARNING)

def mo_study(values: list[tuple[float, float]], directions=("minimize", "minimize")) -> optuna.Study:
    study = optuna.create_study(study_name="mo", directions=list(directions))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        study.set_metric_names(["mae", "n_params"])
    for v in values:
        study.tell(driver_trial(study), list(v))  # trials as a driver of this service makes them
    return study


def test_front_lead_and_dominance():
    study = mo_study([(0.5, 100), (0.6, 200), (0.4, 300), (0.5, 100), (0.7, 50)])
    assert [t.number for t in pareto.front(study)] == [2, 0, 3, 4]  # best mae first, then by number
    assert pareto.lead(study).number == 2 and pareto.is_multi(study)
    assert pareto.metric_names(study) == ["mae", "n_params"]
    directions = ["minimize", "minimize"]
    assert pareto.dominates([0.4, 100], [0.5, 100], directions) and not pareto.dominates([0.5, 100], [0.5, 100], directions)
    assert not pareto.dominates([0.4, 300], [0.5, 100], directions)
    assert pareto.dominates([0.9, 100], [0.5, 100], ["maximize", "minimize"])
    assert pareto.enters_front(study, [0.5, 100], directions)  # equal to a front member: on it
    assert not pareto.enters_front(study, [0.6, 300], directions) and pareto.enters_front(study, [0.3, 1000], directions)
    maximized = mo_study([(0.5, 100), (0.9, 300)], ("maximize", "minimize"))
    assert [t.number for t in pareto.front(maximized)] == [1, 0]
    single = optuna.create_study()
    assert pareto.lead(single) is None and pareto.front(single) == []
    single.tell(single.ask(), 1.0)
    assert pareto.lead(single).number == 0 and not pareto.is_multi(single)


@pytest.fixture
def tiny(tmp_path):
    """The tests' tiny space without the statistical baselines (not what is tested here)."""
    write_series(tmp_path / "series.csv")
    path = tmp_path / "tiny.yaml"
    path.write_text(textwrap.dedent(TINY_SPACE).replace("  target: y\n", "  target: y\n  stat_baselines_seconds: 0\n"))
    return path


def test_the_bridge_tells_every_value_and_keeps_checkpoints_of_trials_entering_the_front(tiny, tmp_path):
    from search.driver.bridge import StudyBridge
    from storage import open_artifact_store

    url = f"sqlite:///{tmp_path}/s.db"
    prep = prepare(tiny, [f"objective={json.dumps([{'metric': 'mae'}, {'metric': 'n_params'}])}", "pruner=null"])
    study = open_study(optuna.storages.get_storage(url), prep)
    assert [d.name for d in study.directions] == ["MINIMIZE", "MINIMIZE"] and study.metric_names == ["mae", "n_params"]
    assert flat(study)["metrics"] == ["mae", "n_params"] and flat(study)["metric"] == "mae"
    bridge = StudyBridge(study, prep.compiled, 100, artifact_store=open_artifact_store(url, str(tmp_path / "arts")))
    outcomes = [(0.5, 100), (0.6, 200), (0.4, 300), (0.5, 100), (0.7, 50)]
    for i, (mae, n_params) in enumerate(outcomes):
        ray_id = f"r{i}"
        assert bridge.suggest(ray_id)["number"] == i
        for epoch, value in ((1, mae + 0.1), (2, mae)):
            assert bridge.report(ray_id, {"epoch": epoch, "objective": value}) is False  # never pruned
        bridge.checkpoints[ray_id] = f"model {i}".encode()
        final = {"epoch": 2, "objective": mae, "final": True, "best_objective": mae, "objective_values": [mae, n_params], "n_params": n_params, "latency_ms": 1.5}
        bridge.complete(ray_id, final, False)
    trials = optuna.load_study(study_name=study.study_name, storage=url).trials
    assert [t.values for t in trials] == [list(v) for v in outcomes]
    assert all(t.intermediate_values == {1: pytest.approx(v[0] + 0.1), 2: v[0]} for t, v in zip(trials, outcomes))
    kept = [t.number for t in trials if "checkpoint" in t.user_attrs]
    assert kept == [0, 2, 3, 4]  # #1 was dominated by #0 when it finished; #3 ties #0
    assert trials[0].user_attrs["latency_ms"] == 1.5
    assert bridge.tally.complete == 5


def _prepared(prep: Prepared, name: str) -> Prepared:
    return dataclasses.replace(prep, study_name=name)


def test_directions_are_part_of_a_studys_identity(tiny, tmp_path):
    storage = optuna.storages.get_storage(f"sqlite:///{tmp_path}/s.db")
    single = prepare(tiny)
    multi = prepare(tiny, ["objective=[{metric: mae}, {metric: n_params}]", "pruner=none"])
    open_study(storage, _prepared(single, "one"))
    with pytest.raises(StudyMismatchError) as info:
        open_study(storage, _prepared(multi, "one"))
    assert str(info.value) == (
        "study 'one' optimizes in direction minimize, the space says minimize, minimize (objectives mae, n_params); "
        "use --study NEW_NAME for a new study"
    )
    open_study(storage, _prepared(multi, "two"))
    with pytest.raises(StudyMismatchError, match="^study 'two' optimizes in direction minimize, minimize, the space says minimize; use --study"):
        open_study(storage, _prepared(single, "two"))
    other = prepare(tiny, ["objective=[{metric: mae}, {metric: latency_ms}]", "pruner=none"])
    with pytest.raises(StudyMismatchError, match=r"changed: objective: \[mae \(minimize\), n_params \(minimize\)\] -> \[mae \(minimize\), latency_ms \(minimize\)\]"):
        open_study(storage, _prepared(other, "two"))
    again = open_study(storage, _prepared(multi, "two"))  # the same space resumes
    assert again.metric_names == ["mae", "n_params"]


def test_fork_of_a_multi_objective_study_keeps_its_values(tiny, tmp_path):
    from search.driver.fork import fork_study

    url = f"sqlite:///{tmp_path}/s.db"
    storage = optuna.storages.get_storage(url)
    multi = prepare(tiny, ["objective=[{metric: mae}, {metric: n_params}]", "pruner=none"])
    study = open_study(storage, _prepared(multi, "old"))
    trial = study.ask(multi.compiled.distributions)
    study.tell(trial, [0.5, 100])
    wider = prepare(tiny, ["objective=[{metric: mae}, {metric: n_params}]", "pruner=none", "train.lr={type: float, low: 1.0e-4, high: 1.0e-2, log: true}"])
    assert fork_study(storage, "old", "new", wider.compiled) == 1
    forked = optuna.load_study(study_name="new", storage=url)
    assert forked.trials[0].values == [0.5, 100] and len(forked.directions) == 2
    with pytest.raises(StudyMismatchError, match="it minimizes mae, minimizes n_params, the space minimizes rmse"):
        fork_study(storage, "old", "x", prepare(tiny).compiled)


def test_best_summary_and_print_best_show_the_front():
    from search.results import printing, tables

    study = mo_study([(0.5, 100), (0.6, 200), (0.4, 300)])
    summary = tables.best_summary(study)
    assert summary["trial"] == 2 and summary["metric"] == "mae" and summary["value"] == 0.4
    assert summary["metrics"] == ["mae", "n_params"] and summary["directions"] == ["minimize", "minimize"]
    assert [(r["trial"], r["values"]) for r in summary["pareto_front"]] == [(2, {"mae": 0.4, "n_params": 300}), (0, {"mae": 0.5, "n_params": 100})]
    out = io.StringIO()
    printing.print_best(summary, Console(file=out, width=200))
    lines = out.getvalue().splitlines()
    assert lines[0] == "study mo: Pareto front of 2 trials, mae (minimize), n_params (minimize)"
    rows = [line.split() for line in lines[3:5]]  # after the heading, the header and its rule
    assert [r[:3] for r in rows] == [["2", "0.4", "300"], ["0", "0.5", "100"]]
    assert any(line.startswith("lead trial #2 (mae 0.4, n_params 300)") for line in lines)
    listed = tables.list_studies(study._storage)[0]
    assert listed["metric"] == "mae, n_params" and listed["best_value"] == [0.4, 300] and listed["direction"] == "minimize/minimize"
    assert tables.trial_rows(study)[1]["value"] == [0.6, 200]
    with pytest.raises(NoResultError):
        tables.best_summary(optuna.create_study(directions=["minimize", "minimize"]))


def test_load_best_with_a_trial_number_refuses_what_it_cannot_load():
    from search.results.loading import load_best

    study = mo_study([(0.5, 100), (0.6, 200)])
    failed = study.ask()
    study.tell(failed, state=TrialState.FAIL)
    with pytest.raises(UsageError, match="trial 7: study .* has no such trial"):
        load_best(study, trial=7)
    with pytest.raises(UsageError, match="trial 2: trial #2 of .* is FAIL, not COMPLETE"):
        load_best(study, trial=2)
    with pytest.raises(Exception, match=r"trial #1 of .* has no checkpoint \(only trials that entered the Pareto front"):
        load_best(study, trial=1)
    with pytest.raises(Exception, match=r"the lead trial #0 of .* has no checkpoint"):
        load_best(study)


def test_progress_names_the_front():
    from types import SimpleNamespace

    from search.driver.progress import Progress

    study = mo_study([(0.5, 100)])
    out = io.StringIO()
    progress = Progress(SimpleNamespace(study=study, target=3, owner="test-host:0:driver"), Console(file=out, force_terminal=False, width=300))
    with progress:
        study.tell(driver_trial(study), [0.4, 300])
        progress.update()
    line = out.getvalue().strip()
    assert line.startswith("trial 1 COMPLETE mae=0.4 n_params=300 epochs=-")
    assert line.endswith("pareto front 2, lead mae 0.4 (#1)")


def test_mlflow_logs_one_value_per_objective():
    pytest.importorskip("mlflow")
    from types import SimpleNamespace

    from search.driver.tracking import MlflowTracker

    logged = []
    client = SimpleNamespace(log_batch=lambda run, metrics, tags: logged.append((run, metrics)), set_terminated=lambda run, status: None)
    tracker = SimpleNamespace(runs={3: "run-3"})
    MlflowTracker._trial_finished(tracker, client, 3, "COMPLETE", {"mae": 0.4, "n_params": 300}, {"test_mae": 0.5})
    (run, metrics), = logged
    assert run == "run-3" and {m.key: m.value for m in metrics} == {"test_mae": 0.5, "value_mae": 0.4, "value_n_params": 300.0}


def test_the_report_of_a_multi_objective_study():
    from search.results.report import build_report

    study = mo_study([])
    for i, (mae, n_params) in enumerate([(0.5, 100), (0.6, 200), (0.4, 300), (0.45, 150), (0.7, 50)]):
        trial = study.ask()
        trial.suggest_categorical("layer_sizes", ["8", "16,8"])
        trial.suggest_float("lr", 1e-3, 1e-2, log=True)
        study.tell(trial, [mae, n_params])
    page, drawn = build_report(study)
    assert '<section id="pareto">' in page and 'id="fig-pareto"' in page and 'id="pareto-front"' in page
    for key in ("history", "parallel", "slice", "categorical", "importances"):  # on the first objective
        assert f'data-skipped="{key}"' not in page, key
    assert "mae (minimize), n_params (minimize)" in page  # the facts' objective row
    assert "trial #2: mae 0.4, n_params 300; the lead of the Pareto front of 4 trials" in page
