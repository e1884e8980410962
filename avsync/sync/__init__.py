"""Audio-visual sync: offset, confidence and a per-window mismatch timeline, per face.

Sign convention: a **positive offset means audio leads video** (see :mod:`avsync.timebase`).
Entry points: :func:`analyze_sync` (a :class:`~avsync.media.Media` and its face tracks) and
:func:`sync_tracks` (arrays: audio + :class:`TrackCrops`).
"""

from avsync.sync.analyze import (
    DEFAULT_WINDOW,
    analyze_sync,
    analyze_track,
    default_tracks,
    tracks_from_faces,
    lag_curve,
    speech_frames,
    sync_tracks,
)
from avsync.sync.crops import crop_resize, fixed_box_track
from avsync.sync.models import LightASDScorer, MotionScorer, SyncNetScorer, make_scorer
from avsync.sync.types import FaceSync, SyncResult, TrackCrops, WindowSync

__all__ = [
    "DEFAULT_WINDOW",
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
    "speech_frames",
    "sync_tracks",
]


def eval_task(model: str | None = None, device: str | None = None):
    """Scorer for ``avsync eval --task sync`` / ``avsync batch --task sync``: face tracks, offset search, and the
    sync cue of :mod:`avsync.pipeline` as ``score`` (probability that audio and video do not belong together)."""
    from avsync.fusion import FusionConfig
    from avsync.media import load_media
    from avsync.pipeline import DEFAULT_FUSION_CONFIG, SyncCueParams, sync_cue
    from avsync.results import Status
    from avsync.sync.models import DEFAULT_SYNC_MODEL

    model = model or DEFAULT_SYNC_MODEL
    params = SyncCueParams.for_model(model)
    # the sync verdict uses analyze's thresholds on the cue: at or above "manipulated" -> out_of_sync
    fusion = FusionConfig.load(DEFAULT_FUSION_CONFIG) if DEFAULT_FUSION_CONFIG.exists() else FusionConfig()

    def score(path: str) -> dict:
        from avsync.face import track

        media = load_media(path, require="both")
        faces = track(media, crops=("mouth", "face"))
        res = analyze_sync(media, tracks_from_faces(faces), model=model, device=device or "auto")
        cue = sync_cue(res, duration=media.duration, face_fraction=faces.face_fraction, params=params)
        d = res.to_dict()
        d.pop("schema_version", None)
        d["status"] = str(res.status) if cue.status is not Status.OK else "ok"
        d["score"] = cue.score
        d["label"] = None if cue.score is None else (
            "out_of_sync" if cue.score >= fusion.manipulated_threshold
            else "in_sync" if cue.score < fusion.genuine_threshold else "undetermined")
        return d

    return score
