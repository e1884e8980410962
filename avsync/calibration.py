"""Fit the fusion model on labelled clips: logistic regression over cue log-odds, optionally isotonic.

``fit(rows, labels)`` takes, for each clip, the clip-level score of every cue (``None`` where the cue was
unusable) and the truth (1 = manipulated), and returns a :class:`~avsync.fusion.FusionConfig` whose
weights, bias and (for ``method="isotonic"``) monotone map reproduce the fitted model. Thresholds are set
so that at most ``max_false_positive_rate`` of the genuine clips are called manipulated and, with
``max_undetermined_rate``, at most that share of them is left ``undetermined`` (:func:`choose_thresholds`).

``availability=True`` adds one indicator per cue (1 when the cue was not usable) whose fitted weight becomes
the config's availability term ``missing[cue]``: an absent cue then says what its absence is worth instead of
nothing. ``nonnegative=True`` makes the model monotone: no cue's weight nor availability term may be
negative (more suspicious evidence never lowers the fused probability, and a missing cue never counts as
evidence of genuineness).

:func:`fit_logistic` is the library's one weighted logistic-regression fit: the fusion fit above, the Platt
scaling of the trained models (``avsync.training.spoof.fit_platt``), the voice-model head
(``avsync.training.spoof_head``) and the sync-window rule (``benchmarks/calibrate_sync_windows.py``) all call it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Literal

import numpy as np
from scipy.optimize import minimize

from avsync.errors import ConfigError
from avsync.fusion import FusionConfig, logit, sigmoid

__all__ = ["fit", "fit_logistic", "isotonic_fit", "design_matrix", "availability_matrix", "choose_thresholds"]


def fit_logistic(
    X: np.ndarray,
    y: np.ndarray,
    *,
    sample_weight: np.ndarray | None = None,
    l2: float | np.ndarray = 0.0,
    bounds: Sequence[tuple[float | None, float | None]] | None = None,
    fixed: Mapping[int, float] | None = None,
    fit_intercept: bool = True,
    start: Sequence[float] | np.ndarray | None = None,
    maxiter: int = 15000,
) -> tuple[np.ndarray, float]:
    """Weighted binary logistic regression ``P(y = 1 | x) = sigmoid(x @ coef + intercept)``, fitted by L-BFGS-B.

    Minimises the weighted log loss plus a ridge penalty on the coefficients (never on the intercept)::

        sum_i w_i * (log(1 + exp(t_i)) - y_i * t_i) + sum_k l2_k * coef_k ** 2,    t = X @ coef + intercept

    with ``log(1 + exp(t))`` computed as ``logaddexp(0, t)`` (exact for any ``t``) and its analytic gradient.
    The loss is a sum, not a mean: scale ``sample_weight`` (e.g. to sum to 1) to set the weight of the data
    against ``l2``. The problem is convex; with ``l2 > 0`` it stays bounded when the classes separate.

    Parameters
    ----------
    X
        ``[N, K]`` inputs (a ``[N]`` vector is one column). Standardise columns of very different scales
        first: the optimiser's stopping rule is on the gradient, which is scale-dependent.
    y
        ``[N]`` targets, 1 or 0 (values in between are soft targets).
    sample_weight
        ``[N]`` non-negative weight of each row, used as given; default 1 each.
    l2
        Ridge penalty on the coefficients: one value for all, or ``[K]`` values (0 = unpenalised).
    bounds
        ``[K]`` ``(low, high)`` limits of each coefficient, ``None`` for no limit on that side (e.g.
        ``(0.0, None)`` for a non-negative weight); the intercept is never bounded. Default: none.
    fixed
        Coefficients held at a given value instead of fitted, ``{column index: value}``: their columns enter
        the model as a fixed offset (neither penalised nor bounded).
    fit_intercept
        ``False`` fixes the intercept at 0 (e.g. a logistic curve whose midpoint is set beforehand: pass
        ``x - midpoint`` as the one column).
    start
        Starting point, the ``K`` coefficients then (with ``fit_intercept``) the intercept; entries of
        ``fixed`` coefficients are ignored. Default: all 0.
    maxiter
        Iteration limit of L-BFGS-B (scipy's default, 15000, unless given).

    Returns
    -------
    coef, intercept
        ``[K]`` coefficients (``fixed`` ones at their value) and the intercept (0.0 without
        ``fit_intercept``).
    """
    X = np.asarray(X)
    if not np.issubdtype(X.dtype, np.floating):
        X = X.astype(np.float64)  # float32 stays: X @ coef is float64 either way (coef is)
    if X.ndim == 1:
        X = X[:, None]
    if X.ndim != 2:
        raise ConfigError(f"fit_logistic: X must be [N, K], not of shape {X.shape}")
    n, k = X.shape
    y = np.asarray(y, dtype=np.float64).ravel()
    w = np.ones(n) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64).ravel()
    if y.shape != (n,) or w.shape != (n,):
        raise ConfigError(f"fit_logistic: X has {n} rows but y has {y.size} and sample_weight {w.size}")
    pinned = {int(j): float(v) for j, v in (fixed or {}).items()}
    if any(not 0 <= j < k for j in pinned):
        raise ConfigError(f"fit_logistic: fixed column index out of range 0..{k - 1}: {sorted(pinned)}")
    free = [j for j in range(k) if j not in pinned]
    m = len(free)
    if np.ndim(l2) == 0:
        lam: float | np.ndarray = float(l2)
    else:
        lam = np.asarray(l2, dtype=np.float64).ravel()
        if lam.shape != (k,):
            raise ConfigError(f"fit_logistic: l2 needs one value or {k}, not {lam.size}")
        lam = lam[free]
    if bounds is not None and len(bounds) != k:
        raise ConfigError(f"fit_logistic: bounds needs {k} (low, high) pairs, not {len(bounds)}")
    Xf = X[:, free] if pinned else X
    offset = X[:, list(pinned)] @ np.array(list(pinned.values())) if pinned else None
    v0 = np.zeros(m + fit_intercept)
    if start is not None:
        st = np.asarray(start, dtype=np.float64).ravel()
        if st.shape != (k + fit_intercept,):
            raise ConfigError(f"fit_logistic: start needs {k + fit_intercept} values, not {st.size}")
        v0 = np.r_[st[free], st[k:]]

    def loss(v: np.ndarray) -> tuple[float, np.ndarray]:
        c = v[:m]
        t = Xf @ c + v[m] if fit_intercept else Xf @ c
        if offset is not None:
            t = t + offset
        value = np.sum(w * (np.logaddexp(0, t) - y * t)) + lam * c @ c
        g = w * (1 / (1 + np.exp(-t)) - y)
        grad = Xf.T @ g + 2 * lam * c
        return value, np.concatenate([grad, [g.sum()]]) if fit_intercept else grad

    box = None
    if bounds is not None:
        box = [bounds[j] for j in free] + ([(None, None)] if fit_intercept else [])
    v = minimize(loss, v0, jac=True, method="L-BFGS-B", bounds=box, options={"maxiter": maxiter}).x
    coef = np.zeros(k)
    coef[free] = v[:m]
    for j, val in pinned.items():
        coef[j] = val
    return coef, float(v[m]) if fit_intercept else 0.0


def design_matrix(rows: Sequence[Mapping[str, float | None]], cues: Sequence[str]) -> np.ndarray:
    """``[N, K]`` matrix of cue log-odds; a missing cue contributes 0 (no evidence), as in fusion."""
    X = np.zeros((len(rows), len(cues)))
    for i, r in enumerate(rows):
        for j, c in enumerate(cues):
            v = r.get(c)
            if v is not None and np.isfinite(v):
                X[i, j] = logit(v)
    return X


def availability_matrix(rows: Sequence[Mapping[str, float | None]], cues: Sequence[str]) -> np.ndarray:
    """``[N, K]`` indicators: 1 where a cue has no usable score (missing, ``None`` or not finite)."""
    A = np.zeros((len(rows), len(cues)))
    for i, r in enumerate(rows):
        for j, c in enumerate(cues):
            v = r.get(c)
            A[i, j] = 0.0 if (v is not None and np.isfinite(v)) else 1.0
    return A


def choose_thresholds(
    real_scores: Sequence[float | None],
    *,
    required_ok: Sequence[bool] | None = None,
    max_flagged: float = 0.05,
    max_undetermined: float = 0.10,
    floor: float = 0.5,
) -> tuple[float, float]:
    """``(manipulated_threshold, genuine_threshold)`` from the fused scores of genuine clips.

    The manipulated threshold is the lowest value (at least ``floor``) at or above which at most
    ``max_flagged`` of the clips score; the genuine threshold the lowest value at which at most
    ``max_undetermined`` of them are ``undetermined``: scoring in ``[genuine, manipulated)``, or below the
    manipulated threshold without a score or without every required cue (``required_ok`` false: those are
    undetermined whatever the threshold and use up the budget first). When they alone exceed it, the band
    closes (``genuine == manipulated``).
    """
    n = len(real_scores)
    if n == 0:
        raise ConfigError("choosing thresholds needs at least one genuine clip")
    ok = [True] * n if required_ok is None else [bool(x) for x in required_ok]
    p = np.array([np.nan if s is None else float(s) for s in real_scores])
    scored = p[np.isfinite(p)]
    k = int(np.floor(max_flagged * n + 1e-9))
    desc = np.sort(scored)[::-1]
    thr = floor
    if k < len(desc):  # just above the (k+1)-th highest score: at most k clips reach it
        thr = max(floor, float(np.nextafter(desc[k], 1.0)))
    thr = min(thr, 1.0)
    forced = sum(1 for s, o in zip(p, ok) if not np.isfinite(s) or (not o and s < thr))
    allowed = int(np.floor(max_undetermined * n + 1e-9)) - forced
    band = np.sort([s for s, o in zip(p, ok) if np.isfinite(s) and o and s < thr])[::-1]
    if allowed < 0:
        return thr, thr
    if allowed >= len(band):
        return thr, 0.0
    return thr, min(thr, float(np.nextafter(band[allowed], 1.0)))


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
    availability: bool = False,
    nonnegative: bool = False,
    sample_weight: Sequence[float] | None = None,
    max_undetermined_rate: float | None = None,
    kind: str = "audio+video",
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
    availability
        Also fit one availability term per cue (``FusionConfig.missing``), added when the cue is not usable.
    nonnegative
        Constrain weights and availability terms to be ``>= 0`` (a monotone model).
    sample_weight
        Weight of each row in the loss (e.g. to balance classes and kinds of manipulation); default equal.
    max_undetermined_rate
        When given, the genuine threshold leaves at most this share of the genuine clips ``undetermined``
        (:func:`choose_thresholds`, with the cues ``base.required[kind]`` required); otherwise it is the
        base config's, capped at the manipulated threshold.
    """
    y = np.asarray(labels, dtype=float)
    if len(rows) != len(y) or len(y) == 0:
        raise ConfigError("calibration needs as many labels as rows, and at least one of each")
    if not (0 < y.sum() < len(y)):
        raise ConfigError("calibration needs both genuine (0) and manipulated (1) clips")
    names = list(cues) if cues is not None else sorted({k for r in rows for k, v in r.items() if v is not None})
    X = design_matrix(rows, names)
    K = len(names)
    if availability:
        X = np.hstack([X, availability_matrix(rows, names)])
    sw = np.ones(len(y)) if sample_weight is None else np.asarray(sample_weight, dtype=float)
    if sw.shape != y.shape or not np.all(sw >= 0) or sw.sum() <= 0:
        raise ConfigError("sample_weight must have one non-negative weight per row, not all zero")
    sw = sw / sw.sum()

    w, b = fit_logistic(X, y, sample_weight=sw, l2=l2, bounds=[(0.0, None)] * X.shape[1] if nonnegative else None,
                        start=np.r_[np.ones(K), np.zeros(X.shape[1] - K), 0.0])
    cfg = replace(
        base or FusionConfig(),
        weights={n: float(v) for n, v in zip(names, w[:K])},
        missing={n: float(v) for n, v in zip(names, w[K:])} if availability else {},
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
    if max_undetermined_rate is not None:
        fused = [cfg.combine(dict(r)) for r in rows]  # the rule fuse() applies (isotonic map included)
        neg_rows = [r for r, t in zip(rows, y) if t == 0]
        req = cfg.required.get(kind, ())
        ok = [all(r.get(c) is not None for c in req) for r in neg_rows]
        p_neg = [f for f, t in zip(fused, y) if t == 0]
        m_thr, g_thr = choose_thresholds(p_neg, required_ok=ok, max_flagged=max_false_positive_rate,
                                         max_undetermined=max_undetermined_rate)
        return replace(cfg, manipulated_threshold=m_thr, genuine_threshold=g_thr, segment_threshold=m_thr)
    thr = 0.5
    neg = np.sort(p[y == 0])
    k = int(np.floor(max_false_positive_rate * len(neg)))
    if k < len(neg):  # just above the (k+1)-th highest genuine score: at most k genuine clips reach it
        thr = max(0.5, float(np.nextafter(neg[len(neg) - k - 1], 1.0)))
    thr = min(thr, 1.0)
    # segments are the stretches whose fused windows reach the manipulated threshold: they move together
    return replace(cfg, manipulated_threshold=thr, genuine_threshold=min(thr, cfg.genuine_threshold),
                   segment_threshold=thr)
