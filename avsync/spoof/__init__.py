"""Voice anti-spoofing: networks compatible with public checkpoints and the whole-file scorer.

Polarity everywhere: ``score`` = probability that the speech is synthetic (0..1).
"""

from __future__ import annotations

from collections.abc import Callable

from avsync.device import Precision
from avsync.errors import ConfigError
from avsync.spoof.models import DEFAULT_MODEL, SPOOF_MODELS, SpoofModel, load_spoof_model
from avsync.spoof.scorer import (
    BACKGROUND_NOTE_DB,
    Aggregation,
    ChannelSpoof,
    SpoofResult,
    SpoofScorer,
    SpoofWindow,
    background_db,
    score_spoof,
    window_starts,
    write_timeline,
)

__all__ = [
    "DEFAULT_MODEL",
    "SPOOF_MODELS",
    "SpoofModel",
    "load_spoof_model",
    "SpoofScorer",
    "SpoofResult",
    "SpoofWindow",
    "ChannelSpoof",
    "BACKGROUND_NOTE_DB",
    "background_db",
    "score_spoof",
    "window_starts",
    "write_timeline",
]


def eval_task(model: str | None = None, device: str | None = None, precision: Precision = "float32", *,
              vad: bool = True, min_duration_s: float = 1.0, aggregation: Aggregation = "mean"):
    """Scorer for ``avsync eval --task spoof`` / ``avsync batch --task spoof``: one scorer, many files.

    ``vad``, ``min_duration_s`` and ``aggregation`` are those of :class:`SpoofScorer` (``avsync eval
    --option vad=false --option min_duration_s=0`` scores every window of every file, as the voice model
    card's benchmark does).
    """
    scorer = SpoofScorer(model or DEFAULT_MODEL, device=device or "auto", precision=precision, vad=vad,
                         min_duration_s=min_duration_s, aggregation=aggregation)
    if scorer.model_error is not None:  # reported once, before any file: not one model_error line per file of a batch
        e = scorer.model_error
        raise ConfigError(f"voice model {scorer.model_name!r} unavailable: {e}")  # its text holds its hint

    def score(path: str, progress: Callable[[float, float], None] | None = None) -> dict:
        r = scorer(path, progress=progress)
        d = r.to_dict()
        d.pop("schema_version", None)
        d["status"] = str(r.status)
        # the spoof verdict, named like analyze's labels: flagged -> synthetic; no score -> undetermined
        d["label"] = None if r.status.is_failure else (
            "undetermined" if r.flagged is None else ("synthetic" if r.flagged else "genuine"))
        return d

    return score
