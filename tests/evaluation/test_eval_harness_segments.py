"""Predicted segments reach AP@IoU whether a task gives them as triples or as Verdict-style dicts."""

from avsync.evaluation.harness import _segment_triples


def test_segment_triples_accepts_dicts_and_lists():
    dicts = [{"start": 1.0, "end": 3.5, "kind": "artefact", "score": 0.9}, {"start": 4, "end": 5, "score": None}]
    assert _segment_triples(dicts) == [[1.0, 3.5, 0.9], [4.0, 5.0, 0.0]]
    assert _segment_triples([(0, 1, 0.5)]) == [[0.0, 1.0, 0.5]]
    assert _segment_triples([]) == []
