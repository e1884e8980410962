"""Fused bfloat16 CPU kernels of the spoof encoders: each kernel against the float32 layers it
replaces, the residual blocks and a whole network against float32 and eager bfloat16, the switches."""

from __future__ import annotations

import multiprocessing as mp
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch.nn import functional as F

pytest.importorskip("numba", reason="the fused CPU kernels need numba")

from test_spoof_nets import random_bn

from avsync.spoof import cpu_kernels as ck
from avsync.spoof.layers import ResidualBlock2d, SincFilterBank
from avsync.spoof.nets import AASIST, AASISTConfig, RawGATST

pytestmark = pytest.mark.usefixtures("one_torch_thread")
ROOT = Path(__file__).resolve().parents[1]
ULP = 2.0**-8  # bfloat16 keeps 8 significant bits: rounding moves a value by at most half of this, relatively


@pytest.fixture(autouse=True)
def _kernels_on():
    ck.set_enabled(True)
    yield
    ck.set_enabled(None)


def _g(seed):
    return torch.Generator().manual_seed(seed)


def _bf16(*shape, seed, scale=1.0):
    return (scale * torch.randn(*shape, generator=_g(seed))).to(torch.bfloat16)


# ------------------------------------------------------------------ kernels against the float32 layers
# widths above the kernels' 1024-column chunks (and not multiples of 3), batch of 2
def test_conv_selu_single_channel():
    x = _bf16(2, 1, 5, 2100, seed=1)
    w, b = torch.randn(8, 1, 2, 3, generator=_g(2)), torch.randn(8, generator=_g(3))
    got = ck.conv_selu_single_channel(x, w, b)
    ref = F.selu(F.conv2d(x.float(), w, b, padding=(1, 1)))
    assert got.dtype == torch.bfloat16 and got.shape == ref.shape == (2, 8, 6, 2100)
    assert got.is_contiguous(memory_format=torch.channels_last)
    # conv rounded to bfloat16, SELU of that, rounded again: within two units in the last place
    torch.testing.assert_close(got.float(), ref, rtol=2 * ULP, atol=1e-6)
    with pytest.raises(ValueError, match="kernel"):
        ck.conv_selu_single_channel(x, torch.randn(8, 1, 1, 3), b)


@pytest.mark.parametrize("identity", [False, True])
def test_skip_add_pool(identity):
    y, x = _bf16(2, 8, 5, 3104, seed=4), _bf16(2, 1, 5, 3104, seed=5)
    w, b = torch.randn(8, 1, 1, 3, generator=_g(6)), torch.randn(8, generator=_g(7))
    skip = x.float() if identity else F.conv2d(x.float(), w, b, padding=(0, 1))
    ref = F.max_pool2d(y.float() + skip, (1, 3))
    got = ck.skip_add_pool(y, x, None, None) if identity else ck.skip_add_pool(y, x, w, b)
    assert got.shape == ref.shape == (2, 8, 5, 1034) and got.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(got.float(), ref, rtol=ULP, atol=1e-6)  # rounded once


def test_add_pool_is_exact():
    y, s = _bf16(2, 16, 3, 3110, seed=8), _bf16(2, 16, 3, 3110, seed=9)
    y = y.contiguous(memory_format=torch.channels_last)
    ref = F.max_pool2d(y.float() + s.float(), (1, 3)).to(torch.bfloat16)  # float32 sum and maximum, one rounding
    got = ck.add_pool(y, s)
    assert got.shape == ref.shape and torch.equal(got.view(torch.int16), ref.contiguous().view(torch.int16))


def test_selu_in_place_equals_eager_selu():
    specials = torch.tensor([0.0, -0.0, 1e-30, -1e-30, 3e38, -3e38, -90.0, 90.0]).to(torch.bfloat16)
    for x in (_bf16(2, 24, 4, 300, seed=10, scale=3.0), _bf16(2, 24, 4, 300, seed=11, scale=3.0).contiguous(
            memory_format=torch.channels_last), specials):
        ref = F.selu(x.clone())
        out = ck.selu_(x)
        assert out is x and torch.equal(x.view(torch.int16), ref.view(torch.int16))
    strided = _bf16(4, 40, seed=12)[:, ::2]  # neither layout: eager fallback, still in place
    ref = F.selu(strided.clone())
    assert torch.equal(ck.selu_(strided), ref)


