"""Several series in one file, per-series scalers, and gaps between the splits."""

from __future__ import annotations

import math
import random
import textwrap

import numpy as np
import pytest
import torch

from search.worker.data import WindowSet, check_windows_fit, windows
from search.worker.load import load_series
from search.errors import ConfigError, DataError
from tests.search.test_data import data_cfg

LEVELS = {"a": 0.0, "b": 1000.0, "c": -500.0}
LENGTHS = {"a": 120, "b": 90, "c": 150}


def write_panel(path, *, shuffle=True):
    """Three series of very different levels and lengths; columns: id, t, y, k (series number), tt (= t)."""
    rows = []
    for k, (name, level) in enumerate(LEVELS.items()):
        for t in range(LENGTHS[name]):
            y = level + 2 * math.sin(t / 4) + 0.01 * t * (k + 1)
            rows.append(f"{name},{t},{y:.5f},{k},{t}")
    if shuffle:
        random.Random(0).shuffle(rows)
    path.write_text("id,t,y,k,tt\n" + "\n".join(rows) + "\n")
    return path


def panel_cfg(path, **overrides):
    return data_cfg(path, series_id="id", features=("k", "tt"), **overrides)


def raw_windows(series, part, lookback, horizon):
    """Inputs and targets of a part in original units (global scaler)."""
    x, y = windows(series, part, lookback, horizon)
    xr = x[:] * torch.from_numpy(series.scale) + torch.from_numpy(series.offset)
    yr = series.unscale_targets(y)
    return x, xr, yr


def test_no_window_crosses_a_series_or_a_split(tmp_path):
    series = load_series(panel_cfg(write_panel(tmp_path / "p.csv")))
    assert series.n_series == 3 and series.series_names == ("a", "b", "c")
    lookback, horizon = 6, 2
    for part in ("train", "val", "test"):
        x, xr, yr = raw_windows(series, part, lookback, horizon)
        assert isinstance(x, WindowSet)
        # training windows inside the part; scored ones: every origin, inputs reaching back
        inputs = 0 if part == "train" else lookback
        expected = sum(max(end - start + inputs - lookback - horizon + 1, 0) for start, end in series.parts(part))
        assert x.shape == (expected, lookback, 3) and yr.shape == (expected, horizon, 1)
        k, t = xr[:, :, 1].round(), xr[:, :, 2].round()
        assert (k == k[:, :1]).all(), "every input row of a window is from one series"
        assert (t.diff(dim=1) == 1).all(), "consecutive steps of that series"
        # targets belong to the same series: its level, right after the inputs
        for name, level in LEVELS.items():
            mine = k[:, 0] == list(LEVELS).index(name)
            assert ((yr[mine, :, 0] - level).abs() < 10).all()
        assert (x.series_index == k[:, 0].long()).all()


def test_each_series_is_split_chronologically_by_the_same_fractions(tmp_path):
    series = load_series(panel_cfg(write_panel(tmp_path / "p.csv")))
    for (start, a, b, end), name in zip(series.segments, series.series_names):
        n = LENGTHS[name]
        assert end - start == n and a - start == round(n * 0.7) and b - start == round(n * 0.85)
    a, b = (sum(round(n * f) for n in LENGTHS.values()) for f in (0.7, 0.85))
    assert series.info["split_rows"] == [a, b - a, sum(LENGTHS.values()) - b]
    assert series.info["series"] == 3
    # the first series' parts are part(), as for a single series
    assert series.part("val") == series.parts("val")[0]


