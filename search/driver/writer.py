"""The driver's per-epoch writes, in batches: one transaction per short interval.

Every epoch of every trial used to be one storage round trip (``trial.report``), and every
running trial's heartbeat another. ``BatchWriter`` collects the intermediate values and the
heartbeats and writes them together (``storage.write_trial_batch``) every ``interval_s``
from a thread of its own; the pruner no longer reads them back from the storage (the bridge
decides from ``search.driver.pruning.PruningView``), so a worker waits for no write.

What that means for the study (docs/results.md, "What lands in the study"): an epoch's value reaches
the study at most one interval (plus the write) after the worker was told to go on. Before a
trial is told COMPLETE, PRUNED or FAIL its values are written (``flush``), so a finished
trial holds every epoch it reported. A driver killed in between loses at most the last
interval's values of trials that are still RUNNING; those trials go stale (no heartbeat) and
are recorded FAIL and run again with the same params (``study_ops.recover_stale_trials``).
"""

from __future__ import annotations

import logging
import os
import threading

from storage import retrying, write_trial_batch

INTERVAL_S = float(os.environ.get("SEARCH_WRITE_INTERVAL_MS", "20")) / 1000
log = logging.getLogger("search.driver")


class BatchWriter:
    """Intermediate values and heartbeats of running trials, written in one transaction per
    interval. ``add`` and ``beat`` only queue (the first starts the thread); ``flush`` writes what is queued now, in the
    caller's thread; ``after_write`` runs after each write (the pruning view's refresh)."""

    def __init__(self, storage, interval_s: float = INTERVAL_S, after_write=None):
        self._storage = storage
        self.interval_s = interval_s
        self.after_write = after_write or (lambda: None)
        self._lock = threading.Lock()  # the queue
        self._write_lock = threading.Lock()  # one write at a time, in order
        self._values: dict[int, dict[int, float]] = {}
        self._beats: set[int] = set()
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None

    def add(self, trial_id: int, step: int, value: float) -> None:
        with self._lock:
            self._values.setdefault(trial_id, {})[step] = value
        self.start()

    def beat(self, trial_ids) -> None:
        with self._lock:
            self._beats.update(trial_ids)
        self.start()

    def pending(self) -> int:
        with self._lock:
            return sum(len(v) for v in self._values.values())

    def flush(self) -> None:
        with self._write_lock:
            with self._lock:
                values, beats = self._values, self._beats
                self._values, self._beats = {}, set()
            if not (values or beats):
                return
            try:
                retrying(write_trial_batch, self._storage, values, beats)
            except BaseException:
                with self._lock:  # queued again, under anything newer
                    for trial_id, steps in values.items():
                        self._values[trial_id] = {**steps, **self._values.get(trial_id, {})}
                    self._beats |= beats
                raise

    def start(self) -> BatchWriter:
        """The writing thread, started with the first value or beat (until ``close``)."""
        if self._thread is not None:
            return self
        with self._write_lock:  # one thread, whoever queues first
            if self._thread is None and not self._stopped.is_set():
                self._thread = threading.Thread(target=self._run, name="search-writer", daemon=True)
                self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stopped.wait(self.interval_s):
            try:
                self.flush()
                self.after_write()
            except Exception as exc:  # noqa: BLE001 - retried at the next interval; the tell flushes again
                log.warning("writing intermediate values failed (%s); retrying", exc)

    def close(self) -> None:
        self._stopped.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        self.flush()
