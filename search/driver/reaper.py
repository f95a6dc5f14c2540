"""The driver's reaper: Ray's processes of a driver end when the driver does, however it ends.

A driver without ``--address`` starts a Ray runtime of its own (GCS, raylet, agents, workers,
all its descendants). Killed with SIGKILL (by the kernel's out-of-memory killer, say), the
driver cannot stop them, and some (Ray's dashboard and runtime-env agents) outlive it for a
minute or more. ``start(pid)`` starts this file as a small process of its own session (no
package imports, only ``os``): while the driver lives it keeps a list of the driver's
descendants (pid and start time, so a reused pid is never taken for one of them); once the
driver is gone it sends SIGTERM to those still alive, SIGKILL after a grace period, and exits.
Linux only (it reads ``/proc``); elsewhere it does nothing.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

POLL_S = 0.5
GRACE_S = 2.0


def start(driver_pid: int) -> subprocess.Popen | None:
    """Start the reaper of ``driver_pid`` (this file as a script, in a session of its own so
    a signal to the driver's process group does not reach it)."""
    from search._environ import public_environ  # here: this file also runs as a script, alone

    if not os.path.isdir("/proc"):
        return None
    return subprocess.Popen(
        [sys.executable, os.path.abspath(__file__), str(driver_pid)],
        start_new_session=True,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        close_fds=True,
        env=public_environ(),  # no credentials of the driver's
    )


def _stat(pid: int) -> tuple[str, int, int] | None:
    """(state, parent pid, start time in clock ticks) of a process, or None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return fields[0], int(fields[1]), int(fields[19])


def _children() -> dict[int, list[int]]:
    out: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            stat = _stat(int(entry))
            if stat is not None and stat[0] != "Z":
                out.setdefault(stat[1], []).append(int(entry))
    return out


def descendants(pid: int) -> dict[int, int]:
    """pid -> start time of every live descendant of ``pid``."""
    children, out, todo = _children(), {}, [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            stat = _stat(child)
            if stat is not None:
                out[child] = stat[2]
                todo.append(child)
    return out


def _alive(known: dict[int, int]) -> list[int]:
    """The processes of ``known`` still running (same pid and start time)."""
    out = []
    for pid, started in known.items():
        stat = _stat(pid)
        if stat is not None and stat[0] != "Z" and stat[2] == started:
            out.append(pid)
    return out


def reap(known: dict[int, int], grace_s: float = GRACE_S) -> list[int]:
    """SIGTERM the processes of ``known`` still alive, SIGKILL those left after ``grace_s``;
    returns the pids signalled."""
    left = _alive(known)
    for pid in left:
        try:
            os.kill(pid, signal.SIGTERM)
        except OSError:
            pass
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline and _alive({p: known[p] for p in left}):
        time.sleep(0.1)
    for pid in _alive({p: known[p] for p in left}):
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    return left


def watch(driver_pid: int) -> None:
    """Keep the driver's descendants listed while it lives; reap them once it is gone."""
    me = _stat(driver_pid)
    if me is None:
        return
    known: dict[int, int] = {}
    while True:
        stat = _stat(driver_pid)
        if stat is None or stat[0] == "Z" or stat[2] != me[2]:
            break
        known.update(descendants(driver_pid))
        known = {pid: started for pid, started in known.items() if pid in _alive({pid: started})}
        time.sleep(POLL_S)
    known.pop(os.getpid(), None)
    reap(known)


if __name__ == "__main__":
    watch(int(sys.argv[1]))
