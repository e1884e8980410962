"""Faces: detectors behind one protocol, multi-face tracks, mouth and Light-ASD face crops.

The entry point is :func:`track`::

    media = avsync.load_media("clip.mp4")
    faces = avsync.face.track(media, crops=("mouth", "face"))
    main = faces.dominant()            # FaceTrack or None (status no_face)
    main.frames, main.boxes, main.valid, main.mouth_crops  # [N], [N,4], [N], [N,96,96]
    faces = avsync.face.track(media, landmarks="mediapipe")  # + main.lip_landmarks [N,40,2], main.mouth_open [N]

or, to track several videos with the same options, a :class:`Tracker` with a :class:`TrackerConfig`::

    tracker = avsync.face.Tracker(avsync.face.TrackerConfig(keyframe_interval=4), detector="yunet")
    faces = tracker(media, crops=("mouth",), end=10.0)

Layout: ``tracking`` (Tracker, TrackerConfig, track), ``association`` (track bookkeeping), ``detectors/``
(protocol, YuNet, Haar, BlazeFace), ``landmarks/`` (protocol and lip layout, MediaPipe, face-alignment, face mesh),
``crops``, ``geometry`` (the shared leaf), ``types``, ``preview``. See ``docs/faces.md`` for the design and the data
layout.
"""

from avsync.face.crops import face_crop, mouth_crop, mouth_geometry
from avsync.face.detectors import FaceDetector, HaarDetector, YuNetDetector, get_detector, points_from_boxes
from avsync.face.geometry import context_geometry, iou_matrix
from avsync.face.landmarks import LANDMARKERS, LipLandmarker, get_landmarker
from avsync.face.tracking import Tracker, TrackerConfig, track
from avsync.face.types import POINT_NAMES, ContextCrops, ContextCropSpec, Detections, FaceTrack, FaceTracks

__all__ = [
    "LANDMARKERS",
    "POINT_NAMES",
    "ContextCropSpec",
    "ContextCrops",
    "Detections",
    "FaceDetector",
    "FaceTrack",
    "FaceTracks",
    "HaarDetector",
    "LipLandmarker",
    "Tracker",
    "TrackerConfig",
    "YuNetDetector",
    "context_geometry",
    "face_crop",
    "get_detector",
    "get_landmarker",
    "iou_matrix",
    "mouth_crop",
    "mouth_geometry",
    "points_from_boxes",
    "track",
]
