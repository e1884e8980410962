"""Whole-file voice spoof scoring: sliding windows, speech-only windows, batching, per-channel results.

Polarity, everywhere in avsync: **score = probability that the speech is synthetic**, in [0, 1]
(0 = bona fide, 1 = spoof). For the public checkpoints, whose logits are ordered
``[spoof, bona fide]``, it is ``softmax(logits)[0]``.

Procedure for one file (:class:`SpoofScorer`):

1. Decode with :func:`avsync.load_media` (any container; resampled to 16 kHz). Audio whose source
   rate is 8 kHz or below, or whose spectrum is empty above 4 kHz, is flagged ``narrowband``.
   A recording longer than ``block_s`` (60 s) is read block by block, twice (speech and channel
   facts, then the windows; three times when a channel is quieter than :data:`VAD_QUIET_PEAK_DB`, whose speech is
   found again raised), so memory does not grow with its length (docs/long-files.md).
2. Each channel is scored separately (stereo call recordings put one party per channel);
   channels that carry the same audio are scored once: identical, or differing by coding noise only (the
   difference at least 40 dB below the signal in every 60 s block, as the two channels of a stereo AAC
   track of one voice; a second voice, or the same voice re-recorded, differs by far more).
3. Speech is found with Silero VAD (:mod:`avsync.vad`). Silent channels and channels with less
   than ``min_speech_s`` of speech get ``no_speech``; recordings shorter than ``min_duration_s`` get
   ``too_short``.
4. Windows of ``window`` samples (default: the model's input, 64600 = 4.04 s) every ``hop``
   samples (default: one window) cover the whole recording; the last window is aligned to the
   end so that every sample is in at least one window. A recording shorter than one window is
   tiled to the window length (as the original evaluation of these models does). Windows whose
   speech fraction is below ``min_speech_fraction`` are not scored (``score`` ``None``).
5. Windows are scored in batches on the chosen device.
6. Channel score (``aggregation``): ``"mean"`` (default) is the mean of window scores weighted by
   each window's seconds of speech; ``"max"`` and ``"median"`` are the alternatives. A run of
   ``run_windows`` (2) or more consecutive windows at or above the threshold raises it to the run's mean
   (a synthetic stretch of a long recording). The file score is the highest channel score (a file is as
   suspicious as its most suspicious channel).
"""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from avsync.device import native_bfloat16, release_free_memory, resolve_device
from avsync.errors import AvsyncError, BundleError, ConfigError, MediaError
from avsync.inference import check_batch_size
from avsync.media import Media, load_media
from avsync.results import Serializable, Status
from avsync.speaker.evidence import SpeakerEvidence
from avsync.spoof.models import DEFAULT_MODEL, Precision, SpoofModel, check_precision, load_spoof_model
from avsync.timebase import DEFAULT_SAMPLE_RATE, join_spans, samples_to_seconds, seconds_to_samples

if TYPE_CHECKING:  # loaded on first use of the properties
    from avsync.speaker.ge2e import SpeakerEncoder
    from avsync.vad import VAD, SpeechMask

__all__ = ["BACKGROUND_NOTE_DB", "MIN_WINDOW_S", "two_voices", "QUIET_PEAK_DB", "SpoofWindow", "background_db", "ChannelSpoof", "SpoofResult", "SpoofScorer", "is_narrowband", "level_gain",
           "score_spoof", "window_starts",
           "write_timeline"]

Aggregation = Literal["mean", "max", "median"]

MIN_WINDOW_S = 1.0
"""The shortest scoring window :class:`SpoofScorer` takes (``window_s``; or the model's input, when that is shorter). A
shorter window is repeated to fill the model's 4.04 s input: a genuine LibriSpeech call scored in windows of 0.05 s read
0.94 (synthetic), in windows of 0.5 s 0.30 and of the default 4.04 s 0.26."""

SHORT_SPEECH_S = 2.0
"""Channels with less speech than this are scored with a warning: the default model flags real
speech more often when it is short (LibriSpeech crops of 0.5 / 1 / 1.5 / 2 s: 10.7 / 4.0 / 1.3 / 0 %
flagged; docs/spoof.md)."""


BACKGROUND_NOTE_DB = 25.0
"""A channel whose pauses between words sit less than this far under its voice (:func:`background_db`) has music or
noise under the voice, and its result says that the score is less reliable there. A bed 20 dB under the voice (music,
or pink, brown and babble noise) took the default model's detection of held-out YourTTS clones, Kokoro speech and
converged HiFi-GAN copies from 83–100 % to 15–70 %, and a noise bed 10 dB under it flagged 4–20 % of real speech;
:func:`background_db` reads 20 dB beds at medians of 19.0–25.3 dB (music reads higher: its quiet passages) and 10 dB
beds at 11.7–13.3 dB (``benchmarks/spoof_background_level.py``; docs/spoof.md, "Music under the voice")."""

CELL_SAMPLES = 512
"""Samples of one energy cell (one frame of the voice activity detection at 16 kHz): :func:`background_db`'s unit."""

MIN_PAUSE_S = 0.25
""":func:`background_db` needs at least this much pause between the words."""

MAX_PAUSE_S = 2.0
"""Longer pauses are not between words (hold music on a call, a cut to another scene): :func:`background_db` leaves them
out."""


