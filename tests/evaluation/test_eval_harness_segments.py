"""Predicted segments reach AP@IoU whether a task gives them as triples or as Verdict-style dicts."""

import pytest

from avsync.evaluation import metrics as M
from avsync.evaluation.harness import _segment_triples


def test_segment_triples_accepts_dicts_and_lists():
    dicts = [{"start": 1.0, "end": 3.5, "kind": "artefact", "score": 0.9}, {"start": 4, "end": 5, "score": None}]
    # the proposals of ap_at_iou: (confidence, start_s, end_s)
    assert _segment_triples(dicts) == [[0.9, 1.0, 3.5], [0.0, 4.0, 5.0]]
    assert _segment_triples([(0.5, 0, 1)]) == [[0.5, 0.0, 1.0]]
    assert _segment_triples([]) == []


def test_verdict_style_segments_that_match_the_truth_score_full_ap():
    """A Verdict's flagged stretch exactly on the manipulated one is a true positive at every IoU (it once read
    ``start`` as the confidence and scored 0)."""
    preds = {"a": _segment_triples([{"start": 0.0, "end": 3.0, "score": 0.99}]),
             "b": _segment_triples([{"start": 2.0, "end": 6.0, "score": 0.8}])}
    truth = {"a": [(0.0, 3.0)], "b": [(2.0, 6.0)], "r": []}
    ap = M.ap_at_iou(preds, truth, iou_thresholds=(0.5, 0.95))
    assert ap[0.5] == pytest.approx(1.0) and ap[0.95] == pytest.approx(1.0)
