"""Device names: 'auto', 'cpu', 'cuda[:N]'; a missing GPU is a ConfigError with a hint, never an internal error."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from avsync.device import resolve_device
from avsync.errors import ConfigError


@pytest.fixture
def no_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)


def test_cpu_and_auto_without_cuda(no_cuda):
    assert resolve_device("cpu") == "cpu"
    assert resolve_device("auto") == "cpu"
    assert resolve_device(None) == "cpu"
    assert resolve_device(torch.device("cpu")) == "cpu"


@pytest.mark.parametrize("name", ["cuda", "cuda:0"])
def test_missing_cuda_is_a_config_error(no_cuda, name):
    with pytest.raises(ConfigError, match="no CUDA device") as e:
        resolve_device(name)
    assert "--device cpu" in (e.value.hint or "")


def test_cuda_index_is_checked(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    assert resolve_device("auto") == "cuda"
    assert resolve_device("cuda:0") == "cuda:0"
    for bad in ("cuda:1", "cuda:x"):
        with pytest.raises(ConfigError, match="1 CUDA device"):
            resolve_device(bad)


def test_models_refuse_a_missing_gpu_cleanly(no_cuda, tmp_path):
    from avsync.pipeline import Detector
    from avsync.spoof import SpoofScorer
    from avsync.vad import VAD

    with pytest.raises(ConfigError):
        SpoofScorer("aasist", device="cuda")
    with pytest.raises(ConfigError):
        VAD(device="cuda")
    with pytest.raises(ConfigError):
        Detector(device="cuda")


def test_cli_spoof_on_a_missing_gpu_exits_with_a_message(no_cuda, tmp_path):
    from avsync_cli.main import cli
    from click.testing import CliRunner

    from avsync.synth import write_audio

    wav = tmp_path / "a.wav"
    write_audio(wav, (0.1 * np.random.default_rng(0).standard_normal(32000)).astype(np.float32), 16000)
    r = CliRunner().invoke(cli, ["spoof", str(wav), "--device", "cuda"])
    assert r.exit_code == 1 and "no CUDA device" in r.output and "internal error" not in r.output
