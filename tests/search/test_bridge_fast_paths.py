"""The driver's and the worker's shortcuts, without Ray: they must not change any decision.

- ``PruneGate`` skips ``should_prune`` only where the pruner would say "go on" anyway;
- ``storage.set_trial_user_attrs`` writes what ``set_trial_user_attr`` writes, in one go;
- ``search.worker.trainable.report_ahead`` passes every result on in order, waits for the decision
  where one is needed, and stops training when the trial is stopped.
"""

from __future__ import annotations

import random

import optuna
import pytest

import storage
from search.driver.pruning import PruneGate
from search.space import compile_space
from search.worker.load import load_series
from search.space import load_space
from search.worker.steps import needs_decision
from search.worker.trainable import report_ahead

optuna.logging.set_verbosity(optuna.logging.WARNING)


@pytest.mark.parametrize(
    "pruner",
    [
        optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=2, interval_steps=1),
        optuna.pruners.MedianPruner(n_startup_trials=0, n_warmup_steps=0, interval_steps=3),
        optuna.pruners.PercentilePruner(40.0, n_startup_trials=2, n_warmup_steps=4, interval_steps=2),
        optuna.pruners.MedianPruner(n_startup_trials=1, n_warmup_steps=1, interval_steps=2),
    ],
)
def test_gate_never_skips_a_prune(pruner):
    """Every step of every trial: where the gate says "cannot prune", the pruner agrees."""
    rng = random.Random(0)
    study = optuna.create_study(pruner=pruner)
    gate = PruneGate(pruner)
    skipped = asked = pruned = 0
    for _ in range(25):
        trial = study.ask()
        steps: list[int] = []
        stopped = False
        for step in range(1, 12):
            trial.report(rng.random(), step)
            steps.append(step)
            complete = lambda: len(study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)))  # noqa: E731
            decision = trial.should_prune()
            if gate.may_prune(step, steps, complete):
                asked += 1
            else:
                skipped += 1
                assert not decision, (step, steps)
            if not needs_decision(gate.decide, step, steps[-2] if len(steps) > 1 else -1):  # the worker goes on
                assert not decision, (step, steps)
            if decision:
                pruned += 1
                study.tell(trial, state=optuna.trial.TrialState.PRUNED)
                stopped = True
                break
        if not stopped:
            study.tell(trial, rng.random())
    assert skipped > 0 and asked > 0 and pruned > 0


def test_gate_for_other_pruners():
    nop = PruneGate(optuna.pruners.NopPruner())
    assert nop.decide is None and not nop.may_prune(5, [1, 2, 3, 4, 5], lambda: 100)
    other = PruneGate(optuna.pruners.ThresholdPruner(upper=1.0))  # unknown rules: always asked
    assert other.decide == {"from": 0, "every": 1} and other.may_prune(1, [1], lambda: 0)
    median = PruneGate(optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=3, interval_steps=2))
    assert median.decide == {"from": 3, "every": 2}
    assert [s for s in range(1, 10) if needs_decision(median.decide, s, s - 1)] == [3, 5, 7, 9]
    every3 = {"from": 0, "every": 3}  # boundaries 0, 3, 6: the first step reported (1) is checked too
    assert [s for s in range(1, 8) if needs_decision(every3, s, s - 1 if s > 1 else -1)] == [1, 3, 6]
    assert not needs_decision(None, 4, 3)


def test_user_attrs_in_one_transaction(storage_url):
    rdb = storage.open_storage(storage_url, heartbeat_interval=None, grace_period=None)
    study = optuna.create_study(storage=rdb)
    trial = study.ask()
    study._storage.set_trial_user_attr(trial._trial_id, "node", "old")
    attrs = {"node": "host/abc", "epochs_run": 3, "train_seconds": 0.25, "early_stopped": False, "test_rmse": 0.4, "error": "x"}
    storage.set_trial_user_attrs(study._storage, trial._trial_id, attrs)
    study.tell(trial, 1.0)
    loaded = optuna.load_study(study_name=study.study_name, storage=storage_url)
    assert loaded.trials[0].user_attrs == attrs
    assert study.trials[0].user_attrs == attrs  # through Optuna's cache too
    with pytest.raises(optuna.exceptions.UpdateFinishedTrialError):
        storage.set_trial_user_attrs(study._storage, trial._trial_id, {"late": 1})
    memory = optuna.create_study()
    t = memory.ask()
    storage.set_trial_user_attrs(memory._storage, t._trial_id, {"a": 1, "b": "two"})
    assert memory.trials[0].user_attrs == {"a": 1, "b": "two"}


