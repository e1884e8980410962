"""The sync cue's timeline: each window reads whether the lips follow the audio there, from the window's margin
at the clip's offset (not from the absolute distance, whose level varies with the clip)."""

from __future__ import annotations

import numpy as np
import pytest

from avsync.pipeline import MOTION_CUE_PARAMS, SyncCueParams, sync_cue
from avsync.results import Status
from avsync.sync.analyze import _timeline
from avsync.sync.types import FaceSync, SyncResult, TrackCrops, WindowSync
from avsync.timebase import SlidingWindow


def _result(margins, distance=1.25, offset=0, confidence=0.12, min_distance=None):
    # a clip whose lips follow the audio at its offset: a minimum distance below the default cue's mismatch midpoint
    min_distance = SyncCueParams().mismatch_distance_mid - 0.1 if min_distance is None else min_distance
    wins = tuple(WindowSync(start=float(i), end=float(i) + 2.0, status=Status.OK, distance=distance, confidence=0.1,
                            offset_frames=offset, valid_frames=50, margin=m) for i, m in enumerate(margins))
    face = FaceSync(track_id=0, status=Status.OK, start=0.0, end=len(margins) + 1.0, offset_frames=offset,
                    offset_ms=40.0 * offset, confidence=confidence, min_distance=min_distance, windows=wins)
    return SyncResult(status=Status.OK, model="syncnet", summary="", offset_frames=offset, offset_ms=40.0 * offset,
                      confidence=confidence, min_distance=min_distance, active_track_id=0, faces=(face,))


def test_windows_of_a_genuine_clip_are_not_flagged_whatever_its_distance_level():
    """A web clip's distances sit far above GRID's (with syncnet-v2: 1.2–1.3 vs < 0.9); with a clear dip at the clip's offset in
    every window, no window reads as "lips do not follow" and no such reason is given."""
    params = SyncCueParams()
    assert params.window_margin_mid is not None
    cue = sync_cue(_result([0.10, 0.12, 0.09, 0.11], distance=1.3), duration=6.0, face_fraction=1.0, params=params)
    assert all(w.score < 0.3 for w in cue.windows)
    assert not any("do not follow" in r for r in cue.reasons)


def test_windows_without_a_dip_at_the_clip_offset_are_flagged_and_explained():
    params = SyncCueParams()
    cue = sync_cue(_result([0.0, -0.02, 0.01, 0.10]), duration=6.0, face_fraction=1.0, params=params)
    scores = [w.score for w in cue.windows]
    assert all(s > 0.5 for s in scores[:3]) and scores[3] < 0.5
    assert any("do not follow the audio" in r and "75%" in r for r in cue.reasons)


def test_models_without_a_fitted_margin_rule_keep_the_distance_rule():
    params = MOTION_CUE_PARAMS
    assert params.window_margin_mid is None
    kw = dict(confidence=0.5, min_distance=0.5)  # a clear lip-following match at the clip's offset
    close = sync_cue(_result([0.0, 0.0], distance=0.5, **kw), duration=3.0, face_fraction=1.0, params=params)
    far = sync_cue(_result([0.3, 0.3], distance=1.2, **kw), duration=3.0, face_fraction=1.0, params=params)
    assert all(w.score < 0.5 for w in close.windows) and all(w.score > 0.5 for w in far.windows)


def test_the_timeline_margin_is_the_window_median_minus_its_value_at_the_clip_offset():
    lags = np.arange(-3, 4)
    n = 100
    rng = np.random.default_rng(0)
    dist = 1.3 + 0.01 * rng.standard_normal((len(lags), n))
    dist[4, :50] -= 0.2  # lag +1 is the clip's best lag; it matches only in the first half
    track = TrackCrops(track_id=0, frames=np.arange(n), valid=np.ones(n, bool), fps=25.0)
    wins = _timeline(dist, lags, 4, track, np.ones(n, bool), SlidingWindow(duration=2.0, step=2.0), min_frames=3)
    assert len(wins) == 2
    for w, (a, b) in zip(wins, ((0, 50), (50, 100))):
        c = dist[:, a:b].mean(axis=1)
        assert w.margin == pytest.approx(np.median(c) - c[4])
    assert wins[0].margin > 0.15 and abs(wins[1].margin) < 0.02


def test_an_offset_at_the_tolerance_is_neutral_not_a_reason_and_not_spread_over_the_windows():
    """Three frames (120 ms) is the neutral point: the clip cue is 0.5, the offset is reported as measured but is
    no reason, and the windows keep their own evidence; four frames are evidence in every window."""
    params = SyncCueParams()
    at = sync_cue(_result([0.10, 0.12, 0.09], offset=-3), duration=5.0, face_fraction=1.0, params=params)
    assert at.score == pytest.approx(0.5) and "120 ms" in at.measured
    assert at.reasons == () and all(w.score < 0.5 for w in at.windows)
    beyond = sync_cue(_result([0.10, 0.12, 0.09], offset=-4), duration=5.0, face_fraction=1.0, params=params)
    assert beyond.score > 0.9 and any("160 ms" in r for r in beyond.reasons)
    assert all(w.score > 0.9 for w in beyond.windows)


def test_lips_that_follow_the_audio_at_no_offset_mark_every_window():
    """Dubbed audio (high minimum distance, no dip anywhere): the clip-level mismatch is in every window, so a
    clip flagged for it has its whole length flagged, even where a window's own margin looks fine."""
    params = SyncCueParams()
    cue = sync_cue(_result([0.10, 0.0, 0.12], confidence=0.01, min_distance=1.45), duration=5.0, face_fraction=1.0,
                   params=params)
    assert cue.score > 0.9 and any("at any offset" in r for r in cue.reasons)
    assert all(w.score >= cue.score - 1e-9 for w in cue.windows)
    # the best lag is no fit: the measurement does not quote it as if the audio were merely shifted
    assert cue.measured == "no offset fits (the closest: audio and video are in sync, confidence 0.01)"


