"""benchmarks/bench_peers.py: its pure parts (which spaces and horizon each dataset runs, the
test origins against the project's own scored windows, NeuralForecast's cutoffs, the target
line's arithmetic), and end to end on a tiny budget: one family, one trial of one epoch.

NeuralForecast is an optional benchmark dependency: where it is not importable the peer row
must say so; where it is, the peer (AutoTCN, two training steps) must get real numbers too.
"""

from __future__ import annotations

import importlib.util
import math
import re
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from tests.conftest import REPO

sys.path.insert(0, str(REPO / "benchmarks"))

import bench_peers  # noqa: E402

# -- which spaces, which horizon


def test_each_dataset_runs_its_shipped_spaces():
    co2 = bench_peers.dataset_spaces("co2")
    assert list(co2) == ["lstm", "gru", "tcn", "transformer"]
    assert [p.name for p in co2.values()] == ["lstm.yaml", "gru.yaml", "tcn.yaml", "transformer.yaml"]
    assert bench_peers.dataset_spaces("demand") == {"lstm": REPO / "spaces" / "demand_lstm.yaml"}
    assert bench_peers.dataset_spaces("electricity") == {"lstm": REPO / "spaces" / "electricity_lstm.yaml"}
    assert bench_peers.dataset_spaces("traffic") == {"lstm": REPO / "spaces" / "traffic_lstm.yaml"}
    assert bench_peers.dataset_spaces("housing") == {"lstm": REPO / "spaces" / "housing_lstm.yaml"}
    for dataset in bench_peers.DATASETS:
        assert all(p.is_file() for p in bench_peers.dataset_spaces(dataset).values())
    # --families picks among the shipped spaces; a family a dataset does not ship is left out
    assert list(bench_peers.dataset_spaces("co2", ["tcn", "lstm"])) == ["lstm", "tcn"]
    assert bench_peers.dataset_spaces("demand", ["gru"]) == {}
    assert bench_peers.dataset_spaces("electricity", []) == {}


def test_horizon_is_24_for_co2_and_the_spaces_own_elsewhere():
    assert bench_peers.dataset_horizon("co2", None) == 24
    assert bench_peers.dataset_horizon("demand", None) == 48
    assert bench_peers.dataset_horizon("electricity", None) == 24
    assert bench_peers.dataset_horizon("traffic", None) == 24
    assert bench_peers.dataset_horizon("housing", None) == 12
    assert bench_peers.dataset_horizon("demand", 12) == 12


def test_overrides_set_the_origins_the_step_scores():
    assert bench_peers.space_overrides(24, 24, 1800.0) == ["data.horizon=24", "data.eval_origins=horizon", "data.stat_baselines_seconds=1800"]
    assert bench_peers.space_overrides(24, 1, 60, epochs=3)[1:] == ["data.eval_origins=every", "data.stat_baselines_seconds=60", "train.epochs=3"]


# -- the test origins: the project's own


@pytest.mark.parametrize("dataset", list(bench_peers.DATASETS))
@pytest.mark.parametrize("every", [False, True])
def test_origins_are_the_projects_scored_windows(dataset, every):
    """The benchmark's origins and values are those the project's trials are scored on
    (``SeriesData.windows`` with the space's ``eval_origins``) and that its studies record."""
    from search.driver.prepare import prepare
    from search.worker.origins import eval_step

    horizon = bench_peers.dataset_horizon(dataset, None)
    step = 1 if every else horizon
    prep = prepare(bench_peers.dataset_spaces(dataset)["lstm"], bench_peers.space_overrides(horizon, step, 0))
    series, data = prep.series, prep.compiled.space.data
    assert eval_step(data) == step
    targets = bench_peers.test_targets(series, horizon, step)
    _, y = series.windows("test", prep.lookback_max, horizon, step)
    targets.check("trials", targets.origins, series.unscale_targets(y.double())[..., 0].numpy())
    targets.check_recorded("study", series.scored_targets("test", horizon, step), step)
    (b, end), o = series.part("test"), targets.origins
    assert o[-1] + horizon == end  # the last window ends at the test part's last row
    if every:
        assert list(o) == list(range(b, end - horizon + 1))
    else:  # non-overlapping, covering the test part but its first (T - b) mod H rows
        assert o.step == horizon and o[0] == b + (end - b - horizon) % horizon


