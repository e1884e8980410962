"""Track bookkeeping of the face tracker (:mod:`avsync.face.tracking`): detections joined to tracks, the frames
between sightings filled, keyframes compared, boxes and points smoothed over time.

* :func:`greedy_match`: one-to-one matching of two sets of boxes by IoU, with a centre-distance fallback.
* :class:`TrackState`: one track being built: raw per-frame boxes and points (interpolated between sightings, held
  through gaps), then the smoothed values, crops and lip landmarks of its finalized frames.
* :class:`Associator`: the tracks of one video; joins each keyframe's detections to them.
* :func:`keyframes_agree`: whether two keyframes see the same faces at nearly the same places.
* :func:`smoothed_at`: a track's box and points at one frame, Gaussian-smoothed within its run of valid frames.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from avsync.face.geometry import iou_matrix
from avsync.face.types import Detections

__all__ = ["Associator", "TrackState", "greedy_match", "keyframes_agree", "smoothed_at"]


def greedy_match(
    a_boxes: np.ndarray, b_boxes: np.ndarray, iou_threshold: float, use_distance: bool = True
) -> list[tuple[int, int, float]]:
    """Greedy one-to-one matching; returns ``[(i, j, iou)]``."""
    if not len(a_boxes) or not len(b_boxes):
        return []
    iou = iou_matrix(a_boxes, b_boxes)
    pairs: list[tuple[int, int, float]] = []
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
class TrackState:
    """One track being built: per-frame lists from frame ``first`` on (raw values up to ``known_end``, smoothed
    values, crops and lip landmarks up to ``finalized_end``)."""

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
    still: list = field(default_factory=list)  # finalized frames: share of the face's surroundings left unchanged
    face_still: list = field(default_factory=list)  # finalized frames: share of the inner face box left unchanged

    @property
    def known_end(self) -> int:
        return self.first + len(self.box)

    @property
    def finalized_end(self) -> int:
        return self.first + len(self.sm_box)

    def append(self, box: np.ndarray, pts: np.ndarray, score: float, valid: bool) -> None:
        self.box.append(np.asarray(box, np.float32))
        self.pts.append(np.asarray(pts, np.float32))
        self.score.append(float(score))
        self.valid.append(bool(valid))

    def sighting(self, f: int, box: np.ndarray, pts: np.ndarray, score: float) -> None:
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

    def hold(self, f_last: int) -> None:
        """Frames up to ``f_last`` (inclusive) are not seen: hold the last box, mark invalid."""
        while self.known_end <= f_last:
            self.append(self.box[-1], self.pts[-1], 0.0, False)

    def trim(self) -> None:
        """Cut the unseen tail after the last sighting."""
        n = self.last_seen - self.first + 1
        for lst in (self.box, self.pts, self.score, self.valid, self.sm_box, self.sm_pts, self.mouth, self.face,
                    self.lips, self.mopen, self.still, self.face_still):
            del lst[n:]


class Associator:
    """The tracks of one video: joins each keyframe's detections to them (IoU, then centre distance), starts new
    tracks for the unmatched ones and ends tracks unseen for more than ``max_gap`` frames."""

    def __init__(self, *, iou_threshold: float, max_gap: int):
        self.iou_threshold = iou_threshold
        self.max_gap = max_gap
        self.tracks: list[TrackState] = []
        self.next_id = 0

    def active(self) -> list[TrackState]:
        return [t for t in self.tracks if not t.closed]

    def close_shot(self) -> None:
        for t in self.active():
            t.closed = True
            t.trim()

    def update(self, f: int, dets: Detections, shot: int) -> None:
        for t in self.active():
            if f - t.last_seen > self.max_gap:
                t.closed = True
                t.trim()
        act = self.active()
        boxes = np.stack([t.box[-1] for t in act]) if act else np.zeros((0, 4), np.float32)
        pairs = greedy_match(boxes, dets.boxes, self.iou_threshold)
        matched_t, matched_d = {i for i, _, _ in pairs}, {j for _, j, _ in pairs}
        for i, j, _ in pairs:
            act[i].sighting(f, dets.boxes[j], dets.points[j], dets.scores[j])
        for i, t in enumerate(act):
            if i not in matched_t:
                t.hold(f)
                t.missed = True
        for j in range(len(dets)):
            if j not in matched_d:
                t = TrackState(id=self.next_id, first=f, shot=shot, last_seen=f)
                self.next_id += 1
                t.append(dets.boxes[j], dets.points[j], dets.scores[j], True)
                self.tracks.append(t)


def keyframes_agree(a: Detections, b: Detections, min_iou: float, max_shift: float, floor_px: float = 0.0) -> bool:
    """Same faces, boxes overlapping by ``min_iou``, points moved by less than ``max_shift`` × face size
    (or ``floor_px`` pixels, the detector's own jitter at its working scale, whichever is larger)."""
    if len(a) != len(b):
        return False
    if not len(a):
        return True
    pairs = greedy_match(a.boxes, b.boxes, min_iou, use_distance=False)
    if len(pairs) != len(a):
        return False
    for i, j, _ in pairs:
        size = max(a.boxes[i, 2] - a.boxes[i, 0], a.boxes[i, 3] - a.boxes[i, 1], 1.0)
        if np.abs(a.points[i] - b.points[j]).max() > max(max_shift * size, floor_px):
            return False
    return True


def smoothed_at(tr: TrackState, t: int, sigma: float, radius: int) -> tuple[np.ndarray, np.ndarray]:
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
