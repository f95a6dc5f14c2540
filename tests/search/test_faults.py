"""Faults with real processes: two drivers started at once on one seeded SQLite study, a
damaged storage file. (A killed driver and a killed worker: ``test_distributed``.)"""

from __future__ import annotations

import subprocess
import sys

import optuna
import pytest
from optuna.trial import TrialState

from tests import _procs

pytestmark = pytest.mark.slow


def search_cmd(space, url, trials_n, *extra):
    return [sys.executable, "-m", "search", "run", str(space), "--trials", str(trials_n), "--storage", url, "--quiet", *extra]


def test_two_drivers_started_at_once_on_one_seeded_study_draw_distinct_params(tiny_space, tmp_path):
    # tiny_space: sampler random, seed 0; lr is a float range, so equal params mean equal draws.
    url = f"sqlite:///{tmp_path}/s.db"
    cmd = search_cmd(tiny_space, url, 6, "--workers", "1", "--set", "train.epochs=2", "--set", "pruner=none")
    drivers = [_procs.start(cmd, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for _ in range(2)]
    try:
        outputs = [d.communicate(timeout=600)[0] for d in drivers]
    finally:
        for d in drivers:
            _procs.end_group(d)
    for d, out in zip(drivers, outputs):
        assert d.returncode == 0, out
    done = [t for t in optuna.load_study(study_name="tiny", storage=url).get_trials(deepcopy=False) if "retry_of" not in t.user_attrs]
    assert sum(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in done) >= 6
    draws = [tuple(sorted(t.params.items())) for t in done if t.params]
    assert len(draws) == len(set(draws)), draws

    # One seeded driver alone is reproducible: the same params for the same trial numbers.
    again = f"sqlite:///{tmp_path}/again.db"
    alone = subprocess.run(search_cmd(tiny_space, again, 3, "--workers", "1", "--set", "train.epochs=2", "--set", "pruner=none"), cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert alone.returncode == 0, alone.stdout + alone.stderr
    by_number = {t.number: t.params for t in done}
    for t in optuna.load_study(study_name="tiny", storage=again).get_trials(deepcopy=False):
        assert t.params["lr"] == by_number[t.number]["lr"]


@pytest.mark.parametrize("damage", ["malformed", "not_sqlite", "other_tables"])
def test_a_damaged_storage_file_is_one_line_naming_the_flag(tiny_space, tmp_path, damage):
    import sqlite3

    db = tmp_path / "s.db"
    if damage == "not_sqlite":
        db.write_text("these are my notes, not a database\n")
    else:
        with sqlite3.connect(db) as conn:
            conn.execute("CREATE TABLE people (name TEXT)")
            conn.executemany("INSERT INTO people VALUES (?)", [("x" * 500,)] * 200)
        if damage == "malformed":
            data = bytearray(db.read_bytes())
            data[100:4096] = b"\xff" * (4096 - 100)  # the schema page
            db.write_bytes(bytes(data))
    before = db.read_bytes()
    for args in (search_cmd(tiny_space, f"sqlite:///{db}", 1), [sys.executable, "-m", "search", "studies", "--storage", f"sqlite:///{db}"]):
        result = subprocess.run(args, cwd=tmp_path, capture_output=True, text=True, timeout=300)
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert result.returncode == 2, result.stderr
        assert len(lines) == 1 and lines[0].startswith(f"error: --storage sqlite:///{db}: "), result.stderr
        assert "Traceback" not in result.stderr
    assert db.read_bytes() == before  # untouched
