"""GE2E speaker encoder (Wan et al. 2018) compatible with the weights shipped in ``resemblyzer`` 0.1.4.

Our own implementation: the ``resemblyzer`` package is never imported (its declared dependencies
do not install on Python 3.11); only its ``pretrained.pt`` is read, with ``weights_only=True``,
through the ``ge2e-resemblyzer`` bundle (``pip install resemblyzer==0.1.4 --no-deps`` provides it).

Front end, as resemblyzer's ``wav_to_mel_spectrogram``: 16 kHz mono, power mel spectrogram
(not log), 40 Slaney-normalised mel bands over 0–8 kHz, 400-sample (25 ms) periodic Hann window,
160-sample (10 ms) hop, centred frames with zero padding. Utterances are cut into partials of
160 frames (1.6 s) at 1.3 partials per second; the utterance embedding is the L2-normalised mean
of the partial embeddings. Volume is normalised to -30 dBFS (increase only). resemblyzer trims
long silences with webrtcvad; we keep only the speech found by :mod:`avsync.vad` instead.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Literal

import numpy as np

from avsync.device import resolve_device
from avsync.results import Status

__all__ = [
    "SAMPLE_RATE",
    "PARTIAL_FRAMES",
    "HOP_SAMPLES",
    "mel_filterbank",
    "GE2E",
    "SpeakerEncoder",
    "normalize_volume",
]

SAMPLE_RATE = 16000
N_FFT = 400
HOP_SAMPLES = 160
N_MELS = 40
PARTIAL_FRAMES = 160
"""Mel frames per partial utterance (1.6 s)."""


def _hz_to_mel_slaney(f: float | np.ndarray) -> np.ndarray:
    f = np.asarray(f, dtype=np.float64)
    f_sp = 200.0 / 3
    mels = f / f_sp
    min_log_hz = 1000.0
    min_log_mel = min_log_hz / f_sp
    logstep = np.log(6.4) / 27.0
    return np.where(f >= min_log_hz, min_log_mel + np.log(np.maximum(f, 1e-10) / min_log_hz) / logstep, mels)


def _mel_to_hz_slaney(m: float | np.ndarray) -> np.ndarray:
    m = np.asarray(m, dtype=np.float64)
    f_sp = 200.0 / 3
    freqs = f_sp * m
    min_log_hz = 1000.0
    min_log_mel = min_log_hz / f_sp
    logstep = np.log(6.4) / 27.0
    return np.where(m >= min_log_mel, min_log_hz * np.exp(logstep * (m - min_log_mel)), freqs)


def mel_filterbank(sr: int = SAMPLE_RATE, n_fft: int = N_FFT, n_mels: int = N_MELS) -> np.ndarray:
    """Slaney-style, area-normalised triangular mel filters ``[n_mels, n_fft // 2 + 1]`` (float32)."""
    fftfreqs = np.fft.rfftfreq(n_fft, 1.0 / sr)
    mel_f = _mel_to_hz_slaney(np.linspace(_hz_to_mel_slaney(0.0), _hz_to_mel_slaney(sr / 2.0), n_mels + 2))
    fdiff = np.diff(mel_f)
    ramps = mel_f[:, None] - fftfreqs[None, :]
    lower = -ramps[:-2] / fdiff[:-1, None]
    upper = ramps[2:] / fdiff[1:, None]
    weights = np.maximum(0.0, np.minimum(lower, upper))
    weights *= (2.0 / (mel_f[2 : n_mels + 2] - mel_f[:n_mels]))[:, None]
    return weights.astype(np.float32)


def volume_gain(sum_squares: float, num_samples: int, target_dbfs: float = -30.0) -> float | None:
    """The factor :func:`normalize_volume` applies to a signal with this energy, ``None`` when it leaves it as is."""
    rms = float(np.sqrt(sum_squares / num_samples)) if num_samples else 0.0
    if rms <= 0:
        return None
    change = target_dbfs - 20 * np.log10(rms)
    return None if change < 0 else float(10 ** (change / 20))


def apply_gain(wav: np.ndarray, gain: float | None) -> np.ndarray:
    """``wav`` times ``gain`` as float32 (a gain from :func:`volume_gain`); ``None`` returns ``wav`` unchanged."""
    return wav if gain is None else (wav * gain).astype(np.float32)


def normalize_volume(wav: np.ndarray, target_dbfs: float = -30.0) -> np.ndarray:
    """Scale ``wav`` up (never down) so that its RMS is ``target_dbfs``; silence is returned as is."""
    return apply_gain(wav, volume_gain(float(np.sum(np.square(wav, dtype=np.float64))), len(wav), target_dbfs))


def _module():
    import torch
    from torch import nn

    class GE2E(nn.Module):
        """3-layer LSTM (40 → 256), linear 256 → 256, ReLU, L2 normalisation.

        ``forward(mels [B, frames, 40]) → embeddings [B, 256]`` (non-negative, unit norm).
        """

        def __init__(self):
            super().__init__()
            self.lstm = nn.LSTM(N_MELS, 256, 3, batch_first=True)
            self.linear = nn.Linear(256, 256)

        def forward(self, mels: torch.Tensor) -> torch.Tensor:
            """Embeddings ``[B, 256]`` (non-negative, unit L2 norm) of mel partials ``[B, frames, 40]``."""
            _, (hidden, _) = self.lstm(mels)
            e = torch.relu(self.linear(hidden[-1]))
            return e / torch.linalg.vector_norm(e, dim=1, keepdim=True).clamp_min(1e-12)

    return GE2E


def __getattr__(name: str):  # lazy torch import: `from avsync.speaker.ge2e import GE2E`
    if name == "GE2E":
        return _module()
    raise AttributeError(name)


class SpeakerEncoder:
    """Inference wrapper of :class:`GE2E`: mel front end, partial slicing, batching, device.

    Parameters
    ----------
    device
        Torch device.
    weights
        Explicit ``pretrained.pt`` path or models directory (default: the ``ge2e-resemblyzer`` bundle).
    allow_download
        Passed to the bundle resolver (this bundle has no URL; kept for symmetry).
    """

    bundle_name = "ge2e-resemblyzer"

    def __init__(self, *, device: str = "cpu", weights: str | None = None, allow_download: bool = False):
        import torch

        from avsync.bundles import get_bundle, load_state_dict
        from avsync.errors import BundleError

        self.bundle = get_bundle(self.bundle_name)
        ckpt = load_state_dict(self.bundle, path=weights, allow_download=allow_download)
        sd = ckpt.get("model_state", ckpt) if isinstance(ckpt, dict) else ckpt
        sd = {k: v for k, v in sd.items() if k.startswith(("lstm.", "linear."))}
        self.net = _module()()
        try:
            self.net.load_state_dict(sd, strict=True)
        except RuntimeError as e:
            raise BundleError(f"GE2E weights do not fit the network: {str(e)[:300]}", status=Status.MODEL_ERROR) from None
        device = resolve_device(device)
        self.net.eval().to(device)
        self.device = device
        self._fb = torch.from_numpy(mel_filterbank())
        self._window = torch.hann_window(N_FFT, periodic=True, dtype=torch.float64)

    def mel(self, wav: np.ndarray) -> np.ndarray:
        """Power mel spectrogram ``[frames, 40]`` of a 16 kHz waveform (``1 + T // 160`` frames)."""
        import torch

        x = torch.as_tensor(np.asarray(wav, np.float32)).double()
        spec = torch.stft(x, N_FFT, HOP_SAMPLES, N_FFT, self._window, center=True, pad_mode="constant",
                          return_complex=True)
        power = spec.real**2 + spec.imag**2  # [201, frames]
        return (self._fb.double() @ power).float().T.contiguous().numpy()

    @staticmethod
    def partial_slices(n_samples: int, *, rate: float = 1.3, min_coverage: float = 0.75) -> list[slice]:
        """Mel-frame slices of the partial utterances of a ``n_samples`` waveform (resemblyzer's rule)."""
        n_frames = int(np.ceil((n_samples + 1) / HOP_SAMPLES))
        step = max(1, int(np.round((SAMPLE_RATE / rate) / HOP_SAMPLES)))
        steps = max(1, n_frames - PARTIAL_FRAMES + step + 1)
        slices = [slice(i, i + PARTIAL_FRAMES) for i in range(0, steps, step)]
        last = slices[-1]
        coverage = (n_samples - last.start * HOP_SAMPLES) / (PARTIAL_FRAMES * HOP_SAMPLES)
        if coverage < min_coverage and len(slices) > 1:
            slices = slices[:-1]
        return slices

    def embed_mels(self, mels: np.ndarray, *, batch_size: int = 64) -> np.ndarray:
        """``[P, frames, 40]`` mel partials → ``[P, 256]`` unit-norm embeddings."""
        return self._embed(mels, batch_size=batch_size)

    def _embed(self, items: np.ndarray | Sequence[Any], *, batch_size: int = 64,
               cut: Callable[[Any], np.ndarray] | None = None) -> np.ndarray:
        """Embeddings ``[N, 256]`` of mel partials ``[N, frames, 40]``, or of ``N`` items that ``cut`` turns into one
        partial each, ``batch_size`` per forward pass (:func:`avsync.inference.run_batched`)."""
        from avsync.inference import run_batched

        return run_batched(self.net, items, batch_size=batch_size, device=self.device, cut=cut, dtype=np.float32,
                           empty=np.zeros((0, 256), np.float32))

    def embed_utterance(self, wav: np.ndarray, *, normalize: bool = True) -> np.ndarray:
        """``[256]`` unit-norm embedding of a 16 kHz waveform (L2-normalised mean of its partials).

        ``normalize`` applies the -30 dBFS volume normalisation first.
        """
        wav = np.asarray(wav, np.float32).reshape(-1)
        if normalize:
            wav = normalize_volume(wav)
        e = self.embed_partials(wav).mean(axis=0)
        return (e / max(np.linalg.norm(e), 1e-12)).astype(np.float32)

    def embed_partials(self, wav: np.ndarray) -> np.ndarray:
        """``[P, 256]`` embeddings of the partial utterances of a (volume-normalised) waveform."""
        slices = self.partial_slices(len(wav))
        need = slices[-1].stop * HOP_SAMPLES
        if need >= len(wav):
            wav = np.pad(wav, (0, need - len(wav)))
        mel = self.mel(wav)
        return self.embed_mels(np.stack([mel[s] for s in slices]))

    def embed_windows(
        self, wav: np.ndarray, starts: np.ndarray, *, gain: float | None | Literal["auto"] = "auto"
    ) -> np.ndarray:
        """Embeddings ``[W, 256]`` of the 1.6 s windows starting at sample indices ``starts`` (zero-padded).

        ``gain``: ``"auto"`` normalises the volume of ``wav`` as a whole (:func:`normalize_volume`); a
        number (or ``None``, no change) applies the gain of a longer recording ``wav`` is a part of.
        """
        wav = np.asarray(wav, np.float32).reshape(-1)
        wav = normalize_volume(wav) if gain == "auto" else apply_gain(wav, gain)
        n = PARTIAL_FRAMES * HOP_SAMPLES
        if len(starts) == 0:
            return np.zeros((0, 256), np.float32)
        padded = np.pad(wav, (0, n))
        # the mel partials are cut batch by batch (one batch of them in memory, however many windows)
        return self._embed(starts, cut=lambda s: self.mel(padded[s : s + n - 1])[:PARTIAL_FRAMES])
