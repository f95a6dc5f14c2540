"""The defaults a forecasting study chooses from its data: ``reference: auto`` and
``time_features: auto``.

Decided once per study, in the driver's prepare step, from the cheap baselines on the
validation part (``search.worker.baselines``: no model fit): when the seasonal naive of the
season best on validation (``seasonal_naive_season``) beats the naive forecast there, the series
has a season worth following, and

- ``reference: auto`` becomes ``mstl`` where the MSTL reference's own forecast (the last
  deseasonalised value plus the refreshed seasonal profile, ``SeriesData.reference_metrics``)
  beats that seasonal naive on the same targets, else ``seasonal`` (the model forecasts the
  deviation from that seasonal naive; it reads the history before the lookback, so any lookback
  will do), else ``last``;
- ``time_features: auto`` becomes ``calendar`` (the calendar cycles that the series' step
  suggests, ``search.worker.known.time_feature_names``; without a datetime time column the
  position within each season).

Otherwise (no season found, or its seasonal naive no better than naive: a random walk, a
seasonally adjusted series) they become ``last`` and ``none``. A value written in the space is
never changed. The decision is a study user attr (``DECISION_ATTR``) and the run's header line
prints it (``describe``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from search.errors import DataError
from search.worker.known import UNDECIDED

AUTO = "auto"
KEYS = ("reference", "time_features")  # decided from the baselines (``decide``)
RECORDED_KEYS = (*KEYS, "fill_gaps")  # every auto key a study records; fill_gaps is decided by loading (``fill_choice``)
DECISION_ATTR = "defaults_chosen"  # {"reference": ..., "time_features": ..., "because": ...}
NEUTRAL = UNDECIDED  # what the deciding load uses for an auto key: the defaults from before


@dataclass
class Decision:
    """What ``auto`` became for each key the space left to the data, and why."""

    chosen: dict[str, str] = field(default_factory=dict)  # key -> value, only the auto keys
    because: str = ""

    def attr(self) -> dict[str, Any]:
        return {**self.chosen, "because": self.because}

    def describe(self) -> str:
        """``reference seasonal, time_features calendar (auto: ...)``; "" when nothing was auto."""
        if not self.chosen:
            return ""
        return ", ".join(f"{k} {str(v).lower() if isinstance(v, bool) else v}" for k, v in self.chosen.items()) + f" (auto: {self.because})"


def auto_keys(data: dict[str, Any], keys: tuple[str, ...] = KEYS) -> list[str]:
    """The ``keys`` of ``data`` left to the data (fixed ``auto``; a searched key is never auto)."""
    return [k for k in keys if data.get(k) == AUTO]


def neutral(data: dict[str, Any]) -> dict[str, Any]:
    """``data`` with each auto key set to the value that adds no column and no check, for the
    load that the decision is made on."""
    return {**data, **{k: NEUTRAL[k] for k in auto_keys(data, RECORDED_KEYS)}}


def fill_choice(data: dict[str, Any], load: Callable[[dict[str, Any]], Any]) -> tuple[bool, Any, str]:
    """``fill_gaps: auto``: (the value, the series ``load`` gave with it, why). True where the
    rows load with a row for each missing time and some were added; False where none is
    missing, or where the filled rows are refused (a gap longer than ``data.max_gap``, times
    too scattered to be a series with gaps): the rows as the file has them, and the loader's
    warning about irregular steps."""
    try:
        series = load({**data, "fill_gaps": True})
    except DataError as exc:
        problem = exc.problems[0] if exc.problems else str(exc)
        return False, load({**data, "fill_gaps": False}), f"fill_gaps false: {problem.split(': ', 1)[-1].split(';')[0][:200]}"
    added = int(series.info.get("filled_times") or 0)
    if not added:
        return False, series, ""
    return True, series, f"fill_gaps true: a row for each of {added} missing times"


def decide(attrs: dict[str, Any], data: dict[str, Any], metric: str, seasonal_fits: Callable[[], str | None], profile: dict[str, float] | None = None) -> Decision:
    """The decision for the auto keys of ``data`` from the naive baselines ``attrs``
    (``SeriesData.naive_attrs``: ``baseline_naive_val_<metric>``, the seasonal naive's, its
    season) and ``profile``, the validation metrics of ``reference: mstl``'s own forecast (None
    where the data cannot carry it). ``seasonal_fits``: None where ``reference: seasonal`` can
    run with this space, else why not (``search.driver.prepare.seasonal_problem``)."""
    keys = auto_keys(data)
    if not keys:
        return Decision()
    if f"baseline_naive_val_{metric}" not in attrs:
        metric = "rmse"  # "loss" is the model's scaled loss: no baseline has one
    naive = attrs.get(f"baseline_naive_val_{metric}")
    season = attrs.get("seasonal_naive_season")
    seasonal = attrs.get(f"baseline_seasonal_naive_val_{metric}")
    if season is None or seasonal is None or naive is None:
        why = "no season stands out in the training part" if not attrs.get("seasons") else "no seasonal naive scored on the validation part"
        return Decision({k: NEUTRAL[k] for k in keys}, why)
    compared = f"validation {metric} of the seasonal naive (s={season}) {seasonal:.4g} vs naive {naive:.4g}"
    if not seasonal < naive:
        return Decision({k: NEUTRAL[k] for k in keys}, f"{compared}: no season worth following")
    chosen, notes = {}, []
    mstl = (profile or {}).get(metric)
    if "reference" in keys and mstl is not None and mstl < seasonal:  # the profile follows the seasons better than last season's values
        compared = f"validation {metric} of the MSTL profile {mstl:.4g} vs seasonal naive (s={season}) {seasonal:.4g} vs naive {naive:.4g}"
        chosen["reference"] = "mstl"
    elif "reference" in keys:
        problem = seasonal_fits()
        chosen["reference"] = "seasonal" if problem is None else "last"
        if problem is not None:
            notes.append(f"reference last: {problem}")
    if "time_features" in keys:
        chosen["time_features"] = "calendar"
    return Decision(chosen, "; ".join([f"{compared}: {chosen.get('reference', 'seasonal')}", *notes]))


def ran_with(study_attrs: dict[str, Any], content: dict[str, Any], key: str) -> str | None:
    """What an existing forecasting study ran ``key`` with: its recorded decision, else the
    fixed value its stored space holds (a study made before these defaults: its written
    value, or the old default where it wrote none; ``auto`` then meant ``calendar``); None
    where the study searched the key."""
    given = study_attrs.get(DECISION_ATTR)
    if isinstance(given, dict) and key in given:
        return given[key]
    if key in content.get("distributions", {}):
        return None
    value = content.get("fixed", {}).get("data", {}).get(key, NEUTRAL[key])
    return "calendar" if key == "time_features" and value == AUTO else value
