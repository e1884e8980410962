"""Speaker evidence: identity consistency over time inside one channel, and similarity to a known voice.

An identity change inside one channel of a recording (a different voice spliced in) is a
manipulation cue; a low similarity to a known genuine recording of the claimed speaker is another.
Both come from GE2E embeddings (:mod:`avsync.speaker.ge2e`) of speech-only audio.

Cosine similarities of GE2E embeddings are in [0, 1] (embeddings are non-negative). Measured on
VCTK clips here, same-speaker utterances score about 0.65–0.9 and different speakers about
0.45–0.65. On 10 LibriSpeech test-other speakers (12 s each), the best-split similarity was
0.785–0.913 for one speaker and 0.501–0.721 for 10 splices of two speakers (6 s + 6 s), hence the
default ``change_threshold`` of 0.75. These thresholds are starting points measured on a few
clean clips, not calibrated values.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from avsync.results import Serializable, Status
from avsync.timebase import SlidingWindow, samples_to_seconds, seconds_to_samples

if TYPE_CHECKING:
    from avsync.speaker.ge2e import SpeakerEncoder
    from avsync.vad import SpeechMask

__all__ = ["SpeakerWindow", "SpeakerEvidence", "SpeakerStream", "speaker_evidence", "reference_embedding"]

WINDOW_S = 1.6
"""Speaker window length in seconds (one GE2E partial)."""


@dataclass(frozen=True)
class SpeakerWindow(Serializable):
    """One 1.6 s window: ``start``/``end`` in seconds and cosine ``similarity`` to the channel's voice."""

    start: float
    end: float
    similarity: float


@dataclass(frozen=True)
class SpeakerEvidence(Serializable):
    """Speaker evidence for one channel.

    Attributes
    ----------
    status
        ``ok``; ``no_speech`` / ``too_short`` when there is too little speech for a comparison.
    channel
        Channel index.
    model
        Speaker-embedding bundle name.
    windows
        Speech windows with their similarity to the channel's mean voice.
    consistency
        Median window similarity to the channel's mean voice (1 = one steady voice).
    change_time_s
        Most likely identity change point (s): the split of the window sequence whose two parts' mean voices are
        least alike (the two halves, or a stretch and the speech around it); ``None`` with fewer than 4 speech
        windows.
    change_end_s
        Where the voice changes back (s), when the least alike split is a stretch of another voice inside the
        channel's voice (A-B-A: ``change_time_s`` to ``change_end_s``; the stretch and the speech around it at
        least :data:`MIN_INSERT_WINDOWS` windows each); ``None`` for a single change point.
    change_similarity
        Cosine similarity of the mean voices before and after ``change_time_s`` (with ``change_end_s``: of the
        stretch and the speech around it).
    identity_change
        ``change_similarity < change_threshold`` (a splice cue).
    reference_similarity
        Cosine similarity of the channel's speech to the reference voice, when one was given.
    reference_match
        ``reference_similarity >= reference_threshold``, when a reference was given.
    message
        Explanation of a non-``ok`` status.
    """

    status: Status
    channel: int
    model: str
    windows: tuple[SpeakerWindow, ...] = ()
    consistency: float | None = None
    change_time_s: float | None = None
    change_end_s: float | None = None
    change_similarity: float | None = None
    identity_change: bool | None = None
    reference_similarity: float | None = None
    reference_match: bool | None = None
    message: str = ""


def _unit(v: np.ndarray) -> np.ndarray:
    return v / max(float(np.linalg.norm(v)), 1e-12)


def _speech_only(wav: np.ndarray, mask: SpeechMask, sr: int) -> np.ndarray:
    keep = mask.as_array(sr, len(wav))
    return wav[keep]


def reference_embedding(
    encoder: SpeakerEncoder, wav: np.ndarray, *, mask: SpeechMask | None = None, sample_rate: int = 16000
) -> np.ndarray | None:
    """``[256]`` embedding of the speech in a reference recording, or ``None`` with < 0.5 s of speech."""
    if mask is not None:
        wav = _speech_only(wav, mask, sample_rate)
    if len(wav) < sample_rate // 2:
        return None
    return encoder.embed_utterance(wav)


