"""Processes that tests start and end themselves: each in its own process group, ended by id."""

from __future__ import annotations

import os
import signal
import subprocess
import time


def start(cmd: list[str], **kwargs) -> subprocess.Popen:
    """Start ``cmd`` as the leader of a new process group (its children join the group)."""
    return subprocess.Popen(cmd, start_new_session=True, **kwargs)


def end_group(proc: subprocess.Popen, grace_s: float = 10.0) -> None:
    """SIGTERM the process group that ``proc`` leads, SIGKILL whatever is left after grace."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline and group_alive(proc.pid):
        proc.poll()
        time.sleep(0.2)
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.poll()


def poll_until(predicate, timeout: float, poll: float = 0.3):
    """``predicate()`` every ``poll`` s until it gives a true value (returned) or ``timeout``
    passes (its last value returned)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(poll)
    return predicate()


def run_together(cmd: list[str], n: int, timeout: float = 600, **kwargs) -> list[str]:
    """``n`` copies of ``cmd`` started at once, each in a group of its own, their output (stdout
    and stderr) once all have ended; each must exit 0 (the assertion shows its output)."""
    procs = [start(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kwargs) for _ in range(n)]
    try:
        outputs = [p.communicate(timeout=timeout)[0] for p in procs]
    finally:
        for p in procs:
            end_group(p)
    for p, out in zip(procs, outputs):
        assert p.returncode == 0, out
    return outputs


def _processes():
    """(pid, state, ppid, pgid) of every process, from /proc."""
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        yield int(entry), fields[0], int(fields[1]), int(fields[2])


def group_alive(pgid: int) -> bool:
    return any(group == pgid and state != "Z" for _, state, _, group in _processes())


def descendants(pid: int) -> dict[int, str]:
    """pid -> command line of every live descendant of ``pid``."""
    children: dict[int, list[int]] = {}
    for child, state, parent, _ in _processes():
        if state != "Z":
            children.setdefault(parent, []).append(child)
    out, todo = {}, [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            try:
                with open(f"/proc/{child}/cmdline", "rb") as f:
                    out[child] = f.read().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            todo.append(child)
    return out