def test_window_set_indexes_like_the_concatenated_windows(tmp_path):
    series = load_series(panel_cfg(write_panel(tmp_path / "p.csv")))
    x, _ = windows(series, "train", 5, 1, stride=2)
    whole = torch.cat(x.views)
    idx = torch.randperm(len(x), generator=torch.Generator().manual_seed(0))[:40]
    torch.testing.assert_close(x[idx], whole[idx])
    torch.testing.assert_close(x[10:70], whole[10:70])
    torch.testing.assert_close(x[:, -1:, :1], whole[:, -1:, :1])
    torch.testing.assert_close(x[:, torch.tensor([0, 2]), :1], whole[:, [0, 2], :1])
    torch.testing.assert_close(x[3], whole[3])
    assert len(x[idx[:0]]) == 0
    # the windows are views: no copy of the series per window
    base = series.values.ctypes.data
    for view in x.views:
        assert base <= view.untyped_storage().data_ptr() < base + series.values.nbytes


def test_series_scaler_is_fit_on_each_training_part_only(tmp_path):
    path = write_panel(tmp_path / "p.csv", shuffle=False)
    cfg = panel_cfg(path, scaler_scope="series")
    base = load_series(cfg)
    assert base.series_offset.shape == (3, 3)
    for i, (start, a, _, _) in enumerate(base.segments):
        train = base.values[start:a, 0]
        assert abs(train.mean()) < 1e-4 and abs(train.std() - 1) < 1e-3
        name = base.series_names[i]
        raw = np.array([LEVELS[name] + 2 * math.sin(t / 4) + 0.01 * t * (i + 1) for t in range(a - start)])
        assert base.series_offset[i, 0] == pytest.approx(raw.mean(), abs=1e-3)
    # change every validation and test row: no scaler moves
    lines = path.read_text().splitlines()
    keep = {(seg_name, t) for seg_name, (s, a, _, _) in zip(base.series_names, base.segments) for t in range(a - s)}
    for i in range(1, len(lines)):
        name, t, y, k, tt = lines[i].split(",")
        if (name, int(t)) not in keep:
            lines[i] = f"{name},{t},{float(y) * 50 + 7},{k},{tt}"
    path.write_text("\n".join(lines) + "\n")
    changed = load_series(cfg)
    np.testing.assert_array_equal(base.series_offset, changed.series_offset)
    np.testing.assert_array_equal(base.series_scale, changed.series_scale)
    # unscaling needs each window's series; with it, targets come back in their own units
    x, y = windows(changed, "val", 4, 1)
    back = changed.unscale_targets(y, x.series_index)
    for name, level in LEVELS.items():
        mine = x.series_index == changed.series_names.index(name)
        assert ((back[mine, 0, 0] - (level * 50 + 7)).abs() < 400).all()
    with pytest.raises(DataError, match="data.scaler_scope"):
        changed.unscale_targets(y)


def test_no_window_falls_in_the_gap(tmp_path):
    path = write_panel(tmp_path / "p.csv")
    gap = 5
    series = load_series(panel_cfg(path, gap=gap))
    gap_rows = set()
    for start, a, b, end in series.segments:
        gap_rows |= set(range(a, a + gap)) | set(range(b, b + gap))
        n = end - start
        usable = n - 2 * gap
        assert a - start == round(usable * 0.7) and b - a - gap == round(usable * 0.85) - round(usable * 0.7)
    assert series.info["gap"] == gap
    times_in_gap = {(int(round(series.values[r, 1] * series.scale[1] + series.offset[1])), int(round(series.values[r, 2] * series.scale[2] + series.offset[2]))) for r in gap_rows}
    lookback, horizon = 4, 1
    for part in ("train", "val", "test"):
        x, xr, yr = raw_windows(series, part, lookback, horizon)
        # no target is a gap row; training windows do not touch one; validation and test inputs
        # may read gap rows (history known at forecast time)
        targets = {(int(round(k)), int(round(tt)) + 1) for k, tt in xr[:, -1, 1:3].tolist()}  # the row after the inputs
        assert not targets & times_in_gap
        if part == "train":
            for row in xr.reshape(-1, 3).round().long().tolist():
                assert (row[1], row[2]) not in times_in_gap
        else:  # every row of the part is a target
            assert len(x) == sum(e - s for s, e in series.parts(part))


