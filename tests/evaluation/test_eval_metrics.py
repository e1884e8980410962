"""Metrics against hand-computed values and scikit-learn (a test-only reference)."""

from __future__ import annotations

import numpy as np
import pytest

from avsync.evaluation import metrics as M

sk = pytest.importorskip("sklearn.metrics")

REAL = [0.1, 0.2, 0.3, 0.6]
FAKE = [0.4, 0.7, 0.8, 0.9]
Y = [0] * 4 + [1] * 4
S = REAL + FAKE


def _random(n=300, seed=1, ties=False):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    s = rng.normal(size=n) + 1.2 * y
    if ties:
        s = np.round(s, 1)
    return y, s


def test_eer_hand_computed():
    e, thr = M.eer(Y, S)
    assert e == pytest.approx(0.25)
    assert thr == pytest.approx(0.6)
    # perfectly separated -> 0, threshold between the classes
    e, thr = M.eer([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9])
    assert e == 0.0 and 0.2 < thr <= 0.8


def _eer_from_sklearn_roc(y, s):
    fpr, tpr, _thr = sk.roc_curve(y, s, drop_intermediate=False)
    fnr = 1 - tpr
    i = np.argmin(np.abs(fnr - fpr))
    return (fnr[i] + fpr[i]) / 2


@pytest.mark.parametrize("ties", [False, True])
def test_eer_matches_sklearn_roc(ties):
    y, s = _random(ties=ties)
    e, thr = M.eer(y, s)
    assert e == pytest.approx(_eer_from_sklearn_roc(y, s), abs=1e-12)
    r = M.rate_at_threshold(y, s, thr)
    assert (r["fpr"] + r["fnr"]) / 2 == pytest.approx(e)


def _old_eer_grid(real: np.ndarray, fake: np.ndarray) -> float:
    """The EER copy that avsync.training.spoof and benchmarks/spoof_model_eval.py had (rates at each distinct score)."""
    r, f = np.asarray(real, float), np.asarray(fake, float)
    th = np.unique(np.concatenate([r, f]))
    fpr = np.array([(r >= t).mean() for t in th])
    fnr = np.array([(f < t).mean() for t in th])
    k = int(np.argmin(np.abs(fpr - fnr)))
    return float((fpr[k] + fnr[k]) / 2)


def _old_eer_cumsum(genuine: np.ndarray, spoof: np.ndarray) -> float:
    """The EER copy that benchmarks/eval_spoof_public.py had: a threshold after every sorted score, ties split."""
    scores = np.concatenate([genuine, spoof])
    labels = np.concatenate([np.zeros(len(genuine)), np.ones(len(spoof))])[np.argsort(scores, kind="mergesort")]
    frr = np.concatenate([[0.0], np.cumsum(labels) / labels.sum()])
    far = np.concatenate([[1.0], 1 - np.cumsum(1 - labels) / (1 - labels).sum()])
    i = int(np.argmin(np.abs(frr - far)))
    return float((frr[i] + far[i]) / 2)


def _min_is_unique(real: np.ndarray, fake: np.ndarray) -> bool:
    """Whether one threshold alone reaches the smallest |fnr - fpr| (in integer counts, no rounding)."""
    r, f = np.sort(np.asarray(real, float)), np.sort(np.asarray(fake, float))
    th = np.concatenate([[-np.inf], np.unique(np.r_[r, f]), [np.inf]])
    n_fp = r.size - np.searchsorted(r, th, "left")
    n_fn = np.searchsorted(f, th, "left")
    gap = np.abs(n_fn * r.size - n_fp * f.size)
    rates = {(a, b) for a, b, g in zip(n_fp, n_fn, gap) if g == gap.min()}
    return len(rates) == 1


