"""Data preparation: missing values, chronological splits, train-only scaling, windows as views."""

from __future__ import annotations

import numpy as np
import pytest

from search.worker.data import check_windows_fit, windows
from search.worker.load import load_series
from search.errors import DataError
from tests.conftest import write_series


def data_cfg(path, **overrides):
    cfg = {
        "path": str(path),
        "time_column": "t",
        "target": ("y",),
        "features": (),
        "missing": "interpolate",
        "split": (0.7, 0.15, 0.15),
        "scaler": "standard",
        "lookback": 10,
        "horizon": 1,
        "stride": 1,
    }
    cfg.update(overrides)
    return cfg


def test_missing_values_interpolated_and_recorded(tmp_path):
    path = write_series(tmp_path / "s.csv", 100, gaps=(10, 11, 50))
    series = load_series(data_cfg(path))
    assert not np.isnan(series.values).any()
    assert series.info["missing_rows"] == 3 and series.info["missing_policy"] == "interpolate"
    raw = series.values[:, 0] * series.scale[0] + series.offset[0]
    # linear interpolation: the filled rows lie on the line between their neighbours
    assert raw[10] == pytest.approx(raw[9] + (raw[12] - raw[9]) / 3, abs=1e-4)


def test_missing_policy_drop_and_error(tmp_path):
    path = write_series(tmp_path / "s.csv", 100, gaps=(5, 6))
    assert load_series(data_cfg(path, missing="drop")).info["rows"] == 98
    with pytest.raises(DataError, match="data.missing: s.csv has 2 rows with missing values"):
        load_series(data_cfg(path, missing="error"))


def test_unknown_column_names_key_and_suggests(tmp_path):
    path = write_series(tmp_path / "s.csv", 50)
    with pytest.raises(DataError) as info:
        load_series(data_cfg(path, target=("yy",)))
    assert "data.target: column 'yy' is not in s.csv; did you mean 'y'?" in str(info.value)


def test_missing_file_names_key(tmp_path):
    with pytest.raises(DataError, match="data.path: no such file"):
        load_series(data_cfg(tmp_path / "nope.csv"))


def test_scaler_is_fit_on_training_part_only(tmp_path):
    path = write_series(tmp_path / "s.csv", 200)
    base = load_series(data_cfg(path))
    # Change every validation and test value: the scaler must not move.
    lines = path.read_text().splitlines()
    a = base.bounds[0]
    for i in range(a + 1, len(lines)):
        t, y, x = lines[i].split(",")
        lines[i] = f"{t},{float(y) * 100 + 1000},{x}"
    path.write_text("\n".join(lines) + "\n")
    changed = load_series(data_cfg(path))
    np.testing.assert_array_equal(base.offset, changed.offset)
    np.testing.assert_array_equal(base.scale, changed.scale)
    train = changed.values[:a, 0]
    assert abs(train.mean()) < 1e-5 and abs(train.std() - 1) < 1e-4


def test_windows_are_views_training_inside_its_part_scored_parts_reaching_back(tmp_path):
    path = write_series(tmp_path / "s.csv", 300)
    series = load_series(data_cfg(path))
    lookback, horizon = 12, 3
    for part in ("train", "val", "test"):
        start, end = series.part(part)
        x, y = windows(series, part, lookback, horizon)
        first = start if part == "train" else start - lookback  # the first input row
        assert x.shape == (end - first - lookback - horizon + 1, lookback, 1)
        assert y.shape == (x.shape[0], horizon, 1)
        # views: no copy of the series per window
        assert x.untyped_storage().data_ptr() == series.values[first:end].ctypes.data
        # the last window's target ends exactly at the part's last row
        np.testing.assert_array_equal(y[-1, -1].numpy(), series.values[end - 1, :1])
        np.testing.assert_array_equal(x[0, 0].numpy(), series.values[first])
        # targets follow their inputs; a scored part's first target is its first row
        np.testing.assert_array_equal(y[0, 0].numpy(), series.values[first + lookback, :1])
        if part != "train":
            np.testing.assert_array_equal(y[0, 0].numpy(), series.values[start, :1])


def test_windows_memory_is_proportional_to_the_series():
    from search.worker.data import SeriesData

    n = 1_000_000
    values = np.random.default_rng(0).standard_normal((n, 1)).astype(np.float32)
    series = SeriesData(values, 1, (n - 2000, n - 1000), np.zeros(1, np.float32), np.ones(1, np.float32), ("y",))
    x, y = windows(series, "train", 512, 1)
    assert x.shape == (n - 2000 - 512, 512, 1)
    # 512x more elements than the series, but no new memory: the windows share the series' buffer
    assert x.untyped_storage().data_ptr() == values.ctypes.data
    assert x.untyped_storage().nbytes() <= values.nbytes
    assert x.numel() > 500 * values.size


def test_windows_must_fit_every_part(tmp_path):
    path = write_series(tmp_path / "s.csv", 100)
    series = load_series(data_cfg(path))
    check_windows_fit(series, 20, 1)  # validation inputs reach back into the training part
    with pytest.raises(DataError, match="data.lookback: the train part has 70 rows, fewer than lookback 70"):
        check_windows_fit(series, 70, 1)
    with pytest.raises(DataError, match="data.horizon: the val part has 15 rows, fewer than horizon 16"):
        check_windows_fit(series, 20, 16)
