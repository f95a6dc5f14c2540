"""Forking a study into a changed space, and describing the change."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from search.space.compiled import CompiledSpace, compile_space
from search.errors import StudyMismatchError, UsageError
from search.driver.fork import CONTENT_ATTR, describe_change, fork_for_run, fork_study
from search.space import load_space
from search.study_attrs import flat

REPO = Path(__file__).resolve().parents[2]
DATASET = REPO / "datasets" / "mauna_loa_co2_weekly.csv"


@pytest.fixture(autouse=True)
def _quiet_optuna():
    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    yield
    optuna.logging.set_verbosity(verbosity)


def space(tmp_path: Path, name: str, model: str, train: str = "epochs: 20", data: str = "lookback: 13", extra: str = "") -> CompiledSpace:
    text = (
        "model:\n" + textwrap.indent(textwrap.dedent(model).strip(), "  ")
        + f"\ndata:\n  path: {DATASET}\n  time_column: date\n  target: co2\n" + textwrap.indent(textwrap.dedent(data).strip(), "  ")
        + "\ntrain:\n" + textwrap.indent(textwrap.dedent(train).strip(), "  ") + "\n" + extra
    )
    path = tmp_path / f"{name}.yaml"
    path.write_text(text)
    return compile_space(load_space(path))


def make_study(url: str, name: str, compiled: CompiledSpace, rows: list[tuple[dict, str, list[float]]], *, content: bool = True) -> optuna.Study:
    """A study of ``compiled`` holding one trial per row: (params, state, intermediate values)."""
    study = optuna.create_study(study_name=name, storage=url, direction=compiled.direction)
    study.set_user_attr("space_hash", compiled.hash)
    study.set_user_attr("metric", compiled.metric)
    if content:
        study.set_user_attr(CONTENT_ATTR, json.dumps(compiled.content(), default=str))
    for params, state, values in rows:
        study.enqueue_trial(params)
        trial = study.ask(compiled.distributions)
        for step, value in enumerate(values, start=1):
            trial.report(value, step)
        trial.set_user_attr("n_params", 123)
        if state == "COMPLETE":
            study.tell(trial, min(values))
        elif state == "PRUNED":
            study.tell(trial, state=TrialState.PRUNED)
        elif state == "FAIL":
            study.tell(trial, state=TrialState.FAIL)
        # RUNNING: left as is
    return study


LSTM_OLD = "family: lstm\nlayer_sizes: {choices: ['32', '64', '64,32']}\ndropout: 0.1"
LSTM_TRAIN = "epochs: 20\nlr: {type: float, low: 1.0e-4, high: 1.0e-1, log: true}"


@pytest.fixture
def url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 's.db'}"


@pytest.fixture
def old(tmp_path, url):
    compiled = space(tmp_path, "old", LSTM_OLD, LSTM_TRAIN)
    rows = [
        ({"layer_sizes": "32", "lr": 0.001}, "COMPLETE", [0.9, 0.5, 0.4]),
        ({"layer_sizes": "64", "lr": 0.05}, "COMPLETE", [0.8, 0.7]),  # lr outside the new range
        ({"layer_sizes": "64,32", "lr": 0.002}, "PRUNED", [2.0, 1.9]),
        ({"layer_sizes": "64,32", "lr": 0.003}, "COMPLETE", [0.6, 0.3]),  # layer choice dropped below
        ({"layer_sizes": "32", "lr": 0.004}, "FAIL", [1.0]),
        ({"layer_sizes": "64", "lr": 0.005}, "RUNNING", [1.0]),
    ]
    make_study(url, "old", compiled, rows)
    return compiled


def test_fork_copies_finished_trials_that_fit(tmp_path, url, old):
    new = space(tmp_path, "new", "family: lstm\nlayer_sizes: {choices: ['32', '64']}\ndropout: {type: float, low: 0.0, high: 0.3}", "epochs: 30\nlr: {type: float, low: 1.0e-4, high: 1.0e-2, log: true}")
    assert fork_study(url, "old", "new", new, attrs={"dataset": "co2.csv"}) == 1 + 0 + 0  # see rows
    forked = optuna.load_study(study_name="new", storage=url)
    [trial] = forked.trials
    # old dropout was fixed at 0.1: now a searched param, filled from the old fixed value
    assert trial.params == {"layer_sizes": "32", "lr": 0.001, "dropout": 0.1}
    assert trial.distributions == {k: new.distributions[k] for k in trial.params}
    assert trial.state == TrialState.COMPLETE and trial.value == 0.4
    assert trial.intermediate_values == {1: 0.9, 2: 0.5, 3: 0.4}
    assert trial.user_attrs["n_params"] == 123 and trial.user_attrs["forked_from"] == "old#0"
    attrs = flat(forked)
    assert attrs["space_hash"] == new.hash and attrs["forked_from"] == "old" and attrs["forked_trials"] == 1
    assert attrs["dataset"] == "co2.csv" and json.loads(attrs[CONTENT_ATTR])["family"] == "lstm"
    assert forked.direction.name == "MINIMIZE"
    assert len(optuna.load_study(study_name="old", storage=url).trials) == 6  # the old study is untouched


def test_fork_keeps_pruned_trials_and_compares_fixed_values(tmp_path, url, old):
    same_model = space(tmp_path, "wider", LSTM_OLD, "epochs: 40\nlr: {type: float, low: 1.0e-5, high: 1.0e-1, log: true}")
    assert fork_study(url, "old", "wider", same_model) == 4  # COMPLETE x3 + PRUNED; not FAIL, not RUNNING
    states = sorted(t.state.name for t in optuna.load_study(study_name="wider", storage=url).trials)
    assert states == ["COMPLETE", "COMPLETE", "COMPLETE", "PRUNED"]
    pruned = [t for t in optuna.load_study(study_name="wider", storage=url).trials if t.state == TrialState.PRUNED][0]
    assert pruned.intermediate_values == {1: 2.0, 2: 1.9}
    # a changed fixed value (dropout 0.1 -> 0.2, lookback 13 -> 26) means no old trial fits
    other = space(tmp_path, "other", LSTM_OLD.replace("dropout: 0.1", "dropout: 0.2"), LSTM_TRAIN)
    assert fork_study(url, "old", "other", other) == 0
    assert fork_study(url, "old", "other2", space(tmp_path, "o2", LSTM_OLD, LSTM_TRAIN, data="lookback: 26")) == 0
    # a model key left to its default: the old fixed 0.1 differs from the default 0.0
    assert fork_study(url, "old", "other3", space(tmp_path, "o3", "family: lstm\nlayer_sizes: {choices: ['32', '64', '64,32']}", LSTM_TRAIN)) == 0


def test_fork_without_the_old_content_compares_params_only(tmp_path, url):
    old = space(tmp_path, "old", LSTM_OLD, LSTM_TRAIN)
    make_study(url, "plain", old, [({"layer_sizes": "32", "lr": 0.001}, "COMPLETE", [0.5])], content=False)
    searched_dropout = space(tmp_path, "new", "family: lstm\nlayer_sizes: {choices: ['32']}\ndropout: {low: 0.0, high: 0.3}", LSTM_TRAIN)
    assert fork_study(url, "plain", "a", searched_dropout) == 0  # the old dropout is unknown
    assert fork_study(url, "plain", "b", searched_dropout, old_content=old.content()) == 1
    assert fork_study(url, "plain", "c", space(tmp_path, "same", LSTM_OLD, LSTM_TRAIN)) == 1


def test_fork_translates_legacy_layers(tmp_path, url):
    two_params = space(tmp_path, "old", "family: gru\nLAYERS: '[1,3]'\nHIDDEN_UNITS: {type: int, low: 16, high: 256, log: true}", LSTM_TRAIN)
    assert set(two_params.distributions) == {"n_layers", "hidden_units", "lr"}
    rows = [
        ({"n_layers": 2, "hidden_units": 64, "lr": 0.01}, "COMPLETE", [0.5]),
        ({"n_layers": 1, "hidden_units": 32, "lr": 0.01}, "COMPLETE", [0.6]),
        ({"n_layers": 3, "hidden_units": 64, "lr": 0.01}, "COMPLETE", [0.7]),
        ({"n_layers": 2, "hidden_units": 50, "lr": 0.01}, "COMPLETE", [0.8]),
    ]
    make_study(url, "old", two_params, rows)
    categorical = space(tmp_path, "new", "family: gru\nlayer_sizes: {choices: ['32', '64', '32,32', '64,64']}", LSTM_TRAIN)
    assert fork_study(url, "old", "new", categorical) == 2
    assert sorted(t.params["layer_sizes"] for t in optuna.load_study(study_name="new", storage=url).trials) == ["32", "64,64"]
    # and back: canonical strings -> n_layers / hidden_units
    back = space(tmp_path, "back", "family: gru\nLAYERS: '[1,4]'\nHIDDEN_UNITS: '[16,256]'", LSTM_TRAIN)
    assert fork_study(url, "new", "back", back) == 2
    assert sorted((t.params["n_layers"], t.params["hidden_units"]) for t in optuna.load_study(study_name="back", storage=url).trials) == [(1, 32), (2, 64)]


def test_fork_translates_attention_pairs(tmp_path, url):
    separate = space(tmp_path, "old", "family: transformer\nd_model: {choices: [64, 96]}\nnhead: {choices: [4, 8]}", LSTM_TRAIN)
    rows = [({"d_model": d, "nhead": h, "lr": 0.01}, "COMPLETE", [0.5]) for d in (64, 96) for h in (4, 8)]
    make_study(url, "old", separate, rows)
    paired = space(tmp_path, "new", "family: transformer\nd_model: {choices: [64, 96]}\nnhead: {choices: [3, 8]}", LSTM_TRAIN)
    assert "attention" in paired.distributions
    assert fork_study(url, "old", "new", paired) == 2
    assert sorted(t.params["attention"] for t in optuna.load_study(study_name="new", storage=url).trials) == ["64x8", "96x8"]


def test_fork_refusals_create_nothing(tmp_path, url, old):
    names = lambda: sorted(s.study_name for s in optuna.get_all_study_summaries(url))  # noqa: E731
    with pytest.raises(UsageError, match="no study named 'nope'"):
        fork_study(url, "nope", "x", old)
    with pytest.raises(UsageError, match="--fork old: a study of that name exists already"):
        fork_study(url, "old", "old", old)
    maximize = space(tmp_path, "max", LSTM_OLD, LSTM_TRAIN, extra="objective: {metric: loss, direction: minimize}\n")
    with pytest.raises(StudyMismatchError, match="minimizes rmse, the space minimizes loss"):
        fork_study(url, "old", "x", maximize)
    with pytest.raises(StudyMismatchError, match="it searched lstm models, the space searches gru"):
        fork_study(url, "old", "x", space(tmp_path, "gru", "family: gru", LSTM_TRAIN))
    assert names() == ["old"]


def test_forked_study_opens_with_the_runner_and_fork_for_run_resumes(tmp_path, url, old):
    import dataclasses

    from search.driver.prepare import Prepared
    from search.driver.study import open_study

    def prepared(compiled, name):  # only the compiled space and the name matter before the storage
        return Prepared(**{**{f.name: None for f in dataclasses.fields(Prepared)}, "compiled": compiled, "study_name": name})

    new = space(tmp_path, "new", LSTM_OLD, "epochs: 30\nlr: {type: float, low: 1.0e-4, high: 1.0e-2, log: true}")
    storage = optuna.storages.get_storage(url)
    with pytest.raises(StudyMismatchError):
        open_study(storage, prepared(new, "old"))
    prep, copied = fork_for_run(storage, prepared(new, "old"), "old-v2", {"dataset": "co2"})
    assert (prep.study_name, copied) == ("old-v2", 3)
    study = open_study(storage, prep)  # the fork carries the new space's hash
    assert len(study.trials) == 3
    again, copied = fork_for_run(storage, prepared(new, "old"), "old-v2", {})
    assert (again.study_name, copied) == ("old-v2", None)  # exists: resumed, not forked again


def test_describe_change(tmp_path):
    old = space(tmp_path, "a", LSTM_OLD, LSTM_TRAIN)
    new = space(
        tmp_path,
        "b",
        "family: lstm\nlayer_sizes: {choices: ['32', '64']}\ndropout: {type: float, low: 0.0, high: 0.3}",
        "epochs: 30\nlr: {type: float, low: 1.0e-4, high: 1.0e-2, log: true}",
        extra="sampler: {name: tpe, seed: 3}\n",
    )
    text = describe_change(old.content(), new.content())
    assert text.split("; ") == [
        "model.dropout: fixed 0.1 -> searched float 0.0..0.3",
        'model.layer_sizes: {"32", "64", "64,32"} -> {"32", "64"}',
        "train.lr: float 0.0001..0.1 log -> float 0.0001..0.01 log",
        "train.epochs: 20 -> 30",
        "sampler.seed: unset -> 3",
    ]
    assert describe_change(old.content(), json.loads(json.dumps(old.content(), default=str))) == "nothing that decides a trial"
    flipped = describe_change(new.content(), old.content())
    assert "model.dropout: searched float 0.0..0.3 -> fixed 0.1" in flipped
    bidirectional = space(tmp_path, "c", LSTM_OLD + "\nbidirectional: true", LSTM_TRAIN)
    assert describe_change(old.content(), bidirectional.content()) == "model.bidirectional: default -> true"
