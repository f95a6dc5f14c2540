"""A study records where its artifacts are, so a reader elsewhere finds them without being told."""

from __future__ import annotations

import shutil

import pandas as pd
import pytest

import search
import storage
from search.store import recorded_artifacts
from tests._studies import searched_study


def test_the_reader_uses_the_recorded_folder_then_the_default(tmp_path, tiny_space):
    url = f"sqlite:///{tmp_path / 'db' / 'studies.db'}"
    (tmp_path / "db").mkdir()
    shared = tmp_path / "mnt" / "shared-artifacts"  # a folder every machine mounts, not the default
    study = searched_study(tiny_space, url, shared)
    study.set_user_attr("artifacts", str(shared.resolve()))  # what run_search records
    frame = pd.read_csv(tiny_space.parent / "series.csv")
    # no --artifacts: the recorded folder, not the default beside the SQLite file
    assert storage.find_artifact_dir(url, None, str(shared)) == shared
    assert not storage.artifact_dir(url).exists()
    assert search.load_best("tiny", url).predict(frame).shape == (1, 1)
    assert recorded_artifacts(url) == str(shared.resolve())
    # the database and its folder moved together to where the recorded one does not exist
    moved = tmp_path / "elsewhere"
    moved.mkdir()
    for part in (tmp_path / "db").glob("studies.db*"):  # the database with its WAL
        shutil.copy(part, moved / part.name)
    shutil.copytree(shared, moved / "studies-artifacts")
    shutil.rmtree(shared)
    assert search.load_best("tiny", f"sqlite:///{moved / 'studies.db'}").predict(frame).shape == (1, 1)
    # --artifacts still wins
    with pytest.raises(Exception):
        search.load_best("tiny", f"sqlite:///{moved / 'studies.db'}", artifacts=str(tmp_path / "empty"))


def test_studies_recording_different_folders_leave_the_choice_to_the_default(tmp_path, tiny_space):
    url = f"sqlite:///{tmp_path / 'studies.db'}"
    a = searched_study(tiny_space, url, tmp_path / "a", name="a")
    b = searched_study(tiny_space, url, tmp_path / "b", name="b")
    a.set_user_attr("artifacts", str(tmp_path / "a"))
    b.set_user_attr("artifacts", str(tmp_path / "b"))
    assert recorded_artifacts(url) is None
    assert storage.find_artifact_dir(url, None, None) == tmp_path / "studies-artifacts"
