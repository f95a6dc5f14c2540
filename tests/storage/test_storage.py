"""Storage URLs and the SQLite settings."""

from __future__ import annotations

import sqlite3

import optuna
import pytest

import storage


def test_mask_url_hides_passwords():
    assert storage.mask_url("postgresql+psycopg://bob:s3cret@db:5432/st") == "postgresql+psycopg://bob:***@db:5432/st"
    assert "s3cret" not in storage.mask_url("postgresql://u:s3cret@h/db")
    assert storage.mask_url("sqlite:///studies.db") == "sqlite:///studies.db"


@pytest.mark.parametrize("url, shown", [
    ("postgresql://user:p@ss@host/db", "postgresql://user:***@host/db"),
    ("postgresql://user:pa:ss@host:5432/db", "postgresql://user:***@host:5432/db"),
    ("postgresql://user:p%40s%3Ass@host/db", "postgresql://user:***@host/db"),
    ("postgresql+psycopg://user:a/b?c@host/db", "postgresql+psycopg://user:***@host/db"),
    ("postgresql://user@host/db?sslmode=require&password=s3cret", "postgresql://user@host/db?sslmode=require&password=***"),
    ("postgresql://host/db?PASSWORD=p@ss&x=1", "postgresql://host/db?PASSWORD=***&x=1"),
    ("postgresql://user@host/db", "postgresql://user@host/db"),
    ("mysql://user:@host/db", "mysql://user:***@host/db"),
])
def test_mask_url_however_the_password_is_spelled(url, shown):
    assert storage.mask_url(url) == shown


def test_mask_secrets_in_a_line_that_quotes_urls():
    line = "--storage postgresql://u:p@ss@h/db: cannot connect; also tried postgresql://h/db?password=pw and pwd=x"
    assert storage.mask_secrets(line) == "--storage postgresql://u:***@h/db: cannot connect; also tried postgresql://h/db?password=*** and pwd=x"


def test_default_url_reads_environment(monkeypatch):
    monkeypatch.delenv("SEARCH_STORAGE", raising=False)
    assert storage.default_url() == "sqlite:///studies.db"
    monkeypatch.setenv("SEARCH_STORAGE", "sqlite:////tmp/x.db")
    assert storage.default_url() == "sqlite:////tmp/x.db"


def test_sqlite_storage_uses_wal_and_heartbeats(tmp_path):
    path = tmp_path / "s.db"
    rdb = storage.open_storage(f"sqlite:///{path}")
    study = optuna.create_study(storage=rdb, study_name="s")
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=2)
    assert sqlite3.connect(path).execute("pragma journal_mode").fetchone()[0] == "wal"
    assert rdb.get_heartbeat_interval() == storage.HEARTBEAT_INTERVAL_S
    assert storage.sqlite_path(f"sqlite:///{path}") == path


def test_storage_suite_on_every_backend(storage_url):
    """The same study operations on SQLite and on a real PostgreSQL server."""
    rdb = storage.open_storage(storage_url)
    study = optuna.create_study(storage=rdb, study_name="both", direction="minimize")
    study.optimize(lambda t: (t.suggest_float("x", -1, 1)) ** 2, n_trials=3)
    trial = study.ask()
    rdb.record_heartbeat(trial._trial_id)
    again = optuna.load_study(study_name="both", storage=storage.open_storage(storage_url))
    assert len(again.trials) == 4 and again.trials[-1].state.name == "RUNNING"
    assert again.best_value == min(t.value for t in again.trials[:3])


