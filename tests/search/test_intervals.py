"""Split-conformal intervals and interval scores (search.worker.intervals) on series with known noise."""

from __future__ import annotations

import math

import numpy as np
import pytest

from search.worker import intervals

LEVELS = (80, 95)


def _windows(rng, n: int, horizon: int, noise: str, scale: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Targets and point forecasts (n, H, 1) of an AR(1) series forecast by its true mean: the
    error spread grows with the horizon step, the noise Gaussian or Student-t with 3 degrees of freedom."""
    point = rng.normal(0, 5, size=(n, horizon, 1))
    draw = rng.standard_normal if noise == "gaussian" else (lambda size: rng.standard_t(3, size=size))
    steps = np.sqrt(np.arange(1, horizon + 1))[None, :, None]  # spread grows with the step
    return point + scale * steps * draw(size=(n, horizon, 1)), point


@pytest.mark.parametrize("noise", ["gaussian", "student_t"])
@pytest.mark.parametrize("method", ["symmetric", "signed"])
def test_coverage_is_nominal_on_many_test_windows(noise, method):
    rng = np.random.default_rng(7)
    y_val, p_val = _windows(rng, 400, 4, noise)
    y_test, p_test = _windows(rng, 20_000, 4, noise)
    cal = intervals.calibrate(y_val, p_val, p_val, LEVELS, method)
    lo, hi = cal.bounds(p_test, p_test)
    scores = intervals.interval_scores(y_test, lo, hi, LEVELS)
    for level in LEVELS:
        assert abs(scores[f"coverage_{level}"] - level) < 3.0, (level, scores)
        # and per horizon step: the band widens with the step, so no step is over- or under-covered
        for h in range(4):
            covered = np.mean((y_test[:, h] >= lo[LEVELS.index(level), :, h]) & (y_test[:, h] <= hi[LEVELS.index(level), :, h])) * 100
            assert abs(covered - level) < 4.5, (level, h, covered)
    widths = hi[0] - lo[0]
    assert widths[:, 3].mean() > 1.7 * widths[:, 0].mean()  # sqrt(4) / sqrt(1) = 2 times the spread
    assert not cal.short


def test_finite_sample_correction_keeps_the_guarantee_with_few_windows():
    """With n = 19 calibration windows the (n + 1) rank is what makes the mean coverage reach
    the level: the plain 80 % empirical quantile would under-cover."""
    rng = np.random.default_rng(3)
    covered, plain = [], []
    for _ in range(2000):
        y_val, p_val = _windows(rng, 19, 1, "gaussian")
        y_test, p_test = _windows(rng, 50, 1, "gaussian")
        cal = intervals.calibrate(y_val, p_val, p_val, (80,))
        lo, hi = cal.bounds(p_test, p_test)
        covered.append(np.mean((y_test >= lo[0]) & (y_test <= hi[0])))
        q = np.quantile(np.abs(y_val - p_val), 0.8, axis=0)
        plain.append(np.mean(np.abs(y_test - p_test) <= q))
    mean = float(np.mean(covered)) * 100
    assert 80.0 <= mean <= 80.0 + 100 / 20 + 1.0  # between 1 - alpha and 1 - alpha + 1/(n+1)
    assert np.mean(plain) * 100 < mean


@pytest.mark.parametrize("method", ["symmetric", "signed"])
def test_a_level_with_too_few_windows_per_step_pools_the_steps(method):
    """8 validation windows of 12 steps: the 95 % rank (9 of 8) passes every step's scores, so
    each step alone could only give its largest score (covering about 8/9). Pooled over the
    steps, each scaled by its spread over the other windows, both levels are kept on average,
    and the band still widens with the step."""
    rng = np.random.default_rng(5)
    covered, per_step_max, widths = [], [], []
    for _ in range(600):
        y_val, p_val = _windows(rng, 8, 12, "gaussian")
        y_test, p_test = _windows(rng, 30, 12, "gaussian")
        cal = intervals.calibrate(y_val, p_val, p_val, LEVELS, method)
        assert cal.short == ()
        lo, hi = cal.bounds(p_test, p_test)
        covered.append([np.mean((y_test >= lo[i]) & (y_test <= hi[i])) for i in range(2)])
        largest = np.abs(y_val - p_val).max(axis=0)  # what the cut rank used to give
        per_step_max.append(np.mean(np.abs(y_test - p_test) <= largest[None]))
        widths.append((hi[1] - lo[1])[0, :, 0])
    at80, at95 = np.mean(covered, axis=0) * 100
    assert 95.0 <= at95 <= 98.0 and 80.0 <= at80 <= 84.0  # every level pools, alike: they nest
    assert np.mean(per_step_max) * 100 < 91.0
    mean_width = np.mean(widths, axis=0)
    assert mean_width[-1] > 2.5 * mean_width[0]  # sqrt(12): the spread still grows with the step
    # a single window has nothing to pool against: the levels are cut to its largest score
    y_val, p_val = _windows(rng, 1, 12, "gaussian")
    assert intervals.calibrate(y_val, p_val, p_val, LEVELS, method).short == (80.0, 95.0)


def test_signed_intervals_follow_a_skewed_error():
    """A forecast that is biased low: signed residual quantiles shift the band up; the
    symmetric band has the same coverage but is wider."""
    rng = np.random.default_rng(11)
    y_val, p_val = _windows(rng, 2000, 1, "gaussian")
    y_test, p_test = _windows(rng, 20_000, 1, "gaussian")
    bias = 2.0
    p_val, p_test = p_val - bias, p_test - bias
    signed = intervals.calibrate(y_val, p_val, p_val, LEVELS, "signed")
    symmetric = intervals.calibrate(y_val, p_val, p_val, LEVELS, "symmetric")
    lo_s, hi_s = signed.bounds(p_test, p_test)
    lo_a, hi_a = symmetric.bounds(p_test, p_test)
    s, a = intervals.interval_scores(y_test, lo_s, hi_s, LEVELS), intervals.interval_scores(y_test, lo_a, hi_a, LEVELS)
    for level in LEVELS:
        assert abs(s[f"coverage_{level}"] - level) < 2.0
        assert s[f"width_{level}"] < a[f"width_{level}"]
    assert s["interval_score"] < a["interval_score"]
    middle = (lo_s[0] + hi_s[0]) / 2 - p_test
    assert abs(float(middle.mean()) - bias) < 0.2


def test_each_series_gets_its_own_band_and_a_short_one_borrows_the_pooled_scale_free_one():
    rng = np.random.default_rng(5)
    noise = (1.0, 10.0, 4.0)
    parts_val = [_windows(rng, n, 2, "gaussian", scale) for n, scale in zip((500, 500, 5), noise)]
    parts_test = [_windows(rng, 20_000, 2, "gaussian", scale) for scale in noise]
    y_val = np.concatenate([y for y, _ in parts_val])
    p_val = np.concatenate([p for _, p in parts_val])
    ids_val = np.repeat(np.arange(3), [len(y) for y, _ in parts_val])
    scales = np.array([[s] for s in noise])  # each series' scale: its noise level
    cal = intervals.calibrate(y_val, p_val, p_val, LEVELS, series_index=ids_val, scales=scales)
    assert set(cal.own) == {0, 1}  # series 2 has 5 windows: it borrows the pooled band
    for s, (y, p) in enumerate(parts_test):
        lo, hi = cal.bounds(p, p, np.full(len(y), s))
        scores = intervals.interval_scores(y, lo, hi, LEVELS)
        for level in LEVELS:
            assert abs(scores[f"coverage_{level}"] - level) < 3.5, (s, level, scores)
    pooled = intervals.calibrate(y_val, p_val, p_val, LEVELS)  # one band for all: wrong per series
    y, p = parts_test[0]
    lo, hi = pooled.bounds(p, p)
    assert intervals.interval_scores(y, lo, hi, LEVELS)["coverage_80"] > 95


def test_conformalised_quantile_bands_fix_a_too_narrow_head():
    """cqr: a quantile head's 10 %-90 % band that is half as wide as it should be is widened
    to the nominal coverage, per level, from its own base band."""
    rng = np.random.default_rng(2)
    y_val, p_val = _windows(rng, 1000, 1, "student_t")
    y_test, p_test = _windows(rng, 20_000, 1, "student_t")
    half = 0.5 * 1.2816 * math.sqrt(3)  # half the true 80 % half-width of a t(3)
    band = lambda p: (np.stack([p - half, p - half]), np.stack([p + half, p + half]))  # noqa: E731
    cal = intervals.calibrate(y_val, *band(p_val), LEVELS, "cqr")
    lo, hi = cal.bounds(*band(p_test))
    scores = intervals.interval_scores(y_test, lo, hi, LEVELS)
    for level in LEVELS:
        assert abs(scores[f"coverage_{level}"] - level) < 2.5, scores


def test_scores_by_hand():
    y = np.array([[[0.0]], [[2.0]], [[5.0]], [[-1.0]]])  # (4, 1, 1)
    lo = np.full((1, 4, 1, 1), 0.0)
    hi = np.full((1, 4, 1, 1), 3.0)
    scale = np.full((4, 1), 2.0)
    out = intervals.interval_scores(y, lo, hi, (80,), scale)
    assert out["coverage_80"] == pytest.approx(50.0)
    assert out["width_80"] == pytest.approx(3.0)
    # misses: 5 is 2 above, -1 is 1 below; 2/alpha = 10
    assert out["interval_score_80"] == pytest.approx(3.0 + 10 * (2 + 1) / 4)
    assert out["msis_80"] == pytest.approx(out["interval_score_80"] / 2)
    assert out["coverage_error"] == pytest.approx(30.0)
    assert intervals.insample_scale(np.array([1.0, 2.0, 4.0, 1.0, 2.0, 4.0]), 3) == 0.0
    assert intervals.insample_scale(np.array([1.0, 2.0, 4.0, 7.0]), None) == pytest.approx(2.0)


def test_crps_from_many_quantiles_approaches_the_gaussian_value():
    """For y ~ N(0, 1) forecast by N(0, 1), the expected CRPS is 1 / sqrt(pi)."""
    rng = np.random.default_rng(0)
    y = rng.standard_normal((20_000, 1, 1))
    from statistics import NormalDist

    taus = [(k + 0.5) / 99 for k in range(99)]
    quantiles = np.stack([np.full_like(y, NormalDist().inv_cdf(t)) for t in taus])
    assert intervals.crps(y, quantiles, taus) == pytest.approx(1 / math.sqrt(math.pi), rel=0.03)
    # a forecast that is too sure scores worse
    sure = quantiles * 0.3
    assert intervals.crps(y, sure, taus) > intervals.crps(y, quantiles, taus)


def test_level_quantiles_are_sorted_and_the_median_is_the_point():
    point = np.zeros((3, 2, 1))
    lo = np.stack([point - 1, point - 2])
    hi = np.stack([point + 1, point + 2])
    values, taus = intervals.level_quantiles(point, lo, hi, LEVELS)
    assert taus == sorted(taus) and taus[2] == 0.5
    assert np.all(np.diff(values, axis=0) >= 0)
    assert np.array_equal(values[2], point)
