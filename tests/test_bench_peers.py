"""benchmarks/bench_peers.py end to end on a tiny budget: one family, one trial of one epoch.

NeuralForecast is an optional benchmark dependency: where it is not importable the peer row
must say so; where it is, the peer (AutoTCN, two training steps) must get real numbers too.
"""

from __future__ import annotations

import importlib.util
import math
import re
import subprocess
import sys

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.slow


def _rows(output: str) -> dict[str, list[str]]:
    """The printed table as {method: cells}, the cells split on runs of 2+ spaces."""
    lines = output.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("method "))
    rows = {}
    for line in lines[start + 2 :]:
        if not line.strip():
            break
        cells = re.split(r"\s{2,}", line.strip())
        rows[cells[0]] = cells
    return rows


def _number(cell: str) -> float:
    value = float(cell.rstrip("x"))
    assert math.isfinite(value) and value > 0, cell
    return value


def test_bench_peers_tiny_budget():
    command = [sys.executable, "benchmarks/bench_peers.py", "--trials", "1", "--epochs", "1", "--families", "lstm",
               "--peers", "tcn", "--peer-max-steps", "2", "--horizon", "24"]
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    out = done.stdout
    rows = _rows(out)
    assert set(rows) == {"naive (last value)", "seasonal naive (season 52)", "this project: lstm", "NeuralForecast AutoTCN"}, rows

    for method in ("naive (last value)", "seasonal naive (season 52)", "this project: lstm"):
        mae, rmse, ratio = (_number(c) for c in rows[method][1:4])
        assert rmse >= mae  # RMSE is never below MAE over the same points
    assert rows["seasonal naive (season 52)"][3] == "1.00x"
    assert _number(rows["naive (last value)"][1]) > _number(rows["seasonal naive (season 52)"][1])
    ours = rows["this project: lstm"]
    assert "1 done" in " ".join(ours) and "attr test MAE" in ours[-1]

    peer = rows["NeuralForecast AutoTCN"]
    if importlib.util.find_spec("neuralforecast") is None:
        assert peer[1:4] == ["-", "-", "-"]
        assert peer[-1] == "not installed (pip install neuralforecast)"
        assert "no peer ran (not installed (pip install neuralforecast))" in out
    else:
        assert _number(peer[2]) >= _number(peer[1])
        assert "wall" in out.split("target:")[1]

    # every method on the same points: every origin of the 343-row test part (inputs reach back
    # before it, so every lookback is scored there): 343 - 24 + 1 = 320
    assert "common test windows: lookback 156, 320 windows x 24 steps" in out
    assert "test points per method: 320 windows x 24 steps = 7680" in out
    assert re.search(r"target: best of this project \(lstm\) MAE [\d.]+ vs seasonal naive [\d.]+ \([\d.]+x; needs <= 0.90x\): (met|missed)", out)