def _targets() -> bench_peers.Targets:
    origins = range(10, 30, 5)
    return bench_peers.Targets(origins, 5, np.arange(20, dtype=float).reshape(4, 5))


def test_targets_refuse_other_origins_or_values():
    targets = _targets()
    targets.check("same", [10, 15, 20, 25], np.arange(20.0).reshape(4, 5))
    with pytest.raises(SystemExit, match="origins"):
        targets.check("shifted", [11, 16, 21, 26], np.arange(20.0).reshape(4, 5))
    with pytest.raises(SystemExit, match="target values"):
        targets.check("other values", [10, 15, 20, 25], np.arange(20.0).reshape(4, 5) + 1)
    targets.check_recorded("study", {"windows": 4, "points": 20, "first_origin": 10, "last_origin": 25}, 5)
    with pytest.raises(SystemExit, match="recorded"):
        targets.check_recorded("study", {"windows": 4, "points": 20, "first_origin": 11, "last_origin": 26}, 5)


@pytest.mark.parametrize(("val_start", "test_start", "end", "horizon", "step"),
                         [(1599, 1941, 2284, 24, 24), (1599, 1941, 2284, 24, 1), (4704, 5712, 6720, 48, 48), (6132, 7446, 8760, 24, 24)])
def test_neuralforecast_forecasts_from_the_scored_origins_and_trains_on_the_training_part(val_start, test_start, end, horizon, step):
    """NeuralForecast's windows (test_size - h divisible by step_size, the last one ending at the
    series' end) are the scored origins, and its training part ends where the project's does."""
    from search.worker.origins import scored_origins

    origins = scored_origins(0, test_start, end, 0, horizon, step)
    targets = bench_peers.Targets(origins, horizon, np.zeros((len(origins), horizon)))
    test_size, val_size = bench_peers.nf_split(targets, val_start, end)
    assert (test_size - horizon) % step == 0
    assert list(range(end - test_size, end - horizon + 1, step)) == list(origins)  # NeuralForecast's cutoff + 1
    assert end - test_size - val_size == val_start
    assert 0 <= end - test_size - test_start < step  # its validation part reaches fewer than step rows into the test part


def test_peer_points_keep_the_scored_origins_only():
    targets = _targets()
    cutoffs = np.arange(4, 26)  # every origin 5..25 (step 1), as cross_validation with step_size 1 gives
    cv = pd.DataFrame({"cutoff": np.repeat(cutoffs, 5), "ds": (cutoffs[:, None] + np.arange(1, 6)).ravel()})
    cv["y"] = cv["ds"].astype(float)
    cv["AutoTCN"] = cv["y"] + 0.5
    pred, truth, origins = bench_peers.peer_points("peer", cv, "AutoTCN", targets)
    assert origins == [10, 15, 20, 25]
    assert truth.tolist() == [[o + k for k in range(5)] for o in origins] and np.allclose(pred - truth, 0.5)
    with pytest.raises(SystemExit, match="steps after"):
        bench_peers.peer_points("peer", cv[cv["ds"] != 12], "AutoTCN", targets)


# -- the target line


def _row(method, kind, mae, wall=None):
    return bench_peers.result(method, kind, mae=mae, wall=wall)


