"""Mouth-region artefact evidence: was the mouth region of a face generated or pasted?

Lip-sync generators are trained against a sync expert, so timing cues rank their output as in sync;
what they leave is a re-rendered lower face blended into a real frame. :class:`ArtefactScorer` runs
:class:`ArtefactNet` on aligned face crops of a face track and gives a per-window probability and
a clip score. See ``docs/artefacts.md``.
"""

from avsync.artefacts.crops import ArtefactCrops, artefact_crops, artefact_geometry
from avsync.artefacts.model import ArtefactNet
from avsync.artefacts.scorer import DEFAULT_ARTEFACT_MODEL, ArtefactResult, ArtefactScorer, ArtefactWindow

__all__ = [
    "DEFAULT_ARTEFACT_MODEL",
    "ArtefactCrops",
    "ArtefactNet",
    "ArtefactResult",
    "ArtefactScorer",
    "ArtefactWindow",
    "artefact_crops",
    "artefact_geometry",
]
