"""Lip landmarks from Google's ``mediapipe`` package (its legacy face mesh, CPU; model files ship in the wheel)."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence

import numpy as np

from avsync._optional import OPENCV_INSTALL, require
from avsync.errors import ConfigError
from avsync.face.landmarks.base import as_rgb, mesh_lips, mesh_mouth_open
from avsync.results import Status

__all__ = ["MEDIAPIPE_INSTALL", "MediaPipeLandmarker"]

MEDIAPIPE_INSTALL = "pip install 'avsync[mediapipe]' && pip install --no-deps mediapipe==0.10.21"


def _square_region(img: np.ndarray, x0: int, y0: int, n: int) -> np.ndarray:
    """``img[y0:y0+n, x0:x0+n]`` with zeros where the square leaves the image."""
    h, w = img.shape[:2]
    out = np.zeros((n, n, *img.shape[2:]), img.dtype)
    sx0, sy0, sx1, sy1 = max(x0, 0), max(y0, 0), min(x0 + n, w), min(y0 + n, h)
    if sx1 > sx0 and sy1 > sy0:
        out[sy0 - y0 : sy1 - y0, sx0 - x0 : sx1 - x0] = img[sy0:sy1, sx0:sx1]
    return out


class MediaPipeLandmarker:
    """Lip landmarks from Google's ``mediapipe`` face mesh (legacy ``solutions.face_mesh``, CPU).

    For each face box a square region (``roi_scale`` × the box size, centred on the box, zero-padded
    outside the frame) is cut, resized to ``roi_size`` (area averaging when shrinking) and given to MediaPipe's face mesh in static-image mode (its own
    short-range face detector, then the 468-point mesh, the model files shipped in the wheel); the
    face nearest the region's centre is kept and mapped back to image pixels. The same 40 lip
    indices and opening as :class:`~avsync.face.landmarks.facemesh.FaceMeshLandmarker` (same mesh topology).

    Parameters
    ----------
    roi_scale
        Side of the region given to MediaPipe, as a multiple of the face box's longest side
        (MediaPipe's short-range detector wants a face that fills about half the picture).
    roi_size
        Region side in pixels after resizing (square: MediaPipe's landmark projection assumes it).
    min_detection_confidence
        MediaPipe's detector threshold; faces it does not find give NaN rows.

    Notes
    -----
    Install with ``pip install 'avsync[mediapipe]' && pip install --no-deps mediapipe==0.10.21``
    (the extra brings ``protobuf>=4.25.3,<5``, ``matplotlib``, ``attrs``). The wheel
    declares ``numpy<2``, ``jax``, ``opencv-contrib-python`` … none of which the face mesh needs
    (it runs with numpy 2); it does need protobuf 4.x (protobuf ≥ 5 removed APIs its bindings use).
    MediaPipe's C++ code prints a few ``W0000`` log lines to stderr on first use.
    """

    name = "mediapipe"

    def __init__(self, *, roi_scale: float = 2.0, roi_size: int = 256, min_detection_confidence: float = 0.5):
        what = "MediaPipe lip-landmark backend"
        pb = require("google.protobuf", what, MEDIAPIPE_INSTALL)
        major = int(str(getattr(pb, "__version__", "4")).split(".")[0])
        if major >= 5:
            raise ConfigError(
                f"mediapipe 0.10.21's face mesh needs protobuf 4.x, but protobuf {pb.__version__} is installed",
                status=Status.CONFIG_ERROR,
                hint="pip install 'protobuf>=4.25.3,<5'",
            )
        mp = require("mediapipe", what, MEDIAPIPE_INSTALL)
        try:
            self._mesh = mp.solutions.face_mesh.FaceMesh(
                static_image_mode=True,
                max_num_faces=2,
                refine_landmarks=False,
                min_detection_confidence=float(min_detection_confidence),
            )
        except (AttributeError, RuntimeError, ImportError) as e:  # broken install (protobuf, missing graph files)
            raise ConfigError(f"mediapipe's face mesh could not be started: {e}", hint=MEDIAPIPE_INSTALL) from e
        self.roi_scale = float(roi_scale)
        self.roi_size = int(roi_size)

    def close(self) -> None:
        """Free MediaPipe's graph (also done when the object is garbage-collected)."""
        mesh, self._mesh = getattr(self, "_mesh", None), None
        if mesh is not None:
            mesh.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc: object):
        self.close()

    def __del__(self):
        with contextlib.suppress(Exception):  # interpreter shutdown
            self.close()

    def landmarks(
        self, images: Sequence[np.ndarray], boxes: np.ndarray, points: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """468 face-mesh landmarks for one face per image.

        Parameters
        ----------
        images
            Sequence of K ``uint8`` RGB ``[H, W, 3]`` (or gray ``[H, W]``) frames.
        boxes
            ``[K, 4]`` face boxes (x1, y1, x2, y2) in those images' pixels.
        points
            Unused (MediaPipe finds the roll itself); accepted for the common interface.

        Returns
        -------
        found : ndarray
            bool ``[K]``: MediaPipe found a face in the region.
        landmarks : ndarray
            float32 ``[K, 468, 3]``: x, y in image pixels, z in the same scale; NaN where not found.
        """
        cv2 = require("cv2", "MediaPipe lip-landmark backend", OPENCV_INSTALL)
        if self._mesh is None:
            raise ConfigError("this MediaPipeLandmarker was closed")
        boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
        k = len(boxes)
        found = np.zeros(k, bool)
        out = np.full((k, 468, 3), np.nan, np.float32)
        s = self.roi_size
        for i in range(k):
            x1, y1, x2, y2 = boxes[i]
            n = max(int(round(self.roi_scale * max(x2 - x1, y2 - y1))), 8)  # region side, image pixels
            x0, y0 = int(round((x1 + x2 - n) / 2)), int(round((y1 + y2 - n) / 2))
            region = _square_region(as_rgb(images[i]), x0, y0, n)
            crop = cv2.resize(region, (s, s), interpolation=cv2.INTER_AREA if n > s else cv2.INTER_LINEAR)
            res = self._mesh.process(np.ascontiguousarray(crop))
            faces = res.multi_face_landmarks or []
            if not faces:
                continue
            cands = [np.array([(p.x, p.y, p.z) for p in f.landmark], np.float32) for f in faces]
            best = min(cands, key=lambda a: float(np.sum((a[:, :2].mean(0) - 0.5) ** 2)))
            # normalised coordinates (pixel j's centre at (j + 0.5) / size, kept by the resize) -> region
            # pixels -> image pixel indices; z is normalised by the width like x
            out[i, :, 0] = x0 + best[:, 0] * n - 0.5
            out[i, :, 1] = y0 + best[:, 1] * n - 0.5
            out[i, :, 2] = best[:, 2] * n
            found[i] = True
        return found, out

    def lip_landmarks(
        self, images: Sequence[np.ndarray], boxes: np.ndarray, points: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """``(lips [K, 40, 2], mouth_open [K])`` float32, image pixels; NaN where no face was found."""
        _, lm = self.landmarks(images, boxes, points)
        return mesh_lips(lm).astype(np.float32), mesh_mouth_open(lm)
