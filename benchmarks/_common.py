"""Helpers shared by the benchmark scripts: synthetic data, space files, load, CPU readings,
tables, and running ``run_search`` quietly with readings taken as its trials finish.

Not a benchmark itself. Every script imports it as ``_common`` (the scripts' own folder is
first on ``sys.path`` when run as ``python benchmarks/bench_x.py``).
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import statistics
import textwrap
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np


def write_series(path: Path, n: int) -> Path:
    """A noisy sine with a trend (the tests' synthetic series), columns ``t,y,x``, ``n`` rows."""
    i = np.arange(n)
    y = 10 + 0.01 * i + 3 * np.sin(2 * math.pi * i / 25) + 0.3 * np.sin(i * 1.7)
    x = np.cos(2 * math.pi * i / 25)
    table = np.column_stack([i, y, x])
    np.savetxt(path, table, delimiter=",", header="t,y,x", comments="", fmt=["%d", "%.5f", "%.5f"])
    return path


def tiny_space(*, epochs: int, pruner_startup: int, stat_baselines: bool = True) -> str:
    """The space text of a trivial LSTM search over ``series.csv`` (``write_series``): four
    units, lookback 4, a random sampler over the learning rate and the median pruner, so that
    what a benchmark measures is the orchestration, not the training."""
    baselines = "" if stat_baselines else "\n  stat_baselines_seconds: 0"
    return f"""\
model:
  family: lstm
  layer_sizes: "4"
  dropout: 0.0
data:
  path: series.csv
  time_column: t
  target: y
  lookback: 4{baselines}
train:
  epochs: {epochs}
  batch_size: 64
  lr: {{type: float, low: 1.0e-3, high: 1.0e-2, log: true}}
objective: {{metric: rmse, direction: minimize}}
sampler: {{name: random, seed: 0}}
pruner: {{name: median, n_startup_trials: {pruner_startup}, n_warmup_steps: 1}}
"""


def write_space(folder: Path, name: str, text: str) -> Path:
    """A space file ``folder/name.yaml`` from an indented YAML literal."""
    path = folder / f"{name}.yaml"
    path.write_text(textwrap.dedent(text))
    return path


def scratch_folder(prefix: str) -> Path:
    """A temporary folder, removed when the process exits."""
    import atexit
    import shutil
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix=prefix))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return folder


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


def load() -> str:
    """The 1/5/15-minute load averages, e.g. ``2.10 1.85 1.60``."""
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _proc_stat(pid: int) -> tuple[int, float, float] | None:
    """(parent pid, own CPU seconds, reaped children's CPU seconds) from /proc/PID/stat."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            fields = f.read().rpartition(")")[2].split()
    except OSError:
        return None
    tick = os.sysconf("SC_CLK_TCK")
    # after the command: state ppid ... utime(14) stime(15) cutime(16) cstime(17), 1-based in stat
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / tick, (int(fields[13]) + int(fields[14])) / tick


def tree_cpu_seconds(root: int | None = None) -> tuple[float, float]:
    """CPU seconds used so far by a process (default: this one) and by it plus every descendant.

    Linux only (``/proc``). A descendant that has exited and was reaped is counted in its
    parent's children's time, so the total keeps what Ray's finished worker processes used.
    Returns (nan, nan) where ``/proc`` is not available.
    """
    root = os.getpid() if root is None else root
    if not os.path.exists(f"/proc/{root}/stat"):
        return math.nan, math.nan
    stats = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            stat = _proc_stat(int(name))
            if stat is not None:
                stats[int(name)] = stat
    children: dict[int, list[int]] = {}
    for pid, (ppid, _, _) in stats.items():
        children.setdefault(ppid, []).append(pid)
    own = stats[root][1] if root in stats else math.nan
    total, todo = 0.0, [root]
    while todo:
        pid = todo.pop()
        if pid in stats:
            total += stats[pid][1] + stats[pid][2]
            todo.extend(children.get(pid, []))
    return own, total


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def spread(values: Sequence[float], scale: float = 1.0, fmt: str = ".0f") -> str:
    """``min..max`` of the values times ``scale``: how noisy the repeats were."""
    return f"{min(values) * scale:{fmt}}..{max(values) * scale:{fmt}}"


def table(headers: Sequence[str], rows: Sequence[Sequence[object]], *, first_width: int = 0) -> str:
    """Right-aligned columns (the first left-aligned), widths fitted to the content."""
    cells = [[str(h) for h in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    widths[0] = max(widths[0], first_width)
    lines = []
    for n, row in enumerate(cells):
        parts = [row[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True)]
        lines.append("  ".join(parts))
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def header(title: str, detail: str = "") -> None:
    """The first lines of a benchmark's output: its title, the machine, the load now."""
    import torch

    print(f"== {title}")
    print(f"   {os.cpu_count()} CPUs, torch {torch.__version__}; load average at start {load()}")
    if detail:
        print(f"   {detail}")
    print()


