"""Frozen surroundings: the tracker's ``surround_still`` and the evidence built on it (``avsync.artefacts.still``)."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

pytest.importorskip("cv2")
skimage_data = pytest.importorskip("skimage.data")

import avsync  # noqa: E402
from avsync.artefacts.scorer import ArtefactResult, ArtefactWindow, with_still  # noqa: E402
from avsync.artefacts.still import FROZEN_SAME, MIN_FRAMES, still_evidence, still_probability  # noqa: E402
from avsync.face import track  # noqa: E402
from avsync.face.types import FaceTrack, FaceTracks  # noqa: E402
from avsync.pipeline import artefact_cue  # noqa: E402
from avsync.results import Status  # noqa: E402
from avsync.sections import _core, _join  # noqa: E402

W, H = 480, 360


@pytest.fixture(scope="module")
def patch() -> np.ndarray:
    return np.ascontiguousarray(skimage_data.astronaut()[20:240, 130:320])


def talking_still(patch: np.ndarray, n: int = 60, noise: int = 0, seed: int = 0) -> np.ndarray:
    """A face pasted at a fixed place on a textured background; its mouth area changes every frame (an animated
    photo). ``noise``: the background also gets fresh noise of that amplitude every frame (a camera)."""
    rng = np.random.default_rng(seed)
    base = rng.integers(70, 110, size=(H // 8, W // 8, 3)).astype(np.uint8)
    import cv2

    bg = cv2.resize(base, (W, H), interpolation=cv2.INTER_LINEAR)
    frames = np.repeat(bg[None], n, axis=0).copy()
    x, y = 150, 70
    ph, pw = patch.shape[:2]
    for i in range(n):
        if noise:
            frames[i] = np.clip(frames[i].astype(np.int16) + rng.integers(-noise, noise + 1, frames[i].shape), 0,
                                255).astype(np.uint8)
        face = patch.copy()
        mouth = face[110:150, 60:130].astype(np.int16) + rng.integers(-12, 13, size=(40, 70, 3))
        face[110:150, 60:130] = np.clip(mouth, 0, 255).astype(np.uint8)
        frames[i, y : y + ph, x : x + pw] = face
    return frames


def media(frames: np.ndarray) -> avsync.Media:
    return avsync.Media.from_arrays(None, frames=frames, fps=25.0, name="synthetic")


def test_tracker_sees_frozen_surroundings_of_an_animated_photo(patch):
    faces = track(media(talking_still(patch)))
    main = faces.dominant()
    assert main is not None and main.surround_still is not None and main.surround_still.shape == (len(main),)
    s = main.surround_still
    assert np.isnan(s[0])  # nothing to compare the first frame with
    assert np.nanmin(s[1:]) >= FROZEN_SAME
    ev = still_evidence(main)
    assert ev.frames == len(main) - 1 and ev.frozen == ev.frames and ev.share == 1.0 and ev.p > 0.99


def test_tracker_sees_a_camera_s_noise_around_the_face(patch):
    main = track(media(talking_still(patch, noise=3))).dominant()
    assert main is not None
    s = main.surround_still
    assert np.nanmax(s) < 0.5  # sensor noise changes most pixels around the face in every frame
    ev = still_evidence(main)
    assert ev.frozen == 0 and ev.p is not None and ev.p < 0.01


def test_repeated_frames_are_not_measured(patch):
    """A source with fewer frames than the analysis rate repeats pictures: the head does not change either."""
    frames = talking_still(patch, n=40)
    doubled = np.repeat(frames, 2, axis=0)
    s = track(media(doubled)).dominant().surround_still
    assert np.isnan(s[1::2]).all()  # each repeat
    assert np.nanmin(s[2::2]) >= FROZEN_SAME  # each new picture of the animated photo


def test_surround_still_survives_serialisation(patch):
    faces = track(media(talking_still(patch, n=30)))
    back = FaceTracks.from_dict(json.loads(json.dumps(faces.to_dict(arrays=True))))
    a, b = faces.tracks[0].surround_still, back.tracks[0].surround_still
    np.testing.assert_allclose(b, np.round(a, 4), equal_nan=True)


def make_track(still: np.ndarray, valid: np.ndarray | None = None, fps: float = 25.0) -> FaceTrack:
    n = len(still)
    return FaceTrack(track_id=0, frames=np.arange(n), boxes=np.tile([100, 100, 200, 220], (n, 1)).astype(np.float32),
                     points=np.zeros((n, 5, 2), np.float32), scores=np.ones(n, np.float32),
                     valid=np.ones(n, bool) if valid is None else valid, fps=fps,
                     surround_still=np.asarray(still, np.float32))


def test_evidence_counts_measurable_valid_frames_and_windows():
    s = np.full(100, 0.5, np.float32)
    s[50:] = 1.0  # frozen in the second half (2-4 s)
    s[::10] = np.nan  # unmeasurable frames are left out, not counted as moving
    valid = np.ones(100, bool)
    valid[60:70] = False  # frames without a face do not count
    ev = still_evidence(make_track(s, valid), windows=[(0.0, 2.0), (2.0, 4.0), (3.9, 4.0)])
    assert ev.frames == 81 and ev.frozen == 36  # 100 - 10 unmeasurable - 9 more without a face
    assert ev.share == pytest.approx(36 / 81, abs=1e-4) and ev.p == pytest.approx(still_probability(36 / 81))
    assert ev.window_p[0] == pytest.approx(still_probability(0.0)) and ev.window_p[1] == pytest.approx(1.0, abs=1e-3)
    assert ev.window_p[2] is None  # under MIN_FRAMES measurable frames


def test_evidence_needs_enough_frames_and_a_measurement():
    assert still_evidence(make_track(np.ones(MIN_FRAMES - 1))).p is None
    assert still_evidence(make_track(np.ones(MIN_FRAMES + 1))).p > 0.99
    t = replace(make_track(np.ones(50)), surround_still=None)  # a track not made by the tracker
    ev = still_evidence(t)
    assert ev.frames == 0 and ev.p is None


def result(score: float, windows: tuple[float | None, ...]) -> ArtefactResult:
    wins = tuple(ArtefactWindow(2.0 * i, 2.0 * i + 2.0, s, 10) for i, s in enumerate(windows))
    return ArtefactResult(Status.OK, score, 0.5, wins, track_id=0, model="artefact-mouth", n_frames=20)


def test_with_still_only_raises_the_mouth_region_scores():
    frozen = FaceTracks(Status.OK, (make_track(np.ones(100)),), 100, 25.0, (480, 360), 1.0, "yunet")
    r = with_still(result(0.2, (0.1, None)), frozen)
    assert r.score > 0.99 and r.model_score == 0.2 and r.still is not None and r.still.share == 1.0
    assert r.windows[0].score > 0.99 and r.windows[1].score is None  # a window the model did not score stays so
    moving = FaceTracks(Status.OK, (make_track(np.full(100, 0.3)),), 100, 25.0, (480, 360), 1.0, "yunet")
    r = with_still(result(0.9, (0.95, 0.1)), moving)
    assert r.score == 0.9 and [w.score for w in r.windows] == [0.95, 0.1] and r.still.p < 0.01
    # nothing to measure, another status or no faces: the result as it was
    unmeasured = FaceTracks(Status.OK, (make_track(np.full(100, np.nan)),), 100, 25.0, (480, 360), 1.0, "yunet")
    base = result(0.3, (0.3,))
    assert with_still(base, unmeasured).score == 0.3
    assert with_still(base, None) is base
    no_face = ArtefactResult(Status.NO_FACE, threshold=0.5)
    assert with_still(no_face, frozen) is no_face


def test_cue_names_the_frozen_surroundings():
    frozen = FaceTracks(Status.OK, (make_track(np.ones(100)),), 100, 25.0, (480, 360), 1.0, "yunet")
    cue = artefact_cue(with_still(result(0.2, (0.1, 0.1)), frozen))
    assert cue.score > 0.99 and len(cue.reasons) == 1
    assert "frozen in 100 % of frames" in cue.reasons[0] and "still image" in cue.reasons[0]
    # moving surroundings: the model's own wording
    moving = FaceTracks(Status.OK, (make_track(np.full(100, 0.3)),), 100, 25.0, (480, 360), 1.0, "yunet")
    cue = artefact_cue(with_still(result(0.8, (0.8, 0.8)), moving))
    assert all("frozen" not in r for r in cue.reasons) and cue.reasons


def test_sections_keep_surround_still():
    s = np.linspace(0, 1, 50).astype(np.float32)
    t = make_track(s)
    a, b = _core(t, 0, 20), _core(replace(t, frames=t.frames + 30), 30, 80)  # a gap of 10 frames between the parts
    joined = _join([a, b])
    assert joined.surround_still is not None and len(joined.surround_still) == len(joined)
    np.testing.assert_array_equal(joined.surround_still[:20], s[:20])
    assert np.isnan(joined.surround_still[20:30]).all()
    np.testing.assert_array_equal(joined.surround_still[30:], s[:50])


def test_scorer_adds_the_evidence_only_when_asked(patch):
    """Off by default (heavy compression freezes real surroundings too): the verdict's mouth-region cue is the model's."""
    from avsync.artefacts import ArtefactScorer

    m = media(talking_still(patch, n=50))
    scorer = ArtefactScorer()
    plain = scorer(m)
    assert plain.status is Status.OK and plain.still is None and plain.model_score is None
    asked = scorer(m, still=True)
    assert asked.still is not None and asked.still.share == 1.0
    assert asked.model_score == pytest.approx(plain.score) and asked.score > 0.99