@pytest.mark.parametrize("ties", [False, True])
def test_eer_of_is_eer_and_replaces_the_copies(ties: bool) -> None:
    """eer_of(real, fake) is eer's value. It replaces two copies: the per-threshold grid (training recipes,
    spoof_model_eval.py), the same up to the last bit of rounding wherever one threshold alone is closest to
    equal rates; where two thresholds are exactly as close, float rounding picked one in either (the two
    pick differently in ~0.6 % of small random sets), and the EERs then differ by at most half the larger
    step of the DET curve, max(1/n_real, 1/n_fake) / 2, without tied scores. And the cumulative-sum copy of
    eval_spoof_public.py, the same on untied scores (bit for bit)."""
    n_unique = 0
    for seed in range(300):
        rng = np.random.default_rng(seed)
        nr, nf = rng.integers(1, 60, 2)
        r, f = rng.normal(0, 1, nr), rng.normal(rng.uniform(-1, 2), 1, nf)
        if ties:
            r, f = np.round(r, 0), np.round(f, 0)
        e = M.eer_of(r, f)
        assert e == M.eer(np.r_[np.zeros(nr), np.ones(nf)], np.r_[r, f])[0]
        if _min_is_unique(r, f):
            n_unique += 1
            assert e == pytest.approx(_old_eer_grid(r, f), abs=1e-15)
        elif not ties:
            assert abs(e - _old_eer_grid(r, f)) <= max(1 / nr, 1 / nf) / 2 + 1e-15
        if not ties:
            assert e == _old_eer_cumsum(r, f)
    assert n_unique > 250


def test_eer_of_counts_tied_scores_together() -> None:
    """Tied scores are one threshold (call fake when score >= t): 5 genuine clips and 20 of 30 fakes all at
    exactly 1.0 give 66.7 %; the copy of eval_spoof_public.py split the tie (genuine first) and said 36.7 %."""
    real, fake = np.ones(5), np.r_[np.ones(20), np.full(10, 0.2)]
    assert M.eer_of(real, fake) == pytest.approx(2 / 3)
    assert _old_eer_cumsum(real, fake) == pytest.approx(11 / 30)
    assert M.eer_of([0, 1, 2], [3, 4, 5]) == 0.0 and M.eer_of([3, 4, 5], [0, 1, 2]) == 1.0
    with pytest.raises(ValueError, match="at least one real"):
        M.eer_of([], [0.5])


def test_det_curve_rates_are_monotone_and_complete():
    y, s = _random(ties=True)
    c = M.det_curve(y, s)
    assert c.fpr[0] == 1 and c.fnr[0] == 0 and c.fpr[-1] == 0 and c.fnr[-1] == 1
    assert np.all(np.diff(c.fpr) <= 0) and np.all(np.diff(c.fnr) >= 0)


def test_auc_hand_and_sklearn():
    assert M.roc_auc(Y, S) == pytest.approx(15 / 16)
    for ties in (False, True):
        y, s = _random(ties=ties, seed=3)
        assert M.roc_auc(y, s) == pytest.approx(sk.roc_auc_score(y, s), abs=1e-12)


def test_auc_bootstrap_ci_is_seeded_and_brackets_value():
    y, s = _random(n=200, seed=4)
    a = M.roc_auc_ci(y, s, n_boot=200, seed=7)
    b = M.roc_auc_ci(y, s, n_boot=200, seed=7)
    c = M.roc_auc_ci(y, s, n_boot=200, seed=8)
    assert a == b and a != c
    assert a.low < a.value < a.high and a.value == pytest.approx(sk.roc_auc_score(y, s))
    assert 0.02 < a.high - a.low < 0.3


def test_auc_ci_groups_resample_whole_clips():
    rng = np.random.default_rng(3)
    y = np.r_[np.zeros(12, int), np.ones(9, int)]
    s = rng.normal(size=21) + y
    # one score per group: the same draws as resampling single scores
    plain = M.roc_auc_ci(y, s, n_boot=300, seed=5)
    single = M.roc_auc_ci(y, s, n_boot=300, seed=5, groups=np.arange(21))
    assert (plain.low, plain.high) == (single.low, single.high)
    # each clip's score repeated over 10 windows: same AUC; the clustered interval stays as wide as the
    # clip-level one, while treating the windows as independent makes it much narrower
    yw, sw, gw = np.repeat(y, 10), np.repeat(s, 10), np.repeat(np.arange(21), 10)
    clustered = M.roc_auc_ci(yw, sw, n_boot=300, seed=5, groups=gw)
    naive = M.roc_auc_ci(yw, sw, n_boot=300, seed=5)
    assert clustered.value == pytest.approx(plain.value)
    assert clustered.high - clustered.low > 2 * (naive.high - naive.low)
    assert clustered.high - clustered.low == pytest.approx(plain.high - plain.low, abs=0.08)
    # one random stream for several intervals
    g = np.random.default_rng(0)
    a, b = M.roc_auc_ci(y, s, n_boot=50, rng=g), M.roc_auc_ci(y, s, n_boot=50, rng=g)
    assert (a.low, a.high) != (b.low, b.high) or a.low == a.high
    with pytest.raises(ValueError, match="both real and fake"):
        M.roc_auc_ci(y, s, groups=np.zeros(21, int))
    with pytest.raises(ValueError, match="one entry per score"):
        M.roc_auc_ci(y, s, groups=np.arange(5))


