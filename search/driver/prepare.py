"""Everything a search checks before it touches the storage: the space validated and
compiled, the dataset loaded and windowed once with the longest lookback, and the keys the
space leaves to the data (``reference: auto``, ``time_features: auto``) decided from its
naive baselines (``search.driver.defaults``).

``search validate`` runs exactly this, so it imports neither Ray nor the storage: a leaf of the
driver that ``search.driver.run`` and ``search.driver.fork`` build on.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

from search.driver import defaults
from search.errors import DataError, UsageError
from search.space import Categorical, CompiledSpace, FloatRange, IntRange, blame_override, compile_space, load_space
from search.worker import ref_columns
from search.worker.data import SeriesData, check_windows_fit
from search.worker import sense
from search.worker.tasks import load_data

log = logging.getLogger("search.space")


@dataclass
class Prepared:
    """A space checked and compiled, with its dataset loaded: everything before the storage."""

    compiled: CompiledSpace
    series: SeriesData
    study_name: str
    lookback_max: int  # the longest lookback the space can sample
    decision: defaults.Decision = field(default_factory=defaults.Decision)  # what auto became
    overrides: tuple[str, ...] = ()  # the --set overrides it was prepared with

    def baselines(self) -> dict:
        """Naive and seasonal-naive metrics on the validation and test windows (study attrs);
        tasks classify and text: the majority class or a unigram model (``search.worker.tasks``)."""
        return self.series.baseline_attrs(self.lookback_max, self.compiled.space.data, self.compiled.metric)


PLAIN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,199}")  # a study name given: letters, digits, - _ . (no path, no hidden name)


def check_study_name(name: str | None) -> None:
    """A study name given (``--study``, ``search.run(study=...)``) must be a plain name: it
    names folders and log files. None: the space file's stem."""
    if name is None:
        return
    if not isinstance(name, str):
        raise UsageError(f"--study {name!r}: a study name is text, not {type(name).__name__}")
    if not name:
        raise UsageError("--study '': the study name is empty; give a name (letters, digits, - _ .), or leave --study out to use the space file's name")
    if not PLAIN_NAME.fullmatch(name):
        raise UsageError(f"--study {name!r}: a study name is letters, digits, '-', '_' and '.' (not first), at most 200; it names folders and log files")


def _located(space, problem: str, overrides: list[str]) -> str:
    blamed = blame_override(problem, space.path, overrides)
    return blamed if blamed != problem else space.locate(problem)


def prepare(space_path: str | Path, overrides: list[str] | None = None, study_name: str | None = None, decided: dict[str, str] | None = None) -> Prepared:
    """The space checked and compiled, its dataset loaded, its auto keys decided from the data
    (or set to ``decided``: what an existing study ran them with)."""
    check_study_name(study_name)
    space = load_space(space_path, overrides)
    compiled = compile_space(space)
    _, lookback_max = _bounds(space.data["lookback"])
    decision = defaults.Decision()
    try:
        data = defaults.neutral(space.data)  # the auto keys add nothing until decided
        forecast = space.data.get("task", "forecast") == "forecast" and not space.train.get("continuous_eval")
        keys = defaults.auto_keys(space.data, defaults.RECORDED_KEYS) if forecast else []
        filled = ""
        if "fill_gaps" in keys and decided is None:  # decided first: the other keys are weighed on the rows it gives
            data["fill_gaps"], series, filled = defaults.fill_choice(data, lambda d: load_data(d, source=str(space.path)))
        else:
            if "fill_gaps" in keys:  # a study that recorded none ran with the rows as they are
                data["fill_gaps"] = (decided or {}).get("fill_gaps", False)
            series = load_data(data, source=str(space.path))  # forecast: search.worker.load.load_series
        check_windows_fit(series, lookback_max, space.data["horizon"], source=str(space.path))
        sense.check(series, data, list(compiled.metrics), f"{space.path}: ")  # settings the data makes meaningless
        series.choose_season(lookback_max, data, compiled.metric)
        if keys:  # else an undecided auto runs as the defaults from before (search.worker.known.UNDECIDED)
            if decided is None:
                attrs = series.naive_attrs(lookback_max, data, compiled.metric)
                profile = profile_metrics(data, lookback_max, str(space.path)) if "reference" in keys and attrs.get("seasons") else None
                decision = defaults.decide(attrs, space.data, compiled.metric, lambda: seasonal_problem(series), profile)
                if filled:  # recorded where the file has missing times (without any, auto fills nothing)
                    because = "; ".join(b for b in (filled, decision.because) if b)
                    decision = defaults.Decision({**decision.chosen, "fill_gaps": data["fill_gaps"]}, because)
            else:
                decision = defaults.Decision({k: decided[k] for k in keys if k in decided}, "as the study recorded when it was made")
            space = dataclasses.replace(space, data={**space.data, **decision.chosen})
            compiled = dataclasses.replace(compile_space(space), chosen=dict(decision.chosen))
            if any(space.data.get(k) != data.get(k) for k in decision.chosen):  # an auto key left undecided loads as its neutral value
                series = load_data(space.data, source=str(space.path))  # with the chosen columns (a seasonal reference's too)
                series.choose_season(lookback_max, space.data, compiled.metric)
        _seasonal_reference(series, space.data.get("reference"), space.data["horizon"], f"{space.path}: ")
    except DataError as exc:  # found in the rows: point at the key's line too, or at the --set that gave it
        raise DataError([_located(space, p, overrides or []) for p in exc.problems]) from None
    for line in series.info.pop("warnings", ()):  # irregular time steps: told, not refused
        log.warning("warning: %s", space.locate(line))
    return Prepared(compiled, series, Path(space_path).stem if study_name is None else study_name, lookback_max, decision, tuple(overrides or ()))


def profile_metrics(data: dict, lookback: int, source: str) -> dict[str, float] | None:
    """The validation metrics of ``reference: mstl``'s own forecast (the last deseasonalised
    value plus the refreshed seasonal profile; ``search.worker.ref_columns``) on the trials'
    targets; None where the data cannot carry it (no season with two cycles of training rows)."""
    try:
        with_profile = load_data({**data, "reference": "mstl"}, source=source)
        return with_profile.reference_metrics({**data, "reference": "mstl", "lookback": lookback})
    except DataError:
        return None


def _bounds(value) -> tuple[int, int]:
    """The shortest and the longest value a fixed or searched int key can take."""
    if isinstance(value, Categorical):
        return int(min(value.choices)), int(max(value.choices))
    if isinstance(value, (IntRange, FloatRange)):
        return int(value.low), int(value.high)
    return int(value), int(value)


def seasonal_problem(series: SeriesData) -> str | None:
    """Why ``reference: seasonal`` cannot run on this data (None: it can), as
    ``_seasonal_reference`` says it; the lookback need not hold the season."""
    if series.season is None:
        return "data.reference: seasonal needs a season, and none stands out in the training part"
    return None


def _seasonal_reference(series: SeriesData, reference, horizon: int, prefix: str) -> None:
    """``reference: seasonal`` (fixed or among the choices) needs a season the history before the
    validation part holds (``series.season``: none otherwise); its values whole seasons back are
    then columns of their own (``search.worker.ref_columns``), so the lookback need not hold it."""
    if reference != "seasonal" and not (isinstance(reference, Categorical) and "seasonal" in reference.choices):
        return
    problem = seasonal_problem(series)
    if problem is not None:
        raise DataError([prefix + problem + "; set data.season (e.g. 52 or [48, 336]) or use reference: last"])
    ref_columns.add_seasonal_lags(series, horizon)