def _trial(space_path, epochs: int):
    compiled = compile_space(load_space(space_path))
    config = compiled.trial_config({"layer_sizes": "8", "lookback": 8, "lr": 0.005})
    config["train"].update(epochs=epochs, patience=0)
    return config, load_series(compiled.space.data)


def test_report_ahead_passes_every_result_in_order(tiny_space):
    config, series = _trial(tiny_space, 5)
    for decide in (None, {"from": 3, "every": 1}, {"from": 0, "every": 1}):
        seen: list[dict] = []
        report_ahead(config, series, "rmse", "minimize", decide, seen.append)
        assert [r["epoch"] for r in seen] == [1, 2, 3, 4, 5]
        assert [r["final"] for r in seen] == [False] * 4 + [True]
        assert "checkpoint" in seen[-1] and "test_rmse" in seen[-1]


def test_report_ahead_waits_for_the_decision_and_stops(tiny_space):
    """Tune ends a trial by raising SystemExit out of report: training stops at the step that
    was decided, nothing after it is reported, and the training thread has ended."""
    import threading

    config, series = _trial(tiny_space, 8)
    seen: list[int] = []

    def report(result: dict) -> None:
        seen.append(result["epoch"])
        if result["epoch"] == 4:
            raise SystemExit(0)  # pruned at step 4

    before = {t.ident for t in threading.enumerate()}
    with pytest.raises(SystemExit):
        report_ahead(config, series, "rmse", "minimize", {"from": 4, "every": 1}, report)
    assert seen == [1, 2, 3, 4]
    assert not [t for t in threading.enumerate() if t.ident not in before and t.name == "search-train"]


def test_report_ahead_raises_what_training_raises(tiny_space, monkeypatch):
    import search.worker.trainable as trainable_mod

    def boom(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(trainable_mod, "run_trial", boom)
    config, series = _trial(tiny_space, 2)
    with pytest.raises(KeyboardInterrupt):
        report_ahead(config, series, "rmse", "minimize", None, lambda r: None)


def test_bridge_report_decides_as_should_prune(tmp_path):
    """The bridge's report (gate + the in-memory pruning view) against Optuna's own
    should_prune, on a SQLite study where trials finish while others run (told outside the
    bridge, as another driver's: the view takes them in at its next refresh, ``flush``)."""
    from search.driver.bridge import StudyBridge

    rng = random.Random(1)
    rdb = storage.open_storage(f"sqlite:///{tmp_path / 'prune.db'}", heartbeat_interval=None, grace_period=None)
    study = optuna.create_study(storage=rdb, pruner=optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=2))
    bridge = StudyBridge(study, compiled=None, target=100)
    running: dict[str, tuple] = {}
    decisions = []
    for n in range(40):
        ray_id = f"t{n}"
        trial = study.ask()
        bridge.live[ray_id] = trial
        running[ray_id] = (trial, 0)
        # advance every running trial by one step, finishing some
        for rid, (t, step) in list(running.items()):
            step += 1
            pruned = bridge.report(rid, {"epoch": step, "objective": rng.random()})
            bridge.flush()  # the study holds the value now
            expected = study.pruner.prune(study, t._get_latest_trial())
            decisions.append(pruned)
            assert pruned == expected, (rid, step)
            if pruned or step >= rng.randint(4, 8):
                bridge.live.pop(rid)
                running.pop(rid)
                study.tell(t, None if pruned else rng.random(), state=optuna.trial.TrialState.PRUNED if pruned else None)
                bridge.flush()
            else:
                running[rid] = (t, step)
    assert any(decisions) and not all(decisions)
    bridge.close()


