"""A study records where its artifacts are, so a reader elsewhere finds them without being told."""

from __future__ import annotations

import shutil

import pandas as pd
import pytest

import search
import storage
from search.store import recorded_artifacts
from search.study_attrs import flat
from tests._studies import searched_study


def test_the_reader_uses_the_recorded_folder_then_the_default(tmp_path, tiny_space):
    url = f"sqlite:///{tmp_path / 'db' / 'studies.db'}"
    (tmp_path / "db").mkdir()
    shared = tmp_path / "mnt" / "shared-artifacts"  # a folder every machine mounts, not the default
    study = searched_study(tiny_space, url, shared)
    study.set_user_attr("artifacts", str(shared.resolve()))  # what run_search records
    frame = pd.read_csv(tiny_space.parent / "series.csv")
    # no --artifacts: the recorded folder, not the default beside the SQLite file
    assert storage.find_artifacts(url, None, str(shared)) == str(shared)
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
    assert storage.find_artifacts(url, None, None) == str((tmp_path / "studies-artifacts").resolve())


# -- an S3-compatible object store (a moto server started by the test)


@pytest.fixture
def s3(monkeypatch):
    """A local S3-compatible server on a free loopback port, with one bucket; boto3 pointed at
    it through the environment, as a user would."""
    from tests._postgres import free_port

    boto3 = pytest.importorskip("boto3")
    server_mod = pytest.importorskip("moto.server")
    port = free_port()
    server = server_mod.ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    for key, value in {
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}", "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(key, value)
    client = boto3.client("s3")
    client.create_bucket(Bucket="studies")
    try:
        yield client
    finally:
        server.stop()


@pytest.mark.slow
def test_a_search_keeps_its_artifacts_in_s3_and_readers_find_them(s3, ray_local, tiny_space, tmp_path):
    from search.driver.run import run_search
    from search.results.dashboard import make_app
    from search.results.report import best_forecast

    url = f"sqlite:///{tmp_path / 'studies.db'}"
    run_search(tiny_space, trials=2, storage_url=url, quiet=True, artifacts="s3://studies/team-a")
    import optuna

    study = optuna.load_study(study_name="tiny", storage=url)
    assert flat(study)["artifacts"] == "s3://studies/team-a"
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket="studies")["Contents"]}
    best = study.best_trial.user_attrs
    assert f"team-a/{best['checkpoint']}" in keys and f"team-a/{best['learning_curve']}" in keys
    assert not (tmp_path / "studies-artifacts").exists()  # nothing went to the local default
    # readers on any machine: no --artifacts given
    frame = pd.read_csv(tiny_space.parent / "series.csv")
    assert search.load_best("tiny", url).predict(frame).shape == (1, 1)
    view, note = best_forecast(study, url)
    assert view is not None and view["task"] == "forecast", note
    # the dashboard serves the checkpoint from the bucket
    app = make_app(url, artifact_dir="s3://studies/team-a")
    path = f"/artifacts/{study._study_id}/{study.best_trial._trial_id}/{best['checkpoint']}"
    seen = {}
    body = b"".join(app({"REQUEST_METHOD": "GET", "PATH_INFO": path, "HTTP_HOST": "127.0.0.1", "SERVER_NAME": "127.0.0.1",
                         "SERVER_PORT": "80", "wsgi.url_scheme": "http", "QUERY_STRING": ""},
                        lambda status, headers, exc_info=None: seen.update(status=status)))
    assert seen["status"].startswith("200") and len(body) > 1000


def test_a_bucket_that_cannot_be_reached_is_one_line_naming_artifacts(s3, tiny_space, tmp_path, capsys):
    from search.cli import main

    db = tmp_path / "s.db"
    code = main(["run", str(tiny_space), "--trials", "1", "--storage", f"sqlite:///{db}", "--artifacts", "s3://no-such-bucket/x"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.count("\n") == 0, err
    assert err.startswith("error: --artifacts s3://no-such-bucket/x: cannot reach the bucket") and "Traceback" not in err
    assert not db.exists()  # checked before the storage is opened
