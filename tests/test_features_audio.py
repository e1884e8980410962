"""Audio features against python_speech_features, librosa and hand-computed references."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.fft
import torch

from avsync.features.audio import (
    dct_matrix,
    frame_energy,
    lfcc,
    linear_filterbank,
    log_mel,
    mfcc,
    num_psf_frames,
    psf_mel_filterbank,
    slaney_mel_filterbank,
)


@pytest.fixture(scope="module")
def signal():
    rng = np.random.default_rng(0)
    x = 0.3 * rng.standard_normal(16000 + 1234)
    x[:3000] = 0.0  # digital silence: exercises the eps floor of log energies
    t = np.arange(len(x)) / 16000
    x[8000:] += 0.4 * np.sin(2 * np.pi * 440 * t[8000:])
    return x


def _numpy_psf_mfcc(x, sr=16000):
    """Hand-written python_speech_features 0.6 pipeline (numpy float64), used when the package is absent."""
    x = np.append(x[0], x[1:] - 0.97 * x[:-1])
    flen, step = 400, 160
    n = num_psf_frames(len(x), flen, step)
    x = np.concatenate([x, np.zeros((n - 1) * step + flen - len(x))])
    frames = np.stack([x[i * step : i * step + flen] for i in range(n)])
    p = np.abs(np.fft.rfft(frames, 512)) ** 2 / 512
    energy = p.sum(1)
    energy[energy == 0] = np.finfo(float).eps
    feat = p @ psf_mel_filterbank(26, 512, sr).T
    feat[feat == 0] = np.finfo(float).eps
    c = scipy.fft.dct(np.log(feat), type=2, axis=1, norm="ortho")[:, :13]
    c *= 1 + 11 * np.sin(np.pi * np.arange(13) / 22)
    c[:, 0] = np.log(energy)
    return c


@pytest.mark.parametrize("scale", [1.0, 32768.0])
def test_mfcc_matches_python_speech_features(signal, scale):
    psf = pytest.importorskip("python_speech_features", reason="the reference implementation (the dev extra) is "
                              "not installed; test_mfcc_hand_pipeline_agrees checks the same formulas by hand")
    ref = psf.mfcc(signal * scale, 16000, numcep=13, winlen=0.025, winstep=0.01)
    out = mfcc(signal, 16000, pcm_scale=scale)
    assert out.dtype == torch.float64
    assert out.shape == ref.shape == (num_psf_frames(len(signal), 400, 160), 13)
    np.testing.assert_allclose(out.numpy(), ref, atol=1e-9, rtol=0)
    # float32 input stays close (what the models use)
    out32 = mfcc(signal.astype(np.float32), 16000, pcm_scale=scale)
    assert out32.dtype == torch.float32
    np.testing.assert_allclose(out32.numpy(), ref, atol=2e-4, rtol=1e-5)


def test_mfcc_hand_pipeline_agrees(signal):
    np.testing.assert_allclose(mfcc(signal).numpy(), _numpy_psf_mfcc(signal), atol=1e-9)


def test_mfcc_batched_equals_single(signal):
    x = np.stack([signal, signal[::-1].copy(), 0.5 * signal])
    batch = mfcc(x)
    for i in range(3):
        np.testing.assert_allclose(batch[i].numpy(), mfcc(x[i]).numpy(), atol=1e-10)


def test_mfcc_short_input_has_one_frame():
    assert mfcc(np.ones(100)).shape == (1, 13)


def test_dct_matrix_is_scipy_ortho_dct():
    x = np.random.default_rng(1).standard_normal((4, 26))
    ref = scipy.fft.dct(x, type=2, axis=1, norm="ortho")[:, :13]
    np.testing.assert_allclose(x @ dct_matrix(26, 13, dtype=torch.float64).numpy(), ref, atol=1e-12)


def test_log_mel_matches_librosa(signal):
    librosa = pytest.importorskip("librosa")
    ref = librosa.feature.melspectrogram(
        y=signal, sr=16000, n_fft=512, hop_length=160, win_length=400, window="hann", center=True,
        pad_mode="constant", power=2.0, n_mels=80,
    )
    np.testing.assert_allclose(slaney_mel_filterbank(80, 512, 16000), librosa.filters.mel(sr=16000, n_fft=512, n_mels=80), atol=1e-7)
    out = log_mel(signal, 16000)
    assert out.shape == (ref.shape[1], 80)
    np.testing.assert_allclose(out.numpy(), np.log(ref + 1e-6).T, atol=1e-6)


def test_lfcc_hand_computed(signal):
    x = signal[:4000]
    win = np.hanning(321)[:-1]  # periodic Hann, 20 ms
    xp = np.pad(x, 256)
    n = 1 + (len(xp) - 512) // 160
    frames = np.stack([xp[i * 160 : i * 160 + 512] for i in range(n)])
    w = np.zeros(512)
    w[96 : 96 + 320] = win  # centred in the FFT frame, as torch.stft pads the window
    p = np.abs(np.fft.rfft(frames * w, 512)) ** 2
    fb = linear_filterbank(20, 512, 16000)
    # the filters are triangles with peak 1 at linearly spaced centres
    centres = np.linspace(0, 8000, 22)[1:-1]
    freqs = np.linspace(0, 8000, 257)
    for j in (0, 7, 19):
        assert freqs[np.argmax(fb[j])] == pytest.approx(centres[j], abs=8000 / 256)
    ref = scipy.fft.dct(np.log(p @ fb.T + 1e-6), type=2, axis=1, norm="ortho")[:, :20]
    out = lfcc(x, 16000)
    assert out.shape == ref.shape
    np.testing.assert_allclose(out.numpy(), ref, atol=1e-6)


def test_frame_energy_alignment():
    sr, fps = 16000, 25.0
    x = np.zeros(sr, np.float32)
    x[640 * 10 : 640 * 11] = 0.5  # exactly video frame 10's period [0.40, 0.44)
    e = frame_energy(x, sr, fps=fps, kind="rms")
    assert e.shape == (25,)
    assert int(torch.argmax(e)) == 10 and float(e[10]) == pytest.approx(0.5, rel=1e-5)
    c = frame_energy(x, sr, fps=fps, kind="rms", align="center")
    # centred frames straddle: frames 10 and 11 each see half of the burst
    assert float(c[10]) == pytest.approx(float(c[11]), rel=1e-5) and float(c[9]) == 0 and float(c[12]) == 0
    db = frame_energy(np.zeros(1000), sr, fps=fps)
    assert torch.all(db == -100)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_features_on_gpu_match_cpu(signal):
    x = torch.from_numpy(signal.astype(np.float32))
    for fn in (mfcc, log_mel, lfcc):
        cpu = fn(x)
        gpu = fn(x.cuda())
        assert gpu.is_cuda
        torch.testing.assert_close(gpu.cpu(), cpu, atol=2e-3, rtol=1e-4)
