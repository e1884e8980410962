"""How a sync result becomes evidence: the sync cue's parameters per sync model.

A light module (dataclasses and numbers only) so that both :mod:`avsync.pipeline`, which turns a
:class:`~avsync.sync.SyncResult` into the ``sync`` cue, and :mod:`avsync.sync.drift`, whose "lips follow the audio"
test is the cue's, read the same numbers. :mod:`avsync.pipeline` re-exports every name.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from avsync.model_files import DEFAULT_SYNC_MODEL

__all__ = ["MOTION_CUE_PARAMS", "SYNCNET_V2_CUE_PARAMS", "SYNCNET_V3_CUE_PARAMS", "WINDOW_MARGIN_MID",
           "WINDOW_MARGIN_SCALE", "STILL_ARTICULATION", "SyncCueParams"]

# the default model's window rule (benchmarks/calibrate_sync_windows.py, fusion calibration split, syncnet-v3): at
# the midpoint 10 % of the windows of genuine clips read "lips do not follow" (evaluation split: 14.1 %, swapped
# audio 61.4 %; syncnet-v2 with its own rule: 15.7 % and 57.3 %)
WINDOW_MARGIN_MID = 0.0538
WINDOW_MARGIN_SCALE = 0.0264

STILL_ARTICULATION = 0.31
"""``syncnet-v3``'s articulation under which a face's lips cannot be read (``SyncCueParams.still_articulation``): three
quarters of the lowest reading of the 61 real clips of the fusion recipe's calibration side (0.418), rule fixed
before the evaluation side was read (``benchmarks/sync_still_faces.py``, docs/sync.md "A face whose lips cannot be
read")."""


@dataclass(frozen=True)
class SyncCueParams:
    """How a sync result becomes a probability of manipulation (part of the detector's config).

    Two kinds of evidence, the clip's score being the stronger of the two:

    * **offset**: a best offset beyond the tolerance (audio leading by more than ``lead_tolerance_ms`` or
      lagging by more than ``lag_tolerance_ms``), weighted by how sure the offset search is (``confidence``
      against ``confidence_mid``);
    * **mismatch** (dubbed or swapped audio): the lips follow the audio at no offset, i.e. a high minimum
      distance (against ``mismatch_distance_mid``) and a low confidence (against ``mismatch_confidence_mid``).

    Per window, whether the lips follow the audio there: the window's margin at the clip's offset
    (``WindowSync.margin``: its median distance over lags minus its distance at that offset) against
    ``window_margin_mid`` / ``window_margin_scale``, fitted for the default model on the fusion recipe's
    calibration clips (``benchmarks/calibrate_sync_windows.py``); models without a fitted margin rule
    (``window_margin_mid`` ``None``) use the distance at the offset against ``distance_mid``.

    The defaults suit the default sync model (``syncnet``, the ``syncnet-v3`` bundle) and were fitted on
    calibration clips that are neither its training data nor its evaluation set
    (``benchmarks/calibrate_sync_cue.py``, see ``models/syncnet-v3/MODEL_CARD.md``): an offset within ±2 frames
    (±80 ms) is no evidence, 3 frames (120 ms) is neutral, 4 frames or more are evidence. :meth:`for_model` gives the parameters of each sync
    model (``syncnet-v2``: :data:`SYNCNET_V2_CUE_PARAMS`); ``motion`` (and ``light-asd``, ``syncnet-grid``, never
    calibrated on their own) keep the earlier ones (:data:`MOTION_CUE_PARAMS`): on 14 real clips ``motion``'s offsets spread from −13 to +12 frames
    (median −4: mouth motion precedes the sound's energy), with confidences 0.09–0.54, so its tolerances are
    wider than ITU-R BT.1359's acceptability limits (+90 / −185 ms).
    """

    lead_tolerance_ms: float = 120.0
    lag_tolerance_ms: float = 120.0
    offset_scale_ms: float = 12.0
    confidence_mid: float = 0.035
    confidence_scale: float = 0.01
    mismatch_distance_mid: float = 0.946
    mismatch_confidence_mid: float = 0.035
    mismatch_scale: float = 0.033
    distance_mid: float = 0.938
    distance_scale: float = 0.025
    out_of_range_score: float = 0.7
    window_margin_mid: float | None = WINDOW_MARGIN_MID
    window_margin_scale: float = WINDOW_MARGIN_SCALE
    still_articulation: float | None = STILL_ARTICULATION
    """A face whose mouth articulates less than this while speech plays (``FaceSync.articulation``, the model's
    embedding units) does not speak, or the model cannot see its lips: a still picture, a slow zoom on one, someone
    listening, a face too small or dark to show its lips. Its lips follow the audio at no offset because they do not
    change, not because the audio was dubbed, so the cue reads nothing from it (``no_speech``: lip sync cannot be
    checked). ``None``: no such rule (models without mouth embeddings)."""

    def sureness(self, confidence: float) -> float:
        """How sure an offset read at ``confidence`` is, 0..1: 0.5 at ``confidence_mid``. The sync cue scales an
        offset's evidence towards neutral by it; under 0.5 the reading is an unsure one."""
        z = (confidence - self.confidence_mid) / self.confidence_scale
        return 1.0 / (1.0 + math.exp(-z)) if z >= 0 else math.exp(z) / (1.0 + math.exp(z))

    @classmethod
    def for_model(cls, model: str | None) -> SyncCueParams:
        """The parameters calibrated for sync model ``model`` (``None``: the default model)."""
        name = model if isinstance(model, str) else getattr(model, "name", None)
        if (name or DEFAULT_SYNC_MODEL) in ("syncnet", "syncnet-v3"):
            return cls()
        if name == "syncnet-v2":
            return SYNCNET_V2_CUE_PARAMS
        return MOTION_CUE_PARAMS


SYNCNET_V3_CUE_PARAMS = SyncCueParams()
"""Sync cue parameters of ``syncnet-v3``, the default model (``"syncnet"`` and ``"syncnet-v3"`` name it): the
defaults, clip level fitted on the 23 real web, broadcast and CREMA-D clips of the fusion recipe's calibration side
it never saw, windows on that side's 24 non-GRID real clips (models/syncnet-v3/MODEL_CARD.md)."""

SYNCNET_V2_CUE_PARAMS = SyncCueParams(
    confidence_mid=0.046, confidence_scale=0.011, mismatch_distance_mid=1.267, mismatch_confidence_mid=0.046,
    mismatch_scale=0.07, distance_mid=0.896, distance_scale=0.04, window_margin_mid=0.0443, window_margin_scale=0.0431,
    still_articulation=None,  # its embeddings were never measured on faces that do not speak
)
"""Sync cue parameters of ``syncnet-v2`` (GRID only, the default before ``syncnet-v3``; models/syncnet-v2/MODEL_CARD.md):
clip level fitted on GRID speakers 2–3 and CREMA-D, windows on the fusion recipe's calibration clips."""

MOTION_CUE_PARAMS = SyncCueParams(
    lead_tolerance_ms=200.0, lag_tolerance_ms=400.0, offset_scale_ms=80.0, confidence_mid=0.3, confidence_scale=0.05,
    mismatch_distance_mid=0.9, mismatch_confidence_mid=0.12, mismatch_scale=0.06, distance_mid=0.85,
    distance_scale=0.08, out_of_range_score=0.6,  # real clips hit the edge of the search more often than shifted ones
    window_margin_mid=None,  # its windows keep the distance rule (no margin rule fitted for it)
    still_articulation=None,  # no mouth embeddings (syncnet-grid, which shares these parameters, was never measured)
)
"""Sync cue parameters of the training-free ``motion`` model (the defaults before ``syncnet-v2``)."""
