"""Face detectors behind one protocol.

* ``"yunet"`` (what ``"auto"``, the default, picks): YuNet compiled into the ``yuface`` wheel
  (0.5 MB, installed with avsync where a wheel exists: CPython 3.10/3.11 on Linux x86_64 and
  Windows): box + five points, fast on CPU (:mod:`avsync.face.detectors.yunet`). Elsewhere ``"auto"``
  falls back to Haar.
* ``"haar"``: OpenCV's frontal-face Haar cascade (``opencv-python-headless<5``), a fallback with
  boxes only; the five points are estimated from average face proportions (:mod:`avsync.face.detectors.haar`).
* ``"blazeface"``: MediaPipe BlazeFace (PyTorch, :mod:`avsync.face.detectors.blazeface`) from a public
  checkpoint you supply (``weights=``, ``AVSYNC_MODELS_DIR``); batched, runs on GPU.

Every detector takes an RGB ``uint8 [H, W, 3]`` image and returns :class:`~avsync.face.types.Detections`
in that image's pixels (the :class:`FaceDetector` protocol, :mod:`avsync.face.detectors.base`). Heavy backends
are imported on first use with an install hint.
"""

from __future__ import annotations

from typing import Any

from avsync._optional import OPENCV_INSTALL
from avsync.errors import ConfigError
from avsync.face.detectors.base import DetectorName, FaceDetector, points_from_boxes
from avsync.face.detectors.haar import HaarDetector
from avsync.face.detectors.yunet import YuNetDetector

__all__ = [
    "OPENCV_INSTALL",
    "DetectorName",
    "FaceDetector",
    "HaarDetector",
    "YuNetDetector",
    "get_detector",
    "points_from_boxes",
]


def get_detector(name: DetectorName | FaceDetector = "auto", **options: Any) -> FaceDetector:
    """Build a detector by name (or return ``name`` itself if it already is one).

    Parameters
    ----------
    name
        ``"auto"`` (default: YuNet when the ``yuface`` wheel is installed, else Haar),
        ``"yunet"``, ``"haar"`` (OpenCV) or ``"blazeface"`` (PyTorch, needs ``weights=`` path to
        ``blazeface.pth`` or ``AVSYNC_MODELS_DIR``).
    **options
        Passed to the detector's constructor (``threshold``, ``max_side``, ``weights``, ``device``...).
    """
    if not isinstance(name, str):
        if isinstance(name, FaceDetector):
            return name
        raise ConfigError(f"not a face detector: {name!r}")
    if name == "auto":
        try:
            return YuNetDetector(**options)
        except ConfigError:
            return HaarDetector(**{k: v for k, v in options.items() if k in ("max_side",)})
    if name == "yunet":
        return YuNetDetector(**options)
    if name == "haar":
        return HaarDetector(**options)
    if name == "blazeface":
        from avsync.face.detectors.blazeface import BlazeFaceDetector

        return BlazeFaceDetector(**options)
    raise ConfigError(f"unknown face detector {name!r}", hint="choose one of: auto, yunet, haar, blazeface")
