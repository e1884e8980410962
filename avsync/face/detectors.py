"""Face detectors behind one protocol.

* ``"yunet"`` (what ``"auto"``, the default, picks): YuNet compiled into the ``yuface`` wheel
  (0.5 MB, installed with avsync where a wheel exists: CPython 3.10/3.11 on Linux x86_64 and
  Windows): box + five points, fast on CPU. Elsewhere ``"auto"`` falls back to Haar.
* ``"haar"``: OpenCV's frontal-face Haar cascade (``opencv-python-headless<5``), a fallback with
  boxes only; the five points are estimated from average face proportions.
* ``"blazeface"``: MediaPipe BlazeFace (PyTorch, :mod:`avsync.face.blazeface`) from a public
  checkpoint you supply (``weights=``, ``AVSYNC_MODELS_DIR``); batched, runs on GPU.

Every detector takes an RGB ``uint8 [H, W, 3]`` image and returns :class:`~avsync.face.types.Detections`
in that image's pixels. Heavy backends are imported on first use with an install hint.
"""

from __future__ import annotations

import threading
from typing import Literal, Protocol, runtime_checkable

import numpy as np

from avsync._optional import require
from avsync.errors import ConfigError
from avsync.face.crops import OPENCV_INSTALL
from avsync.face.types import Detections

__all__ = ["DetectorName", "FaceDetector", "HaarDetector", "YuNetDetector", "get_detector", "points_from_boxes"]

DetectorName = Literal["auto", "yunet", "haar", "blazeface"]

# five points as fractions of a square Haar face box (x, y), measured on frontal faces; used when a
# detector has no points
_MEAN_POINTS = np.array([[0.29, 0.38], [0.71, 0.38], [0.50, 0.60], [0.32, 0.81], [0.68, 0.81]], np.float32)


def points_from_boxes(boxes: np.ndarray) -> np.ndarray:
    """Five points ``[K, 5, 2]`` placed at average frontal-face positions inside ``boxes [K, 4]``."""
    b = np.asarray(boxes, np.float32).reshape(-1, 4)
    wh = (b[:, 2:] - b[:, :2])[:, None, :]
    return b[:, None, :2] + _MEAN_POINTS[None] * wh


def _set_bundled_omp_threads(module, n: int) -> bool:
    """Set the thread count of the libgomp copy bundled in a wheel's ``<pkg>.libs`` folder."""
    import ctypes
    from pathlib import Path

    pkg = Path(module.__file__).resolve().parent
    for lib in sorted((pkg.parent / f"{pkg.name}.libs").glob("libgomp*.so*")):
        try:
            ctypes.CDLL(str(lib)).omp_set_num_threads(ctypes.c_int(n))
            return True
        except (OSError, AttributeError):
            continue
    return False


_RESULT_BYTES = 0x9000
"""Size of libfacedetection's result buffer (its documented ``DETECT_BUFFER_SIZE``): an int count, then 16 int16 per face."""


def _facedetect_cnn(module):
    """``facedetect_cnn(result, bgr, width, height, step)`` of the libfacedetection library in the ``yuface`` wheel, or ``None``.

    ``yuface.c_detect`` allocates a fresh result buffer on every call and never frees it (36 KiB per frame:
    a 60-minute video leaked about 1 GB, ``benchmarks/bench_long.py``); calling the library's own entry point
    with a buffer that the detector keeps gives the same detections without the leak.
    """
    import ctypes
    from pathlib import Path

    for lib in sorted(Path(module.__file__).resolve().parent.glob("libfacedetection.so*")):
        try:
            fn = ctypes.CDLL(str(lib))["_Z14facedetect_cnnPhS_iii"]  # C++ name of facedetect_cnn(uchar*, uchar*, int, int, int)
        except (OSError, AttributeError):
            continue
        fn.restype = ctypes.POINTER(ctypes.c_int)
        fn.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int, ctypes.c_int, ctypes.c_int]
        return fn
    return None


@runtime_checkable
class FaceDetector(Protocol):
    """What the tracker needs from a detector."""

    name: str
    max_side: int
    """Longest image side the detector works best at; larger frames are downscaled before detection."""

    def detect(self, image: np.ndarray) -> Detections:
        """Faces in an RGB ``uint8 [H, W, 3]`` image, coordinates in its pixels."""
        ...


class YuNetDetector:
    """YuNet (libfacedetection, Apache-2.0) through the ``yuface`` wheel.

    Parameters
    ----------
    threshold
        Minimum confidence in ``[0, 1]``.
    max_side
        Frames are downscaled so their longest side is at most this before detection (pixels).
        YuNet finds faces down to about 10 px at the detection scale.
    threads
        OpenMP threads of the ``yuface`` library (its own bundled libgomp; torch is not affected).
        Default 1: on a shared, busy CPU two spinning OpenMP threads made YuNet 10× *slower*.
        ``None`` leaves the library default (``OMP_NUM_THREADS`` or all cores).
    """

    name = "yunet"

    def __init__(self, *, threshold: float = 0.6, max_side: int = 480, threads: int | None = 1):
        self._yf = require("yuface", "default face detector (YuNet)", "pip install yuface")
        self.threshold = float(threshold)
        self.max_side = int(max_side)
        if threads is not None:
            _set_bundled_omp_threads(self._yf, int(threads))
        self._cnn = _facedetect_cnn(self._yf)
        self._local = threading.local()  # one result buffer per thread that uses this detector

    def _raw(self, bgr: np.ndarray) -> np.ndarray:
        """``[N, 16]`` int16 rows (confidence 0–100, x, y, w, h, five points, unused) of a contiguous BGR image."""
        if self._cnn is None:  # a yuface build without the library's symbol: its own (leaking) binding
            return np.asarray(self._yf.c_detect(bgr)).reshape(-1, 16)
        buf = getattr(self._local, "result", None)
        if buf is None:
            buf = self._local.result = np.zeros(_RESULT_BYTES, np.uint8)
        h, w = bgr.shape[:2]
        self._cnn(buf.ctypes.data, bgr.ctypes.data, w, h, bgr.strides[0])
        n = int(buf[:4].view(np.int32)[0])
        return buf[4 : 4 + 32 * n].view(np.int16).reshape(n, 16).copy()

    def detect(self, image: np.ndarray) -> Detections:
        bgr = np.ascontiguousarray(image[..., ::-1]) if image.ndim == 3 else np.ascontiguousarray(
            np.repeat(image[..., None], 3, axis=2)
        )
        raw = self._raw(bgr).astype(np.float32)
        raw = raw[raw[:, 0] >= self.threshold * 100]
        if not len(raw):
            return Detections.empty()
        xywh = raw[:, 1:5]
        boxes = np.concatenate([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], axis=1)
        points = raw[:, 5:15].reshape(-1, 5, 2)
        return Detections(boxes.astype(np.float32), points.astype(np.float32), (raw[:, 0] / 100).astype(np.float32))


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


def get_detector(name: DetectorName | FaceDetector = "auto", **options) -> FaceDetector:
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
        from avsync.face.blazeface import BlazeFaceDetector

        return BlazeFaceDetector(**options)
    raise ConfigError(f"unknown face detector {name!r}", hint="choose one of: auto, yunet, haar, blazeface")
