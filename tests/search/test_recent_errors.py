"""The served forecaster's intervals scaled by its recent errors and calibrated online
(``search.results.recent_errors``): the scale, the rule that no target is used before it is
known, and what the scaling is for: a series whose volatility moves."""

from __future__ import annotations

import numpy as np
import pytest

from search.results import forecast_intervals, recent_errors
from search.worker import intervals

LEVELS = (80.0, 95.0)


def test_the_recent_scale_is_the_mean_error_of_the_latest_known_windows():
    errors = np.array([[1.0], [2.0], [3.0], [4.0], [5.0], [6.0]])  # (N, T) windows 0..5, origins 10..15
    origins = np.arange(10, 16)
    series = np.zeros(6, dtype=np.int64)
    got = recent_errors.recent_scale(errors, series, origins, horizon=2, k=2)
    # window at origin 13 knows the windows ending by row 13: origins 10 and 11 (10 + 2 <= 13, 11 + 2 <= 13)
    assert got[3, 0] == pytest.approx((1 + 2) / 2)
    assert got[5, 0] == pytest.approx((3 + 4) / 2)  # the latest two of the four known
    assert got[2, 0] == pytest.approx(1.0)  # one known window is enough for k = 2 (ceil(k / 2))
    assert np.isnan(got[:2, 0]).all()  # none known yet
    # another series' windows never count
    two = recent_errors.recent_scale(np.vstack([errors, [[100.0]]]), np.r_[series, 1], np.r_[origins, 14], horizon=2, k=2)
    assert two[5, 0] == pytest.approx(3.5) and np.isnan(two[6, 0])


def test_the_recent_windows_are_a_horizons_worth_of_origins():
    assert recent_errors.recent_windows(24, 1) == 24
    assert recent_errors.recent_windows(24, 24) == 1
    assert recent_errors.recent_windows(12, 5) == 3
    assert recent_errors.recent_windows(12, 1) == 12


def test_a_short_horizon_reads_at_least_twenty_rows_of_errors_where_the_data_allows():
    # one latest error is no scale: |e_t| / |e_(t-1)| has tails like a Cauchy variable's
    assert recent_errors.MIN_RECENT_ROWS == 20
    assert recent_errors.recent_windows(1, 1) == 20  # 20 one-step windows: 20 rows
    assert recent_errors.recent_windows(5, 5) == 4  # 4 windows of 5 rows
    assert recent_errors.recent_windows(7, 1) == 14  # overlapping: rows origin .. origin + 19
    # but not so many that most validation windows have no scale to be calibrated with
    assert recent_errors.recent_windows(1, 1, available=8) == 6
    assert recent_errors.recent_windows(5, 1, available=9) == 5  # never below a horizon's worth


def test_a_one_step_forecasts_bounds_are_not_blown_up_by_one_small_error():
    """Gaussian errors, horizon 1: scaled by the one latest error, the 95 % bound came out
    several times the noise's own; scaled by 20 it is close to 1.96 sigma and still covers."""
    rng = np.random.default_rng(3)
    y = rng.standard_normal((1200, 1, 1))
    got = _online(y, np.zeros_like(y), horizon=1)
    assert got["scaled"]["windows"] == 20
    width_95 = float(np.mean(got["test_hi"][1] - got["test_lo"][1]))
    covered = np.mean((y[600:] >= got["test_lo"][1]) & (y[600:] <= got["test_hi"][1])) * 100
    assert 2 * 1.96 * 0.95 <= width_95 <= 2 * 1.96 * 1.25 and abs(covered - 95) <= 2.5, (width_95, covered)


def _online(y, point, horizon=4, step=1, method="symmetric", floor=None):
    n_val = len(y) // 2
    origins = np.arange(len(y)) * step + 100
    split = {"val": slice(0, n_val), "test": slice(n_val, None)}
    parts = {p: (y[s], point[s], np.zeros(len(y[s]), dtype=np.int64), origins[s]) for p, s in split.items()}
    starts = np.array([origins[n_val]])
    return recent_errors.calibrate_online(
        {p: v[0] for p, v in parts.items()}, {p: v[1] for p, v in parts.items()}, {p: v[2] for p, v in parts.items()},
        {p: v[3] for p, v in parts.items()}, starts, horizon, step, LEVELS, method, 1, floor,
    )