def footer(timing: bool = True) -> None:
    note = " (timings on a loaded machine are noisy: medians shown)" if timing else ""
    print(f"\n   load average at end {load()}{note}")


# -- project runs: Ray started once, readings taken while run_search goes on


def start_ray(num_cpus: int | None) -> None:
    """Ray started the way run_search starts it (a local runtime of its own), before timing."""
    import importlib

    import ray

    for module in ("ray.tune", "search.worker.trainable"):  # imported here once, not inside the first timed run
        importlib.import_module(module)
    ray.init(address="local", num_cpus=num_cpus, include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR)


class Marks:
    """Wall-clock and CPU readings taken when the N1-th and the N2-th trial of a run finish.

    The steady state between them excludes every start-up cost, so these "in-run" figures are
    steadier than the two-run difference on a loaded machine. ``cpu`` returns (this process,
    all processes involved) CPU seconds.
    """

    def __init__(self, n1: int, n2: int, cpu: Callable[[], tuple[float, float]]):
        self.n1, self.n2, self.cpu = n1, n2, cpu
        self.at: dict[int, tuple[float, float, float]] = {}

    def seen(self, finished: int) -> None:
        if finished in (self.n1, self.n2) and finished not in self.at:
            self.at[finished] = (time.perf_counter(), *self.cpu())

    def per_trial(self) -> dict:
        """Seconds per trial between the two marks: wall, driver CPU, CPU of all processes."""
        if len(self.at) < 2:
            return {"wall": math.nan, "driver_cpu": math.nan, "cpu": math.nan}
        (w1, d1, c1), (w2, d2, c2) = self.at[self.n1], self.at[self.n2]
        n = self.n2 - self.n1
        return {"wall": (w2 - w1) / n, "driver_cpu": (d2 - d1) / n, "cpu": (c2 - c1) / n}


@contextlib.contextmanager
def watch_finished(marks: Marks):
    """Marks each trial run_search finishes. The bridge calls ``Progress.update`` after every
    change (also with quiet=True, where it returns at once); the wrapper reads its tally."""
    from search.driver.progress import Progress

    original = Progress.update

    def update(self) -> None:
        t = self.bridge.tally
        marks.seen(t.complete + t.pruned + t.failed + t.interrupted)
        original(self)

    Progress.update = update
    try:
        yield
    finally:
        Progress.update = original


def run_project(space: Path, storage_url: str, trials: int, workers: int, marks: Marks | None = None, **kwargs):
    """``search.driver.run.run_search`` with nothing printed: (Summary, wall seconds)."""
    import io

    from rich.console import Console

    from search.driver.run import run_search

    started = time.perf_counter()
    with watch_finished(marks) if marks is not None else contextlib.nullcontext():
        summary = run_search(space, trials=trials, storage_url=storage_url, workers=workers, quiet=True, console=Console(file=io.StringIO()), **kwargs)
    return summary, time.perf_counter() - started


# -- comparing two versions of the code in one run: each project run in a child process


def _child_init(code_dir: str | None, num_cpus: int | None) -> None:
    """A child process's start: the packages from ``code_dir`` (first on the path, also for
    the Ray workers it starts), then its own local Ray runtime."""
    import sys

    if code_dir is not None:
        os.environ["PYTHONPATH"] = code_dir + (os.pathsep + os.environ["PYTHONPATH"] if os.environ.get("PYTHONPATH") else "")
        sys.path.insert(0, code_dir)
    start_ray(num_cpus)


def code_pool(code_dir: str | None, num_cpus: int | None):
    """One child process (spawned) with its own Ray runtime, running the project from
    ``code_dir`` (a folder holding another version's ``search/``, ``storage/``, ``models/``,
    e.g. from ``git worktree add ../base HEAD~1``) or, with None, from this checkout.

    Benchmarks submit their project runs to such pools to compare two versions of the code
    in the same run, interleaved, on the same load."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    folder = None if code_dir is None else str(Path(code_dir).resolve())
    return ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"), initializer=_child_init, initargs=(folder, num_cpus))
