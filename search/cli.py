"""The ``search`` command line.

    search run SPACE [SPACE ...] --trials N [--storage URL] [--study NAME] [--set KEY=VALUE ...]
    search validate SPACE            check a space file (exit 0 or 2)
    search show SPACE                the compiled space: distributions, fixed values, sampler, pruner
    search dashboard [--storage URL] optuna-dashboard on the study storage (guards: Host allow-list,
                                     same-origin writes, --read-only, $SEARCH_DASHBOARD_PASSWORD, TLS)
    search studies [--storage URL]   the studies in a storage, with trial counts and best values
    search trials STUDY [--limit N] [--offset K]   trials in number order: state, value, params, epochs, seconds, node
    search best STUDY [--json] [--ensemble K]   the best trial's params, validation value and test metrics
    search ensemble STUDY --k K      score the mean forecast of the K best trials; record it in the study
    search export STUDY --format csv|json [--out FILE]   every trial, to a file or stdout
    search compare STUDY [STUDY ...] the best trial of each study side by side
    search report STUDY [--out FILE] one self-contained HTML report (plotly, works offline)
    search predict STUDY --input FILE [--plot OUT.html] [--ensemble K]   forecast after the input (and draw it)

Errors print one line each (no traceback unless ``--debug``); usage and config errors exit 2.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import traceback
from pathlib import Path

from rich.console import Console

from search.errors import ConfigError, SearchError, UsageError


class _Parser(argparse.ArgumentParser):
    """argparse that raises UsageError instead of exiting, so --debug and exit codes stay ours."""

    def error(self, message: str):
        raise UsageError(f"{self.prog}: {message}")


def _storage_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--storage", metavar="URL", help="study storage URL (default: $SEARCH_STORAGE, else sqlite:///studies.db); a URL with a password belongs in $SEARCH_STORAGE or --storage-file")
    p.add_argument("--storage-file", metavar="FILE", help="read the storage URL from this file's first line (keeps its password off the command line)")


def resolve_storage(args, err: Console) -> None:
    """``args.storage`` from ``--storage`` or ``--storage-file`` (None: ``$SEARCH_STORAGE`` or
    the default). A password given in ``--storage`` still works, with a one-line warning, and
    is masked in this process's command line before anything (Ray's job table) records it."""
    if not hasattr(args, "storage_file"):
        return
    if args.storage and args.storage_file:
        raise UsageError("--storage and --storage-file: give one of them")
    if args.storage_file:
        args.storage = _first_line(args.storage_file, "--storage-file").strip()
        if not args.storage:
            raise UsageError(f"--storage-file {args.storage_file}: the first line is empty")
        return
    from storage import mask_url, url_password

    if args.storage and url_password(args.storage):
        masked = hide_from_command_line(args.storage)
        err.print(
            f"warning: --storage {mask_url(args.storage)}: a password on the command line can be read by other local users"
            f"{' until now (masked from here on)' if masked else ''}; set $SEARCH_STORAGE or use --storage-file FILE",
            markup=False,
        )


def hide_from_command_line(url: str) -> bool:
    """Replace ``url`` by its masked form in this process's command line (what ``ps``,
    ``/proc/PID/cmdline`` and Ray, which records the driver's command line as the job's
    entrypoint, read) and in ``sys.argv``. False where the command line cannot be rewritten."""
    from storage import mask_url

    masked = mask_url(url)
    try:
        with open("/proc/self/cmdline", "rb") as f:
            words = [w.decode(errors="replace") for w in f.read().split(b"\0") if w]
    except OSError:  # no /proc: the interpreter's own copy of it
        words = list(getattr(sys, "orig_argv", sys.argv))
    for argv in (sys.argv, getattr(sys, "orig_argv", [])):
        argv[:] = [a.replace(url, masked) for a in argv]
    try:
        import setproctitle
    except ImportError:
        return False
    if any(url in w for w in words):  # else: parsed from elsewhere (main(argv) in a program)
        setproctitle.setproctitle(" ".join(w.replace(url, masked) for w in words))
    return True


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="search", description="Hyperparameter search for sequence models: Optuna decides, Ray Tune runs.")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = parser.add_subparsers(dest="command", parser_class=_Parser, metavar="COMMAND")

    run = sub.add_parser("run", help="run (or resume) a search")
    run.add_argument("spaces", nargs="+", metavar="SPACE", help="space file(s), YAML or JSON; several run one after the other")
    run.add_argument("--trials", type=int, required=True, metavar="N", help="finished trials (COMPLETE + PRUNED) the study should hold")
    _storage_arg(run)
    run.add_argument("--study", metavar="NAME", help="study name (default: the space file's stem)")
    run.add_argument("--fork", metavar="NEW_STUDY", help="the study was made from another space: run in NEW_STUDY, seeded with its finished trials that fit this space (resumes NEW_STUDY if it exists)")
    run.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE", help="override a space key by dotted path, value in YAML")
    run.add_argument("--workers", type=int, metavar="K", help="concurrent trials (default: as many as the resources allow)")
    run.add_argument("--address", metavar="ADDR", help="Ray cluster address (auto, ray://host:port); default: a local Ray runtime")
    run.add_argument("--cpus-per-trial", type=float, metavar="C", help="CPUs per trial (default: the space's resources.cpu); also the trial's torch threads")
    run.add_argument("--gpus-per-trial", type=float, metavar="G", help="GPUs per trial, fractions share a GPU (default: the space's resources.gpu)")
    run.add_argument("--max-failures", type=int, default=10, metavar="F", help="stop after this many trials failed in a row (default: 10)")
    run.add_argument("--artifacts", metavar="DIR", help="artifact folder for learning curves (default: beside a SQLite file, else $SEARCH_ARTIFACTS or ./search-artifacts)")
    run.add_argument("--mlflow", metavar="URI", help="log the search to this MLflow tracking server (default: the space's tracking.mlflow, else $MLFLOW_TRACKING_URI)")
    run.add_argument("--quiet", action="store_true", help="no progress output")

    validate = sub.add_parser("validate", help="check a space file and its dataset")
    validate.add_argument("space", metavar="SPACE")
    validate.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")

    show = sub.add_parser("show", help="print the compiled space")
    show.add_argument("space", metavar="SPACE")
    show.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")

    predict = sub.add_parser("predict", help="forecast with the best model of a study (classify: the label; text: a continuation)")
    predict.add_argument("study", metavar="STUDY")
    predict.add_argument("--input", required=True, metavar="CSV", help="recent data with the training columns; the forecast follows its last row")
    predict.add_argument("--out", metavar="FILE", help="write the forecast as CSV (default: print it)")
    predict.add_argument("--plot", metavar="HTML", help="also draw the input's tail and the forecast after it in a self-contained HTML file")
    predict.add_argument("--length", type=int, default=200, metavar="N", help="text studies: characters to generate after the --input text (default: 200)")
    predict.add_argument("--ensemble", type=int, metavar="K", help="forecast the mean of the K best trials' forecasts (trials that kept a checkpoint)")
    predict.add_argument("--trial", type=int, metavar="N", help="use trial N's model (default: the best trial; a multi-objective study: the lead of its Pareto front, see search best)")
    _storage_arg(predict)
    predict.add_argument("--artifacts", metavar="DIR", help="artifact folder (default: beside a SQLite file)")

    store = sub.add_parser("storage", help="storage maintenance")
    store_sub = store.add_subparsers(dest="storage_command", parser_class=_Parser, metavar="ACTION", required=True)
    upgrade = store_sub.add_parser("upgrade", help="upgrade a storage made by an older Optuna to the installed schema")
    _storage_arg(upgrade)

    dash = sub.add_parser("dashboard", help="optuna-dashboard on the study storage")
    _storage_arg(dash)
    dash.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1); beyond loopback a password or --read-only is required")
    dash.add_argument("--port", type=int, default=8080)
    dash.add_argument("--read-only", action="store_true", help="refuse every request that would change the storage (403)")
    dash.add_argument("--password", help=argparse.SUPPRESS)  # refused: visible to every local user
    dash.add_argument("--password-file", metavar="FILE", help="HTTP basic auth password, the file's first line (default: $SEARCH_DASHBOARD_PASSWORD)")
    dash.add_argument("--allow-host", dest="allow_hosts", action="append", default=[], metavar="NAME", help="also serve requests for this host name (besides loopback names and --host); repeatable")
    dash.add_argument("--certfile", metavar="PEM", help="serve HTTPS with this certificate (chain) file; needs --keyfile")
    dash.add_argument("--keyfile", metavar="PEM", help="the certificate's private key file")
    dash.add_argument("--artifacts", metavar="DIR", help="artifact folder (default: beside a SQLite file)")

    studies = sub.add_parser("studies", help="list the studies in a storage")
    _storage_arg(studies)

    trials = sub.add_parser("trials", help="table of a study's trials")
    trials.add_argument("study", metavar="STUDY")
    trials.add_argument("--limit", type=_non_negative, metavar="N", help="show at most N trials (default: every trial)")
    trials.add_argument("--offset", type=_non_negative, default=0, metavar="K", help="skip the first K trials in number order (default: 0)")
    _storage_arg(trials)

    best = sub.add_parser("best", help="the best trial: params, validation value, test metrics")
    best.add_argument("study", metavar="STUDY")
    _storage_arg(best)
    best.add_argument("--json", action="store_true", help="print one JSON object")
    best.add_argument("--ensemble", type=int, metavar="K", help="also score the mean forecast of the K best trials now (reads the dataset; search ensemble records it)")
    best.add_argument("--space", metavar="FILE", help="with --ensemble: the space file the study was searched with (default: its recorded name, here or in spaces/)")
    best.add_argument("--artifacts", metavar="DIR", help="with --ensemble: artifact folder (default: the study's recorded one, else beside a SQLite file)")

    ensemble = sub.add_parser("ensemble", help="score the mean forecast of the K best trials on the validation and test targets; record it in the study")
    ensemble.add_argument("study", metavar="STUDY")
    ensemble.add_argument("--k", type=int, required=True, metavar="K", help="members: the K best trials that kept a checkpoint (space key checkpoints.keep)")
    ensemble.add_argument("--space", metavar="FILE", help="the space file the study was searched with, for its dataset path (default: its recorded name, here or in spaces/)")
    _storage_arg(ensemble)
    ensemble.add_argument("--artifacts", metavar="DIR", help="artifact folder (default: the study's recorded one, else beside a SQLite file)")
    ensemble.add_argument("--json", action="store_true", help="print one JSON object")

    export = sub.add_parser("export", help="every trial as CSV or JSON")
    export.add_argument("study", metavar="STUDY")
    export.add_argument("--format", choices=("csv", "json"), help="default: from --out's suffix, else csv")
    export.add_argument("--out", metavar="FILE", help="write here instead of stdout")
    _storage_arg(export)

    compare = sub.add_parser("compare", help="the best trial of several studies side by side")
    compare.add_argument("studies", nargs="+", metavar="STUDY")
    _storage_arg(compare)

    report = sub.add_parser("report", help="write a self-contained HTML report of a study")
    report.add_argument("study", metavar="STUDY")
    report.add_argument("--out", metavar="FILE", help="HTML file to write (default: STUDY-report.html)")
    _storage_arg(report)
    report.add_argument("--artifacts", metavar="DIR", help="artifact folder, for the best trial's forecast figure (default: beside a SQLite file)")
    return parser


def _non_negative(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {value}")
    return value


def dashboard_command(url: str) -> str:
    """The command that opens the dashboard on ``url``; a URL with a password is left to
    ``$SEARCH_STORAGE`` or ``--storage-file`` rather than printed as a flag."""
    from storage import mask_url, url_password

    if url_password(url):
        return f"search dashboard (storage {mask_url(url)} from $SEARCH_STORAGE or --storage-file FILE)"
    return f"search dashboard --storage {mask_url(url)}"


def _out_file(path: str | None, flag: str = "--out", *, make_folder: bool = False) -> Path | None:
    """The file ``--out`` names, checked before any work: not a folder, in a folder that
    exists (or, with ``make_folder``, can be made) and can be written."""
    if path is None:
        return None
    out = Path(path)
    if out.is_dir():
        raise UsageError(f"{flag} {out}: is a folder; give a file name, e.g. {out / 'out.csv'}")
    folder = out.parent
    while make_folder and not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir():
        what = "is a file, not a folder" if folder.exists() else "does not exist"
        raise UsageError(f"{flag} {out}: folder {folder} {what}; create it, or write elsewhere")
    import os

    if not os.access(folder, os.W_OK | os.X_OK) or (out.exists() and not os.access(out, os.W_OK)):
        raise UsageError(f"{flag} {out}: cannot write there (permission denied); write elsewhere")
    return out


def _write(out: Path, text: str, flag: str = "--out") -> None:
    """Write ``text`` to ``out``; an OS error is one line naming the flag."""
    try:
        out.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"{flag} {out}: cannot write: {exc.strerror or exc}") from None


def cmd_run(args, console: Console) -> int:
    from search import pareto
    from search.results.tables import compare_line
    from search._format import format_value
    from search.driver.prepare import prepare
    from search.driver.run import run_search

    if args.study and len(args.spaces) > 1:
        raise UsageError("--study: give one space when naming the study; several spaces each get their own study")
    # Check every space (and its dataset) before running any: a typo in the third must not
    # surface after the first has run for an hour.
    if args.fork and len(args.spaces) > 1:
        raise UsageError("--fork: give one space when forking a study")
    if args.max_failures < 1:
        raise UsageError(f"--max-failures {args.max_failures}: must be at least 1")
    overrides = list(args.overrides)
    for flag, key, value in (("--cpus-per-trial", "cpu", args.cpus_per_trial), ("--gpus-per-trial", "gpu", args.gpus_per_trial)):
        if value is not None:
            if value < 0 or (key == "cpu" and value == 0):
                raise UsageError(f"{flag} {value:g}: must be {'> 0' if key == 'cpu' else '>= 0'}")
            overrides.append(f"resources.{key}={value}")
    prepared = [prepare(path, overrides, args.study) for path in args.spaces]
    code = 0
    for prep in prepared:
        summary = run_search(
            prep.compiled.space.path,
            trials=args.trials,
            storage_url=args.storage,
            workers=args.workers,
            address=args.address,
            console=console,
            quiet=args.quiet,
            prepared=prep,
            max_consecutive_failures=args.max_failures,
            artifacts=args.artifacts,
            fork=args.fork,
            mlflow=args.mlflow,
        )
        study = summary.study
        finished = len([t for t in study.get_trials(deepcopy=False) if t.state.name in ("COMPLETE", "PRUNED")])
        if summary.ran == 0 and finished >= args.trials:
            console.print(f"study {study.study_name} already holds {finished} finished trials (asked: {args.trials}); nothing to run", highlight=False)
        best = pareto.lead(study)  # a multi-objective study: the lead of its Pareto front
        if best is not None and pareto.is_multi(study):
            _print_front(study, console)
        elif best is not None:
            params = ", ".join(f"{k}={v}" for k, v in best.params.items())
            console.print(f"best trial #{best.number}: {prep.compiled.metric}={format_value(best.value)}  {params}", highlight=False)
            metric = prep.compiled.metric
            lines = [compare_line(metric, best.value, study.user_attrs, "val"), compare_line(metric, best.user_attrs.get(f"test_{metric}"), study.user_attrs, "test")]
            if any(lines):
                console.print("  " + "; ".join(line for line in lines if line), highlight=False)
        else:
            console.print(f"study {study.study_name}: no completed trial yet", highlight=False)
        console.print(f"open the dashboard: {dashboard_command(summary.storage_url)}", highlight=False)
        if summary.stop_reason:
            console.print(f"search: stopped: {summary.stop_reason}", highlight=False)
            code = 1
        if summary.interrupted:
            console.print("search: interrupted; run the same command again to resume", highlight=False)
            return 130
    return code


def _print_front(study, console: Console, shown: int = 10) -> None:
    """The end of a multi-objective search: its Pareto front, a line per trial (the first
    ``shown``), best first by the first objective; ``search best`` has the whole table."""
    from search import pareto
    from search._format import format_value

    names, front = pareto.metric_names(study), pareto.front(study)
    console.print(f"pareto front of {len(front)} trial{'s' if len(front) != 1 else ''} ({', '.join(names)}), lead first:", highlight=False)
    for t in front[:shown]:
        values = " ".join(f"{n}={format_value(v)}" for n, v in zip(names, t.values))
        params = ", ".join(f"{k}={v}" for k, v in t.params.items())
        console.print(f"  trial #{t.number}: {values}  {params}", highlight=False)
    if len(front) > shown:
        console.print(f"  ... {len(front) - shown} more: search best {study.study_name}", highlight=False)


def cmd_validate(args, console: Console) -> int:
    from search.driver.prepare import prepare

    prep = prepare(args.space, args.overrides)
    n = len(prep.compiled.distributions)
    unit = "characters" if prep.series.task == "text" else "rows"
    console.print(f"{args.space}: ok ({prep.compiled.family}, {n} searched parameters, dataset {prep.series.info['name']} with {prep.series.info['rows']} {unit})", highlight=False)
    return 0


def cmd_show(args, console: Console) -> int:
    from search.space import compile_space, load_space

    compiled = compile_space(load_space(args.space, args.overrides))
    content = compiled.content()
    content["hash"] = compiled.hash
    console.print_json(json.dumps(content, default=str))
    return 0


def dashboard_password(args) -> str | None:
    """The dashboard's password: ``--password-file``'s first line, else
    ``$SEARCH_DASHBOARD_PASSWORD``, else None; never from the command line itself."""
    from search.results.dashboard import PASSWORD_ENV

    if args.password is not None:
        raise UsageError(f"--password: a password on the command line is visible to every local user; set ${PASSWORD_ENV} or use --password-file FILE")
    if args.password_file is None:
        return os.environ.get(PASSWORD_ENV) or None
    password = _first_line(args.password_file, "--password-file")
    if not password:
        raise UsageError(f"--password-file {args.password_file}: the first line is empty")
    return password


def _first_line(path: str, flag: str) -> str:
    """The first line of a secret's file, without its line end; one-line errors naming ``flag``."""
    try:
        with open(path, encoding="utf-8") as f:
            return f.readline().rstrip("\r\n")
    except OSError as exc:
        raise UsageError(f"{flag} {path}: cannot read it ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise UsageError(f"{flag} {path}: not UTF-8 text") from None


def cmd_dashboard(args, console: Console) -> int:
    from search.results.dashboard import serve
    from search.store import existing_url, recorded_artifacts, storage_errors
    from storage import check_url, find_artifacts, is_object_store

    password = dashboard_password(args)
    for flag, path in (("--certfile", args.certfile), ("--keyfile", args.keyfile)):
        if path is not None and not Path(path).is_file():
            raise UsageError(f"{flag} {path}: no such file")
    url = existing_url(args.storage)
    with storage_errors(url):
        check_url(url)
        recorded = None if args.artifacts else recorded_artifacts(url)  # where the studies were searched
        location = find_artifacts(url, args.artifacts, recorded)
        artifacts = location if is_object_store(location) or Path(location).exists() else None
        serve(
            url, host=args.host, port=args.port, read_only=args.read_only, password=password, artifact_dir=artifacts,
            allowed_hosts=args.allow_hosts, certfile=args.certfile, keyfile=args.keyfile,
        )
    return 0


def cmd_studies(args, console: Console) -> int:
    from search.results import printing
    from search.results import tables
    from search.store import open_read

    url, rdb = open_read(args.storage)
    printing.print_studies(tables.list_studies(rdb), url, console)
    return 0


def cmd_trials(args, console: Console) -> int:
    from search.results import printing
    from search.results import tables
    from search.store import open_read

    url, rdb = open_read(args.storage)
    study = tables.load(rdb, args.study, url)
    rows = tables.trial_rows(study, offset=args.offset, limit=args.limit)
    paged = args.limit is not None or args.offset
    printing.print_trials(study, rows, console, page=(args.offset, tables.trial_count(study)) if paged else None)
    return 0


def cmd_best(args, console: Console) -> int:
    from search.results import printing
    from search.results import tables
    from search.store import open_read

    if args.ensemble is None and (args.space or args.artifacts):
        raise UsageError(f"{'--space' if args.space else '--artifacts'}: goes with --ensemble K")
    url, rdb = open_read(args.storage)
    study = tables.load(rdb, args.study, url)
    summary = tables.best_summary(study)
    if args.ensemble is not None:
        summary["ensemble"] = _score_ensemble(study, url, args, args.ensemble)[0]
    if args.json:
        console.file.write(json.dumps(summary, default=str) + "\n")
    else:
        printing.print_best(summary, console)
    return 0


def _score_ensemble(study, url: str, args, k: int, *, record: bool = False) -> tuple[dict, dict]:
    """The top-``k`` ensemble of ``study`` scored on its validation and test targets
    (``search.results.ensemble``): its summary row and its study attrs, recorded when asked."""
    from search.results import ensemble as ens
    from search.results import tables
    from search.results.forecaster import load_ensemble

    forecaster = load_ensemble(study, k, url, args.artifacts)
    if forecaster.note:
        Console(stderr=True, highlight=False, soft_wrap=True).print(f"note: {forecaster.note}", markup=False)
    series, data = ens.study_data(study, args.space)
    metrics = ens.evaluate(forecaster, series, data)
    attrs = ens.attrs(forecaster, metrics)
    if record:
        ens.record(study, attrs)
    return tables.ensemble_row(k, forecaster.trials, metrics["val"], metrics["test"], recorded=record), attrs


def cmd_ensemble(args, console: Console) -> int:
    from search.results import printing
    from search.results import tables
    from search.store import open_read

    url, rdb = open_read(args.storage)  # the study's user attrs are written through it
    study = tables.load(rdb, args.study, url)
    summary = tables.best_summary(study)
    summary["ensemble"], attrs = _score_ensemble(study, url, args, args.k, record=True)
    if args.json:
        console.file.write(json.dumps({"study": study.study_name, **attrs}, default=str) + "\n")
        return 0
    printing.print_ensemble(summary, console)
    n = len(summary["ensemble"]["test"])
    console.print(f"recorded in study {study.study_name}: ensemble_k, ensemble_members, ensemble_val_* and ensemble_test_* ({n} metrics each)", highlight=False, markup=False)
    return 0


def cmd_export(args, console: Console) -> int:
    from search.results import export
    from search.results import tables
    from search.store import open_read

    fmt = args.format or ("json" if args.out and Path(args.out).suffix.lower() == ".json" else "csv")
    out = _out_file(args.out)
    url, rdb = open_read(args.storage)
    study = tables.load(rdb, args.study, url)
    if fmt not in export.EXPORT_FORMATS:
        raise UsageError(f"--format {fmt}: choose one of {', '.join(export.EXPORT_FORMATS)}")
    if out:
        try:
            with out.open("w", encoding="utf-8", newline="") as file:
                n = export.write_export(study, fmt, file)
        except OSError as exc:
            raise UsageError(f"--out {out}: cannot write: {exc.strerror or exc}") from None
        Console(stderr=True, highlight=False).print(f"wrote {args.out} ({n} trials, {fmt})", markup=False)
    else:
        export.write_export(study, fmt, console.file)
    return 0


def cmd_compare(args, console: Console) -> int:
    from search.results import printing
    from search.results import tables
    from search.store import open_read

    url, rdb = open_read(args.storage)
    studies = [tables.load(rdb, name, url) for name in args.studies]
    printing.print_compare(tables.compare_rows(studies), console)
    return 0


def cmd_report(args, console: Console) -> int:
    from search.results import tables
    from search.store import open_read
    from search.results.report import write_report

    out = _out_file(args.out or f"{args.study}-report.html", make_folder=True)
    url, rdb = open_read(args.storage)
    study = tables.load(rdb, args.study, url)
    try:
        figures = write_report(study, out, storage_url=url, artifacts=args.artifacts)
    except OSError as exc:
        raise UsageError(f"--out {out}: cannot write: {exc.strerror or exc}") from None
    console.print(f"wrote {out} ({tables.trial_count(study)} trials, {figures} figures); open it in a browser, no network needed", markup=False)
    return 0


def cmd_predict(args, console: Console) -> int:
    import pandas as pd

    from search.results.forecaster import load_best

    path = Path(args.input)
    if not path.exists():
        raise UsageError(f"--input {path}: no such file")
    out = _out_file(args.out)
    if args.ensemble is not None and args.ensemble < 1:
        raise UsageError(f"--ensemble {args.ensemble}: must be at least 1")
    if args.ensemble is not None and args.trial is not None:
        raise UsageError(f"--trial {args.trial} and --ensemble {args.ensemble}: give one (a trial's model, or the mean of the best K)")
    forecaster = load_best(args.study, args.storage, artifacts=args.artifacts, trial=args.trial, ensemble=args.ensemble)
    if getattr(forecaster, "note", ""):
        Console(stderr=True, highlight=False, soft_wrap=True).print(f"note: {forecaster.note}", markup=False)
    if args.plot and forecaster.task != "forecast":
        raise UsageError(f"--plot draws a forecast after the input; study {args.study!r} is a {forecaster.task} model (its report shows its figure)")
    if forecaster.task == "text":  # the file's text is the prompt; print its continuation
        if args.length < 1:
            raise UsageError(f"--length {args.length}: must be at least 1")
        try:
            prompt = path.read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            raise UsageError(f"--input {path}: not UTF-8 text ({exc.reason} at byte {exc.start}); a text study continues a text file") from None
        text = forecaster.generate(prompt, args.length)
        if out:
            _write(out, text)
            console.print(f"wrote {args.out} ({len(text)} characters after the end of {path.name})", markup=False)
        else:
            console.print(text, markup=False, highlight=False)
        return 0
    try:
        frame = pd.read_parquet(path) if path.suffix.lower() in (".parquet", ".pq") else pd.read_csv(path, encoding="utf-8-sig")
    except (ValueError, OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"--input {path}: cannot read it: {(str(exc).splitlines() or [type(exc).__name__])[0]}") from None
    forecasts = forecaster.predict_series(frame)
    if args.plot:
        model = f"the mean forecast of the {args.ensemble} best models" if args.ensemble else "the best model"
        _write_plot(args.plot, forecaster.plot_view(frame, forecasts), args.study, path, console, model)
    tables = []
    for name, forecast in forecasts.items():  # (H, T) per series
        if forecaster.task == "classify":  # the label of the window ending at the last row
            table = pd.DataFrame({forecaster.payload["data"]["target"][0]: [forecast]})
        else:
            table = pd.DataFrame(forecast, columns=forecaster.targets)
            table.insert(0, "step", range(1, len(table) + 1))
        if forecaster.series_id:
            table.insert(0, forecaster.series_id, name)
        tables.append(table)
    table = pd.concat(tables, ignore_index=True)
    if out:
        _write(out, table.to_csv(index=False))
        what = f"{len(tables)} series x {forecaster.horizon} steps" if forecaster.series_id else f"{len(table)} steps"
        if forecaster.task == "classify":
            each = f", for each of {len(tables)} series" if forecaster.series_id else ""
            console.print(f"wrote {args.out} (the label of the window ending at the last row of {path.name}{each})")
        else:
            console.print(f"wrote {args.out} ({what} after the last row of {path.name})")
    else:
        console.print(table.to_csv(index=False).rstrip())
    return 0


def _write_plot(out: str, view: dict, study: str, source: Path, console: Console, model: str = "the best model") -> None:
    from search.forecast_figure import page

    doc = page(view, f"Forecast of study {study} after {source.name}", [f"{model} of study {study}"])
    try:
        Path(out).write_text(doc, encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"--plot {out}: cannot write it ({exc.strerror})") from None
    shown = len(view["series"])
    each = f", {shown} of {view['series_total']} series" if view["series_total"] > 1 else ""
    Console(stderr=True, highlight=False, soft_wrap=True).print(f"wrote {out} (the input's tail and the {view['horizon']}-step forecast{each})", markup=False)


def cmd_storage(args, console: Console) -> int:
    from search.store import existing_url, storage_errors
    from storage import mask_url, upgrade_storage

    url = existing_url(args.storage, hint="")
    with storage_errors(url):
        before, after = upgrade_storage(url)
    if before == after:
        console.print(f"{mask_url(url)}: schema already at {after}; nothing to do")
    else:
        console.print(f"{mask_url(url)}: schema upgraded from {before} to {after}")
    return 0


COMMANDS = {
    "run": cmd_run,
    "storage": cmd_storage,
    "predict": cmd_predict,
    "validate": cmd_validate,
    "show": cmd_show,
    "dashboard": cmd_dashboard,
    "studies": cmd_studies,
    "trials": cmd_trials,
    "best": cmd_best,
    "ensemble": cmd_ensemble,
    "export": cmd_export,
    "compare": cmd_compare,
    "report": cmd_report,
}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    debug = "--debug" in argv
    console = Console(highlight=False, soft_wrap=True)
    err = Console(stderr=True, highlight=False, soft_wrap=True)
    try:
        args = build_parser().parse_args(argv)
        if args.command is None:
            build_parser().print_help()
            return 2
        resolve_storage(args, err)
        return COMMANDS[args.command](args, console)
    except SearchError as exc:
        if debug:
            traceback.print_exc()
        lines = exc.problems if isinstance(exc, ConfigError) else [str(exc)]
        for line in lines:
            err.print(f"error: {_safe(line)}", markup=False, soft_wrap=True)
        return exc.exit_code
    except KeyboardInterrupt:
        err.print("interrupted", markup=False)
        return 130
    except Exception as exc:  # unexpected: one line, traceback on --debug
        if debug:
            traceback.print_exc()
        first = (str(exc).splitlines() or [""])[0]
        err.print(f"error: {type(exc).__name__}: {_safe(first)} (run with --debug for the traceback)", markup=False, soft_wrap=True)
        return 1


MAX_LINE = 600  # characters of an error line; longer ones lose their middle
_LONG_QUOTE = re.compile(r"'[^'\n]{200,}'|\"[^\"\n]{200,}\"")  # a quoted value of 200 characters or more


def _safe(line: str) -> str:
    """An error line fit to print: passwords in any URL it quotes masked, and cut to
    ``MAX_LINE`` characters (a huge value quoted in it loses its middle, the fix stays)."""
    if "://" in line or "=" in line:
        from storage import mask_secrets

        line = mask_secrets(line)
    line = _LONG_QUOTE.sub(lambda m: f"{m.group(0)[:100]}...{m.group(0)[0]} ({len(m.group(0))} characters)", line)
    if len(line) > MAX_LINE:
        cut = len(line) - MAX_LINE
        line = f"{line[: MAX_LINE // 2]} ...({cut} characters left out)... {line[-MAX_LINE // 2 :]}"
    return line
