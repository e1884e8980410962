"""A stretch of audio at an offset of its own inside a clip that is otherwise in sync (avsync.sync.stretch)."""

from __future__ import annotations

import numpy as np
import pytest

import avsync
from avsync.pipeline import Detector, SyncCueParams, sync_cue
from avsync.results import Status
from avsync.sync.stretch import local_offsets
from avsync.sync.types import FaceSync, SyncResult, WindowSync

LAGS = list(range(-15, 16))


def _window(t: float, best: int | None, depth: float = 0.3) -> WindowSync:
    """A 2-s window at ``t`` whose curve has its minimum at lag ``best`` (``None``: flat, no lag preferred)."""
    curve = np.full(len(LAGS), 1.0, np.float32)
    if best is not None:
        curve[LAGS.index(best)] -= depth
    return WindowSync(start=t, end=t + 2.0, status=Status.OK, distance=1.0, margin=0.0, curve=curve)


def test_local_offsets_reads_a_long_run_at_its_own_lag():
    # 0-6 s at the clip's lag 0, 6-14 s at +8 (flagged: they do not follow the audio at lag 0), then lag 0 again
    ts = np.arange(0, 20, 0.5)
    wins = [_window(t, 8 if 6 <= t < 12 else 0) for t in ts]
    off = [6 <= t < 12 for t in ts]
    [s] = local_offsets(wins, off, LAGS, 0)
    assert (s.start, s.end, s.offset_frames, s.windows) == (6.0, 13.5, 8, 12)
    assert s.confidence == pytest.approx(0.3) and s.distance == pytest.approx(0.7)
    # usable windows that follow the audio inside the run: two do not break it; three do, but the two runs' windows
    # still overlap and read the same lag, so they are one stretch
    for gap in (2, 3):
        off2 = [o and not (9 <= t < 9 + 0.5 * gap) for t, o in zip(ts, off)]
        assert [(s.start, s.end) for s in local_offsets(wins, off2, LAGS, 0)] == [(6.0, 13.5)], gap
    # ... unless the second run reads another lag (then 6-10.5 s is left, and 10.5-13.5 s is too short) ...
    wins2 = [_window(t, 12 if t >= 10.5 and 6 <= t < 12 else w_best) for t, w_best in
             zip(ts, [8 if 6 <= t < 12 else 0 for t in ts])]
    off3 = [o and not (9 <= t < 10.5) for t, o in zip(ts, off)]
    assert [(s.start, s.end, s.offset_frames) for s in local_offsets(wins2, off3, LAGS, 0)] == [(6.0, 10.5, 8)]
    # ... or the runs' windows are apart: 0-6 s and 9-13.5 s at +8, with the windows between in sync
    far = [t < 4.5 or t >= 9 for t in ts]
    wins3 = [_window(t, 8 if f else 0) for t, f in zip(ts, far)]
    found = local_offsets(wins3, [f and t < 12 for t, f in zip(ts, far)], LAGS, 0)
    assert [(s.start, s.end) for s in found] == [(0.0, 6.0), (9.0, 13.5)]
    # unusable windows (None) neither continue nor break a run
    off3 = [None if 8 <= t < 10 else o for t, o in zip(ts, off)]
    assert [s.offset_frames for s in local_offsets(wins, off3, LAGS, 0)] == [8]


@pytest.mark.parametrize(("best", "clip_lag", "span", "found"), [
    (8, 0, 6.0, True),
    (8, 0, 3.5, False),   # shorter than MIN_STRETCH_S: windows that match poorly, not an edit
    (2, 0, 6.0, False),   # the clip's own offset within two frames: the same reading
    (15, 0, 6.0, False),  # at the edge of the searched range: no fit
    (None, 0, 6.0, False),  # flat curves: the lag is the first one, at the edge
])
def test_local_offsets_needs_a_long_run_clearly_elsewhere(best, clip_lag, span, found):
    wins = [_window(t, best) for t in np.arange(0, span - 2 + 1e-9, 0.5)]
    assert bool(local_offsets(wins, [True] * len(wins), LAGS, clip_lag)) is found


def test_local_offsets_checks_its_flags():
    with pytest.raises(ValueError, match="flags"):
        local_offsets([_window(0.0, 0)], [], LAGS, 0)


@pytest.fixture(scope="module")
def edited(clip):
    """A 24-s clip in sync, and the same clip with the audio of 8-16 s 320 ms early (events 1.4 s apart, so that
    no other lag of the ±600 ms search lines the events up again)."""
    m = avsync.load_media(clip("stretch", duration=24.0, face="photo", size=(320, 320), timbre="vowel",
                               event_period_s=1.4))
    frames = np.concatenate([c.images for c in m.frames()])
    audio = m.audio.copy()
    k, a, b = int(0.32 * 16000), 8 * 16000, 16 * 16000
    audio[:, a:b] = m.audio[:, a + k:b + k]
    return avsync.Media.from_arrays(m.audio, 16000, frames, 25.0), avsync.Media.from_arrays(audio, 16000, frames, 25.0)


