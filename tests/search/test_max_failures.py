"""``--max-failures F`` stops after exactly F failures in a row, counting the trials already
running: a new trial waits while those running could make the F-th failure."""

from __future__ import annotations

import optuna
import pytest
from optuna.trial import TrialState

import storage
from search.driver.bridge import WAIT, StudyBridge
from search.driver.prepare import prepare
from search.driver.study import open_study

optuna.logging.set_verbosity(optuna.logging.WARNING)


@pytest.fixture
def bridge_of(tiny_space, tmp_path):
    def make(max_failures: int) -> StudyBridge:
        prep = prepare(tiny_space)
        study = open_study(storage.open_storage(f"sqlite:///{tmp_path}/s.db"), prep)
        return StudyBridge(study, prep.compiled, 20, max_consecutive_failures=max_failures)

    return make


def test_running_trials_count_towards_the_failures_in_a_row(bridge_of):
    bridge = bridge_of(3)
    assert isinstance(bridge.suggest("a"), dict) and isinstance(bridge.suggest("b"), dict)
    assert bridge.suggest("c") is not WAIT  # 0 failed + 2 running < 3
    bridge.complete("a", {"error": "boom"}, False)  # 1 failed, 2 running: a third failure could follow
    assert bridge.suggest("d") == WAIT
    bridge.complete("b", {"error": "boom"}, False)  # 2 failed, 1 running
    assert bridge.suggest("d") == WAIT
    bridge.complete("c", {"error": "boom"}, False)  # the third in a row: the search stops
    assert bridge.stop_reason.startswith("3 trials failed in a row") and bridge.suggest("d") is None
    states = [t.state for t in bridge.study.get_trials(deepcopy=False)]
    assert states.count(TrialState.FAIL) == 3 and TrialState.RUNNING not in states


def test_a_success_resets_the_count_and_new_trials_start_again(bridge_of):
    bridge = bridge_of(2)
    bridge.suggest("a"), bridge.suggest("b")
    bridge.complete("a", {"error": "boom"}, False)
    assert bridge.suggest("c") == WAIT
    bridge.complete("b", {"final": True, "best_objective": 0.5}, False)  # COMPLETE: no failure in a row now
    assert bridge.tally.consecutive_failures == 0 and isinstance(bridge.suggest("c"), dict)
