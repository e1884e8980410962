"""Lip-landmark backends (avsync.face.landmarks): layout mapping, MediaPipe, face-alignment adapter.

* MediaPipe tests run when ``mediapipe`` (with protobuf 4.x) imports; otherwise they skip saying so.
* face-alignment: its 2D-FAN checkpoint cannot be downloaded here, so its accuracy is NOT tested.
  What is tested: the clear error without the checkpoint, the iBUG-68 → 40-point lip mapping and
  the opening signal on synthetic arrays, and the adapter's crop / heatmap-decoding geometry with a
  stub network in place of FAN (a unit test of the adapter, not of FAN).
* Agreement MediaPipe vs our PyTorch face mesh on a real clip needs ../shared (skipped when absent).
"""

from __future__ import annotations

import importlib.util
import json

import numpy as np
import pytest
import torch

cv2 = pytest.importorskip("cv2")
skimage_data = pytest.importorskip("skimage.data")

import avsync
from avsync.errors import BundleError, ConfigError
from avsync.face import YuNetDetector, track
from avsync.face.landmarks import (
    FAN_CHECKPOINT,
    FaceAlignmentLandmarker,
    MediaPipeLandmarker,
    get_landmarker,
    ibug_mouth_open,
    ibug_to_lips,
    lip_mouth_open,
    resolve_fan_weights,
)
from avsync.face.landmarks.facemesh import LIPS_INNER, LIPS_OUTER, FaceMeshLandmarker

HAS_FA = importlib.util.find_spec("face_alignment") is not None


@pytest.fixture(scope="module")
def mediapipe_lm():
    if importlib.util.find_spec("mediapipe") is None:
        pytest.skip(
            "mediapipe is not installed (pip install 'avsync[mediapipe]' && pip install --no-deps mediapipe==0.10.21)"
        )
    try:
        lm = MediaPipeLandmarker()
    except ConfigError as e:  # e.g. protobuf >= 5
        pytest.skip(f"mediapipe is installed but unusable here: {e}")
    yield lm
    lm.close()


@pytest.fixture(scope="module")
def astronaut():
    img = np.ascontiguousarray(skimage_data.astronaut())
    d = YuNetDetector().detect(img)
    assert len(d) == 1
    return img, d


# ------------------------------------------------------------------------------------------------
# layout


def ibug_mouth(open_px: float, cx=100.0, cy=200.0, half=30.0) -> np.ndarray:
    """Synthetic iBUG-68 array whose mouth (48–67) is two ellipse arcs; the inner lips part by ``open_px``."""
    lm = np.zeros((68, 2), np.float32)
    lm[:48] = [cx, cy - 80]  # the rest of the face is irrelevant here
    a_out = np.deg2rad([180, 150, 120, 90, 60, 30, 0, -30, -60, -90, -120, -150])  # 48..59: upper lip first
    lm[48:60] = np.stack([cx + half * np.cos(a_out), cy - 12 * np.sin(a_out)], 1)
    a_in = np.deg2rad([180, 135, 90, 45, 0, -45, -90, -135])  # 60..67
    lm[60:68] = np.stack([cx + 0.8 * half * np.cos(a_in), cy - (open_px / 2) * np.sin(a_in)], 1)
    return lm


