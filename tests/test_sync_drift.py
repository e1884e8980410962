"""Audio that drifts against the video: the best line through the lag × time distances, the rule that reports it,
and what the sync result and the sync cue say about it."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from avsync.pipeline import SyncCueParams, sync_cue
from avsync.results import Status
from avsync.sync.analyze import analyze_track, sync_tracks
from avsync.sync.drift import DRIFT_RULES, DriftFit, DriftRule, describe_drift, fit_drift
from avsync.sync.types import SyncResult, TrackCrops

LAGS = np.arange(-15, 16)
NOISE = (0.1 * np.random.default_rng(1).standard_normal(16000 * 60)).astype(np.float32)  # "speech" in every frame


def valley(n: int, offsets: np.ndarray, *, depth: float = 0.25, noise: float = 0.01, seed: int = 0) -> np.ndarray:
    """``[L, n]`` distances of a model whose lips match the audio at ``offsets[k]`` in frame ``k`` (a dip of
    ``depth`` over a level of 1.3, two lags wide), with noise."""
    rng = np.random.default_rng(seed)
    d = 1.3 + noise * rng.standard_normal((len(LAGS), n))
    d -= depth * np.exp(-0.5 * ((LAGS[:, None] - offsets[None, :]) / 1.0) ** 2)
    return d


class FakeScorer:
    """A lag scorer returning a fixed distance matrix (named like the default model, whose drift rule applies)."""

    def __init__(self, dist: np.ndarray, name: str = "syncnet"):
        self.dist, self.name = dist, name

    def distances(self, audio, sample_rate, track, lags):
        assert np.array_equal(lags, LAGS)
        return self.dist


def track(n: int) -> TrackCrops:
    return TrackCrops(track_id=0, frames=np.arange(n), valid=np.ones(n, bool), fps=25.0)


def test_fit_drift_recovers_a_line_and_its_ends():
    n = 1500  # 60 s at 25 fps; the offset falls from -2 to -10 frames (audio 0.53 % slow)
    truth = np.linspace(-2.0, -10.0, n)
    fit = fit_drift(valley(n, truth), np.arange(n), LAGS)
    assert fit is not None
    assert fit.start_frames == pytest.approx(-2.0, abs=0.5) and fit.end_frames == pytest.approx(-10.0, abs=0.5)
    assert fit.rate == pytest.approx(-8.0 / (n - 1), rel=0.1)
    assert fit.start == pytest.approx(0.0) and fit.end == pytest.approx(59.96)
    assert fit.gain > fit.constant_confidence and fit.confidence > fit.constant_confidence
    assert DRIFT_RULES["syncnet"].reports(fit)
    assert fit.offset_at(30.0, 25.0) == pytest.approx(-6.0, abs=0.5)


def test_a_constant_offset_is_no_drift():
    n = 400
    fit = fit_drift(valley(n, np.full(n, 4.0)), np.arange(n), LAGS)
    assert fit is not None
    assert abs(fit.change_frames) < 1.0 and fit.gain < 0.02 * fit.constant_confidence + 1e-9
    assert not DriftRule().reports(fit)


def test_a_short_track_gives_no_fit():
    assert fit_drift(valley(20, np.zeros(20)), np.arange(20), LAGS) is None


def test_the_rule_needs_size_gain_and_lips_that_follow_the_line():
    rule = DriftRule()  # the default model's: distances on its scale, around its cue's "lips follow" midpoints
    mid_d, mid_c = rule.follow_distance_mid, rule.follow_confidence_mid
    good = DriftFit(rate=-0.01, start_frames=0.0, end_frames=-5.0, start=0.0, end=20.0, distance=mid_d - 0.1,
                    confidence=mid_c + 0.07, gain=0.05, constant_confidence=0.04)
    assert rule.reports(good)
    assert not rule.reports(replace(good, end_frames=-2.0))                      # changes by 2 frames only
    assert not rule.reports(replace(good, gain=0.01))                             # hardly better than a constant
    assert not rule.reports(replace(good, distance=mid_d + 0.15, confidence=mid_c - 0.01))  # lips follow no line
    assert not rule.reports(None)


def test_the_lips_follow_tests_are_the_sync_cues_tests():
    """The drift rule of the default model reuses the cue's mismatch parameters and its per-window midpoint: a line
    is a drift only where the cue would say the lips follow the audio along it, over the clip and in most windows."""
    for model in ("syncnet", "syncnet-v3", "syncnet-v2"):
        rule, params = DRIFT_RULES[model], SyncCueParams.for_model(model)
        assert (rule.follow_distance_mid, rule.follow_confidence_mid, rule.follow_scale) == (
            params.mismatch_distance_mid, params.mismatch_confidence_mid, params.mismatch_scale)
        assert rule.follow_window_margin == params.window_margin_mid
        assert rule == DriftRule.from_cue(params)  # one source: the rule is derived from the cue's parameters


def test_a_line_the_lips_follow_in_too_few_windows_is_no_drift():
    rule = DriftRule()
    good = DriftFit(rate=-0.01, start_frames=0.0, end_frames=-5.0, start=0.0, end=20.0,
                    distance=rule.follow_distance_mid - 0.1, confidence=rule.follow_confidence_mid + 0.07, gain=0.05,
                    constant_confidence=0.04)
    assert 0.0 < rule.follow_window_margin < 0.1
    assert rule.reports(good, [0.1] * 7 + [0.0] * 3 + [None])      # 70 % of the scored windows follow
    assert not rule.reports(good, [0.1] * 5 + [0.0] * 5)           # 50 %
    assert rule.follow_share([None, None]) is None and rule.reports(good, [None])


def test_a_drifting_clip_reads_as_a_drift_with_its_windows_along_the_line():
    n = 1500
    dist = valley(n, np.linspace(0.0, -10.0, n))
    face = analyze_track(NOISE, 16000, track(n), FakeScorer(dist),
                         speech=np.ones(n + 30, bool))
    assert face.status is Status.OK and face.drift is not None
    assert face.drift.end_frames == pytest.approx(-10.0, abs=0.6)
    # every window's margin is read at the line's offset there, so the lips follow the audio in every window
    ok = [w for w in face.windows if w.status is Status.OK]
    assert len(ok) > 100 and all(w.margin is not None and w.margin > 0.1 for w in ok)
    res = sync_tracks(NOISE, 16000, [track(n)], model=FakeScorer(dist))
    assert res.drift is not None and res.summary.startswith("audio drifts against video")
    assert "in sync at 0 s and audio lags video by 40" in res.summary and "ms at 60 s" in res.summary
    assert "(the audio runs 0.67 % slow)" in res.summary
    back = SyncResult.from_json(res.to_json())
    assert back.drift == res.drift and back.faces[0].drift == res.drift


def test_the_cue_explains_a_drift_and_flags_only_the_windows_beyond_the_tolerance():
    n = 1500
    dist = valley(n, np.linspace(0.0, -10.0, n))
    res = sync_tracks(NOISE, 16000, [track(n)], model=FakeScorer(dist))
    cue = sync_cue(res, duration=60.0, face_fraction=1.0, params=SyncCueParams())
    assert cue.score > 0.9
    assert any(r.startswith("audio drifts against video") for r in cue.reasons)
    assert not any("do not follow" in r for r in cue.reasons)
    early = [w.score for w in cue.windows if w.valid and w.end <= 15.0]     # within 0..-2.5 frames: in tolerance
    late = [w.score for w in cue.windows if w.valid and w.start >= 30.0]    # beyond -5 frames (200 ms)
    assert early and late and max(early) < 0.5 and min(late) > 0.9


def test_a_constant_offset_keeps_its_summary_and_other_models_report_no_drift():
    n = 1500
    const = valley(n, np.full(n, -3.0))
    res = sync_tracks(NOISE, 16000, [track(n)], model=FakeScorer(const))
    assert res.drift is None and res.summary.startswith("audio lags video by 120 ms")
    drifting = valley(n, np.linspace(0.0, -10.0, n))
    other = sync_tracks(NOISE, 16000, [track(n)], model=FakeScorer(drifting, "motion"))
    assert other.drift is None  # no drift rule chosen for it


def test_describe_drift_in_words():
    fit = DriftFit(rate=-0.0057, start_frames=-2.9, end_frames=-11.6, start=5.1, end=66.3, distance=1.2,
                   confidence=0.1, gain=0.06, constant_confidence=0.04)
    assert describe_drift(fit, 25.0) == ("audio drifts against video: audio lags video by 116 ms at 5 s and by 464 ms "
                                         "at 66 s (the audio runs 0.57 % slow)")
    rising = DriftFit(rate=0.004, start_frames=-1.0, end_frames=4.0, start=0.0, end=50.0, distance=1.2,
                      confidence=0.1, gain=0.06, constant_confidence=0.04)
    assert describe_drift(rising, 25.0) == ("audio drifts against video: audio lags video by 40 ms at 0 s and audio "
                                            "leads video by 160 ms at 50 s (the audio runs 0.4 % fast)")


@pytest.fixture(scope="module")
def drifting_clip(clip):
    """16 s of a talking face photo whose audio runs 2 % slow: in sync at the start, 320 ms late at the end."""
    return clip("drift_2pct", duration=16.0, drift=0.02, face="photo", size=(320, 320), timbre="vowel")


@pytest.mark.parametrize("section_s", [None, 6.0])
def test_a_drifting_clip_end_to_end_in_one_piece_and_in_sections(drifting_clip, clip, monkeypatch, section_s):
    """The whole pipeline on a built clip, analysed at once and in three sections (the drift then comes from the
    line through the sections' curves). The ``motion`` model has no drift rule of its own; it gets a permissive one
    here, so this checks the plumbing, not a threshold."""
    from avsync.pipeline import Detector
    from avsync.sync import drift as drift_module

    monkeypatch.setitem(drift_module.DRIFT_RULES, "motion", DriftRule(follow_distance_mid=np.inf, min_follow_share=0.0))
    det = Detector(spoof_model=False, device="cpu", sync_model="motion", section_s=section_s)
    sync = det(drifting_clip).details["sync"]
    assert sync["drift"] is not None and "audio drifts against video" in sync["summary"]
    assert sync["drift"]["rate"] == pytest.approx(-0.02, abs=0.004)  # 2 % slow
    steady = det(clip("drift_none", duration=16.0, face="photo", size=(320, 320), timbre="vowel")).details["sync"]
    assert steady["drift"] is None and steady["offset_frames"] == 0


def test_a_drift_whose_constant_offsets_all_sit_at_the_edge_is_judged_by_its_line():
    """When every constant lag is at the edge of the search (status ``out_of_range``, no offset) but a line fits,
    the cue judges the line and gives the drift as its reason, not "do not line up"."""
    n = 1500
    res = sync_tracks(NOISE, 16000, [track(n)], model=FakeScorer(valley(n, np.linspace(-4.0, -14.0, n))))
    assert res.drift is not None
    edge = replace(res, status=Status.OUT_OF_RANGE, offset_frames=None, offset_ms=None)
    cue = sync_cue(edge, duration=60.0, face_fraction=1.0, params=SyncCueParams())
    assert cue.score > 0.9 and any(r.startswith("audio drifts against video") for r in cue.reasons)
    assert not any("do not line up" in r for r in cue.reasons)
    plain = sync_cue(replace(edge, drift=None), duration=60.0, face_fraction=1.0, params=SyncCueParams())
    assert any("do not line up" in r for r in plain.reasons)
