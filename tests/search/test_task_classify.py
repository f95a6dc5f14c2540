"""Task classify: windows labelled at their last row, classes from the training part, the
scaler fit on training rows only, the metrics, the validator's rules, a real search, and the
checkpoint that predicts a label."""

from __future__ import annotations

import json
import math
import textwrap

import numpy as np
import optuna
import pandas as pd
import pytest
import torch

from search.worker import tasks
from search.results.forecaster import unpack
from search.cli import main
from search.space import compile_space
from search.errors import DataError
from search.space import load_space
from search.study_attrs import flat
from search.worker.train import run_trial
from tests.conftest import write_series


def data_cfg(path, **changes) -> dict:
    """A data section as the validator leaves it (defaults filled in)."""
    cfg = {
        "task": "classify", "path": str(path), "time_column": "t", "target": ("label",), "features": ("a", "b"),
        "missing": "interpolate", "split": (0.6, 0.2, 0.2), "scaler": "none", "series_id": None,
        "scaler_scope": "global", "gap": 0, "lookback": 5, "horizon": 1, "stride": 1, "reference": "none",
    }  # fmt: skip
    cfg.update(changes)
    return cfg


def write_rows(path, n=60, label=lambda i: i % 3, series=None):
    """Feature ``a`` = the row number (``b`` its square root): a window's rows can be read back."""
    frame = pd.DataFrame({"t": range(n), "a": np.arange(n, dtype=float), "b": np.sqrt(np.arange(n)), "label": [label(i) for i in range(n)]})
    if series is not None:
        frame.insert(0, "s", [series(i) for i in range(n)])
    frame.to_csv(path, index=False)
    return path


def test_each_window_is_labelled_at_its_last_row_in_its_part_every_row_scored(tmp_path):
    path = write_rows(tmp_path / "c.csv", n=100, label=lambda i: "abc"[i % 3])
    data = tasks.load_data(data_cfg(path, gap=3, stride=2))
    assert data.classes == ("a", "b", "c") and data.n_classes == 3 and data.n_features == 2
    for part in ("train", "val", "test"):
        (start, end), = data.parts(part)
        x, y = data.windows(part, 5, stride=2 if part == "train" else 1)
        assert len(x) == len(y) > 0
        first, last = x[:, 0, 0].numpy(), x[:, -1, 0].numpy()  # feature a = row number
        assert (last < end).all() and (last - first == 4).all()
        if part == "train":  # inside the part
            assert (first >= start).all()
        else:  # every row of the part labels a window; the inputs reach back before it
            assert last.tolist() == list(range(start, end))
        assert [data.classes[int(c)] for c in y] == ["abc"[int(r) % 3] for r in last]
    # the training windows are `stride` rows apart, the evaluation windows 1
    x, _ = data.windows("train", 5, stride=2)
    assert (np.diff(x[:, 0, 0].numpy()) == 2).all()


