"""The CUDA path: every analysis gives the CPU's numbers on a GPU, at float32 and bfloat16.

Skipped without a CUDA device (the CPU path is what the rest of the suite checks); run on a machine with a
GPU: ``pytest tests/test_cuda.py``. cuDNN may use TF32 in convolutions, so probabilities agree to about 1e-3,
not to the bit; the tolerances below are well above that and well below anything that moves a verdict.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from avsync.pipeline import Detector

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(),
                                reason="no CUDA device: the GPU path is checked on a machine with one")

FACE = dict(face="photo", size=(320, 320), duration=6.0, timbre="vowel")


def _voice(seconds: float = 9.0, sr: int = 16000) -> np.ndarray:
    """A voiced, formant-shaped buzz with syllable-like loudness: speech enough for the spoof networks."""
    from avsync.synth import burst_audio

    times = np.arange(0.2, seconds - 0.3, 0.31)
    return burst_audio(times, seconds, sr, freq=140.0, timbre="vowel").astype(np.float32)


def _probs(result) -> np.ndarray:
    return np.array([w.score for w in result.windows], dtype=np.float64)


@pytest.mark.parametrize("model", ["aasist-hifigan-kokoro-piper", "aasist-hifigan-kokoro", "aasist-hifigan", "aasist-avsync", "lcnn-spoof"])
def test_spoof_scorer_on_cuda_matches_cpu(model, tmp_path):
    from avsync.spoof.scorer import SpoofScorer
    from avsync.synth import write_audio

    path = write_audio(tmp_path / "voice.wav", _voice(), 16000)
    cpu = SpoofScorer(model, device="cpu", vad=False)(path)
    gpu = SpoofScorer(model, device="cuda", vad=False)(path)
    assert cpu.status is gpu.status and str(cpu.status) == "ok", cpu
    assert len(gpu.windows) == len(cpu.windows) > 1
    np.testing.assert_allclose(_probs(gpu), _probs(cpu), atol=5e-3)
    assert gpu.score == pytest.approx(cpu.score, abs=5e-3)
    bf16 = SpoofScorer(model, device="cuda", vad=False, precision="bfloat16")(path)
    np.testing.assert_allclose(_probs(bf16), _probs(cpu), atol=0.05)


@pytest.mark.parametrize("sync_model", ["syncnet", "motion"])
def test_detector_on_cuda_matches_cpu(clip, sync_model):
    path = clip("cuda_shifted", offset_s=0.32, **FACE)
    cpu = Detector(device="cpu", sync_model=sync_model, spoof_model=False)(path)
    gpu = Detector(device="cuda", sync_model=sync_model, spoof_model=False)(path)
    assert gpu.label is cpu.label and gpu.status is cpu.status
    assert gpu.score == pytest.approx(cpu.score, abs=0.02)
    assert {c.name for c in gpu.cues} == {c.name for c in cpu.cues}
    for c in cpu.cues:
        g = gpu.cue(c.name)
        assert g is not None and g.status is c.status, c.name
        if c.score is not None:
            assert g.score == pytest.approx(c.score, abs=0.02), c.name
    off_cpu, off_gpu = cpu.details["sync"]["offset_frames"], gpu.details["sync"]["offset_frames"]
    assert (off_cpu is None) == (off_gpu is None) and (off_cpu is None or abs(off_gpu - off_cpu) <= 1)
    assert any(m.name for m in gpu.provenance.models)


def test_voice_path_on_cuda_matches_cpu(tmp_path):
    from avsync.synth import write_audio
    from avsync.training import spoof_data as sd

    rng = np.random.default_rng(0)  # speech the detector's VAD keeps (the buzz of _voice is no speech to it)
    speech = [sd.tts_espeak(sd.HARVARD[k], rng) for k in range(3)]
    if any(s is None for s in speech):
        pytest.skip("espeak-ng not installed (apt-get install espeak-ng; scripts/setup.sh does)")
    path = write_audio(tmp_path / "voice.wav", np.concatenate(speech), sd.SR)
    cpu = Detector(device="cpu")(str(path))
    gpu = Detector(device="cuda")(str(path))
    assert cpu.status.value == "ok" and cpu.score is not None, cpu.reasons
    assert gpu.label is cpu.label and gpu.status is cpu.status
    assert gpu.score == pytest.approx(cpu.score, abs=0.02)
    for c in cpu.cues:
        g = gpu.cue(c.name)
        assert g is not None and g.status is c.status, c.name
        assert c.score is None or g.score == pytest.approx(c.score, abs=0.02), c.name
