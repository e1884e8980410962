"""Evidence that a talking face was animated from one still image: its surroundings never change.

Portrait animators (SadTalker's ``still`` and ``full`` modes, EDTalk-style pasting) and lip-sync generators run on
a photo move the face and leave the rest of the picture as it was: every pixel around the face is bit-identical
from one frame to the next, while the face changes. A camera does not do that: sensor noise, light, breathing and
the speaker's shoulders change the pixels around a face in nearly every frame, even behind a compressed, static
shot. The face tracker records, for every frame of a track, the share of a band around the face (about two face
widths either side and down to the shoulders, the head left out) that is unchanged since the previous frame
(:attr:`avsync.face.FaceTrack.surround_still`).

Here a frame counts as **frozen** when at least :data:`FROZEN_SAME` of that band is unchanged; a clip (or window)
reads as animated from a still when a large share of its measurable frames is frozen. The share maps to a
probability with a logistic whose midpoint and scale were fixed on the calibration split of the fusion recipe
(docs/artefacts.md, "Frozen surroundings"). The evidence is one-sided: surroundings that move say nothing about the
face, so it can only raise the mouth-region scores (:func:`avsync.artefacts.with_still`), never lower them.

**The face must move.** Heavy compression freezes the surroundings of real faces too: at H.264 CRF 35 the encoder
copies static blocks unchanged, and the ungated measure put 3 of 24 held-out real clips (41 of 64 calibration ones)
at p >= 0.5. Such an encoder copies most of the face as well, so a frame counts as frozen only while at most
:data:`FACE_MOVES_MAX` of its inner face box is unchanged (:attr:`avsync.face.FaceTrack.face_still`). Gated so, no
real clip of either split reaches p >= 0.5 in the original, at CRF 23 or 35, at 360p or after two generations of
social-media transcoding, and the evidence is part of ``avsync analyze``'s mouth-region cue
(:class:`avsync.pipeline.Detector` ``still``; ``ArtefactScorer(...)(media, still=False)`` leaves it out).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from avsync.face.types import FaceTrack
from avsync.results import Serializable

__all__ = ["FACE_MOVES_MAX", "FROZEN_SAME", "STILL_MID", "STILL_SCALE", "StillEvidence", "frozen_frames", "still_evidence",
           "still_probability"]

#: a frame is frozen when at least this share of its face's surroundings is bit-identical to the previous frame
FROZEN_SAME = 0.98
#: ... and at most this share of its inner face box is (the face moves: an encoder copying a static shot's blocks
#: unchanged copies most of the face too); chosen on the calibration split (docs/artefacts.md)
FACE_MOVES_MAX = 0.55
#: share of frozen frames at which the evidence is neutral (p = 0.5), and the logistic scale of that share
STILL_MID = 0.45
STILL_SCALE = 0.05
#: measurable frames a clip or window needs (about a second at 25 fps; a window's frames are counted on their own)
MIN_FRAMES = 25


def still_probability(share: float) -> float:
    """Probability that a clip was animated from a still image, from its share of frozen frames."""
    return 1.0 / (1.0 + math.exp(-(share - STILL_MID) / STILL_SCALE))


@dataclass(frozen=True)
class StillEvidence(Serializable):
    """How often a face's surroundings stayed frozen while it moved.

    Attributes
    ----------
    track_id
        The face track measured.
    frames
        Frames whose surroundings could be measured (not the first, not a repeated frame, the face not filling
        the picture).
    frozen
        Those of them whose surroundings were unchanged (at least :data:`FROZEN_SAME`).
    share
        ``frozen / frames`` (``None`` with fewer than :data:`MIN_FRAMES` measurable frames).
    p
        :func:`still_probability` of the share (``None`` when the share is).
    window_p
        The same per window of the mouth-region result it was added to (``None`` where a window has too few
        measurable frames).
    """

    track_id: int | None
    frames: int
    frozen: int
    share: float | None
    p: float | None
    window_p: tuple[float | None, ...] = ()


def frozen_frames(surround: np.ndarray, face: np.ndarray, face_max: float = FACE_MOVES_MAX) -> np.ndarray:
    """Which frames are frozen, from their shares of unchanged surroundings and inner face (NaN: not measured, so not
    frozen): the surroundings at least :data:`FROZEN_SAME`, the face at most ``face_max``."""
    return (np.nan_to_num(surround, nan=0.0) >= FROZEN_SAME) & (np.nan_to_num(face, nan=1.0) <= face_max)


def _frozen(track: FaceTrack) -> tuple[np.ndarray, np.ndarray]:
    """``(measurable, frozen)`` boolean arrays over the track's frames (valid frames only). A frame is frozen when its
    surroundings are (:data:`FROZEN_SAME`) while its face is not (:data:`FACE_MOVES_MAX`); a track without
    ``face_still`` has no frozen frame (whether its face moved cannot be told)."""
    s, f = track.surround_still, track.face_still
    if s is None:
        z = np.zeros(len(track), bool)
        return z, z
    measurable = np.isfinite(s) & track.valid
    if f is None:
        return measurable, np.zeros(len(track), bool)
    return measurable, measurable & frozen_frames(s, f)


def still_evidence(track: FaceTrack, windows: Sequence[tuple[float, float]] = ()) -> StillEvidence:
    """The frozen-surroundings evidence of ``track``, for the whole track and for each ``(start, end)`` window (s)."""
    measurable, frozen = _frozen(track)
    n, k = int(measurable.sum()), int(frozen.sum())
    share = k / n if n >= MIN_FRAMES else None
    times = track.frames / track.fps
    wp: list[float | None] = []
    for a, b in windows:
        sel = (times >= a) & (times < b) & measurable
        m = int(sel.sum())
        wp.append(still_probability(float(frozen[sel].sum()) / m) if m >= MIN_FRAMES else None)
    return StillEvidence(track.track_id, n, k, None if share is None else round(share, 4),
                         None if share is None else still_probability(share), tuple(wp))
