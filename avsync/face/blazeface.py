"""The former home of the PyTorch BlazeFace detector and face mesh, kept so that ``from avsync.face.blazeface import
...`` keeps working: BlazeFace lives in :mod:`avsync.face.detectors.blazeface`, the face mesh in
:mod:`avsync.face.landmarks.facemesh` (importing either loads torch)."""

from avsync.face.detectors.blazeface import BlazeBlock, BlazeFaceDetector, BlazeFaceNet, resolve_weights
from avsync.face.landmarks.facemesh import LIPS_INNER, LIPS_OUTER, FaceMeshLandmarker, FaceMeshNet

__all__ = [
    "LIPS_INNER",
    "LIPS_OUTER",
    "BlazeBlock",
    "BlazeFaceDetector",
    "BlazeFaceNet",
    "FaceMeshLandmarker",
    "FaceMeshNet",
    "resolve_weights",
]