def test_gap_on_a_single_series(tmp_path):
    from tests.conftest import write_series

    path = write_series(tmp_path / "s.csv", 100)
    plain, gapped = load_series(data_cfg(path)), load_series(data_cfg(path, gap=3))
    assert plain.part("train") == (0, 70) and "gap" not in plain.info
    assert gapped.part("train") == (0, 66) and gapped.part("val") == (69, 83) and gapped.part("test") == (86, 100)
    assert gapped.info["split_rows"] == [66, 14, 14]  # 94 usable rows split 0.7 / 0.15 / 0.15
    x, y = windows(gapped, "val", 5, 1)  # every validation row a target, inputs reaching back
    assert len(x) == 14 and torch.equal(x[0, 0], torch.from_numpy(gapped.values[69 - 5]))
    assert torch.equal(y[0, 0], torch.from_numpy(gapped.values[69, :1]))


def test_windows_must_fit_every_series(tmp_path):
    series = load_series(panel_cfg(write_panel(tmp_path / "p.csv")))
    with pytest.raises(DataError, match="data.lookback: the train part of series 'b' has 63 rows"):
        check_windows_fit(series, 63, 1)
    with pytest.raises(DataError, match="data.horizon: the val part of series 'b' has 13 rows"):
        check_windows_fit(series, 10, 14)
    check_windows_fit(series, 62, 1)


def test_missing_values_are_filled_within_each_series(tmp_path):
    path = write_panel(tmp_path / "p.csv", shuffle=False)
    lines = path.read_text().splitlines()
    first_b = 1 + LENGTHS["a"]

    def empty(rows):
        out = list(lines)
        for i in rows:
            name, t, _, k, tt = out[i].split(",")
            out[i] = f"{name},{t},,{k},{tt}"
        path.write_text("\n".join(out) + "\n")

    # a gap inside each series is filled from its own series' neighbours
    empty((first_b - 2, first_b + 1))
    series = load_series(panel_cfg(path))
    raw = series.values[:, 0] * series.scale[0] + series.offset[0]
    row_a, row_b = first_b - 3, first_b  # data rows: the last but one of a, the second of b
    assert raw[row_a] == pytest.approx((raw[row_a - 1] + raw[row_a + 1]) / 2, abs=1e-3)
    assert raw[row_b] == pytest.approx((raw[row_b - 1] + raw[row_b + 1]) / 2, abs=1e-3)
    # the last row of series a has nothing after it to fill from: never carried over from b
    empty((first_b - 1,))
    with pytest.raises(DataError, match=f"column 'y' of p.csv of series 'a' has no value in row {first_b - 1}, after its last observed value"):
        load_series(panel_cfg(path))


PANEL_SPACE = """
model: {family: lstm, layer_sizes: "8"}
data:
  path: p.csv
  time_column: t
  series_id: id
  target: y
  lookback: 6
  scaler_scope: series
  gap: 2
train: {epochs: 2, batch_size: 64}
"""


def train_panel(tmp_path):
    """One trial of PANEL_SPACE (three series, per-series scalers) with a checkpoint."""
    from search.space import compile_space
    from search.space import load_space
    from search.worker.train import run_trial

    write_panel(tmp_path / "p.csv")
    space_path = tmp_path / "panel.yaml"
    space_path.write_text(textwrap.dedent(PANEL_SPACE))
    compiled = compile_space(load_space(space_path))
    config = compiled.trial_config({})
    series = load_series(compiled.space.data)
    reports = []
    run_trial(config, series, "rmse", reports.append, with_checkpoint=True)
    final = reports[-1]
    assert "error" not in final, final.get("error")
    assert final["final"] and math.isfinite(final["test_rmse"])
    # in the data's units: a level error would be hundreds
    assert final["val_rmse"] < 50
    return series, final


def test_a_trial_trains_on_several_series(tmp_path):
    series, final = train_panel(tmp_path)
    assert len(final["checkpoint"]) > 0, "per-series scalers no longer cost the checkpoint"


