"""A voice inserted into a channel (A-B-A): the stretch search of avsync.speaker.evidence, on made-up embeddings."""

from __future__ import annotations

import numpy as np
import pytest

from avsync.speaker.evidence import MIN_INSERT_WINDOWS, _inserted_voice, evidence_from_embeddings


def _voices(pattern: list[tuple[int, int]], seed: int = 0, noise: float = 0.35) -> np.ndarray:
    """Window embeddings: ``(voice, count)`` runs, each window its voice's unit vector plus noise, made unit and
    non-negative as GE2E embeddings are."""
    rng = np.random.default_rng(seed)
    base = np.abs(rng.normal(size=(3, 256)))
    out = []
    for voice, count in pattern:
        e = np.abs(base[voice] + noise * rng.normal(size=(count, 256)) * base[voice].mean())
        out.append(e / np.linalg.norm(e, axis=1, keepdims=True))
    return np.concatenate(out).astype(np.float32)


def _bounds(n: int) -> tuple[np.ndarray, list[int]]:
    starts = 0.8 * np.arange(n)
    return np.stack([starts, starts + 1.6], axis=1), list(range(n))


def test_an_inserted_voice_is_found_where_the_single_split_misses_it():
    emb = _voices([(0, 12), (1, 8), (0, 12)])
    bounds, keep = _bounds(len(emb))
    ev = evidence_from_embeddings("ge2e", 0, None, emb, bounds, keep, change_threshold=0.9)
    sim, (i, j) = _inserted_voice(emb)
    assert (i, j) == (12, 20) and sim == pytest.approx(ev.change_similarity)
    assert ev.identity_change and ev.change_time_s == pytest.approx(0.8 * 12 + 0.4)  # between windows 11 and 12
    assert ev.change_end_s == pytest.approx(0.8 * 20 + 0.4)
    # the best single split alone: the first voice on both of its sides, much more alike than the stretch is
    single = min(float(emb[:k].mean(0) @ emb[k:].mean(0) / np.linalg.norm(emb[:k].mean(0)) / np.linalg.norm(emb[k:].mean(0)))
                 for k in range(2, len(emb) - 1))
    assert single > sim + 0.02


def test_a_single_change_keeps_its_split_and_no_end():
    emb = _voices([(0, 15), (1, 15)])
    ev = evidence_from_embeddings("ge2e", 0, None, emb, *_bounds(len(emb)), change_threshold=0.9)
    assert ev.identity_change and ev.change_end_s is None and ev.change_time_s == pytest.approx(0.8 * 15 + 0.4)


def test_one_voice_reads_steady_and_short_inputs_have_no_stretch():
    emb = _voices([(0, 40)])
    ev = evidence_from_embeddings("ge2e", 0, None, emb, *_bounds(len(emb)), change_threshold=0.9)
    assert not ev.identity_change
    assert _inserted_voice(emb[: 2 * MIN_INSERT_WINDOWS - 1]) is None
    assert _inserted_voice(emb[: 2 * MIN_INSERT_WINDOWS]) is not None


def test_long_recordings_search_coarsely_then_refine():
    """Over 300 windows the boundaries are searched every few windows, then every window near the best: the
    stretch is found to the window."""
    emb = _voices([(0, 301), (1, 54), (0, 400)], seed=1)
    sim, (i, j) = _inserted_voice(emb)
    assert (i, j) == (301, 355)
