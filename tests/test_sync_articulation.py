"""A face that does not speak while speech plays (a still picture, a slow zoom over one, someone listening) is not
read as dubbed audio: its mouth does not articulate (``FaceSync.articulation``), so the sync cue cannot check lip
sync on it, and says so."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from avsync.pipeline import SyncCueParams, sync_cue
from avsync.results import Status
from avsync.sync.analyze import MIN_ARTICULATION_FRAMES, analyze_track, articulation
from avsync.sync.types import FaceSync, SyncResult, TrackCrops, WindowSync


def test_articulation_is_the_mean_distance_of_the_speech_frames_mouths_from_their_mean():
    mouths = np.zeros((60, 4), np.float32)
    mouths[::2, 0] = 1.0  # alternating between two points 1 apart: every frame 0.5 from the mean
    speech = np.ones(60, bool)
    assert articulation(mouths, speech) == pytest.approx(0.5)
    still = np.tile(np.array([[0.3, 0.1, 0.0, 0.2]], np.float32), (60, 1))
    assert articulation(still, speech) == pytest.approx(0.0, abs=1e-9)
    # only speech frames count, and rows without an embedding (NaN) are skipped
    mouths[30:] = 5.0
    speech[30:] = False
    mouths[0] = np.nan
    assert articulation(mouths, speech) == pytest.approx(0.5, abs=0.02)


def test_articulation_needs_a_second_of_speech_frames():
    mouths = np.random.default_rng(0).standard_normal((40, 8)).astype(np.float32)
    speech = np.zeros(40, bool)
    speech[: MIN_ARTICULATION_FRAMES - 1] = True
    assert articulation(mouths, speech) is None
    speech[MIN_ARTICULATION_FRAMES - 1] = True
    assert articulation(mouths, speech) is not None
    assert articulation(np.zeros((40, 0), np.float32), np.ones(40, bool)) is None  # no embedding at all


class _Scorer:
    """A SyncNet-style scorer stand-in: fixed distances and mouth embeddings."""

    name = "syncnet"

    def __init__(self, mouths: np.ndarray, dip: bool):
        self.mouths, self.dip = mouths, dip

    def distances_and_mouths(self, audio, sample_rate, track, lags):
        n = len(track.valid)
        d = np.full((len(lags), n), 1.0)
        if self.dip:
            d[len(lags) // 2] = 0.6
        return d, self.mouths

    def distances(self, audio, sample_rate, track, lags):
        return self.distances_and_mouths(audio, sample_rate, track, lags)[0]


def test_analyze_track_reads_the_articulation_over_the_frames_with_speech():
    n = 100
    rng = np.random.default_rng(1)
    mouths = rng.standard_normal((n, 16)).astype(np.float32)
    mouths[50:] = 0.0  # a mouth that stops moving halfway
    track = TrackCrops(track_id=3, frames=np.arange(n), valid=np.ones(n, bool), fps=25.0)
    speech = np.zeros(n, bool)
    speech[50:] = True  # speech plays only while it does not move
    face = analyze_track(np.zeros(16000 * 4, np.float32), 16000, track, _Scorer(mouths, dip=True), max_lag=3,
                         speech=speech)
    assert face.articulation == pytest.approx(0.0, abs=1e-9)
    speech[:] = True
    face = analyze_track(np.zeros(16000 * 4, np.float32), 16000, track, _Scorer(mouths, dip=True), max_lag=3,
                         speech=speech)
    assert face.articulation is not None and face.articulation > 1.0


def _mismatch(articulation: float | None, *, faces: int = 1) -> SyncResult:
    """A clip whose lips follow the audio at no offset (dubbed audio, or a face that does not speak)."""
    params = SyncCueParams()
    dist = params.mismatch_distance_mid + 0.1
    wins = tuple(WindowSync(start=float(i), end=float(i) + 2.0, status=Status.OK, distance=dist, confidence=0.01,
                            offset_frames=4, valid_frames=50, margin=-0.02) for i in range(6))
    face = FaceSync(track_id=0, status=Status.OK, start=0.0, end=8.0, offset_frames=4, offset_ms=160.0, confidence=0.01,
                    min_distance=dist, windows=wins, articulation=articulation)
    others = tuple(replace(face, track_id=i, confidence=0.005) for i in range(1, faces))
    return SyncResult(status=Status.OK, model="syncnet", summary="", offset_frames=4, offset_ms=160.0, confidence=0.01,
                      min_distance=dist, active_track_id=0, faces=(face, *others))


def test_a_face_that_unreadable_lips_is_not_read_as_dubbed_audio():
    params = replace(SyncCueParams(), still_articulation=0.4)
    dubbed = sync_cue(_mismatch(0.7), duration=8.0, face_fraction=1.0, params=params)
    assert dubbed.status is Status.OK and dubbed.score is not None and dubbed.score > 0.5
    assert any("do not follow the audio at any offset" in r for r in dubbed.reasons)
    still = sync_cue(_mismatch(0.2), duration=8.0, face_fraction=1.0, params=params)
    assert still.status is Status.SKIPPED and still.score is None and not still.windows and not still.reasons
    assert still.message is not None and "cannot be read" in still.message and "0.20" in still.message
    two = sync_cue(_mismatch(0.2, faces=2), duration=8.0, face_fraction=1.0, params=params)
    assert two.message is not None and "(face 0)" in two.message


def test_without_a_rule_or_a_reading_the_cue_is_as_before():
    base = SyncCueParams()
    ruled = replace(base, still_articulation=0.4)
    for art, params in ((0.2, replace(base, still_articulation=None)), (None, ruled)):
        cue = sync_cue(_mismatch(art), duration=8.0, face_fraction=1.0, params=params)
        same = sync_cue(_mismatch(0.7), duration=8.0, face_fraction=1.0, params=ruled)
        assert cue.status is Status.OK and cue.score == same.score and cue.reasons == same.reasons


@pytest.fixture(scope="module")
def faces(clip):
    """The drawn photo face speaking its vowel bursts, and the same face with its mouth closed while they sound."""
    spec = dict(face="photo", size=(320, 320), duration=6.0, timbre="vowel")
    return clip("artic_speaks", **spec), clip("artic_listens", **spec, speaks=False)


def test_a_drawn_face_that_unreadable_lips_is_not_judged_end_to_end(faces):
    from avsync.fusion import Label
    from avsync.pipeline import Detector

    speaks, listens = faces
    det = Detector(spoof_model=False, artefacts=False, device="cpu")  # the default sync model (syncnet-v3)
    v = det(speaks)
    sync = next(c for c in v.cues if c.name == "sync")
    assert sync.status is Status.OK and sync.score is not None, sync
    v = det(listens)
    sync = next(c for c in v.cues if c.name == "sync")
    assert sync.status is Status.SKIPPED and sync.score is None, sync
    assert sync.message is not None and "cannot be read" in sync.message
    assert v.label is not Label.MANIPULATED and any("cannot be read" in r for r in v.reasons), v.reasons
    face = v.details["sync"]["faces"][0]
    assert face["articulation"] < SyncCueParams().still_articulation


def test_avsync_sync_prints_each_faces_articulation_and_says_when_its_lips_cannot_be_read(faces):
    from click.testing import CliRunner

    from avsync_cli.main import cli

    speaks, listens = faces
    out = CliRunner().invoke(cli, ["sync", speaks]).output
    assert "articulation" in out and "cannot be read" not in out, out
    out = CliRunner().invoke(cli, ["sync", listens]).output
    assert "cannot be read" in out and "`avsync analyze` reads nothing from this face's lips" in out, out


def test_lips_that_cannot_be_read_are_not_read_as_an_offset_beyond_the_range_either():
    """A still face's best lag often sits at the edge of the search (``out_of_range``), which alone scores 0.7."""
    params = replace(SyncCueParams(), still_articulation=0.4)
    res = _mismatch(0.2)
    face = replace(res.faces[0], status=Status.OUT_OF_RANGE, offset_frames=None, offset_ms=None)
    edge = replace(res, status=Status.OUT_OF_RANGE, offset_frames=None, offset_ms=None, faces=(face,))
    cue = sync_cue(edge, duration=8.0, face_fraction=1.0, params=params)
    assert cue.status is Status.SKIPPED and cue.score is None and "cannot be read" in (cue.message or "")
    moving = replace(edge, faces=(replace(face, articulation=0.7),))
    assert sync_cue(moving, duration=8.0, face_fraction=1.0, params=params).score == params.out_of_range_score
