"""Device names: 'auto', 'cpu', 'cuda[:N]'; a missing GPU is a ConfigError with a hint, never an internal error.
The CPU allocator tuning that the command applies."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from avsync.device import ALLOCATOR_ENV, ALLOCATOR_KEEP_BYTES, resolve_device, tune_cpu_allocator
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


def test_cli_device_cuda_without_a_gpu_exits_as_a_usage_error(no_cuda, tmp_path, capsys):
    """Exit 2 (usage / configuration), not 1 ("an input could not be read"): the input was never opened."""
    from avsync.synth import write_audio
    from avsync_cli.main import main

    path = write_audio(tmp_path / "a.wav", np.zeros(16000, np.float32), 16000)
    with pytest.raises(SystemExit) as e:
        main(["analyze", str(path), "--device", "cuda"])  # the error escapes the command: main() decides
    assert e.value.code == 2 and "no CUDA device" in capsys.readouterr().err


@pytest.mark.parametrize("name", ["gpu", "tpu", ""])
def test_an_unknown_device_name_is_a_config_error(name):
    with pytest.raises(ConfigError, match="unknown device"):
        resolve_device(name)


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
    assert r.exit_code == 2 and "no CUDA device" in r.output and "internal error" not in r.output  # a usage error


_GLIBC = sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"

# a child that allocates and frees a 24 MiB array (under the 32 MiB that every glibc accepts as
# threshold) and prints how much of it stays resident (MiB)
_KEPT = """
import os
import numpy as np
from avsync.device import tune_cpu_allocator
def rss():
    return int(open("/proc/self/statm").read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
print(tune_cpu_allocator())
before = rss()
a = np.ones(6 << 20, dtype=np.float32); del a
print(round(rss() - before))
"""


def _kept_mib(setting: str) -> tuple[str, int]:
    root = str(Path(__file__).resolve().parents[1])  # this checkout first, then whatever the caller's path adds
    path = os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH", "")) if p)
    env = {**os.environ, ALLOCATOR_ENV: setting, "PYTHONPATH": path}
    out = subprocess.run([sys.executable, "-c", _KEPT], env=env, capture_output=True, text=True, check=True)
    applied, kept = out.stdout.split()
    return applied, int(kept)


@pytest.mark.skipif(not _GLIBC, reason="the allocator tuning applies to glibc only")
def test_allocator_tuning_keeps_freed_memory_for_reuse():
    # without the tuning glibc maps a 24 MiB block afresh and unmaps it when freed (the next one
    # page-faults and is zeroed again); with it the block comes from the heap and stays for reuse
    applied, kept = _kept_mib("1")
    assert applied == "True" and kept >= 22
    applied, kept = _kept_mib("0")
    assert applied == "False" and kept < 8


def test_allocator_thresholds_fall_back_where_glibc_caps_them():
    from avsync.device import _GLIBC_MMAP_CAP, _M_MMAP_THRESHOLD, _M_TRIM_THRESHOLD, _set_thresholds

    def fake(cap):
        calls = []

        def mallopt(param, value):
            calls.append((param, value))
            return int(param != _M_MMAP_THRESHOLD or value <= cap)

        return mallopt, calls

    mallopt, calls = fake(cap=1 << 40)  # a glibc that takes 256 MiB
    assert _set_thresholds(mallopt) == ALLOCATOR_KEEP_BYTES
    assert calls == [(_M_MMAP_THRESHOLD, ALLOCATOR_KEEP_BYTES), (_M_TRIM_THRESHOLD, ALLOCATOR_KEEP_BYTES)]
    mallopt, calls = fake(cap=_GLIBC_MMAP_CAP)  # one that caps the mmap threshold at 32 MiB
    assert _set_thresholds(mallopt) == _GLIBC_MMAP_CAP and calls[-1] == (_M_TRIM_THRESHOLD, _GLIBC_MMAP_CAP)
    mallopt, calls = fake(cap=0)  # one that refuses everything: nothing half-applied
    assert _set_thresholds(mallopt) == 0 and all(p == _M_MMAP_THRESHOLD for p, _ in calls)


def test_allocator_tuning_can_be_switched_off(monkeypatch):
    monkeypatch.setenv(ALLOCATOR_ENV, "off")
    assert tune_cpu_allocator() is False


def test_the_command_tunes_the_allocator(monkeypatch):
    import avsync_cli.main as cli_main
    from click.testing import CliRunner

    calls = []
    monkeypatch.setattr(cli_main, "tune_cpu_allocator", lambda: calls.append(1) or True)
    r = CliRunner().invoke(cli_main.cli, ["models", "list", "--json"])
    assert r.exit_code == 0, r.output
    assert calls == [1]


def test_limit_omp_spinning_only_before_torch_and_never_over_the_users_setting():
    code = ("import os, sys; {pre}from avsync.device import limit_omp_spinning; "
            "print(limit_omp_spinning(), os.environ.get('GOMP_SPINCOUNT'))")
    env = {k: v for k, v in os.environ.items() if k not in ("GOMP_SPINCOUNT", "OMP_WAIT_POLICY")}
    run = lambda pre, **extra: subprocess.run([sys.executable, "-c", code.format(pre=pre)], capture_output=True,  # noqa: E731
                                              text=True, env={**env, **extra}, check=True).stdout.split()
    assert run("") == ["True", "2000"]
    assert run("import torch; ") == ["False", "None"]  # libgomp already loaded: too late, left alone
    assert run("", GOMP_SPINCOUNT="50") == ["False", "50"]
    # the command sets it for itself and its workers
    out = subprocess.run([sys.executable, "-c", "import os, sys; from avsync_cli.main import cli; "
                          "sys.argv = ['avsync', 'models', 'path']; "
                          "cli.main(standalone_mode=False); print(os.environ.get('GOMP_SPINCOUNT'))"],
                         capture_output=True, text=True, env=env, check=True).stdout.split()
    assert out[-1] == "2000"