def test_filter_bank_and_abs_pool_bn_selu():
    sinc = SincFilterBank(70, 128)
    x = 0.1 * torch.randn(2, 4000, generator=_g(13))
    bank = ck.filter_bank(x, sinc.filters)
    assert bank.dtype == torch.bfloat16 and bank.shape == (2, 4000 - 129 + 1, 70)
    # the same products as conv1d of the bfloat16-rounded operands, accumulated in float32
    ref_bank = F.conv1d(x.to(torch.bfloat16).float().unsqueeze(1), sinc.filters.to(torch.bfloat16).float())
    torch.testing.assert_close(bank.float(), ref_bank.transpose(1, 2), rtol=ULP, atol=1e-6)

    bn = torch.nn.BatchNorm2d(1).eval()
    with torch.no_grad():
        bn.weight.fill_(1.7), bn.bias.fill_(-0.2), bn.running_mean.fill_(0.01), bn.running_var.fill_(0.004)
    got = ck.abs_pool_bn_selu(bank, bn)
    with torch.no_grad():
        ref = F.selu(bn(F.max_pool2d(bank.float().transpose(1, 2).unsqueeze(1).abs(), 3)))
    assert got.shape == ref.shape == (2, 1, 23, (4000 - 128) // 3)
    torch.testing.assert_close(got.float(), ref, rtol=2 * ULP, atol=1e-6)
    with pytest.raises(ValueError, match="one-channel"):
        ck.abs_pool_bn_selu(bank, torch.nn.BatchNorm2d(2))


# ------------------------------------------------------------------ layers and networks
def _error(fn, ref):
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
        return (fn().float() - ref).abs().max().item()


def _count_kernel_calls(monkeypatch):
    calls = []
    real = ck._run
    monkeypatch.setattr(ck, "_run", lambda name, *a: (calls.append(name), real(name, *a)))
    return calls


@pytest.mark.parametrize("in_ch,out_ch,first,rawgat", [(1, 32, True, False), (32, 32, False, False),
                                                        (32, 64, False, False), (1, 32, True, True)])
def test_residual_block_fused_is_as_close_to_float32_as_eager_bfloat16(monkeypatch, in_ch, out_ch, first, rawgat):
    g = _g(in_ch + out_ch + rawgat)
    block = ResidualBlock2d(in_ch, out_ch, first=first, rawgat=rawgat).eval()
    random_bn(block.bn2, g)
    x = torch.randn(2, in_ch, 7, 2500, generator=g).contiguous(memory_format=torch.channels_last)
    with torch.inference_mode():
        ref = block(x)
    calls = _count_kernel_calls(monkeypatch)
    fused = _error(lambda: block(x.to(torch.bfloat16)), ref)
    assert calls, "the bfloat16 block did not take the fused kernels"
    ck.set_enabled(False)
    eager = _error(lambda: block(x.to(torch.bfloat16)), ref)
    assert set(calls) == ({"conv_selu", "skip_pool"} if in_ch == 1 else {"lookup", "add_pool"})
    assert fused <= 1.25 * eager + 1e-3, (fused, eager)


@pytest.mark.parametrize("make", [lambda: AASIST(AASISTConfig.light()), lambda: RawGATST("mul")])
def test_network_logits_fused_vs_eager_bfloat16(monkeypatch, make):
    torch.manual_seed(0)
    net = make().eval()
    x = 0.1 * torch.randn(2, 64600, generator=_g(21))
    with torch.inference_mode():
        ref = net(x)
    calls = _count_kernel_calls(monkeypatch)
    fused = _error(lambda: net(x), ref)
    assert "abs_pool_affine_lookup" in calls and "conv_selu" in calls
    ck.set_enabled(False)
    eager = _error(lambda: net(x), ref)
    assert fused <= 1.5 * eager + 0.02, (fused, eager)


# ------------------------------------------------------------------ when the kernels apply
def test_applies_only_without_gradients_to_bfloat16_on_cpu(monkeypatch):
    xb, xf = torch.zeros(1, 1, 2, 3, dtype=torch.bfloat16), torch.zeros(1, 1, 2, 3)
    with torch.inference_mode():
        assert ck.applies(xb) and not ck.applies(xf)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            assert ck.applies(xf)
        ck.set_enabled(False)
        assert not ck.applies(xb)
        ck.set_enabled(None)
        monkeypatch.setenv(ck.ENV, "0")
        assert not ck.enabled() and not ck.applies(xb)
        monkeypatch.setenv(ck.ENV, "1")
        assert ck.enabled()
    assert not ck.applies(xb)  # gradients on: the kernels have no backward


def test_kernels_use_torch_thread_count():
    """numba runs with torch's thread count, and torch keeps its setting when numba starts its pool
    (with the OpenMP layer that pool is often torch's own runtime, and starting it resets the count).
    A fresh process, so that the pool starts inside the test."""
    code = (
        "import torch, numba\n"
        "from avsync.spoof import cpu_kernels as ck\n"
        "torch.set_num_threads(1)\n"
        "with torch.inference_mode():\n"
        "    ck.selu_(torch.randn(100).to(torch.bfloat16))\n"
        "print(torch.get_num_threads(), numba.get_num_threads())\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
           "NUMBA_NUM_THREADS": "2", ck.ENV: "1"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300, check=False)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["1", "1"]


def _child_enabled(_):
    return ck.enabled()


@pytest.mark.skipif(sys.platform != "linux", reason="fork start method")
def test_forked_child_of_a_user_falls_back_to_eager():
    ck.selu_(_bf16(100, seed=3))  # this process has used the kernels (and numba's OpenMP pool)
    with mp.get_context("fork").Pool(1) as pool:
        assert pool.map(_child_enabled, [0]) == [False]
    assert ck.enabled()
