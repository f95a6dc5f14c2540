"""Tests of search.results.tables through the CLI (``search studies|trials|best|export|compare``),
checked against the storage of a real small search."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
import textwrap
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from search.errors import StudyNotFoundError
from search.results import printing, tables
from search.store import open_read
from search.cli import main
from search.study_attrs import flat
from tests.conftest import TINY_SPACE, write_series

def write_space(folder: Path) -> Path:
    """The tiny LSTM space of tests/conftest.py over its 400-step noisy sine."""
    write_series(folder / "series.csv")
    path = folder / "tiny.yaml"
    path.write_text(textwrap.dedent(TINY_SPACE))
    return path


def add_handmade_study(url: str) -> None:
    """A study with every state the tables count: 2 complete, 1 failed, 1 running, 1 waiting."""
    study = optuna.create_study(study_name="handmade", storage=url, direction="maximize")
    study.set_user_attr("family", "gru")
    study.set_user_attr("metric", "accuracy")
    for value in (0.5, 0.75):
        trial = study.ask({"x": optuna.distributions.FloatDistribution(0, 1)})
        trial.report(value / 2, 1)
        trial.set_user_attr("checkpoint", f"artifacts/trial-{trial.number}.pt")
        trial.set_user_attr("test_accuracy", value - 0.1)
        study.tell(trial, value)
    failed = study.ask()
    failed.set_user_attr("error", "ValueError: bad\nsecond line")
    study.tell(failed, state=TrialState.FAIL)
    study.ask()  # left running
    study.enqueue_trial({"x": 0.3})


@pytest.fixture(scope="module")
def searched(tmp_path_factory, ray_local):
    """One storage with two studies from real searches ("tiny": 6 trials, "tiny-b": 3) and a
    hand-made one with failed, running and waiting trials."""
    from search.driver.run import run_search

    folder = tmp_path_factory.mktemp("inspect")
    space = write_space(folder)
    url = f"sqlite:///{folder / 'studies.db'}"
    run_search(space, trials=6, storage_url=url, quiet=True)
    run_search(space, trials=3, storage_url=url, study_name="tiny-b", quiet=True)
    add_handmade_study(url)
    return url


def load(url: str, name: str = "tiny") -> optuna.Study:
    return optuna.load_study(study_name=name, storage=url)


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def table_rows(out: str) -> dict[str, list[str]]:
    """Rows of a plain table, keyed by their first cell (cells split on runs of 3+ spaces)."""
    rows = {}
    for line in out.splitlines():
        cells = [c for c in re.split(r"\s{3,}", line.strip()) if c]
        if cells:
            rows[cells[0]] = cells
    return rows


# -- studies


def test_studies_lists_every_study_with_its_counts(searched, capsys):
    code, out, _ = run(capsys, "studies", "--storage", searched)
    assert code == 0
    rows = table_rows(out)
    for name in ("tiny", "tiny-b", "handmade"):
        study = load(searched, name)
        trials = study.trials
        n = {s: sum(t.state == s for t in trials) for s in TrialState}
        # study, family, metric, complete, pruned, failed, running, best, last activity
        cells = rows[name]
        assert cells[3:7] == [str(n[TrialState.COMPLETE]), str(n[TrialState.PRUNED]), str(n[TrialState.FAIL]), str(n[TrialState.RUNNING])]
        assert cells[7] == f"{tables.fmt(study.best_value)} (#{study.best_trial.number})"
        latest = max(t.datetime_complete or t.datetime_start for t in trials if t.datetime_start)
        assert cells[8] == latest.strftime("%Y-%m-%d %H:%M:%S")
    assert rows["tiny"][1] == "lstm" and rows["handmade"][1] == "gru"
    assert rows["handmade"][2] == "accuracy (max)"


def test_studies_data_counts_waiting_trials(searched):
    url, rdb = open_read(searched)
    row = {r["study"]: r for r in tables.list_studies(rdb)}["handmade"]
    assert (row["complete"], row["fail"], row["running"], row["waiting"], row["trials"]) == (2, 1, 1, 1, 5)
    assert row["best_value"] == 0.75 and row["direction"] == "maximize"


def test_studies_on_an_empty_storage(tmp_path, capsys):
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    optuna.storages.RDBStorage(url)  # the tables, no study
    code, out, _ = run(capsys, "studies", "--storage", url)
    assert code == 0 and "no studies in" in out


# -- trials


def test_trials_table_has_every_trial(searched, capsys):
    code, out, _ = run(capsys, "trials", "tiny", "--storage", searched)
    assert code == 0
    rows = table_rows(out)
    study = load(searched)
    assert len(study.trials) == 6
    header = rows["#"]
    assert header[:3] == ["#", "state", "rmse"] and header[-3:] == ["epochs", "seconds", "node"]
    for t in study.trials:
        cells = dict(zip(header, rows[str(t.number)]))
        assert cells["state"] == t.state.name
        assert cells["rmse"] == tables.fmt(t.value)
        assert cells["layer_sizes"] == t.params["layer_sizes"]
        assert cells["lookback"] == str(t.params["lookback"])
        assert cells["epochs"] == str(t.user_attrs["epochs_run"])
        assert cells["node"] == t.user_attrs["node"]
        assert float(cells["seconds"]) == pytest.approx((t.datetime_complete - t.datetime_start).total_seconds(), abs=0.051)


def test_trials_of_a_study_with_failed_and_running_trials(searched, capsys):
    code, out, _ = run(capsys, "trials", "handmade", "--storage", searched)
    assert code == 0
    states = {cells[0]: cells[1] for key, cells in table_rows(out).items() if key.isdigit()}
    assert states == {"0": "COMPLETE", "1": "COMPLETE", "2": "FAIL", "3": "RUNNING", "4": "WAITING"}


# -- best


def test_best_json_matches_the_study(searched, capsys):
    code, out, _ = run(capsys, "best", "tiny", "--storage", searched, "--json")
    assert code == 0
    got = json.loads(out)
    best = load(searched).best_trial
    assert got["trial"] == best.number
    assert got["value"] == best.value
    assert got["params"] == best.params
    assert got["metric"] == "rmse" and got["direction"] == "minimize"
    assert got["test"] == {k[5:]: v for k, v in best.user_attrs.items() if k.startswith("test_")}
    assert list(got["test"])[:3] == ["rmse", "mse", "mae"]
    assert got["n_params"] == best.user_attrs["n_params"]
    assert got["checkpoint"] == best.user_attrs["checkpoint"]  # the best model is kept
    assert got["versus_baselines"][0].startswith("val rmse") and "naive" in got["versus_baselines"][0]


def test_best_text_shows_params_test_metrics_and_checkpoint(searched, capsys):
    code, out, _ = run(capsys, "best", "tiny", "--storage", searched)
    assert code == 0
    best = load(searched).best_trial
    assert f"best trial #{best.number}, rmse {tables.fmt(best.value)}" in out
    for name, value in best.params.items():
        assert re.search(rf"^  {name} +{re.escape(tables.fmt(value))}$", out, re.M)
    for metric in ("rmse", "mse", "mae", "mape", "smape", "loss"):
        assert re.search(rf"^  {metric} +{re.escape(tables.fmt(best.user_attrs['test_' + metric]))}$", out, re.M)
    code, out, _ = run(capsys, "best", "handmade", "--storage", searched)
    assert code == 0
    assert "best trial #1, accuracy 0.75 (maximize)" in out
    assert "checkpoint: artifacts/trial-1.pt" in out


def test_best_without_a_completed_trial(tmp_path, capsys):
    url = f"sqlite:///{tmp_path / 's.db'}"
    study = optuna.create_study(study_name="empty", storage=url)
    study.ask()
    code, out, err = run(capsys, "best", "empty", "--storage", url)
    assert code == 1 and out == ""
    assert err.strip() == "error: study 'empty' has no completed trial yet"


# -- export


def test_export_csv_to_a_file(searched, capsys, tmp_path):
    out_file = tmp_path / "trials.csv"
    code, out, err = run(capsys, "export", "tiny", "--format", "csv", "--out", str(out_file), "--storage", searched)
    assert code == 0 and out == "" and f"wrote {out_file}" in err
    rows = list(csv.DictReader(out_file.open()))
    study = load(searched)
    assert len(rows) == len(study.trials)
    for row, t in zip(rows, study.trials):
        assert int(row["number"]) == t.number and row["state"] == t.state.name
        assert float(row["value"]) == t.value
        assert row["params_layer_sizes"] == t.params["layer_sizes"]
        assert int(row["params_lookback"]) == t.params["lookback"]
        assert float(row["params_lr"]) == t.params["lr"]
        assert dt.datetime.fromisoformat(row["datetime_start"]) == t.datetime_start
        assert dt.datetime.fromisoformat(row["datetime_complete"]) == t.datetime_complete
        assert float(row["duration_seconds"]) == pytest.approx((t.datetime_complete - t.datetime_start).total_seconds())
        assert row["user_attrs_node"] == t.user_attrs["node"]
        assert int(row["user_attrs_epochs_run"]) == t.user_attrs["epochs_run"]
        assert {int(k): v for k, v in json.loads(row["intermediate_values"]).items()} == t.intermediate_values


def test_export_json_to_stdout(searched, capsys):
    code, out, _ = run(capsys, "export", "handmade", "--format", "json", "--storage", searched)
    assert code == 0
    doc = json.loads(out)
    study = load(searched, "handmade")
    assert doc["study"] == "handmade" and doc["directions"] == ["maximize"]
    assert doc["user_attrs"] == flat(study)
    assert len(doc["trials"]) == len(study.trials) == 5
    for row, t in zip(doc["trials"], study.trials):
        assert row["number"] == t.number and row["state"] == t.state.name
        assert row["value"] == t.value
        assert row["params"] == t.params
        assert row["user_attrs"] == t.user_attrs
        assert {int(k): v for k, v in row["intermediate_values"].items()} == t.intermediate_values
    assert doc["trials"][3]["datetime_complete"] is None and doc["trials"][3]["duration_seconds"] is None
    assert doc["trials"][4]["datetime_start"] is None  # waiting


def test_export_format_follows_the_out_suffix(searched, capsys, tmp_path):
    out_file = tmp_path / "all.json"
    code, _, _ = run(capsys, "export", "tiny-b", "--out", str(out_file), "--storage", searched)
    assert code == 0
    assert len(json.loads(out_file.read_text())["trials"]) == len(load(searched, "tiny-b").trials)


def test_export_csv_keeps_multiline_attrs_in_one_row(searched, capsys):
    code, out, _ = run(capsys, "export", "handmade", "--storage", searched)
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert len(rows) == 5
    assert rows[2]["user_attrs_error"] == "ValueError: bad\nsecond line"
    assert rows[3]["value"] == "" and rows[3]["state"] == "RUNNING"


# -- compare


def test_compare_has_one_row_per_study(searched, capsys):
    names = ["tiny", "tiny-b", "handmade"]
    code, out, _ = run(capsys, "compare", *names, "--storage", searched)
    assert code == 0
    rows = table_rows(out)
    header = rows["study"]
    assert header[:5] == ["study", "family", "metric", "best", "#"] and header[-2:] == ["params", "finished"]
    assert sum(key in names for key in rows) == 3
    for name in names:
        study = load(searched, name)
        best = study.best_trial
        cells = rows[name]
        assert cells[3] == tables.fmt(best.value) and cells[4] == str(best.number)
        finished = sum(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in study.trials)
        assert cells[-1] == f"{finished}/{len(study.trials)}"
    assert rows["tiny"][-2] == str(load(searched).best_trial.user_attrs["n_params"])


def test_compare_rows_data(searched):
    url, rdb = open_read(searched)
    rows = tables.compare_rows([tables.load(rdb, n, url) for n in ("tiny", "handmade")])
    assert [r["study"] for r in rows] == ["tiny", "handmade"]
    assert rows[1]["test"] == {"accuracy": pytest.approx(0.65)} and rows[1]["n_params"] is None
    assert rows[0]["test"]["rmse"] == load(searched).best_trial.user_attrs["test_rmse"]


# -- errors


@pytest.mark.parametrize(
    "argv",
    [
        ["trials", "nope"],
        ["best", "nope", "--json"],
        ["export", "nope", "--format", "csv"],
        ["compare", "tiny", "nope"],
        ["report", "nope"],
    ],
)
def test_unknown_study_lists_the_valid_names(searched, capsys, argv, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # a report must not be written anywhere
    code, out, err = run(capsys, *argv, "--storage", searched)
    assert code == 2 and out == ""
    assert err.count("\n") == 1
    assert err.startswith("error: no study 'nope' in sqlite:///")
    assert err.rstrip().endswith("studies there: handmade, tiny, tiny-b")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "argv", [["studies"], ["trials", "x"], ["best", "x"], ["export", "x"], ["compare", "x", "y"], ["report", "x"]]
)
def test_missing_sqlite_file_is_an_error_and_is_not_created(tmp_path, capsys, argv, monkeypatch):
    monkeypatch.chdir(tmp_path)
    db = tmp_path / "missing.db"
    code, out, err = run(capsys, *argv, "--storage", f"sqlite:///{db}")
    assert code == 2 and out == ""
    assert err.strip() == f"error: --storage sqlite:///{db}: no such database file {db}; run a search first"
    assert not db.exists() and list(tmp_path.iterdir()) == []


def test_default_storage_is_search_storage_env(searched, capsys, monkeypatch):
    monkeypatch.setenv("SEARCH_STORAGE", searched)
    code, out, _ = run(capsys, "studies")
    assert code == 0 and "tiny-b" in out


def test_passwords_are_masked():
    out = io.StringIO()
    from rich.console import Console

    printing.print_studies([], "postgresql://me:s3cret@db.example:5432/studies", Console(file=out))
    assert "s3cret" not in out.getvalue() and "me:***@db.example" in out.getvalue()
    with pytest.raises(StudyNotFoundError) as info:
        tables.load(_NoStudies(), "x", "postgresql://me:s3cret@db.example/studies")
    assert "s3cret" not in str(info.value) and "***" in str(info.value)


class _NoStudies:
    def get_all_studies(self):
        return []


# -- helpers


def test_clean_and_fmt():
    assert tables.clean({"a": float("nan"), "b": (1, float("inf")), "c": dt.datetime(2024, 1, 2, 3, 4, 5)}) == {
        "a": None,
        "b": [1, None],
        "c": "2024-01-02T03:04:05",
    }
    assert [tables.fmt(v) for v in (None, float("nan"), 1.23456789, 3, True, "16,8")] == ["-", "-", "1.23457", "3", "yes", "16,8"]