def test_concurrent_drivers_can_create_the_schema_at_once(postgres):
    """Several drivers opening a brand-new database at the same moment all succeed."""
    import threading

    url = postgres.create_database("schema_race")
    errors = []

    def open_one():
        try:
            storage.open_storage(url)
        except Exception as exc:  # recorded, asserted below
            errors.append(exc)

    threads = [threading.Thread(target=open_one) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors


def test_unreachable_server_is_one_clear_line(capsys):
    from search.cli import main

    url = "postgresql+psycopg://bob:s3cret@127.0.0.1:1/db"
    assert main(["studies", "--storage", url]) in (1, 2)
    err = capsys.readouterr().err
    assert "s3cret" not in err and "Traceback" not in err


def test_upgrade_command_on_a_current_storage(tmp_path, capsys):
    from search.cli import main

    url = f"sqlite:///{tmp_path}/s.db"
    storage.open_storage(url)
    assert main(["storage", "upgrade", "--storage", url]) == 0
    assert "nothing to do" in capsys.readouterr().out


def test_a_trial_orphaned_before_its_first_heartbeat_is_recovered(storage_url):
    """A driver killed between creating a trial and its first heartbeat leaves a RUNNING trial
    that Optuna never calls stale; after the grace period it is recovered like a stale one.
    Other clients' trials in the same study, beaten or not, are never touched."""
    import time

    from optuna.trial import TrialState

    from search.driver.study_ops import recover_stale_trials

    st = storage.open_storage(storage_url, heartbeat_interval=1, grace_period=2)
    study = optuna.create_study(study_name="orphans", storage=st)
    dist = {"x": optuna.distributions.FloatDistribution(0, 1)}

    def own():
        trial = optuna.Trial(study, storage.start_owned_trial(study._storage, study._study_id, "host:1:abc"))
        trial.suggest_float("x", 0, 1)
        return trial

    orphan = own()  # never beaten
    beaten = own()
    foreign = study.ask(dist)  # a plain ask/tell user's trial, no heartbeat
    foreign_beaten = study.ask(dist)  # a plain study.optimize user's trial, beating
    st.record_heartbeat(foreign_beaten._trial_id)
    assert storage.stale_trial_ids(st, study._study_id) == []  # within the grace period: alive
    time.sleep(3)
    st.record_heartbeat(beaten._trial_id)  # its driver is alive
    fresh = own()  # just made, not beaten yet
    assert storage.stale_trial_ids(st, study._study_id) == [orphan._trial_id]
    assert recover_stale_trials(study) == 1
    trials = {t.number: t for t in study.get_trials()}
    assert trials[orphan.number].state == TrialState.FAIL
    assert trials[orphan.number].user_attrs["error"] == "driver lost (heartbeat stale)"
    for alive in (beaten, fresh, foreign, foreign_beaten):
        assert trials[alive.number].state == TrialState.RUNNING
    assert trials[orphan.number].system_attrs[storage.OWNER_KEY] == "host:1:abc"
    assert storage.OWNER_KEY not in trials[foreign.number].system_attrs
    requeued = [t for t in study.get_trials() if t.state == TrialState.WAITING]
    assert len(requeued) == 1 and requeued[0].system_attrs["fixed_params"] == trials[orphan.number].params
    # the requeued trial, taken by a driver: RUNNING and marked together, its params kept
    taken = storage.start_owned_trial(study._storage, study._study_id, "host:2:def")
    assert taken == requeued[0]._trial_id
    again = st.get_trial(taken)
    assert again.state == TrialState.RUNNING and again.system_attrs[storage.OWNER_KEY] == "host:2:def"
    assert optuna.Trial(study, taken).suggest_float("x", 0, 1) == trials[orphan.number].params["x"]
    assert storage.count_owned_running(st, study._study_id) == 3  # beaten, fresh, taken


def test_a_sqlite_folder_that_cannot_be_written_is_named(tmp_path, monkeypatch):
    # Root may write anywhere, so the permission is what os.access says here.
    with sqlite3.connect(tmp_path / "s.db") as conn:
        conn.execute("CREATE TABLE studies (x)")
        conn.execute("CREATE TABLE version_info (x)")
    monkeypatch.setattr("storage._rdb.os.access", lambda path, mode: False)
    with pytest.raises(storage.StorageError, match=rf"--storage sqlite:///{tmp_path}/s.db: folder {tmp_path} is not writable; SQLite writes beside s.db"):
        storage.check_url(f"sqlite:///{tmp_path}/s.db")


def test_ranked_value_is_the_kth_best_complete_value(storage_url):
    rdb = storage.open_storage(storage_url, heartbeat_interval=None, grace_period=None)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    for direction, expected in (("minimize", [1.0, 2.0, 2.0, 5.0, None]), ("maximize", [5.0, 2.0, 2.0, 1.0, None])):
        study = optuna.create_study(study_name=direction, storage=rdb, direction=direction)
        for value in (2.0, 5.0, 1.0, 2.0):
            study.add_trial(optuna.trial.create_trial(value=value))
        study.add_trial(optuna.trial.create_trial(state=optuna.trial.TrialState.PRUNED, intermediate_values={1: 0.5}))
        study.add_trial(optuna.trial.create_trial(value=float("inf") if direction == "minimize" else float("-inf")))
        found = [storage.ranked_value(rdb, study._study_id, k, direction == "maximize") for k in range(1, 6)]
        assert found == expected  # ties count once each; pruned trials and infinities are left out


def test_a_batch_writes_what_report_and_record_heartbeat_write(storage_url):
    """``write_trial_batch``: several trials' values (nan and infinities too) and heartbeats in
    one go, read back by Optuna as if ``trial.report`` had written them; a finished trial is
    left alone and named; a second batch updates a step and adds the rest."""
    import math

    import sqlalchemy

    rdb = storage.open_storage(storage_url)
    study = optuna.create_study(storage=rdb)
    a, b, done = study.ask(), study.ask(), study.ask()
    study.tell(done, 1.0)
    left = storage.write_trial_batch(
        rdb, {a._trial_id: {1: 0.5, 2: math.nan}, b._trial_id: {1: math.inf, 3: -math.inf}, done._trial_id: {1: 9.0}}, beats=[a._trial_id, b._trial_id]
    )
    assert left == {done._trial_id}
    got = rdb.get_trial(a._trial_id).intermediate_values
    assert got[1] == 0.5 and math.isnan(got[2])
    assert rdb.get_trial(b._trial_id).intermediate_values == {1: math.inf, 3: -math.inf}
    assert rdb.get_trial(done._trial_id).intermediate_values == {}
    beaten = lambda: dict(rdb.engine.connect().execute(sqlalchemy.text("SELECT trial_id, heartbeat FROM trial_heartbeats")).all())  # noqa: E731
    first = beaten()
    assert set(first) == {a._trial_id, b._trial_id}
    storage.write_trial_batch(rdb, {a._trial_id: {2: 0.25, 4: 0.125}}, beats=[a._trial_id])  # an existing heartbeat row updated
    assert rdb.get_trial(a._trial_id).intermediate_values == {1: 0.5, 2: 0.25, 4: 0.125}
    assert set(beaten()) == {a._trial_id, b._trial_id} and beaten()[a._trial_id] >= first[a._trial_id]
    assert storage.complete_trial_ids(rdb, study._study_id) == {done._trial_id}


@pytest.mark.parametrize("url, shown, secrets", [
    ("postgresql://u@h/db?sslpassword=pw1&sslmode=require", "postgresql://u@h/db?sslpassword=***&sslmode=require", ["sslpassword="]),
    ("postgresql://h/db?Token=t0k&x=1;API_KEY=k3y", "postgresql://h/db?Token=***&x=1;API_KEY=***", ["Token=", "API_KEY="]),
    ("s3://b/p?access_key=AK&secret=SK", "s3://b/p?access_key=***&secret=***", ["access_key=", "secret="]),
    ("postgresql://u:pw9@h/db?sslpassword=pw1", "postgresql://u:***@h/db?sslpassword=***", ["the password", "sslpassword="]),
    ("postgresql://h/db?keepalives=1&sslmode=require", "postgresql://h/db?keepalives=1&sslmode=require", []),
])
def test_every_secret_query_key_is_masked(url, shown, secrets):
    assert storage.mask_url(url) == shown and storage.url_secrets(url) == secrets
    assert storage.mask_secrets(f"error: cannot connect to {url} (refused)") == f"error: cannot connect to {shown} (refused)"
