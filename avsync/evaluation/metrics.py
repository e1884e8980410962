"""Detection metrics for spoof, lip-sync and localisation evaluation.

Conventions used throughout
---------------------------
* ``labels``: 1 = fake / manipulated / spoof (the *positive* class), 0 = real / bona fide.
* ``scores``: higher = more likely fake (e.g. a probability of fake in ``[0, 1]``, but any real
  score works for the ranking metrics). A file is called fake when ``score >= threshold``.
* ``fpr`` (false-positive rate): fraction of *real* files called fake; ``fnr`` (false-negative
  rate): fraction of *fake* files called real.

Only numpy is needed; scikit-learn is used by the tests as a reference, never here.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from avsync.errors import ConfigError
from avsync.results import Serializable

__all__ = [
    "ASVSPOOF2019_COST_MODEL",
    "ConfidenceInterval",
    "DetCurve",
    "ap_at_iou",
    "asv_error_rates",
    "average_precision",
    "det_curve",
    "eer",
    "eer_ci",
    "eer_of",
    "expected_calibration_error",
    "min_tdcf",
    "offset_accuracy",
    "rate_at_threshold",
    "roc_auc",
    "roc_auc_ci",
    "tdcf_curve",
    "temporal_iou",
]

#: ASVspoof 2019 LA cost model (evaluation plan; ``Ptar``/``Pnon`` are ``(1 - Pspoof) * 0.99 / 0.01``).
ASVSPOOF2019_COST_MODEL: Mapping[str, float] = {
    "Pspoof": 0.05,
    "Ptar": 0.9405,
    "Pnon": 0.0095,
    "Cmiss": 1.0,
    "Cfa": 10.0,
    "Cmiss_asv": 1.0,
    "Cfa_asv": 10.0,
    "Cmiss_cm": 1.0,
    "Cfa_cm": 10.0,
}


def _check(labels: Sequence[int] | np.ndarray, scores: Sequence[float] | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(labels).astype(int).ravel()
    s = np.asarray(scores, dtype=np.float64).ravel()
    if y.shape != s.shape:
        raise ConfigError(f"labels and scores differ in length: {y.shape[0]} vs {s.shape[0]}")
    if not np.isfinite(s).all():
        raise ConfigError("scores contain NaN or infinity; drop failed files before computing metrics")
    if not set(np.unique(y)) <= {0, 1}:
        raise ConfigError("labels must be 0 (real) or 1 (fake)")
    if (y == 1).sum() == 0 or (y == 0).sum() == 0:
        raise ConfigError("need at least one real (0) and one fake (1) example")
    return y, s


@dataclass(frozen=True)
class DetCurve:
    """Error rates at every distinct threshold.

    Attributes
    ----------
    thresholds
        ``[K]`` increasing; the first is ``-inf`` (everything called fake), the last is ``+inf``
        (nothing called fake); the others are the distinct scores.
    fpr
        ``[K]`` fraction of real files with ``score >= threshold`` (decreasing).
    fnr
        ``[K]`` fraction of fake files with ``score < threshold`` (increasing).
    """

    thresholds: np.ndarray
    fpr: np.ndarray
    fnr: np.ndarray


def det_curve(labels: Sequence[int] | np.ndarray, scores: Sequence[float] | np.ndarray) -> DetCurve:
    """False-positive and false-negative rates at every distinct score (ties handled as one threshold).

    Parameters
    ----------
    labels
        ``[N]`` 1 = fake, 0 = real.
    scores
        ``[N]`` higher = more likely fake.
    """
    y, s = _check(labels, scores)
    uniq = np.unique(s)
    thr = np.concatenate([[-np.inf], uniq, [np.inf]])  # -inf and the lowest score give the same rates
    real, fake = np.sort(s[y == 0]), np.sort(s[y == 1])
    fpr = 1.0 - np.searchsorted(real, thr, side="left") / real.size  # real >= t
    fnr = np.searchsorted(fake, thr, side="left") / fake.size  # fake < t
    return DetCurve(thresholds=thr, fpr=fpr, fnr=fnr)


def eer(labels: Sequence[int] | np.ndarray, scores: Sequence[float] | np.ndarray) -> tuple[float, float]:
    """Equal error rate and the threshold where it occurs.

    ASVspoof convention (``compute_eer`` of the ASVspoof 2019 toolkit): at the threshold where
    ``|fnr - fpr|`` is smallest, the EER is the mean of the two rates. Thresholds are the distinct
    scores, so ties never split.

    Parameters
    ----------
    labels
        ``[N]`` 1 = fake, 0 = real.
    scores
        ``[N]`` higher = more likely fake.

    Returns
    -------
    eer, threshold
        EER as a fraction in ``[0, 1]``; call a file fake when ``score >= threshold``.
    """
    c = det_curve(labels, scores)
    # from the lowest score on: -inf gives the same rates, and a threshold of -inf (every score tied) says nothing
    i = 1 + int(np.argmin(np.abs(c.fnr[1:] - c.fpr[1:])))
    return float((c.fnr[i] + c.fpr[i]) / 2), float(c.thresholds[i])


def eer_of(real_scores: Sequence[float] | np.ndarray, fake_scores: Sequence[float] | np.ndarray) -> float:
    """:func:`eer` of two groups of scores (higher = more likely fake), without the threshold.

    The same computation as ``eer(labels, scores)`` with ``real_scores`` labelled 0 and ``fake_scores``
    labelled 1; the form the training recipes and the voice-model benchmarks use.

    Parameters
    ----------
    real_scores
        Scores of the real (bona fide) files; at least one.
    fake_scores
        Scores of the fake (spoof) files; at least one.

    Returns
    -------
    float
        EER as a fraction in ``[0, 1]``.
    """
    r = np.asarray(real_scores, dtype=np.float64).ravel()
    f = np.asarray(fake_scores, dtype=np.float64).ravel()
    return eer(np.r_[np.zeros(r.size, dtype=int), np.ones(f.size, dtype=int)], np.r_[r, f])[0]


def rate_at_threshold(
    labels: Sequence[int] | np.ndarray, scores: Sequence[float] | np.ndarray, threshold: float
) -> dict[str, float]:
    """Confusion rates when files with ``score >= threshold`` are called fake.

    Labels may be all real (the false-positive rate of a real-speech set) or all fake.

    Returns
    -------
    dict
        ``fpr`` (real called fake), ``fnr`` (fake called real), ``tpr``, ``accuracy`` and the
        counts ``n_real``, ``n_fake``; rates whose denominator is zero are ``nan``.
    """
    y = np.asarray(labels).astype(int).ravel()
    s = np.asarray(scores, dtype=np.float64).ravel()
    pred = s >= threshold
    n_real, n_fake = int((y == 0).sum()), int((y == 1).sum())
    fpr = float(pred[y == 0].mean()) if n_real else float("nan")
    tpr = float(pred[y == 1].mean()) if n_fake else float("nan")
    return {
        "threshold": float(threshold),
        "fpr": fpr,
        "tpr": tpr,
        "fnr": 1.0 - tpr if n_fake else float("nan"),
        "accuracy": float((pred == (y == 1)).mean()) if y.size else float("nan"),
        "n_real": n_real,
        "n_fake": n_fake,
    }


def roc_auc(labels: Sequence[int] | np.ndarray, scores: Sequence[float] | np.ndarray) -> float:
    """Area under the ROC curve (probability that a random fake outscores a random real; ties count 1/2).

    Equals ``sklearn.metrics.roc_auc_score``; computed from mid-ranks (Mann–Whitney U).
    """
    y, s = _check(labels, scores)
    order = np.argsort(s, kind="mergesort")
    ranks = np.empty_like(s)
    ss = s[order]
    # mid-ranks for ties
    _, first, counts = np.unique(ss, return_index=True, return_counts=True)
    mid = first + (counts - 1) / 2.0 + 1.0
    ranks[order] = np.repeat(mid, counts)
    n1, n0 = int((y == 1).sum()), int((y == 0).sum())
    u = ranks[y == 1].sum() - n1 * (n1 + 1) / 2.0
    return float(u / (n1 * n0))


@dataclass(frozen=True)
class ConfidenceInterval(Serializable):
    """A point estimate with a percentile bootstrap interval."""

    value: float
    low: float
    high: float
    level: float
    n_boot: int


def roc_auc_ci(
    labels: Sequence[int] | np.ndarray,
    scores: Sequence[float] | np.ndarray,
    *,
    n_boot: int = 1000,
    level: float = 0.95,
    seed: int = 0,
    groups: Sequence[Hashable] | np.ndarray | None = None,
    rng: np.random.Generator | None = None,
) -> ConfidenceInterval:
    """ROC-AUC with a seeded, class-stratified percentile bootstrap interval.

    Real and fake files are resampled separately (with replacement, keeping both counts), so every
    replicate has both classes.

    Parameters
    ----------
    n_boot
        Bootstrap replicates.
    level
        Coverage of the interval (0.95 → 2.5 and 97.5 percentiles).
    seed
        Seed of ``numpy.random.default_rng``; the same seed gives the same interval.
    groups
        Cluster of each score (e.g. the clip a 2 s window belongs to). Given, whole clusters are resampled
        within each class instead of single scores, so that correlated windows of one clip do not narrow
        the interval; a cluster must hold one class only. Clusters are drawn in the order of their first
        appearance, real ones first.
    rng
        A generator to draw from instead of a fresh one seeded by ``seed`` (several intervals from one
        random stream).
    """
    y, s = _check(labels, scores)
    return _stratified_bootstrap_ci(y, s, roc_auc, n_boot=n_boot, level=level, seed=seed, groups=groups, rng=rng)


def eer_ci(
    labels: Sequence[int] | np.ndarray,
    scores: Sequence[float] | np.ndarray,
    *,
    n_boot: int = 1000,
    level: float = 0.95,
    seed: int = 0,
    groups: Sequence[Hashable] | np.ndarray | None = None,
    rng: np.random.Generator | None = None,
) -> ConfidenceInterval:
    """:func:`eer` with the seeded, class-stratified percentile bootstrap interval of :func:`roc_auc_ci` (the
    same resampling and parameters)."""
    y, s = _check(labels, scores)
    return _stratified_bootstrap_ci(y, s, lambda yy, ss: eer(yy, ss)[0], n_boot=n_boot, level=level, seed=seed,
                                    groups=groups, rng=rng)


def _stratified_bootstrap_ci(
    y: np.ndarray,
    s: np.ndarray,
    stat: Callable[[np.ndarray, np.ndarray], float],
    *,
    n_boot: int,
    level: float,
    seed: int,
    groups: Sequence[Hashable] | np.ndarray | None,
    rng: np.random.Generator | None,
) -> ConfidenceInterval:
    """``stat(labels, scores)`` of checked ``y, s`` with a percentile bootstrap interval: per replicate the real
    scores (or clusters), then the fake ones, are resampled with replacement, keeping both counts."""
    rng = np.random.default_rng(seed) if rng is None else rng
    if groups is None:
        real, fake = [s[y == 0]], [s[y == 1]]
        per_item = True
    else:
        g = np.asarray(groups)
        if g.shape != s.shape:
            raise ConfigError(f"groups must have one entry per score ({g.shape} vs {s.shape})")
        ids = list(dict.fromkeys(g.tolist()))
        members = [np.flatnonzero(g == k) for k in ids]
        if any(len(set(y[m].tolist())) > 1 for m in members):
            raise ConfigError("a group holds both real and fake scores")
        real = [s[m] for m in members if y[m[0]] == 0]
        fake = [s[m] for m in members if y[m[0]] == 1]
        per_item = False
    vals = np.empty(n_boot)
    for b in range(n_boot):
        if per_item:
            r = real[0][rng.integers(0, real[0].size, real[0].size)]
            f = fake[0][rng.integers(0, fake[0].size, fake[0].size)]
        else:
            r = np.concatenate([real[i] for i in rng.integers(0, len(real), len(real))])
            f = np.concatenate([fake[i] for i in rng.integers(0, len(fake), len(fake))])
        vals[b] = stat(np.r_[np.zeros(r.size, int), np.ones(f.size, int)], np.concatenate([r, f]))
    alpha = (1.0 - level) / 2.0
    lo, hi = np.quantile(vals, [alpha, 1.0 - alpha])
    return ConfidenceInterval(stat(y, s), float(lo), float(hi), float(level), int(n_boot))


def average_precision(labels: Sequence[int] | np.ndarray, scores: Sequence[float] | np.ndarray) -> float:
    """Average precision, fake = positive: ``sum_n (R_n - R_{n-1}) P_n`` over distinct thresholds.

    Same definition (no interpolation) as ``sklearn.metrics.average_precision_score``.
    """
    y, s = _check(labels, scores)
    order = np.argsort(-s, kind="mergesort")
    s, y = s[order], y[order]
    last = np.r_[np.flatnonzero(np.diff(s)), s.size - 1]  # last index of each distinct score
    tp = np.cumsum(y)[last]
    fp = (last + 1) - tp
    precision = tp / (tp + fp)
    recall = tp / y.sum()
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


# ---------------------------------------------------------------------------------------- t-DCF
def asv_error_rates(
    target_scores: Sequence[float] | np.ndarray,
    nontarget_scores: Sequence[float] | np.ndarray,
    spoof_scores: Sequence[float] | np.ndarray,
    *,
    threshold: float | None = None,
) -> tuple[float, float, float]:
    """ASV error rates at an ASV threshold (default: the ASV's own EER threshold).

    ASV scores are *higher = same speaker*. Returns ``(Pfa_asv, Pmiss_asv, Pmiss_spoof_asv)``:
    nontargets accepted, targets rejected, spoofs rejected by the ASV.
    """
    tar = np.asarray(target_scores, float)
    non = np.asarray(nontarget_scores, float)
    spf = np.asarray(spoof_scores, float)
    if threshold is None:  # the ASV's EER threshold: accept when score >= threshold
        _, threshold = eer(np.r_[np.ones(tar.size), np.zeros(non.size)], np.r_[tar, non])
    pfa = float((non >= threshold).mean())
    pmiss = float((tar < threshold).mean())
    pmiss_spoof = float((spf < threshold).mean()) if spf.size else 0.0
    return pfa, pmiss, pmiss_spoof


def tdcf_curve(
    labels: Sequence[int] | np.ndarray,
    scores: Sequence[float] | np.ndarray,
    *,
    pfa_asv: float = 0.0,
    pmiss_asv: float = 0.0,
    pmiss_spoof_asv: float = 0.0,
    cost_model: Mapping[str, float] = ASVSPOOF2019_COST_MODEL,
) -> tuple[np.ndarray, np.ndarray]:
    """Normalised t-DCF of the ASVspoof 2019 challenge (the "legacy" ``compute_tDCF``) at every threshold.

    ``tDCF_norm(t) = (C1 * Pmiss_cm(t) + C2 * Pfa_cm(t)) / min(C1, C2)`` with
    ``C1 = Ptar (Cmiss_cm - Cmiss_asv Pmiss_asv) - Pnon Cfa_asv Pfa_asv`` and
    ``C2 = Cfa_cm Pspoof (1 - Pmiss_spoof_asv)``. Here ``Pmiss_cm`` = real (bona fide) called
    fake and ``Pfa_cm`` = fake (spoof) passed as real.

    **Default ASV convention** (no ASV scores given): a *perfect but spoofable* ASV —
    ``Pfa_asv = Pmiss_asv = 0`` (it never errs on bona fide trials) and ``Pmiss_spoof_asv = 0``
    (it accepts every spoof, so only the countermeasure stops them). With the ASVspoof 2019 costs
    this gives ``C1 = 0.9405``, ``C2 = 0.5`` and ``tDCF_norm = 1.881 Pmiss_cm + Pfa_cm``. It is a
    pessimistic tandem (the CM carries all the work) and is *not* comparable with published
    ASVspoof 2019 numbers, which use the organisers' ASV scores; pass ``pfa_asv``, ``pmiss_asv``
    and ``pmiss_spoof_asv`` (e.g. from :func:`asv_error_rates`) to reproduce those.

    Returns
    -------
    tdcf, thresholds
        ``[K]`` normalised t-DCF and the fake-score thresholds of :func:`det_curve`.
    """
    cm = dict(cost_model)
    if cm["Cfa_asv"] < 0 or cm["Cmiss_asv"] < 0 or cm["Cfa_cm"] < 0 or cm["Cmiss_cm"] < 0:
        raise ConfigError("costs must be non-negative")
    if not np.isclose(cm["Ptar"] + cm["Pnon"] + cm["Pspoof"], 1.0):
        raise ConfigError("Ptar + Pnon + Pspoof must be 1")
    c1 = cm["Ptar"] * (cm["Cmiss_cm"] - cm["Cmiss_asv"] * pmiss_asv) - cm["Pnon"] * cm["Cfa_asv"] * pfa_asv
    c2 = cm["Cfa_cm"] * cm["Pspoof"] * (1.0 - pmiss_spoof_asv)
    if c1 <= 0 or c2 <= 0:
        raise ConfigError("the ASV error rates give a non-positive t-DCF coefficient; check them")
    c = det_curve(labels, scores)
    pmiss_cm, pfa_cm = c.fpr, c.fnr  # bona fide rejected by the CM, spoof accepted by the CM
    return (c1 * pmiss_cm + c2 * pfa_cm) / min(c1, c2), c.thresholds


def min_tdcf(
    labels: Sequence[int] | np.ndarray, scores: Sequence[float] | np.ndarray, **kwargs: Any
) -> tuple[float, float]:
    """Minimum normalised t-DCF over thresholds and its threshold (see :func:`tdcf_curve`)."""
    t, thr = tdcf_curve(labels, scores, **kwargs)
    i = int(np.argmin(t))
    return float(t[i]), float(thr[i])


# ------------------------------------------------------------------------- temporal localisation
def temporal_iou(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """IoU of 1-D segments.

    Parameters
    ----------
    pred
        ``[P, 2]`` (start, end) seconds.
    gt
        ``[G, 2]`` (start, end) seconds.

    Returns
    -------
    ``[P, G]`` intersection over union.
    """
    p = np.asarray(pred, float).reshape(-1, 2)
    g = np.asarray(gt, float).reshape(-1, 2)
    inter = np.clip(np.minimum(p[:, None, 1], g[None, :, 1]) - np.maximum(p[:, None, 0], g[None, :, 0]), 0, None)
    union = (p[:, 1] - p[:, 0])[:, None] + (g[:, 1] - g[:, 0])[None, :] - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(union > 0, inter / union, 0.0)


def ap_at_iou(
    predictions: Mapping[str, Sequence[Sequence[float]]],
    ground_truth: Mapping[str, Sequence[Sequence[float]]],
    *,
    iou_thresholds: Sequence[float] = (0.5, 0.75, 0.95),
) -> dict[float, float]:
    """Temporal-localisation AP at IoU thresholds, LAV-DF / AV-Deepfake1M convention.

    Per file, proposals are taken in decreasing confidence; each ground-truth segment (in its
    listed order) claims the first unclaimed proposal whose IoU is **strictly greater** than the
    threshold — that proposal is a true positive, every other one a false positive. All proposals
    of all files are then ranked by confidence (stable sort), precision/recall accumulated
    (recall over the total number of ground-truth segments, real files contributing none), and AP
    is the all-point area under the precision envelope (precision made non-increasing in recall),
    ``sum_i (R_i - R_{i-1}) max_{j >= i} P_j`` from ``R_0 = 0``. (LAV-DF's ``metrics.py`` leaves out
    the step from recall 0 to the first recall; that changes nothing on large sets and is not
    copied here.)

    Parameters
    ----------
    predictions
        file id → list of ``(confidence, start_s, end_s)``.
    ground_truth
        file id → list of ``(start_s, end_s)`` manipulated segments (empty for real files).
        Files absent from ``predictions`` have no proposals.

    Returns
    -------
    dict
        IoU threshold → AP in ``[0, 1]`` (``nan`` when there is no ground-truth segment).
    """
    out: dict[float, float] = {}
    n_gt = sum(len(v) for v in ground_truth.values())
    for thr in iou_thresholds:
        conf_all, tp_all = [], []
        for key in set(ground_truth) | set(predictions):
            props = np.asarray(predictions.get(key, []), float).reshape(-1, 3)
            props = props[np.argsort(-props[:, 0], kind="stable")]
            gts = np.asarray(ground_truth.get(key, []), float).reshape(-1, 2)
            is_tp = np.zeros(len(props), bool)
            if len(gts) and len(props):
                ok = temporal_iou(props[:, 1:], gts) > thr
                for gi in range(len(gts)):
                    for pj in np.flatnonzero(ok[:, gi]):
                        if not is_tp[pj]:
                            is_tp[pj] = True
                            break
            conf_all.append(props[:, 0])
            tp_all.append(is_tp)
        if n_gt == 0:
            out[float(thr)] = float("nan")
            continue
        conf = np.concatenate(conf_all) if conf_all else np.zeros(0)
        tp = np.concatenate(tp_all) if tp_all else np.zeros(0, bool)
        order = np.argsort(-conf, kind="stable")
        tp = tp[order].astype(float)
        acc = np.cumsum(tp)
        precision = acc / np.arange(1, len(tp) + 1)
        recall = acc / n_gt
        envelope = np.maximum.accumulate(precision[::-1])[::-1]  # best precision at this recall or more
        out[float(thr)] = float(np.sum(np.diff(np.r_[0.0, recall]) * envelope))
    return out


# ------------------------------------------------------------------------------ sync and calibration
def offset_accuracy(
    predicted_frames: Sequence[float | None], true_frames: Sequence[float], *, tolerance: int = 1
) -> float:
    """Fraction of files whose predicted A/V offset is within ``±tolerance`` frames of the truth.

    A ``None``/``nan`` prediction (the scorer abstained or failed) counts as wrong, so abstaining
    never raises the accuracy. Offsets use the :mod:`avsync.timebase` sign (positive: audio
    leads video) in analysis frames (25 fps).
    """
    p = np.array([np.nan if v is None else float(v) for v in predicted_frames], float)
    t = np.asarray(true_frames, float)
    if p.shape != t.shape:
        raise ConfigError("predicted and true offsets differ in length")
    if t.size == 0:
        return float("nan")
    ok = np.abs(p - t) <= tolerance + 1e-9
    return float(np.where(np.isnan(p), False, ok).mean())


def expected_calibration_error(
    labels: Sequence[int] | np.ndarray,
    probabilities: Sequence[float] | np.ndarray,
    *,
    n_bins: int = 10,
    kind: Literal["positive", "top_label"] = "positive",
) -> float:
    """Expected calibration error with equal-width bins.

    ``ECE = sum_b |B_b| / N * |acc(B_b) - conf(B_b)|``. With ``kind="positive"`` the confidence is
    the probability of fake and ``acc`` the fraction of fakes in the bin (reliability of p(fake));
    with ``"top_label"`` the confidence is ``max(p, 1 - p)`` and ``acc`` the fraction of correct
    decisions at 0.5. Bins are ``[0, 1/n), …, [(n-1)/n, 1]`` (the last one closed).

    Parameters
    ----------
    probabilities
        ``[N]`` probability of fake in ``[0, 1]``.
    """
    y = np.asarray(labels).astype(int).ravel()
    p = np.asarray(probabilities, float).ravel()
    if y.shape != p.shape:
        raise ConfigError("labels and probabilities differ in length")
    if p.size == 0:
        return float("nan")
    if (p < 0).any() or (p > 1).any():
        raise ConfigError("probabilities must lie in [0, 1]")
    if kind == "positive":
        conf, hit = p, y.astype(float)
    elif kind == "top_label":
        conf = np.maximum(p, 1 - p)
        hit = ((p >= 0.5).astype(int) == y).astype(float)
    else:
        raise ConfigError(f"kind must be 'positive' or 'top_label', not {kind!r}")
    idx = np.minimum((conf * n_bins).astype(int), n_bins - 1)
    ece = 0.0
    for b in range(n_bins):
        m = idx == b
        if m.any():
            ece += m.sum() / p.size * abs(hit[m].mean() - conf[m].mean())
    return float(ece)