def test_windows_never_cross_a_series(tmp_path):
    path = write_rows(tmp_path / "c.csv", n=120, label=lambda i: i % 2, series=lambda i: "xy"[i // 60])
    data = tasks.load_data(data_cfg(path, series_id="s", time_column="t"))
    assert data.series_names == ("x", "y")
    for part in ("train", "val", "test"):
        x, y = data.windows(part, 5, stride=1)
        rows = x[:, :, 0].numpy()  # (N, L) row numbers
        assert (np.diff(rows, axis=1) == 1).all()  # consecutive rows of one series
        assert ((rows // 60).min(axis=1) == (rows // 60).max(axis=1)).all()
        assert [int(c) for c in y] == [int(r) % 2 for r in rows[:, -1]]
        expected = sum(max(e - s - 4, 0) for s, e in data.parts(part)) if part == "train" else sum(e - s for s, e in data.parts(part))
        assert len(x) == expected
    # per-series scalers scale the inputs only: every row keeps its label
    scaled = tasks.load_data(data_cfg(path, series_id="s", scaler="standard", scaler_scope="series"))
    np.testing.assert_array_equal(scaled.labels, data.labels)
    assert scaled.series_offset.shape == (2, 2) and scaled.columns == ("a", "b")


def test_the_scaler_is_fit_on_the_training_part_only(tmp_path):
    path = write_rows(tmp_path / "c.csv", n=100)
    data = tasks.load_data(data_cfg(path, scaler="standard"))
    (start, end), = data.parts("train")
    raw = np.arange(100, dtype=float)
    np.testing.assert_allclose(data.offset[0], raw[start:end].mean(), rtol=1e-6)
    np.testing.assert_allclose(data.scale[0], raw[start:end].std(), rtol=1e-6)
    train = data.values[start:end]
    np.testing.assert_allclose(train.mean(axis=0), 0, atol=1e-5)
    np.testing.assert_allclose(train.std(axis=0), 1, atol=1e-5)
    assert data.values[-1, 0] > 2  # later rows lie outside the training range: not refit
    assert data.columns == ("a", "b")  # the label never becomes an input


def test_classes_come_from_the_training_part(tmp_path):
    # label 7 occurs only in the last rows (the test part): an error naming file, key and label
    path = write_rows(tmp_path / "c.csv", n=100, label=lambda i: 7 if i >= 95 else i % 2)
    with pytest.raises(DataError) as info:
        tasks.load_data(data_cfg(path), source="space.yaml")
    (problem,) = info.value.problems
    assert problem.startswith("space.yaml: data.target: label 7 in the test part of c.csv does not occur in the training part")
    assert "\n" not in problem
    # numbers stay numbers, sorted; a label seen only in a gap is no error
    path = write_rows(tmp_path / "d.csv", n=100, label=lambda i: 7 if i == 58 else (i % 2) * 10)  # rows 58, 59: the gap
    data = tasks.load_data(data_cfg(path, gap=2))
    assert data.classes == (0, 10)
    assert tasks.load_data(data_cfg(path, split=(0.65, 0.15, 0.2))).classes == (0, 7, 10)


def test_rows_without_a_label(tmp_path):
    path = write_rows(tmp_path / "c.csv", n=60, label=lambda i: "" if i == 10 else "ab"[i % 2])
    with pytest.raises(DataError, match=r"data.missing: c.csv has 1 rows without a label in column 'label' \(first at row 10\)"):
        tasks.load_data(data_cfg(path))
    data = tasks.load_data(data_cfg(path, missing="drop"))
    assert data.info["rows"] == 59 and 10 not in data.values[:, 0]


def test_metrics_against_hand_computed_values():
    logits = torch.tensor([[2.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 3.0]])
    target = torch.tensor([0, 2, 2])

    def nll(row, k):
        return -(row[k] - math.log(sum(math.exp(v) for v in row)))

    ce = (nll([2, 0, 0], 0) + nll([0, 1, 0], 2) + nll([0, 0, 3], 2)) / 3
    out = tasks.metrics("classify", logits, target)
    assert out["accuracy"] == pytest.approx(2 / 3)
    assert out["cross_entropy"] == pytest.approx(ce) and out["loss"] == pytest.approx(ce)
    assert set(out) == {"accuracy", "cross_entropy", "loss"}


CLASSIFY_SPACE = """
model:
  family: gru
  layer_sizes: {choices: ["8", "16"]}
data:
  task: classify
  path: sensors.csv
  time_column: t
  target: state
  features: [y, x]
  lookback: {choices: [6, 10]}
train:
  epochs: 3
  batch_size: 32
  lr: {type: float, low: 5.0e-3, high: 2.0e-2, log: true}
sampler: {name: random, seed: 0}
pruner: {name: median, n_startup_trials: 5}
"""


@pytest.fixture
def classify_space(tmp_path):
    """write_series' sine plus a label: 'high' where the covariate x is above 0.3, 'low' below
    -0.3, else 'mid' (strings)."""
    write_series(tmp_path / "raw.csv", 300)
    frame = pd.read_csv(tmp_path / "raw.csv")
    frame["state"] = np.where(frame["x"] > 0.3, "high", np.where(frame["x"] < -0.3, "low", "mid"))
    frame.to_csv(tmp_path / "sensors.csv", index=False)
    path = tmp_path / "classify.yaml"
    path.write_text(textwrap.dedent(CLASSIFY_SPACE))
    return path


def test_defaults_of_the_task(classify_space):
    space = load_space(classify_space)
    assert space.objective.metric == "accuracy" and space.objective.direction == "maximize"
    assert space.data["reference"] == "none"


@pytest.mark.parametrize(
    "override, key, fragment",
    [
        ("objective.metric=rmse", "objective.metric", "'rmse' is not a metric of task classify; valid: accuracy, cross_entropy, loss"),
        ("objective.direction=minimize", "objective.direction", "use direction: maximize"),
        ("data.reference=last", "data.reference", "use reference: none"),
        ("data.horizon=3", "data.horizon", "horizon must be 1"),
        ("data.features=[]", "data.features", "task classify needs the input columns"),
        ("data.features=[x, state]", "data.features", "'state' is the label column"),
    ],
)
def test_validate_rejects_what_does_not_fit_the_task(classify_space, capsys, override, key, fragment):
    assert main(["validate", str(classify_space), "--set", override]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: --set ") and f"{key}: " in lines[0] and fragment in lines[0], lines  # named by the flag that gave it


def test_trial_reports_the_task_metrics_and_the_checkpoint_predicts_labels(classify_space):
    compiled = compile_space(load_space(classify_space))
    config = compiled.trial_config({"layer_sizes": "16", "lookback": 10, "lr": 0.02})
    series = tasks.load_data(compiled.space.data)
    reports = []
    run_trial(config, series, "accuracy", reports.append, direction="maximize", with_checkpoint=True)
    final = reports[-1]
    assert "error" not in final, final.get("error")
    for r in reports:
        assert {"val_accuracy", "val_cross_entropy", "val_loss"} <= set(r) and r["objective"] == r["val_accuracy"]
    assert {"test_accuracy", "test_cross_entropy", "test_loss"} <= set(final)
    assert final["best_objective"] == max(r["val_accuracy"] for r in reports)

    forecaster = unpack(final["checkpoint"])  # safetensors + JSON header: no pickle
    assert forecaster.task == "classify" and forecaster.classes == ["high", "low", "mid"]
    # the loaded model scores the test windows as the trial did
    x, y = series.windows("test", 10)
    with torch.no_grad():
        logits = forecaster.model.eval()(x)
    assert tasks.metrics("classify", logits, y)["accuracy"] == pytest.approx(final["test_accuracy"])
    # predict: the label of the window that ends at the frame's last row
    frame = pd.read_csv(classify_space.parent / "sensors.csv")
    label = forecaster.predict(frame)
    expected = forecaster.classes[int(logits[-1].argmax())]  # the last test window ends at the last row
    assert label == expected


@pytest.mark.slow
def test_search_run_records_the_task(ray_local, classify_space, tmp_path, capsys):
    url = f"sqlite:///{tmp_path}/s.db"
    artifacts = tmp_path / "art"
    assert main(["run", str(classify_space), "--trials", "3", "--storage", url, "--artifacts", str(artifacts)]) == 0
    out = capsys.readouterr().out
    assert "val accuracy" in out and "(majority class " in out
    study = optuna.load_study(study_name="classify", storage=url)
    assert study.direction == optuna.study.StudyDirection.MAXIMIZE
    attrs = flat(study)
    assert attrs["task"] == "classify" and attrs["classes"] == ["high", "low", "mid"] and attrs["n_classes"] == 3
    assert 0 < attrs["baseline_majority_val_accuracy"] < 1 and "baseline_majority_test_accuracy" in attrs
    assert not any(k.startswith("baseline_naive") for k in attrs)
    trials = study.get_trials(deepcopy=False)
    assert len(trials) == 3 and all(t.state == optuna.trial.TrialState.COMPLETE for t in trials)
    for t in trials:
        assert len(t.intermediate_values) == 3 and all(0 <= v <= 1 for v in t.intermediate_values.values())
        assert t.value == max(t.intermediate_values.values())
        assert {"test_accuracy", "test_cross_entropy", "test_loss"} <= set(t.user_attrs)
    curve = (artifacts / study.best_trial.user_attrs["learning_curve"]).read_text().splitlines()[0]
    assert "val_accuracy" in curve and "val_cross_entropy" in curve

    # search best and search predict read the study back
    assert main(["best", "classify", "--storage", url]) == 0
    assert "test accuracy" in capsys.readouterr().out
    frame = pd.read_csv(classify_space.parent / "sensors.csv").tail(20)
    frame.to_csv(tmp_path / "recent.csv", index=False)
    assert main(["predict", "classify", "--input", str(tmp_path / "recent.csv"), "--storage", url, "--artifacts", str(artifacts)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0] == "state" and lines[1] in ("high", "low", "mid")

    # the best trial's figure: the confusion matrix of its test windows, in the report too
    best = study.best_trial
    view = json.loads((artifacts / best.user_attrs["forecast"]).read_text())
    counts = np.array(view["counts"])
    assert view["task"] == "classify" and view["classes"] == ["high", "low", "mid"]
    assert np.trace(counts) / counts.sum() == pytest.approx(best.user_attrs["test_accuracy"])
    assert (artifacts / best.user_attrs["forecast_html"]).exists()
    out = tmp_path / "report.html"
    assert main(["report", "classify", "--storage", url, "--artifacts", str(artifacts), "--out", str(out)]) == 0
    assert 'id="fig-confusion"' in out.read_text()
    capsys.readouterr()
    assert main(["predict", "classify", "--input", str(tmp_path / "recent.csv"), "--storage", url, "--artifacts", str(artifacts), "--plot", str(tmp_path / "p.html")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["error: --plot draws a forecast after the input; study 'classify' is a classify model (its report shows its figure)"]