def test_suggest_params_matches_ask_and_completes_a_half_made_trial():
    from search.driver.study_ops import suggest_params

    d = optuna.distributions
    distributions = {
        "lr": d.FloatDistribution(1e-4, 1e-2, log=True),
        "dropout": d.FloatDistribution(0.0, 0.3, step=0.05),
        "lookback": d.IntDistribution(13, 104, step=13),
        "units": d.IntDistribution(8, 256, log=True),
        "layers": d.CategoricalDistribution(["32", "64,32"]),
    }
    by_ask = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=3))
    ours = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=3))
    for _ in range(5):
        expected = by_ask.ask(distributions)
        trial = ours.ask()
        suggest_params(trial, distributions)
        assert trial.params == expected.params and trial.distributions == expected.distributions
    half = ours.ask()
    half.suggest_float("lr", 1e-4, 1e-2, log=True)  # an attempt that failed after one param
    lr = half.params["lr"]
    suggest_params(half, distributions)
    assert half.params["lr"] == lr and set(half.params) == set(distributions)
    queued = optuna.create_study()
    queued.enqueue_trial({"lookback": 26, "layers": "64,32"})
    trial = queued.ask()
    suggest_params(trial, distributions)
    assert trial.params["lookback"] == 26 and trial.params["layers"] == "64,32"


@pytest.mark.parametrize("text, reason", [
    ("ray.exceptions.ActorDiedError: The actor died unexpectedly before finishing this task.\n\tclass_name: ImplicitFunc\n\tpid: 9888\n"
     "The actor is dead because its worker process has died. Worker exit type: SYSTEM_ERROR Worker exit detail: Worker unexpectedly exits",
     "worker process 9888 died (SYSTEM_ERROR): killed by a signal such as SIGKILL (the kernel's out-of-memory killer sends it) or crashed"),
    ("ray.exceptions.OutOfMemoryError: Task was killed due to the node running low on memory.\nMemory on the node (IP: 10.0.0.1, ID: ab) where the "
     "lease was running was 30.10GB / 31.00GB (0.97), which exceeds the memory usage threshold of 0.95.\n\tpid: 77\n",
     "out of memory: Ray's memory monitor killed worker process 77 (node memory 30.10GB / 31.00GB)"),
    ("ray.exceptions.NodeDiedError: Task failed because the node (IP: 10.0.0.2) it was running on has died.", "node lost: the node running the worker process left the cluster"),
    ("ray.exceptions.WorkerCrashedError: The worker died unexpectedly while executing this task. killed by signal SIGSEGV", "the worker process was killed by signal SIGSEGV"),
    ("Failure # 1 (occurred at 2026-01-01)\nValueError: something of its own", "ValueError: something of its own"),
    ("", "worker failed"),
])
def test_a_failed_worker_says_why(text, reason):
    from search.driver.tune_hooks import failure_reason

    assert failure_reason(text) == reason


def test_a_round_starts_at_most_its_trials(tiny_space, tmp_path):
    """``start_round(k)``: the bridge hands out k trials, then None (Tune's round ends with its
    running trials); the next round hands out k more; without a bound, as many as the target."""
    from search.driver.bridge import StudyBridge
    from search.driver.prepare import prepare
    from search.driver.study import open_study

    prep = prepare(tiny_space)
    rdb = storage.open_storage(f"sqlite:///{tmp_path / 'rounds.db'}", heartbeat_interval=None, grace_period=None)
    bridge = StudyBridge(open_study(rdb, prep), prep.compiled, target=5)
    bridge.start_round(2)
    assert [bridge.suggest(f"a{i}")["number"] for i in range(2)] == [0, 1]
    assert bridge.suggest("a2") is None and len(bridge.live) == 2
    for ray_id in ("a0", "a1"):
        bridge.complete(ray_id, {"epoch": 1, "objective": 1.0, "final": True, "best_objective": 1.0}, error=False)
    bridge.start_round(2)
    assert [bridge.suggest(f"b{i}")["number"] for i in range(2)] == [2, 3] and bridge.suggest("b2") is None
    bridge.start_round(0)  # no bound, as None
    assert bridge.suggest("c0")["number"] == 4 and bridge.suggest("c1") is None  # the study's target: 5 trials
    bridge.close()