def test_target_line_compares_the_best_of_ours_with_the_best_other():
    ours = [_row("this project: lstm", "ours", 0.90, wall=100.0), _row("this project: lstm ensemble of 5", "ours", 0.80, wall=110.0)]
    others = [_row("naive (last value)", "baseline", 2.0), _row("MSTL (seasons 52; AutoETS trend)", "baseline", 1.0, wall=1.0),
              _row("NeuralForecast AutoLSTM", "peer", 1.2, wall=300.0), _row("NeuralForecast AutoTCN", "peer", 0.95, wall=200.0),
              _row("NeuralForecast AutoGRU", "peer", None)]
    line = bench_peers.target_line("co2", ours, others, "unused")
    assert "best of this project (lstm ensemble of 5) test MAE 0.800 vs the best peer or baseline (NeuralForecast AutoTCN) 0.950: 0.84x (16 % below" in line
    assert ": met;" in line
    assert "wall 110 s vs the slowest deep peer (NeuralForecast AutoLSTM) 300 s: within; overall MET" in line

    slow = [_row("this project: tcn", "ours", 0.90, wall=400.0)]
    line = bench_peers.target_line("co2", slow, others, "unused")
    assert "0.95x (5 % below; needs <= 0.90x): missed" in line and "over; overall MISSED" in line


def test_target_line_without_a_deep_peer_compares_with_the_baselines_only():
    ours = [_row("this project: lstm", "ours", 0.90, wall=100.0)]
    others = [_row("seasonal naive (season 24)", "baseline", 1.5, wall=0.1), _row("NeuralForecast AutoLSTM", "peer", None)]
    line = bench_peers.target_line("electricity", ours, others, bench_peers.peer_note(["lstm"], None))
    assert "(seasonal naive (season 24)) 1.500: 0.60x (40 % below; needs <= 0.90x): met" in line
    assert line.endswith("NeuralForecast not installed: compared with the baselines only, wall not checked")
    assert bench_peers.peer_note([], None) == "no deep peer asked (--peers none)"
    assert "not checked (no family" in bench_peers.target_line("demand", [_row("this project: lstm", "ours", None)], others, "")


def test_stat_rows_show_what_was_not_done():
    attrs = {"baseline_autoets_test_mae": 2.0, "baseline_autoets_test_rmse": 3.0, "baseline_autoets_seconds": 1.5,
             "stat_baselines_note": "MSTL: not done within 60 s (data.stat_baselines_seconds); AutoTheta: ValueError: bad"}
    rows = {r["method"]: r for r in bench_peers.stat_rows(attrs, [24, 168], "computed here")}
    assert rows["AutoETS (season 24)"]["mae"] == 2.0 and rows["AutoETS (season 24)"]["wall"] == 1.5
    assert rows["MSTL (seasons 24, 168; AutoETS trend)"]["note"] == "MSTL: not done within 60 s (data.stat_baselines_seconds)"
    assert rows["AutoTheta (season 24)"]["mae"] is None and rows["AutoTheta (season 24)"]["note"] == "AutoTheta: ValueError: bad"
    # a series without a season (housing): the MSTL row says so instead of an empty list
    assert "MSTL (no season found)" in {r["method"] for r in bench_peers.stat_rows({}, [], "computed here")}


# -- end to end


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


