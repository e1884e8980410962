"""What every lip-landmark backend is and returns: the :class:`LipLandmarker` protocol, the backend names, and the
common 40-point lip layout (mappings from MediaPipe's face mesh and from iBUG-68, the mouth-opening signal)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, Protocol, runtime_checkable

import numpy as np

from avsync._optional import OPENCV_INSTALL, require
from avsync.errors import ConfigError

__all__ = [
    "IBUG_LIPS",
    "LANDMARKERS",
    "LIPS_INNER",
    "LIPS_OUTER",
    "LandmarkerName",
    "LipLandmarker",
    "as_rgb",
    "ibug_mouth_open",
    "ibug_to_lips",
    "lip_mouth_open",
    "mesh_lips",
    "mesh_mouth_open",
]

LandmarkerName = Literal["facemesh", "mediapipe", "face-alignment"]
LANDMARKERS: tuple[str, ...] = ("facemesh", "mediapipe", "face-alignment")

#: iBUG-68 indices of the lips: 48–59 outer contour, 60–67 inner contour
IBUG_LIPS = tuple(range(48, 68))

# MediaPipe face-mesh indices of the lip contours (outer then inner, 20 each, going round the mouth)
LIPS_OUTER = (61, 146, 91, 181, 84, 17, 314, 405, 321, 375, 291, 409, 270, 269, 267, 0, 37, 39, 40, 185)
LIPS_INNER = (78, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308, 415, 310, 311, 312, 13, 82, 81, 80, 191)
_UPPER_INNER, _LOWER_INNER, _CORNER_R, _CORNER_L = 13, 14, 61, 291


@runtime_checkable
class LipLandmarker(Protocol):
    """What :func:`avsync.face.track` needs from a lip-landmark backend."""

    name: str

    def lip_landmarks(
        self, images: Sequence[np.ndarray], boxes: np.ndarray, points: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """``images``: K uint8 RGB ``[H, W, 3]`` (or gray) frames, one face each; ``boxes`` ``[K, 4]``
        and ``points`` ``[K, 5, 2]`` in those images' pixels → (``lips`` float32 ``[K, 40, 2]``
        image pixels, ``mouth_open`` float32 ``[K]``), NaN where no face was found."""
        ...


# ------------------------------------------------------------------------------------------------
# layout helpers


def lip_mouth_open(lips: np.ndarray) -> np.ndarray:
    """``[K]`` mouth opening from ``[K, 40, 2]`` lips in the common layout: inner-lip gap at the
    centre (points 25 and 35) divided by the outer-corner distance (points 0 and 10)."""
    lips = np.asarray(lips, np.float32)
    gap = np.linalg.norm(lips[:, 25] - lips[:, 35], axis=-1)
    width = np.linalg.norm(lips[:, 0] - lips[:, 10], axis=-1)
    return (gap / np.maximum(width, 1e-6)).astype(np.float32)


def _resample_path(path: np.ndarray, n_out: int) -> np.ndarray:
    """``[K, m+1, 2]`` polyline (ends kept) → ``[K, n_out+1, 2]`` points equally spaced in the
    polyline's point index (each input segment gets the same share)."""
    m = path.shape[1] - 1
    t = np.linspace(0.0, m, n_out + 1)
    i0 = np.minimum(np.floor(t).astype(int), m - 1)
    w = (t - i0)[None, :, None]
    return path[:, i0] * (1 - w) + path[:, i0 + 1] * w


def ibug_to_lips(landmarks: np.ndarray) -> np.ndarray:
    """Map iBUG-68 landmarks to the common 40-point lip layout.

    The outer contour (48–59: corner 48, upper lip 49–53, corner 54, lower lip 55–59) and the
    inner contour (60–67: corner 60, upper 61–63, corner 64, lower 65–67) are split at the corners
    and the lip centres (57/51 outer, 66/62 inner) and each quarter is resampled to 5 segments,
    so corners land on indices 0/10 (20/30) and centres on 5/15 (25/35), as in MediaPipe's order.

    Parameters
    ----------
    landmarks
        ``[K, 68, 2+]`` (or ``[68, 2+]``) iBUG-68 points, pixels.

    Returns
    -------
    ndarray
        float32 ``[K, 40, 2]`` (``[40, 2]`` for one face).
    """
    lm = np.asarray(landmarks, np.float32)
    single = lm.ndim == 2
    if single:
        lm = lm[None]
    if lm.ndim != 3 or lm.shape[1] != 68 or lm.shape[2] < 2:
        raise ConfigError(f"expected iBUG-68 landmarks [K, 68, 2], got {lm.shape}")
    p = lm[..., :2]
    # outer: corner 48 -> lower lip 59..55 -> corner 54 -> upper lip 53..49 -> (back to 48)
    outer = [[48, 59, 58, 57], [57, 56, 55, 54], [54, 53, 52, 51], [51, 50, 49, 48]]
    # inner: corner 60 -> lower 67, 66, 65 -> corner 64 -> upper 63, 62, 61 -> (back to 60)
    inner = [[60, 67, 66], [66, 65, 64], [64, 63, 62], [62, 61, 60]]
    parts = []
    for contour in (outer, inner):
        for q in contour:
            parts.append(_resample_path(p[:, q], 5)[:, :5])  # drop the end point: it starts the next quarter
    out = np.concatenate(parts, axis=1).astype(np.float32)
    return out[0] if single else out


def ibug_mouth_open(landmarks: np.ndarray) -> np.ndarray:
    """``[K]`` inner-lip gap (iBUG points 62–66) / outer-corner distance (48–54) for ``[K, 68, 2+]``."""
    lm = np.asarray(landmarks, np.float32)
    gap = np.linalg.norm(lm[:, 62, :2] - lm[:, 66, :2], axis=-1)
    width = np.linalg.norm(lm[:, 48, :2] - lm[:, 54, :2], axis=-1)
    return (gap / np.maximum(width, 1e-6)).astype(np.float32)


def mesh_lips(landmarks: np.ndarray) -> np.ndarray:
    """``[K, 40, 2]`` lip contour (20 outer then 20 inner points) from ``[K, 468, 3]`` face-mesh landmarks."""
    return landmarks[:, list(LIPS_OUTER) + list(LIPS_INNER), :2]


def mesh_mouth_open(landmarks: np.ndarray) -> np.ndarray:
    """``[K]`` inner-lip gap (face-mesh points 13–14) divided by the mouth width (corners 61–291)."""
    gap = np.linalg.norm(landmarks[:, _UPPER_INNER, :2] - landmarks[:, _LOWER_INNER, :2], axis=1)
    width = np.linalg.norm(landmarks[:, _CORNER_R, :2] - landmarks[:, _CORNER_L, :2], axis=1)
    return (gap / np.maximum(width, 1e-6)).astype(np.float32)


def as_rgb(img: np.ndarray) -> np.ndarray:
    """An RGB view of a gray ``[H, W]`` (converted) or colour ``[H, W, C]`` (first three channels) frame."""
    cv2 = require("cv2", "lip-landmark backends", OPENCV_INSTALL)
    if img.ndim == 2:
        return cv2.cvtColor(img, cv2.COLOR_GRAY2RGB)
    return img[..., :3]
