"""Mouth-region artefact evidence: was the mouth region of a face generated or pasted?

Lip-sync generators are trained against a sync expert, so timing cues rank their output as in sync;
what they leave is a re-rendered lower face blended into a real frame. :class:`ArtefactScorer` runs
:class:`ArtefactNet` on aligned face crops of a face track and gives a per-window probability and
a clip score; :func:`with_still` adds the evidence that the face was animated from one still image (its
surroundings stay bit-identical while it moves). See ``docs/artefacts.md``.
"""

from avsync.artefacts.crops import ArtefactCrops, artefact_crops, artefact_geometry
from avsync.artefacts.model import ArtefactNet
from avsync.artefacts.scorer import DEFAULT_ARTEFACT_MODEL, ArtefactResult, ArtefactScorer, ArtefactWindow, with_still
from avsync.artefacts.still import StillEvidence, still_evidence

__all__ = [
    "DEFAULT_ARTEFACT_MODEL",
    "ArtefactCrops",
    "ArtefactNet",
    "ArtefactResult",
    "ArtefactScorer",
    "ArtefactWindow",
    "StillEvidence",
    "artefact_crops",
    "artefact_geometry",
    "still_evidence",
    "with_still",
]
