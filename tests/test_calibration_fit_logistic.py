"""avsync.calibration.fit_logistic, the library's one weighted logistic-regression fit, against the formulas it
replaced (copied here as the references: the Platt fit of avsync.training.spoof, the head fit of
avsync.training.spoof_head, the fusion fit of avsync.calibration.fit, scikit-learn's LogisticRegression of
benchmarks/calibrate_sync_windows.py) on seeded data."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import minimize

from avsync.calibration import fit, fit_logistic
from avsync.errors import ConfigError
from avsync.fusion import sigmoid


# ------------------------------------------------------------------ the replaced formulas (references)
def _old_fit_platt(z: np.ndarray, y: np.ndarray, ridge: float = 1e-3) -> tuple[float, float]:
    """avsync.training.spoof.fit_platt before it called fit_logistic."""
    z = np.asarray(z, float)
    y = np.asarray(y, float)
    s = float(np.std(z)) or 1.0
    zs = (z - z.mean()) / s
    w = np.where(y == 1, 0.5 / max(y.mean(), 1e-9), 0.5 / max(1 - y.mean(), 1e-9)) / len(y)

    def f(v: np.ndarray) -> tuple[float, np.ndarray]:
        t = v[0] * zs + v[1]
        loss = np.sum(w * (np.logaddexp(0, t) - y * t)) + ridge * v[0] ** 2
        p = 1 / (1 + np.exp(-t))
        return loss, np.array([np.sum(w * (p - y) * zs) + 2 * ridge * v[0], np.sum(w * (p - y))])

    v = minimize(f, np.array([1.0, 0.0]), jac=True, method="L-BFGS-B").x
    a = v[0] / s
    return float(a), float(v[1] - a * z.mean())


def _old_head_fit(X: np.ndarray, y: np.ndarray, w: np.ndarray, l2: float) -> tuple[np.ndarray, float]:
    """avsync.training.spoof_head.fit_logistic (removed)."""
    d = X.shape[1]

    def f(v: np.ndarray) -> tuple[float, np.ndarray]:
        t = X @ v[:d] + v[d]
        loss = np.sum(w * (np.logaddexp(0, t) - y * t)) + l2 * v[:d] @ v[:d]
        g = w * (1 / (1 + np.exp(-t)) - y)
        return loss, np.concatenate([X.T @ g + 2 * l2 * v[:d], [g.sum()]])

    v = minimize(f, np.zeros(d + 1), jac=True, method="L-BFGS-B", options={"maxiter": 2000}).x
    return v[:d], float(v[d])


def _old_fusion_fit(X: np.ndarray, y: np.ndarray, sw: np.ndarray, l2: float, n_cues: int,
                    nonnegative: bool) -> tuple[np.ndarray, float]:
    """The weights and bias of avsync.calibration.fit before it called fit_logistic (clipped log-likelihood)."""

    def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
        w, b = theta[:-1], theta[-1]
        z = X @ w + b
        p = sigmoid(z)
        nll = -np.sum(sw * (y * np.log(np.clip(p, 1e-12, 1)) + (1 - y) * np.log(np.clip(1 - p, 1e-12, 1))))
        grad_z = sw * (p - y)
        return nll + l2 * np.sum(w**2), np.r_[X.T @ grad_z + 2 * l2 * w, grad_z.sum()]

    bounds = [(0.0, None) if nonnegative else (None, None)] * X.shape[1] + [(None, None)]
    start = np.r_[np.ones(n_cues), np.zeros(X.shape[1] - n_cues), 0.0]
    res = minimize(loss, start, jac=True, method="L-BFGS-B", bounds=bounds)
    return res.x[:-1], float(res.x[-1])


# ------------------------------------------------------------------------------------ equivalence
def test_fit_platt_unchanged() -> None:
    """The Platt fit of the spoof, head, fine-tuning and artefact recipes: as before to 1e-12 (measured 1.4e-14
    over 200 seeds, separable sets included)."""
    from avsync.training.spoof import fit_platt

    for seed in range(40):
        rng = np.random.default_rng(seed)
        n = int(rng.integers(20, 2000))
        z = rng.normal(rng.uniform(-3, 3), rng.uniform(0.1, 5), n)
        a0, b0 = rng.uniform(-3, 3, 2)
        y = (rng.random(n) < 1 / (1 + np.exp(-(a0 * z + b0)))).astype(float)
        if seed % 10 == 0:
            y = (z > np.median(z)).astype(float)  # separable: the ridge keeps it finite
        if y.min() == y.max():
            continue
        np.testing.assert_allclose(fit_platt(z, y), _old_fit_platt(z, y), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_head_fit_unchanged(dtype: type) -> None:
    """The voice-model head's fit (spoof_head): bit-identical, float32 hidden vectors included."""
    for seed in range(8):
        rng = np.random.default_rng(seed)
        n, d = int(rng.integers(50, 600)), int(rng.integers(1, 30))
        X = rng.normal(size=(n, d)).astype(dtype)
        y = (rng.random(n) < 1 / (1 + np.exp(-(X @ rng.normal(size=d) * 0.5)))).astype(float)
        w = rng.uniform(0.1, 1, n)
        w /= w.sum()
        for l2 in (1e-4, 1e-2, 1.0):
            coef, bias = fit_logistic(X, y, sample_weight=w, l2=l2, maxiter=2000)
            c0, b0 = _old_head_fit(X, y, w, l2)
            assert np.array_equal(coef, c0) and bias == b0


