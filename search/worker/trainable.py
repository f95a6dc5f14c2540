"""The Ray Tune trainable: one trial on one Ray worker (CPU, CUDA or MPS).

The prepared series arrives through Ray's object store (``tune.with_parameters``), so the
worker needs neither the data file nor database credentials; it reports every epoch with
``tune.report`` and the driver's scheduler decides whether it goes on.

A Tune function trainable's ``tune.report`` blocks until the driver has processed the result
(recorded the epoch's value in the study and asked the pruner) and told the worker to go on.
The worker only needs that answer at the steps where the pruner can say "prune": the driver
names them in the trial's config (``decide``, see ``search.driver.pruning.PruneGate``). At every other
step (the pruner's warm-up, between its interval steps, the whole trial when pruning is off)
the training goes on in a thread of its own while this function hands the result to Tune, so
the worker does not wait for the driver's bookkeeping. Results still reach the driver one by
one and in order, and a step that needs a decision still waits for it.
"""

from __future__ import annotations

import queue
import threading
from typing import Any

import torch

from search.worker.data import SeriesData
from search.worker.steps import needs_decision
from search.worker.train import run_trial


class _Stopped(Exception):
    """Raised inside the training thread's report once Tune has stopped the trial."""


def trainable(config: dict[str, Any], *, series: SeriesData, metric: str, direction: str, cpus: float, objectives: tuple[str, ...] = ()) -> None:
    from ray import tune

    # Each trial uses its CPU share, no more: two trials on two cores must not fight for both.
    torch.set_num_threads(max(1, int(cpus)))
    if "decide" not in config:  # every step waits for the driver (a config from elsewhere)
        run_trial(config["config"], series, metric, tune.report, direction=direction, with_checkpoint=True, objectives=objectives)
        return
    report_ahead(config["config"], series, metric, direction, config["decide"], tune.report, objectives)


def report_ahead(
    trial_config: dict, series: SeriesData, metric: str, direction: str, decide: dict | None, report, objectives: tuple[str, ...] = ()
) -> None:
    """``run_trial`` in a training thread; this thread passes its results to ``report`` in
    order. The training thread waits after a result only where ``needs_decision`` says so;
    when ``report`` ends the trial (Tune's stop), the training thread stops at its next
    report and is joined before this returns."""
    results: queue.Queue = queue.Queue()
    done = object()  # end of results
    stopped = threading.Event()
    previous = [-1]  # the last step reported

    def on_result(result: dict) -> None:
        if stopped.is_set():
            raise _Stopped  # run_trial catches it and reports an error result, dropped below
        step = result.get("epoch")
        wait = needs_decision(decide, step, previous[0]) and not result.get("final")
        if isinstance(step, int):
            previous[0] = step
        answered = threading.Event() if wait else None
        results.put((result, answered))
        if answered is not None:
            answered.wait()
            if stopped.is_set():
                raise _Stopped

    def train() -> None:
        try:
            run_trial(trial_config, series, metric, on_result, direction=direction, with_checkpoint=True, objectives=objectives)
        except BaseException as exc:  # noqa: BLE001 - handed to the reporting thread
            results.put((exc, None))
        finally:
            results.put((done, None))

    thread = threading.Thread(target=train, name="search-train", daemon=True)  # torch's thread count is process-wide
    thread.start()
    try:
        while True:
            item, answered = results.get()
            if item is done:
                break
            if isinstance(item, BaseException):
                raise item
            if item.get("final"):
                # Tune's "done": the trial ends with this result. Without it Tune asks for one
                # more result, waits for this function to return and only then ends the trial
                # (one more round trip between the driver and the worker, per trial).
                item = {**item, "done": True}
            try:
                report(item)
            finally:
                if answered is not None:
                    answered.set()
    finally:
        # Tune ended the trial (its report raised SystemExit) or the driver is shutting down:
        # stop the training thread at its next report and wait for it, so that no training
        # runs on once the worker is handed its next trial.
        stopped.set()
        while thread.is_alive():
            try:
                _, answered = results.get(timeout=0.1)
            except queue.Empty:
                continue
            if answered is not None:
                answered.set()
        thread.join()
