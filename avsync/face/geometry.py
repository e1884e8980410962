"""Geometry shared by the face detectors, the tracker, the crops and the track types, and by the artefact crops
(no other face module is imported here, so each of them can use it without an import cycle)."""

from __future__ import annotations

import numpy as np

__all__ = ["context_geometry", "iou_matrix", "mouth_geometry", "work_frame_size"]


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU ``[len(a), len(b)]`` of two sets of ``x1, y1, x2, y2`` boxes."""
    a = np.asarray(a, np.float32).reshape(-1, 1, 4)
    b = np.asarray(b, np.float32).reshape(1, -1, 4)
    iw = np.clip(np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0]), 0, None)
    ih = np.clip(np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1]), 0, None)
    inter = iw * ih
    area_a = (a[..., 2] - a[..., 0]) * (a[..., 3] - a[..., 1])
    area_b = (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])
    return inter / np.maximum(area_a + area_b - inter, 1e-6)


def mouth_geometry(
    boxes: np.ndarray, points: np.ndarray, *, scale: float = 0.7, shift: float = 0.07
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Centre ``[N, 2]``, side ``[N]`` (pixels) and roll angle ``[N]`` (radians) of mouth crops.

    Parameters
    ----------
    boxes
        ``[N, 4]`` face boxes ``x1, y1, x2, y2``.
    points
        ``[N, 5, 2]`` five points (eyes, nose, mouth corners).
    scale
        Crop side as a fraction of the face-box width.
    shift
        The centre is moved this fraction of the side down the face (perpendicular to the eye
        line) from the corner midpoint: on the real clips of ``../shared`` the centre of the
        face-mesh outer lip contour lies 0.07 crop sides below the corners' midpoint on average
        (the lower lip is fuller than the upper one).
    """
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
    points = np.asarray(points, np.float32).reshape(-1, 5, 2)
    centre = (points[:, 3] + points[:, 4]) / 2
    side = scale * (boxes[:, 2] - boxes[:, 0])
    eye = points[:, 1] - points[:, 0]
    angle = np.arctan2(eye[:, 1], eye[:, 0])
    down = np.stack([-np.sin(angle), np.cos(angle)], axis=1)
    centre = centre + (shift * side)[:, None] * down
    return centre.astype(np.float32), side.astype(np.float32), angle.astype(np.float32)


def work_frame_size(width: int, height: int, work_size: int) -> tuple[int, int]:
    """``(width, height)`` of the frames crops are cut from: the frame scaled so its longest side is at most
    ``work_size`` pixels (never upscaled), both sides even (the size frames are decoded at)."""
    s = min(1.0, work_size / max(width, height))
    if s >= 1.0:
        return width, height
    return max(2, int(round(width * s / 2)) * 2), max(2, int(round(height * s / 2)) * 2)


def context_geometry(
    boxes: np.ndarray, points: np.ndarray, *, scale: float = 1.25, centre_at: float = 0.6
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Centre ``[N, 2]``, side ``[N]`` and roll ``[N]`` (radians) of context crops: the lower face in context, eyes
    to chin (the crops of the mouth-region artefact check).

    Parameters
    ----------
    boxes
        ``[N, 4]`` face boxes ``x1, y1, x2, y2`` (pixels).
    points
        ``[N, 5, 2]`` five points (eyes, nose, mouth corners).
    scale
        Crop side as a fraction of the face-box width.
    centre_at
        Position of the centre between the eyes' midpoint (0) and the mouth corners' midpoint (1).
    """
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
    points = np.asarray(points, np.float32).reshape(-1, 5, 2)
    eyes = (points[:, 0] + points[:, 1]) / 2
    mouth = (points[:, 3] + points[:, 4]) / 2
    centre = eyes + centre_at * (mouth - eyes)
    side = scale * (boxes[:, 2] - boxes[:, 0])
    eye = points[:, 1] - points[:, 0]
    angle = np.arctan2(eye[:, 1], eye[:, 0])
    return centre.astype(np.float32), side.astype(np.float32), angle.astype(np.float32)