def test_fusion_fit_unchanged() -> None:
    """The fusion fit: the exact log loss (logaddexp) replaces a log-likelihood clipped at 1e-12; the weights and
    bias agree to 1e-9 (measured 1.7e-12 over 200 seeds, fused logits up to 48, bounds and availability
    terms included), the fitted probabilities to 1e-10."""
    for seed in range(60):
        rng = np.random.default_rng(seed)
        n, k = int(rng.integers(30, 400)), int(rng.integers(1, 5))
        y = rng.integers(0, 2, n).astype(float)
        P = np.clip(rng.uniform(0, 1, (n, k)) + 0.3 * (y[:, None] - 0.5) * rng.uniform(0, 2, k), 1e-4, 1 - 1e-4)
        X = np.log(P / (1 - P))
        if seed % 2:
            A = (rng.random((n, k)) < 0.2).astype(float)
            X = np.hstack([X * (1 - A), A])
        sw = rng.uniform(0.2, 1, n)
        sw /= sw.sum()
        nonneg = seed % 4 >= 2
        l2 = (1e-2, 1e-4, 1e-3)[seed % 3]
        w, b = fit_logistic(X, y, sample_weight=sw, l2=l2, bounds=[(0.0, None)] * X.shape[1] if nonneg else None,
                            start=np.r_[np.ones(k), np.zeros(X.shape[1] - k), 0.0])
        w0, b0 = _old_fusion_fit(X, y, sw, l2, k, nonneg)
        np.testing.assert_allclose(np.r_[w, b], np.r_[w0, b0], rtol=0, atol=1e-9)
        np.testing.assert_allclose(sigmoid(X @ w + b), sigmoid(X @ w0 + b0), rtol=0, atol=1e-10)


def test_calibration_fit_uses_it() -> None:
    """avsync.calibration.fit's weights, bias and availability terms are fit_logistic's on its design matrix."""
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 200)
    rows = [{"sync": float(np.clip(rng.normal(0.3 + 0.4 * t, 0.2), 0.01, 0.99)),
             "spoof": None if rng.random() < 0.3 else float(np.clip(rng.normal(0.4 + 0.2 * t, 0.2), 0.01, 0.99))}
            for t in y]
    cfg = fit(rows, y, cues=["sync", "spoof"], availability=True, nonnegative=True, l2=1e-3)
    from avsync.calibration import availability_matrix, design_matrix

    X = np.hstack([design_matrix(rows, ["sync", "spoof"]), availability_matrix(rows, ["sync", "spoof"])])
    w0, b0 = _old_fusion_fit(X, y.astype(float), np.full(len(y), 1 / len(y)), 1e-3, 2, True)
    got = [cfg.weights["sync"], cfg.weights["spoof"], cfg.missing["sync"], cfg.missing["spoof"], cfg.bias]
    np.testing.assert_allclose(got, np.r_[w0, b0], rtol=0, atol=1e-9)