def test_no_test_window_is_drawn_with_a_target_not_yet_known():
    rng = np.random.default_rng(0)
    horizon, n = 4, 400
    y = rng.standard_normal((n, horizon, 1))
    point = np.zeros_like(y)
    before = _online(y, point, horizon)
    n_val = n // 2
    # change the targets of test window 120 (rows origin .. origin + 3) to something wild
    changed = y.copy()
    j = n_val + 120
    changed[j] = 50.0
    after = _online(changed, point, horizon)
    origin_j = 100 + j
    test_origins = 100 + np.arange(n_val, n)
    unaffected = test_origins < origin_j + horizon  # windows whose origin came before those targets were known
    np.testing.assert_array_equal(before["test_lo"][:, unaffected], after["test_lo"][:, unaffected])
    np.testing.assert_array_equal(before["test_hi"][:, unaffected], after["test_hi"][:, unaffected])
    assert not np.array_equal(before["test_hi"][:, ~unaffected], after["test_hi"][:, ~unaffected])  # later ones did learn from it
    # the calibration kept for new data saw every window
    assert after["calibration"].windows > before["calibration"].windows - 1
    assert after["scaled"]["by"] == recent_errors.BY and after["scaled"]["windows"] == 17  # covering 20 rows: origins o-16 .. o+3


