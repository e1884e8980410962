"""Golden checks on the real clips of ../shared/data (skipped when absent).

One clip per source folder (first 4 s) to stay fast; ``benchmarks/faces_real_coverage.py`` runs the
same check on every clip through the CLI.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("cv2")
pytest.importorskip("yuface")

import avsync
from avsync.face import track

# real_av clips that are not a single talking face: a 96x96 mouth-ROI crop, an audio file
NOT_SINGLE_FACE = {"real_av/usr_lrs3/example_mouthroi.avi", "real_av/usr_lrs3/example.wav"}


def single_speaker_clips(manifest) -> list[str]:
    rows = [r for r in manifest if r["kind"] == "real_av" and r["video_resolution"] and r["file"] not in NOT_SINGLE_FACE]
    return sorted({r["file"] for r in rows})


@pytest.fixture(scope="module")
def sample_clips(shared, shared_manifest):
    per_folder: dict[str, str] = {}
    for f in single_speaker_clips(shared_manifest):
        per_folder.setdefault(str(Path(f).parent), f)
    return [shared / "data" / f for f in per_folder.values()]


@pytest.fixture(scope="module")
def results(sample_clips):
    return {p.name: track(avsync.load_media(p), crops=("mouth",), end=4.0) for p in sample_clips}


def test_one_dominant_track_covers_the_clip(results):
    assert len(results) >= 10
    for name, res in results.items():
        assert res.status == avsync.Status.OK, name
        assert res.face_fraction >= 0.95, (name, res.face_fraction)
        dom = res.dominant()
        assert dom.num_valid >= 0.95 * res.num_frames, (name, dom.num_valid, res.num_frames)
        others = [t for t in res.tracks if t is not dom]
        assert all(t.num_valid < 0.25 * res.num_frames for t in others), name  # one dominant face
        assert dom.mouth_crops.shape == (len(dom), 96, 96)


def test_mouth_crop_centred_on_lip_landmarks(results, sample_clips, shared):
    """The mouth-crop centre (from YuNet's five points) agrees with the face-mesh lip contour."""
    w = shared / "weights"
    if not (w / "mediapipe-facemesh" / "blazeface_landmark.pth").exists():
        pytest.skip("face-mesh checkpoint absent")
    from avsync.face import mouth_geometry
    from avsync.face.landmarks.facemesh import FaceMeshLandmarker

    lmk = FaceMeshLandmarker(weights=w)
    errs = []
    for p in sample_clips:
        res = results[p.name]
        dom = res.dominant()
        idx = np.linspace(0, len(dom) - 1, 4).astype(int)
        want = {int(dom.frames[i]) for i in idx}
        frames = {int(k): im for c in avsync.load_media(p).frames(end=4.0) for k, im in zip(c.indices, c.images)
                  if int(k) in want}
        imgs = [frames[int(dom.frames[i])] for i in idx]
        _, lm = lmk(imgs, dom.boxes[idx], dom.points[idx])
        lips = lmk.lips(lm)
        centre, side, _ = mouth_geometry(dom.boxes[idx], dom.points[idx])
        lip_centre = (lips[:, :20].max(1) + lips[:, :20].min(1)) / 2  # centre of the outer contour's box
        err = np.linalg.norm(centre - lip_centre, axis=1) / side  # in crop widths
        errs.append(err)
        # an open mouth moves the lip-contour centre down while the corners stay, and YuNet points vary by
        # ~4 % of the face between scales: allow 0.2 crop widths on single frames, 0.05 in the median
        assert err.max() < 0.2, (p.name, err, side)
    assert np.median(np.concatenate(errs)) < 0.05
