"""Voice anti-spoofing: networks compatible with public checkpoints and the whole-file scorer.

Polarity everywhere: ``score`` = probability that the speech is synthetic (0..1).
"""

from __future__ import annotations

from collections.abc import Callable

from avsync.device import Precision
from avsync.spoof.models import DEFAULT_MODEL, SPOOF_MODELS, SpoofModel, load_spoof_model
from avsync.spoof.scorer import (
    ChannelSpoof,
    SpoofResult,
    SpoofScorer,
    SpoofWindow,
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
    "score_spoof",
    "window_starts",
    "write_timeline",
]


def eval_task(model: str | None = None, device: str | None = None, precision: Precision = "float32"):
    """Scorer for ``avsync eval --task spoof`` / ``avsync batch --task spoof``: one scorer, many files."""
    scorer = SpoofScorer(model or DEFAULT_MODEL, device=device or "auto", precision=precision)

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
