"""Mouth-centred crops and Light-ASD face crops from boxes and five points.

Mouth crop (:func:`mouth_crop`): centre = midpoint of the two mouth corners moved 0.07 × side
down the face (see :func:`mouth_geometry`); side = ``scale`` ×
face-box width (default 0.7, so the mouth spans about 60 % of the crop); rotated so that the eye
line is horizontal (``align=True``). Boxes and points are smoothed over time by the tracker before
they get here (see :mod:`avsync.face.tracking`), so the crop is steady on a steady head.

Face crop (:func:`face_crop`): Light-ASD's preprocessing (``Columbia_test.py``): half-size
``bs = max(w, h) / 2`` of the face box, box enlarged by ``crop_scale = 0.40`` (region
``[cy - bs, cy + bs (1 + 2 cs)] × [cx - bs (1 + cs), cx + bs (1 + cs)]``, padded with gray 110),
resized to 224×224, gray, centre 112×112.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from avsync._optional import OPENCV_INSTALL, require
from avsync.face.geometry import mouth_geometry

__all__ = ["CropColor", "face_crop", "face_thumbnail", "mouth_crop", "mouth_crop_reach", "mouth_geometry"]

CropColor = Literal["gray", "rgb"]


def _cv2():
    return require("cv2", "crop code", OPENCV_INSTALL)


def _to_color(img: np.ndarray, color: CropColor) -> np.ndarray:
    cv2 = _cv2()
    if color == "gray":
        return img if img.ndim == 2 else cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)
    return img if img.ndim == 3 else cv2.cvtColor(img, cv2.COLOR_GRAY2RGB)


def mouth_crop(
    image: np.ndarray,
    centre: np.ndarray,
    side: float,
    angle: float = 0.0,
    *,
    size: int = 96,
    color: CropColor = "gray",
) -> np.ndarray:
    """Cut a ``size × size`` mouth crop from one frame.

    Parameters
    ----------
    image
        ``uint8 [H, W]`` gray or ``[H, W, 3]`` RGB frame.
    centre
        ``(x, y)`` mouth centre in the image's pixels.
    side
        Side of the square region to cut, in the image's pixels.
    angle
        Roll in radians (eye line angle); the crop is rotated back so the mouth is horizontal.
    size
        Output side in pixels.
    color
        ``"gray"`` → ``[size, size]``; ``"rgb"`` → ``[size, size, 3]``.
    """
    cv2 = _cv2()
    img = _to_color(image, color)
    s = size / max(float(side), 1.0)
    k = _blur_kernel(s)
    if k:  # strong downscale: smooth first to avoid aliasing
        img = cv2.GaussianBlur(img, (k, k), 0)
    m = cv2.getRotationMatrix2D((float(centre[0]), float(centre[1])), float(np.degrees(angle)), s)
    m[:, 2] += np.array([size / 2 - centre[0], size / 2 - centre[1]])
    return cv2.warpAffine(img, m, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def _blur_kernel(scale: float) -> int:
    """Side of the anti-alias Gaussian :func:`mouth_crop` applies before a downscale by ``scale`` (0: none)."""
    return int(round(0.5 / scale)) * 2 + 1 if scale < 0.5 else 0


def mouth_crop_reach(side: float, angle: float = 0.0, *, size: int = 96) -> float:
    """How far from ``centre`` (pixels, along x and along y) :func:`mouth_crop` reads the image: half the rotated
    square's extent, plus the anti-alias blur's and the bilinear interpolation's reach, plus a margin. Its result
    is the same when it is given only the pixels within this reach (with the centre moved accordingly)."""
    reach = float(side) / 2 * (abs(np.cos(angle)) + abs(np.sin(angle))) + 4
    k = _blur_kernel(size / max(float(side), 1.0))
    return reach + (k // 2 + 1 if k else 0)


def face_crop(image: np.ndarray, box: np.ndarray, *, crop_scale: float = 0.40, color: CropColor = "gray") -> np.ndarray:
    """Light-ASD face crop ``uint8 [112, 112]`` (gray) from one frame and a face box.

    Parameters
    ----------
    image
        ``uint8 [H, W]`` or ``[H, W, 3]`` RGB frame.
    box
        ``x1, y1, x2, y2`` face box in the image's pixels (smoothed).
    crop_scale
        Box enlargement (Light-ASD's ``cropScale``, 0.40).
    """
    cv2 = _cv2()
    img = _to_color(image, color)
    x1, y1, x2, y2 = (float(v) for v in box)
    bs = max(x2 - x1, y2 - y1) / 2
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    cs = crop_scale
    top, bottom = int(cy - bs), int(cy + bs * (1 + 2 * cs))
    left, right = int(cx - bs * (1 + cs)), int(cx + bs * (1 + cs))
    h, w = img.shape[:2]
    if bottom - top < 2 or right - left < 2:
        return np.full((112, 112) + img.shape[2:], 110, np.uint8)
    pt, pb = max(0, -top), max(0, bottom - h)
    pl, pr = max(0, -left), max(0, right - w)
    roi = img[max(0, top) : min(h, bottom), max(0, left) : min(w, right)]
    if pt or pb or pl or pr:
        roi = cv2.copyMakeBorder(roi, pt, pb, pl, pr, cv2.BORDER_CONSTANT, value=(110, 110, 110))
    face = cv2.resize(roi, (224, 224))
    return np.ascontiguousarray(face[56:168, 56:168])


def face_thumbnail(image: np.ndarray, box: np.ndarray, *, size: int = 128, margin: float = 0.35) -> np.ndarray:
    """A colour picture of one face for reports: ``uint8 [size, size, 3]``, the square around ``box``
    enlarged by ``margin`` on each side (padded with gray where it leaves the frame)."""
    cv2 = _cv2()
    img = _to_color(image, "rgb")
    x1, y1, x2, y2 = (float(v) for v in box)
    half = max(x2 - x1, y2 - y1) * (0.5 + margin)
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    top, left = int(round(cy - half)), int(round(cx - half))
    side = max(2, int(round(2 * half)))
    h, w = img.shape[:2]
    canvas = np.full((side, side, 3), 110, np.uint8)
    ys, xs = max(0, top), max(0, left)
    ye, xe = min(h, top + side), min(w, left + side)
    if ye > ys and xe > xs:
        canvas[ys - top : ye - top, xs - left : xe - left] = img[ys:ye, xs:xe]
    return cv2.resize(canvas, (size, size), interpolation=cv2.INTER_AREA)
