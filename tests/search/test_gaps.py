"""Nothing invented is scored or served: bounded interpolation, observed targets only, and
predict inputs whose last rows are missing refused (``search.worker.gaps``)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from search.errors import DataError, UsageError
from search.worker import gaps
from search.worker.baselines import forecast_baselines
from search.worker.load import load_series
from tests.conftest import write_series


def cfg(path, **overrides):
    out = {"path": str(path), "time_column": "t", "target": ("y",), "features": (), "missing": "interpolate",
           "split": (0.7, 0.15, 0.15), "scaler": "standard", "lookback": 10, "horizon": 3, "stride": 1}  # fmt: skip
    return out | overrides


def test_a_gap_longer_than_max_gap_is_refused_naming_the_rows(tmp_path):
    path = write_series(tmp_path / "s.csv", 400, gaps=tuple(range(100, 130)))  # 30 rows, default bound 24 (season 25 detected)
    with pytest.raises(DataError) as info:
        load_series(cfg(path, season=12))
    assert "data.max_gap: column 'y' of s.csv has 30 missing rows in a row (rows 101-130), more than max_gap 12 (the longest data.season)" in str(info.value)
    series = load_series(cfg(path, max_gap=30))
    assert series.info["max_gap"] == 30 and not np.isnan(series.values).any()


def test_missing_values_at_the_end_are_not_invented(tmp_path):
    path = write_series(tmp_path / "s.csv", 200, gaps=tuple(range(170, 200)))  # the whole test part
    with pytest.raises(DataError, match=r"data.missing: column 'y' of s.csv has no value in rows 171-200, after its last observed value"):
        load_series(cfg(path, max_gap=100))
    first = write_series(tmp_path / "f.csv", 200, gaps=(0, 1))
    with pytest.raises(DataError, match=r"no value in rows 1-2, before its first observed value"):
        load_series(cfg(first))


def test_a_part_whose_targets_were_filled_is_refused_naming_it(tmp_path):
    path = write_series(tmp_path / "s.csv", 200, gaps=tuple(range(140, 170)))  # the validation part: rows 141-170
    with pytest.raises(DataError) as info:
        load_series(cfg(path, max_gap=40))
    assert "data.missing: the validation part has 0 of 28 windows with observed targets, forecasting 0% of its observed rows (missing targets in rows 141-170)" in str(info.value)


def test_sporadic_missing_rows_leave_the_windows_between_them_scored(tmp_path):
    # one row in 20 missing through the file: under half of the 14-step windows are whole, but
    # from every origin they still forecast most observed rows; from every 14th origin each
    # lost window loses its rows, and the refusal says which origins would do
    rng = np.random.default_rng(4)
    missing = tuple(int(r) for r in np.flatnonzero(rng.random(1200) < 0.05) if 5 < r < 1195)
    path = write_series(tmp_path / "s.csv", 1200, gaps=missing)
    series = load_series(cfg(path, horizon=14, eval_origins="every"))
    (scored, windows, share), = gaps.scored_share(series, "val", 14, 1)
    assert scored < gaps.MIN_SCORED * windows <= share * windows  # refused by whole windows, kept by rows
    with pytest.raises(DataError) as info:
        load_series(cfg(path, horizon=14, eval_origins="horizon"))
    assert "windows with observed targets, forecasting" in str(info.value) and "score from every step (eval_origins: every)" in str(info.value)


def test_filled_targets_are_never_scored_and_every_lookback_sees_the_same(tmp_path):
    path = write_series(tmp_path / "s.csv", 400, gaps=(300, 301))  # inside the validation part (rows 280-339)
    series = load_series(cfg(path))
    assert series.info["filled_target_rows"] == 2
    targets = series.scored_targets("val", 3)
    assert targets["windows"] == 58 - 4 and targets["unscored_windows"] == 4  # origins 298..301 reach a filled row
    _, y5 = series.windows("val", 5, 3)
    _, y20 = series.windows("val", 20, 3)
    assert len(y5) == targets["windows"] and torch_equal(y5, y20)
    filled = series.values[300:302, 0]  # the made-up values (scaled)
    assert not np.isclose(y5.numpy().ravel()[:, None], filled[None, :], atol=1e-6).any()
    file_values = pd.read_csv(path)["y"].to_numpy()
    scored = y5.numpy().ravel().astype(np.float64) * series.scale[0] + series.offset[0]
    nearest = np.abs(scored[:, None] - file_values[None, ~np.isnan(file_values)]).min(axis=1)
    assert nearest.max() < 1e-3  # every scored target is a value of the file
    # the naive baselines are scored on the same windows
    attrs = forecast_baselines(series, 10, 3, [25])
    x, y = series.windows("val", 25, 3)
    assert len(x) == targets["windows"] and "baseline_naive_val_rmse" in attrs
    # no gap in the test part: every window scored
    assert series.scored_targets("test", 3).get("unscored_windows") == 0


def torch_equal(a, b) -> bool:
    return bool((a == b).all())


def test_predict_input_ending_without_a_target_is_refused():
    table = pd.DataFrame({"y": [1.0, 2.0, 3.0, np.nan, np.nan]})
    with pytest.raises(UsageError, match=r"--input: the input ends with 2 rows without every target \(y; rows 4-5\)"):
        gaps.fill_input(table, 1, 3, 24, "the input")
    with pytest.raises(UsageError, match="ends with 5 rows"):
        gaps.fill_input(pd.DataFrame({"y": [np.nan] * 5}), 1, 3, 24, "the input")


def test_predict_input_with_too_many_missing_targets_in_its_lookback_is_refused():
    values = np.arange(60, dtype=float)
    values[[40, 41, 42, 50]] = np.nan
    table = pd.DataFrame({"y": values})
    with pytest.raises(UsageError) as info:
        gaps.fill_input(table, 1, 30, 3, "series 'a'")
    assert "--input: series 'a' has 4 rows with a missing target among its last 30 (the lookback; rows 41-43, row 51), more than the 3" in str(info.value)
    filled = gaps.fill_input(table, 1, 30, 4, "series 'a'")
    assert filled[40, 0] == pytest.approx(40.0) and filled[50, 0] == pytest.approx(50.0)


def test_predict_input_text_cell_names_the_row():
    table = pd.DataFrame({"y": ["1", "2", "oops", "4"]})
    with pytest.raises(UsageError, match=r"--input: column 'y' of the input, row 3: 'oops' is not a number"):
        gaps.fill_input(table, 1, 2, 24, "the input")


def test_the_bound_comes_from_the_space_or_the_seasons():
    assert gaps.max_gap({"max_gap": 5}, lambda: [52]) == (5, "data.max_gap")
    assert gaps.max_gap({"season": [7, 30]}, lambda: [52])[0] == 30
    assert gaps.max_gap({}, lambda: [52])[0] == 52
    assert gaps.max_gap({}, lambda: []) == (gaps.DEFAULT_MAX_GAP, "the default")
    assert gaps.input_bound({"max_gap": 9, "data": {}}) == 9 and gaps.input_bound({"data": {}}) == 24


def test_a_checkpoint_whose_file_is_gone_is_one_line(tmp_path):
    """predict / load_best when the artifact files were deleted: one line naming the trial and
    the folder, and no empty artifact folder made where there was none."""
    import optuna
    from optuna.artifacts import FileSystemArtifactStore

    from search.errors import CheckpointError
    from search.results import loading

    (tmp_path / "arts").mkdir()
    trial = optuna.trial.create_trial(value=1.0, user_attrs={"checkpoint": "0123abcd-0000-0000-0000-000000000000"})
    with pytest.raises(CheckpointError, match=r"trial #0: its checkpoint 0123abcd-0000-0000-0000-000000000000 is not in .*arts \(deleted or moved\?\)"):
        loading._load_trial(trial, "trial #0", FileSystemArtifactStore(str(tmp_path / "arts")))
    study = optuna.create_study(storage=f"sqlite:///{tmp_path}/s.db", study_name="s")
    study.set_user_attr("artifacts", str(tmp_path / "gone"))
    before = sorted(p.name for p in tmp_path.iterdir())
    with pytest.raises(CheckpointError, match="study 's': its artifact folder .* does not exist"):
        loading._artifact_store(study, f"sqlite:///{tmp_path}/s.db", None)
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # no empty folder made
