"""Run every benchmark in this folder, one subprocess each, and print every table.

Each script prints its own table as it goes (models, train, memory, overhead, scaling, study
size, driver throughput, reading a big study, search efficiency, time to a first result); at the end a summary says how long each took
and whether it ran to the end. These are measurements, not tests: nothing here fails on a slow
figure, only on a script that crashes.

    python benchmarks/run_all.py [--quick] [--only train,memory] [--postgres URL]

``--quick`` is passed to every script (each then finishes in about two minutes or less);
``--postgres URL`` to bench_study_size, bench_driver and bench_big_study (the last two
otherwise start a PostgreSQL server of their own where Debian's binaries are installed).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

import _common

HERE = Path(__file__).resolve().parent
# Cheapest first; the Ray-based ones last.
BENCHMARKS = ("models", "train", "memory", "overhead", "scaling", "study_size", "driver", "big_study", "efficiency", "first_result")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="pass --quick to every benchmark")
    parser.add_argument("--only", help=f"comma-separated subset of: {', '.join(BENCHMARKS)}")
    parser.add_argument("--postgres", metavar="URL", help="PostgreSQL database for bench_study_size, bench_driver and bench_big_study")
    args = parser.parse_args()
    names = BENCHMARKS if not args.only else tuple(n.strip() for n in args.only.split(","))
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        parser.error(f"--only: unknown benchmark {unknown[0]!r}; choose from {', '.join(BENCHMARKS)}")

    print(f"run_all: {', '.join(names)}{' (quick)' if args.quick else ''}; load average {_common.load()}\n", flush=True)
    summary = []
    for name in names:
        command = [sys.executable, str(HERE / f"bench_{name}.py")]
        if args.quick:
            command.append("--quick")
        if name in ("study_size", "driver", "big_study") and args.postgres:
            command += ["--postgres", args.postgres]
        started = time.perf_counter()
        code = subprocess.run(command).returncode  # output goes straight to this terminal
        summary.append((name, time.perf_counter() - started, code))
        print(flush=True)

    print(_common.table(
        ["benchmark", "seconds", "result"],
        [[f"bench_{name}.py", f"{seconds:.0f}", "ok" if code == 0 else f"exit {code}"] for name, seconds, code in summary],
    ))
    print(f"\nload average at end {_common.load()}")
    sys.exit(max(code != 0 for _, _, code in summary))


if __name__ == "__main__":
    main()
