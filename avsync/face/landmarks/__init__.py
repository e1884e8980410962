"""Lip landmark backends behind one interface: own PyTorch face mesh, MediaPipe, face-alignment (FAN).

Every backend returns the same **40-point lip layout** in image pixels and the same
**mouth-opening signal**, so :func:`avsync.face.track` (``landmarks=``) and everything downstream
do not care which one ran:

* points 0–19: outer lip contour, 20–39: inner contour;
* each contour starts at the subject's right mouth corner (left in the image), runs along the
  lower lip to the other corner (index 10 / 30) and back along the upper lip; the lower-lip
  centre is index 5 / 25, the upper-lip centre 15 / 35 (MediaPipe face-mesh order, see
  :data:`avsync.face.landmarks.base.LIPS_OUTER` / ``LIPS_INNER``);
* ``mouth_open`` = inner-lip gap at the centre (points 25–35) / distance between the outer
  corners (points 0–10): about 0 for a closed mouth, growing as it opens.

Backends (``get_landmarker(name)``):

* ``"facemesh"``: :class:`~avsync.face.landmarks.facemesh.FaceMeshLandmarker`, our PyTorch port of
  MediaPipe's face mesh, batched, GPU-ready; needs ``blazeface_landmark.pth`` (``weights=`` or
  ``$AVSYNC_MODELS_DIR``).
* ``"mediapipe"``: :class:`~avsync.face.landmarks.mediapipe.MediaPipeLandmarker`, Google's ``mediapipe`` package (its face-mesh
  model ships in the wheel; CPU). Install: ``pip install 'avsync[mediapipe]' && pip install
  --no-deps mediapipe==0.10.21`` (its declared ``numpy<2`` is not needed for the face mesh;
  protobuf must be 4.x).
* ``"face-alignment"``: :class:`~avsync.face.landmarks.fan.FaceAlignmentLandmarker`, Bulat's 2D-FAN (68 iBUG points) from
  the ``face-alignment`` package; its checkpoint ``2DFAN4-11f355bf06.pth.tar`` must be placed by
  hand (avsync never downloads it).

A backend is any object with a ``name`` and
``lip_landmarks(images, boxes, points) -> (lips [K, 40, 2], mouth_open [K])`` (NaN rows where no
face was found): the :class:`LipLandmarker` protocol of :mod:`avsync.face.landmarks.base`, with the layout helpers.
The face mesh (PyTorch) is imported only when it is asked for.
"""

from __future__ import annotations

import os

from avsync.errors import ConfigError
from avsync.face.landmarks.base import (
    IBUG_LIPS,
    LANDMARKERS,
    LandmarkerName,
    LipLandmarker,
    ibug_mouth_open,
    ibug_to_lips,
    lip_mouth_open,
)
from avsync.face.landmarks.fan import (
    FACE_ALIGNMENT_INSTALL,
    FAN_CHECKPOINT,
    FAN_SHA256_PREFIX,
    FAN_URL,
    FaceAlignmentLandmarker,
    resolve_fan_weights,
)
from avsync.face.landmarks.mediapipe import MEDIAPIPE_INSTALL, MediaPipeLandmarker

__all__ = [
    "FACE_ALIGNMENT_INSTALL",
    "FAN_CHECKPOINT",
    "FAN_SHA256_PREFIX",
    "FAN_URL",
    "IBUG_LIPS",
    "LANDMARKERS",
    "MEDIAPIPE_INSTALL",
    "FaceAlignmentLandmarker",
    "LandmarkerName",
    "LipLandmarker",
    "MediaPipeLandmarker",
    "get_landmarker",
    "ibug_mouth_open",
    "ibug_to_lips",
    "lip_mouth_open",
    "resolve_fan_weights",
]


def get_landmarker(
    landmarks: LandmarkerName | LipLandmarker, *, weights: str | os.PathLike | None = None, device: str = "cpu"
) -> LipLandmarker:
    """A lip-landmark backend by name (or the object itself).

    Parameters
    ----------
    landmarks
        ``"facemesh"`` (own PyTorch face mesh; checkpoint from ``weights`` or ``$AVSYNC_MODELS_DIR``),
        ``"mediapipe"`` (the ``mediapipe`` package, CPU), ``"face-alignment"`` (2D-FAN; checkpoint
        from ``weights``, ``$AVSYNC_MODELS_DIR`` or torch hub's cache), or an object with
        ``lip_landmarks(images, boxes, points)``.
    weights
        Checkpoint file or folder for ``facemesh`` / ``face-alignment``.
    device
        Torch device for ``facemesh`` / ``face-alignment`` (MediaPipe runs on CPU).

    Raises
    ------
    ConfigError
        Unknown name, or the backend's package is missing (the hint gives the install command).
    BundleError
        The backend's checkpoint is missing (the hint says which file to put where).
    """
    if not isinstance(landmarks, str):
        if not callable(getattr(landmarks, "lip_landmarks", None)):
            raise ConfigError(
                f"{type(landmarks).__name__} is not a lip-landmark backend (it has no lip_landmarks method)",
                hint=f"pass one of {', '.join(LANDMARKERS)} or a FaceMeshLandmarker / MediaPipeLandmarker / "
                "FaceAlignmentLandmarker",
            )
        return landmarks
    name = landmarks.lower().replace("_", "-")
    if name in ("facemesh", "face-mesh"):
        from avsync.face.landmarks.facemesh import FaceMeshLandmarker

        return FaceMeshLandmarker(weights=weights, device=device)
    if name == "mediapipe":
        return MediaPipeLandmarker()
    if name in ("face-alignment", "fan"):
        return FaceAlignmentLandmarker(weights=weights, device=device)
    raise ConfigError(f"unknown lip-landmark backend {landmarks!r}", hint=f"choose from {', '.join(LANDMARKERS)}")
