"""Draw face tracks on the video: boxes, track ids, mouth boxes (for checking a tracking run)."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np

from avsync._optional import OPENCV_INSTALL, require
from avsync.face.types import FaceTracks
from avsync.media import Media

__all__ = ["write_preview"]

_COLORS = [(0, 255, 0), (255, 128, 0), (0, 160, 255), (255, 0, 255), (255, 255, 0), (0, 255, 255)]


def write_preview(media: Media, faces: FaceTracks, path: str | Path, *, max_side: int = 720) -> Path:
    """Write an H.264 MP4 of the analysis frames with every track drawn on it.

    Valid frames get a solid face box, the track id and the mouth-crop box; frames where a track
    is held through a gap get a thin box. Audio is not copied.

    Parameters
    ----------
    media
        The media the tracks were computed on.
    faces
        Result of :func:`avsync.face.track`.
    path
        Output ``.mp4`` path.
    max_side
        The preview is downscaled so its longest side is at most this (pixels).
    """
    cv2 = require("cv2", "preview writer", OPENCV_INSTALL)
    w, h = faces.frame_size
    s = min(1.0, max_side / max(w, h))
    pw, ph = max(2, int(round(w * s / 2)) * 2), max(2, int(round(h * s / 2)) * 2)
    sx, sy = pw / w, ph / h
    path = Path(path)
    mouth = {t.track_id: t.mouth_boxes() for t in faces.tracks}
    path.parent.mkdir(parents=True, exist_ok=True)  # as every other writer of avsync
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=int(round(faces.fps)))
        stream.width, stream.height, stream.pix_fmt = pw, ph, "yuv420p"
        stream.options = {"preset": "veryfast", "crf": "26"}
        for chunk in media.frames(size=(pw, ph)):
            for img, f in zip(chunk.images, chunk.indices):
                img = np.ascontiguousarray(img)
                for t in faces.tracks:
                    i = t.at(int(f))
                    if i is None:
                        continue
                    col = _COLORS[t.track_id % len(_COLORS)]
                    x1, y1, x2, y2 = (t.boxes[i] * [sx, sy, sx, sy]).astype(int)
                    thick = 2 if t.valid[i] else 1
                    cv2.rectangle(img, (x1, y1), (x2, y2), col, thick)
                    cv2.putText(img, f"#{t.track_id}", (x1, max(12, y1 - 4)), cv2.FONT_HERSHEY_SIMPLEX, 0.5, col, 1)
                    if t.valid[i]:
                        m1x, m1y, m2x, m2y = (mouth[t.track_id][i] * [sx, sy, sx, sy]).astype(int)
                        cv2.rectangle(img, (m1x, m1y), (m2x, m2y), (255, 0, 0), 1)
                        for p in t.points[i] * [sx, sy]:
                            cv2.circle(img, (int(p[0]), int(p[1])), 2, col, -1)
                frame = av.VideoFrame.from_ndarray(img, format="rgb24")
                for packet in stream.encode(frame):
                    out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path
