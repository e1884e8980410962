"""Face tracks of a media file, computed once and cached as ``.npz`` (training and benchmarks).

Face tracking is the expensive step of training and evaluating sync models on hundreds of clips;
:func:`cached_tracks` runs :func:`avsync.face.track` once per file and stores the :class:`TrackCrops`
(with their mouth and face crops) and the face fraction in ``cache_file``. The crops are derived from
the media, so keep the cache outside a repository when the media may not be redistributed.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from avsync.sync.types import TrackCrops

if TYPE_CHECKING:
    from avsync.face.tracking import CropName
    from avsync.media import Media

__all__ = ["cached_tracks", "load_tracks", "save_tracks"]


def save_tracks(path: str | os.PathLike, tracks: Sequence[TrackCrops], face_fraction: float) -> None:
    """Write ``tracks`` and ``face_fraction`` to ``path`` (npz; parent folders are created)."""
    arrs: dict = {"n": len(tracks), "face_fraction": face_fraction}
    for i, t in enumerate(tracks):
        arrs.update({f"id{i}": t.track_id, f"frames{i}": t.frames, f"valid{i}": t.valid, f"fps{i}": t.fps})
        arrs.update({f"{k}{i}": getattr(t, k) for k in ("mouth", "face") if getattr(t, k) is not None})
    os.makedirs(os.path.dirname(os.path.abspath(os.fspath(path))), exist_ok=True)
    tmp = os.fspath(path) + ".tmp.npz"
    np.savez(tmp, **arrs)
    os.replace(tmp, os.fspath(path))


def load_tracks(path: str | os.PathLike) -> tuple[list[TrackCrops], float]:
    """``(tracks, face_fraction)`` written by :func:`save_tracks`."""
    z = np.load(os.fspath(path), allow_pickle=False)

    def arr(key: str) -> np.ndarray | None:
        return z[key] if key in z.files else None

    n = int(z["n"])
    tracks = [TrackCrops(int(z[f"id{i}"]), z[f"frames{i}"], z[f"valid{i}"], arr(f"mouth{i}"), arr(f"face{i}"),
                         float(z[f"fps{i}"])) for i in range(n)]
    return tracks, float(z["face_fraction"])


def cached_tracks(
    media: Media, cache_file: str | os.PathLike | None, *, crops: Sequence[CropName] = ("mouth", "face")
) -> tuple[list[TrackCrops], float]:
    """``(tracks, face_fraction)`` of ``media``: read from ``cache_file`` when it exists, else tracked and written.

    ``cache_file=None``: no cache (always tracks).
    """
    if cache_file is not None and os.path.exists(cache_file):
        return load_tracks(cache_file)
    from avsync.face import track
    from avsync.sync.analyze import tracks_from_faces

    faces = track(media, crops=tuple(crops))
    tracks = tracks_from_faces(faces)
    if cache_file is not None:
        save_tracks(cache_file, tracks, float(faces.face_fraction))
    return tracks, float(faces.face_fraction)
