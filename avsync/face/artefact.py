"""Aligned face crops for mouth-region artefact analysis, the part the face tracker cuts in its own pass.

The artefact model (:mod:`avsync.artefacts`) looks at the *whole lower face in context*: the crop covers eyes
to chin and a little background, centred between the eyes and the mouth, rotated so the eye line is horizontal,
RGB (see :mod:`avsync.artefacts.crops`). The tracker cuts these crops while it still holds the frames
(``Tracker(...)(media, artefact=ArtefactCropSpec(...))`` → ``FaceTrack.artefact_crops``), so the artefact
scorer needs no second decoding pass; :func:`avsync.artefacts.artefact_crops` cuts the very same crops in a
second pass when a track has none.

This module holds what both need (the crop description, the geometry and the cut); it sits in ``face`` because
the artefact package imports the face package, never the other way round.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from avsync.face.crops import mouth_crop

__all__ = ["ArtefactCropSpec", "ArtefactCrops", "artefact_geometry", "artefact_step", "cut_artefact_crop"]


@dataclass(frozen=True)
class ArtefactCropSpec:
    """Which artefact crops the tracker cuts for every track (what :attr:`ArtefactScorer.crop_spec` asks for).

    Attributes
    ----------
    size
        Crop side in pixels.
    sample_fps
        Crops per second: every ``round(fps / sample_fps)``-th usable frame of a track.
    pairs
        Also cut the next frame of every selected frame (only frames whose next frame is valid are selected)
        and stack the two crops along the channels.
    work_size
        Longest side of the RGB frames the crops are cut from.
    """

    size: int = 128
    sample_fps: float = 5.0
    pairs: bool = False
    work_size: int = 1280


def artefact_step(fps: float, sample_fps: float) -> int:
    """Frame step of ``sample_fps`` crops per second at ``fps``."""
    return max(1, round(fps / sample_fps))


@dataclass(frozen=True, eq=False)
class ArtefactCrops:
    """Aligned RGB face crops of one track.

    Attributes
    ----------
    images
        ``uint8 [M, S, S, 3]`` crops, or ``uint8 [M, S, S, 6]`` with ``pairs=True``: each crop followed (along the
        channels) by the crop of the next frame, cut with that frame's own geometry.
    frames
        ``int64 [M]`` analysis frame indices (frame ``k`` is shown at ``k / fps`` s).
    fps
        Analysis frame rate.
    face_px
        ``float32 [M]`` face-box width in displayed-frame pixels (small faces carry little detail).
    spec
        The :class:`ArtefactCropSpec` they were cut with, when the tracker cut them (else ``None``).
    """

    images: np.ndarray
    frames: np.ndarray
    fps: float
    face_px: np.ndarray
    spec: ArtefactCropSpec | None = None

    def __len__(self) -> int:
        return int(self.frames.shape[0])

    @property
    def times(self) -> np.ndarray:
        """``float64 [M]`` presentation time of each crop in seconds."""
        return self.frames / float(self.fps)


def artefact_geometry(
    boxes: np.ndarray, points: np.ndarray, *, scale: float = 1.25, centre_at: float = 0.6
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Centre ``[N, 2]``, side ``[N]`` and roll ``[N]`` (radians) of artefact crops.

    Parameters
    ----------
    boxes
        ``[N, 4]`` face boxes ``x1, y1, x2, y2`` (pixels).
    points
        ``[N, 5, 2]`` five points (eyes, nose, mouth corners).
    scale
        Crop side as a fraction of the face-box width.
    centre_at
        Position of the centre between the eyes' midpoint (0) and the mouth corners' midpoint (1).
    """
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
    points = np.asarray(points, np.float32).reshape(-1, 5, 2)
    eyes = (points[:, 0] + points[:, 1]) / 2
    mouth = (points[:, 3] + points[:, 4]) / 2
    centre = eyes + centre_at * (mouth - eyes)
    side = scale * (boxes[:, 2] - boxes[:, 0])
    eye = points[:, 1] - points[:, 0]
    angle = np.arctan2(eye[:, 1], eye[:, 0])
    return centre.astype(np.float32), side.astype(np.float32), angle.astype(np.float32)


def cut_artefact_crop(img: np.ndarray, centre: np.ndarray, side: np.floating, angle: np.floating, sx: float,
                      sy: float, size: int) -> np.ndarray:
    """One RGB artefact crop of a work frame ``img`` scaled ``sx, sy`` from the displayed frame (geometry of
    :func:`artefact_geometry`, in displayed-frame pixels)."""
    c = centre * np.array([sx, sy], np.float32)
    return mouth_crop(img, c, float(side * sx), float(angle), size=size, color="rgb")