def test_average_precision_hand_and_sklearn():
    assert M.average_precision(Y, S) == pytest.approx((1 + 1 + 1 + 0.8) / 4)
    for ties in (False, True):
        y, s = _random(ties=ties, seed=5)
        assert M.average_precision(y, s) == pytest.approx(sk.average_precision_score(y, s), abs=1e-12)


def test_min_tdcf_hand_computed_perfect_asv():
    # C1 = 0.9405, C2 = 0.5 -> tDCF_norm = 1.881 * (real called fake) + (fake passed)
    t, _thr = M.tdcf_curve(Y, S)
    c = M.det_curve(Y, S)
    assert np.allclose(t, 1.881 * c.fpr + c.fnr)
    v, at = M.min_tdcf(Y, S)
    assert v == pytest.approx(0.25) and at == pytest.approx(0.7)


def _legacy_tdcf_bruteforce(y, s, pfa_asv, pmiss_asv, pmiss_spoof_asv):
    cm = M.ASVSPOOF2019_COST_MODEL
    y, s = np.asarray(y), np.asarray(s)
    c1 = cm["Ptar"] * (cm["Cmiss_cm"] - cm["Cmiss_asv"] * pmiss_asv) - cm["Pnon"] * cm["Cfa_asv"] * pfa_asv
    c2 = cm["Cfa_cm"] * cm["Pspoof"] * (1 - pmiss_spoof_asv)
    best = np.inf
    for t in np.r_[-np.inf, np.unique(s), np.inf]:
        pmiss_cm = np.mean(s[y == 0] >= t)  # bona fide blocked
        pfa_cm = np.mean(s[y == 1] < t)  # spoof passed
        best = min(best, (c1 * pmiss_cm + c2 * pfa_cm) / min(c1, c2))
    return best


def test_min_tdcf_with_asv_rates_matches_bruteforce():
    y, s = _random(seed=6, ties=True)
    rates = {"pfa_asv": 0.02, "pmiss_asv": 0.05, "pmiss_spoof_asv": 0.3}
    v, _ = M.min_tdcf(y, s, **rates)
    assert v == pytest.approx(_legacy_tdcf_bruteforce(y, s, 0.02, 0.05, 0.3))
    # a perfect CM has t-DCF 0, a useless one is >= 1 at its best threshold... bounded by min(C1,C2) norm
    assert M.min_tdcf([0, 0, 1, 1], [0.0, 0.1, 0.9, 1.0])[0] == 0.0
    assert M.min_tdcf([0, 1, 0, 1], [0.5, 0.5, 0.5, 0.5])[0] == pytest.approx(1.0)


def test_asv_error_rates_at_eer_threshold():
    tar = np.array([2.0, 3.0, 4.0, 5.0])
    non = np.array([-1.0, 0.0, 1.0, 2.5])
    spf = np.array([1.5, 3.5, 4.5])
    pfa, pmiss, pspoof = M.asv_error_rates(tar, non, spf)
    # EER threshold 2.5? at t=2.5: non>=2.5 -> 1/4, tar<2.5 -> 1/4
    assert (pfa, pmiss) == (0.25, 0.25)
    assert pspoof == pytest.approx(1 / 3)
    assert M.asv_error_rates(tar, non, spf, threshold=3.0) == (0.0, 0.25, pytest.approx(1 / 3))


