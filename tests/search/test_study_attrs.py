"""A tidy study (search.study_attrs): a few short user attrs that the real ``optuna studies``
prints in a readable table, the rest grouped in the study's system attrs; ``flat`` reads studies
of either layout, so a study written before (every attr a flat user attr) still opens in
``search best``, ``search predict``, the report and a fork."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import optuna
import pytest

from search.study_attrs import GROUPS, PREFIX, VISIBLE, flat, group_of, write
from tests.conftest import TINY_SPACE, write_series

# `optuna studies -f table` prints each study's user attrs in one cell of one line. The other
# columns (name, direction, n_trials, datetime_start, borders) take about 60 characters and
# the visible facts of this study 142 (names and values of bounded size: file and dataset
# names, a 16-hex hash, a family, a task, a metric; a fork adds about 40): a line of 202. 400
# leaves room for longer file and study names and stays two or three rows of a terminal.
# Before, the same study printed one line of 15,411 characters (the space, ~70 baseline
# figures, the served forecaster, the statistical forecasts).
MAX_WIDTH = 400


def _study(tmp_path, name="s") -> optuna.Study:
    return optuna.create_study(study_name=name, storage=f"sqlite:///{tmp_path / 'a.db'}")


def test_the_writer_groups_what_it_is_given_and_flat_reads_it_back(tmp_path):
    attrs = {
        "space_file": "tiny.yaml", "space_hash": "0123456789abcdef", "family": "lstm", "metric": "rmse", "task": "forecast",
        "space_content": json.dumps({"distributions": {}}), "defaults_chosen": {"reference": "seasonal"},
        "baseline_naive_val_rmse": 0.6, "baseline_mstl_note": "", "stat_forecasts": {"format": 1}, "seasonal_naive_season": 25,
        "served": {"format": 1, "members": []}, "ensemble_k": 2,
        "direction": "minimize", "split_rows": [280, 60, 60], "artifacts": "/data/a", "something_new": 1,
    }  # fmt: skip
    study = _study(tmp_path)
    write(study, attrs)
    assert study.user_attrs == {k: v for k, v in attrs.items() if k in VISIBLE}
    system = study._storage.get_study_system_attrs(study._study_id)
    assert system[PREFIX + "baselines"] == {k: attrs[k] for k in ("baseline_naive_val_rmse", "baseline_mstl_note", "stat_forecasts", "seasonal_naive_season")}
    assert system[PREFIX + "space"] == {k: attrs[k] for k in ("space_content", "defaults_chosen")}
    assert system[PREFIX + "served"] == {"served": attrs["served"], "ensemble_k": 2}
    assert set(system[PREFIX + "facts"]) == {"direction", "split_rows", "artifacts", "something_new"}  # the rest, new names too
    assert flat(study) == attrs

    write(study, {"baseline_mstl_val_rmse": 0.2, "served": {"format": 1, "members": [1]}})  # a group keeps its other entries
    assert flat(study) == {**attrs, "baseline_mstl_val_rmse": 0.2, "served": {"format": 1, "members": [1]}}
    frozen = next(s for s in study._storage.get_all_studies() if s.study_name == "s")  # a FrozenStudy, as search.store reads them
    assert flat(frozen) == flat(study)


def test_an_old_flat_study_reads_the_same_and_newer_writes_win(tmp_path):
    old = _study(tmp_path, "old")
    attrs = {"space_hash": "0123456789abcdef", "metric": "mae", "baseline_naive_val_mae": 0.5, "served": {"format": 1, "members": [3]}, "seasons": [7]}
    for key, value in attrs.items():
        old.set_user_attr(key, value)  # as every study was written before the grouped layout
    assert flat(old) == attrs
    write(old, {"served": {"format": 1, "members": [4]}})  # a newer search resuming it
    assert flat(old) == {**attrs, "served": {"format": 1, "members": [4]}}


@pytest.mark.parametrize("name, group", [("space_content", "space"), ("baseline_autoets_test_smape", "baselines"), ("stat_baselines_running", "baselines"), ("served", "served"), ("ensemble_members", "served"), ("targets_test", "facts"), ("metric", None), ("forked_from", None)])
def test_each_name_has_its_place(name, group):
    assert group_of(name) == group and (group is None or group in GROUPS)


# -- a real search, read by the real Optuna CLI and by the service


@pytest.fixture(scope="module")
def searched(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tidy")
    write_series(folder / "series.csv")
    (folder / "tiny.yaml").write_text(textwrap.dedent(TINY_SPACE))
    url = f"sqlite:///{folder / 's.db'}"
    done = subprocess.run([sys.executable, "-m", "search", "run", "tiny.yaml", "--trials", "3", "--storage", url], cwd=folder, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout + done.stderr
    return folder, url


def _search(folder: Path, *args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "search", *args], cwd=folder, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


@pytest.mark.slow
def test_optuna_studies_prints_a_readable_table_and_search_best_still_shows_the_baselines(searched):
    folder, url = searched
    study = optuna.load_study(study_name="tiny", storage=url)
    assert set(study.user_attrs) <= set(VISIBLE) and {"space_hash", "family", "metric", "dataset"} <= set(study.user_attrs)
    optuna_cli = str(Path(sys.executable).with_name("optuna"))
    table = subprocess.run([optuna_cli, "studies", "--storage", url, "-f", "table"], capture_output=True, text=True, timeout=120)
    assert table.returncode == 0, table.stderr
    assert "tiny" in table.stdout and "space_hash" in table.stdout
    widths = [len(line) for line in table.stdout.splitlines()]
    assert max(widths) < MAX_WIDTH, table.stdout

    # plain Optuna finds the groups in the study's system attrs, plain JSON (as the manual shows)
    storage = optuna.storages.get_storage(url)
    system = storage.get_study_system_attrs(storage.get_study_id_from_name("tiny"))
    baselines = system["search:baselines"]
    assert isinstance(baselines["baseline_naive_val_rmse"], float) and isinstance(baselines["baseline_mstl_test_mae"], float)
    assert "distributions" in json.loads(system["search:space"]["space_content"])
    assert system["search:served"]["served"]["members"]
    assert {"split_rows", "targets_test", "seasons", "version"} <= set(system["search:facts"])
    assert flat(study)["baseline_naive_val_rmse"] == baselines["baseline_naive_val_rmse"]

    best = _search(folder, "best", "tiny", "--storage", url)
    assert "x naive" in best and "MSTL" in best and "served:" in best
    _search(folder, "report", "tiny", "--storage", url, "--out", "tiny.html")
    html = (folder / "tiny.html").read_text()
    assert "x naive" in html and "MSTL" in html


def _old_copy(url: str, name: str) -> optuna.Study:
    """Study ``tiny`` written again as every study was before the grouped layout: each attr a
    flat user attr, no groups; the same trials (their system attrs too: made by this service)."""
    new = optuna.load_study(study_name="tiny", storage=url)
    old = optuna.create_study(study_name=name, storage=url, directions=[d.name.lower() for d in new.directions])
    for key, value in flat(new).items():
        old.set_user_attr(key, value)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        old.set_metric_names(new.metric_names)
    old.add_trials(new.get_trials(deepcopy=False))
    assert not [k for k in old._storage.get_study_system_attrs(old._study_id) if k.startswith(PREFIX)]
    return old


@pytest.mark.slow
def test_a_study_in_the_old_flat_layout_still_opens_and_forks(searched):
    from search.driver.fork import fork_study
    from search.driver.prepare import prepare
    from search.driver.study import study_attrs

    folder, first = searched
    shutil.copy(folder / "s.db", folder / "both.db")  # the tidy study beside its old-layout copy; s.db stays tidy
    url = f"sqlite:///{folder / 'both.db'}"
    old = _old_copy(url, "old")
    assert flat(old) == flat(optuna.load_study(study_name="tiny", storage=first))

    new_best, old_best = (json.loads(_search(folder, "best", name, "--storage", url, "--json")) for name in ("tiny", "old"))
    assert old_best["baselines"] and old_best["served"]["label"] and old_best["versus_baselines"]
    assert {**old_best, "study": "tiny"} == new_best  # the same figures, the same served forecaster
    assert "x naive" in _search(folder, "best", "old", "--storage", url)
    predicted = [_search(folder, "predict", name, "--storage", url, "--input", "series.csv") for name in ("tiny", "old")]
    assert predicted[0] == predicted[1] and predicted[0].strip()
    _search(folder, "report", "old", "--storage", url, "--out", "old.html")
    assert "x naive" in (folder / "old.html").read_text()

    prep = prepare(folder / "tiny.yaml", [], "old")  # as search run --fork prepares it
    copied = fork_study(url, "old", "old_fork", prep.compiled, attrs=study_attrs(prep))
    forked = optuna.load_study(study_name="old_fork", storage=url)
    assert copied == len(old.get_trials(states=(optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED))) > 0
    assert set(forked.user_attrs) <= set(VISIBLE)  # a fork is written in the grouped layout
    recorded = flat(forked)
    assert recorded["forked_from"] == "old" and recorded["forked_trials"] == copied and json.loads(recorded["space_content"])
    assert "best trial #" in _search(folder, "best", "old_fork", "--storage", url)
