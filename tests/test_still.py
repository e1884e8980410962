"""Frozen surroundings: the tracker's ``surround_still`` / ``face_still`` and the evidence built on them
(``avsync.artefacts.still``)."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

pytest.importorskip("cv2")
skimage_data = pytest.importorskip("skimage.data")

import avsync  # noqa: E402
from avsync.artefacts.scorer import ArtefactResult, ArtefactWindow, with_still  # noqa: E402
from avsync.artefacts.still import FACE_MOVES_MAX, FROZEN_SAME, MIN_FRAMES, still_evidence, still_probability  # noqa: E402
from avsync.face import track  # noqa: E402
from avsync.face.types import FaceTrack, FaceTracks  # noqa: E402
from avsync.pipeline import artefact_cue  # noqa: E402
from avsync.results import Status  # noqa: E402
from avsync.sections import _core, _join  # noqa: E402

W, H = 480, 360


@pytest.fixture(scope="module")
def patch() -> np.ndarray:
    return np.ascontiguousarray(skimage_data.astronaut()[20:240, 130:320])


def talking_still(patch: np.ndarray, n: int = 60, noise: int = 0, seed: int = 0, face_jitter: int = 2,
                  mouth: tuple[int, int, int, int] = (110, 150, 60, 130)) -> np.ndarray:
    """A face pasted at a fixed place on a textured background, re-rendered every frame (``face_jitter``: fresh
    noise of that amplitude over the whole face, as a portrait animator renders it anew) with a mouth area that
    changes more (``mouth``: rows and columns of the patch; an animated photo); ``face_jitter=0`` keeps the face's
    pixels outside the mouth unchanged.
    ``noise``: the background also gets fresh noise of that amplitude every frame (a camera)."""
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
        if face_jitter:  # the face (the detector's box is about rows 44-154, columns 50-137 of the patch)
            inner = face[40:160, 45:145].astype(np.int16) + rng.integers(-face_jitter, face_jitter + 1, (120, 100, 3))
            face[40:160, 45:145] = np.clip(inner, 0, 255).astype(np.uint8)
        r0, r1, c0, c1 = mouth
        moved = face[r0:r1, c0:c1].astype(np.int16) + rng.integers(-12, 13, size=(r1 - r0, c1 - c0, 3))
        face[r0:r1, c0:c1] = np.clip(moved, 0, 255).astype(np.uint8)
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
    f = main.face_still
    assert f is not None and f.shape == (len(main),) and np.isnan(f[0]) and np.nanmax(f[1:]) < 0.2  # re-rendered
    ev = still_evidence(main)
    assert ev.frames == len(main) - 1 and ev.frozen == ev.frames and ev.share == 1.0 and ev.p > 0.99


def test_a_face_copied_with_its_surroundings_is_not_evidence(patch):
    """What an encoder does to a static shot at a high CRF: the surroundings and most of the face stay bit-identical
    and only the moving mouth is coded anew. The face does not move, so the frames do not count as frozen."""
    main = track(media(talking_still(patch, face_jitter=0, mouth=(125, 150, 75, 115)))).dominant()
    assert main is not None and main.face_still is not None
    assert np.nanmin(main.surround_still[1:]) >= FROZEN_SAME and np.nanmin(main.face_still[1:]) > FACE_MOVES_MAX
    ev = still_evidence(main)
    assert ev.frames == len(main) - 1 and ev.frozen == 0 and ev.p is not None and ev.p < 0.01


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
    for name in ("surround_still", "face_still"):
        a, b = getattr(faces.tracks[0], name), getattr(back.tracks[0], name)
        np.testing.assert_allclose(b, np.round(a, 4), equal_nan=True)


def make_track(still: np.ndarray, valid: np.ndarray | None = None, fps: float = 25.0,
               face: np.ndarray | None = None) -> FaceTrack:
    """A track whose surroundings read ``still``; its face moves (``face_still`` 0.1) unless ``face`` says."""
    n = len(still)
    return FaceTrack(track_id=0, frames=np.arange(n), boxes=np.tile([100, 100, 200, 220], (n, 1)).astype(np.float32),
                     points=np.zeros((n, 5, 2), np.float32), scores=np.ones(n, np.float32),
                     valid=np.ones(n, bool) if valid is None else valid, fps=fps,
                     surround_still=np.asarray(still, np.float32),
                     face_still=np.full(n, 0.1, np.float32) if face is None else np.asarray(face, np.float32))


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
    # without face_still (a track saved before it was recorded) whether the face moved cannot be told: no evidence
    ev = still_evidence(replace(make_track(np.ones(50)), face_still=None))
    assert ev.frames == 50 and ev.frozen == 0 and ev.p < 0.01


def test_a_frame_is_frozen_only_while_its_face_moves():
    face = np.full(100, 0.1, np.float32)
    face[:60] = FACE_MOVES_MAX + 0.01  # the face copied unchanged too in the first 60 frames
    face[60:70] = FACE_MOVES_MAX  # the limit itself still counts as moving
    face[70:75] = np.nan  # not measurable: not counted as moving
    ev = still_evidence(make_track(np.ones(100), face=face))
    assert ev.frames == 100 and ev.frozen == 35


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


def test_evidence_below_its_neutral_point_raises_nothing():
    """Surroundings frozen in 40 % of frames (p = 0.27, under the 0.45 midpoint) are no evidence: a genuine-leaning
    model score is not lifted towards doubt, in the clip or in a window."""
    s = np.where(np.arange(100) % 10 < 4, 1.0, 0.3).astype(np.float32)  # 40 % of the frames frozen, spread evenly
    faces = FaceTracks(Status.OK, (make_track(s),), 100, 25.0, (480, 360), 1.0, "yunet")
    r = with_still(result(0.1, (0.1, 0.1)), faces)
    assert r.still is not None and 0.2 < r.still.p < 0.5
    assert r.score == 0.1 and [w.score for w in r.windows] == [0.1, 0.1] and not r.still_decides
    # under a lower threshold the same evidence still lifts nothing, so it is not named as the finding either
    low = with_still(replace(result(0.1, (0.1, 0.1)), threshold=0.2), faces)
    assert low.score == 0.1 and not low.still_decides and "frozen" not in low.summary
    assert all("frozen" not in x for x in artefact_cue(low).reasons)


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
    assert joined.face_still is not None and np.isnan(joined.face_still[20:30]).all()
    np.testing.assert_array_equal(joined.face_still[:20], t.face_still[:20])


def test_scorer_adds_the_evidence_unless_told_not_to(patch):
    from avsync.artefacts import ArtefactScorer

    m = media(talking_still(patch, n=50))
    scorer = ArtefactScorer()
    plain = scorer(m, still=False)
    assert plain.status is Status.OK and plain.still is None and plain.model_score is None
    asked = scorer(m)
    assert asked.still is not None and asked.still.share == 1.0
    assert asked.model_score == pytest.approx(plain.score) and asked.score > 0.99
    assert asked.still_decides and "frozen in 100 % of frames" in asked.summary
    assert not plain.still_decides and "frozen" not in plain.summary


def talking_photo_media(patch: np.ndarray, seconds: float) -> avsync.Media:
    """An animated photo with a voice-like tone (so that the audio-visual analyses run)."""
    sr, n = 16000, int(seconds * 25)
    t = np.arange(int(seconds * sr)) / sr
    audio = (0.1 * np.sin(2 * np.pi * 220 * t) * (1 + np.sin(2 * np.pi * 3 * t))).astype(np.float32)
    return avsync.Media.from_arrays(audio, frames=talking_still(patch, n=n), fps=25.0, sample_rate=sr, name="photo")


@pytest.mark.parametrize("section_s", [None, 2.0])
def test_analyze_reports_an_animated_photo(patch, section_s):
    """The verdict's mouth-region cue carries the evidence, for a video analysed at once and one in sections (the
    evidence is added once, on the merged faces); ``still=False`` leaves the model's own score and words."""
    from avsync.pipeline import Detector

    m = talking_photo_media(patch, 5.0)
    cue = next(c for c in Detector(spoof_model=False, section_s=section_s)(m).cues if c.name == "artefact")
    assert cue.status is Status.OK and cue.score > 0.99 and "still image" in cue.reasons[0]
    off = next(c for c in Detector(spoof_model=False, section_s=section_s, still=False)(m).cues if c.name == "artefact")
    assert off.score < 0.99 and all("frozen" not in r for r in off.reasons)


def test_eval_task_adds_the_evidence_unless_told_not_to(patch, tmp_path):
    """``avsync eval --task artefacts`` scores what ``avsync artefacts`` reports; ``--option still=false`` the model."""
    import av

    from avsync.artefacts.task import eval_task

    path = tmp_path / "photo.mp4"
    with av.open(str(path), "w") as c:  # lossless, so the frozen pixels stay bit-identical
        st = c.add_stream("libx264rgb", rate=25, options={"crf": "0"})
        st.width, st.height, st.pix_fmt = W, H, "rgb24"
        for f in talking_still(patch, n=50):
            for p in st.encode(av.VideoFrame.from_ndarray(f, format="rgb24")):
                c.mux(p)
        for p in st.encode():
            c.mux(p)
    with_ev, alone = eval_task()(str(path)), eval_task(still=False)(str(path))
    assert with_ev["status"] == alone["status"] == "ok"
    assert with_ev["score"] > 0.99 and with_ev["still"]["share"] == 1.0
    assert alone["score"] < with_ev["score"] and alone["still"] is None
