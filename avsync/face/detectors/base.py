"""What every face detector is: the :class:`FaceDetector` protocol, the detector names, and five points estimated
from boxes for detectors that find none."""

from __future__ import annotations

from typing import Literal, Protocol, get_args, runtime_checkable

import numpy as np

from avsync.face.types import Detections

__all__ = ["DETECTOR_NAMES", "DetectorName", "FaceDetector", "points_from_boxes"]

DetectorName = Literal["auto", "yunet", "haar", "blazeface"]
DETECTOR_NAMES: tuple[str, ...] = get_args(DetectorName)
"""The names :func:`~avsync.face.detectors.get_detector` builds."""

# five points as fractions of a square Haar face box (x, y), measured on frontal faces; used when a
# detector has no points
_MEAN_POINTS = np.array([[0.29, 0.38], [0.71, 0.38], [0.50, 0.60], [0.32, 0.81], [0.68, 0.81]], np.float32)


def points_from_boxes(boxes: np.ndarray) -> np.ndarray:
    """Five points ``[K, 5, 2]`` placed at average frontal-face positions inside ``boxes [K, 4]``."""
    b = np.asarray(boxes, np.float32).reshape(-1, 4)
    wh = (b[:, 2:] - b[:, :2])[:, None, :]
    return b[:, None, :2] + _MEAN_POINTS[None] * wh


@runtime_checkable
class FaceDetector(Protocol):
    """What the tracker needs from a detector."""

    name: str
    max_side: int
    """Longest image side the detector works best at; larger frames are downscaled before detection."""

    def detect(self, image: np.ndarray) -> Detections:
        """Faces in an RGB ``uint8 [H, W, 3]`` image, coordinates in its pixels (a detector with a true
        ``accepts_gray`` attribute also takes gray ``[H, W]`` images: the tracker then hands its gray frames over
        without converting them to RGB)."""
        ...
