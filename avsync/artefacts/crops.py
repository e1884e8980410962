"""Aligned face crops for mouth-region artefact analysis.

The artefact model looks at the *whole lower face in context*: lip-sync generators (Wav2Lip,
HyperLips, DINet, ...) re-render a region around the mouth and paste it back, so the evidence is a
mismatch between the mouth region and the rest of the face (sharpness, colour, blending seams,
texture flicker). The crop therefore covers eyes to chin and a little background:

* centre on the line from the eyes' midpoint to the mouth corners' midpoint, ``centre_at`` (0.6) of
  the way down;
* side = ``scale`` (1.25) × face-box width;
* rotated so that the eye line is horizontal (same warp as :func:`avsync.face.mouth_crop`);
* RGB, ``size`` × ``size`` (128).

In ``avsync analyze`` the face tracker cuts these crops in its own decoding pass (``track(..., context=spec)``,
:meth:`ArtefactScorer.context_spec`): a gray pass converts only the sampled frames' face regions to RGB, and the
crops are the same pixels as those of :func:`artefact_crops`. :func:`artefact_crops` itself decodes the frames once
more (a second pass after tracking: frame pairs, or tracks without context crops) at a work size whose longest side
is ``work_size`` pixels, so 4K input costs no more memory than 720p.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from avsync.face.crops import mouth_crop
from avsync.face.geometry import context_geometry, work_frame_size
from avsync.face.types import FaceTrack
from avsync.media import Media

__all__ = ["ArtefactCrops", "artefact_crops", "artefact_geometry"]

artefact_geometry = context_geometry  # the crop geometry, defined with the tracker that can cut these crops too


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
    """

    images: np.ndarray
    frames: np.ndarray
    fps: float
    face_px: np.ndarray

    def __len__(self) -> int:
        return int(self.frames.shape[0])

    @property
    def times(self) -> np.ndarray:
        """``float64 [M]`` presentation time of each crop in seconds."""
        return self.frames / float(self.fps)


def artefact_crops(
    media: Media,
    track: FaceTrack,
    *,
    size: int = 128,
    step: int = 1,
    max_crops: int | None = None,
    work_size: int = 1280,
    chunk_size: int = 32,
    pairs: bool = False,
) -> ArtefactCrops:
    """Cut aligned RGB face crops of one face track (valid frames only).

    Parameters
    ----------
    media
        The :class:`~avsync.media.Media` the track was found in.
    track
        A :class:`~avsync.face.FaceTrack` (boxes and points in displayed-frame pixels).
    size
        Crop side in pixels.
    step
        Use every ``step``-th valid frame.
    max_crops
        At most this many crops, spread evenly over the track (``step`` is raised to fit).
    work_size
        Longest side of the decoded frames the crops are cut from.
    chunk_size
        Frames decoded at once.
    pairs
        Also cut the next frame of every selected frame (only frames whose next frame is a valid track frame are
        selected) and stack the two crops along the channels.

    Returns
    -------
    ArtefactCrops
        Possibly empty (no valid frame).
    """
    vi = media.info.video
    valid = np.asarray(track.valid, bool)
    ok = valid.copy()
    if pairs:  # the next track entry must be the next frame, and valid
        nxt = np.zeros_like(valid)
        nxt[:-1] = valid[1:] & (np.diff(np.asarray(track.frames)) == 1)
        ok &= nxt
    sel = np.flatnonzero(ok)[:: max(1, int(step))]
    if max_crops is not None and sel.size > max_crops:
        sel = sel[np.linspace(0, sel.size - 1, max_crops).round().astype(int)]
    empty = ArtefactCrops(np.zeros((0, size, size, 6 if pairs else 3), np.uint8), np.zeros(0, np.int64), track.fps,
                          np.zeros(0, np.float32))
    if sel.size == 0 or vi is None:
        return empty
    first = sel
    if pairs:
        sel = np.unique(np.r_[sel, sel + 1])
    width, height = vi.width, vi.height
    ww, wh = work_frame_size(width, height, work_size)
    sx, sy = ww / width, wh / height
    wanted = {int(track.frames[i]): i for i in sel}
    centre, side, angle = context_geometry(track.boxes[sel], track.points[sel])
    geo = {int(track.frames[i]): j for j, i in enumerate(sel)}
    f0, f1 = int(track.frames[sel[0]]), int(track.frames[sel[-1]])
    out, frames = [], []
    for chunk in media.frames(chunk_size=chunk_size, size=(ww, wh), start=f0 / track.fps, end=(f1 + 1) / track.fps,
                              only=wanted.keys()):
        for img, k in zip(chunk.images, chunk.indices):
            k = int(k)
            if k not in wanted:
                continue
            j = geo[k]
            c = centre[j] * np.array([sx, sy], np.float32)
            out.append(mouth_crop(img, c, float(side[j] * sx), float(angle[j]), size=size, color="rgb"))
            frames.append(k)
    if not out:
        return empty
    fr = np.asarray(frames, np.int64)
    imgs = np.stack(out)
    if pairs:
        pos = {k: j for j, k in enumerate(frames)}
        keep = [int(track.frames[i]) for i in first if int(track.frames[i]) in pos and int(track.frames[i]) + 1 in pos]
        if not keep:
            return empty
        imgs = np.concatenate([imgs[[pos[k] for k in keep]], imgs[[pos[k + 1] for k in keep]]], axis=3)
        fr = np.asarray(keep, np.int64)
    bw = (track.boxes[:, 2] - track.boxes[:, 0])[[wanted[int(k)] for k in fr]]
    return ArtefactCrops(imgs, fr, track.fps, bw.astype(np.float32))
