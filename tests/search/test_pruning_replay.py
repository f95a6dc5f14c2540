"""The bridge's pruning decisions from memory are Optuna's own, at every step.

The bridge decides median/percentile pruning from ``PruningView`` (the study's COMPLETE
trials in memory, the trial's values as it reported them) and writes the values in batches.
Here whole searches are replayed through ``StudyBridge.report`` / ``complete`` on a SQLite
study: learning curves drawn like real ones (a decay to a level that differs per trial,
noise, now and then a nan or an infinity), several trials running at once and ending in a
random order, some of them told by "another driver" straight into the study. At every
reported step the bridge's answer must equal ``pruner.prune(study, trial)`` and
``trial.should_prune()`` on the study as the storage holds it, for several pruners and
settings. Other pruners are asked through ``should_prune`` itself, after the values are
written: the study must hold every value at the moment they decide.
"""

from __future__ import annotations

import math
import random
import zlib

import optuna
import pytest
from optuna.trial import TrialState

import storage
from search.driver.bridge import StudyBridge

optuna.logging.set_verbosity(optuna.logging.WARNING)

TRIALS = 32  # per replayed search

PRUNERS = {
    "median default": lambda: optuna.pruners.MedianPruner(),
    "median 3/2/2": lambda: optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=2, interval_steps=2),
    "median 0/0 min 4": lambda: optuna.pruners.MedianPruner(n_startup_trials=0, n_warmup_steps=0, n_min_trials=4),
    "median shipped 3/2": lambda: optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=2),
    "percentile 25": lambda: optuna.pruners.PercentilePruner(25.0, n_startup_trials=2, n_warmup_steps=1),
    "percentile 75 every 3": lambda: optuna.pruners.PercentilePruner(75.0, n_startup_trials=4, interval_steps=3),
    "percentile 40 min 3": lambda: optuna.pruners.PercentilePruner(40.0, n_startup_trials=0, n_min_trials=3),
    # not decided in memory: asked through trial.should_prune
    "threshold": lambda: optuna.pruners.ThresholdPruner(upper=1.6),
    "successive halving": lambda: optuna.pruners.SuccessiveHalvingPruner(min_resource=1, reduction_factor=2),
}


def curve(rng: random.Random, epochs: int, maximize: bool) -> list[float]:
    level, speed = 0.5 + rng.random(), 1.5 + 3 * rng.random()
    values = []
    for epoch in range(1, epochs + 1):
        v = level + math.exp(-epoch / speed) + 0.05 * rng.gauss(0, 1)
        roll = rng.random()
        if roll < 0.01:
            v = math.nan
        elif roll < 0.015:
            v = math.inf
        values.append(-v if maximize else v)
    return values


CASES = [(name, "minimize") for name in PRUNERS] + [("median 3/2/2", "maximize"), ("percentile 25", "maximize")]


@pytest.mark.parametrize("name, direction", CASES)
def test_replayed_searches_get_optunas_decisions(tmp_path, name, direction):
    rng = random.Random(zlib.crc32(f"{name} {direction}".encode()))
    url = f"sqlite:///{tmp_path / 'replay.db'}"
    rdb = storage.open_storage(url, heartbeat_interval=None, grace_period=None)
    study = optuna.create_study(storage=rdb, direction=direction, pruner=PRUNERS[name]())
    other = optuna.load_study(study_name=study.study_name, storage=storage.open_storage(url, heartbeat_interval=None, grace_period=None))
    bridge = StudyBridge(study, compiled=None, target=10**6)
    assert (bridge.view is not None) == name.startswith(("median", "percentile"))
    running: dict[str, dict] = {}
    steps = pruned = 0
    started = 0
    while started < TRIALS or running:
        while started < TRIALS and len(running) < rng.randint(2, 6):
            ray_id = f"r{started}"
            mine = rng.random() < 0.7  # else another driver's trial, told straight into the study
            trial = study.ask() if mine else other.ask()
            if mine:
                bridge.live[ray_id] = trial
            running[ray_id] = {"trial": trial, "mine": mine, "curve": curve(rng, rng.randint(3, 12), direction == "maximize"), "step": 0}
            started += 1
        ray_id = rng.choice(list(running))
        run = running[ray_id]
        trial, run["step"] = run["trial"], run["step"] + 1
        step, value = run["step"], run["curve"][run["step"] - 1]
        if run["mine"]:
            decision = bridge.report(ray_id, {"epoch": step, "objective": value})
            bridge.flush()  # the study holds what the bridge holds
            latest = rdb.get_trial(trial._trial_id)
            assert latest.intermediate_values == pytest.approx(trial._get_latest_trial().intermediate_values, nan_ok=True)
            if bridge.view is not None:  # median/percentile read the study, write nothing: ask again
                assert decision == study.pruner.prune(study, latest) == trial.should_prune(), (name, ray_id, step)
            # other pruners were asked through trial.should_prune itself (successive halving writes
            # its rungs into the trial when asked: asking twice would answer another question)
        else:
            trial.report(value, step)
            decision = trial.should_prune()
        steps += 1
        pruned += decision
        last = step == len(run["curve"])
        if decision or last:
            del running[ray_id]
            finite = [v for v in run["curve"][:step] if math.isfinite(v)]
            best = (max if direction == "maximize" else min)(finite) if finite else 0.0
            if run["mine"]:
                if decision:
                    bridge.pruned.add(ray_id)
                bridge.complete(ray_id, {"final": not decision, "best_objective": best}, error=False)
            else:
                other.tell(trial, None if decision else best, state=TrialState.PRUNED if decision else TrialState.COMPLETE)
                bridge.flush()  # the view takes another driver's trial in at its next refresh
    bridge.close()
    states = [t.state for t in study.get_trials(deepcopy=False)]
    assert steps > 2 * TRIALS and states.count(TrialState.COMPLETE) >= 3
    if name not in ("threshold",):
        assert pruned > 0, "the replay never pruned: it proves little"
    # every finished trial holds every value it reported
    for t in study.get_trials(deepcopy=False):
        assert t.state in (TrialState.COMPLETE, TrialState.PRUNED)
        assert sorted(t.intermediate_values) == list(range(1, len(t.intermediate_values) + 1))
