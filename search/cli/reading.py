"""``search studies``, ``trials``, ``best``, ``ensemble``, ``export``, ``compare`` and ``report``:
the commands that read a study back (``search.results``). None of them changes a study but
``ensemble``, which records the ensemble's metrics in its user attrs."""

from __future__ import annotations

import json
from pathlib import Path

from rich.console import Console

from search.cli._files import _out_file
from search.errors import UsageError


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
    from search.results.loading import load_ensemble

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
    from storage import open_private
    from search.store import open_read

    fmt = args.format or ("json" if args.out and Path(args.out).suffix.lower() == ".json" else "csv")
    out = _out_file(args.out)
    url, rdb = open_read(args.storage)
    study = tables.load(rdb, args.study, url)
    if fmt not in export.EXPORT_FORMATS:
        raise UsageError(f"--format {fmt}: choose one of {', '.join(export.EXPORT_FORMATS)}")
    if not args.forecasts and (args.space or args.artifacts):
        raise UsageError(f"{'--space' if args.space else '--artifacts'}: goes with --forecasts")
    if args.forecasts:
        return _export_forecasts(study, url, args, fmt, out, console)
    if out:
        try:
            with open_private(out, "w", encoding="utf-8", newline="") as file:
                n = export.write_export(study, fmt, file)
        except OSError as exc:
            raise UsageError(f"--out {out}: cannot write: {exc.strerror or exc}") from None
        Console(stderr=True, highlight=False).print(f"wrote {args.out} ({n} trials, {fmt})", markup=False)
    else:
        export.write_export(study, fmt, console.file)
    return 0


def _export_forecasts(study, url: str, args, fmt: str, out, console: Console) -> int:
    """``search export --forecasts``: the served forecaster's validation and test forecasts
    with their interval bounds (``search.results.served_forecasts``)."""
    from search.results.served_forecasts import forecast_frame
    from storage import open_private

    frame = forecast_frame(study, url, args.artifacts, args.space)
    text = frame.to_csv(index=False) if fmt == "csv" else frame.to_json(orient="records", indent=1) + "\n"
    if not out:
        console.file.write(text)
        return 0
    try:
        with open_private(out, "w", encoding="utf-8", newline="") as file:
            file.write(text)
    except OSError as exc:
        raise UsageError(f"--out {out}: cannot write: {exc.strerror or exc}") from None
    Console(stderr=True, highlight=False).print(f"wrote {args.out} ({len(frame)} rows: the served forecaster's validation and test forecasts, {fmt})", markup=False)
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

    out = _out_file(args.out or f"{args.study}-report.html")  # as export and predict: a missing folder is refused, not made
    url, rdb = open_read(args.storage)
    study = tables.load(rdb, args.study, url)
    try:
        figures = write_report(study, out, storage_url=url, artifacts=args.artifacts)
    except OSError as exc:
        raise UsageError(f"--out {out}: cannot write: {exc.strerror or exc}") from None
    console.print(f"wrote {out} ({tables.trial_count(study)} trials, {figures} figures); open it in a browser, no network needed", markup=False)
    return 0