def test_ibug_to_lips_layout_matches_mediapipe_order():
    lm = ibug_mouth(10.0)
    lips = ibug_to_lips(lm)
    assert lips.shape == (40, 2) and lips.dtype == np.float32
    # corners and centres land where MediaPipe's order has them
    np.testing.assert_allclose(lips[0], lm[48]); np.testing.assert_allclose(lips[10], lm[54])  # fmt: skip
    np.testing.assert_allclose(lips[5], lm[57]); np.testing.assert_allclose(lips[15], lm[51])  # fmt: skip
    np.testing.assert_allclose(lips[20], lm[60]); np.testing.assert_allclose(lips[30], lm[64])  # fmt: skip
    np.testing.assert_allclose(lips[25], lm[66]); np.testing.assert_allclose(lips[35], lm[62])  # fmt: skip
    # 1..9 run along the lower lip (image y below the corners), 11..19 along the upper lip, left to right then back
    assert (lips[1:10, 1] > lm[48, 1]).all() and (lips[11:20, 1] < lm[48, 1]).all()
    assert (np.diff(lips[0:11, 0]) > 0).all() and (np.diff(lips[10:20, 0]) < 0).all()
    assert (lips[21:30, 1] > lm[60, 1]).all() and (lips[31:40, 1] < lm[60, 1]).all()
    # resampled points lie on the original polyline: between its neighbours
    assert np.abs(lips[:20, 0] - 100).max() <= 30 + 1e-4
    batch = ibug_to_lips(np.stack([lm, lm + 5]))
    assert batch.shape == (2, 40, 2)
    np.testing.assert_allclose(batch[1], lips + 5, atol=1e-4)
    with pytest.raises(ValueError):
        ibug_to_lips(np.zeros((5, 2)))


def test_mouth_opening_same_definition_across_layouts():
    closed, opened = ibug_mouth(0.0), ibug_mouth(18.0)
    mo = ibug_mouth_open(np.stack([closed, opened]))
    assert mo[0] == pytest.approx(0.0, abs=1e-6)
    assert mo[1] == pytest.approx(18.0 / 60.0, rel=1e-4)  # gap / outer-corner distance
    np.testing.assert_allclose(lip_mouth_open(ibug_to_lips(np.stack([closed, opened]))), mo, atol=1e-6)
    # the face-mesh layout: lip_mouth_open on the 40 lips equals FaceMeshLandmarker.mouth_open on the 468 points
    rng = np.random.default_rng(0)
    mesh = rng.uniform(0, 200, (3, 468, 3)).astype(np.float32)
    lips = FaceMeshLandmarker.lips(mesh)
    np.testing.assert_allclose(lip_mouth_open(lips), FaceMeshLandmarker.mouth_open(mesh), rtol=1e-5)
    assert LIPS_OUTER[0] == 61 and LIPS_OUTER[10] == 291 and LIPS_INNER[5] == 14 and LIPS_INNER[15] == 13


# ------------------------------------------------------------------------------------------------
# selection and errors


def test_get_landmarker_errors(tmp_path, monkeypatch):
    with pytest.raises(ConfigError, match="unknown lip-landmark backend"):
        get_landmarker("dlib")
    with pytest.raises(ConfigError, match="no lip_landmarks"):
        get_landmarker(object())
    monkeypatch.delenv("AVSYNC_MODELS_DIR", raising=False)
    with pytest.raises(BundleError, match="never downloads"):
        get_landmarker("facemesh", weights=tmp_path)
    m = avsync.Media.from_arrays(None, frames=np.zeros((5, 64, 64, 3), np.uint8), fps=25.0)
    with pytest.raises(ConfigError):  # before any decoding
        track(m, landmarks="nonsense")


def test_missing_packages_give_install_hints(monkeypatch):
    import sys

    import google.protobuf

    monkeypatch.setattr(google.protobuf, "__version__", "7.36.2")
    with pytest.raises(ConfigError, match="protobuf 4.x") as e:
        MediaPipeLandmarker()
    assert "protobuf>=4.25.3,<5" in str(e.value)
    monkeypatch.setattr(google.protobuf, "__version__", "4.25.9")
    monkeypatch.setitem(sys.modules, "mediapipe", None)  # import fails as if not installed
    with pytest.raises(ConfigError, match="mediapipe") as e:
        get_landmarker("mediapipe")
    assert "pip install --no-deps mediapipe==0.10.21" in str(e.value) and e.value.status.value == "config_error"
    monkeypatch.setitem(sys.modules, "face_alignment", None)
    monkeypatch.setitem(sys.modules, "face_alignment.models", None)
    with pytest.raises(ConfigError, match="face_alignment") as e:
        get_landmarker("face-alignment")
    assert "pip install --no-deps face-alignment==1.5.0" in str(e.value)


