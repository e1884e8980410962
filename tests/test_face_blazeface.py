"""PyTorch BlazeFace / face mesh: parity with the original code's outputs, batching, wrappers.

Needs the public checkpoints of ../shared/weights (skipped when absent).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

cv2 = pytest.importorskip("cv2")
skimage_data = pytest.importorskip("skimage.data")

import avsync
from avsync.errors import BundleError
from avsync.face import YuNetDetector, track
from avsync.face.detectors.blazeface import BlazeFaceDetector, BlazeFaceNet, load_checkpoint, resolve_weights
from avsync.face.landmarks.facemesh import FaceMeshLandmarker, FaceMeshNet


@pytest.fixture(scope="module")
def weights(shared):
    w = shared / "weights"
    if not (w / "blazeface" / "blazeface.pth").exists():
        pytest.skip("BlazeFace checkpoints absent from ../shared/weights")
    return w


@pytest.fixture(scope="module")
def reference(weights):
    return json.loads((weights / "reference" / "face_reference.json").read_text())


@pytest.fixture(scope="module")
def inputs():
    rng = np.random.default_rng(0)
    img128 = rng.integers(0, 256, (1, 3, 128, 128)).astype(np.float32)
    img192 = rng.integers(0, 256, (1, 3, 192, 192)).astype(np.float32)
    return img128, img192


def test_blazeface_matches_reference(weights, reference, inputs):
    net = load_checkpoint(BlazeFaceNet(), weights / "blazeface" / "blazeface.pth")
    with torch.no_grad():
        r, c = net(torch.from_numpy(inputs[0] / 127.5 - 1.0).float())
    ref = reference["hollance_blazeface_front"]
    assert [list(r.shape), list(c.shape)] == ref["raw_out_shapes"]
    np.testing.assert_allclose(r[0, 0, :4].numpy(), ref["raw_box[0,0,:4]"], atol=1e-4)
    np.testing.assert_allclose(c[0, :3, 0].numpy(), ref["raw_score[0,:3]"], atol=1e-4)


def test_face_mesh_matches_reference(weights, reference, inputs):
    net = load_checkpoint(FaceMeshNet(), weights / "mediapipe-facemesh" / "blazeface_landmark.pth")
    with torch.no_grad():
        flag, lm = net(torch.from_numpy(inputs[1] / 255.0).float())
    ref = reference["mediapipe_face_landmark"]
    assert list(lm.shape) == ref["landmarks_shape"]
    np.testing.assert_allclose(lm[0, :2].numpy(), ref["landmarks[0,:2]"], atol=1e-4)
    np.testing.assert_allclose(flag.numpy(), [ref["flag"]], atol=1e-5)


def test_batched_equals_one_by_one(weights):
    net = load_checkpoint(BlazeFaceNet(), weights / "blazeface" / "blazeface.pth")
    mesh = load_checkpoint(FaceMeshNet(), weights / "mediapipe-facemesh" / "blazeface_landmark.pth")
    g = torch.Generator().manual_seed(0)
    x = torch.rand(3, 3, 128, 128, generator=g) * 2 - 1
    y = torch.rand(3, 3, 192, 192, generator=g)
    with torch.no_grad():
        rb, cb = net(x)
        fb, lb = mesh(y)
        for i in range(3):
            r, c = net(x[i : i + 1])
            f, lm = mesh(y[i : i + 1])
            torch.testing.assert_close(r[0], rb[i], atol=1e-4, rtol=1e-5)
            torch.testing.assert_close(c[0], cb[i], atol=1e-4, rtol=1e-5)
            torch.testing.assert_close(lm[0], lb[i], atol=1e-5, rtol=1e-5)
            torch.testing.assert_close(f[0], fb[i], atol=1e-6, rtol=1e-5)


def test_blazeface_detector_and_landmarks_on_a_photo(weights):
    img = np.ascontiguousarray(skimage_data.astronaut())
    yn = YuNetDetector().detect(img)
    bf = BlazeFaceDetector(weights=weights)
    d = bf.detect(img)
    assert len(d) == 1 and d.scores[0] > 0.9
    from avsync.face import iou_matrix

    assert iou_matrix(d.boxes, yn.boxes)[0, 0] > 0.5
    mouth_yn = yn.points[0, 3:].mean(0)
    assert np.abs(d.points[0, 3:].mean(0) - mouth_yn).max() < 12
    # two images in one batch give the same as one by one
    both = bf.detect_batch([img, img[:, ::-1].copy()])
    np.testing.assert_allclose(both[0].boxes, d.boxes, atol=1e-3)
    assert abs(both[1].boxes[0, 0] - (512 - d.boxes[0, 2])) < 6  # mirrored

    lmk = FaceMeshLandmarker(weights=weights)
    flag, lm = lmk([img], yn.boxes, yn.points)
    assert flag[0] > 0.5 and lm.shape == (1, 468, 3)
    lips = lmk.lips(lm)[0]
    assert lips.shape == (40, 2)
    assert np.abs(lips.mean(0) - mouth_yn).max() < 8  # the lip contour surrounds the mouth
    assert np.abs(lips[0] - yn.points[0, 3]).max() < 10 and np.abs(lips[10] - yn.points[0, 4]).max() < 10
    assert 0.0 <= lmk.mouth_open(lm)[0] < 0.5


def test_track_with_lip_landmarks(weights):
    rng = np.random.default_rng(0)
    patch = np.ascontiguousarray(skimage_data.astronaut()[20:240, 130:320])
    frames = np.repeat(cv2.resize(rng.integers(60, 120, (45, 60, 3)).astype(np.uint8), (480, 360))[None], 15, 0)
    for i in range(15):
        frames[i, 60:280, 40 + 4 * i : 230 + 4 * i] = patch
    m = avsync.Media.from_arrays(None, frames=frames, fps=25.0)
    res = track(m, landmarks=FaceMeshLandmarker(weights=weights), min_track_frames=3)
    t = res.dominant()
    assert t.lip_landmarks.shape == (15, 40, 2) and t.mouth_open.shape == (15,)
    assert np.isfinite(t.lip_landmarks[t.valid]).all()
    mouth = t.points[:, 3:].mean(1)
    assert np.abs(t.lip_landmarks.mean(1) - mouth).max() < 10
    assert t.to_dict()["lip_landmarks"] == {"shape": [15, 40, 2], "dtype": "float32"}


def test_missing_or_wrong_weights(tmp_path, weights):
    with pytest.raises(BundleError) as e:
        resolve_weights(tmp_path, "blazeface/blazeface.pth")
    assert "never downloads" in str(e.value)
    with pytest.raises(BundleError):
        load_checkpoint(FaceMeshNet(), weights / "blazeface" / "blazeface.pth")  # a BlazeFace file for the mesh


def test_weights_pulled_into_the_user_cache_are_found(tmp_path, monkeypatch):
    """`avsync models path facemesh` found a file in the cache that `faces --landmarks facemesh` did not look for."""
    monkeypatch.setenv("AVSYNC_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("AVSYNC_MODELS_DIR", raising=False)
    f = tmp_path / "cache" / "mediapipe-facemesh" / "x.pth"
    f.parent.mkdir(parents=True)
    f.write_bytes(b"w")
    assert resolve_weights(None, "mediapipe-facemesh/x.pth") == f
