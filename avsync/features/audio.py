"""Audio features computed with torch (CPU or GPU): MFCC, log-mel and LFCC.

All functions take a waveform ``[..., T]`` (numpy array or tensor, any leading batch shape) and
return a tensor ``[..., N, D]``: ``N`` analysis frames (time first), ``D`` coefficients. They run on
the device and in the floating dtype of the input (numpy input becomes a CPU tensor; pass float64
for bit-level comparisons with numpy references).

:func:`mfcc` follows the conventions of ``python_speech_features`` 0.6 exactly (the features that
SyncNet and Light-ASD were trained on): pre-emphasis 0.97, rectangular 25 ms frames every 10 ms
starting at sample 0 with the last frame zero-padded, 512-point power spectrum divided by ``nfft``,
26 triangular mel filters on integer FFT bins, natural log, orthonormal DCT-II, sinusoidal lifter 22,
and ``c0`` replaced by the log of the total frame energy. Those networks were fed 16-bit integer
PCM, so pass ``waveform * 32768`` (or use ``pcm_scale``) to reproduce their inputs.
"""

from __future__ import annotations

import decimal
import math
from typing import Literal

import numpy as np
import torch

from avsync.errors import ConfigError

__all__ = [
    "dct_matrix",
    "frame_energy",
    "lfcc",
    "linear_filterbank",
    "log_mel",
    "mfcc",
    "num_psf_frames",
    "psf_mel_filterbank",
    "slaney_mel_filterbank",
]

_EPS64 = float(np.finfo(float).eps)  # python_speech_features replaces exact zeros by this


def _as_tensor(x: np.ndarray | torch.Tensor, dtype: torch.dtype | None = None) -> torch.Tensor:
    t = torch.as_tensor(x)
    if not torch.is_floating_point(t):
        t = t.to(torch.float32)
    return t if dtype is None else t.to(dtype)


def _round_half_up(x: float) -> int:
    return int(decimal.Decimal(x).quantize(decimal.Decimal("1"), rounding=decimal.ROUND_HALF_UP))


def num_psf_frames(num_samples: int, frame_len: int, frame_step: int) -> int:
    """Number of frames ``python_speech_features`` makes of ``num_samples`` (at least 1)."""
    if num_samples <= frame_len:
        return 1
    return 1 + int(math.ceil((num_samples - frame_len) / frame_step))


def dct_matrix(
    n_in: int, n_out: int, *, dtype: torch.dtype = torch.float32, device: torch.device | str | None = None
) -> torch.Tensor:
    """Orthonormal DCT-II matrix ``[n_in, n_out]``: ``y = x @ D`` equals ``scipy.fft.dct(x, norm='ortho')[..., :n_out]``."""
    n = torch.arange(n_in, dtype=torch.float64)
    k = torch.arange(n_out, dtype=torch.float64)
    d = torch.cos(math.pi / n_in * (n[:, None] + 0.5) * k[None, :]) * math.sqrt(2.0 / n_in)
    d[:, 0] /= math.sqrt(2.0)
    return d.to(dtype=dtype, device=device)