def test_fan_missing_checkpoint_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.delenv("AVSYNC_MODELS_DIR", raising=False)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    with pytest.raises(BundleError) as e:
        resolve_fan_weights()
    msg = str(e.value)
    assert FAN_CHECKPOINT in msg and str(tmp_path / "torch" / "hub" / "checkpoints") in msg
    assert "never downloads" in msg and e.value.status.value == "model_error"
    # found in torch hub's cache (where face-alignment itself keeps it) or through AVSYNC_MODELS_DIR
    hub = tmp_path / "torch" / "hub" / "checkpoints"
    hub.mkdir(parents=True)
    (hub / FAN_CHECKPOINT).write_bytes(b"not a checkpoint")
    # a file with the official name must hash to what its name announces
    with pytest.raises(BundleError, match="not the 2D-FAN checkpoint") as e:
        resolve_fan_weights()
    assert "11f355bf06" in str(e.value) and e.value.hint
    other = tmp_path / "my_fan.pth.tar"
    other.write_bytes(b"own")
    assert resolve_fan_weights(other) == other  # an explicit file of another name is used as given
    import avsync.face.landmarks.fan as fan

    monkeypatch.setattr(fan, "FAN_SHA256_PREFIX", "")  # below: where it is looked for, in which order
    assert resolve_fan_weights() == hub / FAN_CHECKPOINT
    models = tmp_path / "models" / "face-alignment"
    models.mkdir(parents=True)
    (models / FAN_CHECKPOINT).write_bytes(b"x")
    monkeypatch.setenv("AVSYNC_MODELS_DIR", str(tmp_path / "models"))
    assert resolve_fan_weights() == models / FAN_CHECKPOINT
    assert resolve_fan_weights(hub) == hub / FAN_CHECKPOINT  # explicit folder first
    if HAS_FA:  # a broken file is reported as such, not as a torch traceback
        with pytest.raises(BundleError, match="not a usable 2D-FAN checkpoint"):
            FaceAlignmentLandmarker(weights=hub / FAN_CHECKPOINT)


@pytest.mark.skipif(
    not HAS_FA,
    reason="face-alignment is not installed "
    "(pip install 'avsync[face-alignment]' && pip install --no-deps face-alignment==1.5.0)",
)
def test_fan_backend_without_checkpoint_via_track_and_cli(tmp_path, monkeypatch):
    from avsync_cli.main import cli
    from click.testing import CliRunner

    monkeypatch.delenv("AVSYNC_MODELS_DIR", raising=False)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    m = avsync.Media.from_arrays(None, frames=np.zeros((5, 64, 64, 3), np.uint8), fps=25.0)
    with pytest.raises(BundleError, match=FAN_CHECKPOINT):
        track(m, landmarks="face-alignment")
    r = CliRunner().invoke(cli, ["faces", "whatever.mp4", "--landmarks", "face-alignment"])
    assert r.exit_code == 1 and FAN_CHECKPOINT in r.output and "never downloads" in r.output


# ------------------------------------------------------------------------------------------------
# face-alignment adapter with a stub network (geometry of crop + heatmap decoding, not FAN's accuracy)


