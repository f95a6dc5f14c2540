"""Reading a big study: every reader of the command line, and the dashboard's first view.

A study of 20,000 trials of 50 epochs (``--quick``: 2,000) is made in three steps:

1. a real search of the shipped LSTM space (``search run spaces/lstm.yaml --trials 2``, 3 epochs,
   the statistical baselines off so it takes seconds): the study, its attrs, its two trials with
   their checkpoint, forecast and learning-curve artifacts are the project's own;
2. on PostgreSQL, that study copied over (``optuna.copy_study``, the schema made by Optuna);
3. generated trials added by bulk inserts into Optuna's own tables, in one transaction
   (SQLAlchemy ``executemany``): the space's params drawn from its distributions, 80 %
   COMPLETE with 50 intermediate values (a decaying learning curve with noise; the value is
   the best epoch's), 15 % PRUNED after 3 to 45 epochs, 5 % FAIL after 0 to 5 epochs with an
   ``error``; the user attrs the driver writes (``search.driver.bridge.ATTR_KEYS`` and the
   test metrics) on two nodes, start and end times as two workers would leave them. Every
   generated value lies above the real trials' best, so the best trial keeps its checkpoint and
   forecast. A sample is read back through ``optuna.load_study`` and compared.

Each read is a real command-line subprocess (wall seconds, interpreter start included), the
median of ``--repeats``: ``search studies``, ``search trials`` (the first page, the last page
and, for reference, every trial to a file), ``search best``, ``search export`` (CSV and JSON to
a file), ``search report``. The dashboard: ``search dashboard --read-only`` is started (not
timed), then headless Chromium opens the study's trials page
(``/dashboard/studies/ID/trials``) and dumps its DOM; the figure is Chromium's wall seconds
from its start to its exit, counted only when the dumped page shows the study's trial count
("20000 Trials") and the first trial's row. Chromium's virtual time does not advance while the
page's requests are pending, so the dump waits for the dashboard's API answers. Each repeat
starts a fresh dashboard (nothing cached); after the view, the API's answer for the study
(``GET /api/studies/ID?after=0``, what the page asks first) is timed once more, alone.

    python benchmarks/bench_big_study.py [--quick] [--trials N] [--epochs E] [--postgres URL | --no-postgres] [--compare-with DIR] [--reads WORDS] [--keep DIR]

``--compare-with DIR`` runs every read a second time with another checkout's ``search/`` and
``storage/`` first on ``PYTHONPATH`` (e.g. the code before these readers changed), on the
same generated study. The CPU column is the subprocess's user + system seconds: steadier than
the wall time when other jobs share the machine.

``--keep DIR`` makes the study in DIR and leaves it there; a later run with the same ``--keep
DIR`` (and ``--postgres URL``) finds it and measures again without making it anew (a study of
20,000 trials takes minutes to make): a storage whose study already holds the trials is reused.

PostgreSQL: ``--postgres URL`` (an empty database you can write to), or else a throwaway
server of Debian's PostgreSQL binaries is started on a free loopback port in a temporary
folder (as the tests do) and stopped at the end; ``--no-postgres`` measures SQLite only.

Targets: each command <= 5 s, the dashboard's first view <= 10 s, on the 2-core machine.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import datetime, timedelta
from pathlib import Path

import _common

ROOT = Path(__file__).resolve().parents[1]
STUDY = "big"
TARGET_S = 5.0
DASHBOARD_TARGET_S = 10.0
CHROMIUM = "/usr/bin/chromium"


# -- the study


def template_search(folder: Path) -> str:
    """A real 2-trial search of the shipped LSTM space into a SQLite file; its URL."""
    url = _common.sqlite_url(folder / "template.db")
    cmd = [
        search_command(), "run", str(ROOT / "spaces" / "lstm.yaml"), "--trials", "2", "--storage", url, "--study", STUDY,
        "--artifacts", str(folder / "artifacts"), "--set", "train.epochs=3", "--set", "data.stat_baselines_seconds=0", "--quiet",
    ]  # fmt: skip
    subprocess.run(cmd, check=True, cwd=folder, capture_output=True, text=True, timeout=600)
    return url


def copy_to(url: str, target_url: str) -> None:
    import optuna

    import storage

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    rdb = storage.open_storage(target_url, heartbeat_interval=None, grace_period=None)
    optuna.copy_study(from_study_name=STUDY, from_storage=storage.open_storage(url, heartbeat_interval=None, grace_period=None), to_storage=rdb)
    rdb.engine.dispose()


def held_trials(url: str) -> int:
    """How many trials the storage's study holds (0 where there is no such study yet)."""
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(sa.text("SELECT count(*) FROM trials JOIN studies USING (study_id) WHERE study_name = :s"), {"s": STUDY}).scalar_one()
    except sa.exc.DBAPIError:  # no tables yet
        return 0
    finally:
        engine.dispose()


