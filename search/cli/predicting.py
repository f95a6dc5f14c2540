"""``search predict``: a study's best model (a trial's, or the top-K ensemble) forecasts after
an input file, prints or writes the forecast with its prediction intervals (``--level``, by
default the levels the study calibrated: ``search.results.forecast_intervals``), and draws it
with ``--plot``."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from search.cli._files import _out_file, _write
from search._format import not_a_file
from search.errors import UsageError


def cmd_predict(args, console: Console) -> int:
    import pandas as pd

    from search.results import forecast_intervals
    from search.results.loading import load_best
    from search._csv import PARQUET, read_csv, unsupported

    path = Path(args.input)
    problem = not_a_file(path)  # checked before opening: a named pipe would block the reader
    if problem:
        raise UsageError(f"--input {path}: {problem}")
    out = _out_file(args.out)
    if args.ensemble is not None and args.ensemble < 1:
        raise UsageError(f"--ensemble {args.ensemble}: must be at least 1")
    if args.ensemble is not None and args.trial is not None:
        raise UsageError(f"--trial {args.trial} and --ensemble {args.ensemble}: give one (a trial's model, or the mean of the best K)")
    forecaster = load_best(args.study, args.storage, artifacts=args.artifacts, trial=args.trial, ensemble=args.ensemble)
    why = unsupported(path) if forecaster.task != "text" else None  # a text study's prompt is any text file
    if why:
        raise UsageError(f"--input {path}: {why}")
    if args.level is not None and forecaster.task == "forecast":  # refused before anything is printed
        forecast_intervals.checked_levels(forecaster, args.level)
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
        frame = pd.read_parquet(path) if path.suffix.lower() in PARQUET else read_csv(path)
    except (ValueError, OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"--input {path}: cannot read it: {(str(exc).splitlines() or [type(exc).__name__])[0]}") from None
    forecasts = forecaster.predict_series(frame)
    levels = args.level if args.level is not None else (forecast_intervals.default_levels(forecaster) if forecaster.task == "forecast" else None)
    if args.level is not None and forecaster.task != "forecast":
        raise UsageError(f"--level {args.level[0]:g}: prediction intervals are drawn around a forecast; study {args.study!r} is a {forecaster.task} model")
    # per series: {"point": (H, T), "lo": (L, H, T), "hi": (L, H, T), "levels": [...]}, or None (points only)
    drawn = forecast_intervals.bands(forecaster, frame, levels, forecasts) if levels else None
    if args.plot:
        model = f"the mean forecast of the {args.ensemble} best models" if args.ensemble else "the best model"
        if getattr(forecaster, "label", ""):
            model = f"the served forecaster ({forecaster.label})"
        shaded = {name: {level: (d["lo"][i], d["hi"][i]) for i, level in enumerate(d["levels"])} for name, d in drawn.items()} if drawn else None
        _write_plot(args.plot, forecaster.plot_view(frame, forecasts, shaded), args.study, path, console, model)
    table = forecast_intervals.table(forecaster, forecasts, drawn)
    if out:
        _write(out, table.to_csv(index=False))
        what = f"{len(forecasts)} series x {forecaster.horizon} steps" if forecaster.series_id else f"{len(table)} steps"
        if drawn:
            what += f", with {' and '.join(f'{v:g} %' for v in levels)} intervals"
        if forecaster.task == "classify":
            each = f", for each of {len(forecasts)} series" if forecaster.series_id else ""
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
        from storage import open_private

        with open_private(out, "w", encoding="utf-8") as f:
            f.write(doc)
    except OSError as exc:
        raise UsageError(f"--plot {out}: cannot write it ({exc.strerror})") from None
    shown = len(view["series"])
    each = f", {shown} of {view['series_total']} series" if view["series_total"] > 1 else ""
    Console(stderr=True, highlight=False, soft_wrap=True).print(f"wrote {out} (the input's tail and the {view['horizon']}-step forecast{each})", markup=False)