@pytest.mark.slow
def test_bench_peers_tiny_budget():
    command = [sys.executable, "benchmarks/bench_peers.py", "--trials", "1", "--epochs", "1", "--families", "lstm",
               "--peers", "tcn", "--peer-max-steps", "2"]
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    out = done.stdout
    rows = _rows(out)
    baselines = ["naive (last value)", "seasonal naive (season 52)", "MSTL (seasons 52; AutoETS trend)", "AutoETS (season 1)", "AutoTheta (season 52)"]
    ours = ["this project: lstm", "this project: lstm ensemble of 1", "this project: lstm served"]
    assert list(rows) == [*baselines, *ours, "NeuralForecast AutoTCN"], rows
    for method in baselines + ours:  # the validation -> test gap is the two MAEs' ratio
        test_mae, val_mae, ratio = _number(rows[method][1]), _number(rows[method][4]), rows[method][5]
        assert ratio == f"{test_mae / val_mae:.2f}x", (method, rows[method])
    served = rows["this project: lstm served"]
    assert served[-2] in ("trial #0", "MSTL", "AutoETS", "AutoTheta", "seasonal naive (s=52)", "naive (last value)") or " x " in served[-2], served
    # the intervals' test figures: the served forecaster's and statsforecast's own, none for the naive forecasts
    for method in ("this project: lstm served", "MSTL (seasons 52; AutoETS trend)", "AutoTheta (season 52)"):
        cov80, cov95, score = (_number(c) for c in rows[method][6:9])
        assert 0 <= cov80 <= cov95 <= 100 and score > 0, rows[method]
    assert rows["naive (last value)"][6:9] == ["-", "-", "-"]
    assert re.search(r"served \(co2\): .+: test MAE ([\d.]+) vs the best classical baseline \(.+\) ([\d.]+): [\d.]+x "
                     r"\(needs <= 0.90x, never above 1.00x\): (met|missed, never worse|missed, WORSE)", out)

    for method in baselines + ours:
        mae, rmse, ratio = (_number(c) for c in rows[method][1:4])
        assert rmse >= mae  # RMSE is never below MAE over the same points
    assert rows["seasonal naive (season 52)"][3] == "1.00x"
    assert _number(rows["naive (last value)"][1]) > _number(rows["seasonal naive (season 52)"][1])
    assert rows["this project: lstm"][1:3] == rows["this project: lstm ensemble of 1"][1:3]  # one trial: the ensemble is the best trial
    assert "1 done" in " ".join(rows["this project: lstm"]) and rows["this project: lstm"][-1].endswith("= rescored")
    assert rows["MSTL (seasons 52; AutoETS trend)"][-1] == "recorded by the lstm study"

    peer = rows["NeuralForecast AutoTCN"]
    if importlib.util.find_spec("neuralforecast") is None:
        assert peer[1:4] == ["-", "-", "-"]
        assert peer[-1] == "not installed (pip install neuralforecast)"
        assert "NeuralForecast not installed: compared with the baselines only" in out
    else:
        assert _number(peer[2]) >= _number(peer[1])
        assert "slowest deep peer (NeuralForecast AutoTCN)" in out

    # every method on the same points: the 343-row test part in non-overlapping windows of 24,
    # the last ending at its last row: (343 - 24) // 24 + 1 = 14 origins, from row 1941 + 7
    assert "test 14 origins 1948..2260 every 24 (14 x 24 points)" in out
    assert "test points per method: 14 origins x 24 steps = 336 (origins rows 1948..2260, every 24)" in out
    assert re.search(r"target \(co2\): best of this project \(lstm( ensemble of 1| served)?\) test MAE [\d.]+ vs the best peer or baseline \(.+\) [\d.]+: "
                     r"[\d.]+x \(\d+ % (below|above); needs <= 0.90x\): (met|missed)", out)


def test_a_peer_that_raises_gets_a_failed_row_and_the_rest_runs(monkeypatch, capsys):
    calls = []

    def run_peer(family, args, run):
        calls.append(family)
        if family == "lstm":
            raise Exception("Time series is too short for training, consider setting a smaller input size\nmore")
        return bench_peers.result("NeuralForecast AutoTCN", "peer", mae=1.0, rmse=1.0, wall=2.0)

    monkeypatch.setattr(bench_peers, "run_peer", run_peer)
    rows = bench_peers.run_peers(["lstm", "tcn"], None, None, "3.3.0")
    assert calls == ["lstm", "tcn"]  # the failure did not end the benchmark
    failed, done = rows
    assert failed["method"] == "NeuralForecast AutoLSTM" and failed["mae"] is None
    assert failed["note"].startswith("failed after ") and failed["note"].endswith(": Time series is too short for training, consider setting a smaller input size")
    assert done["mae"] == 1.0
    assert "failed: NeuralForecast AutoLSTM" in capsys.readouterr().out