def test_ap_at_iou_hand_computed():
    gt = {"a": [(0.0, 1.0)], "b": [(2.0, 3.0)], "c": []}
    pred = {
        "a": [(0.9, 0.0, 1.0), (0.8, 0.5, 1.5)],  # TP (IoU 1), then FP (duplicate, IoU 1/3)
        "b": [(0.7, 2.0, 2.9)],  # IoU 0.9: TP at 0.5 and 0.75, FP at 0.95
        "c": [(0.85, 5.0, 6.0)],  # a proposal on a real file: FP
    }
    ap = M.ap_at_iou(pred, gt, iou_thresholds=(0.5, 0.95))
    # ranking 0.9 TP, 0.85 FP, 0.8 FP, 0.7 TP: P = 1, .5, .33, .5; R = .5, .5, .5, 1
    assert ap[0.5] == pytest.approx(0.5 * 1.0 + 0.5 * 0.5)
    # at 0.95 only the first is TP: recall .5 at precision 1
    assert ap[0.95] == pytest.approx(0.5)
    # threshold is strict: IoU exactly 0.9 is not > 0.9
    assert M.ap_at_iou({"b": [(1.0, 2.0, 2.9)]}, {"b": [(2.0, 3.0)]}, iou_thresholds=(0.9,))[0.9] == 0.0
    assert np.isnan(M.ap_at_iou({}, {"x": []}, iou_thresholds=(0.5,))[0.5])


def test_temporal_iou():
    iou = M.temporal_iou([[0, 2], [5, 6]], [[1, 3]])
    assert iou[:, 0] == pytest.approx([1 / 3, 0.0])


def test_offset_accuracy():
    assert M.offset_accuracy([0, 1, 3, None, -2], [0, 0, 0, 0, -1], tolerance=1) == pytest.approx(3 / 5)
    assert M.offset_accuracy([0, 1, 3], [0, 0, 0], tolerance=0) == pytest.approx(1 / 3)


def test_ece_hand_computed_and_perfect():
    assert M.expected_calibration_error([0, 0, 1, 1], [0.05, 0.15, 0.85, 0.95]) == pytest.approx(0.1)
    # perfectly calibrated bins: in bin [0.2, 0.3) 1 of 4 is fake at p=0.25
    y = [1, 0, 0, 0]
    assert M.expected_calibration_error(y, [0.25] * 4) == pytest.approx(0.0)
    # top-label: p=0.8 all correct -> |1 - 0.8|
    assert M.expected_calibration_error([1, 1], [0.8, 0.8], kind="top_label") == pytest.approx(0.2)
    with pytest.raises(ValueError):
        M.expected_calibration_error([1], [1.5])


def test_ece_matches_sklearn_calibration_curve():
    from sklearn.calibration import calibration_curve

    rng = np.random.default_rng(9)
    p = rng.uniform(0, 1, 500)
    y = (rng.uniform(0, 1, 500) < p**1.5).astype(int)
    frac, mean_p = calibration_curve(y, p, n_bins=10, strategy="uniform")
    counts = np.histogram(p, bins=np.linspace(0, 1, 11))[0]
    counts = counts[counts > 0]
    ref = np.sum(counts / p.size * np.abs(frac - mean_p))
    assert M.expected_calibration_error(y, p, n_bins=10) == pytest.approx(ref, abs=1e-12)


def test_bad_inputs_raise():
    with pytest.raises(ValueError, match="at least one real"):
        M.eer([1, 1], [0.1, 0.2])
    with pytest.raises(ValueError, match="NaN"):
        M.roc_auc([0, 1], [0.1, np.nan])


def test_eer_ci_resamples_each_class_like_roc_auc_ci():
    """eer_ci: the EER, and the percentile interval of EERs over replicates that resample the real scores,
    then the fake scores, from one seeded generator (the resampling of roc_auc_ci), tied scores included."""
    g = np.random.default_rng(3)
    real, fake = np.round(g.normal(size=23), 1), np.round(g.normal(0.8, size=17), 1)
    y, s = np.r_[np.ones(fake.size, int), np.zeros(real.size, int)], np.r_[fake, real]
    rng = np.random.default_rng(7)
    ref = [M.eer(np.r_[np.zeros(real.size, int), np.ones(fake.size, int)],
               np.r_[real[rng.integers(0, real.size, real.size)], fake[rng.integers(0, fake.size, fake.size)]])[0]
           for _ in range(300)]
    ci = M.eer_ci(y, s, n_boot=300, seed=7)
    assert ci.value == M.eer(y, s)[0] and ci.n_boot == 300 and ci.level == 0.95
    assert np.allclose([ci.low, ci.high], np.percentile(ref, [2.5, 97.5]), rtol=0, atol=1e-12)


def test_eer_threshold_is_a_score_even_when_every_score_ties():
    assert M.eer([0, 1], [0.3, 0.3]) == (0.5, 0.3)
    assert M.eer([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9]) == (0.0, 0.8)
