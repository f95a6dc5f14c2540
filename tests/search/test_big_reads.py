"""The readers on a study read the way a big one is: pages of ``search trials``, an export
streamed in chunks, a report drawn from a sample, and no reader loading every trial's
intermediate values through Optuna's ORM."""

from __future__ import annotations

import csv
import io
import json
import re

import optuna
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution
from optuna.trial import TrialState

from search.cli import main
from search.results import export, report, report_figures, tables

N = 23


@pytest.fixture
def url(tmp_path) -> str:
    """A study of N trials: COMPLETE with 5 epochs each, every 5th PRUNED after 2, one FAIL."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    url = f"sqlite:///{tmp_path / 'studies.db'}"
    study = optuna.create_study(study_name="gen", storage=url)
    study.set_user_attr("metric", "rmse")
    space = {"x": FloatDistribution(0, 1), "size": CategoricalDistribution(["8", "16"])}
    trials = []
    for i in range(N):
        state = TrialState.FAIL if i == 7 else TrialState.PRUNED if i % 5 == 4 else TrialState.COMPLETE
        epochs = 0 if state == TrialState.FAIL else 2 if state == TrialState.PRUNED else 5
        curve = {e: 1.0 + (i % 7) / 10 + 1 / e for e in range(1, epochs + 1)}
        attrs = {"node": f"host/{i % 2}", "n_params": 100 + i}
        if i % 6 != 5:  # some trials without epochs_run: their epochs are counted
            attrs["epochs_run"] = epochs
        trials.append(
            optuna.trial.create_trial(
                state=state, value=min(curve.values()) if state == TrialState.COMPLETE else None,
                params={"x": i / N, "size": ["8", "16"][i % 2]}, distributions=space, user_attrs=attrs, intermediate_values=curve,
            )  # fmt: skip
        )
    study.add_trials(trials)
    return url


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def numbers(out: str) -> list[int]:
    return [int(m.group(1)) for m in re.finditer(r"^\s*(\d+)\s+(?:COMPLETE|PRUNED|FAIL)", out, re.M)]


def test_trials_pages_in_number_order(url, capsys):
    code, out, _ = run(capsys, "trials", "gen", "--storage", url, "--limit", "5", "--offset", "10")
    assert code == 0
    assert numbers(out) == [10, 11, 12, 13, 14]
    assert f"study gen: trials 11-15 of {N}" in out
    _, last, _ = run(capsys, "trials", "gen", "--storage", url, "--limit", "5", "--offset", str(N - 2))
    assert numbers(last) == [N - 2, N - 1] and f"trials {N - 1}-{N} of {N}" in last
    _, everything, _ = run(capsys, "trials", "gen", "--storage", url)
    assert numbers(everything) == list(range(N)) and f"study gen: {N} trials" in everything


def test_trials_pages_are_the_rows_of_every_trial(url):
    study = optuna.load_study(study_name="gen", storage=url)
    every = tables.trial_rows(study)
    pages = [row for k in range(0, N, 4) for row in tables.trial_rows(study, offset=k, limit=4)]
    assert pages == every
    truth = study.trials
    assert [r["epochs"] for r in every] == [tables.epochs(t) for t in truth]  # epochs_run, else the count of values


@pytest.mark.parametrize("flag, value", [("--limit", "-1"), ("--offset", "x")])
def test_a_bad_page_is_a_usage_error(url, capsys, flag, value):
    code, _, err = run(capsys, "trials", "gen", "--storage", url, flag, value)
    assert code == 2 and flag in err


def test_export_streams_every_trial_in_chunks(url, capsys, tmp_path, monkeypatch):
    monkeypatch.setattr(export, "EXPORT_CHUNK", 4)  # several chunks, the last one short
    assert run(capsys, "export", "gen", "--storage", url, "--out", str(tmp_path / "t.csv"))[0] == 0
    rows = list(csv.DictReader(io.StringIO((tmp_path / "t.csv").read_text())))
    assert [int(r["number"]) for r in rows] == list(range(N))
    study = optuna.load_study(study_name="gen", storage=url)
    truth = study.trials
    assert [json.loads(r["intermediate_values"]) for r in rows] == [{str(k): v for k, v in t.intermediate_values.items()} for t in truth]
    _, out, _ = run(capsys, "export", "gen", "--storage", url, "--format", "json")
    doc = json.loads(out)
    assert [t["number"] for t in doc["trials"]] == list(range(N)) and doc["study"] == "gen"
    monkeypatch.setattr(export, "EXPORT_CHUNK", 1000)
    assert export.export_text(study, "json") == out  # the same document, whatever the chunk


def test_export_of_a_study_without_trials(tmp_path, capsys):
    url = f"sqlite:///{tmp_path / 'e.db'}"
    optuna.create_study(study_name="empty", storage=url)
    _, out, _ = run(capsys, "export", "empty", "--storage", url, "--format", "json")
    assert json.loads(out)["trials"] == [] and out == json.dumps({"study": "empty", "directions": ["minimize"], "user_attrs": {}, "trials": []}, indent=2) + "\n"


@pytest.fixture
def orm_loads(monkeypatch):
    """Calls of RDBStorage's own trial loading (ORM objects of every trial with every
    intermediate value), and the trials whose intermediate values the readers' queries read."""
    from storage import _reads

    seen = {"orm": 0, "curves": []}
    original = optuna.storages.RDBStorage._get_trials
    intermediate = _reads._intermediate

    def counted(self, *args, **kwargs):
        seen["orm"] += 1
        return original(self, *args, **kwargs)

    def curves(conn, ids):
        seen["curves"] += list(ids)
        return intermediate(conn, ids)

    monkeypatch.setattr(optuna.storages.RDBStorage, "_get_trials", counted)
    monkeypatch.setattr(_reads, "_intermediate", curves)
    return seen


