"""Ctrl-C and SIGTERM during a search (``search.driver.run``): the driver's own handling,
installed before Ray starts, so that a signal at any moment stops the search the same way."""

from __future__ import annotations

import signal
import threading
from typing import Any

from rich.console import Console


class StopSignals:
    """Ctrl-C and SIGTERM, handled by the driver from before Ray starts to the end of the
    search (Ray installs its own SIGTERM handler while it starts, and its C++ core prints
    stack frames on one: both are replaced). The first signal: no new trials, running ones
    stop at their next epoch and are recorded FAIL ('interrupted') so the next run re-runs
    them; during start-up, no trial starts at all. The second: stop at once."""

    SIGNALS = ("SIGINT", "SIGTERM")

    def __init__(self, console: Console):
        self.console = console
        self.requested = False
        self.bridge = None  # the search's StudyBridge, once it runs
        self.previous: dict[int, Any] = {}
        self.active = threading.current_thread() is threading.main_thread()

    def __enter__(self) -> StopSignals:
        if self.active:
            for name in self.SIGNALS:
                number = getattr(signal, name)
                self.previous[number] = signal.getsignal(number)
            self.install()
        return self

    def install(self) -> None:
        """(Again) make this object the handler of both signals."""
        if self.active:
            for number in self.previous:
                signal.signal(number, self._handle)

    def _handle(self, signum, frame) -> None:
        if self.requested:
            raise KeyboardInterrupt  # the second signal: stop at once
        self.requested = True
        self.console.print("stopping: no new trials; running trials end at their next epoch (Ctrl-C again to stop at once)", highlight=False)
        if self.bridge is not None:
            self.bridge.interrupt()

    def __exit__(self, *exc) -> None:
        for number, handler in self.previous.items():
            signal.signal(number, handler if handler is not None else signal.SIG_DFL)