def generate(url: str, trials: int, epochs: int, seed: int = 0) -> dict:
    """Add generated trials to the study until it holds ``trials``; what was inserted."""
    import optuna
    import sqlalchemy as sa
    from optuna.distributions import json_to_distribution
    from optuna.storages._rdb import models
    from optuna.trial import TrialState

    import storage
    from search.driver.bridge import ATTR_KEYS

    rng = random.Random(seed)
    rdb = storage.open_storage(url, heartbeat_interval=None, grace_period=None)
    engine = rdb.engine
    with engine.connect() as conn:
        study_id = conn.execute(sa.select(models.StudyModel.study_id).where(models.StudyModel.study_name == STUDY)).scalar_one()
        template = conn.execute(
            sa.select(models.TrialModel.trial_id, models.TrialModel.number, models.TrialModel.__table__.c.datetime_complete).where(models.TrialModel.study_id == study_id).order_by(models.TrialModel.number)
        ).all()
        dists = dict(conn.execute(sa.select(models.TrialParamModel.param_name, models.TrialParamModel.distribution_json).where(models.TrialParamModel.trial_id == template[0].trial_id).order_by(models.TrialParamModel.param_id)).all())
        attrs = dict(conn.execute(sa.select(models.TrialUserAttributeModel.key, models.TrialUserAttributeModel.value_json).where(models.TrialUserAttributeModel.trial_id == template[0].trial_id)).all())
        best = conn.execute(
            sa.select(sa.func.min(models.TrialValueModel.value)).join(models.TrialModel).where(models.TrialModel.study_id == study_id)
        ).scalar_one()
        next_id = conn.execute(sa.select(sa.func.max(models.TrialModel.trial_id))).scalar_one() + 1
    attrs = {k: json.loads(v) for k, v in attrs.items()}
    distributions = {name: json_to_distribution(text) for name, text in dists.items()}
    nodes = [f"{attrs.get('node', 'host/0')}-{k}" for k in range(2)]
    tests = sorted(k for k in attrs if k.startswith("test_"))
    start_number = len(template)
    clock = (template[-1].datetime_complete or datetime.utcnow()) + timedelta(seconds=5)  # naive UTC, as Optuna stores it
    worker_free = [clock, clock]
    trial_rows, value_rows, param_rows, attr_rows, iv_rows = [], [], [], [], []
    kept = ("n_params", "device", "precision")
    for i in range(trials - start_number):
        trial_id, number = next_id + i, start_number + i
        roll = rng.random()
        state = TrialState.COMPLETE if roll < 0.80 else TrialState.PRUNED if roll < 0.95 else TrialState.FAIL
        n_epochs = epochs if state == TrialState.COMPLETE else rng.randint(3, 45) if state == TrialState.PRUNED else rng.randint(0, 5)
        floor = best * (1.05 + rng.expovariate(4.0))  # above the real trials' best
        start_value, tau = floor * (2 + 3 * rng.random()), 2 + 8 * rng.random()
        curve = [floor + (start_value - floor) * math.exp(-e / tau) + floor * 0.01 * rng.gauss(0, 1) for e in range(n_epochs)]
        curve = [max(v, floor) for v in curve]
        seconds = 0.8 * max(n_epochs, 1) * (0.5 + rng.random())
        slot = min(range(2), key=lambda s: worker_free[s])
        started = worker_free[slot] + timedelta(milliseconds=50)
        finished = started + timedelta(seconds=seconds)
        worker_free[slot] = finished
        trial_rows.append({"trial_id": trial_id, "number": number, "study_id": study_id, "state": state, "datetime_start": started, "datetime_complete": finished})
        for name, dist in distributions.items():
            param_rows.append({"trial_id": trial_id, "param_name": name, "param_value": dist.to_internal_repr(_draw(dist, rng)), "distribution_json": dists[name]})
        user = {k: attrs[k] for k in kept if k in attrs}
        user |= {"node": nodes[slot], "train_seconds": round(seconds * 0.9, 3), "trial_seconds": round(seconds, 3), "epochs_run": n_epochs}
        if n_epochs:
            user["samples_per_second"] = round(rng.uniform(8000, 12000), 1)
        if state == TrialState.COMPLETE:
            best_epoch = min(range(n_epochs), key=curve.__getitem__)
            value_rows.append({"trial_id": trial_id, "objective": 0, "value": curve[best_epoch], "value_type": models.TrialValueModel.TrialValueType.FINITE})
            user |= {"best_epoch": best_epoch + 1, "early_stopped": False}
            user |= {k: round(curve[best_epoch] * rng.uniform(1.0, 1.3), 6) for k in tests}
        if state == TrialState.FAIL:
            user["error"] = "non-finite loss at epoch %d" % max(n_epochs, 1)
        assert set(user) <= set(ATTR_KEYS) | set(tests), set(user) - set(ATTR_KEYS)
        attr_rows += [{"trial_id": trial_id, "key": k, "value_json": json.dumps(v)} for k, v in user.items()]
        finite = models.TrialIntermediateValueModel.TrialIntermediateValueType.FINITE
        iv_rows += [{"trial_id": trial_id, "step": e + 1, "intermediate_value": v, "intermediate_value_type": finite} for e, v in enumerate(curve)]
    started = time.perf_counter()
    with engine.begin() as conn:
        for model, rows in (
            (models.TrialModel, trial_rows), (models.TrialValueModel, value_rows), (models.TrialParamModel, param_rows),
            (models.TrialUserAttributeModel, attr_rows), (models.TrialIntermediateValueModel, iv_rows),
        ):  # fmt: skip
            for k in range(0, len(rows), 50_000):
                conn.execute(sa.insert(model.__table__), rows[k : k + 50_000])
        if engine.dialect.name == "postgresql":  # explicit ids: move the sequence past them
            conn.execute(sa.text("SELECT setval(pg_get_serial_sequence('trials', 'trial_id'), (SELECT max(trial_id) FROM trials))"))
    seconds = time.perf_counter() - started
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(sa.text("ANALYZE"))
    _verify(rdb, study_id, trial_rows, value_rows, iv_rows, rng)
    engine.dispose()
    states = {s.name: sum(r["state"] == s for r in trial_rows) for s in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)}
    return {"trials": len(trial_rows), "intermediate": len(iv_rows), "params": len(param_rows), "attrs": len(attr_rows), "seconds": seconds, **states}


