"""``search run``, ``validate``, ``show``, ``dashboard`` and ``storage``: the commands that run a
search, check a space, serve the dashboard or upgrade a storage."""

from __future__ import annotations

import json
import os
from pathlib import Path

from rich.console import Console

import storage as storage_mod

from search.cli._files import _first_line, _out_file, _write, dashboard_command, plain_dashboard_command
from search.errors import ConfigError, UsageError
from search.study_attrs import flat


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
    if args.mlflow_register is not None and not args.mlflow_register.strip():
        raise UsageError("--mlflow-register: give a model name")
    if args.timeout is not None and not (args.timeout > 0 and args.timeout != float("inf")):
        raise UsageError(f"--timeout {args.timeout:g}: must be a number of seconds > 0")
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
            timeout=args.timeout,
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
            recorded = flat(study)
            lines = [compare_line(metric, best.value, recorded, "val"), compare_line(metric, best.user_attrs.get(f"test_{metric}"), recorded, "test")]
            if any(lines):
                console.print("  " + "; ".join(line for line in lines if line), highlight=False)
            if not summary.interrupted:
                _record_served(study, summary.storage_url, args.artifacts, prep.compiled.space.path, console)
        else:
            console.print(f"study {study.study_name}: no completed trial yet", highlight=False)
        if summary.tracked is not None:  # after the served forecaster is recorded: the model is that one
            from search.results.mlflow_model import publish_or_warn

            say = lambda line: console.print(line, highlight=False, soft_wrap=True)  # noqa: E731
            model = publish_or_warn(summary, prep.compiled.space.path, args.artifacts, args.mlflow_register, say)
            if model is not None and not args.quiet:
                registered = f", registered as {args.mlflow_register}" if args.mlflow_register else ""
                console.print(f"MLflow: the served forecaster is the pyfunc model {model}{registered}", highlight=False, soft_wrap=True)
        console.print(f"open the dashboard: {dashboard_command(summary.storage_url)}", highlight=False, soft_wrap=True)
        artifacts = storage_mod.find_artifacts(summary.storage_url, args.artifacts, flat(study).get("artifacts"))
        console.print(f"  or with optuna-dashboard itself: {plain_dashboard_command(summary.storage_url, artifacts)}", highlight=False, soft_wrap=True)
        if summary.stop_reason:
            console.print(f"search: stopped: {summary.stop_reason}", highlight=False)
            code = 1
        if summary.interrupted:
            console.print("search: interrupted; run the same command again to resume", highlight=False)
            return 130
        if summary.timed_out:
            console.print(
                f"search: time budget of {args.timeout:g}s spent with {finished} of {args.trials} trials finished; "
                "run the same command again to continue",
                highlight=False,
            )
    return code


def _record_served(study, url: str, artifacts: str | None, space, console: Console) -> None:
    """Choose and record the study's served forecaster (``search.results.served``) and say
    what it is; a study that cannot be scored now keeps serving its best trial, with a note."""
    from search.results import served
    from search.results.served_lines import gap_warning, served_line

    value, why = served.record_quietly(study, url, artifacts, str(space))
    if value is not None:
        console.print(served_line(value), highlight=False, markup=False)
        if gap_warning(value):
            console.print(gap_warning(value), highlight=False, markup=False)
    elif why:
        console.print(f"served: the best trial (no combination recorded: {why})", highlight=False, markup=False)


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

    import importlib.util

    prep = prepare(args.space, args.overrides)
    space = prep.compiled.space
    if space.tracking.get("mlflow") and importlib.util.find_spec("mlflow") is None:  # as run refuses it
        raise ConfigError([space.locate(f"{space.path}: tracking.mlflow: MLflow tracking needs mlflow; pip install 'sequence-search[mlflow]', or remove the key")])
    n = len(prep.compiled.distributions)
    unit = "characters" if prep.series.task == "text" else "rows"
    added = prep.series.info.get("filled_times")
    unit += f", {added} of them added for missing times" if added else ""
    console.print(f"{args.space}: ok ({prep.compiled.family}, {n} searched parameters, dataset {prep.series.info['name']} with {prep.series.info['rows']} {unit})", highlight=False)
    if prep.decision.chosen:
        console.print(f"  chosen from the data: {prep.decision.describe()}", highlight=False)
    return 0


def cmd_show(args, console: Console) -> int:
    from search.space import compile_space, load_space

    compiled = compile_space(load_space(args.space, args.overrides))
    content = compiled.content()
    content["hash"] = compiled.hash
    console.print_json(json.dumps(content, default=str))
    return 0


def cmd_schema(args, console: Console) -> int:
    from search.space.schema import json_schema

    out = _out_file(args.out)
    text = json.dumps(json_schema(), indent=2) + "\n"
    if out:
        _write(out, text)
        console.print(f"wrote {out}", highlight=False)
    else:
        print(text, end="")
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
    from storage import warn_if_readable

    warn_if_readable(args.password_file, "--password-file")
    return password


def cmd_dashboard(args, console: Console) -> int:
    from search.results.dashboard import serve
    from search.store import existing_url, recorded_artifacts, storage_errors
    from storage import check_url, find_artifacts, is_object_store

    if not 0 <= args.port <= 65535:
        raise UsageError(f"--port {args.port}: a TCP port is 1 to 65535 (0: any free port)")
    password = dashboard_password(args)
    for flag, path in (("--certfile", args.certfile), ("--keyfile", args.keyfile)):
        if path is not None and not Path(path).is_file():
            raise UsageError(f"{flag} {path}: no such file")
    if args.keyfile is not None:
        from storage import warn_if_readable

        warn_if_readable(args.keyfile, "--keyfile")
    url = existing_url(args.storage)
    with storage_errors(url):
        check_url(url)
        recorded = None if args.artifacts else recorded_artifacts(url)  # where the studies were searched
        location = find_artifacts(url, args.artifacts, recorded)
        artifacts = location if is_object_store(location) or Path(location).exists() else None
        serve(
            url, host=args.host, port=args.port, read_only=args.read_only, password=password, artifact_dir=artifacts,
            allowed_hosts=args.allow_hosts, certfile=args.certfile, keyfile=args.keyfile, trust_proxy=args.trust_proxy,
        )
    return 0


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

