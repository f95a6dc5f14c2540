"""The served forecaster of a study (``search.results.served``) ready to forecast new data.

A ``ServedForecaster`` has the interface of one trial's ``Forecaster``; its forecast is the
weighted sum of its members' forecasts, in the data's own units:

- a trial, or the mean of the best K trials (``EnsembleForecaster``): its checkpoint verified
  and run as ``search.load_best(..., trial=N)`` would;
- a statistical model (MSTL, AutoETS, AutoTheta): fitted again by statsforecast on the input's
  own history, each target of each series on its own (``search.worker.stat_refit``), as
  the recorded validation and test forecasts were made;
- the seasonal naive of the study's season, read from the input's last rows.

``payload`` is the first network member's (or the best kept trial's when only baselines are
served: the input's columns, the time column, the series column), with the lookback the
longest network member's.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from search.errors import UsageError
from search.results.forecaster import Forecaster
from search.study_attrs import flat
from search.worker import stat_baselines, stat_refit

ATTR = "served"  # the study user attr search.results.served records
FORMAT = 1


def recorded(study) -> dict[str, Any] | None:
    """The served forecaster recorded in the study, or None (an older study, another task)."""
    value = flat(study).get(ATTR)
    return value if isinstance(value, dict) and value.get("format") == FORMAT and value.get("members") else None


@dataclass
class ServedForecaster(Forecaster):
    """A weighted sum of networks and statistical baselines; ``members`` are (weight,
    network forecaster or None, member description from the ``served`` attr)."""

    members: list[tuple[float, Forecaster | None, dict[str, Any]]] = field(default_factory=list)
    seasons: list[int] = field(default_factory=list)
    label: str = ""
    note: str = ""
    intervals: dict[str, Any] | None = None  # the served attr's intervals (search.results.served_intervals), None before them
    floor: list[float | None] | None = None  # per target: no member forecasts below it (the served attr's floor), None before it

    def _up(self, forecast: np.ndarray) -> np.ndarray:
        """A member's forecast (..., T) raised to the targets' floor, as it was scored."""
        if not self.floor or all(f is None for f in self.floor):
            return forecast
        return np.maximum(forecast, np.asarray([-np.inf if f is None else float(f) for f in self.floor], dtype=np.float64))

    def interval_calibration(self) -> tuple[dict[str, Any] | None, int | None]:
        """The served attr's intervals (calibrated on the served forecaster's own validation
        forecasts), or (None, None) for a study recorded before them."""
        entry = self.intervals or {}
        return (entry.get("calibration") or None), entry.get("season")

    @property
    def trials(self) -> list[int]:
        """The trial numbers among the members (an ensemble's, best first)."""
        return [n for _, _, m in self.members for n in m.get("trials", [])]

    def _forecast(self, name: str, table):
        history = self._history(name, table)
        parts = [w * self._up(net._forecast(name, table) if net is not None else self._classical(member, history, name)) for w, net, member in self.members]
        return np.sum(parts, axis=0)  # (H, T)

    def _forecast_known(self, name: str, part) -> np.ndarray:
        """Network members with known-future columns read the horizon's rows; every other
        member only the rows up to the last one with every target."""
        targets = part[self.targets].notna().all(axis=1).to_numpy()
        rows = part.iloc[: int(np.flatnonzero(targets)[-1]) + 1 if targets.any() else 0]
        columns = self.payload["columns"]
        history = self._history(name, rows[columns])
        out = []
        for w, net, member in self.members:
            if net is None:
                out.append(w * self._up(self._classical(member, history, name)))
            else:
                out.append(w * self._up(net._forecast_known(name, part) if net.payload.get("known") else net._forecast(name, rows[columns])))
        return np.sum(out, axis=0)

    def _history(self, name: str, table) -> np.ndarray:
        """The targets' rows (n, T), gaps filled as the networks' inputs are."""
        if not any(net is None for _, net, _ in self.members):
            return np.zeros((0, self.payload["n_targets"]))
        rows = table[self.targets].astype("float64").interpolate(method="linear", limit_direction="both").to_numpy()
        if len(rows) == 0 or not np.isfinite(rows).all():
            which = f"series {name!r}" if name else "the input"
            raise UsageError(f"--input: {which} has no complete target values for the statistical members ({self.label})")
        return rows

    def _classical(self, member: dict[str, Any], history: np.ndarray, name: str) -> np.ndarray:
        """A statistical member's (H, T) forecast after ``history``."""
        which = f"series {name!r} has" if name else "it has"
        if member["kind"] == "seasonal_naive":
            if len(history) < member["season"]:
                raise UsageError(f"--input: {which} {len(history)} rows, the seasonal naive member needs at least {member['season']}")
            return stat_refit.seasonal_naive_after(history, int(member["season"]), self.horizon)
        need = 2 * max(self.seasons, default=1) + 1
        if len(history) < need:
            raise UsageError(f"--input: {which} {len(history)} rows, the {member['name']} member needs at least {need} (two of the longest season)")
        try:
            return stat_refit.forecast_after(member["model"], history, self.seasons, self.horizon)
        except Exception as exc:  # statsforecast's own error for a series it cannot fit
            raise UsageError(f"--input: the {member['name']} member could not be fitted on {name or 'the input'}: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from None

    def interval_scaling(self) -> dict[str, Any] | None:
        """How the served intervals are scaled (``search.results.recent_errors``: by the
        forecaster's recent errors), or None where their offsets are in the data's units."""
        scaled = (self.intervals or {}).get("scaled")
        return scaled if isinstance(scaled, dict) else None

    def recent_forecasts(self, name: str, part, windows: int, step: int) -> tuple[np.ndarray, np.ndarray] | None:
        """The targets and the served forecasts (``windows``, H, T) of the latest ``windows``
        windows of ``part`` (one series of the input, in time order) whose targets are all in
        it, ``step`` rows apart, each made from the rows before its origin (a statistical
        member fitted once and run forward, as its recorded forecasts were); None where the
        input is too short for them."""
        horizon, columns = self.horizon, self.payload["columns"]
        complete = part[self.targets].notna().all(axis=1).to_numpy()
        n = int(np.flatnonzero(complete)[-1]) + 1 if complete.any() else 0
        rows = part.iloc[:n]
        origins = [n - horizon - j * step for j in reversed(range(windows))]
        if origins[0] < 1:
            return None
        values = rows[self.targets].to_numpy(dtype=np.float64)
        truth = np.stack([values[o : o + horizon] for o in origins])
        total = np.zeros_like(truth)
        try:
            history = self._history(name, rows[columns])
            for w, net, member in self.members:
                if net is None and member["kind"] == "seasonal_naive":
                    own = np.stack([stat_refit.seasonal_naive_after(history[:o], int(member["season"]), horizon) for o in origins])
                elif net is None:
                    own = stat_baselines.forecast_stat(member["model"], self.seasons, history, windows, horizon, step)
                else:
                    own = net.forecast_at(name, part, origins)
                if own is None:
                    return None
                total += w * self._up(own)
        except Exception:  # an input too short for a member's window, a model statsforecast cannot fit there
            return None
        return truth, total

