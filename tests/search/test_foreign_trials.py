"""Trials another Optuna client added to a study are named as such, and the served model is the
best trial this service made that kept a checkpoint."""

from __future__ import annotations

import json

import optuna
import pandas as pd
import pytest

from search.cli import main
from search.errors import SearchError
from search.results.loading import load_best
from tests._studies import searched_study


@pytest.fixture
def shared(tiny_space, tmp_path):
    """A study with one trial a driver made (checkpoint kept) and, better, one a plain Optuna
    user ran beside it with ``study.optimize``."""
    url = f"sqlite:///{tmp_path}/s.db"
    study = searched_study(tiny_space, url, tmp_path / "artifacts")
    ours = study.trials[0]
    plain = optuna.load_study(study_name="tiny", storage=url)
    plain.optimize(lambda t: t.suggest_float("x", 0, 1) * 0 + ours.value / 10, n_trials=1)
    return url, tmp_path / "artifacts", ours, tiny_space


def test_search_best_names_the_foreign_best_and_the_model_served(shared, capsys):
    url, artifacts, ours, _ = shared
    assert main(["best", "tiny", "--storage", url]) == 0
    out = capsys.readouterr().out
    assert "study tiny: best trial #1" in out
    assert (
        f"trial #1 was not made by this service (another Optuna client's trial): it has no model; "
        f"search predict and load_best serve trial #{ours.number}, the best trial made by this service with a checkpoint"
    ) in out
    assert "1 trial not made by this service: #1" in out
    assert main(["best", "tiny", "--storage", url, "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["made_here"] is False and summary["served_trial"] == ours.number and summary["foreign_trials"] == [1]


def test_load_best_serves_the_best_trial_made_here_and_says_why(shared):
    url, artifacts, ours, space = shared
    forecaster = load_best("tiny", url, artifacts=str(artifacts))
    assert "the best trial #1 of 'tiny' was not made by this service" in forecaster.note
    assert f"serving trial #{ours.number}" in forecaster.note
    frame = pd.read_csv(space.parent / "series.csv")
    assert forecaster.predict(frame).shape[0] == forecaster.horizon
    with pytest.raises(SearchError, match=r"trial #1 of 'tiny' was not made by this service \(another Optuna client's trial\): it has no model to load"):
        load_best("tiny", url, artifacts=str(artifacts), trial=1)


def test_predict_prints_the_note(shared, capsys):
    url, artifacts, ours, space = shared
    assert main(["predict", "tiny", "--input", str(space.parent / "series.csv"), "--storage", url, "--artifacts", str(artifacts)]) == 0
    err = capsys.readouterr().err
    assert f"serving trial #{ours.number}, the best trial made by this service with a checkpoint" in err


def test_without_a_trial_made_here_the_message_says_so(tmp_path):
    url = f"sqlite:///{tmp_path}/s.db"
    study = optuna.create_study(study_name="plain", storage=url)
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=2)
    with pytest.raises(SearchError, match=r"^the best trial #\d of 'plain' was not made by this service \(another Optuna client's trial\): it has no model, and no trial made by this service kept a checkpoint$"):
        load_best("plain", url, artifacts=str(tmp_path))


def test_the_report_names_the_foreign_trials(shared, tmp_path):
    url, artifacts, ours, _ = shared
    out = tmp_path / "r.html"
    assert main(["report", "tiny", "--storage", url, "--artifacts", str(artifacts), "--out", str(out)]) == 0
    text = out.read_text()
    assert "not made by this service" in text and "1 trial (#1): another Optuna client&#x27;s, without model or curves" in text
    assert 'data-foreign-best="1"' in text and f"the model served is trial #{ours.number}&#x27;s" in text
