"""OpenCV's frontal-face Haar cascade: the fallback detector (boxes only, five points estimated)."""

from __future__ import annotations

import numpy as np

from avsync._optional import OPENCV_INSTALL, require
from avsync.errors import ConfigError
from avsync.face.detectors.base import points_from_boxes
from avsync.face.types import Detections

__all__ = ["HaarDetector"]


class HaarDetector:
    """OpenCV frontal-face Haar cascade (fallback; boxes only, points estimated).

    Parameters
    ----------
    min_neighbors
        Detections that survive fewer overlapping windows are dropped (higher: fewer false alarms).
    max_side
        Longest image side at detection (pixels).
    """

    name = "haar"

    def __init__(self, *, min_neighbors: int = 5, max_side: int = 480):
        self._cv2 = require("cv2", "Haar face detector", OPENCV_INSTALL)
        path = self._cv2.data.haarcascades + "haarcascade_frontalface_default.xml"
        self._cascade = self._cv2.CascadeClassifier(path)
        if self._cascade.empty():
            raise ConfigError(
                f"OpenCV has no Haar cascade at {path}",
                hint="install opencv-python-headless 4.x (OpenCV 5 dropped Haar cascades)",
            )
        self.min_neighbors = int(min_neighbors)
        self.max_side = int(max_side)

    def detect(self, image: np.ndarray) -> Detections:
        """Frontal faces in an RGB ``uint8 [H, W, 3]`` (or gray ``[H, W]``) image, coordinates in its pixels.

        The image is searched at the size given (the tracker downscales to :attr:`max_side` first); faces
        smaller than ``max(16 px, 5 % of the shorter side)`` are not looked for. ``scores`` are the cascade's
        last-stage weight squashed by a sigmoid (a heuristic confidence in ``(0, 1)``); ``points`` are
        estimated from the boxes (``points_estimated`` True). No face: :meth:`Detections.empty`.
        """
        cv2 = self._cv2
        gray = image if image.ndim == 2 else cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2GRAY)
        min_size = max(16, int(min(gray.shape) * 0.05))
        rects, _, weights = self._cascade.detectMultiScale3(
            gray, scaleFactor=1.1, minNeighbors=self.min_neighbors, minSize=(min_size, min_size), outputRejectLevels=True
        )
        if len(rects) == 0:
            return Detections.empty()
        r = np.asarray(rects, np.float32).reshape(-1, 4)
        boxes = np.concatenate([r[:, :2], r[:, :2] + r[:, 2:]], axis=1)
        # level weight of the last stage: > 0 passes; squash to [0, 1] (a heuristic confidence)
        w = np.asarray(weights, np.float32).reshape(-1)
        scores = 1.0 / (1.0 + np.exp(-w))
        return Detections(boxes, points_from_boxes(boxes), scores.astype(np.float32), points_estimated=True)
