"""What a driver killed with SIGKILL leaves in the study (docs/results.md, "What lands in the study").

The bridge writes intermediate values in batches, so a worker can be told "go on" before its
value is in the study. The guarantee: every value acknowledged to a worker is in the study,
or its trial is still RUNNING when the driver dies and, once its heartbeat is stale, is
recorded FAIL ("driver lost") with its params queued to run again. A finished trial (COMPLETE
or PRUNED) always holds every value it reported.

A real driver process (the bench's: ``run_search``'s searcher, scheduler and bridge on a
local Ray runtime) runs trials that only report, each logging what the driver answered; the
write interval is stretched to 400 ms so the kill lands with values still queued.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

import storage
from search.driver.study_ops import recover_stale_trials
from tests import _procs
from tests.conftest import REPO

pytestmark = pytest.mark.slow

DRIVER = """
import sys
sys.path.insert(0, {bench!r})
import bench_driver
space = bench_driver.make_space(__import__("pathlib").Path({folder!r}), 30)
bench_driver.driver(str(space), {url!r}, 4, 600, 30, 20, 8, "killed", acks={acks!r})
"""


def _acks(folder: Path) -> list[tuple[int, int, float]]:
    rows = []
    for path in folder.glob("*.acks"):
        for line in path.read_text().splitlines():
            parts = line.split(",")
            if len(parts) == 3:
                try:
                    rows.append((int(parts[0]), int(parts[1]), float(parts[2])))
                except ValueError:
                    pass  # the line being written when the worker died
    return rows


def test_a_driver_killed_with_sigkill_loses_no_acknowledged_value_for_good(tmp_path):
    acks = tmp_path / "acks"
    acks.mkdir()
    url = f"sqlite:///{tmp_path / 'killed.db'}"
    script = DRIVER.format(bench=str(REPO / "benchmarks"), folder=str(tmp_path), url=url, acks=str(acks))
    env = {**os.environ, "SEARCH_WRITE_INTERVAL_MS": "400", "SEARCH_HEARTBEAT_INTERVAL_S": "1"}
    driver = _procs.start([sys.executable, "-c", script], cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        # kill once trials have finished and many results were answered
        assert _procs.poll_until(lambda: len(_acks(acks)) >= 150, 300), "the trials did not report"
        os.kill(driver.pid, signal.SIGKILL)  # the driver alone, as the out-of-memory killer would
        driver.wait()
    finally:
        _procs.end_group(driver)
    answered = _acks(acks)

    rdb = storage.open_storage(url, heartbeat_interval=1, grace_period=2)
    study = optuna.load_study(study_name="killed", storage=rdb)
    time.sleep(3)  # the killed driver's heartbeats go stale
    recovered = recover_stale_trials(study)
    trials = {t.number: t for t in study.get_trials(deepcopy=False)}
    queued = {t.user_attrs.get("retry_of"): t for t in trials.values() if t.state == TrialState.WAITING}

    stored = rerun = 0
    for number, epoch, value in answered:
        trial = trials[number]
        if trial.intermediate_values.get(epoch) == value:
            stored += 1
            continue
        # not in the study: its trial must be the killed driver's, FAIL now and queued to run again
        assert trial.state == TrialState.FAIL and trial.user_attrs.get("error") == "driver lost (heartbeat stale)", (number, epoch, trial)
        assert number in queued and queued[number].system_attrs.get("fixed_params") == trial.params, (number, sorted(queued))
        rerun += 1
    for trial in trials.values():
        if trial.state in (TrialState.COMPLETE, TrialState.PRUNED):
            mine = [e for n, e, _ in answered if n == trial.number]
            assert set(mine) <= set(trial.intermediate_values), trial.number
    assert stored > 0 and recovered > 0
    assert any(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in trials.values())
    print(f"answered {len(answered)}: {stored} in the study, {rerun} of trials re-run ({recovered} recovered)")