def test_per_series_scalers_travel_with_the_checkpoint(tmp_path):
    import pandas as pd

    from search.results.forecaster import unpack
    from search.errors import UsageError
    from models.reference import LastValueReference

    series, final = train_panel(tmp_path)
    forecaster = unpack(final["checkpoint"])
    assert forecaster.series_id == "id"
    frame = pd.read_csv(tmp_path / "p.csv")  # shuffled rows of three series
    forecasts = forecaster.predict_series(frame)
    assert sorted(forecasts) == ["a", "b", "c"]
    model = LastValueReference(forecaster.model, 1).eval()
    for i, name in enumerate(series.series_names):
        # the model applied to the series' last window, unscaled by that series' own scaler
        start, _, _, end = series.segments[i]
        x = torch.from_numpy(series.values[end - 6 : end])[None]
        with torch.no_grad():
            expected = series.unscale_targets(model(x), torch.tensor([i]))[0].numpy()
        np.testing.assert_allclose(forecasts[name], expected, rtol=1e-4, atol=1e-3)
        assert abs(forecasts[name][0, 0] - LEVELS[name]) < 50, "each series forecast at its own level"
    with pytest.raises(UsageError, match="holds 3 series"):
        forecaster.predict(frame)
    only_b = frame[frame["id"] == "b"]
    np.testing.assert_allclose(forecaster.predict(only_b), forecasts["b"], rtol=1e-5)
    unknown = only_b.assign(id="z")
    with pytest.raises(UsageError, match=r"series 'z' was not in the training data.*known series: a, b, c"):
        forecaster.predict_series(unknown)


def test_series_keys_are_validated(tmp_path):
    from search.space import load_space

    write_panel(tmp_path / "p.csv")
    space_path = tmp_path / "panel.yaml"
    space_path.write_text(textwrap.dedent(PANEL_SPACE))
    with pytest.raises(ConfigError, match=r"data.series_id: column 'ident' is not in p.csv"):
        load_space(space_path, ["data.series_id=ident"])
    with pytest.raises(ConfigError, match=r"data.scaler_scope: 'series' needs data.series_id"):
        load_space(space_path, ["data.series_id=null"])
    with pytest.raises(ConfigError, match=r"data.gap: -1 is out of range; must be >= 0"):
        load_space(space_path, ["data.gap=-1"])
    with pytest.raises(ConfigError, match=r"data.scaler_scope: 'local' is not one of global, series"):
        load_space(space_path, ["data.scaler_scope=local"])


def test_naive_baselines_work_on_several_series(tmp_path):
    """baselines.py indexes the windows like a tensor (``x[:, -1:, :n]``); a WindowSet serves it."""
    from search.worker.baselines import forecast_baselines

    series = load_series(panel_cfg(write_panel(tmp_path / "p.csv")))
    attrs = forecast_baselines(series, 8, 2, [5])
    x, y = windows(series, "val", 8, 2)
    truth = series.unscale_targets(y)
    naive = series.unscale_targets(x[:, -1:, :1].expand(-1, 2, -1))
    assert attrs["baseline_naive_val_mae"] == pytest.approx(float((naive - truth).abs().mean()))
    assert attrs["baseline_naive_val_mae"] < 5  # a window crossing series would cost hundreds
    assert "baseline_seasonal_naive_test_rmse" in attrs


def test_window_set_skips_series_without_windows():
    a = torch.zeros((0, 3, 1))
    b = torch.arange(12.0).reshape(4, 3, 1)
    c = torch.arange(100.0, 106.0).reshape(2, 3, 1)
    x = WindowSet([a, b, c], [0, 1, 2])
    assert len(x) == 6 and x.series_index.tolist() == [1, 1, 1, 1, 2, 2]
    torch.testing.assert_close(x[torch.tensor([5, 0, 4])], torch.cat([c[1:], b[:1], c[:1]]))
