"""Audio-visual sync: offset, confidence and a per-window mismatch timeline, per face.

Sign convention: a **positive offset means audio leads video** (see :mod:`avsync.timebase`).
Entry points: :func:`analyze_sync` (a :class:`~avsync.media.Media` and its face tracks) and
:func:`sync_tracks` (arrays: audio + :class:`TrackCrops`).
"""

from avsync.sync.analyze import (
    DEFAULT_WINDOW,
    OFFSET_BIAS_FRAMES,
    analyze_sync,
    analyze_track,
    default_tracks,
    lag_curve,
    speech_columns,
    speech_frames,
    sync_tracks,
    tracks_from_faces,
)
from avsync.sync.crops import crop_resize, fixed_box_track
from avsync.sync.models import LightASDScorer, MotionScorer, SyncNetScorer, make_scorer
from avsync.sync.types import FaceSync, SyncResult, TrackCrops, WindowSync

__all__ = [
    "DEFAULT_WINDOW",
    "OFFSET_BIAS_FRAMES",
    "FaceSync",
    "LightASDScorer",
    "MotionScorer",
    "SyncNetScorer",
    "SyncResult",
    "TrackCrops",
    "WindowSync",
    "analyze_sync",
    "analyze_track",
    "crop_resize",
    "default_tracks",
    "tracks_from_faces",
    "fixed_box_track",
    "lag_curve",
    "make_scorer",
    "speech_columns",
    "speech_frames",
    "sync_tracks",
]
