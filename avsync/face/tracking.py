"""Face tracks from keyframe detections, with mouth and face crops made in the same decoding pass.

How it works (one pass over the video, bounded memory):

1. Frames are decoded once, in gray when they are larger than 640×480 (the luma plane: 2.5×
   faster than RGB; RGB for small frames, RGB mouth crops and lip landmarks), at a *work* size (longest side ≤ ``work_size``, 1280 px by default;
   never upscaled); crops are cut from these frames. The detector sees a further downscaled copy
   (longest side ≤ ``detector.max_side``).
2. **Keyframes.** The detector runs every ``interval`` frames: on the whole (downscaled) frame at
   least every ``scan_interval_s``, otherwise only on a small region around each known face. The interval adapts between 1 and
   ``keyframe_interval``: it doubles after two consecutive keyframes agree (same number of faces,
   each box overlapping its match with IoU ≥ ``consistent_iou``) and halves when they disagree.
   Keyframes also disagree when a point moved by more than ``max_point_shift`` × face size.
   When two keyframes disagree, the frame halfway between them (still in memory) is detected too,
   recursively, so a face appearing, leaving or moving fast is located to the frame.
3. **Shot changes.** A cut (mean absolute difference of 32×32 thumbnails above ``shot_threshold``
   and well above its recent level) forces a detection on the frame before and the frame of the
   cut, and no track crosses it.
4. **Association.** Detections join existing tracks greedily by IoU (≥ ``iou_threshold``) or,
   failing that, by centre distance (< half the face size); unmatched detections start new
   tracks. A track not seen for more than ``max_gap_s`` ends; within that gap it keeps its
   identity (frames in the gap have ``valid = False`` and hold the last seen box).
5. **Interpolation and smoothing.** Between two sightings boxes and points are linearly
   interpolated, then smoothed with a Gaussian of ``smooth_sigma`` frames inside each run of valid
   frames (never across a gap or a cut). Crops use these smoothed values, so they are steady on a
   steady head and follow motion with a lag of about ``smooth_sigma`` frames at most.
6. Tracks with fewer than ``min_track_frames`` valid frames are dropped (single false alarms).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from avsync._optional import require
from avsync.errors import ConfigError, MediaError
from avsync.face.crops import CropColor, face_crop, mouth_crop
from avsync.face.detectors import OPENCV_INSTALL, DetectorName, FaceDetector, get_detector
from avsync.face.geometry import iou_matrix, mouth_geometry
from avsync.face.landmarks import LandmarkerName, LipLandmarker, get_landmarker
from avsync.face.types import Detections, FaceTrack, FaceTracks
from avsync.media import Media
from avsync.results import Status

__all__ = ["CropName", "iou_matrix", "track"]

CropName = Literal["mouth", "face"]


def _greedy_match(a_boxes: np.ndarray, b_boxes: np.ndarray, iou_threshold: float, use_distance: bool = True):
    """Greedy one-to-one matching; returns ``[(i, j, iou)]``."""
    if not len(a_boxes) or not len(b_boxes):
        return []
    iou = iou_matrix(a_boxes, b_boxes)
    pairs = []
    used_a, used_b = set(), set()
    for flat in np.argsort(-iou, axis=None):
        i, j = np.unravel_index(flat, iou.shape)
        if iou[i, j] < iou_threshold:
            break
        if i in used_a or j in used_b:
            continue
        pairs.append((int(i), int(j), float(iou[i, j])))
        used_a.add(i)
        used_b.add(j)
    if use_distance:  # fast motion over a long gap: fall back to centre distance
        ca = (a_boxes[:, :2] + a_boxes[:, 2:]) / 2
        cb = (b_boxes[:, :2] + b_boxes[:, 2:]) / 2
        sa = np.maximum(a_boxes[:, 2] - a_boxes[:, 0], a_boxes[:, 3] - a_boxes[:, 1])
        for i in range(len(a_boxes)):
            if i in used_a:
                continue
            d = np.linalg.norm(cb - ca[i], axis=1)
            for j in np.argsort(d):
                if j in used_b:
                    continue
                sb = max(b_boxes[j, 2] - b_boxes[j, 0], b_boxes[j, 3] - b_boxes[j, 1])
                if d[j] < 0.5 * sa[i] and 0.5 < sb / max(sa[i], 1e-6) < 2.0:
                    pairs.append((i, int(j), float(iou[i, j])))
                    used_a.add(i)
                    used_b.add(int(j))
                break
    return pairs


@dataclass
class _Track:
    id: int
    first: int
    shot: int
    last_seen: int
    missed: bool = False
    closed: bool = False
    box: list = field(default_factory=list)  # raw per-frame, from `first`
    pts: list = field(default_factory=list)
    score: list = field(default_factory=list)
    valid: list = field(default_factory=list)
    sm_box: list = field(default_factory=list)  # smoothed, finalized frames
    sm_pts: list = field(default_factory=list)
    mouth: list = field(default_factory=list)
    face: list = field(default_factory=list)
    lips: list = field(default_factory=list)
    mopen: list = field(default_factory=list)

    @property
    def known_end(self) -> int:
        return self.first + len(self.box)

    @property
    def finalized_end(self) -> int:
        return self.first + len(self.sm_box)

    def append(self, box, pts, score, valid):
        self.box.append(np.asarray(box, np.float32))
        self.pts.append(np.asarray(pts, np.float32))
        self.score.append(float(score))
        self.valid.append(bool(valid))

    def sighting(self, f: int, box, pts, score):
        """Record a detection at frame ``f``: fill the frames since the last known one."""
        n_fill = f - self.known_end
        if n_fill > 0:
            if not self.missed:  # seen at the previous keyframe: interpolate
                b0, p0, s0 = self.box[-1], self.pts[-1], self.score[-1]
                for i in range(1, n_fill + 1):
                    w = i / (n_fill + 1)
                    self.append((1 - w) * b0 + w * box, (1 - w) * p0 + w * pts, (1 - w) * s0 + w * score, True)
            else:
                self.hold(f - 1)
        self.append(box, pts, score, True)
        self.last_seen = f
        self.missed = False

    def hold(self, f_last: int):
        """Frames up to ``f_last`` (inclusive) are not seen: hold the last box, mark invalid."""
        while self.known_end <= f_last:
            self.append(self.box[-1], self.pts[-1], 0.0, False)

    def trim(self):
        """Cut the unseen tail after the last sighting."""
        n = self.last_seen - self.first + 1
        for lst in (self.box, self.pts, self.score, self.valid, self.sm_box, self.sm_pts, self.mouth, self.face,
                    self.lips, self.mopen):
            del lst[n:]


class _Tracker:
    def __init__(self, *, iou_threshold: float, max_gap: int):
        self.iou_threshold = iou_threshold
        self.max_gap = max_gap
        self.tracks: list[_Track] = []
        self.next_id = 0

    def active(self) -> list[_Track]:
        return [t for t in self.tracks if not t.closed]

    def close_shot(self):
        for t in self.active():
            t.closed = True
            t.trim()

    def update(self, f: int, dets: Detections, shot: int):
        for t in self.active():
            if f - t.last_seen > self.max_gap:
                t.closed = True
                t.trim()
        act = self.active()
        boxes = np.stack([t.box[-1] for t in act]) if act else np.zeros((0, 4), np.float32)
        pairs = _greedy_match(boxes, dets.boxes, self.iou_threshold)
        matched_t, matched_d = {i for i, _, _ in pairs}, {j for _, j, _ in pairs}
        for i, j, _ in pairs:
            act[i].sighting(f, dets.boxes[j], dets.points[j], dets.scores[j])
        for i, t in enumerate(act):
            if i not in matched_t:
                t.hold(f)
                t.missed = True
        for j in range(len(dets)):
            if j not in matched_d:
                t = _Track(id=self.next_id, first=f, shot=shot, last_seen=f)
                self.next_id += 1
                t.append(dets.boxes[j], dets.points[j], dets.scores[j], True)
                self.tracks.append(t)


def _consistent(a: Detections, b: Detections, min_iou: float, max_shift: float, floor_px: float = 0.0) -> bool:
    """Same faces, boxes overlapping by ``min_iou``, points moved by less than ``max_shift`` × face size
    (or ``floor_px`` pixels, the detector's own jitter at its working scale, whichever is larger)."""
    if len(a) != len(b):
        return False
    if not len(a):
        return True
    pairs = _greedy_match(a.boxes, b.boxes, min_iou, use_distance=False)
    if len(pairs) != len(a):
        return False
    for i, j, _ in pairs:
        size = max(a.boxes[i, 2] - a.boxes[i, 0], a.boxes[i, 3] - a.boxes[i, 1], 1.0)
        if np.abs(a.points[i] - b.points[j]).max() > max(max_shift * size, floor_px):
            return False
    return True


def _gauss_smooth(tr: _Track, t: int, sigma: float, radius: int):
    """Smoothed box and points of track ``tr`` at frame ``t`` within its run of valid frames."""
    i = t - tr.first
    if not tr.valid[i] or sigma <= 0:
        return tr.box[i], tr.pts[i]
    lo = i
    while lo > 0 and i - lo < radius and tr.valid[lo - 1]:
        lo -= 1
    hi = i
    n = len(tr.box)
    while hi < n - 1 and hi - i < radius and tr.valid[hi + 1]:
        hi += 1
    k = np.arange(lo, hi + 1)
    w = np.exp(-0.5 * ((k - i) / sigma) ** 2).astype(np.float32)
    w /= w.sum()
    box = np.tensordot(w, np.stack(tr.box[lo : hi + 1]), axes=1)
    pts = np.tensordot(w, np.stack(tr.pts[lo : hi + 1]), axes=1)
    return box.astype(np.float32), pts.astype(np.float32)


def _work_size(width: int, height: int, work_size: int) -> tuple[int, int]:
    s = min(1.0, work_size / max(width, height))
    if s >= 1.0:
        return width, height
    return max(2, int(round(width * s / 2)) * 2), max(2, int(round(height * s / 2)) * 2)


def track(
    media: Media,
    *,
    detector: DetectorName | FaceDetector = "auto",
    crops: Sequence[CropName] = (),
    mouth_size: int = 96,
    mouth_color: CropColor = "gray",
    mouth_scale: float = 0.7,
    mouth_shift: float = 0.07,
    face_crop_scale: float = 0.40,
    keyframe_interval: int = 8,
    consistent_iou: float = 0.7,
    max_point_shift: float = 0.05,
    iou_threshold: float = 0.3,
    max_gap_s: float = 1.0,
    min_track_frames: int = 5,
    smooth_sigma: float = 2.0,
    shot_threshold: float = 30.0,
    work_size: int = 1280,
    roi_face: int = 96,
    roi_margin: float = 0.25,
    scan_interval_s: float = 1.0,
    min_face: float = 32.0,
    start: float = 0.0,
    end: float | None = None,
    chunk_size: int = 32,
    landmarks: LandmarkerName | LipLandmarker | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> FaceTracks:
    """Detect and follow every face of a video; optionally cut mouth and face crops in the same pass.

    Parameters
    ----------
    media
        A :class:`~avsync.media.Media` with video (from :func:`avsync.load_media` or ``from_arrays``).
    detector
        ``"auto"`` (default: ``"yunet"`` when the ``yuface`` wheel is installed, else ``"haar"``),
        ``"yunet"``, ``"haar"`` (OpenCV), ``"blazeface"`` (PyTorch, checkpoint), or a
        :class:`~avsync.face.detectors.FaceDetector` instance. ``FaceTracks.detector`` names the one used.
    crops
        Which crops to produce per track frame: ``"mouth"`` → ``FaceTrack.mouth_crops``
        ``uint8 [N, mouth_size, mouth_size]`` (``[..., 3]`` if ``mouth_color="rgb"``);
        ``"face"`` → ``FaceTrack.face_crops`` ``uint8 [N, 112, 112]`` gray Light-ASD crops.
    mouth_size
        Mouth crop side in pixels (e.g. 96 or 112).
    mouth_color
        ``"gray"`` or ``"rgb"``.
    mouth_scale
        Mouth crop side as a fraction of the face-box width.
    mouth_shift
        Mouth crop centre moved this fraction of the side down the face from the corners' midpoint.
    face_crop_scale
        Light-ASD box enlargement (0.40).
    keyframe_interval
        Largest number of frames between detections (the interval adapts from 1 up to this).
    consistent_iou
        Two keyframes agree when every face overlaps its match by at least this IoU.
    max_point_shift
        ... and when no point moved by more than this fraction of the face size; otherwise the
        frames between them are detected too (bisection), so interpolation errors stay below it.
    iou_threshold
        Minimum IoU to join a detection to a track (centre distance is the fallback).
    max_gap_s
        A track unseen for longer than this (seconds) ends; shorter gaps keep its identity.
    min_track_frames
        Tracks with fewer valid frames are dropped.
    smooth_sigma
        Standard deviation (frames) of the Gaussian smoothing of boxes and points; 0 disables.
    shot_threshold
        Mean absolute thumbnail difference (0–255) above which a frame may be a cut.
    work_size
        Longest side (pixels) of the frames crops are cut from; larger frames are downscaled at decode.
    roi_face, roi_margin
        Where the faces are known (keyframes between full scans, bisection frames between two
        keyframes that see the same faces) the detector runs only on a region around each face
        (its box enlarged by ``roi_margin`` × size on each side), resized so the face is about
        ``roi_face`` pixels. A face lost in its region triggers a full-frame detection.
    scan_interval_s
        The whole frame is searched for new faces at least this often (seconds).
    min_face
        Faces with a median size below this (pixels of the displayed frame) are flagged ``tiny``.
    start, end
        Time range in seconds.
    chunk_size
        Frames decoded per chunk (memory: about ``chunk_size + 2 × keyframe_interval`` work frames).
    landmarks
        Lip-landmark backend: ``"facemesh"`` (own PyTorch face mesh, checkpoint from
        ``$AVSYNC_MODELS_DIR``), ``"mediapipe"`` (the ``mediapipe`` package), ``"face-alignment"``
        (2D-FAN, pre-placed checkpoint), or a backend object (e.g.
        ``FaceMeshLandmarker(weights=..., device="cuda")``; see :mod:`avsync.face.landmarks`).
        Adds ``FaceTrack.lip_landmarks`` ``[N, 40, 2]`` (displayed-frame pixels, the common
        40-point layout; NaN where invalid or not found) and ``FaceTrack.mouth_open`` ``[N]``
        (inner-lip gap / mouth width), computed in batches from the smoothed boxes.
        ``FaceTracks.landmarker`` names the backend. A missing package raises
        :class:`~avsync.errors.ConfigError`, a missing checkpoint :class:`~avsync.errors.BundleError`
        (both with an install/placement hint), before any decoding.
    progress
        Called with ``(frames_done, frames_total)`` after each chunk.

    Returns
    -------
    FaceTracks
        Status ``ok`` with tracks, or ``no_face`` (``face_fraction`` tells how many frames had one).

    Raises
    ------
    MediaError
        The input has no video (status ``no_video``) or cannot be decoded.
    """
    cv2 = require("cv2", "face tracker", OPENCV_INSTALL)
    if media.info.video is None:
        raise MediaError("the input has no video track", status=Status.NO_VIDEO, hint="face tracking needs video")
    det = get_detector(detector)
    landmarker = None if landmarks is None else get_landmarker(landmarks)
    crops = tuple(crops)
    for c in crops:
        if c not in ("mouth", "face"):
            raise ConfigError(f"unknown crop {c!r}; choose from 'mouth', 'face'")
    vi = media.info.video
    width, height = vi.width, vi.height  # displayed size (after rotation)
    ww, wh = _work_size(width, height, work_size)
    to_disp = np.array([width / ww, height / wh], np.float32)
    ds = min(1.0, det.max_side / max(ww, wh))
    dw, dh = max(2, int(round(ww * ds))), max(2, int(round(wh * ds)))
    det_scale = (width / dw, height / dh)

    max_gap = max(1, int(round(max_gap_s * media.fps)))
    radius = int(math.ceil(3 * smooth_sigma))
    tracker = _Tracker(iou_threshold=iou_threshold, max_gap=max_gap)
    buffer: dict[int, np.ndarray] = {}
    detected: dict[int, Detections] = {}
    n_keyframes = 0
    estimated = [False]  # some detection had estimated (not detected) points
    last_scan = [-(10**9)]  # last frame the whole picture was searched for faces
    scan_every = max(1, int(round(scan_interval_s * media.fps)))
    shot_changes: list[int] = []
    shot = 0
    interval = 2
    last_key: int | None = None
    prev_thumb = None
    recent_d: deque = deque(maxlen=25)
    first_frame: int | None = None
    total = media.num_frames

    def run_detector(f: int) -> Detections:
        nonlocal n_keyframes
        if f not in detected:
            img = buffer[f]
            small = img if (dw, dh) == (ww, wh) else cv2.resize(img, (dw, dh), interpolation=cv2.INTER_AREA)
            if small.ndim == 2:
                small = cv2.cvtColor(small, cv2.COLOR_GRAY2RGB)
            detected[f] = det.detect(small).scaled(*det_scale)
            last_scan[0] = max(last_scan[0], f)
            estimated[0] = estimated[0] or detected[f].points_estimated
            n_keyframes += 1
        return detected[f]

    def run_detector_roi(f: int, a: Detections, b: Detections) -> None:
        """Detect at ``f`` only around the faces seen at the two neighbouring keyframes.

        Each region (union of the two boxes, enlarged by half the face size) is resized so the face
        is about ``roi_face`` pixels: much cheaper than a full frame. Falls back to the full frame
        when a face is not found again.
        """
        nonlocal n_keyframes
        pairs = _greedy_match(a.boxes, b.boxes, 0.0)
        if len(pairs) != len(a) or len(a) != len(b) or not len(a):
            run_detector(f)
            return
        img = buffer[f]
        out_b, out_p, out_s = [], [], []
        for i, j, _ in pairs:
            u = np.concatenate([np.minimum(a.boxes[i, :2], b.boxes[j, :2]), np.maximum(a.boxes[i, 2:], b.boxes[j, 2:])])
            size = float(max(u[2] - u[0], u[3] - u[1]))
            u = u + np.array([-1, -1, 1, 1], np.float32) * (roi_margin * size)
            x1, y1 = int(max(0, u[0] / to_disp[0])), int(max(0, u[1] / to_disp[1]))
            x2, y2 = int(min(ww, u[2] / to_disp[0])), int(min(wh, u[3] / to_disp[1]))
            if x2 - x1 < 8 or y2 - y1 < 8:
                run_detector(f)
                return
            roi = img[y1:y2, x1:x2]
            z = min(1.0, roi_face / max(size / to_disp[0], 1.0))
            rw, rh = max(8, int(round((x2 - x1) * z))), max(8, int(round((y2 - y1) * z)))
            small = cv2.resize(roi, (rw, rh), interpolation=cv2.INTER_AREA) if z < 1.0 else np.ascontiguousarray(roi)
            if small.ndim == 2:
                small = cv2.cvtColor(small, cv2.COLOR_GRAY2RGB)
            d = det.detect(small)
            n_keyframes += 1
            if not len(d):
                run_detector(f)
                return
            d = d.scaled((x2 - x1) / rw * to_disp[0], (y2 - y1) / rh * to_disp[1])
            off = np.array([x1 * to_disp[0], y1 * to_disp[1]], np.float32)
            k = int(np.argmax(d.scores))
            out_b.append(d.boxes[k] + np.concatenate([off, off]))
            out_p.append(d.points[k] + off)
            out_s.append(d.scores[k])
        detected[f] = Detections(np.stack(out_b), np.stack(out_p), np.asarray(out_s, np.float32),
                                 a.points_estimated)

    def refine(p: int, k: int) -> list[int]:
        """Keyframes to process in (p, k]: bisect while neighbours disagree."""
        a, b = run_detector(p), run_detector(k)
        if k - p <= 1 or _consistent(a, b, consistent_iou, max_point_shift, 2.0 * det_scale[0]):
            return [k]
        m = (p + k) // 2
        if m not in detected:
            run_detector_roi(m, a, b)
        return refine(p, m) + refine(m, k)

    def process_keyframe(k: int, cut: bool):
        nonlocal last_key, interval, shot
        if cut:
            if last_key is not None and k - 1 > last_key and (k - 1) in buffer:
                for f in refine(last_key, k - 1):
                    tracker.update(f, detected[f], shot)
            tracker.close_shot()
            shot += 1
            run_detector(k)
            frames_todo = [k]
        elif last_key is None:
            run_detector(k)
            frames_todo = [k]
        else:
            prev = detected[last_key]
            if len(prev) and k - last_scan[0] < scan_every and k not in detected:
                run_detector_roi(k, prev, prev)  # known faces only; the whole frame is searched every scan_interval_s
            frames_todo = refine(last_key, k)
            interval = min(keyframe_interval, interval * 2) if len(frames_todo) == 1 else max(1, interval // 2)
        for f in frames_todo:
            tracker.update(f, detected[f], shot)
        last_key = k

    def finalize(upto: int):
        """Smooth and crop every track frame < ``upto``; free buffered frames no longer needed."""
        todo = []  # (track, position, work image, work box, work points) for the landmarker
        for tr in tracker.tracks:
            stop = min(upto, tr.known_end)
            for t in range(tr.finalized_end, stop):
                box, pts = _gauss_smooth(tr, t, smooth_sigma, radius)
                tr.sm_box.append(box)
                tr.sm_pts.append(pts)
                if landmarker is not None:
                    tr.lips.append(np.full((40, 2), np.nan, np.float32))
                    tr.mopen.append(np.nan)
                    if tr.valid[t - tr.first]:
                        s4 = np.array([1 / to_disp[0], 1 / to_disp[1]] * 2, np.float32)
                        todo.append((tr, t - tr.first, buffer[t], box * s4, pts / to_disp))
                if crops:
                    img = buffer[t]
                    s4 = np.array([1 / to_disp[0], 1 / to_disp[1]] * 2, np.float32)
                    wbox, wpts = box * s4, pts / to_disp
                    if "mouth" in crops:
                        c, side, ang = mouth_geometry(wbox[None], wpts[None], scale=mouth_scale, shift=mouth_shift)
                        tr.mouth.append(mouth_crop(img, c[0], float(side[0]), float(ang[0]), size=mouth_size,
                                                   color=mouth_color))
                    if "face" in crops:
                        tr.face.append(face_crop(img, wbox, crop_scale=face_crop_scale))
        for a in range(0, len(todo), 64):
            assert landmarker is not None  # `todo` is only filled when there is a landmarker
            part = todo[a : a + 64]
            lips, mo = landmarker.lip_landmarks([p[2] for p in part], np.stack([p[3] for p in part]),
                                                np.stack([p[4] for p in part]))
            lips = lips * to_disp
            for (tr, i, *_), lp, m in zip(part, lips, mo):
                tr.lips[i] = lp
                tr.mopen[i] = float(m)
        keep_from = min([upto] + [tr.finalized_end for tr in tracker.tracks if tr.finalized_end < tr.known_end])
        if last_key is not None:
            keep_from = min(keep_from, last_key)
        for f in [f for f in buffer if f < keep_from]:
            del buffer[f]
            detected.pop(f, None)

    last_frame = None
    done = 0
    # gray decoding is ~2.5x faster than RGB (the Y plane, no colour conversion); RGB only for RGB crops
    # (YuNet finds faces less reliably in gray on small frames, where RGB decoding is cheap anyway)
    gray = ww * wh > 640 * 480 and not ("mouth" in crops and mouth_color == "rgb") and landmarks is None
    for chunk in media.frames(chunk_size=chunk_size, size=None if (ww, wh) == (width, height) else (ww, wh), gray=gray,
                              start=start, end=end):
        for img, f in zip(chunk.images, chunk.indices):
            f = int(f)
            if first_frame is None:
                first_frame = f
            img = np.ascontiguousarray(img)
            buffer[f] = img
            last_frame = f
            step = max(1, min(img.shape[0], img.shape[1]) // 64)  # subsample first: INTER_AREA on a 720p frame is slow
            sub = img[::step, ::step]
            thumb = cv2.resize(sub if sub.ndim == 2 else cv2.cvtColor(sub, cv2.COLOR_RGB2GRAY), (32, 32),
                               interpolation=cv2.INTER_AREA)
            thumb = thumb.astype(np.float32)
            cut = False
            if prev_thumb is not None:
                d = float(np.abs(thumb - prev_thumb).mean())
                base = float(np.median(recent_d)) if recent_d else 0.0
                cut = d > shot_threshold and d > 3 * base + 5
                recent_d.append(d)
            prev_thumb = thumb
            if cut:
                shot_changes.append(f)
            if last_key is None or cut or f - last_key >= interval:
                process_keyframe(f, cut)
        if last_key is not None:
            finalize(last_key - radius)
        done += len(chunk)
        if progress is not None:
            progress(done, total)
    if last_frame is None:
        raise MediaError("no video frame could be decoded in the requested range", status=Status.EMPTY)
    assert first_frame is not None  # set with the first `last_frame`
    if last_key != last_frame:
        process_keyframe(last_frame, False)
    for tr in tracker.active():
        tr.trim()
    finalize(last_frame + 1)
    buffer.clear()

    num_frames = last_frame - first_frame + 1
    fps = float(media.fps)
    out: list[FaceTrack] = []
    for tr in tracker.tracks:
        n = tr.finalized_end - tr.first
        valid = np.asarray(tr.valid[:n], bool)
        if valid.sum() < min_track_frames:
            continue
        out.append(
            FaceTrack(
                track_id=0,
                frames=np.arange(tr.first, tr.first + n, dtype=np.int64),
                boxes=np.stack(tr.sm_box[:n]).astype(np.float32),
                points=np.stack(tr.sm_pts[:n]).astype(np.float32),
                scores=np.asarray(tr.score[:n], np.float32),
                valid=valid,
                fps=fps,
                points_estimated=estimated[0],
                mouth_crops=np.stack(tr.mouth[:n]) if "mouth" in crops else None,
                face_crops=np.stack(tr.face[:n]) if "face" in crops else None,
                lip_landmarks=np.stack(tr.lips[:n]).astype(np.float32) if landmarker is not None else None,
                mouth_open=np.asarray(tr.mopen[:n], np.float32) if landmarker is not None else None,
            )
        )
    out.sort(key=lambda t: (-t.num_valid, t.start_frame))
    from dataclasses import replace

    out = [replace(t, track_id=i) for i, t in enumerate(out)]
    cov = np.zeros(num_frames, bool)
    for t in out:
        cov[t.frames[t.valid] - first_frame] = True
    face_fraction = float(cov.mean()) if num_frames else 0.0
    need = min(int(round(fps)), max(1, num_frames // 2))
    usable = [t for t in out if t.num_valid >= need]
    warnings: list[str] = []
    if detector == "auto" and det.name != "yunet":
        warnings.append("the yuface wheel (YuNet) is not installed: faces found with the Haar fallback; pip install yuface")
    if usable and all(t.median_size < min_face for t in usable):
        warnings.append(f"every face is smaller than {min_face:g} px; lip analysis will be unreliable")
    if usable:
        status, message = Status.OK, None
    else:
        status = Status.NO_FACE
        message = (
            f"no face was seen for {need / fps:.2f} s or more (a face in {100 * face_fraction:.1f} % of frames)"
        )
    return FaceTracks(
        status=status,
        tracks=tuple(out),
        num_frames=num_frames,
        fps=fps,
        frame_size=(width, height),
        face_fraction=face_fraction,
        detector=det.name,
        keyframes=n_keyframes,
        shot_changes=tuple(shot_changes),
        min_face=min_face,
        path=media.path,
        message=message,
        warnings=tuple(warnings),
        landmarker=None if landmarker is None else str(getattr(landmarker, "name", type(landmarker).__name__)),
    )
