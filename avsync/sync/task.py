"""``avsync eval --task sync`` / ``avsync batch --task sync``: the sync analysis with the cue of :mod:`avsync.pipeline`.

A module of its own so that :mod:`avsync.sync` does not import the pipeline (which imports it).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from avsync.sync.analyze import analyze_sync, tracks_from_faces

if TYPE_CHECKING:
    from avsync.sync.models import ModelName


def eval_task(model: ModelName | None = None, device: str | None = None) -> Callable[[str], dict]:
    """Scorer for ``avsync eval --task sync`` / ``avsync batch --task sync``: face tracks, offset search, and the
    sync cue of :mod:`avsync.pipeline` as ``score`` (probability that audio and video do not belong together)."""
    from avsync.fusion import FusionConfig
    from avsync.media import load_media
    from avsync.pipeline import DEFAULT_FUSION_CONFIG, sync_cue, sync_cue_params
    from avsync.results import Status
    from avsync.sync.models import DEFAULT_SYNC_MODEL

    model = model or DEFAULT_SYNC_MODEL
    # the sync verdict uses analyze's cue parameters and thresholds: at or above "manipulated" -> out_of_sync
    fusion = FusionConfig.load(DEFAULT_FUSION_CONFIG) if DEFAULT_FUSION_CONFIG.exists() else FusionConfig()
    params = sync_cue_params(model, fusion)

    def score(path: str) -> dict:
        from avsync.face import track
        from avsync.face.orientation import turned_faces, turned_words
        from avsync.model_files import sync_crops

        media = load_media(path, require="both")
        turn = turned_faces(media)
        if turn:  # turned faces read as out of sync: not judged, as in avsync analyze and avsync sync
            return {"status": Status.SKIPPED.value, "score": None, "label": None, "message": turned_words(turn)}
        faces = track(media, crops=sync_crops(model))
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
