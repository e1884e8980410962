"""Fit the fusion model on labelled clips: logistic regression over cue log-odds, optionally isotonic.

``fit(rows, labels)`` takes, for each clip, the clip-level score of every cue (``None`` where the cue was
unusable) and the truth (1 = manipulated), and returns a :class:`~avsync.fusion.FusionConfig` whose
weights, bias and (for ``method="isotonic"``) monotone map reproduce the fitted model. Thresholds are set
so that at most ``max_false_positive_rate`` of the genuine clips are called manipulated.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Literal

import numpy as np
from scipy.optimize import minimize

from avsync.errors import ConfigError
from avsync.fusion import FusionConfig, logit, sigmoid

__all__ = ["fit", "isotonic_fit", "design_matrix"]


def design_matrix(rows: Sequence[Mapping[str, float | None]], cues: Sequence[str]) -> np.ndarray:
    """``[N, K]`` matrix of cue log-odds; a missing cue contributes 0 (no evidence), as in fusion."""
    X = np.zeros((len(rows), len(cues)))
    for i, r in enumerate(rows):
        for j, c in enumerate(cues):
            v = r.get(c)
            if v is not None and np.isfinite(v):
                X[i, j] = logit(v)
    return X


def isotonic_fit(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pool-adjacent-violators: a non-decreasing map from ``x`` to mean ``y``, as knots ``(xs, ys)``."""
    order = np.argsort(x, kind="mergesort")
    xs, ys = np.asarray(x, float)[order], np.asarray(y, float)[order]
    blocks: list[list[float]] = []  # [sum_y, count, x_min, x_max]
    for xi, yi in zip(xs, ys):
        blocks.append([yi, 1.0, xi, xi])
        while len(blocks) > 1 and blocks[-2][0] / blocks[-2][1] >= blocks[-1][0] / blocks[-1][1]:
            s, n, lo, hi = blocks.pop()
            blocks[-1][0] += s
            blocks[-1][1] += n
            blocks[-1][3] = hi
    kx, ky = [], []
    for s, n, lo, hi in blocks:
        kx += [lo, hi]
        ky += [s / n, s / n]
    return np.asarray(kx), np.clip(np.asarray(ky), 0.0, 1.0)


def fit(
    rows: Sequence[Mapping[str, float | None]],
    labels: Sequence[int],
    *,
    cues: Sequence[str] | None = None,
    method: Literal["logistic", "isotonic"] = "logistic",
    l2: float = 1e-2,
    max_false_positive_rate: float = 0.05,
    base: FusionConfig | None = None,
) -> FusionConfig:
    """Fit fusion weights (and thresholds) on labelled clips.

    Parameters
    ----------
    rows
        Per clip, cue name → clip-level probability of manipulation (or ``None``).
    labels
        1 = manipulated, 0 = genuine.
    cues
        Cues to weight (default: every cue seen in ``rows``).
    method
        ``"logistic"`` or ``"isotonic"`` (logistic, then a monotone map to observed frequencies).
    l2
        Ridge penalty on the weights.
    max_false_positive_rate
        The manipulated threshold is raised until at most this share of genuine clips reaches it.
    base
        Config whose other settings are kept.
    """
    y = np.asarray(labels, dtype=float)
    if len(rows) != len(y) or len(y) == 0:
        raise ConfigError("calibration needs as many labels as rows, and at least one of each")
    if not (0 < y.sum() < len(y)):
        raise ConfigError("calibration needs both genuine (0) and manipulated (1) clips")
    names = list(cues) if cues is not None else sorted({k for r in rows for k, v in r.items() if v is not None})
    X = design_matrix(rows, names)

    def loss(theta):
        w, b = theta[:-1], theta[-1]
        z = X @ w + b
        p = sigmoid(z)
        nll = -np.mean(y * np.log(np.clip(p, 1e-12, 1)) + (1 - y) * np.log(np.clip(1 - p, 1e-12, 1)))
        grad_z = (p - y) / len(y)
        return nll + l2 * np.sum(w**2), np.r_[X.T @ grad_z + 2 * l2 * w, grad_z.sum()]

    res = minimize(loss, np.r_[np.ones(len(names)), 0.0], jac=True, method="L-BFGS-B")
    w, b = res.x[:-1], float(res.x[-1])
    cfg = replace(
        base or FusionConfig(),
        weights={n: float(v) for n, v in zip(names, w)},
        bias=b,
        method="logistic",
        isotonic_x=(),
        isotonic_y=(),
        version="calibrated",
    )
    p = sigmoid(X @ w + b)
    if method == "isotonic":
        kx, ky = isotonic_fit(p, y)
        cfg = replace(cfg, method="isotonic", isotonic_x=tuple(map(float, kx)), isotonic_y=tuple(map(float, ky)))
        p = np.interp(p, kx, ky)
    thr = 0.5
    neg = np.sort(p[y == 0])
    k = int(np.floor(max_false_positive_rate * len(neg)))
    if k < len(neg):  # just above the (k+1)-th highest genuine score: at most k genuine clips reach it
        thr = max(0.5, float(np.nextafter(neg[len(neg) - k - 1], 1.0)))
    thr = min(thr, 1.0)
    return replace(cfg, manipulated_threshold=thr, genuine_threshold=min(thr, cfg.genuine_threshold))
