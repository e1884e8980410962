"""Result types of face detection and tracking.

Coordinates are in pixels of the *displayed* frame (after rotation metadata is applied) at its
native size, whatever size the frames were decoded or detected at. Frame indices are on the
:class:`~avsync.media.Media` analysis grid (frame ``k`` is shown at ``k / fps`` seconds).

The five points follow the YuNet / RetinaFace order: right eye (the one on the image's left),
left eye, nose tip, right mouth corner, left mouth corner.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from avsync.errors import ConfigError
from avsync.results import Serializable, Status, to_jsonable

__all__ = ["POINT_NAMES", "ContextCropSpec", "ContextCrops", "Detections", "FaceTrack", "FaceTracks"]

POINT_NAMES = ("right_eye", "left_eye", "nose", "mouth_right", "mouth_left")


@dataclass(frozen=True)
class Detections:
    """Faces found in one image.

    Attributes
    ----------
    boxes
        ``float32 [K, 4]``: ``x1, y1, x2, y2`` in pixels of the image given to the detector.
    points
        ``float32 [K, 5, 2]``: five points (see :data:`POINT_NAMES`), ``x, y`` in pixels. Detectors
        without landmarks (Haar) fill them from average face proportions and set
        ``points_estimated``.
    scores
        ``float32 [K]`` detector confidence in ``[0, 1]``.
    """

    boxes: np.ndarray
    points: np.ndarray
    scores: np.ndarray
    points_estimated: bool = False

    @classmethod
    def empty(cls) -> Detections:
        """No faces: ``boxes [0, 4]``, ``points [0, 5, 2]``, ``scores [0]`` (float32), ``points_estimated`` False."""
        return cls(np.zeros((0, 4), np.float32), np.zeros((0, 5, 2), np.float32), np.zeros((0,), np.float32))

    def __len__(self) -> int:
        return int(self.boxes.shape[0])

    def scaled(self, sx: float, sy: float) -> Detections:
        """The same detections with x multiplied by ``sx`` and y by ``sy``."""
        s4 = np.array([sx, sy, sx, sy], np.float32)
        s2 = np.array([sx, sy], np.float32)
        return Detections(self.boxes * s4, self.points * s2, self.scores, self.points_estimated)


def _summary(arr: np.ndarray | None) -> Any:
    return None if arr is None else {"shape": list(arr.shape), "dtype": str(arr.dtype)}


@dataclass(frozen=True)
class ContextCropSpec:
    """Which RGB context crops (the lower face in context, eyes to chin:
    :func:`~avsync.face.geometry.context_geometry`) the tracker cuts while it decodes: those of every ``step``-th
    valid frame of each track (ranks 0, ``step``, 2 × ``step``, ... among its valid frames), ``size`` pixels square.
    They are what the mouth-region artefact check scores; cut in the tracking pass, the video is decoded once."""

    size: int = 128
    step: int = 1
    scale: float = 1.25
    centre_at: float = 0.6

    def __post_init__(self) -> None:
        if not (isinstance(self.size, int) and isinstance(self.step, int) and self.size > 0 and self.step > 0):
            raise ConfigError(f"ContextCropSpec: size and step must be positive integers, got {self.size}, {self.step}")
        if not (self.scale > 0 and math.isfinite(self.scale) and math.isfinite(self.centre_at)):
            raise ConfigError(f"ContextCropSpec: scale must be positive and centre_at finite, got {self.scale}, "
                              f"{self.centre_at}")


@dataclass(frozen=True, eq=False)
class ContextCrops:
    """The context crops of one track, cut as ``spec`` says.

    Attributes
    ----------
    spec
        The :class:`ContextCropSpec` they were cut with.
    images
        ``uint8 [M, S, S, 3]`` RGB crops.
    frames
        ``int64 [M]`` analysis frame index of each crop.
    """

    spec: ContextCropSpec
    images: np.ndarray = field(repr=False)
    frames: np.ndarray

    def __len__(self) -> int:
        return int(self.frames.shape[0])


@dataclass(frozen=True, eq=False)
class FaceTrack(Serializable):
    """One face followed over time.

    Arrays all have the track length ``N`` first; frame ``frames[i]`` is shown at
    ``frames[i] / fps`` s. Frames are contiguous (``frames = start_frame + arange(N)``); frames
    where the face was not seen (occlusion, detector miss for longer than one keyframe interval)
    have ``valid[i] = False`` and boxes interpolated between the neighbouring sightings.

    Attributes
    ----------
    track_id
        Identifier, unique within a :class:`FaceTracks`.
    frames
        ``int64 [N]`` analysis frame indices.
    boxes
        ``float32 [N, 4]`` smoothed ``x1, y1, x2, y2`` in displayed-frame pixels.
    points
        ``float32 [N, 5, 2]`` smoothed five points in displayed-frame pixels.
    scores
        ``float32 [N]`` detector confidence (interpolated between keyframes, 0 where invalid).
    valid
        ``bool [N]``: the face was seen at this frame.
    fps
        Analysis frame rate.
    mouth_crops
        ``uint8 [N, S, S]`` (gray) or ``[N, S, S, 3]`` (RGB) mouth-centred crops, or ``None``.
    face_crops
        ``uint8 [N, 112, 112]`` gray Light-ASD face crops, or ``None``.
    lip_landmarks
        ``float32 [N, 40, 2]`` lip contour points (displayed-frame pixels) from a landmark backend,
        or ``None``.
    mouth_open
        ``float32 [N]`` inner-lip opening divided by mouth width, or ``None``.
    context
        RGB :class:`ContextCrops` of sampled valid frames (``track(..., context=spec)``), or ``None``.
    surround_still
        ``float32 [N]`` share of the pixels around the face (about two face widths either side and down to the
        shoulders, the head left out) that are bit-identical to the previous frame, NaN where it cannot be told (first
        frame, a face that fills the picture, a repeated frame); ``None`` for tracks not made by the tracker. A
        picture whose surroundings never change while the face moves was animated from one still image.
    face_still
        ``float32 [N]`` the same share for the inner face box (its central 70 % wide, from 0.40 of its height above
        its centre to 0.45 below), NaN where ``surround_still`` is; ``None`` for tracks not made by the tracker. Tells
        a face that moves from one an encoder copied unchanged with the rest of the picture.
    """

    track_id: int
    frames: np.ndarray
    boxes: np.ndarray
    points: np.ndarray
    scores: np.ndarray
    valid: np.ndarray
    fps: float
    points_estimated: bool = False
    mouth_crops: np.ndarray | None = field(default=None, repr=False)
    face_crops: np.ndarray | None = field(default=None, repr=False)
    lip_landmarks: np.ndarray | None = field(default=None, repr=False)
    mouth_open: np.ndarray | None = field(default=None, repr=False)
    context: ContextCrops | None = field(default=None, repr=False)
    surround_still: np.ndarray | None = field(default=None, repr=False)
    face_still: np.ndarray | None = field(default=None, repr=False)

    # ------------------------------------------------------------------ summaries
    def __len__(self) -> int:
        return int(self.frames.shape[0])

    @property
    def start_frame(self) -> int:
        """First analysis frame of the track (0 for an empty track)."""
        return int(self.frames[0]) if len(self) else 0

    @property
    def end_frame(self) -> int:
        """One past the last frame."""
        return int(self.frames[-1]) + 1 if len(self) else 0

    @property
    def start_s(self) -> float:
        """Time of :attr:`start_frame` in seconds (``start_frame / fps``)."""
        return self.start_frame / self.fps

    @property
    def end_s(self) -> float:
        """End of the track in seconds, ``end_frame / fps`` (one frame past the last frame's time)."""
        return self.end_frame / self.fps

    @property
    def duration_s(self) -> float:
        """Length of the track in seconds, ``N / fps``, valid or not (frames are contiguous)."""
        return len(self) / self.fps

    @property
    def num_valid(self) -> int:
        """Number of frames where the face was seen (``valid`` true)."""
        return int(np.count_nonzero(self.valid))

    @property
    def valid_fraction(self) -> float:
        """Fraction of the track's frames where the face was seen."""
        return self.num_valid / len(self) if len(self) else 0.0

    @property
    def median_size(self) -> float:
        """Median of ``max(width, height)`` of the valid boxes, in pixels."""
        b = self.boxes[self.valid] if self.num_valid else self.boxes
        if not len(b):
            return 0.0
        return float(np.median(np.maximum(b[:, 2] - b[:, 0], b[:, 3] - b[:, 1])))

    @property
    def mean_score(self) -> float:
        """Mean detector confidence over the valid frames, in ``[0, 1]``; 0.0 when no frame is valid."""
        return float(self.scores[self.valid].mean()) if self.num_valid else 0.0

    def mouth_boxes(self, *, scale: float = 0.7, shift: float = 0.07) -> np.ndarray:
        """``float32 [N, 4]`` axis-aligned boxes around the mouth (the region mouth crops cover)."""
        from avsync.face.geometry import mouth_geometry

        c, side, _ = mouth_geometry(self.boxes, self.points, scale=scale, shift=shift)
        h = side[:, None] / 2
        return np.concatenate([c - h, c + h], axis=1).astype(np.float32)

    def at(self, frame: int) -> int | None:
        """Position in the arrays of analysis frame ``frame``, or ``None`` outside the track."""
        i = frame - self.start_frame
        return i if 0 <= i < len(self) else None

    def summary(self, frame_size: tuple[int, int] | None = None, *, min_face: float = 0.0) -> dict[str, Any]:
        """JSON-friendly description without per-frame arrays."""
        out = {
            "track_id": self.track_id,
            "start_frame": self.start_frame,
            "end_frame": self.end_frame,
            "start_s": round(self.start_s, 3),
            "end_s": round(self.end_s, 3),
            "duration_s": round(self.duration_s, 3),
            "num_frames": len(self),
            "valid_fraction": round(self.valid_fraction, 4),
            "median_size_px": round(self.median_size, 1),
            "mean_score": round(self.mean_score, 4),
            "tiny": bool(self.median_size < min_face),
            "points_estimated": self.points_estimated,
        }
        return out

    def to_dict(self, *, arrays: bool = True) -> dict[str, Any]:
        """Per-track dict. ``arrays=True`` includes the per-frame boxes, points, scores, validity;
        crops and lip landmarks are always summarised (shape and dtype) — they are too big for JSON."""
        out: dict[str, Any] = {"track_id": self.track_id, "fps": self.fps, "points_estimated": self.points_estimated}
        if arrays:
            for name in ("frames", "boxes", "points", "scores", "valid"):
                a = getattr(self, name)
                out[name] = to_jsonable(np.round(a, 2) if a.dtype.kind == "f" else a)
            if self.mouth_open is not None:
                out["mouth_open"] = to_jsonable(np.round(self.mouth_open, 4))
            for name in ("surround_still", "face_still"):
                a = getattr(self, name)
                if a is not None:
                    out[name] = to_jsonable(np.round(a, 4))
        out.update(self.summary())
        for name in ("mouth_crops", "face_crops", "lip_landmarks"):
            out[name] = _summary(getattr(self, name))
        out["context_crops"] = None if self.context is None else _summary(self.context.images)
        out["schema_version"] = self.schema_version
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FaceTrack:
        """Rebuild a track from ``to_dict(arrays=True)`` (crops are not restored)."""
        mo, still, face = data.get("mouth_open"), data.get("surround_still"), data.get("face_still")
        return cls(
            track_id=int(data["track_id"]),
            frames=np.asarray(data["frames"], np.int64),
            boxes=np.asarray(data["boxes"], np.float32).reshape(-1, 4),
            points=np.asarray(data["points"], np.float32).reshape(-1, 5, 2),
            scores=np.asarray(data["scores"], np.float32),
            valid=np.asarray(data["valid"], bool),
            fps=float(data["fps"]),
            points_estimated=bool(data.get("points_estimated", False)),
            mouth_open=None if mo is None else np.asarray(mo, np.float32),
            surround_still=None if still is None else np.asarray(still, np.float32),  # JSON null (NaN) → NaN
            face_still=None if face is None else np.asarray(face, np.float32),
        )


@dataclass(frozen=True, eq=False)
class FaceTracks(Serializable):
    """All faces of one video.

    Attributes
    ----------
    status
        ``ok`` when at least one usable track exists; ``no_face`` when no face was seen in enough
        frames (``face_fraction`` says how many had one); ``no_video`` for audio-only input.
    tracks
        Tracks sorted by number of valid frames, largest first.
    num_frames
        Analysis frames processed.
    fps
        Analysis frame rate.
    frame_size
        ``(width, height)`` of the displayed frame in pixels (coordinates refer to it).
    face_fraction
        Fraction of processed frames where at least one face was seen (any track, any size).
    detector
        Name of the detector used.
    keyframes
        Number of frames the detector ran on.
    shot_changes
        Analysis frames where a cut was detected (tracks never bridge a cut).
    min_face
        Faces whose median size (pixels, displayed frame) is below this are flagged ``tiny``.
    landmarker
        Name of the lip-landmark backend that filled ``FaceTrack.lip_landmarks`` (``None``: none ran).
    """

    status: Status
    tracks: tuple[FaceTrack, ...]
    num_frames: int
    fps: float
    frame_size: tuple[int, int]
    face_fraction: float
    detector: str
    keyframes: int = 0
    shot_changes: tuple[int, ...] = ()
    min_face: float = 32.0
    path: str | None = None
    message: str | None = None
    warnings: tuple[str, ...] = ()
    landmarker: str | None = None

    def __len__(self) -> int:
        return len(self.tracks)

    def __iter__(self):
        return iter(self.tracks)

    def __getitem__(self, i: int) -> FaceTrack:
        return self.tracks[i]

    def dominant(self) -> FaceTrack | None:
        """The track seen in the most frames (ties: the larger face), or ``None``."""
        if not self.tracks:
            return None
        return max(self.tracks, key=lambda t: (t.num_valid, t.median_size))

    def by_id(self, track_id: int) -> FaceTrack:
        """The track whose ``track_id`` is ``track_id``; ``KeyError`` when there is none."""
        for t in self.tracks:
            if t.track_id == track_id:
                return t
        raise KeyError(track_id)

    def usable(self, *, min_duration_s: float = 1.0) -> tuple[FaceTrack, ...]:
        """Tracks with at least ``min_duration_s`` of valid frames and a face that is not tiny."""
        return tuple(
            t for t in self.tracks if t.num_valid / t.fps >= min_duration_s and t.median_size >= self.min_face
        )

    def coverage(self) -> np.ndarray:
        """``bool [num_frames]``: some track is valid at this frame."""
        cov = np.zeros(self.num_frames, bool)
        for t in self.tracks:
            f = t.frames[t.valid]
            cov[f[f < self.num_frames]] = True
        return cov

    def to_dict(self, *, arrays: bool = False) -> dict[str, Any]:
        """JSON-friendly dict; per-frame arrays only with ``arrays=True``; crops never."""
        dominant = self.dominant()
        out = {
            "path": self.path,
            "status": self.status.value,
            "message": self.message,
            "num_frames": self.num_frames,
            "fps": self.fps,
            "duration_s": round(self.num_frames / self.fps, 3),
            "frame_size": list(self.frame_size),
            "face_fraction": round(self.face_fraction, 4),
            "detector": self.detector,
            "landmarker": self.landmarker,
            "keyframes": self.keyframes,
            "shot_changes": list(self.shot_changes),
            "min_face": self.min_face,
            "dominant_track": None if dominant is None else dominant.track_id,
            "tracks": [
                {**t.to_dict(arrays=arrays), "tiny": bool(t.median_size < self.min_face)} for t in self.tracks
            ],
            "warnings": list(self.warnings),
            "schema_version": self.schema_version,
        }
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FaceTracks:
        """Rebuild the tracks from :meth:`to_dict` output.

        Only tracks written with per-frame arrays (``to_dict(arrays=True)``) come back; summarised tracks
        are dropped, and crops are never restored (see :meth:`FaceTrack.from_dict`). Raises ``KeyError``
        when a required key (``status``, ``num_frames``, ``fps``, ``frame_size``, ``face_fraction``,
        ``detector``) is missing.
        """
        tracks = tuple(FaceTrack.from_dict(t) for t in data.get("tracks", []) if "boxes" in t)
        return cls(
            status=Status(data["status"]),
            tracks=tracks,
            num_frames=int(data["num_frames"]),
            fps=float(data["fps"]),
            frame_size=tuple(data["frame_size"]),
            face_fraction=float(data["face_fraction"]),
            detector=data["detector"],
            keyframes=int(data.get("keyframes", 0)),
            shot_changes=tuple(data.get("shot_changes", ())),
            min_face=float(data.get("min_face", 32.0)),
            path=data.get("path"),
            message=data.get("message"),
            warnings=tuple(data.get("warnings", ())),
            landmarker=data.get("landmarker"),
        )
