"""How a CSV file is split: by commas, or by the separator a spreadsheet in another locale
wrote (``;`` with decimal commas, a tab, ``|``). Read by the loader, the space checks, ``search
init`` and ``search predict`` alike, so each sees the same columns."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

PARQUET = (".parquet", ".pq")
DELIMITED = (".csv", ".tsv", ".tab", ".txt", ".gz")  # .gz: a gzipped CSV file (data.csv.gz)
_SPREADSHEETS = (".xlsx", ".xlsm", ".xls", ".ods", ".numbers")
_SEPARATORS = (";", "\t", "|")  # a header without a comma is split by the first of these it holds
_COMMA_DECIMAL = re.compile(r"^\s*[+-]?\d+,\d+\s*$")  # 12,5: a decimal comma
_POINT_DECIMAL = re.compile(r"^\s*[+-]?\d*\.\d+\s*$")  # 12.5
_SAMPLE = 50  # data lines read to tell a decimal comma


def unsupported(path: Path) -> str | None:
    """Why a data file of this type is not read (the end of a one-line message), or None for
    a CSV (``DELIMITED``) or Parquet file."""
    suffix = path.suffix.lower()
    if suffix in PARQUET or suffix in DELIMITED:
        return None
    if suffix in _SPREADSHEETS:
        return f"is a spreadsheet ({suffix}); save the sheet as CSV (UTF-8) or Parquet and give that file"
    return f"unsupported file type {suffix or '(no suffix)'!r}; give a .csv (or .tsv, .txt, .csv.gz) or .parquet file"


def separator(header: str) -> str:
    """The separator of a CSV file whose first line is ``header``: a comma where it holds one,
    else the first of ``;``, tab and ``|`` it holds, else a comma (a one-column file)."""
    if "," in header:
        return ","
    return next((c for c in _SEPARATORS if c in header), ",")


def csv_options(path: Path) -> dict[str, Any]:
    """How pandas should read the CSV file ``path``: UTF-8 with or without a byte-order mark,
    split by commas, or, where the header line holds no comma, by the first of ``;``, tab and
    ``|`` it holds (a spreadsheet's export in many locales). A file so split whose first data
    rows write numbers with a decimal comma (``12,5``) and none with a decimal point is read
    with ``decimal=","``."""
    import csv
    import gzip

    opener = gzip.open if path.suffix.lower() == ".gz" else open
    options: dict[str, Any] = {"encoding": "utf-8-sig"}
    try:
        with opener(path, "rt", encoding="utf-8-sig", newline="") as handle:
            lines = [line for _, line in zip(range(_SAMPLE + 1), handle)]
    except (OSError, UnicodeDecodeError, EOFError):  # the reader says what is wrong
        return options
    sep = separator(lines[0] if lines else "")
    if sep == ",":
        return options
    options["sep"] = sep
    cells = [cell for row in csv.reader(lines[1:], delimiter=sep) for cell in row]
    if any(_COMMA_DECIMAL.match(c) for c in cells) and not any(_POINT_DECIMAL.match(c) for c in cells):
        options["decimal"] = ","
    return options


def read_csv(path: Path, **kwargs):
    """``pandas.read_csv`` of ``path`` with ``csv_options``; ``kwargs`` passed on."""
    import pandas as pd

    return pd.read_csv(path, **{**csv_options(path), **kwargs})
