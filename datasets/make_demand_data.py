"""Writes datasets/demand_halfhourly.csv: a synthetic half-hourly demand series whose
structure is known in advance, for the known-future inputs (``data.time_features``,
``data.future_features``) and ``reference: mstl``.

    python datasets/make_demand_data.py

Twenty weeks from 2024-01-01, 48 rows a day (6,720 rows), fixed seed. ``load`` is a level
with a slow drift, a daily shape (a morning rise and an evening peak), a weekly cycle (lower
at weekends) and AR(1) noise; ``holiday`` flags about one weekday in twelve, on which the
load falls to a weekend's level and shape. The flag is known ahead (a holiday calendar), so a
forecast may read it for the horizon; the calendar features give the daily and weekly cycles.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

SEED = 7
DAYS = 140


def make(seed: int = SEED, days: int = DAYS) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = days * 48
    time = pd.date_range("2024-01-01", periods=n, freq="30min")
    hour = np.arange(n) % 48 / 2
    day = np.arange(n) // 48
    weekend = time.dayofweek.to_numpy() >= 5
    holiday_days = (rng.random(days) < 1 / 12) & (pd.date_range("2024-01-01", periods=days, freq="D").dayofweek.to_numpy() < 5)
    holiday = holiday_days[day]
    off = weekend | holiday
    shape_work = 8 / (1 + np.exp(-(hour - 7) * 2)) - 8 / (1 + np.exp(-(hour - 22) * 2)) + 6 * np.exp(-((hour - 18.5) ** 2) / 2)
    shape_off = 4 / (1 + np.exp(-(hour - 9) * 1.5)) - 4 / (1 + np.exp(-(hour - 23) * 2)) + 3 * np.exp(-((hour - 19) ** 2) / 3)
    noise = np.zeros(n)
    shocks = rng.normal(0, 0.6, n)
    for i in range(1, n):
        noise[i] = 0.9 * noise[i - 1] + shocks[i]
    load = 50 + 0.02 * day + np.where(off, shape_off - 5, shape_work) + noise
    return pd.DataFrame({"time": time.strftime("%Y-%m-%dT%H:%M"), "load": load.round(3), "holiday": holiday.astype(int)})


if __name__ == "__main__":
    out = Path(__file__).with_name("demand_halfhourly.csv")
    make().to_csv(out, index=False)
    print(f"wrote {out.name}")
