"""Face detection, tracking and crops on synthetic clips made from a real face photo.

scikit-image's ``astronaut()`` (public domain, NASA) is pasted into seeded noise frames, moved,
hidden, doubled and cut; ground truth is where we pasted it.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

skimage_data = pytest.importorskip("skimage.data")
cv2 = pytest.importorskip("cv2")
pytest.importorskip("yuface")

import avsync
from avsync.face import (
    FaceTrack,
    FaceTracks,
    HaarDetector,
    Tracker,
    TrackerConfig,
    YuNetDetector,
    face_crop,
    iou_matrix,
    mouth_crop,
    track,
)
from avsync.results import Status

# face patch of the astronaut photo and where its mouth centre lies inside it (YuNet's mouth corners
# at (198, 142) and (239, 143) in the 512×512 photo)
PATCH_Y, PATCH_X = slice(20, 240), slice(130, 320)
MOUTH_IN_PATCH = np.array([218.5 - 130, 142.5 - 20])
W, H = 480, 360


@pytest.fixture(scope="module")
def patch() -> np.ndarray:
    return np.ascontiguousarray(skimage_data.astronaut()[PATCH_Y, PATCH_X])


def background(rng, n, w=W, h=H, level=90):
    base = rng.integers(level - 20, level + 20, size=(h // 8, w // 8, 3)).astype(np.uint8)
    bg = cv2.resize(base, (w, h), interpolation=cv2.INTER_LINEAR)
    return np.repeat(bg[None], n, axis=0)


def paste(frame, patch, x, y):
    ph, pw = patch.shape[:2]
    frame[y : y + ph, x : x + pw] = patch


def moving_clip(patch, n=75, seed=0):
    rng = np.random.default_rng(seed)
    frames = background(rng, n)
    xs = np.round(40 + 150 * np.arange(n) / n).astype(int)
    ys = np.round(60 + 20 * np.sin(np.arange(n) / 8)).astype(int)
    for i in range(n):
        paste(frames[i], patch, xs[i], ys[i])
    truth = np.stack([xs, ys], 1) + MOUTH_IN_PATCH
    return frames, truth


def media(frames):
    return avsync.Media.from_arrays(None, frames=frames, fps=25.0, name="synthetic")


def test_detectors_find_the_face(patch):
    img = np.ascontiguousarray(skimage_data.astronaut())
    d = YuNetDetector().detect(img)
    assert len(d) == 1 and d.scores[0] > 0.8
    mouth = d.points[0, 3:].mean(0)
    assert np.abs(mouth - [218.5, 142.5]).max() < 6
    h = HaarDetector().detect(img)
    assert len(h) >= 1 and h.points_estimated
    assert iou_matrix(h.boxes[:1], d.boxes).max() > 0.5


def test_yunet_takes_gray_images_as_they_are_with_the_detections_of_their_rgb_copy(patch):
    """YuNet converts channels with OpenCV (gray → BGR, RGB → BGR): the bytes numpy's repeated or reversed channels
    give, so the same detections; and the tracker, which now hands it gray work frames unconverted, finds the same
    boxes and points as when every gray frame was made RGB first."""
    det = YuNetDetector()
    assert det.accepts_gray
    astro = np.ascontiguousarray(skimage_data.astronaut())
    gray = np.ascontiguousarray(astro.mean(2).astype(np.uint8))
    for img, bgr in ((astro, astro[..., ::-1]), (gray, np.repeat(gray[..., None], 3, axis=2)),
                     (astro[50:300:2, 40:400:2], astro[50:300:2, 40:400:2, ::-1])):  # a strided view too
        want = det._raw(np.ascontiguousarray(bgr))
        got = det.detect(img)
        keep = want[want[:, 0] >= det.threshold * 100]
        assert len(keep) >= 1 and np.array_equal(got.scores, (keep[:, 0] / 100).astype(np.float32))
        assert np.array_equal(got.boxes[:, :2], keep[:, 1:3].astype(np.float32))

    class Recording:  # the same detector, recording the images it is handed
        def __init__(self, gray: bool):
            self.name, self.max_side, self.seen = det.name, det.max_side, []
            if gray:
                self.accepts_gray = True

        def detect(self, image):
            self.seen.append(image.ndim)
            return det.detect(image)

    frames = background(np.random.default_rng(0), 30, w=1280, h=720)  # over 640 x 480: the tracker reads gray
    for i in range(30):
        paste(frames[i], patch, 300 + 4 * i, 200 + (i % 5))
    m = media(frames)
    gray_in, rgb_in = Recording(True), Recording(False)
    a, b = track(m, detector=gray_in), track(m, detector=rgb_in)
    assert set(gray_in.seen) == {2} and set(rgb_in.seen) == {3}  # gray work frames, unconverted / made RGB
    assert len(a.tracks) == len(b.tracks) >= 1
    for ta, tb in zip(a.tracks, b.tracks):
        assert np.array_equal(ta.boxes, tb.boxes) and np.array_equal(ta.points, tb.points)


@pytest.mark.parametrize("mouth_size", [96, 24], ids=["plain", "blurred"])
def test_gray_frames_mapped_where_read_give_the_same_tracks_and_crops(tmp_path, monkeypatch, mouth_size):
    """A decoded gray pass keeps each frame's luma plane and range-maps only what it reads (full scans, region
    checks, the pixels a mouth crop reads): the same boxes, points, mouth crops and context crops as mapping
    every frame whole. ``mouth_size`` 24 makes the crops downscale enough for the anti-alias blur."""
    from avsync.face import ContextCropSpec
    from avsync.media import decode
    from avsync.synth import ClipSpec, make_clip

    path = make_clip(tmp_path / "big", ClipSpec(face="photo", size=(960, 544), duration=2.0, timbre="vowel"))
    spec = ContextCropSpec(size=128, step=5)
    runs = []
    for whole in (False, True):
        if whole:  # every frame mapped on decoding (no range tables handed over)
            orig = decode._gray_into
            monkeypatch.setattr(decode, "_gray_into", lambda f, size, out, map_range=True: orig(f, size, out))
        m = avsync.load_media(path)
        chunk = next(m.frames(chunk_size=8, gray="luma"))
        assert any(t is not None for t in chunk.extra["gray_tables"]) != whole
        runs.append(track(m, crops=("mouth", "face"), mouth_size=mouth_size, context=spec))
    a, b = runs
    assert len(a.tracks) == len(b.tracks) >= 1
    for ta, tb in zip(a.tracks, b.tracks):
        assert np.array_equal(ta.boxes, tb.boxes) and np.array_equal(ta.points, tb.points)
        assert np.array_equal(ta.mouth_crops, tb.mouth_crops) and np.array_equal(ta.face_crops, tb.face_crops)
        assert ta.context is not None and np.array_equal(ta.context.images, tb.context.images)


def test_yunet_reuses_one_result_buffer_with_the_bindings_detections(monkeypatch):
    """yuface.c_detect leaks its 36 KiB result buffer on every call; the detector calls the library itself
    with a buffer of its own and must find exactly what the binding finds."""
    det = YuNetDetector()
    if det._cnn is None:
        pytest.skip("this yuface build does not expose facedetect_cnn")
    rng = np.random.default_rng(0)
    astro = np.ascontiguousarray(skimage_data.astronaut())
    images = [astro, np.ascontiguousarray(astro[::2, ::2]), np.ascontiguousarray(astro[40:300, 60:400]),
              np.hstack([astro, astro[:, ::-1]]), (rng.random((120, 160, 3)) * 255).astype(np.uint8)]
    expected = []
    for img in images:
        bgr = np.ascontiguousarray(img[..., ::-1])
        expected.append(np.asarray(det._yf.c_detect(bgr)).reshape(-1, 16)[:, :15])
    assert sum(len(e) for e in expected) >= 4  # faces were found (two in the mirrored pair)
    monkeypatch.setattr(det._yf, "c_detect", lambda *a: pytest.fail("the leaking binding was called"))
    for img, e in zip(images, expected):
        raw = det._raw(np.ascontiguousarray(img[..., ::-1]))
        assert raw.dtype == np.int16 and np.array_equal(raw[:, :15], e)
        d = det.detect(img)
        assert np.array_equal(d.scores, (e[e[:, 0] >= det.threshold * 100, 0] / 100).astype(np.float32))
    # one detector shared by threads: each thread has its own result buffer
    from concurrent.futures import ThreadPoolExecutor

    bgrs = [np.ascontiguousarray(img[..., ::-1]) for img in images] * 8
    with ThreadPoolExecutor(4) as pool:
        got = list(pool.map(det._raw, bgrs))
    assert all(np.array_equal(g[:, :15], expected[k % len(images)]) for k, g in enumerate(got))


def test_single_moving_face_one_track_mouth_centred(patch):
    frames, truth = moving_clip(patch)
    res = track(media(frames), crops=("mouth", "face"), mouth_size=112)
    assert res.status == Status.OK
    assert len(res.tracks) == 1
    t = res.dominant()
    assert t.valid_fraction == 1.0 and len(t) == len(frames) and res.face_fraction == 1.0
    mouth = t.points[:, 3:].mean(1)
    err = np.abs(mouth - truth).max(1)
    assert np.median(err) < 6 and err.max() < 10, err  # YuNet itself varies by ±3 px with the context
    assert t.mouth_crops.shape == (75, 112, 112) and t.mouth_crops.dtype == np.uint8
    assert t.face_crops.shape == (75, 112, 112)
    # the crop is centred on the mouth: it matches a crop cut at the true mouth centre up to a small shift
    side = t.mouth_boxes()[:, 2] - t.mouth_boxes()[:, 0]
    for i in (5, 37, 70):
        centre = truth[i] + [0, 0.07 * side[i]]  # the crop centre sits 0.07 side below the corners' midpoint
        ref = mouth_crop(frames[i], centre, float(side[i]), 0.0, size=112).astype(np.float32)
        (dx, dy), _ = cv2.phaseCorrelate(ref, t.mouth_crops[i].astype(np.float32))
        assert np.hypot(dx, dy) * side[i] / 112 < 8, (i, dx, dy)  # in frame pixels
    assert res.keyframes < len(frames)  # not every frame is detected


def test_mouth_crop_geometry_centre_scale_rotation():
    img = np.full((200, 300), 200, np.uint8)
    cv2.circle(img, (180, 90), 6, 0, -1)  # the "mouth"
    cv2.circle(img, (180 + 30, 90), 4, 0, -1)  # a mark to the right of it
    crop = mouth_crop(img, np.array([180.0, 90.0]), 48.0, 0.0, size=96)
    ys, xs = np.nonzero(crop[:, :70] < 100)
    assert abs(ys.mean() - 47.5) < 1 and abs(xs.mean() - 47.5) < 1
    # a 30° roll of the whole picture is undone by passing the eye-line angle
    m = cv2.getRotationMatrix2D((180, 90), -30, 1.0)
    rot = cv2.warpAffine(img, m, (300, 200), borderValue=200)
    crop_r = mouth_crop(rot, np.array([180.0, 90.0]), 48.0, np.radians(30), size=96)
    assert np.abs(crop_r.astype(int) - crop.astype(int)).mean() < 6
    assert mouth_crop(np.dstack([img] * 3), np.array([180.0, 90.0]), 48.0, color="rgb").shape == (96, 96, 3)


def test_two_faces_second_appears_and_leaves(patch):
    rng = np.random.default_rng(1)
    n = 75
    frames = background(rng, n, w=640)
    small = cv2.resize(patch, (patch.shape[1] * 3 // 4, patch.shape[0] * 3 // 4))
    for i in range(n):
        paste(frames[i], patch, 20, 60)
        if 25 <= i < 60:
            paste(frames[i], np.ascontiguousarray(small[:, ::-1]), 400, 100)
    res = track(media(frames))
    assert res.status == Status.OK
    assert len(res.tracks) == 2
    a, b = res.tracks
    assert a.valid_fraction == 1.0 and len(a) == n
    assert abs(b.start_frame - 25) <= 1 and abs(b.end_frame - 60) <= 1
    assert b.median_size < a.median_size
    assert res.dominant().track_id == a.track_id


def test_short_occlusion_keeps_identity(patch):
    frames, _ = moving_clip(patch)
    rng = np.random.default_rng(2)
    frames[30:40] = background(rng, 10)  # face hidden for 0.4 s
    res = track(media(frames))
    assert len(res.tracks) == 1
    t = res.tracks[0]
    assert len(t) == 75
    assert not t.valid[31:39].any() and t.valid[:29].all() and t.valid[41:].all()
    assert 0.85 < t.valid_fraction < 0.9
    assert abs(res.face_fraction - t.valid_fraction) < 1e-9


def test_long_absence_starts_a_new_track(patch):
    frames, _ = moving_clip(patch)
    rng = np.random.default_rng(3)
    frames[20:55] = background(rng, 35)  # 1.4 s > max_gap_s
    res = track(media(frames), max_gap_s=1.0)
    assert len(res.tracks) == 2
    assert {(t.start_frame, t.end_frame) for t in res.tracks} == {(0, 20), (55, 75)} or all(
        abs(t.end_frame - 20) <= 1 or abs(t.start_frame - 55) <= 1 for t in res.tracks
    )


def test_shot_change_splits_tracks(patch):
    rng = np.random.default_rng(4)
    n = 50
    frames = background(rng, n, level=60)
    frames[25:] = background(rng, n - 25, level=200)
    for i in range(n):
        paste(frames[i], patch, 40 if i < 25 else 60, 60)  # nearly the same place: IoU alone would join them
    res = track(media(frames))
    assert 25 in res.shot_changes
    assert len(res.tracks) == 2
    assert sorted((t.start_frame, t.end_frame) for t in res.tracks) == [(0, 25), (25, 50)]


def test_no_face_status_and_fraction():
    rng = np.random.default_rng(5)
    res = track(media(background(rng, 40)))
    assert res.status == Status.NO_FACE
    assert res.face_fraction == 0.0 and res.tracks == ()
    assert "0.0 %" in res.message
    d = json.loads(res.to_json())
    assert d["status"] == "no_face" and d["dominant_track"] is None


def test_steady_head_gives_steady_crops(patch):
    rng = np.random.default_rng(6)
    frames = background(rng, 50)
    for i in range(50):
        paste(frames[i], patch, 100, 60)
        noise = rng.integers(-6, 7, size=frames[i].shape)  # sensor noise makes raw detections jitter
        frames[i] = np.clip(frames[i].astype(int) + noise, 0, 255).astype(np.uint8)
    res = track(media(frames), crops=("mouth",), keyframe_interval=1)  # detect every frame: worst case
    t = res.dominant()
    centre = (t.boxes[:, :2] + t.boxes[:, 2:]) / 2
    assert centre.std(0).max() < 0.75
    raw = track(media(frames), keyframe_interval=1, smooth_sigma=0).dominant()
    assert np.abs(np.diff(t.points, axis=0)).mean() <= np.abs(np.diff(raw.points, axis=0)).mean()


def test_small_and_large_frames(patch):
    # a tiny face is flagged; a 4K frame is processed at the work size with coordinates in 4K pixels
    rng = np.random.default_rng(7)
    tiny = cv2.resize(patch, (patch.shape[1] // 5, patch.shape[0] // 5), interpolation=cv2.INTER_AREA)
    frames = background(rng, 30)
    for i in range(30):
        paste(frames[i], tiny, 200, 150)
    res = track(media(frames), min_face=48, detector=YuNetDetector(max_side=960))
    assert res.tracks, "YuNet found no face in the 30 px patch"  # it does at max_side 960 (measured)
    assert res.to_dict()["tracks"][0]["tiny"]
    assert any("smaller than 48 px" in w for w in res.warnings), res.warnings

    big = np.zeros((6, 2160, 3840, 3), np.uint8) + 80
    large = cv2.resize(patch, (patch.shape[1] * 4, patch.shape[0] * 4))
    for i in range(6):
        paste(big[i], large, 1000, 500)
    res = track(media(big), work_size=960)
    t = res.dominant()
    mouth = t.points[0, 3:].mean(0)
    assert np.abs(mouth - (np.array([1000, 500]) + 4 * MOUTH_IN_PATCH)).max() < 40  # detected at 1/8 scale
    assert res.frame_size == (3840, 2160)


def test_haar_fallback_tracks(patch):
    frames, truth = moving_clip(patch, n=40)
    res = track(media(frames), detector="haar", crops=("mouth",))
    t = res.dominant()
    assert t is not None and t.points_estimated and t.valid_fraction > 0.9
    err = np.abs(t.points[:, 3:].mean(1) - truth[t.frames]).max(1)
    assert np.median(err) < 15


def test_rotated_file_tracks_upright_face(tmp_path, patch):
    """A file stored sideways with display rotation metadata: Media.frames applies the rotation."""
    import av

    frames, truth = moving_clip(patch, n=25)
    path = tmp_path / "rot.mp4"
    with av.open(str(path), "w") as out:
        st = out.add_stream("libx264", rate=25)
        st.width, st.height, st.pix_fmt = H, W, "yuv420p"  # stored 360x480
        st.set_display_rotation(90) if hasattr(st, "set_display_rotation") else pytest.skip("no rotation API")
        for f in frames:
            stored = np.ascontiguousarray(np.rot90(f, k=-1))
            for p in st.encode(av.VideoFrame.from_ndarray(stored, format="rgb24")):
                out.mux(p)
        for p in st.encode():
            out.mux(p)
    m = avsync.load_media(str(path))
    res = track(m)
    if m.info.video.rotation % 360 != 90:
        pytest.skip("this FFmpeg build did not keep the rotation")
    assert res.frame_size == (W, H)
    t = res.dominant()
    assert t.valid_fraction > 0.95
    err = np.abs(t.points[:, 3:].mean(1) - truth[t.frames]).max(1)
    assert np.median(err) < 10  # a wrong rotation would put it 100+ px away


def test_serialisation_roundtrip(patch):
    frames, _ = moving_clip(patch, n=30)
    res = track(media(frames), crops=("mouth",))
    d = json.loads(json.dumps(res.to_dict(arrays=True)))
    back = FaceTracks.from_dict(d)
    assert back.status == res.status and len(back.tracks) == len(res.tracks)
    np.testing.assert_allclose(back.tracks[0].boxes, res.tracks[0].boxes, atol=0.01)
    assert d["tracks"][0]["mouth_crops"] == {"shape": [30, 96, 96], "dtype": "uint8"}
    assert "boxes" not in res.to_dict()["tracks"][0]  # summary by default
    t = FaceTrack.from_dict(res.tracks[0].to_dict())
    assert t.valid.dtype == bool and t.points.shape == (30, 5, 2)


def test_face_crop_matches_light_asd_recipe():
    rng = np.random.default_rng(8)
    img = rng.integers(0, 256, (200, 300), dtype=np.uint8)
    box = np.array([100.0, 50.0, 160.0, 120.0])
    # the original: pad by bsi with 110, cut, resize to 224, centre 112
    bs = max(box[2] - box[0], box[3] - box[1]) / 2
    cs = 0.4
    bsi = int(bs * (1 + 2 * cs))
    pad = np.pad(img, ((bsi, bsi), (bsi, bsi)), "constant", constant_values=110)
    my, mx = (box[1] + box[3]) / 2 + bsi, (box[0] + box[2]) / 2 + bsi
    face = pad[int(my - bs) : int(my + bs * (1 + 2 * cs)), int(mx - bs * (1 + cs)) : int(mx + bs * (1 + cs))]
    ref = cv2.resize(face, (224, 224))[56:168, 56:168]
    np.testing.assert_array_equal(face_crop(img, box), ref)
    # near the border: padding with 110
    edge = face_crop(img, np.array([-30.0, -20.0, 30.0, 40.0]))
    assert edge.shape == (112, 112) and (edge == 110).any()


def test_no_video_raises():
    m = avsync.Media.from_arrays(np.zeros(16000, np.float32), 16000)
    with pytest.raises(avsync.MediaError) as e:
        track(m)
    assert e.value.status == Status.NO_VIDEO


def test_cli_faces_json_and_preview(tmp_path, patch):
    import av
    from avsync_cli.main import cli
    from click.testing import CliRunner

    frames, _ = moving_clip(patch, n=25)
    path = tmp_path / "f.mp4"
    with av.open(str(path), "w") as out:
        st = out.add_stream("libx264", rate=25)
        st.width, st.height, st.pix_fmt = W, H, "yuv420p"
        for f in frames:
            for p in st.encode(av.VideoFrame.from_ndarray(f, format="rgb24")):
                out.mux(p)
        for p in st.encode():
            out.mux(p)
    prev = tmp_path / "prev.mp4"
    r = CliRunner().invoke(cli, ["faces", str(path), "--json", "--preview", str(prev)])
    assert r.exit_code == 0, r.output
    d = json.loads(r.output)[0]
    assert d["status"] == "ok" and d["tracks"][0]["valid_fraction"] > 0.95
    assert prev.exists() and avsync.inspect_media(str(prev)).video.frames == 25
    r = CliRunner().invoke(cli, ["faces", str(tmp_path / "missing.mp4")])
    assert r.exit_code == 1


def test_auto_falls_back_to_haar_without_yuface(monkeypatch, patch):
    import sys

    from avsync.face import get_detector

    monkeypatch.setitem(sys.modules, "yuface", None)  # as if the wheel were not installed
    with pytest.raises(avsync.ConfigError) as e:
        get_detector("yunet")
    assert "pip install" in str(e.value)
    assert get_detector("auto").name == "haar"
    frames, _ = moving_clip(patch, n=20)
    res = track(media(frames))
    assert res.detector == "haar" and any("yuface" in w for w in res.warnings)
    with pytest.raises(avsync.ConfigError):
        get_detector("nope")


def assert_same_tracks(a: FaceTracks, b: FaceTracks) -> None:
    """Every field of two results, every array of every track, bit for bit."""
    for k in ("status", "num_frames", "fps", "frame_size", "face_fraction", "detector", "keyframes", "shot_changes",
              "min_face", "path", "message", "warnings", "landmarker"):
        assert getattr(a, k) == getattr(b, k), k
    assert len(a.tracks) == len(b.tracks)
    for ta, tb in zip(a.tracks, b.tracks):
        for k in ("track_id", "fps", "points_estimated"):
            assert getattr(ta, k) == getattr(tb, k), k
        for k in ("frames", "boxes", "points", "scores", "valid", "mouth_crops", "face_crops", "lip_landmarks",
                  "mouth_open"):
            x, y = getattr(ta, k), getattr(tb, k)
            assert (x is None) == (y is None), k
            if x is not None:
                assert x.dtype == y.dtype and np.array_equal(x, y, equal_nan=x.dtype.kind == "f"), k


def test_tracker_with_config_equals_track(patch):
    """Tracker(TrackerConfig(...))(media, ...) is track(media, ...) with the same options; one tracker used on one
    clip after another gives each clip's own result (nothing of a call is left for the next)."""
    rng = np.random.default_rng(8)
    n = 60
    two = background(rng, n, w=640)
    small = cv2.resize(patch, (patch.shape[1] * 3 // 4, patch.shape[0] * 3 // 4))
    for i in range(n):
        if not 20 <= i < 26:  # a short occlusion
            paste(two[i], patch, 20 + i, 60)
        if 10 <= i < 45:
            paste(two[i], np.ascontiguousarray(small[:, ::-1]), 420, 100)
    one, _ = moving_clip(patch, n=40, seed=9)
    options = dict(keyframe_interval=4, smooth_sigma=1.5, mouth_size=64, mouth_color="rgb", max_gap_s=0.5,
                   min_track_frames=3, face_crop_scale=0.3)
    tracker = Tracker(TrackerConfig(**options), detector="yunet")
    assert tracker.config.keyframe_interval == 4 and tracker.detector.name == "yunet"
    for frames, call in ((two, dict(crops=("mouth", "face"), start=0.2)), (one, dict(crops=("mouth",), end=1.2))):
        seen: list[tuple[int, int]] = []
        got = tracker(media(frames), progress=lambda done, total: seen.append((done, total)), **call)
        assert got.tracks and got.tracks[0].mouth_crops.shape[1:] == (64, 64, 3)
        assert seen and seen[-1][1] == len(frames)
        assert_same_tracks(got, track(media(frames), detector="yunet", **options, **call))
    assert_same_tracks(tracker(media(two)), track(media(two), detector="yunet", **options))  # back to the first clip
    assert_same_tracks(Tracker()(media(one)), track(media(one)))  # defaults: TrackerConfig() is track()'s


def test_tracker_config_defaults_are_the_options_of_track():
    import dataclasses
    import inspect

    params = inspect.signature(track).parameters
    fields = dataclasses.fields(TrackerConfig)
    assert {f.name for f in fields} == set(params) - {"media", "detector", "crops", "start", "end", "landmarks",
                                                      "progress", "context"}
    assert all(f.default == params[f.name].default for f in fields)
    with pytest.raises(dataclasses.FrozenInstanceError):
        TrackerConfig().keyframe_interval = 2


@pytest.mark.parametrize(
    "field, value",
    [("keyframe_interval", 0), ("keyframe_interval", 2.5), ("mouth_size", -96), ("mouth_color", "bgr"),
     ("iou_threshold", 1.5), ("consistent_iou", float("nan")), ("smooth_sigma", -1.0), ("max_gap_s", float("inf")),
     ("chunk_size", True), ("roi_face", 0), ("min_track_frames", "5"), ("shot_threshold", -3)],
)
def test_invalid_tracker_config_names_the_field(field, value):
    with pytest.raises(avsync.ConfigError, match=f"TrackerConfig.{field} ") as e:
        TrackerConfig(**{field: value})
    assert e.value.status == Status.CONFIG_ERROR
    with pytest.raises(avsync.ConfigError, match=field):  # the same check behind track()'s keyword options
        track(media(np.zeros((3, 64, 64, 3), np.uint8)), **{field: value})
    with pytest.raises(avsync.ConfigError, match="TrackerConfig"):
        Tracker({"keyframe_interval": 4})
    TrackerConfig(smooth_sigma=0, shot_threshold=float("inf"), min_track_frames=0, mouth_shift=-0.1)  # valid edges


def test_old_module_paths_still_export_their_names():
    """The face package's modules moved (detectors/, landmarks/); the old import paths keep their names."""
    import avsync.face.blazeface as old_blazeface
    import avsync.face.detectors as detectors
    import avsync.face.landmarks as landmarks
    import avsync.face.tracking as tracking
    from avsync.face.detectors.blazeface import BlazeFaceDetector
    from avsync.face.landmarks.facemesh import FaceMeshLandmarker

    assert old_blazeface.BlazeFaceDetector is BlazeFaceDetector and old_blazeface.FaceMeshLandmarker is FaceMeshLandmarker
    assert {"LIPS_INNER", "LIPS_OUTER", "BlazeBlock", "BlazeFaceNet", "FaceMeshNet", "resolve_weights"} <= set(
        vars(old_blazeface))
    assert {"DetectorName", "FaceDetector", "HaarDetector", "YuNetDetector", "get_detector", "points_from_boxes",
            "OPENCV_INSTALL"} <= set(vars(detectors))
    assert {"FAN_CHECKPOINT", "IBUG_LIPS", "LANDMARKERS", "FaceAlignmentLandmarker", "LandmarkerName",
            "LipLandmarker", "MediaPipeLandmarker", "get_landmarker", "ibug_mouth_open", "ibug_to_lips",
            "lip_mouth_open", "resolve_fan_weights"} <= set(vars(landmarks))
    assert {"CropName", "iou_matrix", "track", "Tracker", "TrackerConfig"} <= set(vars(tracking))


@pytest.mark.parametrize("side, angle", [(60.0, 0.0), (300.0, 0.35), (500.0, -1.2)])
def test_mouth_crop_reads_only_within_its_reach(side, angle):
    # the region mouth_crop_reach gives is all mouth_crop reads (downscale blur and rotation included): a crop
    # cut from just that region, centre moved, equals the crop of the whole picture
    from avsync.face.crops import mouth_crop, mouth_crop_reach

    img = np.random.default_rng(5).integers(0, 256, (720, 1280, 3), dtype=np.uint8)
    centre = np.array([640.3, 361.7], np.float32)
    r = mouth_crop_reach(side, angle, size=128)
    x0, y0 = int(np.floor(centre[0] - r)), int(np.floor(centre[1] - r))
    x1, y1 = int(np.ceil(centre[0] + r)) + 1, int(np.ceil(centre[1] + r)) + 1
    whole = mouth_crop(img, centre, side, angle, size=128, color="rgb")
    part = mouth_crop(img[y0:y1, x0:x1], centre - np.array([x0, y0], np.float32), side, angle, size=128, color="rgb")
    assert np.array_equal(whole, part)
    # and it is not larger than needed by much: half the rotated square plus a few pixels
    assert r < side / 2 * (abs(np.cos(angle)) + abs(np.sin(angle))) + 12