class BrightestSpotNet(torch.nn.Module):
    """Stub for FAN: 68 heatmaps [B, 68, 64, 64], all peaking (Gaussian) at the crop's brightest spot."""

    def forward(self, x):
        b = x.shape[0]
        g = x.mean(1)  # [B, 256, 256]
        idx = g.reshape(b, -1).argmax(1)
        py, px = (idx // 256).float() / 4, (idx % 256).float() / 4  # on the 64 grid, continuous
        yy, xx = torch.meshgrid(torch.arange(64.0), torch.arange(64.0), indexing="ij")
        hm = torch.exp(-((xx + 0.5 - px[:, None, None] - 0.125) ** 2 + (yy + 0.5 - py[:, None, None] - 0.125) ** 2))
        return [hm[:, None].expand(b, 68, 64, 64).contiguous()]  # FAN returns a list of stacks


def test_fan_adapter_geometry_with_stub_network():
    lmk = FaceAlignmentLandmarker(net=BrightestSpotNet(), batch_size=2)
    rng = np.random.default_rng(0)
    images, boxes, truth = [], [], []
    for size, (x0, y0) in [(120, (300, 200)), (60, (80, 90)), (200, (500, 330))]:
        img = rng.integers(0, 60, (480, 640, 3)).astype(np.uint8)
        img[y0 - 1 : y0 + 2, x0 - 1 : x0 + 2] = 255  # the "landmark" (3×3, centred on x0, y0)
        # a face box whose crop contains the spot (off-centre on purpose)
        bx, by = x0 - 0.4 * size, y0 - 0.7 * size
        boxes.append([bx, by, bx + size, by + size])
        images.append(img)
        truth.append((x0, y0))
    images[1] = cv2.cvtColor(images[1], cv2.COLOR_RGB2GRAY)  # gray frames are accepted
    scores, lm = lmk.landmarks(images, np.array(boxes, np.float32))
    assert lm.shape == (3, 68, 2) and scores.shape == (3, 68)
    for k, (size, t) in enumerate(zip([120, 60, 200], truth)):
        cell = 200.0 * (2 * size) / 165.0 / 64  # one heatmap cell in image pixels
        err = np.abs(lm[k] - np.array(t, np.float32)).max()
        assert err < 0.45 * cell, (k, err, cell)  # argmax + quarter-cell step: measured ≤ 0.31 cell
    lips, mo = lmk.lip_landmarks(images, np.array(boxes, np.float32))
    assert lips.shape == (3, 40, 2) and mo.shape == (3,)
    assert np.allclose(mo, 0.0)  # all points at one spot: no opening
    empty = lmk.lip_landmarks([], np.zeros((0, 4), np.float32))
    assert empty[0].shape == (0, 40, 2)


class TemplateNet(torch.nn.Module):
    """Stub for FAN: heatmaps at a fixed mouth (iBUG 48–67) inside the 256 crop, opened by ``gap`` cells."""

    def __init__(self, gap: float):
        super().__init__()
        pts = ibug_mouth(gap, cx=32.5, cy=44.5, half=8.0) - 0.5  # cell indices on the 64 grid (centres at +0.5)
        self.register_buffer("pts", torch.from_numpy(pts))

    def forward(self, x):
        yy, xx = torch.meshgrid(torch.arange(64.0), torch.arange(64.0), indexing="ij")
        hm = torch.exp(-((xx - self.pts[:, 0, None, None]) ** 2 + (yy - self.pts[:, 1, None, None]) ** 2))
        return hm[None].expand(x.shape[0], 68, 64, 64)


def test_track_with_fan_adapter_stub_fills_lips():
    rng = np.random.default_rng(0)
    patch = np.ascontiguousarray(skimage_data.astronaut()[20:240, 130:320])
    frames = np.repeat(cv2.resize(rng.integers(60, 120, (45, 60, 3)).astype(np.uint8), (480, 360))[None], 10, 0)
    for i in range(10):
        frames[i, 60:280, 40 + 4 * i : 230 + 4 * i] = patch
    m = avsync.Media.from_arrays(None, frames=frames, fps=25.0)
    closed = track(m, crops=(), landmarks=FaceAlignmentLandmarker(net=TemplateNet(0.0)), min_track_frames=3)
    opened = track(m, crops=(), landmarks=FaceAlignmentLandmarker(net=TemplateNet(4.0)), min_track_frames=3)
    assert closed.landmarker == "face-alignment" and closed.to_dict()["landmarker"] == "face-alignment"
    tc, to = closed.dominant(), opened.dominant()
    assert tc.lip_landmarks.shape == (10, 40, 2) and np.isfinite(tc.lip_landmarks).all()
    np.testing.assert_allclose(tc.mouth_open, 0.0, atol=1e-6)
    np.testing.assert_allclose(to.mouth_open, 4.0 / 16.0, rtol=1e-3)  # gap / corner distance (2 × half)
    # the template mouth sits inside the tracked face box, following the moving face
    cen = tc.lip_landmarks.mean(1)
    assert ((cen > tc.boxes[:, :2]) & (cen < tc.boxes[:, 2:])).all()
    assert np.corrcoef(cen[:, 0], tc.boxes[:, 0])[0, 1] > 0.95


# ------------------------------------------------------------------------------------------------
# MediaPipe


def test_mediapipe_lips_on_a_photo(mediapipe_lm, astronaut):
    img, d = astronaut
    found, lm = mediapipe_lm.landmarks([img], d.boxes)
    assert found[0] and lm.shape == (1, 468, 3)
    lips, mo = mediapipe_lm.lip_landmarks([img], d.boxes, d.points)
    lips = lips[0]
    face_w = float(d.boxes[0, 2] - d.boxes[0, 0])
    mouth = d.points[0, 3:].mean(0)
    # the contour surrounds YuNet's mouth; its corners are YuNet's mouth corners (image left = subject right)
    assert np.abs(lips.mean(0) - mouth).max() < 0.1 * face_w
    assert np.linalg.norm(lips[0] - d.points[0, 3]) < 0.1 * face_w
    assert np.linalg.norm(lips[10] - d.points[0, 4]) < 0.1 * face_w
    assert (lips[1:10, 1] > lips[11:20, 1][::-1]).all()  # lower lip below upper lip, point by point
    assert 0.0 <= mo[0] < 0.3


def test_mediapipe_follows_jaw_opening(mediapipe_lm, astronaut):
    """Dropping the lower face and filling the gap with a dark mouth opens the mouth signal."""
    img, d = astronaut
    y0 = int(round(d.points[0, 3:, 1].mean()))
    x0, x1 = int(d.points[0, 3, 0]) - 4, int(d.points[0, 4, 0]) + 4
    signal = []
    for drop in (0, 8, 16):
        out = img.copy()
        cols = slice(150, 300)
        out[y0 + drop :, cols] = img[y0 : img.shape[0] - drop, cols]
        out[y0 : y0 + drop, cols] = img[y0 - 1 : y0, cols]
        if drop:
            cv2.ellipse(out, ((x0 + x1) // 2, y0 + drop // 2), ((x1 - x0) // 2 - 2, drop // 2), 0, 0, 360,
                        (40, 10, 15), -1)  # fmt: skip
        signal.append(float(mediapipe_lm.lip_landmarks([out], d.boxes)[1][0]))
    assert signal[0] < signal[1] < signal[2] and signal[2] - signal[0] > 0.1, signal


def test_mediapipe_two_faces_and_no_face(mediapipe_lm):
    rng = np.random.default_rng(1)
    patch = np.ascontiguousarray(skimage_data.astronaut()[20:240, 130:320])
    frame = cv2.resize(rng.integers(60, 120, (45, 80, 3)).astype(np.uint8), (640, 360))
    frame[70:290, 20:210] = patch
    frame[70:290, 400:590] = patch
    d = YuNetDetector().detect(frame)
    assert len(d) == 2
    order = np.argsort(d.boxes[:, 0])
    boxes = np.concatenate([d.boxes[order], [[250, 100, 350, 200]]]).astype(np.float32)  # third: background
    lips, mo = mediapipe_lm.lip_landmarks([frame] * 3, boxes)
    for k in range(2):  # each box gets its own face's lips
        c = lips[k].mean(0)
        assert boxes[k, 0] < c[0] < boxes[k, 2] and boxes[k, 1] < c[1] < boxes[k, 3]
    assert abs((lips[1].mean(0) - lips[0].mean(0))[0] - 380) < 10
    assert np.isnan(lips[2]).all() and np.isnan(mo[2])


def test_mediapipe_through_track_and_cli(mediapipe_lm, tmp_path):
    import av
    from avsync_cli.main import cli
    from click.testing import CliRunner

    rng = np.random.default_rng(0)
    patch = np.ascontiguousarray(skimage_data.astronaut()[20:240, 130:320])
    frames = np.repeat(cv2.resize(rng.integers(60, 120, (45, 60, 3)).astype(np.uint8), (480, 360))[None], 12, 0)
    for i in range(12):
        frames[i, 60:280, 40 + 4 * i : 230 + 4 * i] = patch
    res = track(avsync.Media.from_arrays(None, frames=frames, fps=25.0), crops=(), landmarks=mediapipe_lm,
                min_track_frames=3)  # fmt: skip
    t = res.dominant()
    assert res.landmarker == "mediapipe" and t.lip_landmarks.shape == (12, 40, 2)
    assert np.isfinite(t.lip_landmarks[t.valid]).all()
    assert np.abs(t.lip_landmarks.mean(1) - t.points[:, 3:].mean(1)).max() < 0.1 * t.median_size
    path = tmp_path / "f.mp4"
    with av.open(str(path), "w") as out:
        st = out.add_stream("libx264", rate=25)
        st.width, st.height, st.pix_fmt = 480, 360, "yuv420p"
        for f in frames:
            for p in st.encode(av.VideoFrame.from_ndarray(f, format="rgb24")):
                out.mux(p)
        for p in st.encode():
            out.mux(p)
    r = CliRunner().invoke(cli, ["faces", str(path), "--json", "--frames", "--landmarks", "mediapipe"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.output[r.output.index("[") :])[0]
    assert d["landmarker"] == "mediapipe" and len(d["tracks"][0]["mouth_open"]) == 12


def test_mediapipe_agrees_with_own_face_mesh_on_a_real_clip(mediapipe_lm, shared, one_torch_thread, monkeypatch):
    weights = shared / "weights"
    clip = shared / "data" / "real_av" / "grid_lipnet" / "bbaf2n.mpg"
    if not (weights / "mediapipe-facemesh" / "blazeface_landmark.pth").exists() or not clip.exists():
        pytest.skip("face-mesh checkpoint or GRID clip absent from ../shared")
    media = avsync.load_media(str(clip), require="video")
    monkeypatch.setenv("AVSYNC_MODELS_DIR", str(weights))
    own = track(media, crops=(), end=2.0, landmarks="facemesh").dominant()  # by name: checkpoint from the env
    mp = track(media, crops=(), end=2.0, landmarks=mediapipe_lm).dominant()
    assert len(own) == len(mp) == 50
    width = np.linalg.norm(own.lip_landmarks[:, 0] - own.lip_landmarks[:, 10], axis=-1)  # mouth width, px
    err = np.linalg.norm(own.lip_landmarks - mp.lip_landmarks, axis=-1) / width[:, None]
    # measured (first 2 s): median ~0.04, 90th percentile ~0.06 of the mouth width (~1.7, 2.5 px); r ~0.9
    assert np.median(err) < 0.06 and np.percentile(err, 90) < 0.10, (np.median(err), np.percentile(err, 90))
    assert np.corrcoef(own.mouth_open, mp.mouth_open)[0, 1] > 0.8


@pytest.mark.skipif(not HAS_FA, reason="face-alignment is not installed (its flip helper is used with flip_input)")
def test_fan_adapter_flip_input_with_stub_network():
    """Mirrored crop + face-alignment's left/right heatmap swap lands on the same spot as the plain pass."""
    rng = np.random.default_rng(2)
    img = rng.integers(0, 60, (360, 480, 3)).astype(np.uint8)
    img[149:152, 259:262] = 255  # right of the crop centre: a wrong mirror would win the arg-max (lower index)
    box = np.array([[180, 100, 300, 220]], np.float32)
    _, plain = FaceAlignmentLandmarker(net=BrightestSpotNet()).landmarks([img], box)
    _, flipped = FaceAlignmentLandmarker(net=BrightestSpotNet(), flip_input=True).landmarks([img], box)
    cell = 200.0 * 240 / 165.0 / 64
    assert np.abs(flipped - plain).max() <= 0.5 * cell + 1e-3
    assert np.abs(flipped - [260, 150]).max() < 0.6 * cell