def test_sync_window_slope_matches_sklearn_objective() -> None:
    """benchmarks/calibrate_sync_windows.py: the slope through a fixed midpoint (no intercept) minimises
    scikit-learn's ``LogisticRegression(fit_intercept=False, C=1e6)`` objective. scikit-learn stops at its
    gradient tolerance (1e-4 on the mean loss), up to ~1.6 % off the optimum on windows of this size, so the two
    are compared at the optimum: fit_logistic is within 1e-5 (relative) of a bracketed scalar minimisation."""
    sk = pytest.importorskip("sklearn.linear_model")
    from scipy.optimize import minimize_scalar

    for seed in range(10):
        rng = np.random.default_rng(seed)
        own = rng.normal(0.12, rng.uniform(0.03, 0.08), 337)
        swapped = rng.normal(0.02, rng.uniform(0.03, 0.08), 286)
        mid = float(np.percentile(own, 10))
        x = mid - np.r_[own, swapped]
        y = np.r_[np.zeros(own.size), np.ones(swapped.size)]
        slope = fit_logistic(x, y, l2=0.5 / 1e6, fit_intercept=False)[0][0]
        exact = minimize_scalar(lambda a, x=x, y=y: np.sum(np.logaddexp(0, a * x) - y * a * x) + 0.5e-6 * a * a,
                                bracket=(0, 50), tol=1e-12).x
        assert slope == pytest.approx(exact, rel=1e-5)
        old = sk.LogisticRegression(fit_intercept=False, C=1e6).fit(x[:, None], y).coef_[0, 0]
        assert slope == pytest.approx(old, rel=0.02)


# ------------------------------------------------------------------------------------ options
def test_fixed_coefficients_and_no_intercept() -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(500, 3))
    y = (rng.random(500) < sigmoid(X @ [1.0, -2.0, 0.5] + 0.3)).astype(float)
    coef, b = fit_logistic(X, y)
    # holding one coefficient at its fitted value leaves the others where they were
    c2, b2 = fit_logistic(X, y, fixed={1: coef[1]})
    assert c2[1] == coef[1]
    np.testing.assert_allclose(np.r_[c2, b2], np.r_[coef, b], atol=1e-5)
    # a fixed coefficient is an offset (neither penalised nor bounded): x1 at -1 is -x1 at +1
    c3, b3 = fit_logistic(X, y, fixed={1: -1.0, 2: 0.0}, fit_intercept=False)
    assert b3 == 0.0 and c3[1] == -1.0 and c3[2] == 0.0
    c4, _ = fit_logistic(np.c_[X[:, 0], -X[:, 1]], y, fixed={1: 1.0}, fit_intercept=False)
    assert c4[0] == pytest.approx(c3[0], abs=1e-7)


def test_bounds_and_per_coefficient_l2() -> None:
    rng = np.random.default_rng(1)
    X = rng.normal(size=(400, 2))
    y = (rng.random(400) < sigmoid(X @ [1.5, -1.0])).astype(float)
    coef, _ = fit_logistic(X, y, bounds=[(0.0, None), (0.0, None)])
    assert coef[0] > 1 and coef[1] == 0.0
    # a heavy ridge on one coefficient only shrinks that one
    free, _ = fit_logistic(X, y)
    coef, _ = fit_logistic(X, y, l2=np.array([0.0, 1e4]))
    assert abs(coef[1]) < 0.01 < 0.5 < abs(free[1]) and abs(coef[0] - free[0]) < 0.5
    # a 1-D input is one column
    a, b = fit_logistic(X[:, 0], y)
    assert a.shape == (1,) and np.isfinite(b)


def test_bad_shapes_are_config_errors() -> None:
    X = np.zeros((4, 2))
    with pytest.raises(ConfigError):
        fit_logistic(X, np.zeros(3))
    with pytest.raises(ConfigError):
        fit_logistic(X, np.zeros(4), l2=[1.0, 2.0, 3.0])
    with pytest.raises(ConfigError):
        fit_logistic(X, np.zeros(4), bounds=[(0, None)])
    with pytest.raises(ConfigError):
        fit_logistic(X, np.zeros(4), fixed={5: 1.0})
    with pytest.raises(ConfigError):
        fit_logistic(X, np.zeros(4), start=[1.0, 0.0])
