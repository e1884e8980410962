"""AASIST / AASIST-L / RawGAT-ST: parity with the original code's outputs, batching, polarity."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from avsync.spoof.nets import AASIST, AASISTConfig, RawGATST, spoof_probability

N = 64600


def _inputs():
    rng = np.random.default_rng(0)
    noise = (0.1 * rng.standard_normal(N)).astype(np.float32)
    sine = (0.5 * np.sin(2 * np.pi * 440 * np.arange(N) / 16000)).astype(np.float32)
    return torch.from_numpy(np.stack([noise, sine]))


CASES = [
    ("aasist", "aasist_reference.json", "AASIST"),
    ("aasist-l", "aasist_reference.json", "AASIST-L"),
    ("aasist-asvspoof5", "aasist_reference.json", "AASIST_asvspoof5_best"),
    ("rawgat-st-mul", "other_spoof_reference.json", "RawGAT_ST_mul"),
    ("rawgat-st-add", "other_spoof_reference.json", "RawGAT_ST_add"),
    ("rawgat-st-cat", "other_spoof_reference.json", "RawGAT_ST_cat"),
]


@pytest.mark.shared
@pytest.mark.parametrize("name,ref_file,key", CASES)
def test_parity_with_public_reference(shared, name, ref_file, key):
    from avsync.spoof.models import load_spoof_model

    torch.manual_seed(0)
    ref = json.loads((shared / "weights" / "reference" / ref_file).read_text())[key]
    model = load_spoof_model(name, weights=str(shared / "weights"))
    x = _inputs()
    with torch.inference_mode():
        if isinstance(model.net, AASIST):
            hidden, logits = model.net.forward_features(x)
            want_h = np.array([ref["noise_seed0_std0.1"]["last_hidden[:8]"], ref["sine440Hz_amp0.5"]["last_hidden[:8]"]])
            np.testing.assert_allclose(hidden[:, :8].numpy(), want_h, atol=1e-4)
        else:
            logits = model.net(x)
    want = np.array([ref["noise_seed0_std0.1"]["logits[spoof,bonafide]"], ref["sine440Hz_amp0.5"]["logits[spoof,bonafide]"]])
    np.testing.assert_allclose(logits.numpy(), want, atol=1e-4)
    assert sum(p.numel() for p in model.net.parameters()) == ref["nparams_module"]
    # one polarity: probability of spoof = softmax of the spoof logit (index 0)
    p = model.predict(x.numpy())
    np.testing.assert_allclose(p, torch.softmax(torch.tensor(want), -1)[:, 0].numpy(), atol=1e-4)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.mark.parametrize("make,length", [(lambda: AASIST(AASISTConfig.light()), 16000), (lambda: RawGATST("cat"), N)])
def test_batched_equals_one_by_one(make, length):
    torch.manual_seed(0)
    net = make().eval()
    x = torch.from_numpy(np.random.default_rng(1).standard_normal((2, length)).astype(np.float32) * 0.1)
    with torch.inference_mode():
        batch = net(x)
        single = torch.cat([net(x[i : i + 1]) for i in range(2)])
    assert batch.shape == (2, 2)
    torch.testing.assert_close(batch, single, atol=1e-4, rtol=1e-4)


def test_spoof_probability_polarity():
    logits = torch.tensor([[5.0, -5.0], [-5.0, 5.0], [0.0, 0.0]])  # [spoof, bona fide]
    p = spoof_probability(logits).numpy()
    assert p[0] > 0.99 and p[1] < 0.01 and abs(p[2] - 0.5) < 1e-6


def test_rawgat_rejects_unknown_fusion():
    with pytest.raises(ValueError):
        RawGATST("sum")


# ------------------------------------------------------------------ inference fast paths
def random_bn(bn: torch.nn.BatchNorm2d, g: torch.Generator) -> None:
    """Give ``bn`` random affine parameters and running statistics (also used by test_spoof_cpu_kernels)."""
    c = bn.num_features
    with torch.no_grad():
        bn.weight.copy_(1 + 0.3 * torch.randn(c, generator=g))
        bn.bias.copy_(0.3 * torch.randn(c, generator=g))
        bn.running_mean.copy_(0.5 * torch.randn(c, generator=g))
        bn.running_var.copy_(0.5 + torch.rand(c, generator=g))


@pytest.mark.parametrize("in_ch,out_ch,first,rawgat", [(1, 32, True, False), (32, 32, False, False),
                                                        (32, 64, False, False), (1, 32, True, True)])
def test_residual_block_inference_path_equals_the_layers(in_ch, out_ch, first, rawgat):
    """Eval mode folds bn2 into the convolution, convolves one-channel inputs as a matrix product
    and pools with strided maxima: the same function as the plain layers."""
    from avsync.spoof.layers import ResidualBlock2d

    g = torch.Generator().manual_seed(in_ch + out_ch + rawgat)
    block = ResidualBlock2d(in_ch, out_ch, first=first, rawgat=rawgat).eval()
    random_bn(block.bn2, g)
    x = torch.randn(2, in_ch, 7, 50, generator=g)
    conv = block.conv_1 if (rawgat and first) else block.conv1
    ref = block.conv2(F.selu(block.bn2(conv(x))))
    ref = F.max_pool2d(ref + (x if block.conv_downsample is None else block.conv_downsample(x)), (1, 3))
    with torch.inference_mode():
        got = block(x)
        got_cl = block(x.contiguous(memory_format=torch.channels_last))
    torch.testing.assert_close(got, ref, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(got_cl, ref, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("in_ch,out_ch,first,rawgat", [(1, 32, True, False), (32, 32, False, False),
                                                        (32, 64, False, False), (1, 32, True, True)])
@pytest.mark.parametrize("width", [48, 61, 62])
def test_residual_block_tiled_along_time_equals_the_layers(monkeypatch, in_ch, out_ch, first, rawgat, width):
    """Wide inputs run in stretches along time (each with the neighbours its convolutions read): the same
    function as the plain layers at both edges, between stretches and with a pooling remainder."""
    import avsync.spoof.layers as layers

    g = torch.Generator().manual_seed(in_ch + out_ch + rawgat + width)
    block = layers.ResidualBlock2d(in_ch, out_ch, first=first, rawgat=rawgat).eval()
    random_bn(block.bn2, g)
    with torch.no_grad():
        for p in block.parameters():  # nonzero biases everywhere: a zero-padding slip shows at the edges
            p.add_(0.2 * torch.randn(p.shape, generator=g))
    x = torch.randn(2, in_ch, 5, width, generator=g)
    conv = block.conv_1 if (rawgat and first) else block.conv1
    ref = block.conv2(F.selu(block.bn2(conv(x))))
    ref = F.max_pool2d(ref + (x if block.conv_downsample is None else block.conv_downsample(x)), (1, 3))
    monkeypatch.setattr(layers, "TIME_TILE", 12)  # 4 pooled outputs per stretch
    calls = []
    tiled = layers.ResidualBlock2d._forward_tiled
    monkeypatch.setattr(layers.ResidualBlock2d, "_forward_tiled", lambda *a: calls.append(1) or tiled(*a))
    with torch.inference_mode():
        got = block(x)
        got_cl = block(x.contiguous(memory_format=torch.channels_last))
    assert len(calls) == 2
    torch.testing.assert_close(got, ref, atol=1e-4, rtol=1e-4)  # float rounding of sums of ~200 terms
    torch.testing.assert_close(got_cl, ref, atol=1e-4, rtol=1e-4)


def test_aasist_tiled_inference_equals_whole_width(monkeypatch):
    """The tiled CPU path at its default stretch gives the logits of the whole-width path."""
    import avsync.spoof.layers as layers

    torch.manual_seed(0)
    net = AASIST().eval()
    x = 0.1 * torch.randn(2, 64600, generator=torch.Generator().manual_seed(3))
    with torch.inference_mode():
        tiled = net(x)
        monkeypatch.setattr(layers, "TIME_TILE", 10**9)
        whole = net(x)
    torch.testing.assert_close(tiled, whole, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("padding", [(0, 0), (1, 1), (0, 1)])
@pytest.mark.parametrize("kernel", [(2, 3), (1, 3)])
def test_single_channel_convolution_equals_conv2d(padding, kernel):
    from avsync.spoof.layers import conv2d_single_channel

    g = torch.Generator().manual_seed(1)
    x, w, b = torch.randn(3, 1, 6, 40, generator=g), torch.randn(8, 1, *kernel, generator=g), torch.randn(8, generator=g)
    torch.testing.assert_close(conv2d_single_channel(x, w, b, padding), F.conv2d(x, w, b, padding=padding))
    torch.testing.assert_close(conv2d_single_channel(x, w, None, padding), F.conv2d(x, w, padding=padding))


@pytest.mark.parametrize("channels_last", [False, True])
def test_strided_max_pools_equal_max_pool2d(channels_last):
    from avsync.spoof.layers import max_pool_2d, max_pool_last

    x = torch.randn(2, 4, 11, 37, generator=torch.Generator().manual_seed(2))
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    assert torch.equal(max_pool_last(x, 3), F.max_pool2d(x, (1, 3)))
    assert torch.equal(max_pool_2d(x, 3), F.max_pool2d(x, (3, 3)))
    assert torch.equal(max_pool_2d(x, (2, 1)), F.max_pool2d(x, (2, 1)))
    assert torch.equal(max_pool_2d(x, (2, 3)), F.max_pool2d(x, (2, 3)))
    if channels_last:
        assert max_pool_last(x, 3).is_contiguous(memory_format=torch.channels_last)


def test_lcnn_inference_with_batch_norm_folded_is_the_plain_network():
    """SpoofLCNN in eval mode folds each batch norm into its convolution where every scale of it is positive (a block
    with a negative scale runs as it is) and pools by strided maxima: the same logits as the plain layers; training
    runs the plain layers."""
    from avsync.spoof.lcnn import SpoofLCNN

    torch.manual_seed(0)
    net = SpoofLCNN()
    blocks = [m for m in net.features if isinstance(m, torch.nn.Sequential)]
    for i, m in enumerate(blocks):
        bn = m[2]
        bn.running_mean.uniform_(-1, 1)
        bn.running_var.uniform_(0.5, 2)
        bn.weight.data.uniform_(0.2, 1.5)
        bn.bias.data.uniform_(-0.5, 0.5)
        if i == 2:
            bn.weight.data[0] = -0.7  # this block cannot be folded: max(s·a, s·b) != s·max(a, b) for s < 0
    x = torch.randn(3, 64600, generator=torch.Generator().manual_seed(1)) * 0.1
    net.eval()
    with torch.inference_mode():
        fast = net(x)
        net.fast_inference = False
        plain = net(x)
    torch.testing.assert_close(fast, plain, atol=1e-5, rtol=1e-5)
    net.train()
    net.fast_inference = True
    net(x).sum().backward()  # the plain layers: gradients reach every convolution
    assert all(m[0].weight.grad is not None for m in blocks)