def test_without_enough_speech_lips_that_follow_no_offset_are_not_evidence_but_an_offset_is():
    """Under ``min_speech_s`` of speech by the VAD (e.g. music over a face), "lips follow the audio at no offset" is
    at most neutral, in the clip and in every window, and not a reason; the measurement says why. With enough
    speech the same result is flagged. An offset at which the lips do follow the audio is evidence either way."""
    params = SyncCueParams()
    dubbed = _result([0.0, -0.02, 0.01], confidence=0.01, min_distance=1.45)
    speech = sync_cue(dubbed, duration=5.0, face_fraction=1.0, params=params, speech_s=4.0)
    assert speech.score > 0.9 and any("at any offset" in r for r in speech.reasons)
    assert sync_cue(dubbed, duration=5.0, face_fraction=1.0, params=params).score == pytest.approx(speech.score)
    little = sync_cue(dubbed, duration=5.0, face_fraction=1.0, params=params, speech_s=0.5)
    assert little.status is Status.OK and little.score <= 0.5 + 1e-9
    assert not any("follow" in r for r in little.reasons)
    assert all(w.score <= 0.5 + 1e-9 for w in little.windows)
    assert "only 0.50 s of speech" in little.measured
    off = sync_cue(_result([0.10, 0.12, 0.09], offset=-8), duration=5.0, face_fraction=1.0, params=params,
                   speech_s=0.0)
    assert off.score > 0.9 and any("320 ms" in r for r in off.reasons)
    assert all(w.score > 0.9 for w in off.windows)
    # the rule off: as with speech
    assert sync_cue(dubbed, duration=5.0, face_fraction=1.0, params=params, speech_s=0.5,
                    min_speech_s=0).score == pytest.approx(speech.score)


def test_without_enough_speech_an_offset_beyond_the_searched_range_is_not_evidence_either():
    """"Audio and video do not line up within ±600 ms" is lips that follow the audio at no offset of the range:
    with too little speech, neutral at most and no reason, the measurement saying why; with speech, evidence."""
    from dataclasses import replace

    params = SyncCueParams()
    edge = replace(_result([0.1, 0.1, 0.1], offset=15), status=Status.OUT_OF_RANGE)
    speech = sync_cue(edge, duration=5.0, face_fraction=1.0, params=params, speech_s=4.0)
    assert speech.score == pytest.approx(params.out_of_range_score) and speech.score > 0.5
    assert any("do not line up" in r for r in speech.reasons)
    little = sync_cue(edge, duration=5.0, face_fraction=1.0, params=params, speech_s=0.3)
    assert little.status is Status.OK and little.score <= 0.5 and little.reasons == ()
    assert "do not line up" in little.measured and "only 0.30 s of speech" in little.measured


def test_an_unsure_offset_that_raises_the_cue_is_named_in_the_reasons():
    """An offset beyond the tolerance read with low confidence is scaled towards 0.5, not evidence of its own; when
    it is what raises the cue, the reasons name it as an unsure reading (a verdict it tips says why)."""
    params = SyncCueParams()
    unsure = sync_cue(_result([0.10, 0.12, 0.09], offset=-8, confidence=params.confidence_mid - 0.2 * params.confidence_scale),
                      duration=5.0, face_fraction=1.0, params=params)
    assert 0.5 < unsure.score < 0.9
    assert any("320 ms" in r and "unsure reading" in r for r in unsure.reasons), unsure.reasons
    assert all(w.score < 0.5 for w in unsure.windows)  # not spread over the windows: it is no finding of its own
    sure = sync_cue(_result([0.10, 0.12, 0.09], offset=-8), duration=5.0, face_fraction=1.0, params=params)
    assert any("320 ms" in r for r in sure.reasons) and not any("unsure" in r for r in sure.reasons)


def test_an_offset_read_on_a_second_of_video_is_not_evidence():
    """1-s cuts of genuine interviews read 240–520 ms off at confidence 0.15 and were called manipulated (p = 0.9999):
    a face read for under MIN_OFFSET_S gives an offset at most neutral and says why; a longer one, evidence."""
    from avsync.pipeline import MIN_OFFSET_S

    params = SyncCueParams()
    long = _result([0.1, 0.1], offset=-12, confidence=0.15)  # audio lags video by 480 ms, a face seen for 3 s
    sure = sync_cue(long, duration=3.0, face_fraction=1.0, params=params)
    assert sure.score > 0.9 and any("audio lags video by 480 ms" in r for r in sure.reasons)
    from dataclasses import replace

    one = _result([0.1], offset=-12, confidence=0.15)
    res = replace(one, faces=(replace(one.faces[0], end=1.0),))  # the face read for a second
    assert res.active_face.end - res.active_face.start < MIN_OFFSET_S
    short = sync_cue(res, duration=1.2, face_fraction=1.0, params=params)
    assert short.score <= 0.5 and not any("480 ms" in r for r in short.reasons)
    assert "too little to place an offset" in short.measured and all(w.score <= 0.5 for w in short.windows)
    off = sync_cue(res, duration=1.2, face_fraction=1.0, params=params, min_offset_s=0)
    assert off.score > 0.9  # the rule can be turned off
