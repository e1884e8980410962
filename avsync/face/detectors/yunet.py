"""YuNet (libfacedetection, Apache-2.0) through the ``yuface`` wheel: box + five points, fast on CPU."""

from __future__ import annotations

import threading
from types import ModuleType

import numpy as np

from avsync._optional import require
from avsync.face.types import Detections

__all__ = ["YuNetDetector"]


def _set_bundled_omp_threads(module: ModuleType, n: int) -> bool:
    """Set the thread count of the libgomp copy bundled in a wheel's ``<pkg>.libs`` folder."""
    import ctypes
    from pathlib import Path

    assert module.__file__ is not None  # the package of an installed wheel
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


def _facedetect_cnn(module: ModuleType):
    """``facedetect_cnn(result, bgr, width, height, step)`` of the libfacedetection library in the ``yuface`` wheel, or ``None``.

    ``yuface.c_detect`` allocates a fresh result buffer on every call and never frees it (36 KiB per frame:
    a 60-minute video leaked about 1 GB, ``benchmarks/bench_long.py``); calling the library's own entry point
    with a buffer that the detector keeps gives the same detections without the leak.
    """
    import ctypes
    from pathlib import Path

    assert module.__file__ is not None  # the package of an installed wheel
    for lib in sorted(Path(module.__file__).resolve().parent.glob("libfacedetection.so*")):
        try:
            fn = ctypes.CDLL(str(lib))["_Z14facedetect_cnnPhS_iii"]  # C++ name of facedetect_cnn(uchar*, uchar*, int, int, int)
        except (OSError, AttributeError):
            continue
        fn.restype = ctypes.POINTER(ctypes.c_int)
        fn.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int, ctypes.c_int, ctypes.c_int]
        return fn
    return None


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
    accepts_gray = True
    """:meth:`detect` takes a gray ``[H, W]`` image as it is (the tracker then skips its gray → RGB conversion)."""

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
        """Faces in an RGB ``uint8 [H, W, 3]`` (or gray ``[H, W]``) image, coordinates in its pixels.

        The image is searched at the size given (the tracker downscales to :attr:`max_side` first). Returns
        boxes, YuNet's five points and its confidence (0–100 scaled to ``[0, 1]``) for the faces at or above
        :attr:`threshold`; no face: :meth:`Detections.empty`.
        """
        import cv2  # a core dependency; imported here so that importing avsync does not load OpenCV

        # OpenCV's channel conversions: the same bytes as numpy's reversed or repeated channels, ~100x faster
        bgr = cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2BGR if image.ndim == 3 else cv2.COLOR_GRAY2BGR)
        raw = self._raw(bgr).astype(np.float32)
        raw = raw[raw[:, 0] >= self.threshold * 100]
        if not len(raw):
            return Detections.empty()
        xywh = raw[:, 1:5]
        boxes = np.concatenate([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], axis=1)
        points = raw[:, 5:15].reshape(-1, 5, 2)
        return Detections(boxes.astype(np.float32), points.astype(np.float32), (raw[:, 0] / 100).astype(np.float32))