@pytest.mark.parametrize("section_s", [None, 8.0])
def test_an_edited_stretch_raises_the_sync_cue_and_says_where(edited, section_s):
    kept, cut = edited
    det = Detector(spoof_model=False, device="cpu", sync_model="motion", artefacts=False, section_s=section_s)
    clean = det(kept).cue("sync")
    assert clean.score < 0.3 and not any("elsewhere" in r for r in clean.reasons)
    v = det(cut)
    cue = v.cue("sync")
    said = [r for r in cue.reasons if "(elsewhere: audio and video are in sync)" in r]
    assert len(said) == 1 and said[0].startswith("audio leads video by 320 ms in "), cue.reasons
    assert cue.score > 0.7 and "in sync, confidence" in cue.measured and "audio leads video by 320 ms" in cue.measured
    assert v.label is avsync.Label.MANIPULATED
    # the timeline agrees: the stretch's windows carry the evidence, the rest of the clip does not
    inside = [w.score for w in cue.windows if w.valid and 9 <= w.start and w.end <= 15]
    outside = [w.score for w in cue.windows if w.valid and (w.end <= 6 or w.start >= 18)]
    assert inside and min(inside) >= cue.score - 1e-9
    assert outside and np.mean(outside) < 0.5
    segs = [(s.start, s.end) for s in v.segments if s.kind == "sync"]
    assert segs and all(6 <= a < b <= 18 for a, b in segs) and any(a <= 10 and b >= 14 for a, b in segs), v.segments


def _face(track_id: int, t0: float, t1: float, offset: int, confidence: float, margin: float = 0.2) -> FaceSync:
    wins = tuple(WindowSync(start=float(t), end=float(t) + 2.0, status=Status.OK, distance=0.8, confidence=confidence,
                            offset_frames=offset, valid_frames=50, margin=margin)
                 for t in np.arange(t0, t1 - 2.0 + 1e-9, 0.5))
    return FaceSync(track_id=track_id, status=Status.OK, start=t0, end=t1, offset_frames=offset, offset_ms=40.0 * offset,
                    confidence=confidence, min_distance=0.8, num_frames=int(25 * (t1 - t0)),
                    valid_frames=int(25 * (t1 - t0)), lags=tuple(LAGS), windows=wins)


def _two_shots(second: FaceSync) -> SyncResult:
    first = _face(0, 0.0, 8.0, 0, 0.2)
    return SyncResult(status=Status.OK, model="syncnet", summary="", offset_frames=0, offset_ms=0.0, confidence=0.2,
                      min_distance=0.8, active_track_id=0, faces=(first, second), windows=first.windows)


def test_a_second_speaker_after_a_cut_is_read_at_its_own_offset():
    """Shot 1: face 0 in sync; shot 2 (8-16 s): face 1, whose lips follow the audio 320 ms early. The cue reads
    face 1 where face 0 is not seen: its windows fill the timeline and its offset is evidence, with a reason."""
    params = SyncCueParams.for_model(None)
    cue = sync_cue(_two_shots(_face(1, 8.0, 16.0, 8, 0.2)), duration=16.0, face_fraction=1.0, params=params)
    assert cue.score > 0.9
    assert cue.reasons == ("audio leads video by 320 ms in 8–16 s (face 1; elsewhere: audio and video are in sync)",)
    starts = [w.start for w in cue.windows]
    assert starts == sorted(starts) and len(starts) == len(set(starts)) and starts[-1] == 14.0
    assert all(w.score > 0.9 for w in cue.windows if w.start >= 8.0)
    assert all(w.score < 0.5 for w in cue.windows if w.end <= 8.0)
    # the second speaker in sync: its windows on the timeline, no evidence
    same = sync_cue(_two_shots(_face(1, 8.0, 16.0, 1, 0.2)), duration=16.0, face_fraction=1.0, params=params)
    assert same.score < 0.5 and not same.reasons and [w.start for w in same.windows] == starts
    # a face whose lips follow no offset surely (a listener), or one seen for under 4 s, is not read
    for other in (_face(1, 8.0, 16.0, 8, 0.01), _face(1, 8.0, 11.5, 8, 0.2)):
        cue = sync_cue(_two_shots(other), duration=16.0, face_fraction=1.0, params=params)
        assert cue.score < 0.5 and max(w.start for w in cue.windows) == 6.0


@pytest.mark.parametrize(("depth", "evidence"), [(0.2, True), (0.1, False)])
def test_a_stretch_counts_only_as_surely_read_as_the_clip(depth, evidence):
    """Shot as one face: 0-8 s in sync (confidence 0.15), 8-16 s reading +8 frames with a curve ``depth`` deep. A
    reading less sure than the clip's own (lips that follow that audio at no lag, as in a dubbed passage or a face
    listening to someone off screen, find one by chance) is not evidence."""

    def win(t: float, best: int, d: float, margin: float) -> WindowSync:
        curve = np.full(len(LAGS), 1.0, np.float32)
        curve[LAGS.index(best)] -= d
        return WindowSync(start=t, end=t + 2.0, status=Status.OK, distance=0.8, confidence=d, offset_frames=best,
                          valid_frames=50, margin=margin, curve=curve)

    wins = tuple(win(t, 0, 0.15, 0.2) if t + 2.0 <= 8.0 else win(t, 8, depth, -0.05) for t in np.arange(0, 14.01, 0.5))
    face = FaceSync(track_id=0, status=Status.OK, start=0.0, end=16.0, offset_frames=0, offset_ms=0.0,
                    confidence=0.15, min_distance=0.85, num_frames=400, valid_frames=400, lags=tuple(LAGS), windows=wins)
    result = SyncResult(status=Status.OK, model="syncnet", summary="", offset_frames=0, offset_ms=0.0, confidence=0.15,
                        min_distance=0.85, active_track_id=0, faces=(face,), windows=wins)
    cue = sync_cue(result, duration=16.0, face_fraction=1.0, params=SyncCueParams.for_model(None))
    said = [r for r in cue.reasons if "(elsewhere:" in r]
    assert bool(said) is evidence and (cue.score > 0.9) is evidence, cue.reasons