def _verify(rdb, study_id: int, trial_rows, value_rows, iv_rows, rng) -> None:
    """A sample of generated trials read back through ``optuna.load_study`` matches."""
    import optuna

    study = optuna.load_study(study_name=STUDY, storage=rdb)
    assert study._study_id == study_id
    values = {r["trial_id"]: r["value"] for r in value_rows}
    ivs: dict[int, dict[int, float]] = {}
    for r in iv_rows:
        ivs.setdefault(r["trial_id"], {})[r["step"]] = r["intermediate_value"]
    for row in rng.sample(trial_rows, 20):
        trial = study._storage.get_trial(row["trial_id"])
        assert trial.number == row["number"] and trial.state == row["state"], (trial, row)
        assert trial.value == values.get(row["trial_id"]) and trial.intermediate_values == ivs.get(row["trial_id"], {})
        assert set(trial.params) == set(trial.distributions) and trial.user_attrs["epochs_run"] == len(trial.intermediate_values)


def _draw(distribution, rng: random.Random):
    import optuna.distributions as d

    if isinstance(distribution, d.CategoricalDistribution):
        return rng.choice(distribution.choices)
    low, high, step = distribution.low, distribution.high, distribution.step
    if step is not None:
        value = low + step * rng.randint(0, int(round((high - low) / step)))
        return int(value) if isinstance(distribution, d.IntDistribution) else value
    if distribution.log:
        return math.exp(rng.uniform(math.log(low), math.log(high)))
    return rng.uniform(low, high)


