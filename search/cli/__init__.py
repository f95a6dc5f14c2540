"""The ``search`` command line.

    search run SPACE [SPACE ...] --trials N [--storage URL] [--study NAME] [--set KEY=VALUE ...]
    search validate SPACE            check a space file (exit 0 or 2)
    search init DATA --target COL [--time-column C] [--series-id COL] [--horizon H] [--out FILE]
                                     write a commented forecasting space for a data file
    search show SPACE                the compiled space: distributions, fixed values, sampler, pruner
    search dashboard [--storage URL] optuna-dashboard on the study storage (guards: Host allow-list,
                                     same-origin writes, --read-only, $SEARCH_DASHBOARD_PASSWORD, TLS)
    search studies [--storage URL]   the studies in a storage, with trial counts and best values
    search trials STUDY [--limit N] [--offset K]   trials in number order: state, value, params, epochs, seconds, node
    search best STUDY [--json] [--ensemble K]   the best trial's params, validation value and test metrics, and
                                     the served forecaster (trials, ensembles, baselines, combined)
    search ensemble STUDY --k K      score the mean forecast of the K best trials; record it in the study
    search export STUDY --format csv|json [--out FILE] [--forecasts]   every trial (or the served
                                     forecaster's validation and test forecasts), to a file or stdout
    search compare STUDY [STUDY ...] the best trial of each study side by side
    search report STUDY [--out FILE] one self-contained HTML report (plotly, works offline)
    search predict STUDY --input FILE [--plot OUT.html] [--ensemble K | --trial N]   the served forecaster's
                                     forecast after the input (and draw it)

Errors print one line each (no traceback unless ``--debug``); usage and config errors exit 2.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import traceback

from rich.console import Console

from search.cli._files import _first_line
from search.cli.init import cmd_init
from search.cli.predicting import cmd_predict
from search.cli.reading import cmd_best, cmd_compare, cmd_ensemble, cmd_export, cmd_report, cmd_studies, cmd_trials
from search.cli.searching import cmd_dashboard, cmd_run, cmd_schema, cmd_show, cmd_storage, cmd_validate
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
    the default). A secret given in ``--storage`` (a password, or a query value such as
    ``sslpassword=`` or ``token=``) still works, with a one-line warning, and is masked in this
    process's command line before anything (Ray's job table) records it."""
    if not hasattr(args, "storage_file"):
        return
    if args.storage and args.storage_file:
        raise UsageError("--storage and --storage-file: give one of them")
    if args.storage_file:
        args.storage = _first_line(args.storage_file, "--storage-file").strip()
        if not args.storage:
            raise UsageError(f"--storage-file {args.storage_file}: the first line is empty")
        args.storage_source = f"--storage-file {args.storage_file}"
        from storage import url_secrets, warn_if_readable

        if url_secrets(args.storage):
            warn_if_readable(args.storage_file, "--storage-file")
        return
    if not args.storage and os.environ.get("SEARCH_STORAGE"):
        args.storage_source = "$SEARCH_STORAGE"
    from storage import mask_url, url_secrets

    secrets = url_secrets(args.storage) if args.storage else []
    if secrets:
        masked = hide_from_command_line(args.storage)
        what = "a password" if secrets == ["the password"] else f"a secret ({', '.join(secrets)})"
        err.print(
            f"warning: --storage {mask_url(args.storage)}: {what} on the command line can be read by other local users"
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
    run.add_argument("--timeout", type=float, metavar="SECONDS", help="time budget: no new trial starts after SECONDS; running trials stop at their next epoch and run again on resume, as after Ctrl-C")
    run.add_argument("--max-failures", type=int, default=10, metavar="F", help="stop after this many trials failed in a row (default: 10)")
    run.add_argument("--artifacts", metavar="DIR", help="artifact folder for learning curves (default: beside a SQLite file, else $SEARCH_ARTIFACTS or ./search-artifacts)")
    run.add_argument("--mlflow", metavar="URI", help="log the search to this MLflow tracking server (default: the space's tracking.mlflow, else $MLFLOW_TRACKING_URI)")
    run.add_argument("--mlflow-register", metavar="NAME", help="with MLflow tracking: register the served forecaster (an MLflow pyfunc model) under NAME in MLflow's model registry")
    run.add_argument("--quiet", action="store_true", help="no progress output")

    validate = sub.add_parser("validate", help="check a space file and its dataset")
    validate.add_argument("space", metavar="SPACE")
    validate.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")

    init = sub.add_parser("init", help="write a commented forecasting space for a data file (seasons, lookback, epochs from the data)")
    init.add_argument("data", metavar="DATA", help="CSV or Parquet file with a header row")
    init.add_argument("--target", required=True, metavar="COL", help="the column to forecast")
    init.add_argument("--time-column", metavar="C", help="the column of time stamps (default: the one column of dates, if the file has one; none: the rows are in time order)")
    init.add_argument("--series-id", metavar="COL", help="the column naming each row's series, for a file of several series (default: found where the times repeat)")
    init.add_argument("--horizon", type=int, default=1, metavar="H", help="steps to forecast (default: 1)")
    init.add_argument("--out", metavar="FILE", help="write the space here (a new file; default: print it)")

    show = sub.add_parser("show", help="print the compiled space")
    show.add_argument("space", metavar="SPACE")
    show.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")

    schema = sub.add_parser("schema", help="print the JSON Schema of a space file (for editors and other checkers)")
    schema.add_argument("--out", metavar="FILE", help="write it to FILE instead of printing it")

    predict = sub.add_parser("predict", help="forecast with the study's served forecaster, the best on validation of its trials, ensembles, baselines and their combinations (classify: the label; text: a continuation)")
    predict.add_argument("study", metavar="STUDY")
    predict.add_argument("--input", required=True, metavar="CSV", help="recent data with the training columns; the forecast follows its last row")
    predict.add_argument("--out", metavar="FILE", help="write the forecast as CSV (default: print it)")
    predict.add_argument("--plot", metavar="HTML", help="also draw the input's tail and the forecast after it in a self-contained HTML file")
    predict.add_argument("--length", type=int, default=200, metavar="N", help="text studies: characters to generate after the --input text (default: 200)")
    predict.add_argument("--ensemble", type=int, metavar="K", help="forecast the mean of the K best trials' forecasts (trials that kept a checkpoint)")
    predict.add_argument("--level", type=float, action="append", metavar="PCT", help="prediction-interval level in percent, repeatable (--level 80 --level 95): lo-80/hi-80 columns beside the forecast (default: the levels the study calibrated, data.levels; none for a study made before intervals or an --ensemble)")
    predict.add_argument("--trial", type=int, metavar="N", help="use trial N's model (default: the served forecaster that search best shows; a study without one: the best trial; a multi-objective study: the lead of its Pareto front)")
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
    dash.add_argument("--trust-proxy", action="store_true", help="behind a reverse proxy: keep its X-Forwarded-* headers (dropped otherwise) and throttle logins by its X-Forwarded-For")

    studies = sub.add_parser("studies", help="list the studies in a storage")
    _storage_arg(studies)

    trials = sub.add_parser("trials", help="table of a study's trials")
    trials.add_argument("study", metavar="STUDY")
    trials.add_argument("--limit", type=_non_negative, metavar="N", help="show at most N trials (default: every trial)")
    trials.add_argument("--offset", type=_non_negative, default=0, metavar="K", help="skip the first K trials in number order (default: 0)")
    _storage_arg(trials)

    best = sub.add_parser("best", help="the best trial: params, validation value, test metrics; the served forecaster beside its members and MSTL")
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
    export.add_argument("--forecasts", action="store_true", help="instead of the trials: the served forecaster's validation and test forecasts, one row per window and step, with the actual value and the interval bounds (served-lo-80, served-hi-80, ...); reads the dataset and the checkpoints")
    export.add_argument("--space", metavar="FILE", help="with --forecasts: the space file the study was searched with (default: its recorded name, here or in spaces/)")
    export.add_argument("--artifacts", metavar="DIR", help="with --forecasts: artifact folder (default: the study's recorded one, else beside a SQLite file)")
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


COMMANDS = {
    "run": cmd_run,
    "storage": cmd_storage,
    "predict": cmd_predict,
    "validate": cmd_validate,
    "init": cmd_init,
    "show": cmd_show,
    "schema": cmd_schema,
    "dashboard": cmd_dashboard,
    "studies": cmd_studies,
    "trials": cmd_trials,
    "best": cmd_best,
    "ensemble": cmd_ensemble,
    "export": cmd_export,
    "compare": cmd_compare,
    "report": cmd_report,
}


def _terminate_as_interrupt() -> None:
    """SIGTERM during a run's start-up (reading the space and data, opening the storage) ends it
    as Ctrl-C does: one line, exit 130, no trial started. Once Ray starts, the driver's own
    handling takes over (``search.driver.signals``)."""
    import signal
    import threading

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    if threading.current_thread() is threading.main_thread() and signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:
        signal.signal(signal.SIGTERM, interrupt)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    debug = "--debug" in argv
    console = Console(highlight=False, soft_wrap=True)
    err = Console(stderr=True, highlight=False, soft_wrap=True)
    args = None
    try:
        args = build_parser().parse_args(argv)
        if args.command is None:
            build_parser().print_help()
            return 2
        if args.command == "run":
            _terminate_as_interrupt()
        resolve_storage(args, err)
        return COMMANDS[args.command](args, console)
    except SearchError as exc:
        if debug:
            traceback.print_exc()
        lines = exc.problems if isinstance(exc, ConfigError) else [str(exc)]
        source = getattr(args, "storage_source", None)  # the URL came from a file or the environment, not --storage
        lines = [f"{source}: {line}" if source and line.startswith("--storage ") else line for line in lines]
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