def psf_mel_filterbank(
    n_filters: int = 26, n_fft: int = 512, sample_rate: int = 16000, f_min: float = 0.0, f_max: float | None = None
) -> np.ndarray:
    """Triangular mel filters of ``python_speech_features`` ``[n_filters, n_fft // 2 + 1]`` (HTK mel, integer bins)."""
    f_max = f_max or sample_rate / 2
    if f_max > sample_rate / 2:
        raise ConfigError("f_max is above the Nyquist frequency")

    def hz2mel(hz: float | np.ndarray):
        return 2595 * np.log10(1 + hz / 700.0)

    def mel2hz(mel: float | np.ndarray):
        return 700 * (10 ** (mel / 2595.0) - 1)

    mels = np.linspace(hz2mel(f_min), hz2mel(f_max), n_filters + 2)
    bins = np.floor((n_fft + 1) * mel2hz(mels) / sample_rate)
    fb = np.zeros((n_filters, n_fft // 2 + 1))
    for j in range(n_filters):
        lo, mid, hi = bins[j], bins[j + 1], bins[j + 2]
        for i in range(int(lo), int(mid)):
            fb[j, i] = (i - lo) / (mid - lo)
        for i in range(int(mid), int(hi)):
            fb[j, i] = (hi - i) / (hi - mid)
    return fb


def slaney_mel_filterbank(
    n_mels: int = 80, n_fft: int = 512, sample_rate: int = 16000, f_min: float = 0.0, f_max: float | None = None
) -> np.ndarray:
    """Slaney-style mel filters with area normalisation ``[n_mels, n_fft // 2 + 1]`` (librosa's default)."""
    f_max = f_max or sample_rate / 2
    f_sp, min_log_hz = 200.0 / 3, 1000.0
    min_log_mel, logstep = min_log_hz / f_sp, math.log(6.4) / 27.0

    def hz2mel(f: float | np.ndarray) -> np.ndarray:
        f = np.asarray(f, float)
        return np.where(f >= min_log_hz, min_log_mel + np.log(np.maximum(f, 1e-10) / min_log_hz) / logstep, f / f_sp)

    def mel2hz(m: float | np.ndarray) -> np.ndarray:
        m = np.asarray(m, float)
        return np.where(m >= min_log_mel, min_log_hz * np.exp(logstep * (m - min_log_mel)), f_sp * m)

    fft_freqs = np.linspace(0, sample_rate / 2, n_fft // 2 + 1)
    mel_f = mel2hz(np.linspace(hz2mel(f_min), hz2mel(f_max), n_mels + 2))
    return _triangles(fft_freqs, mel_f, area_norm=True)


def linear_filterbank(
    n_filters: int = 20, n_fft: int = 512, sample_rate: int = 16000, f_min: float = 0.0, f_max: float | None = None
) -> np.ndarray:
    """Linearly spaced triangular filters (peak 1) ``[n_filters, n_fft // 2 + 1]`` used by :func:`lfcc`."""
    f_max = f_max or sample_rate / 2
    fft_freqs = np.linspace(0, sample_rate / 2, n_fft // 2 + 1)
    edges = np.linspace(f_min, f_max, n_filters + 2)
    return _triangles(fft_freqs, edges, area_norm=False)


def _triangles(fft_freqs: np.ndarray, edges: np.ndarray, *, area_norm: bool) -> np.ndarray:
    fdiff = np.diff(edges)
    ramps = edges[:, None] - fft_freqs[None, :]
    lower = -ramps[:-2] / fdiff[:-1, None]
    upper = ramps[2:] / fdiff[1:, None]
    w = np.maximum(0, np.minimum(lower, upper))
    if area_norm:
        w *= (2.0 / (edges[2:] - edges[:-2]))[:, None]
    return w


def _psf_power_frames(x: torch.Tensor, sample_rate: int, win_s: float, step_s: float, n_fft: int, preemph: float):
    """Pre-emphasis, framing and power spectrum as ``python_speech_features.fbank`` does: ``[..., N, n_fft//2+1]``."""
    if preemph:
        x = torch.cat([x[..., :1], x[..., 1:] - preemph * x[..., :-1]], dim=-1)
    flen, fstep = _round_half_up(win_s * sample_rate), _round_half_up(step_s * sample_rate)
    n = num_psf_frames(x.shape[-1], flen, fstep)
    pad = (n - 1) * fstep + flen - x.shape[-1]
    x = torch.nn.functional.pad(x, (0, pad))
    frames = x.unfold(-1, flen, fstep)  # [..., N, flen]
    spec = torch.fft.rfft(frames, n=n_fft, dim=-1)
    return (spec.real**2 + spec.imag**2) / n_fft


def mfcc(
    waveform: np.ndarray | torch.Tensor,
    sample_rate: int = 16000,
    *,
    n_ceps: int = 13,
    n_filters: int = 26,
    n_fft: int = 512,
    win_s: float = 0.025,
    step_s: float = 0.010,
    f_min: float = 0.0,
    f_max: float | None = None,
    preemph: float = 0.97,
    ceplifter: int = 22,
    append_energy: bool = True,
    pcm_scale: float = 1.0,
) -> torch.Tensor:
    """MFCC with the conventions of ``python_speech_features.mfcc`` (SyncNet, Light-ASD).

    Parameters
    ----------
    waveform
        ``[..., T]`` audio samples (numpy or tensor; float or integer PCM).
    sample_rate
        Rate of ``waveform`` in Hz.
    n_ceps, n_filters, n_fft
        Coefficients kept, mel filters, FFT size.
    win_s, step_s
        Frame length and hop in seconds (25 ms / 10 ms: 100 frames per second).
    preemph, ceplifter
        Pre-emphasis coefficient (0: none) and lifter length (0: none).
    append_energy
        Replace ``c0`` with the log of the total frame energy.
    pcm_scale
        Multiply the waveform by this first (``32768`` turns [-1, 1] floats into 16-bit PCM units,
        the scale the public SyncNet / Light-ASD checkpoints were trained with).

    Returns
    -------
    torch.Tensor
        ``[..., N, n_ceps]`` with ``N = 1 + ceil((T - win) / step)`` frames; frame ``i`` covers
        samples ``[i * step, i * step + win)``.
    """
    x = _as_tensor(waveform)
    if pcm_scale != 1.0:
        x = x * pcm_scale
    pspec = _psf_power_frames(x, sample_rate, win_s, step_s, n_fft, preemph)
    energy = pspec.sum(-1)
    energy = torch.where(energy == 0, torch.full_like(energy, _EPS64), energy)
    fb = torch.as_tensor(psf_mel_filterbank(n_filters, n_fft, sample_rate, f_min, f_max), dtype=x.dtype, device=x.device)
    feat = pspec @ fb.T
    feat = torch.where(feat == 0, torch.full_like(feat, _EPS64), feat)
    cep = torch.log(feat) @ dct_matrix(n_filters, n_ceps, dtype=x.dtype, device=x.device)
    if ceplifter > 0:
        k = torch.arange(n_ceps, dtype=torch.float64)
        lift = (1 + (ceplifter / 2.0) * torch.sin(math.pi * k / ceplifter)).to(dtype=x.dtype, device=x.device)
        cep = cep * lift
    if append_energy:
        cep = torch.cat([torch.log(energy)[..., None], cep[..., 1:]], dim=-1)
    return cep


def _stft_power(x: torch.Tensor, n_fft: int, win_length: int, hop_length: int, center: bool, power: float):
    lead = x.shape[:-1]
    flat = x.reshape(-1, x.shape[-1])
    window = torch.hann_window(win_length, periodic=True, dtype=x.dtype, device=x.device)
    spec = torch.stft(
        flat, n_fft, hop_length=hop_length, win_length=win_length, window=window, center=center,
        pad_mode="constant", return_complex=True,
    )  # [B, F, N]
    mag = spec.abs() ** power
    return mag.transpose(-1, -2).reshape(*lead, mag.shape[-1], mag.shape[-2])  # [..., N, F]


def log_mel(
    waveform: np.ndarray | torch.Tensor,
    sample_rate: int = 16000,
    *,
    n_mels: int = 80,
    n_fft: int = 512,
    win_length: int = 400,
    hop_length: int = 160,
    f_min: float = 0.0,
    f_max: float | None = None,
    power: float = 2.0,
    center: bool = True,
    eps: float = 1e-6,
) -> torch.Tensor:
    """Log mel spectrogram ``log(mel + eps)`` (Hann window, Slaney mel filters as librosa's defaults).

    Parameters
    ----------
    waveform
        ``[..., T]`` audio in [-1, 1].
    sample_rate
        Hz.
    n_mels, n_fft, win_length, hop_length
        Mel bands and STFT settings in samples (defaults: 25 ms / 10 ms at 16 kHz).
    center
        Zero-pad ``n_fft // 2`` on both sides so that frame ``i`` is centred on sample ``i * hop``.

    Returns
    -------
    torch.Tensor
        ``[..., N, n_mels]`` natural-log energies.
    """
    x = _as_tensor(waveform)
    p = _stft_power(x, n_fft, win_length, hop_length, center, power)
    fb = torch.as_tensor(slaney_mel_filterbank(n_mels, n_fft, sample_rate, f_min, f_max), dtype=x.dtype, device=x.device)
    return torch.log(p @ fb.T + eps)


def lfcc(
    waveform: np.ndarray | torch.Tensor,
    sample_rate: int = 16000,
    *,
    n_lfcc: int = 20,
    n_filters: int = 20,
    n_fft: int = 512,
    win_length: int = 320,
    hop_length: int = 160,
    f_min: float = 0.0,
    f_max: float | None = None,
    center: bool = True,
    eps: float = 1e-6,
) -> torch.Tensor:
    """Linear-frequency cepstral coefficients (ASVspoof-style front end).

    Power spectrum (Hann window, 20 ms / 10 ms at 16 kHz by default), linearly spaced triangular
    filters, ``log(energy + eps)``, orthonormal DCT-II, first ``n_lfcc`` coefficients.

    Returns
    -------
    torch.Tensor
        ``[..., N, n_lfcc]``.
    """
    if n_lfcc > n_filters:
        raise ConfigError(f"n_lfcc ({n_lfcc}) cannot exceed n_filters ({n_filters})")
    x = _as_tensor(waveform)
    p = _stft_power(x, n_fft, win_length, hop_length, center, 2.0)
    fb = torch.as_tensor(linear_filterbank(n_filters, n_fft, sample_rate, f_min, f_max), dtype=x.dtype, device=x.device)
    return torch.log(p @ fb.T + eps) @ dct_matrix(n_filters, n_lfcc, dtype=x.dtype, device=x.device)


def frame_energy(
    waveform: np.ndarray | torch.Tensor,
    sample_rate: int = 16000,
    *,
    fps: float = 25.0,
    num_frames: int | None = None,
    kind: Literal["rms_db", "rms"] = "rms_db",
    align: Literal["start", "center"] = "start",
) -> torch.Tensor:
    """Audio energy per video frame.

    With ``align="start"`` frame ``k`` covers samples ``[k * sr / fps, (k + 1) * sr / fps)`` (the
    frame is held from its presentation time on); with ``align="center"`` it covers the frame
    period centred on its presentation time ``k / fps``.

    Parameters
    ----------
    waveform
        ``[..., T]`` audio in [-1, 1].
    fps
        Video frame rate the energies are aligned to.
    num_frames
        Number of frames to return (zero-padded audio beyond its end); default: as many as fit.
    kind
        ``"rms_db"``: RMS in dB full scale (floor −100 dB); ``"rms"``: linear RMS.
    align
        ``"start"`` or ``"center"`` (see above).

    Returns
    -------
    torch.Tensor
        ``[..., K]``.
    """
    x = _as_tensor(waveform)
    hop = sample_rate / fps
    if num_frames is None:
        num_frames = int(math.floor(x.shape[-1] / hop + 1e-9))
    shift = 0.5 if align == "center" else 0.0
    bounds = [max(0, int(round((k - shift) * hop))) for k in range(num_frames + 1)]
    need = bounds[-1] - x.shape[-1]
    if need > 0:
        x = torch.nn.functional.pad(x, (0, need))
    sq = torch.nn.functional.pad(torch.cumsum(x.to(torch.float64) ** 2, -1), (1, 0))
    b = torch.as_tensor(bounds, device=x.device)
    lengths = (b[1:] - b[:-1]).clamp(min=1).to(torch.float64)
    ms = (sq[..., b[1:]] - sq[..., b[:-1]]).clamp(min=0) / lengths
    rms = ms.sqrt()
    if kind == "rms":
        return rms.to(x.dtype)
    return (20 * torch.log10(rms.clamp(min=1e-5))).to(x.dtype)
