"""Ray Tune's side of the bridge: thin adapters that forward Tune's callbacks to the
``StudyBridge`` (``search.driver.bridge``), where every decision is made in the study.

- ``OptunaSearcher`` (a Ray Tune ``Searcher``): each new Tune trial's params from the study.
- ``OptunaPruningScheduler`` (a Ray Tune ``TrialScheduler``): each epoch's value into the
  study, whose pruner decides; a failed trial's reason (``failure_reason``) from Ray's error.
- ``InterruptStopper`` stops running trials once the search is interrupted, and
  ``CheckpointCollector`` takes the model bytes and forecast data out of a trial's final result.

Tune pickles these into its experiment folder without the bridge (``_DriverOnly``): the study
is the record, never Tune's folder. Only the driver process runs this code.
"""

from __future__ import annotations

import re

from ray.tune import Callback
from ray.tune.schedulers import FIFOScheduler, TrialScheduler
from ray.tune.search import Searcher
from ray.tune.stopper import Stopper

from search.driver.bridge import WAIT, StudyBridge


class _DriverOnly:
    """Ray Tune pickles its searcher and scheduler into its experiment folder. The study is the
    record and a search resumes from it, never from Tune's folder: pickle without the bridge."""

    def __getstate__(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k != "bridge"}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self.bridge = None


class OptunaSearcher(_DriverOnly, Searcher):
    """Ray Tune searcher: each new Tune trial gets its params from the Optuna study."""

    def __init__(self, bridge: StudyBridge):
        super().__init__(metric="objective", mode="min" if bridge.compiled.direction == "minimize" else "max")
        self.bridge = bridge

    def set_search_properties(self, metric, mode, config, **spec) -> bool:
        return True

    def suggest(self, trial_id: str):
        config = self.bridge.suggest(trial_id)
        if config == WAIT:
            return None  # Tune asks again later
        return Searcher.FINISHED if config is None else config

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        self.bridge.complete(trial_id, result, error)

    def save_to_dir(self, checkpoint_dir: str, session_str: str = "default") -> None:
        pass  # the study is the checkpoint


class OptunaPruningScheduler(_DriverOnly, FIFOScheduler):
    """Ray Tune scheduler: each epoch's value goes to the study; its pruner decides."""

    def __init__(self, bridge: StudyBridge):
        super().__init__()
        self.bridge = bridge

    def set_search_properties(self, metric, mode, **spec) -> bool:
        return True

    def on_trial_result(self, tune_controller, trial, result: dict) -> str:
        return TrialScheduler.STOP if self.bridge.report(trial.trial_id, result) else TrialScheduler.CONTINUE

    def on_trial_complete(self, tune_controller, trial, result: dict) -> None:
        if result:
            self.bridge.report_final(trial.trial_id, result)

    def on_trial_error(self, tune_controller, trial) -> None:
        self.bridge.failure_reasons[trial.trial_id] = failure_reason(_error_text(trial))


def _error_text(trial) -> str:
    """The text of a failed Tune trial's error: its error file (Tune writes ``str(exc)``
    there before it tells the scheduler), else ``get_error()``."""
    try:
        with open(trial.error_file, encoding="utf-8", errors="replace") as handle:
            return handle.read()
    except (OSError, TypeError, AttributeError):
        pass
    try:
        return str(trial.get_error() or "")
    except Exception:  # Tune's storage could not be read: the reason stays generic
        return ""


def failure_reason(text: str) -> str:
    """Why a trial's worker failed, in one line, from the text of Ray's error: out of memory
    (Ray's memory monitor), node lost, killed by a signal, the worker process gone (a signal
    such as SIGKILL, the kernel's out-of-memory killer or a crash: Ray cannot tell which),
    else the error's last line."""
    pid = re.search(r"\bpid: (\d+)", text)
    process = f"worker process {pid.group(1)}" if pid else "the worker process"
    if "OutOfMemoryError" in text or "low on memory" in text:
        usage = re.search(r"Memory on the node .*? was ([\d.]+\s*\w+ / [\d.]+\s*\w+)", text)
        return f"out of memory: Ray's memory monitor killed {process}" + (f" (node memory {usage.group(1)})" if usage else "")
    if re.search(r"NodeDiedError|node .{0,80}(has died|is dead|marked dead|was terminated)", text, re.I):
        return f"node lost: the node running {process} left the cluster"
    signal_name = re.search(r"(?:killed by signal|signal) (SIG[A-Z]+|\d+)", text)
    if signal_name:
        return f"{process} was killed by signal {signal_name.group(1)}"
    if "ActorDiedError" in text or "died unexpectedly" in text or "WorkerCrashedError" in text:
        exit_type = re.search(r"Worker exit type: (\w+)", text)
        how = f" ({exit_type.group(1)})" if exit_type else ""
        return f"{process} died{how}: killed by a signal such as SIGKILL (the kernel's out-of-memory killer sends it) or crashed"
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("Failure # ")]
    return (lines[-1] if lines else "worker failed")[:500]


def silent_reporter():
    """A Ray Tune progress reporter that prints nothing: the service draws its own progress
    (``search.driver.progress``). Tune's default in a notebook, ``JupyterNotebookReporter``,
    clears the cell's output on every update, the search's own lines with it."""
    from ray.tune import ProgressReporter

    class SilentReporter(ProgressReporter):
        def should_report(self, trials, done: bool = False) -> bool:
            return False

        def report(self, trials, done: bool, *sys_info) -> None:
            pass

    return SilentReporter()


class InterruptStopper(_DriverOnly, Stopper):
    """Stops each running trial at its next report once the search is interrupted or its
    time budget is spent."""

    def __init__(self, bridge: StudyBridge):
        self.bridge = bridge

    def __call__(self, trial_id: str, result: dict) -> bool:
        return self.bridge.stopping

    def stop_all(self) -> bool:
        return False


class CheckpointCollector(_DriverOnly, Callback):
    """Takes the model bytes and the forecast figure's data out of a trial's final result
    before Ray Tune stores the result (Tune lets callbacks edit results in place), and hands
    them to the bridge."""

    def __init__(self, bridge: StudyBridge):
        self.bridge = bridge

    def on_trial_result(self, iteration, trials, trial, result, **info) -> None:
        data = result.pop("checkpoint", None)
        if data is not None:
            self.bridge.checkpoints[trial.trial_id] = data
        view = result.pop("forecast", None)
        if view is not None:
            self.bridge.forecasts[trial.trial_id] = view