def speaker_evidence(
    wav: np.ndarray,
    mask: SpeechMask,
    encoder: SpeakerEncoder,
    *,
    channel: int = 0,
    sample_rate: int = 16000,
    hop_s: float = 0.8,
    min_speech_fraction: float = 0.5,
    change_threshold: float = 0.75,
    reference: np.ndarray | None = None,
    reference_threshold: float = 0.7,
) -> SpeakerEvidence:
    """Speaker consistency over time of one channel, and similarity to an optional reference voice.

    Parameters
    ----------
    wav
        ``[T]`` float waveform at 16 kHz.
    mask
        :class:`avsync.vad.SpeechMask` of ``wav``.
    encoder
        :class:`avsync.speaker.SpeakerEncoder`.
    hop_s
        Hop between 1.6 s speaker windows (s).
    min_speech_fraction
        Windows with less speech than this are left out.
    change_threshold
        Similarity of the voices before/after the best split below which ``identity_change`` is set.
    reference
        ``[256]`` reference embedding (see :func:`reference_embedding`).
    reference_threshold
        Similarity at or above which ``reference_match`` is set.
    """
    name = encoder.bundle.name
    speech = _speech_only(wav, mask, sample_rate)
    if len(speech) < sample_rate // 2:
        return SpeakerEvidence(Status.NO_SPEECH, channel, name, message="less than 0.5 s of speech")
    utter = encoder.embed_utterance(speech) if reference is not None else None  # read only against a reference
    bounds, keep = speaker_windows(samples_to_seconds(len(wav), sample_rate), mask, hop_s=hop_s,
                                   min_speech_fraction=min_speech_fraction)
    starts = np.array([seconds_to_samples(bounds[i, 0], sample_rate) for i in keep])
    emb = encoder.embed_windows(wav, starts) if keep else np.zeros((0, 256), np.float32)  # [W, 256]
    return evidence_from_embeddings(name, channel, utter, emb, bounds, keep, reference=reference,
                                    change_threshold=change_threshold, reference_threshold=reference_threshold)


def speaker_windows(total_s: float, mask: SpeechMask, *, hop_s: float = 0.8, min_speech_fraction: float = 0.5):
    """``(bounds [W, 2] s, kept window indices)``: the 1.6 s speaker windows of a recording, and those mostly speech."""
    bounds = SlidingWindow(duration=WINDOW_S, step=hop_s).bounds(total_s, partial=True)
    keep = [i for i, (a, b) in enumerate(bounds) if mask.speech_fraction(a, a + WINDOW_S) >= min_speech_fraction]
    return bounds, keep


def evidence_from_embeddings(
    name: str,
    channel: int,
    utter: np.ndarray | None,
    emb: np.ndarray,
    bounds: np.ndarray,
    keep: list[int],
    *,
    reference: np.ndarray | None = None,
    change_threshold: float = 0.75,
    reference_threshold: float = 0.7,
) -> SpeakerEvidence:
    """:class:`SpeakerEvidence` from the utterance embedding (needed only with a ``reference``) and the kept windows'
    embeddings ``emb``."""
    ref_sim = None
    if reference is not None:
        if utter is None:
            raise ValueError("a reference voice is compared with the utterance embedding: give it")
        ref_sim = float(np.dot(utter, reference))
    ref_match = (ref_sim >= reference_threshold) if ref_sim is not None else None
    if not keep:
        return SpeakerEvidence(Status.OK, channel, name, consistency=None, reference_similarity=ref_sim,
                               reference_match=ref_match, message="no 1.6 s window is mostly speech")
    centroid = _unit(emb.mean(axis=0))
    sims = emb @ centroid
    windows = tuple(SpeakerWindow(float(bounds[i, 0]), float(bounds[i, 1]), float(s)) for i, s in zip(keep, sims))
    change_t = change_end = change_sim = change = None
    if len(emb) >= 4:
        cs = _prefix_sums(emb)
        splits = np.arange(2, len(emb) - 1)  # at least two windows on each side
        sims_at = _cosines(cs[splits], cs[-1] - cs[splits])
        at = int(splits[int(np.argmin(sims_at))])
        change_sim = float(sims_at.min())
        change_t = float((bounds[keep[at - 1], 1] + bounds[keep[at], 0]) / 2)
        inserted = _inserted_voice(emb)
        if inserted is not None and inserted[0] < change_sim:  # another voice for a stretch, then the first again
            change_sim, (i, j) = inserted
            change_t = float((bounds[keep[i - 1], 1] + bounds[keep[i], 0]) / 2)
            change_end = float((bounds[keep[j - 1], 1] + bounds[keep[j], 0]) / 2)
        change = change_sim < change_threshold
    return SpeakerEvidence(
        Status.OK, channel, name, windows=windows, consistency=float(np.median(sims)), change_time_s=change_t,
        change_end_s=change_end, change_similarity=change_sim, identity_change=change, reference_similarity=ref_sim,
        reference_match=ref_match,
    )