@pytest.mark.parametrize(
    "argv, curves",
    [
        (["studies"], 0),
        (["trials", "gen", "--limit", "3"], 0),
        (["trials", "gen"], 0),
        (["best", "gen"], 0),
        (["compare", "gen"], 0),
        (["export", "gen", "--format", "csv"], N),
    ],
)
def test_readers_never_load_every_trial_through_optuna(url, capsys, orm_loads, argv, curves):
    assert run(capsys, *argv[:1], *argv[1:], "--storage", url)[0] == 0
    assert orm_loads["orm"] == 0
    assert len(orm_loads["curves"]) == curves  # only the export reads intermediate values


def test_the_report_of_a_big_study_draws_a_sample(url, tmp_path, orm_loads, monkeypatch):
    monkeypatch.setattr(report_figures, "MAX_CURVES", 6)
    monkeypatch.setattr(report_figures, "MAX_SAMPLED", 5)
    study = optuna.load_study(study_name="gen", storage=url)
    doc, drawn = report.build_report(study, url)
    assert orm_loads["orm"] == 0
    assert len(orm_loads["curves"]) == 6  # the curves drawn, no other trial's
    completed = sum(t.state == TrialState.COMPLETE for t in study.trials)
    assert f"Drawn for 6 of the {N} trials (evenly spaced by number, the best among them)." in doc
    assert doc.count(f"Drawn from 5 of the {completed} completed trials") == 4  # importances, parallel, slices, box plots
    assert drawn == len(report.FIGURES)


def test_a_normal_study_is_drawn_whole(url, orm_loads):
    study = optuna.load_study(study_name="gen", storage=url)
    doc, _ = report.build_report(study, url)
    assert "Drawn f" not in doc
    assert len(orm_loads["curves"]) == N


def test_spread_sample_keeps_the_best_and_the_order():
    trials = [optuna.trial.create_trial(value=float(i)) for i in range(100)]
    for i, t in enumerate(trials):
        t.number = i
    sample = report_figures.spread_sample(trials, 10, keep=trials[57])
    assert len(sample) == 10 and trials[57] in sample and trials[0] in sample and trials[-1] in sample
    assert [t.number for t in sample] == sorted(t.number for t in sample)
    assert report_figures.spread_sample(trials[:5], 10) == trials[:5]


def test_the_dashboard_reads_every_trial_without_the_orm(url):
    from search.results.dashboard import _read_fast_storage

    fast = _read_fast_storage()(url, skip_compatibility_check=True)
    plain = optuna.storages.RDBStorage(url, skip_compatibility_check=True)
    study_id = plain.get_study_id_from_name("gen")
    assert fast.get_all_trials(study_id, deepcopy=False) == plain.get_all_trials(study_id, deepcopy=False)
    complete = fast.get_all_trials(study_id, states=(TrialState.COMPLETE,))
    assert complete == plain.get_all_trials(study_id, states=(TrialState.COMPLETE,))
