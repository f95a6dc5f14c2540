"""Weights of a convex combination of forecasters, fitted on the validation targets.

``simplex_weights`` finds the weights ``w`` (non-negative, summing to 1) that minimise the
squared error of ``sum_i w_i * forecast_i`` against the targets: a least-squares problem on
the simplex, solved by SLSQP from the equal weights (the problem is convex, so the start does
not decide the answer). A weight below ``MIN_WEIGHT`` is set to zero and the rest are scaled
back to a sum of 1, so a member that adds nothing is dropped, not kept with a weight of 1e-9.
"""

from __future__ import annotations

import numpy as np

MIN_WEIGHT = 0.01


def simplex_weights(forecasts: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """(M,) weights for ``forecasts`` (M, n) against ``truth`` (n,): non-negative, summing to
    1, those under ``MIN_WEIGHT`` zero. Non-finite points are left out of the fit."""
    from scipy.optimize import minimize

    forecasts, truth = np.asarray(forecasts, dtype=np.float64), np.asarray(truth, dtype=np.float64)
    m = len(forecasts)
    if m == 1:
        return np.ones(1)
    ok = np.isfinite(truth) & np.isfinite(forecasts).all(axis=0)
    a, b = forecasts[:, ok].T, truth[ok]  # (n, M), (n,)
    scale = max(float(np.abs(b).mean()), 1e-12)  # a well-conditioned objective whatever the units
    a, b = a / scale, b / scale
    gram, cross = a.T @ a / len(b), a.T @ b / len(b)  # the objective's quadratic form

    def loss(w):
        return float(w @ gram @ w - 2 * w @ cross)

    def grad(w):
        return 2 * (gram @ w - cross)

    start = np.full(m, 1.0 / m)
    found = minimize(loss, start, jac=grad, method="SLSQP", bounds=[(0.0, 1.0)] * m,
                     constraints=[{"type": "eq", "fun": lambda w: w.sum() - 1.0, "jac": lambda w: np.ones_like(w)}],
                     options={"ftol": 1e-12, "maxiter": 500})  # fmt: skip
    w = np.clip(found.x if found.success else _best_vertex(gram, cross), 0.0, None)
    if loss(w) > loss(_best_vertex(gram, cross)):  # never worse than the best single member
        w = _best_vertex(gram, cross)
    w[w < MIN_WEIGHT] = 0.0
    return w / w.sum()


def _best_vertex(gram: np.ndarray, cross: np.ndarray) -> np.ndarray:
    """The weights of the single member with the least squared error."""
    w = np.zeros(len(cross))
    w[int(np.argmin(np.diag(gram) - 2 * cross))] = 1.0
    return w