def test_scaled_intervals_cover_where_the_volatility_moves_and_split_conformal_does_not():
    """A stormy validation part (error scale 3) and a test part of calmer stretches (scale 1
    and 2, 300 windows each): split conformal calibrated on the storm over-covers; scaled by
    the recent errors, the intervals keep their level."""
    rng = np.random.default_rng(3)
    horizon, half = 6, 3000
    scale = np.r_[np.full(half, 3.0), np.repeat(np.tile([1.0, 2.0], half // 600), 300)]
    steps = np.sqrt(np.arange(1, horizon + 1))  # errors grow with the horizon step
    y = rng.standard_normal((2 * half, horizon, 1)) * scale[:, None, None] * steps[None, :, None]
    point = np.zeros_like(y)
    got = _online(y, point, horizon)
    scored = intervals.interval_scores(y[half:], got["test_lo"], got["test_hi"], LEVELS)
    static = intervals.calibrate(y[:half], point[:half], point[:half], LEVELS, "symmetric")
    lo, hi = static.bounds(point[half:], point[half:])
    plain = intervals.interval_scores(y[half:], lo, hi, LEVELS)
    assert abs(scored["coverage_80"] - 80) <= 3, scored
    assert abs(scored["coverage_95"] - 95) <= 2, scored
    assert plain["coverage_80"] > 95  # calibrated on the storm, the static intervals cover nearly everything
    assert scored["interval_score"] < 0.8 * plain["interval_score"]


def test_on_steady_noise_the_scaled_intervals_keep_their_level():
    rng = np.random.default_rng(11)
    horizon, n = 3, 4000
    y = rng.standard_t(3, (n, horizon, 1))
    got = _online(y, np.zeros_like(y), horizon)
    scored = intervals.interval_scores(y[n // 2 :], got["test_lo"], got["test_hi"], LEVELS)
    assert abs(scored["coverage_80"] - 80) <= 3 and abs(scored["coverage_95"] - 95) <= 2, scored


def test_signed_scores_give_a_skewed_band():
    rng = np.random.default_rng(5)
    y = rng.exponential(1.0, (2000, 2, 1))  # errors all above the point forecast
    got = _online(y, np.zeros_like(y), 2, method="signed")
    assert (got["test_lo"] > 0).all()  # the band sits above the point forecast, as every error did
    scored = intervals.interval_scores(y[1000:], got["test_lo"], got["test_hi"], LEVELS)
    assert abs(scored["coverage_80"] - 80) <= 3, scored


def test_window_origins_place_each_series_latest_windows():
    class Two:
        observed = None

        def series_starts(self):
            return [0, 50]

        def parts(self, name):
            return [(30, 40), (80, 90)]  # rows of each series' part

    # horizon 2, every origin: origins 30..38 and 80..88, counted from each series' first row
    every = recent_errors.window_origins(Two(), "test", 2, 1)
    np.testing.assert_array_equal(every, np.r_[np.arange(30, 39), np.arange(30, 39)])
    # a longer lookback left out the first windows of the second series
    index = np.r_[np.zeros(9, dtype=np.int64), np.ones(6, dtype=np.int64)]
    placed = recent_errors.window_origins(Two(), "test", 2, 1, index)
    np.testing.assert_array_equal(placed[9:], np.arange(33, 39))
    assert recent_errors.window_origins(Two(), "test", 2, 1, np.ones(12, dtype=np.int64)) is None


def test_a_forecast_without_recent_windows_takes_the_recorded_scale():
    class Short:
        series_id = None

        def _in_order(self, frame):
            return frame

        def recent_forecasts(self, name, part, windows, step):
            return None  # too short an input

    scaled = {"windows": 3, "step": 1, "default": [[2.5]], "pooled_default": [9.0]}
    np.testing.assert_array_equal(forecast_intervals._recent_scale(Short(), None, "", [], scaled), [2.5])
    two = {**scaled, "default": [[2.5], [4.0]]}
    np.testing.assert_array_equal(forecast_intervals._recent_scale(Short(), None, "b", ["a", "b"], two), [4.0])
    np.testing.assert_array_equal(forecast_intervals._recent_scale(Short(), None, "new", ["a", "b"], two), [9.0])
    assert recent_errors.forecast_scale(np.ones((2, 3, 1)), np.ones((2, 3, 1))) is None  # a perfect fit gives no scale
    np.testing.assert_allclose(recent_errors.forecast_scale(np.ones((2, 3, 1)), np.zeros((2, 3, 1))), [1.0])


def test_a_long_test_part_is_recalibrated_in_bounded_blocks_and_still_never_looks_ahead(monkeypatch):
    monkeypatch.setattr(recent_errors, "MAX_RECALIBRATIONS", 10)
    rng = np.random.default_rng(2)
    horizon, n = 1, 1000  # horizon 1: a block per row unless bounded
    y = rng.standard_normal((n, horizon, 1))
    point = np.zeros_like(y)
    calls = []
    real = recent_errors._calibrate
    monkeypatch.setattr(recent_errors, "_calibrate", lambda *a, **k: calls.append(1) or real(*a, **k))
    before = _online(y, point, horizon)
    assert len(calls) == 10 + 1  # ten blocks of 50 test rows, and the final calibration
    changed = y.copy()
    changed[n // 2 + 120] = 50.0  # test window 120's target, known from window 121's origin on (third block: 100..149)
    after = _online(changed, point, horizon)
    np.testing.assert_array_equal(before["test_hi"][:, :121], after["test_hi"][:, :121])  # before it was known: unchanged
    # after it: the next windows' recent scale holds it at once, the calibration from the next block on
    assert not np.array_equal(before["test_hi"][:, 121:150], after["test_hi"][:, 121:150])
    assert not np.array_equal(before["test_hi"][:, 150:], after["test_hi"][:, 150:])


def test_bounds_stop_at_a_floor_that_only_narrows_them():
    """Counts around a forecast of 0.7: a symmetric band reaches below zero; floored there it
    covers the same targets (none is below zero) with a lower interval score."""
    rng = np.random.default_rng(9)
    y = rng.poisson(0.7, (1200, 2, 1)).astype(float)
    point = np.full_like(y, 0.7)
    plain, floored = _online(y, point, 2), _online(y, point, 2, floor=[0.0])
    assert "floor" not in plain["scaled"] and floored["scaled"]["floor"] == [0.0]
    assert (plain["test_lo"] < 0).any() and (floored["test_lo"] >= 0).all()
    np.testing.assert_array_equal(floored["test_hi"], plain["test_hi"])
    before, after = (intervals.interval_scores(y[600:], r["test_lo"], r["test_hi"], LEVELS) for r in (plain, floored))
    assert after["coverage_80"] == before["coverage_80"] and after["coverage_95"] == before["coverage_95"]
    assert after["interval_score"] < before["interval_score"]


def test_the_floor_is_zero_where_no_known_target_is_negative(tmp_path):
    from search.results.served_intervals import target_floor
    from search.worker.load import load_series
    from tests.search.test_data import data_cfg

    def floor_of(y):
        path = tmp_path / "s.csv"
        path.write_text("t,y\n" + "".join(f"{i},{v}\n" for i, v in enumerate(y)))
        return target_floor(load_series(data_cfg(path)))

    counts = np.random.default_rng(1).poisson(0.5, 200)
    assert floor_of(counts) == [pytest.approx(0.0, abs=1e-6)]  # zero as the scaler returns it
    assert floor_of(counts + 5) == [0.0]
    assert floor_of(np.r_[counts[:50], -1, counts[51:]]) == [None]  # a negative value in training
    assert floor_of(np.r_[counts[:190], -1, counts[191:]]) == [pytest.approx(0.0, abs=1e-6)]  # only in test: not read