# -- the reads


def search_command() -> str:
    return str(Path(sys.executable).parent / "search")


def code_env(code_dir: str | None) -> dict:
    """The environment of a reader: with ``code_dir``, that checkout's packages first."""
    env = dict(os.environ)
    if code_dir:
        env["PYTHONPATH"] = code_dir + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


def timed_command(args: list[str], cwd: Path, timeout: float, code_dir: str | None = None) -> tuple[float, float, str]:
    """(wall seconds, CPU seconds, '' or why it failed) of ``search ARGS``; output to files."""
    import resource

    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        try:
            proc = subprocess.run([sys.executable, "-c", RUN_CLI, *args], cwd=cwd, stdout=out, stderr=err, timeout=timeout, env=code_env(code_dir))
        except subprocess.TimeoutExpired:
            return math.inf, math.inf, f"over {timeout:.0f} s"
        seconds = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
        if proc.returncode != 0:
            err.seek(0)
            return seconds, cpu, f"exit {proc.returncode}: {err.read().decode(errors='replace').strip()[-300:]}"
        if args[0] == "trials":
            out.seek(0)
            lines = out.read().decode(errors="replace").splitlines()
            return seconds, cpu, "" if len(lines) > 3 else "no rows"
        return seconds, cpu, ""


# The `search` command as its console script runs it (so PYTHONPATH can choose the code).
RUN_CLI = "import sys; from search.cli import main; sys.exit(main(sys.argv[1:]))"


def reads(url: str, folder: Path, trials: int, paging: bool) -> list[tuple[str, list[str]]]:
    last = max(trials - 50, 0)
    page = [["trials", STUDY, "--limit", "50"], ["trials", STUDY, "--limit", "50", "--offset", str(last)]] if paging else []
    cases = [
        ("studies", ["studies"]),
        *((f"trials {' '.join(p[2:])}", p) for p in page),
        ("trials (every trial)", ["trials", STUDY]),
        ("best", ["best", STUDY]),
        ("best --json", ["best", STUDY, "--json"]),
        ("export csv", ["export", STUDY, "--format", "csv", "--out", str(folder / "out.csv")]),
        ("export json", ["export", STUDY, "--format", "json", "--out", str(folder / "out.json")]),
        ("report", ["report", STUDY, "--out", str(folder / "report.html"), "--artifacts", str(folder / "artifacts")]),
    ]
    return [(name, [*args, "--storage", url]) for name, args in cases]


def has_paging(code_dir: str | None) -> bool:
    # cwd elsewhere: ``python -c`` puts the working folder first on sys.path, before PYTHONPATH
    proc = subprocess.run([sys.executable, "-c", RUN_CLI, "trials", "--help"], capture_output=True, text=True, env=code_env(code_dir), cwd=tempfile.gettempdir())
    return "--limit" in proc.stdout