def background_db(cell_energy: np.ndarray, cell_s: float, segments: Iterable[tuple[float, float]]) -> float | None:
    """How far the sound in the pauses sits under the voice, in dB: the mean power of the loudest half of the speech
    cells over the median power of the cells in the pauses between speech segments (pauses of at most
    :data:`MAX_PAUSE_S`: a longer one, such as hold music on a call, is not under the voice).

    Parameters
    ----------
    cell_energy
        ``[N]`` energy (sum of squares) of consecutive cells of ``cell_s`` seconds each (a last, shorter cell is
        ignored).
    cell_s
        Duration of one cell in seconds (:data:`CELL_SAMPLES` at 16 kHz: 0.032).
    segments
        Speech segments ``(start_s, end_s)`` in time order (:class:`~avsync.vad.SpeechMask`).

    Returns
    -------
    float or None
        ``None`` without speech or with less than :data:`MIN_PAUSE_S` of such pauses (continuous speech: nothing
        under it can be heard on its own). Silent pauses give a large value (capped at 120 dB).
    """
    segs = [(float(a), float(b)) for a, b in segments]
    e = np.asarray(cell_energy, np.float64)
    if not segs or e.size < 2:
        return None
    e = e[:-1]  # the last cell may be shorter
    mid = (np.arange(e.size) + 0.5) * cell_s
    speech = np.zeros(e.size, bool)
    for a, b in segs:
        speech |= (mid >= a) & (mid < b)
    pause = np.zeros(e.size, bool)
    for (_, a), (b, _) in zip(segs, segs[1:]):
        if b - a <= MAX_PAUSE_S:
            pause |= (mid >= a) & (mid < b)
    pause &= ~speech
    if not speech.any() or pause.sum() * cell_s < MIN_PAUSE_S:
        return None
    loud = np.sort(e[speech])[::-1]
    level = float(loud[: max(1, loud.size // 2)].mean())
    under = float(np.median(e[pause]))
    if level <= 0:
        return None
    return float(min(120.0, 10 * np.log10(level / max(under, level * 1e-12))))


@dataclass(frozen=True)
class SpoofWindow(Serializable):
    """One analysis window.

    Attributes
    ----------
    start, end
        Seconds on the media timeline (``end`` is clipped to the recording's end).
    score
        Probability that the speech in the window is synthetic (0..1), ``None`` when not scored.
    speech
        Fraction of the window that is speech (0..1).
    channel
        Audio channel index.
    """

    start: float
    end: float
    score: float | None
    speech: float
    channel: int = 0


@dataclass(frozen=True)
class ChannelSpoof(Serializable):
    """Result of one audio channel: status, aggregated score, windows, speech seconds, speaker evidence, and how far
    the sound in its pauses sits under its voice (``background_db``, :func:`background_db`; ``None`` when not
    measured: no speech, too little pause, or no voice activity detection)."""

    channel: int
    status: Status
    score: float | None
    windows: tuple[SpoofWindow, ...]
    speech_s: float
    message: str = ""
    speaker: SpeakerEvidence | None = None
    background_db: float | None = None

    @property
    def loud_background(self) -> bool:
        """Music or noise under the voice, loud enough that the score is less reliable (:data:`BACKGROUND_NOTE_DB`)."""
        return self.background_db is not None and self.background_db < BACKGROUND_NOTE_DB

    def flagged_spans(self, threshold: float) -> list[tuple[float, float, tuple[float, ...]]]:
        """This channel's :func:`flagged_spans`."""
        return flagged_spans(self.windows, threshold)


@dataclass(frozen=True)
class SpoofResult(Serializable):
    """Voice spoof analysis of one recording.

    Attributes
    ----------
    status
        ``ok`` when at least one channel was scored; otherwise the reason (``no_speech``,
        ``too_short``, ``no_audio``, ``decode_error``, ``model_error``, ...).
    score
        Probability that the speech is synthetic (0..1): the highest channel score; ``None``
        when nothing was scored.
    model
        Spoof model (bundle) name; ``model_sha256`` is its weights' hash.
    windows
        Every window of every channel, in time order per channel.
    channels
        Per-channel results.
    flagged
        ``score >= threshold``, ``None`` when unscored.
    narrowband
        Telephone-band audio (8 kHz source or nothing above 4 kHz): the models were trained on
        16 kHz wideband speech, and telephone-band scores are less well tested.
    clipped
        More than 0.1 % of samples at full scale.
    precision
        Inference precision of the network (``float32`` or ``bfloat16``).
    run_windows
        The scorer's run rule (``SpoofScorer(run_windows=)``): a run of this many windows at or above the threshold
        raised a channel's score to the run's mean; ``0``: the aggregate alone.
    """

    status: Status
    score: float | None
    model: str
    windows: tuple[SpoofWindow, ...] = ()
    channels: tuple[ChannelSpoof, ...] = ()
    path: str | None = None
    model_sha256: str = ""
    threshold: float = 0.5
    flagged: bool | None = None
    aggregation: str = "mean"
    run_windows: int = 0
    window_s: float | None = None
    hop_s: float | None = None
    duration_s: float | None = None
    source_sample_rate: int | None = None
    narrowband: bool = False
    clipped: bool = False
    warnings: tuple[str, ...] = ()
    message: str = ""
    precision: str = "float32"

    def write_timeline(self, path: str | os.PathLike) -> str:
        """Write the windows as CSV (see :func:`write_timeline`)."""
        return write_timeline([self], path)


def write_timeline(results: Iterable[SpoofResult], path: str | os.PathLike) -> str:
    """Write the windows of several results as CSV: ``file,channel,start,end,speech,score``.

    Times in seconds; an empty ``score`` means the window was not scored (too little speech). The folder is made
    when missing, as for the other reports.
    """
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["file", "channel", "start", "end", "speech", "score"])
        for r in results:
            for win in r.windows:
                w.writerow([r.path or "", win.channel, f"{win.start:.3f}", f"{win.end:.3f}", f"{win.speech:.3f}",
                            "" if win.score is None else f"{win.score:.6f}"])
    return os.fspath(path)


def two_voices(audio: np.ndarray, *, max_correlation: float = 0.3) -> bool:
    """Whether a ``[C, T]`` recording carries unrelated sound on its first two channels (a call with one party on
    each: correlation near 0), rather than one sound picked up twice (a stereo microphone: the channels correlate
    strongly) or once (the same samples, or one channel silent)."""
    if audio.ndim != 2 or audio.shape[0] < 2:
        return False
    a, b = audio[0].astype(np.float64), audio[1].astype(np.float64)
    sa, sb = float(np.std(a)), float(np.std(b))
    if sa < 1e-4 or sb < 1e-4:  # a silent channel: one voice
        return False
    return abs(float(np.mean((a - a.mean()) * (b - b.mean())) / (sa * sb))) < max_correlation


def check_window_hop(window: int, hop: int) -> None:
    """Raise ``ValueError`` unless ``0 < hop <= window`` (a longer hop would leave audio unscored)."""
    if window <= 0 or hop <= 0:
        raise ConfigError("window and hop must be positive")
    if hop > window:
        raise ConfigError("the hop must not exceed the window (windows would skip audio)")


def window_starts(num_samples: int, window: int, hop: int) -> np.ndarray:
    """Start sample of every window so that ``[0, num_samples)`` is fully covered.

    Regular starts ``0, hop, 2 hop, ...`` while a whole window fits, plus a last window aligned to
    the end when the regular ones stop short. A signal shorter than one window has one start, 0.
    """
    check_window_hop(window, hop)
    if num_samples <= window:
        return np.zeros(1, np.int64)
    starts = np.arange(0, num_samples - window + 1, hop, dtype=np.int64)
    if starts[-1] + window < num_samples:
        starts = np.append(starts, num_samples - window)
    return starts


def _aggregate(scores: np.ndarray, weights: np.ndarray, how: str) -> float:
    if how == "max":
        return float(scores.max())
    if how == "median":
        return float(np.median(scores))
    w = np.maximum(weights, 1e-6)
    return float(np.sum(scores * w) / np.sum(w))


RUN_WINDOWS = 2
"""Consecutive scored windows at or above the threshold that make a run: its mean raises the channel's score (a
synthetic stretch inside a genuine recording, which the mean of a long recording dilutes)."""


def flagged_spans(windows: Iterable[SpoofWindow], threshold: float) -> list[tuple[float, float, tuple[float, ...]]]:
    """Stretches of consecutive scored windows at or above ``threshold`` (a window that starts where the last ends,
    or before, continues one; a window without a score, or below the threshold, ends it): ``(start s, end s, the
    windows' scores)`` each, in time order."""
    return join_spans((w.start, w.end, float(w.score)) for w in windows
                      if w.score is not None and w.score >= threshold)


def run_score(spans: Iterable[tuple[float, float, tuple[float, ...]]], min_windows: int) -> float | None:
    """The highest mean score of a span of :func:`flagged_spans` that holds at least ``min_windows`` windows
    (``None``: no such run): the scorer's run rule."""
    means = [float(np.mean(ps)) for _, _, ps in spans if len(ps) >= min_windows]
    return max(means) if means else None


def is_narrowband(x: np.ndarray, sr: int, source_rate: int) -> bool:
    """Whether the scorer calls audio telephone-band (``narrowband``): recorded at 8 kHz or below (``source_rate``,
    the rate before resampling to ``sr``), or with less than 1e-4 of its energy above 4 kHz (first 60 s of ``x``)."""
    return bool(source_rate <= 8000 or _is_narrowband(x, sr))


def _is_narrowband(x: np.ndarray, sr: int) -> bool:
    """True when less than 1e-4 of the energy lies above 4 kHz (first 60 s)."""
    seg = x[: 60 * sr].astype(np.float64)
    if len(seg) < 1024 or not np.any(seg):
        return False
    spec = np.abs(np.fft.rfft(seg)) ** 2
    freqs = np.fft.rfftfreq(len(seg), 1.0 / sr)
    total = spec.sum()
    return bool(total > 0 and spec[freqs > 4000].sum() / total < 1e-4)


QUIET_PEAK_DB = -15.0
"""Peak level (dBFS) below which a channel is scored raised to it (:class:`SpoofScorer`'s ``quiet_peak_db``). The
fine-tuning recipe sets the peak of its channel-augmented training crops anywhere from -30 to 0 dBFS
(``spoof_data.augment``); -15 is the middle of that range. Measured (docs/spoof.md, "Recording level"): YourTTS
clones of held-out speakers, separated from their real recordings at every peak from -1 to -20 dBFS, were not at -30
and -40, where their scores fell towards the real ones'."""


SILENT_PEAK = 1e-4
"""The largest sample below which a channel counts as silent (coding noise only)."""

VAD_QUIET_PEAK_DB = -40.0
"""Peak level (dBFS) below which a channel's speech is found on a copy raised to :data:`QUIET_PEAK_DB` (the VAD runs
again: on the samples kept when the recording fits one block, else on one more reading of it). Silero VAD reads a signal at its own level: six LibriSpeech utterances
played back with their peak at -45 dBFS kept their speech, at -50 one lost half of it, at -55 all lost some, at -60
dBFS five were ``no_speech`` (docs/spoof.md, "Recording level")."""


def level_gain(peak: float, floor_db: float | None = QUIET_PEAK_DB) -> float:
    """The gain that brings a channel whose largest sample is ``peak`` up to ``floor_db`` dBFS: 1 for a channel at
    or above it, for a silent one (``peak`` 0) and when ``floor_db`` is ``None``."""
    if floor_db is None or peak <= 0:
        return 1.0
    floor = 10 ** (floor_db / 20)
    return 1.0 if peak >= floor else floor / peak


class SpoofScorer:
    """Whole-file spoof scorer (see the module docstring for the procedure).

    Parameters
    ----------
    model
        Spoof model name (default :data:`avsync.spoof.models.DEFAULT_MODEL`) or a loaded
        :class:`~avsync.spoof.models.SpoofModel`.
    window_s, hop_s
        Window length and hop in seconds (default: the model's input length, and one window).
        Shorter windows are tiled to the model's input length; longer ones are refused, and so are windows under
        :data:`MIN_WINDOW_S` (a real voice repeated every 50 ms reads as synthetic).
    batch_size
        Windows per forward pass; default on CPU 1 at float32 (batching does not speed up these
        convolutions, and one AASIST window already needs ~70 MB of activations) and 2 at bfloat16
        (about 10 % faster with the fused kernels, ~90 MB more peak memory; docs/spoof.md, "Speed"),
        and 16 on other devices.
    device
        Torch device (``"cpu"``, ``"cuda"``...).
    vad
        Score only windows with speech (default); ``False`` scores every window.
    min_speech_fraction
        Windows with less speech than this are not scored.
    min_speech_s, min_duration_s
        Less speech gives ``no_speech``; a shorter recording gives ``too_short``.
    aggregation
        ``"mean"`` (speech-weighted), ``"max"`` or ``"median"`` of window scores.
    threshold
        ``flagged`` is ``score >= threshold``; default: the model's calibrated operating point
        (:attr:`SpoofModel.threshold`, 0.5 for the public checkpoints).
    speaker
        Add speaker-consistency evidence per channel (GE2E).
    reference
        Path (or 16 kHz ``[T]`` array) of a known genuine recording of the expected speaker;
        implies ``speaker``.
    weights, allow_download
        Explicit weights path / models directory, and permission to download missing bundles.
    precision
        ``"float32"`` (default) or ``"bfloat16"`` (faster on CPUs with AVX-512 BF16/AMX;
        borderline scores can move), see :data:`avsync.device.PRECISIONS`.
    block_s
        Longer recordings are read block by block (twice: speech first, then windows; once more for a channel
        quieter than :data:`VAD_QUIET_PEAK_DB`), so memory does
        not grow with their length; shorter ones are read once and scored at once. Scores are the same
        either way, except that the speaker evidence's whole-speech embedding is averaged over blocks.
    quiet_peak_db
        A channel whose peak stays below this level (dBFS) is scored raised to it (:func:`level_gain`, a warning
        says so): the voice models read quiet recordings less well than the levels they were trained at, so a
        clone played back quietly would otherwise pass (docs/spoof.md, "Recording level"). ``None``: score
        every channel at its own level. (Where the speech is, is found at the channel's own level unless its peak
        is below :data:`VAD_QUIET_PEAK_DB`, then on a copy raised to :data:`QUIET_PEAK_DB`, whatever this is.)
    run_windows
        A run of this many consecutive scored windows or more, each at or above the threshold, raises the channel's
        score to the run's mean when that is higher (:func:`run_score`): a synthetic stretch of a long recording
        (a clone inserted into a call) counts as such, not diluted by the genuine rest. ``0``: the aggregate only.
    """

    def __init__(
        self,
        model: str | SpoofModel = DEFAULT_MODEL,
        *,
        window_s: float | None = None,
        hop_s: float | None = None,
        batch_size: int | None = None,
        device: str = "auto",
        vad: bool = True,
        min_speech_fraction: float = 0.25,
        min_speech_s: float = 0.5,
        min_duration_s: float = 1.0,
        aggregation: Aggregation = "mean",
        threshold: float | None = None,
        speaker: bool = False,
        reference: str | os.PathLike | np.ndarray | None = None,
        weights: str | None = None,
        allow_download: bool = False,
        precision: Precision = "float32",
        block_s: float = 60.0,
        quiet_peak_db: float | None = QUIET_PEAK_DB,
        run_windows: int = RUN_WINDOWS,
    ):
        check_precision(precision)
        self.precision = precision
        self.quiet_peak_db = quiet_peak_db
        device = resolve_device(device)  # "auto" -> cuda / cpu before the batch size depends on it
        if aggregation not in ("mean", "max", "median"):
            raise ConfigError(f"aggregation must be 'mean', 'max' or 'median', got {aggregation!r}")
        self.model_error: BundleError | None = None
        """Why the model could not be loaded (missing, tampered or unknown weights): every input then gets
        a ``model_error`` result with this message and hint, after its own read checks."""
        self.model_name = model.name if isinstance(model, SpoofModel) else str(model)
        try:
            self.model: SpoofModel | None = model if isinstance(model, SpoofModel) else load_spoof_model(
                model, device=device, weights=weights, allow_download=allow_download)
        except BundleError as e:
            self.model, self.model_error = None, e
        sr = self.model.sample_rate if self.model else DEFAULT_SAMPLE_RATE
        max_window = self.model.window_samples if self.model else 64600
        self.window = max_window if window_s is None else seconds_to_samples(window_s, sr)
        self.hop = self.window if hop_s is None else seconds_to_samples(hop_s, sr)
        check_window_hop(self.window, self.hop)
        if self.window > max_window:
            raise ConfigError(f"window_s must be at most the model's input, "
                             f"{samples_to_seconds(max_window, sr):.4f} s")
        if self.window < min(max_window, seconds_to_samples(MIN_WINDOW_S, sr)):
            raise ConfigError(f"window_s must be at least {MIN_WINDOW_S:g} s: a shorter window is repeated to fill the "
                              "model's input, and the repetition reads as synthetic")
        if batch_size is None:
            batch_size = (2 if precision == "bfloat16" else 1) if str(device).startswith("cpu") else 16
        self.batch_size, self.device, self.use_vad = check_batch_size(batch_size), device, vad
        self._bf16_emulated = precision == "bfloat16" and not native_bfloat16(str(device))
        self.min_speech_fraction, self.min_speech_s, self.min_duration_s = min_speech_fraction, min_speech_s, min_duration_s
        self.aggregation = aggregation
        if run_windows < 0:
            raise ConfigError(f"run_windows must be 0 (off) or more, got {run_windows}")
        self.run_windows = int(run_windows)
        self.threshold = float((self.model.threshold if self.model else 0.5) if threshold is None else threshold)
        self.speaker = speaker or reference is not None
        if not block_s > 0:
            raise ConfigError(f"block_s must be positive, got {block_s}")
        self.block_s = max(1, round(block_s * sr / 512)) * 512 / sr  # whole VAD frames per block
        self._vad: VAD | None = None
        self._encoder: SpeakerEncoder | None = None
        self._reference = None
        if reference is not None:
            self._reference = self._reference_embedding(reference)

    # ------------------------------------------------------------------ helpers
    @property
    def vad(self) -> VAD:
        """The Silero voice activity detector on the scorer's device (loaded on first use)."""
        if self._vad is None:
            from avsync.vad import VAD

            self._vad = VAD(device=self.device)
        return self._vad

    @property
    def encoder(self) -> SpeakerEncoder:
        """The GE2E speaker encoder on the scorer's device, for the speaker evidence (loaded on first use)."""
        if self._encoder is None:
            from avsync.speaker.ge2e import SpeakerEncoder

            self._encoder = SpeakerEncoder(device=self.device)
        return self._encoder

    def _reference_embedding(self, reference: str | os.PathLike | np.ndarray) -> np.ndarray:
        from avsync.speaker.evidence import reference_embedding

        if isinstance(reference, np.ndarray):
            wav = reference.astype(np.float32).reshape(-1)
        else:
            try:
                audio = load_media(reference, require="audio").audio
            except MediaError as e:  # say which file: the reference, not the recording scored; a setting, not an input
                why = "it has no audio track" if e.status is Status.NO_AUDIO else str(e)
                raise ConfigError(f"the reference recording {os.fspath(reference)!r} could not be used: {why}",
                                  hint="pass a readable recording with several seconds of the expected voice") from e
            if two_voices(audio):
                raise ConfigError(f"the reference recording {os.fspath(reference)!r} carries different sound on its "
                                  "channels (a call, one party on each?): mixed, both voices would be the reference",
                                  hint="pass one voice, e.g. its left channel: "
                                       "`ffmpeg -i REF -af 'pan=mono|c0=c0' REF_left.wav`")
            wav = audio.mean(axis=0, dtype=np.float32)
        emb = reference_embedding(self.encoder, wav, mask=self.vad(wav))
        if emb is None:
            raise ConfigError(f"the reference recording {reference!r} has less than 0.5 s of speech",
                              hint="pass a reference with several seconds of speech")
        return emb

    def _fail(self, status: Status, message: str, path: str | None, **kw: Any) -> SpoofResult:
        sha = self.model.bundle.sha256 if self.model is not None and self.model.bundle is not None else ""
        return SpoofResult(status=status, score=None, model=self.model_name, path=path,
                           model_sha256=sha, threshold=self.threshold,
                           aggregation=self.aggregation, message=message, precision=self.precision,
                           run_windows=self.run_windows, **kw)

    def predict_windows(self, batch: np.ndarray) -> np.ndarray:
        """Spoof probabilities ``[N]`` of ``[N, window]`` waveforms, in batches of ``batch_size``."""
        assert self.model is not None  # scoring needs the model (None only with a model_error)
        return self.model.predict_batches(batch, batch_size=self.batch_size, precision=self.precision)

    def _predict_owned(self, audio: np.ndarray, owners: list[tuple[int, int]], starts: np.ndarray,
                       gains: dict[int, float] | None = None) -> np.ndarray:
        """Probabilities of the windows ``(channel, window index)``, cut from ``audio`` batch by batch (each
        channel's samples times its gain, :func:`level_gain`)."""
        assert self.model is not None  # scoring needs the model (None only with a model_error)
        g = gains or {}

        def cut(owner: tuple[int, int]) -> np.ndarray:
            seg = self._fit(audio[owner[0]], int(starts[owner[1]]))
            k = g.get(owner[0], 1.0)
            return seg if k == 1.0 else (seg * np.float32(k)).astype(np.float32)

        return self.model.predict_batches(owners, batch_size=self.batch_size, precision=self.precision, cut=cut)

    def _fit(self, x: np.ndarray, start: int) -> np.ndarray:
        """The model input of the window at ``start``: the window itself, or the signal tiled."""
        assert self.model is not None  # scoring needs the model (None only with a model_error)
        n = self.model.window_samples
        seg = x[start : start + self.window]
        return seg if len(seg) == n else np.resize(seg, n).astype(np.float32)

    # ------------------------------------------------------------------ main
    def __call__(
        self, src: str | os.PathLike | bytes | Media, *, progress: Callable[[float, float], None] | None = None
    ) -> SpoofResult:
        """Score one recording (path, bytes or :class:`~avsync.media.Media`) → :class:`SpoofResult`.

        A recording longer than ``block_s`` is read twice, block by block (speech and channel facts first,
        then the windows; once more between them for a channel quieter than :data:`VAD_QUIET_PEAK_DB`), so memory does not grow with its length. ``progress(done_s, total_s)`` is
        called as the windows are scored. Bad input yields a result with a failure status, never an
        exception, except for programming errors.
        """
        path = None if isinstance(src, (bytes, bytearray, Media)) else os.fspath(src)
        try:
            media = src.at_rates(sample_rate=DEFAULT_SAMPLE_RATE, fps=src.fps) if isinstance(src, Media) \
                else load_media(src, require="audio")
            if not media.has_audio:
                raise MediaError("the input has no audio track", status=Status.NO_AUDIO)
        except AvsyncError as e:
            return self._fail(e.status, str(e), path)
        if path is None and isinstance(src, Media):
            path = src.path
        sr = media.sample_rate
        try:
            survey = _Survey.run(self, media)
        except AvsyncError as e:
            return self._fail(e.status, str(e), path)
        assert survey.peak is not None and survey.same is not None and survey.head is not None  # set by run
        if self.model_error is not None:
            return self._fail(Status.MODEL_ERROR, f"voice model {self.model_name!r} unavailable: "
                              f"{self.model_error}", path)
        src_sr = media.info.audio.sample_rate if media.info.audio is not None else sr
        num = survey.num
        duration = samples_to_seconds(num, sr)
        common: dict[str, Any] = dict(window_s=samples_to_seconds(self.window, sr),
                                      hop_s=samples_to_seconds(self.hop, sr),
                                      duration_s=duration, source_sample_rate=src_sr)
        warnings: list[str] = list(media.info.warnings)  # what decoding noticed (gaps, NaN samples, ...)
        narrow = is_narrowband(survey.head, sr, src_sr)
        if narrow:
            warnings.append("narrowband (telephone) audio: the spoof models were trained on 16 kHz wideband "
                            "speech; telephone-band scores are less well tested (docs/spoof.md)")
        clipped = bool(survey.clipped > 1e-3 * max(1, num * survey.num_channels))
        if clipped:
            warnings.append("the audio is clipped (more than 0.1 % of samples at full scale)")
        if self._bf16_emulated:
            warnings.append("bfloat16 on a CPU without native bfloat16 (AVX-512 or AMX) runs emulated, several times "
                            "slower than float32 (--precision float32)")
        common.update(narrowband=narrow, clipped=clipped)
        if duration < self.min_duration_s:
            return self._fail(Status.TOO_SHORT, f"the audio lasts {duration:.2f} s, shorter than the minimum "
                              f"{self.min_duration_s} s", path, warnings=tuple(warnings), **common)

        # channels: identical channels are scored once
        chans = [0] if all(survey.same) else list(range(survey.num_channels))
        quiet_vad = [c for c in chans if SILENT_PEAK <= survey.peak[c] < 10 ** (VAD_QUIET_PEAK_DB / 20)]
        if quiet_vad and survey.vad:  # the VAD ran (the voice check or the speaker evidence needs it)
            try:
                raised = survey.raise_quiet_vad(media, quiet_vad)
            except AvsyncError as e:  # the reading again failed
                return self._fail(e.status, str(e), path, warnings=tuple(warnings), **common)
            for c in raised:
                where = f"channel {c}" if len(chans) > 1 else "the recording"
                warnings.append(f"{where} is very quiet (peak {20 * np.log10(survey.peak[c]):.0f} dBFS): its speech "
                                f"was found on a copy raised to {QUIET_PEAK_DB:g} dBFS")
        starts = window_starts(num, self.window, self.hop)
        ends = np.minimum(starts + self.window, num)
        # (channel, status, message, mask, fractions, used)
        plans: list[tuple[int, Status, str, SpeechMask | None, np.ndarray, list[int]]] = []
        owners: list[tuple[int, int]] = []
        for c in chans:
            if survey.peak[c] < SILENT_PEAK:
                silent = "the channel is silent" if len(chans) > 1 else "the recording is silent"
                plans.append((c, Status.NO_SPEECH, silent, None, np.zeros(len(starts)), []))
                continue
            mask = survey.mask(c) if self.use_vad else None
            if mask is not None:
                frac = np.array([mask.speech_fraction(samples_to_seconds(a, sr), samples_to_seconds(b, sr))
                                 for a, b in zip(starts, ends)])
                if mask.speech_s < self.min_speech_s:
                    plans.append((c, Status.NO_SPEECH, f"only {mask.speech_s:.2f} s of speech found",
                                  mask, frac, []))
                    continue
                used = [i for i, f in enumerate(frac) if f >= self.min_speech_fraction]
                if not used:  # speech scattered thinly: score every window that has some
                    used = [i for i, f in enumerate(frac) if f > 0]
            else:
                frac, used = np.ones(len(starts)), list(range(len(starts)))
            plans.append((c, Status.OK, "", mask, frac, used))
            owners += [(c, i) for i in used]
        speakers = {c: (mask if mask is not None else survey.mask(c)) for c, st, _, mask, _, _ in plans
                    if self.speaker and (mask is not None or st is Status.OK)}
        gains = {c: level_gain(float(survey.peak[c]), self.quiet_peak_db) for c, st, *_ in plans if st is Status.OK}
        for c, k in gains.items():
            if k > 1.0:
                where = f"channel {c}" if len(chans) > 1 else "the recording"
                warnings.append(f"{where} is quiet (peak {20 * np.log10(survey.peak[c]):.0f} dBFS): its voice is scored "
                                f"raised to {self.quiet_peak_db:g} dBFS")
        try:
            probs, spk = self._score_blocks(media, survey, owners, starts, speakers, progress, gains)
        except RuntimeError as e:  # e.g. out of memory on the device
            return self._fail(Status.MODEL_ERROR, f"the spoof model failed: {str(e)[:200]}", path,
                              warnings=tuple(warnings), **common)
        except AvsyncError as e:  # the second reading failed
            return self._fail(e.status, str(e), path, warnings=tuple(warnings), **common)
        by_owner = dict(zip(owners, probs))

        results: list[ChannelSpoof] = []
        for c, status, msg, mask, frac, used in plans:
            wins = []
            for i, a in enumerate(starts):
                b = min(int(a) + self.window, num)
                p = by_owner.get((c, i))
                wins.append(SpoofWindow(samples_to_seconds(int(a), sr), samples_to_seconds(b, sr),
                                        None if p is None else float(p), float(frac[i]), c))
            score = None
            if status is Status.OK and used:
                sc = np.array([by_owner[(c, i)] for i in used])
                weights = np.array([frac[i] * (min(int(starts[i]) + self.window, num) - starts[i]) for i in used])
                score = _aggregate(sc, weights, self.aggregation)
                if self.run_windows:  # a run of windows at or above the threshold counts with its own mean
                    run = run_score(flagged_spans(wins, self.threshold), self.run_windows)
                    score = score if run is None else max(score, run)
            bg = survey.background_db(c, mask) if mask is not None and status is Status.OK else None
            results.append(ChannelSpoof(c, status, score, tuple(wins), float(mask.speech_s) if mask else 0.0,
                                        msg, spk.get(c), bg))
        warnings += [w for w in media.info.warnings if w not in warnings]  # noticed while reading again

        scored = [r for r in results if r.score is not None]
        for r in scored:
            speech = r.speech_s if self.use_vad else duration
            where = f"channel {r.channel}: " if len(results) > 1 else ""
            if speech < SHORT_SPEECH_S:
                warnings.append(f"{where}only {math.floor(10 * speech) / 10:.1f} s of speech; real speech this short is "
                                f"flagged more often, so the score is less reliable than on {SHORT_SPEECH_S:g} s "
                                "or more")
            if r.loud_background:
                warnings.append(where + background_words(r))
        windows = tuple(w for r in results for w in r.windows)
        if not scored:
            st = results[0].status if results else Status.NO_SPEECH
            msgs = [(f"channel {r.channel}: " if len(results) > 1 else "") + r.message for r in results if r.message]
            return self._fail(st, "; ".join(msgs),
                              path, windows=windows, channels=tuple(results), warnings=tuple(warnings), **common)
        score = max(r.score for r in scored if r.score is not None)  # all of `scored`
        assert self.model is not None  # no model_error: returned above otherwise
        return SpoofResult(
            status=Status.OK, score=score, model=self.model.name, windows=windows, channels=tuple(results),
            path=path, model_sha256=self.model.bundle.sha256, threshold=self.threshold,
            flagged=bool(score >= self.threshold), aggregation=self.aggregation, run_windows=self.run_windows,
            warnings=tuple(warnings),
            precision=self.precision, **common,
        )

    def _score_blocks(self, media: Media, survey: _Survey, owners: list[tuple[int, int]], starts: np.ndarray,
                      speakers: dict[int, SpeechMask], progress: Callable[[float, float], None] | None,
                      gains: dict[int, float] | None = None) -> tuple[np.ndarray, dict[int, SpeakerEvidence]]:
        """Window probabilities (in the order of ``owners``) and speaker evidence per channel of ``speakers``."""
        from avsync.speaker.evidence import SpeakerStream, speaker_evidence

        total = samples_to_seconds(survey.num, media.sample_rate)
        if progress is not None:
            progress(0.0, total)
        if survey.audio is not None:  # one block: everything at once, from the samples read in the survey
            probs = self._predict_owned(survey.audio, owners, starts, gains)
            spk = {c: speaker_evidence(survey.audio[c], m, self.encoder, channel=c, reference=self._reference)
                   for c, m in speakers.items()}
            if progress is not None:
                progress(total, total)
            return probs, spk
        order = sorted(range(len(owners)), key=lambda j: int(starts[owners[j][1]]))
        probs = np.zeros(len(owners))
        streams = {c: SpeakerStream(self.encoder, m, survey.num, sum_squares=survey.sum_squares(c),
                                    speech_sum_squares=survey.speech_sum_squares(c, m), channel=c,
                                    reference=self._reference)
                   for c, m in speakers.items()}
        buf, buf_start, nxt = None, 0, 0
        for block in media.audio_blocks(self.block_s):
            block_start = buf_start + (0 if buf is None else buf.shape[1])
            buf = block if buf is None or buf.shape[1] == 0 else np.concatenate([buf, block], axis=1)
            end = buf_start + buf.shape[1]
            last = end >= survey.num
            ready = []
            while nxt < len(order) and (int(starts[owners[order[nxt]][1]]) + self.window <= end or last):
                ready.append(order[nxt])
                nxt += 1
            if ready:
                p = self._predict_owned(buf, [owners[j] for j in ready], starts - buf_start, gains)
                probs[ready] = p
            for c, st in streams.items():
                st.push(buf[c], buf_start, block_start)
            needed = [st.first_needed for st in streams.values()]  # drop what no window still needs
            if nxt < len(order):
                needed.append(int(starts[owners[order[nxt]][1]]))
            cut = max(0, min(needed + [end]) - buf_start)
            buf, buf_start = buf[:, cut:], buf_start + cut
            if progress is not None:
                progress(min(total, samples_to_seconds(end, media.sample_rate)), total)
            release_free_memory()  # the block's temporaries go back to the system: a flat peak however long
        return probs, {c: st.finish() for c, st in streams.items()}


SAME_AUDIO_DB = -40.0
"""Channels whose difference stays this far below channel 0's level (dB) carry the same audio."""


def _same_audio(x: np.ndarray, ref: np.ndarray) -> bool:
    """Whether channel ``x`` carries the same audio as ``ref`` in this block: equal to 1e-6, a difference that
    never reaches :data:`SILENT_PEAK` (the level below which a channel counts as silent: coding noise only), or a
    difference :data:`SAME_AUDIO_DB` below ``ref``'s energy."""
    d = x - ref
    if float(np.abs(d).max(initial=0.0)) < SILENT_PEAK:
        return True
    diff = float(np.mean(np.square(d, dtype=np.float64)))
    return diff <= 10 ** (SAME_AUDIO_DB / 10) * float(np.mean(np.square(ref, dtype=np.float64)))


@dataclass
class _Survey:
    """What the first reading of a recording finds: length, channel facts, speech probabilities per channel."""

    scorer: SpoofScorer
    num_channels: int
    num: int = 0
    peak: np.ndarray | None = None  # [C] largest |sample|
    same: list | None = None  # [C] the same audio as channel 0 throughout (:func:`_same_audio`)
    clipped: int = 0  # samples at full scale, all channels
    head: np.ndarray | None = None  # the first 60 s of the mono mix (narrowband test)
    audio: np.ndarray | None = None  # the whole recording when it fit in one block
    vad: dict | None = None  # channel -> VADStream, then -> probabilities
    cells: dict | None = None  # channel -> energy per VAD frame of 512 samples (speaker gains, background level)

    CELL = CELL_SAMPLES  # blocks are whole VAD frames (block_s is rounded to them), so cells never straddle blocks

    @classmethod
    def run(cls, scorer: SpoofScorer, media: Media) -> _Survey:
        """Read ``media`` once, block by block: length, peaks, clipping, identical channels, speech probabilities."""
        s = cls(scorer, media.num_channels)
        C = s.num_channels
        s.peak, s.same = np.zeros(C), [True] * C
        s.vad, s.cells = {}, {}
        head, head_n = [], 60 * media.sample_rate
        want_vad = (scorer.use_vad or scorer.speaker) and scorer.model_error is None
        blocks = 0
        for block in media.audio_blocks(scorer.block_s):
            blocks += 1
            s.audio = block if blocks == 1 else None
            n = block.shape[1]
            if n == 0:
                continue
            s.peak = np.maximum(s.peak, np.abs(block).max(axis=1))
            s.clipped += int(np.count_nonzero(np.abs(block) >= 0.999))
            if s.num < head_n:
                head.append(block[:, : head_n - s.num].mean(axis=0))
            for c in range(1, C):
                if s.same[c] and not _same_audio(block[c], block[0]):
                    s.same[c] = False
                    if 0 in s.vad:  # identical so far: channel 0's state and energies are its own
                        s.vad[c] = s.vad[0].copy()
                    if 0 in s.cells:
                        s.cells[c] = list(s.cells[0])
            for c in [c for c in range(C) if c == 0 or not s.same[c]]:  # identical channels: channel 0's
                if want_vad:
                    s.vad.setdefault(c, scorer.vad.stream()).push(block[c])
                if want_vad:  # the speaker encoder's volume gains and the background under the voice
                    s.cells.setdefault(c, []).append(_cell_energy(block[c], cls.CELL))
            s.num += n
            if blocks > 1:
                release_free_memory()  # as in the scoring pass (SpoofScorer._score_blocks)
        s.head = np.concatenate(head) if head else np.zeros(0, np.float32)
        s.vad = {c: v.finish() for c, v in s.vad.items()}
        return s

    def raise_quiet_vad(self, media: Media, channels: list[int]) -> list[int]:
        """Find the speech of each of ``channels`` (quiet ones) again on a copy raised to :data:`QUIET_PEAK_DB` dBFS
        (:func:`level_gain`; the VAD's level, whatever the scorer's ``quiet_peak_db``): from the samples kept in one
        block, or by reading the recording once more. Returns the channels whose speech was found again (a channel
        that carries channel 0's audio shares channel 0's probabilities)."""
        assert self.vad is not None and self.peak is not None  # set by run
        todo = [c for c in channels if c in self.vad]
        if not todo:
            return []
        gains = {c: np.float32(level_gain(float(self.peak[c]), QUIET_PEAK_DB)) for c in todo}
        streams = {c: self.scorer.vad.stream() for c in todo}
        blocks = [self.audio] if self.audio is not None else media.audio_blocks(self.scorer.block_s)
        for block in blocks:
            for c in todo:
                streams[c].push(block[c] * gains[c])
        for c in todo:
            self.vad[c] = streams[c].finish()
        return todo

    def mask(self, c: int) -> SpeechMask:
        """Speech segments of channel ``c`` (channel 0's when ``c`` carries the same audio)."""
        assert self.vad is not None  # set by run
        probs = self.vad[c if c in self.vad else 0]
        return self.scorer.vad.mask(probs, self.num)

    def background_db(self, c: int, mask: SpeechMask) -> float | None:
        """:func:`background_db` of channel ``c`` (its 512-sample cells and speech segments)."""
        assert self.cells is not None  # set by run
        cells = self.cells.get(c if c in self.cells else 0)
        if not cells:
            return None
        return background_db(np.concatenate(cells), self.CELL / DEFAULT_SAMPLE_RATE, mask.segments)

    def sum_squares(self, c: int) -> float:
        """Energy of channel ``c`` (for the speaker encoder's volume gain)."""
        assert self.cells is not None  # set by run
        return float(sum(np.sum(x) for x in self.cells[c if c in self.cells else 0]))

    def speech_sum_squares(self, c: int, mask: SpeechMask) -> float:
        """Energy of channel ``c`` inside the speech segments of ``mask``: whole 512-sample cells, and the
        covered share of a cell a segment starts or ends in (for the speaker encoder's volume gain)."""
        assert self.cells is not None  # set by run
        cells = np.concatenate(self.cells[c if c in self.cells else 0])
        csum = np.concatenate([[0.0], np.cumsum(cells, dtype=np.float64)])

        def upto(x: int) -> float:  # energy of samples [0, x), the last cell pro rata
            i = min(x // self.CELL, len(cells))
            part = (x - i * self.CELL) / self.CELL if i < len(cells) else 0.0
            return float(csum[i] + part * (cells[i] if i < len(cells) else 0.0))

        return sum(upto(int(round(b * DEFAULT_SAMPLE_RATE))) - upto(int(round(a * DEFAULT_SAMPLE_RATE)))
                   for a, b in mask.segments)


def background_words(ch: ChannelSpoof) -> str:
    """What a loud background under a channel's voice means for its score, in words."""
    return (f"music or noise about {ch.background_db:.0f} dB under the voice: under a bed this loud the voice check "
            "misses more synthetic voices and flags more real ones")


def _cell_energy(x: np.ndarray, cell: int) -> np.ndarray:
    """Energy of ``x`` per ``cell`` samples (the last cell may be shorter)."""
    n = len(x) // cell * cell
    e = np.square(x[:n].reshape(-1, cell), dtype=np.float64).sum(axis=1)
    if n < len(x):
        e = np.append(e, np.square(x[n:], dtype=np.float64).sum())
    return e


def score_spoof(
    src: str | os.PathLike | bytes | Media,
    *,
    model: str = DEFAULT_MODEL,
    device: str = "auto",
    reference: str | os.PathLike | None = None,
    **options: Any,
) -> SpoofResult:
    """Score one recording for synthetic speech (see :class:`SpoofScorer` for ``options``).

    Returns
    -------
    SpoofResult
        ``score`` = probability that the speech is synthetic (0..1), per-window timeline, per-channel
        results and a status.
    """
    return SpoofScorer(model, device=device, reference=reference, **options)(src)