def _prefix_sums(emb: np.ndarray) -> np.ndarray:
    """``[W + 1, D]``: row ``k`` the sum of the first ``k`` window embeddings (the mean voice of any stretch, up to
    its length, which a cosine ignores)."""
    return np.vstack([np.zeros((1, emb.shape[1])), np.cumsum(emb.astype(np.float64), axis=0)])


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise cosine similarities of ``[K, D]`` arrays."""
    return np.einsum("kd,kd->k", a, b) / np.maximum(np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1), 1e-12)


MIN_INSERT_WINDOWS = 3
"""An inserted voice (A-B-A) spans at least this many speech windows (about 3 s of speech), and the voice around it
as many, on both sides together."""

_MAX_BOUNDS = 300  # candidate boundaries of the coarse search for an inserted voice (then refined around the best)


def _inserted_voice(emb: np.ndarray, *, min_windows: int = MIN_INSERT_WINDOWS) -> tuple[float, tuple[int, int]] | None:
    """The stretch of windows ``[i, j)`` (``0 < i``, ``j < W``) whose mean voice is least like that of the windows
    around it: ``(cosine similarity, (i, j))``, or ``None`` when the windows are too few. A voice spliced into the
    middle of a recording leaves the single best split with the first voice on both sides of it; this search
    finds it. Boundaries every ``ceil(W / 300)`` windows first, then every window within one step of the best."""
    n = len(emb)
    if n < 2 * min_windows or n < min_windows + 2:
        return None
    cs = _prefix_sums(emb)

    def search(starts: np.ndarray, ends: np.ndarray) -> tuple[float, tuple[int, int]] | None:
        found: tuple[float, tuple[int, int]] | None = None
        for i in starts:
            js = ends[(ends - i >= min_windows) & (i + n - ends >= min_windows)]
            if not len(js):
                continue
            mid = cs[js] - cs[i]
            sim = _cosines(mid, cs[n] - mid)
            k = int(np.argmin(sim))
            if found is None or sim[k] < found[0]:
                found = (float(sim[k]), (int(i), int(js[k])))
        return found

    step = max(1, -(-n // _MAX_BOUNDS))
    found = search(np.arange(1, n, step), np.arange(1, n, step))
    if found is None or step == 1:
        return found
    i0, j0 = found[1]
    near = search(np.arange(max(1, i0 - step), min(n, i0 + step + 1)), np.arange(max(1, j0 - step), min(n, j0 + step + 1)))
    return near if near is not None and near[0] < found[0] else found


class SpeakerStream:
    """:func:`speaker_evidence` of a long channel given block by block, at a memory that does not grow with it.

    Built after a first pass that found the speech (``mask``) and the energy of the whole channel
    (``sum_squares``) and of its speech (``speech_sum_squares``): the 1.6 s windows get exactly the
    embeddings of :func:`speaker_evidence`; the utterance embedding is the mean of the partial
    embeddings of the speech cut into pieces of ``piece_s`` seconds (the whole speech at once in
    :func:`speaker_evidence`), so it can differ slightly on recordings with more speech than that. Without a
    ``reference`` nothing reads the utterance embedding, and it is not computed.
    """

    def __init__(self, encoder: SpeakerEncoder, mask: SpeechMask, num_samples: int, *, sum_squares: float,
                 speech_sum_squares: float, channel: int = 0, sample_rate: int = 16000, hop_s: float = 0.8, min_speech_fraction: float = 0.5,
                 reference: np.ndarray | None = None, piece_s: float = 60.0):
        from avsync.speaker.ge2e import HOP_SAMPLES, PARTIAL_FRAMES, volume_gain

        self.encoder, self.mask, self.channel, self.sr, self.reference = encoder, mask, channel, sample_rate, reference
        self.num = num_samples
        self.gain = volume_gain(sum_squares, num_samples)
        self.speech_n = sum(int(round(b * sample_rate)) - int(round(a * sample_rate)) for a, b in mask.segments)
        self.speech_gain = volume_gain(speech_sum_squares, self.speech_n)
        self.bounds, self.keep = speaker_windows(samples_to_seconds(num_samples, sample_rate), mask, hop_s=hop_s,
                                                 min_speech_fraction=min_speech_fraction)
        self.starts = [seconds_to_samples(self.bounds[i, 0], sample_rate) for i in self.keep]
        self.win = PARTIAL_FRAMES * HOP_SAMPLES
        self.next = 0  # index into starts of the next window to embed
        self.emb: list[np.ndarray] = []
        self.piece = max(self.win, seconds_to_samples(piece_s, sample_rate))
        self.speech: list[np.ndarray] = []
        self.held = 0
        self.partial_sum = np.zeros(256, np.float64)
        self.partial_n = 0

    @property
    def first_needed(self) -> int:
        """The first sample still needed by a window not yet embedded (``num_samples`` when none is left)."""
        return self.starts[self.next] if self.next < len(self.starts) else self.num

    def push(self, buf: np.ndarray, buf_start: int, block_start: int) -> None:
        """``buf`` = samples ``[buf_start, buf_start + len(buf))``; its part from ``block_start`` is new."""
        from avsync.speaker.ge2e import apply_gain

        end = buf_start + len(buf)
        ready = []
        while self.next < len(self.starts) and (self.starts[self.next] + self.win <= end or end >= self.num):
            ready.append(self.starts[self.next] - buf_start)
            self.next += 1
        if ready:
            self.emb.append(self.encoder.embed_windows(buf, np.array(ready), gain=self.gain))
        if self.reference is None:  # the utterance embedding is compared with a reference only
            return
        for a, b in self.mask.segments:  # the new samples' speech, for the utterance embedding
            a = max(int(round(a * self.sr)), block_start)
            b = min(int(round(b * self.sr)), end)
            if b > a:
                self.speech.append(apply_gain(buf[a - buf_start : b - buf_start], self.speech_gain))
                self.held += b - a
        if self.held >= self.piece:
            self._embed_speech()

    def _embed_speech(self) -> None:
        if not self.speech:
            return
        wav = np.concatenate(self.speech)
        self.speech, self.held = [], 0
        if self.partial_n and len(wav) < self.sr:  # a last sliver joins nothing: too short for a partial of its own
            return
        p = self.encoder.embed_partials(wav)
        self.partial_sum += p.sum(axis=0)
        self.partial_n += len(p)

    def finish(self) -> SpeakerEvidence:
        name = self.encoder.bundle.name
        if self.speech_n < self.sr // 2:
            return SpeakerEvidence(Status.NO_SPEECH, self.channel, name, message="less than 0.5 s of speech")
        utter = None
        if self.reference is not None:
            self._embed_speech()
            e = self.partial_sum / max(self.partial_n, 1)
            utter = (e / max(float(np.linalg.norm(e)), 1e-12)).astype(np.float32)
        emb = np.concatenate(self.emb) if self.emb else np.zeros((0, 256), np.float32)
        return evidence_from_embeddings(name, self.channel, utter, emb, self.bounds, self.keep,
                                        reference=self.reference)