def start_dashboard(url: str, folder: Path, code_dir: str | None) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    env = {**code_env(code_dir), "SEARCH_STORAGE": url}
    proc = subprocess.Popen(
        [sys.executable, "-c", RUN_CLI, "dashboard", "--read-only", "--port", str(port), "--artifacts", str(folder / "artifacts")],
        cwd=folder, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(f"{base}/api/meta", timeout=5).read()
            return proc, base
        except OSError:
            if time.monotonic() > deadline or proc.poll() is not None:
                stop(proc)
                raise RuntimeError("the dashboard did not start")
            time.sleep(0.3)


def stop(proc: subprocess.Popen) -> None:
    import signal

    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def study_id_of(url: str) -> int:
    import optuna

    import storage

    rdb = storage.open_storage(url, heartbeat_interval=None, grace_period=None)
    try:
        return rdb.get_study_id_from_name(STUDY)
    finally:
        rdb.engine.dispose()


def api_seconds(base: str, study_id: int, timeout: float) -> tuple[float, str]:
    started = time.perf_counter()
    try:
        body = urllib.request.urlopen(f"{base}/api/studies/{study_id}?after=0", timeout=timeout).read()
    except OSError as exc:
        return math.inf, str(exc)[:100]
    return time.perf_counter() - started, f"{len(body) / 1e6:.1f} MB"


def first_view(base: str, study_id: int, trials: int, folder: Path, timeout: float) -> tuple[float, str]:
    """Chromium's wall seconds on the study's trials page, and '' when the DOM shows the
    study's trials (its count and the first trial's row), else why not."""
    profile = Path(tempfile.mkdtemp(dir=folder, prefix="chromium-"))
    cmd = [
        CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run", "--virtual-time-budget=5000", f"--user-data-dir={profile}", "--dump-dom",
        f"{base}/dashboard/studies/{study_id}/trials",
    ]  # fmt: skip
    started = time.perf_counter()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return math.inf, f"over {timeout:.0f} s"
    seconds = time.perf_counter() - started
    dom = proc.stdout
    missing = [text for text in (f"{trials} Trials", "Trial 0") if text not in dom]
    return seconds, (f"page lacks {missing} ({len(dom):,} bytes of DOM)" if missing else "")


# -- main


def _study_folder(keep: str | None) -> Path:
    """``--keep DIR`` (made if missing, left at exit), else a scratch folder removed at exit."""
    if keep is None:
        return _common.scratch_folder("bench-big-")
    folder = Path(keep).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def make_studies(folder: Path, backends: list[tuple[str, str]], trials: int, epochs: int) -> None:
    """The study in each backend: reused where it already holds ``trials`` trials, else the
    template search (once) copied there and filled by ``generate``."""
    import shutil

    template = _common.sqlite_url(folder / "template.db")
    for backend, url in backends:
        held = held_trials(url)
        if held == trials:
            print(f"   {backend}: reusing the study of {held:,} trials in {url.rsplit('@', 1)[-1]}", flush=True)
            continue
        if held:
            raise SystemExit(f"{backend}: the study holds {held:,} trials, not {trials:,}: use another --keep folder or database")
        if not (folder / "template.db").exists():
            template_search(folder)
        if backend == "sqlite":
            shutil.copy(folder / "template.db", folder / "big.db")
        else:
            copy_to(template, url)
        made = generate(url, trials, epochs)
        print(
            f"   {backend}: inserted {made['trials']:,} trials ({made['COMPLETE']:,} complete, {made['PRUNED']:,} pruned, {made['FAIL']:,} failed), "
            f"{made['intermediate']:,} intermediate values, {made['params']:,} params, {made['attrs']:,} user attrs in {made['seconds']:.1f} s",
            flush=True,
        )


def measure(url: str, folder: Path, trials: int, repeats: int, timeout: float, dashboard: bool, code_dir: str | None, only: list[str] | None = None) -> list[list[str]]:
    """One row per read: name, median wall s, spread, median CPU s, verdict."""
    rows = []
    for name, args in reads(url, folder, trials, has_paging(code_dir)):
        if only and not any(word in name for word in only):
            continue
        times, cpus, notes = [], [], set()
        for _ in range(repeats):
            seconds, cpu, note = timed_command(args, folder, timeout, code_dir)
            times.append(seconds)
            cpus.append(cpu)
            notes.add(note)
            if math.isinf(seconds):
                break
        rows.append(_row(name, times, cpus, notes, TARGET_S if "every trial" not in name else None))
        print(f"   {' | '.join(rows[-1])}", flush=True)
    if dashboard:
        study_id = study_id_of(url)
        times, apis, notes, size = [], [], set(), ""
        for _ in range(repeats):  # a fresh dashboard each time: its first view, nothing cached
            proc, base = start_dashboard(url, folder, code_dir)
            try:
                seconds, note = first_view(base, study_id, trials, folder, timeout)
                times.append(seconds)
                notes.add(note)
                api, size = api_seconds(base, study_id, timeout)
                apis.append(api)
            finally:
                stop(proc)
            if math.isinf(seconds):
                break
        rows.append(_row("dashboard first view (Chromium, fresh server)", times, [math.nan] * len(times), notes, DASHBOARD_TARGET_S))
        print(f"   {' | '.join(rows[-1])}", flush=True)
        rows.append(_row(f"  then GET /api/studies/ID again ({size})", apis, [math.nan] * len(apis), set(), None))
        print(f"   {' | '.join(rows[-1])}", flush=True)
    return rows


def _row(name: str, times: list[float], cpus: list[float], notes: set[str], target: float | None) -> list[str]:
    med = _common.median(times)
    cpu = _common.median(cpus)
    note = "; ".join(n for n in notes if n)
    verdict = "-" if target is None else ("met" if med <= target and not note else "MISSED")
    finite = not any(map(math.isinf, times))
    return [
        name, "inf" if math.isinf(med) else f"{med:.2f}", _common.spread(times, fmt=".2f") if finite else "-",
        "-" if math.isnan(cpu) or math.isinf(cpu) else f"{cpu:.2f}", verdict + (f" ({note})" if note else ""),
    ]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2,000 trials, 1 repeat (a couple of minutes)")
    parser.add_argument("--trials", type=int, help="trials in the study (default 20,000; quick 2,000)")
    parser.add_argument("--epochs", type=int, default=50, help="intermediate values of a COMPLETE trial (default 50)")
    parser.add_argument("--repeats", type=int, help="repeats of each read (default 3; quick 1)")
    parser.add_argument("--timeout", type=float, default=300, help="seconds after which a read counts as failed (default 300)")
    parser.add_argument("--postgres", metavar="URL", help="an empty PostgreSQL database to write to (default: start a throwaway server)")
    parser.add_argument("--no-postgres", action="store_true", help="SQLite only")
    parser.add_argument("--no-dashboard", action="store_true", help="skip the dashboard")
    parser.add_argument("--reads", help="only the reads whose name holds one of these comma-separated words (e.g. export,report; dashboard for the dashboard)")
    parser.add_argument("--keep", metavar="DIR", help="make the study in DIR and keep it; reuse it when DIR already holds it")
    parser.add_argument("--compare-with", metavar="DIR", help="also run the reads with the search/ and storage/ of another checkout (e.g. git worktree add ../base HEAD~3)")
    args = parser.parse_args()
    trials = args.trials or (2_000 if args.quick else 20_000)
    repeats = args.repeats or (1 if args.quick else 3)
    dashboard = not args.no_dashboard and os.path.exists(CHROMIUM)

    _common.header(
        "bench_big_study: the readers on a big study",
        f"{trials:,} trials x {args.epochs} epochs; {repeats} repeat(s) per read; each read a `search` subprocess; target {TARGET_S:.0f} s, dashboard {DASHBOARD_TARGET_S:.0f} s",
    )
    folder = _study_folder(args.keep)
    backends = [("sqlite", _common.sqlite_url(folder / "big.db"))]
    server = None
    if not args.no_postgres:
        pg_url = args.postgres
        if pg_url is None:
            sys.path.insert(0, str(ROOT))
            from tests._postgres import start_server

            server = start_server()
            pg_url = server.create_database("big") if server else None
            if server is None:
                print("   PostgreSQL binaries not found: SQLite only")
        if pg_url:
            backends.append(("postgresql", pg_url))
    try:
        results = {}
        make_studies(folder, backends, trials, args.epochs)
        codes = [("this checkout", None)] + ([(f"code of {args.compare_with}", str(Path(args.compare_with).resolve()))] if args.compare_with else [])
        for backend, url in backends:
            for label, code_dir in codes:
                print(f"\n   {backend}, {label} (load {_common.load()}):", flush=True)
                only = args.reads.split(",") if args.reads else None
                results[backend, label] = measure(url, folder, trials, repeats, args.timeout, dashboard and (not only or "dashboard" in only), code_dir, only)
        for backend, _ in backends:
            for label, _ in codes:
                print(f"\n{backend}, {label}:")
                print(_common.table(["read", "median wall s", "spread", "CPU s", f"target {TARGET_S:.0f} s (dashboard {DASHBOARD_TARGET_S:.0f} s)"], results[backend, label]))
    finally:
        if server is not None:
            server.cleanup()
    _common.footer()


if __name__ == "__main__":
    main()
