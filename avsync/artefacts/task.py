"""``avsync eval --task artefacts``: the artefact check of ``avsync artefacts``, one clip probability per video.

The scorer tracks the faces of a video, picks the dominant usable track (:meth:`ArtefactScorer.main_track`) and
returns :class:`~avsync.artefacts.ArtefactResult` as a record: ``score`` is the clip probability that the mouth
region (face, for ``artefact-face``) was generated or pasted; ``status`` is the result's (``no_face``,
``no_video``, a decode error's) and ``score`` is ``None`` when it is not ``ok``. Per-window probabilities are kept
under ``windows``. The frozen-surroundings evidence is part of it, as in ``avsync artefacts`` and ``avsync analyze``;
``--option still=false`` scores the model alone, which is what ``benchmarks/eval_artefacts.py`` scores per clip
(condition ``original``).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from avsync.artefacts.scorer import DEFAULT_ARTEFACT_MODEL


def eval_task(model: str | None = None, device: str | None = None, still: bool = True
              ) -> Callable[[str], dict[str, Any]]:
    """Scorer ``path -> record`` of ``avsync eval --task artefacts``.

    Parameters
    ----------
    model
        A bundle name (``artefact-mouth``, the default, or ``artefact-face``), or a ``.safetensors`` checkpoint
        (e.g. one written by ``avsync train artefacts``) scored as ``benchmarks/eval_artefacts.py --model`` does.
    device
        ``"cpu"``, ``"cuda"`` or ``None`` (automatic).
    still
        Add the frozen-surroundings evidence (:func:`avsync.artefacts.with_still`); ``False``: the model alone.
    """
    from avsync.artefacts.scorer import ArtefactScorer
    from avsync.errors import AvsyncError
    from avsync.media import load_media
    from avsync.results import Status

    name = model or DEFAULT_ARTEFACT_MODEL
    if Path(name).suffix == ".safetensors":
        scorer = ArtefactScorer(weights=name, device=device or "auto")
    else:
        scorer = ArtefactScorer(name, device=device or "auto")

    def score(path: str) -> dict[str, Any]:
        try:
            media = load_media(path)
        except AvsyncError as e:
            return {"status": e.status.value, "score": None, "message": str(e)}
        res = scorer(media, still=still)
        d = res.to_dict()
        d.pop("schema_version", None)
        d["status"] = res.status.value
        d["score"] = res.score if res.status is Status.OK else None
        return d

    return score
