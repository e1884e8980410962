"""Is the picture upright? Faces shown on their side or upside down (a wrong rotation flag, a camera held sideways
whose flag was lost) are read by the lip-sync and mouth-region models as faces they were never trained on.

:func:`picture_turn` looks at a few frames of the first seconds: the face detector is surest of a face that is
upright (its best score on the frame as shown against the frame turned by 90°, 180° and 270°; on upright real clips
the frame as shown scored 0.91 or more in 99 % of frames and a turned copy at most 0.91, docs/faces.md
"Orientation"), so a frame whose turned copy holds a clearly surer face votes for that turn.
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from avsync.face.detectors.base import DetectorName, FaceDetector
from avsync.media import Media

__all__ = ["SAMPLE_S", "TURN_MARGIN", "UPRIGHT_SURE", "picture_turn", "turned_faces", "turned_words"]

TURN_MARGIN = 0.025
"""How much surer the detector must be of the face in a turned copy of a frame than in the frame as shown for that
frame to vote for the turn: 3 points of YuNet's confidence in percent. A face shown upside down scores only about 4
points under its upright copy (0.90 against 0.94 on a 720p interview), which 0.05 missed; no upright video of
``../shared`` reads turned at 0.02 (docs/faces.md, "Orientation")."""

SAMPLE_S = 2.0
"""The frames looked at are spread over the first this many seconds of the video. 2 s rather than the 5 s of the first
version: on every video of ``../shared`` and turned copies of every sixth real one the same readings (508 upright, 234
of 234 turned copies found), in less decoding (docs/faces.md, "Orientation")."""

UPRIGHT_SURE = 0.92
"""A frame whose face as shown scores at least this votes upright without its turned copies being tried (cost: one
detection instead of four). On 381 frames of 127 clips of ``../shared`` the faces as shown scored 0.91 or more in
99 % of frames, their turned copies never more than 0.91."""


def picture_turn(media: Media, detector: FaceDetector, *, frames: int = 3, max_side: int = 480) -> int | None:
    """Clockwise turn in degrees (90, 180 or 270) that shows the faces of ``media`` upright, 0 when they already
    are, ``None`` when too few of the sampled frames hold a face to tell.

    ``frames`` frames are sampled evenly over the first :data:`SAMPLE_S` seconds (10 % to 90 % of them), each at most
    ``max_side`` pixels on its long side; the turn is the one a majority of them vote for (:data:`TURN_MARGIN`), else
    0.
    """
    v = media.info.video
    n = media.num_frames
    if v is None or n == 0:
        return None
    scale = min(1.0, max_side / max(v.width, v.height, 1))
    size = (max(1, round(v.width * scale)), max(1, round(v.height * scale)))
    if v.rotation in (90, 270):
        size = size[::-1]
    # from the first seconds only: a rotation flag holds for the whole file, and frames further in cost the decoding
    # of everything before them (a minute of 720p: about 4 s)
    span = min(n, max(1, int(round(SAMPLE_S * media.fps))))
    picks = sorted({int(round(q * (span - 1))) for q in np.linspace(0.1, 0.9, frames)})
    votes: Counter[int] = Counter()
    seen = 0
    for chunk in media.frames(chunk_size=len(picks), size=size, only=picks, end=(picks[-1] + 1) / media.fps):
        for img in chunk.images:
            best = {}
            for k in range(4):  # np.rot90 turns counter-clockwise: k quarter turns back is 90 * k clockwise
                d = detector.detect(np.ascontiguousarray(np.rot90(img, k=-k)))
                best[90 * k] = float(d.scores.max()) if len(d.scores) else 0.0
                if k == 0 and best[0] >= UPRIGHT_SURE:
                    break
            if max(best.values()) <= 0.0:
                continue
            seen += 1
            turn = max(best, key=lambda r: best[r])
            if turn and best[turn] >= best[0] + TURN_MARGIN:
                votes[turn] += 1
    if seen < max(2, (len(picks) + 1) // 2):
        return None
    if votes:
        turn, count = votes.most_common(1)[0]
        if count > seen / 2:
            return turn
    return 0


def turned_words(turn: int) -> str:
    """Why faces shown turned by ``turn`` degrees are not judged, in words for a verdict or a command's output."""
    return (f"the picture shows the faces turned by {turn}° (its rotation flag may be wrong), and turned faces are "
            "not judged; turn the video upright and analyse it again")


def turned_faces(media: Media, detector: DetectorName | FaceDetector = "auto") -> int | None:
    """The clockwise turn (90, 180 or 270) of :func:`picture_turn` with a detector of its own (``detector``: a name
    of :func:`avsync.face.get_detector`, or a detector), or ``None`` when the faces are upright or too few frames hold one to tell:
    what a lip-sync or mouth-region check that tracks the faces itself asks before it reads them."""
    from avsync.face import get_detector

    turn = picture_turn(media, get_detector(detector))
    return turn or None
