"""Building blocks shared by the raw-waveform graph-attention anti-spoofing networks.

Tensors in, tensors out; no I/O. Attribute names follow the public checkpoints' state-dict keys
so that they load with ``strict=True``.
"""

from __future__ import annotations

from typing import cast

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

import avsync.spoof.cpu_kernels as cpu_kernels
from avsync.torch_ops import fold_batchnorm, max_pool_2d, max_pool_last

__all__ = [
    "conv2d_single_channel", "fold_batchnorm", "max_pool_last", "max_pool_2d", "SincFilterBank", "ResidualBlock2d",
    "GraphAttention", "HeteroGraphAttention", "TopKGraphPool",
]


TIME_TILE = 3072
"""Input samples along time per stretch of the tiled CPU inference of :class:`ResidualBlock2d` (float32; wider
inputs only)."""


def _hz_to_mel(hz: np.ndarray) -> np.ndarray:
    return 2595.0 * np.log10(1.0 + hz / 700.0)


def _mel_to_hz(mel: np.ndarray) -> np.ndarray:
    return 700.0 * (10.0 ** (mel / 2595.0) - 1.0)


class SincFilterBank(nn.Module):
    """Fixed band-pass sinc filters on a mel-spaced grid (a 1-D convolution, no learnable weights).

    Bands split the mel range of ``[0, sample_rate / 2]`` (on a 257-point grid) into
    ``out_channels`` equal parts; each filter is the difference of two ideal low-pass sincs,
    Hamming-windowed. An even ``kernel_size`` is made odd (symmetric filters).

    Input ``[B, 1, T]`` → output ``[B, out_channels, T - kernel_size + 1]`` (no padding).
    """

    filters: torch.Tensor  # buffer [out_channels, 1, kernel_size]

    def __init__(self, out_channels: int, kernel_size: int, *, sample_rate: int = 16000):
        super().__init__()
        k = kernel_size + 1 if kernel_size % 2 == 0 else kernel_size
        self.out_channels, self.kernel_size, self.sample_rate = out_channels, k, sample_rate
        grid = (sample_rate // 2) * np.linspace(0.0, 1.0, 257)
        mel = _hz_to_mel(grid)
        edges = _mel_to_hz(np.linspace(mel.min(), mel.max(), out_channels + 1))
        # float32 support and sinc argument, float64 band edges: the exact arithmetic of the
        # public code, so that checkpoints trained with it reproduce to float32 precision
        t = torch.arange(-(k - 1) / 2, (k - 1) / 2 + 1)
        window = torch.tensor(np.hamming(k), dtype=torch.float32)
        bank = torch.empty(out_channels, k)
        for i in range(out_channels):
            lo, hi = edges[i], edges[i + 1]
            high = (2 * hi / sample_rate) * np.sinc((t * float(2 * hi) / sample_rate).numpy())
            low = (2 * lo / sample_rate) * np.sinc((t * float(2 * lo) / sample_rate).numpy())
            bank[i] = window * torch.tensor(high - low, dtype=torch.float32)
        self.register_buffer("filters", bank.unsqueeze(1), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv1d(x, self.filters)


class ResidualBlock2d(nn.Module):
    """Residual block of the AASIST / RawGAT-ST encoders, ``[B, C_in, F, T] → [B, C_out, F, T // 3]``.

    Parameters
    ----------
    in_ch, out_ch
        Channels.
    first
        The first block of an encoder skips the pre-activation.
    rawgat
        RawGAT-ST layout: every block holds a ``conv_1`` (1 → out_ch), used by the first block
        only (its input has one channel and is added to the output by broadcasting); the other
        blocks use ``conv1``.

    Notes
    -----
    In eval mode (``fast_inference``, the default) ``bn2`` is folded into the first convolution,
    one-channel inputs are convolved as a matrix product and the pooling is a strided maximum:
    the same function, 1.4–2x faster on CPU (docs/spoof.md, "Speed"). bfloat16 inputs on CPU
    take fused kernels for everything between the convolutions (:mod:`avsync.spoof.cpu_kernels`).

    As in the public code that trained these checkpoints, the pre-activation ``bn1`` + SELU of a
    non-first block is computed on a discarded branch: the first convolution reads the block input
    directly. ``bn1`` is kept only so that the checkpoints load; it does not affect the output.
    """

    def __init__(self, in_ch: int, out_ch: int, *, first: bool = False, rawgat: bool = False):
        super().__init__()
        if not first:
            self.bn1 = nn.BatchNorm2d(in_ch)  # loaded, not used (see Notes)
        if rawgat:
            self.conv_1 = nn.Conv2d(1, out_ch, kernel_size=(2, 3), padding=(1, 1))
        if not (rawgat and first):
            self.conv1 = nn.Conv2d(in_ch, out_ch, kernel_size=(2, 3), padding=(1, 1))
        self._conv_name = "conv_1" if (rawgat and first) else "conv1"
        self.fast_inference = True  # False: eval mode runs the plain layers (benchmarks' baseline)
        self.bn2 = nn.BatchNorm2d(out_ch)
        self.conv2 = nn.Conv2d(out_ch, out_ch, kernel_size=(2, 3), padding=(0, 1))
        self.conv_downsample = (
            nn.Conv2d(in_ch, out_ch, kernel_size=(1, 3), padding=(0, 1)) if in_ch != out_ch else None
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        conv = getattr(self, self._conv_name)
        down = self.conv_downsample
        if self.training or not self.fast_inference:  # the layers as published
            out = self.conv2(F.selu(self.bn2(conv(x))))
            skip = x if down is None else down(x)
            return F.max_pool2d(out + skip, (1, 3))
        if cpu_kernels.applies(x) and conv.kernel_size == (2, 3) and conv.padding == (1, 1):
            return self._forward_fused(x, conv, down)
        if x.device.type == "cpu" and x.shape[-1] >= 2 * TIME_TILE and self._tileable(conv, down):
            return self._forward_tiled(x, conv, down)
        # inference: bn2 folded into the convolution (one pass less over the largest tensors), and
        # single-channel inputs convolved as one matrix product (oneDNN is slow on them)
        conv_fn = conv2d_single_channel if x.shape[1] == 1 else F.conv2d
        out = F.selu(conv_fn(x, *fold_batchnorm(conv, self.bn2), padding=conv.padding), inplace=True)
        out = self.conv2(out)
        # down is built with padding=(0, 1): a tuple (nn.Conv2d's padding may also be a string)
        skip = x if down is None else conv_fn(x, down.weight, down.bias, padding=cast(tuple[int, int], down.padding))
        return max_pool_last(out.add_(skip), 3)

    def _tileable(self, conv: nn.Conv2d, down: nn.Conv2d | None) -> bool:
        """Whether every convolution of the block is stride 1 with a "same" width (kernel ``2p + 1``, padding
        ``p`` along time), so that :meth:`_forward_tiled` computes the same function."""
        def same_width(c: nn.Conv2d) -> bool:
            pad = c.padding
            return (c.stride == (1, 1) and c.dilation == (1, 1) and not isinstance(pad, str)
                    and c.kernel_size[1] == 2 * pad[1] + 1)
        return same_width(conv) and same_width(self.conv2) and (down is None or same_width(down))

    def _forward_tiled(self, x: torch.Tensor, conv: nn.Conv2d, down: nn.Conv2d | None) -> torch.Tensor:
        """The inference path over stretches of ``TIME_TILE`` input samples along time, each with the few
        neighbouring samples its convolutions read. The same sums as the whole-width path (equal on CPU), but
        every intermediate fits in the CPU caches: the first encoder block of a 4 s window (``[32, 24, 21490]``
        floats between its convolutions) runs about twice as fast and needs a small fraction of the memory."""
        c2 = self.conv2
        p1, p2 = cast(tuple[int, int], conv.padding), cast(tuple[int, int], c2.padding)
        halo = p1[1] + p2[1]  # input samples read on each side of a stretch of outputs
        conv_fn = conv2d_single_channel if x.shape[1] == 1 else F.conv2d
        w1, b1 = fold_batchnorm(conv, self.bn2)
        width, pooled = x.shape[-1], x.shape[-1] // 3
        step = max(1, TIME_TILE // 3)  # pooled outputs per stretch
        outs = []
        for q0 in range(0, pooled, step):
            q1 = min(pooled, q0 + step)
            lo, hi = 3 * q0 - halo, 3 * q1 + halo  # input positions read, zero outside [0, width)
            xs = x[..., max(lo, 0) : min(hi, width)]
            if lo < 0 or hi > width:
                xs = F.pad(xs, (max(0, -lo), max(0, hi - width)))
            a = F.selu(conv_fn(xs, w1, b1, padding=(p1[0], 0)), inplace=True)
            first = lo + p1[1]  # position of a's first column; the second convolution pads with zeros
            j0, j1 = max(0, -first), min(a.shape[-1], width - first)
            if j0 > 0:
                a[..., :j0] = 0
            if j1 < a.shape[-1]:
                a[..., j1:] = 0
            out = F.conv2d(a, c2.weight, c2.bias, padding=(p2[0], 0))  # positions [3 q0, 3 q1)
            if down is None:
                skip = xs[..., halo : xs.shape[-1] - halo]
            else:
                pd = cast(tuple[int, int], down.padding)
                cut = halo - pd[1]
                skip = conv_fn(xs[..., cut : xs.shape[-1] - cut], down.weight, down.bias, padding=(pd[0], 0))
            outs.append(max_pool_last(out.add_(skip), 3))
        return torch.cat(outs, dim=-1)

    def _forward_fused(self, x: torch.Tensor, conv: nn.Conv2d, down: nn.Conv2d | None) -> torch.Tensor:
        """bfloat16 on CPU: the elementwise work between the convolutions in fused kernels."""
        weight, bias = fold_batchnorm(conv, self.bn2)
        if x.shape[1] == 1:
            out = self.conv2(cpu_kernels.conv_selu_single_channel(x, weight, bias))
            return cpu_kernels.skip_add_pool(out, x, *((None, None) if down is None else (down.weight, down.bias)))
        out = self.conv2(cpu_kernels.selu_(F.conv2d(x, weight, bias, padding=conv.padding)))
        return cpu_kernels.add_pool(out, x if down is None else down(x))


def conv2d_single_channel(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None,
                          padding: tuple[int, int]) -> torch.Tensor:
    """``F.conv2d`` of a one-channel input ``[B, 1, H, W]`` (stride 1) as a matrix product.

    The ``kh * kw`` shifted copies of the input times the ``[kh * kw, C_out]`` weights: the same
    sums, about 2–3x faster than oneDNN's convolution on CPU; the result is channels-last.
    """
    c_out, _, kh, kw = weight.shape
    ph, pw = padding
    xp = F.pad(x[:, 0], (pw, pw, ph, ph))  # [B, H + 2ph, W + 2pw]
    h, w = xp.shape[1] - kh + 1, xp.shape[2] - kw + 1
    patches = torch.stack([xp[:, i : i + h, j : j + w] for i in range(kh) for j in range(kw)], dim=-1)
    wt = weight.reshape(c_out, kh * kw).t()
    y = patches.reshape(-1, kh * kw) @ wt if bias is None else torch.addmm(bias, patches.reshape(-1, kh * kw), wt)
    return y.view(x.shape[0], h, w, c_out).permute(0, 3, 1, 2)


def _pairwise_products(x: torch.Tensor) -> torch.Tensor:
    """``[B, N, D] → [B, N, N, D]`` with entry ``(i, j) = x_i * x_j``."""
    return x.unsqueeze(2) * x.unsqueeze(1)


class GraphAttention(nn.Module):
    """Graph attention over a fully connected node set, ``[B, N, D_in] → [B, N, D_out]``.

    Attention logits ``tanh(W_a (x_i ⊙ x_j)) · w / temperature``, softmax over neighbours ``i``;
    output ``SELU(BN(W_1 (A x) + W_2 x))``.
    """

    def __init__(self, in_dim: int, out_dim: int, *, temperature: float = 1.0):
        super().__init__()
        self.att_proj = nn.Linear(in_dim, out_dim)
        self.att_weight = nn.Parameter(torch.empty(out_dim, 1))
        nn.init.xavier_normal_(self.att_weight)
        self.proj_with_att = nn.Linear(in_dim, out_dim)
        self.proj_without_att = nn.Linear(in_dim, out_dim)
        self.bn = nn.BatchNorm1d(out_dim)
        self.temperature = float(temperature)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        att = torch.tanh(self.att_proj(_pairwise_products(x))) @ self.att_weight  # [B, N, N, 1]
        att = torch.softmax(att / self.temperature, dim=-2).squeeze(-1)
        y = self.proj_with_att(att @ x) + self.proj_without_att(x)
        b, n, d = y.shape
        return F.selu(self.bn(y.reshape(b * n, d)).reshape(b, n, d))


class HeteroGraphAttention(nn.Module):
    """AASIST's heterogeneous stacking graph attention over two node types and a master node.

    Inputs ``x1 [B, N1, D]``, ``x2 [B, N2, D]``, ``master [B or 1, 1, D]``; outputs the updated
    ``x1 [B, N1, D_out]``, ``x2 [B, N2, D_out]`` and ``master [B, 1, D_out]``.
    """

    # parameters [out_dim, 1], set by name in __init__ (the checkpoints' names)
    att_weight11: nn.Parameter
    att_weight22: nn.Parameter
    att_weight12: nn.Parameter
    att_weightM: nn.Parameter

    def __init__(self, in_dim: int, out_dim: int, *, temperature: float = 1.0):
        super().__init__()
        self.proj_type1 = nn.Linear(in_dim, in_dim)
        self.proj_type2 = nn.Linear(in_dim, in_dim)
        self.att_proj = nn.Linear(in_dim, out_dim)
        self.att_projM = nn.Linear(in_dim, out_dim)
        for name in ("att_weight11", "att_weight22", "att_weight12", "att_weightM"):
            p = nn.Parameter(torch.empty(out_dim, 1))
            nn.init.xavier_normal_(p)
            setattr(self, name, p)
        self.proj_with_att = nn.Linear(in_dim, out_dim)
        self.proj_without_att = nn.Linear(in_dim, out_dim)
        self.proj_with_attM = nn.Linear(in_dim, out_dim)
        self.proj_without_attM = nn.Linear(in_dim, out_dim)
        self.bn = nn.BatchNorm1d(out_dim)
        self.temperature = float(temperature)

    def forward(
        self, x1: torch.Tensor, x2: torch.Tensor, master: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        n1, n2 = x1.shape[1], x2.shape[1]
        x = torch.cat([self.proj_type1(x1), self.proj_type2(x2)], dim=1)  # [B, N, D]
        # master node: attends to every node
        att_m = torch.tanh(self.att_projM(x * master)) @ self.att_weightM  # [B, N, 1]
        att_m = torch.softmax(att_m / self.temperature, dim=-2)
        new_master = self.proj_with_attM(att_m.transpose(1, 2) @ x) + self.proj_without_attM(master)
        # node attention with a separate weight vector per block of the type pair
        h = torch.tanh(self.att_proj(_pairwise_products(x)))  # [B, N, N, D_out]
        logits = torch.empty(h.shape[:3], dtype=h.dtype, device=h.device)
        w11, w22, w12 = self.att_weight11[:, 0], self.att_weight22[:, 0], self.att_weight12[:, 0]
        logits[:, :n1, :n1] = h[:, :n1, :n1] @ w11
        logits[:, n1:, n1:] = h[:, n1:, n1:] @ w22
        logits[:, :n1, n1:] = h[:, :n1, n1:] @ w12
        logits[:, n1:, :n1] = h[:, n1:, :n1] @ w12
        att = torch.softmax(logits / self.temperature, dim=-2)
        y = self.proj_with_att(att @ x) + self.proj_without_att(x)
        b, n, d = y.shape
        y = F.selu(self.bn(y.reshape(b * n, d)).reshape(b, n, d))
        return y[:, :n1], y[:, n1 : n1 + n2], new_master


class TopKGraphPool(nn.Module):
    """Keep the ``k`` highest-scoring nodes, scaled by their sigmoid score, ``[B, N, D] → [B, k, D]``.

    ``k = max(min_nodes, int(N * ratio))``; nodes keep the descending-score order of ``torch.topk``.
    """

    def __init__(self, ratio: float, in_dim: int, *, min_nodes: int = 1):
        super().__init__()
        self.ratio, self.min_nodes = float(ratio), int(min_nodes)
        self.proj = nn.Linear(in_dim, 1)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        scores = torch.sigmoid(self.proj(h))  # [B, N, 1]
        k = max(self.min_nodes, int(h.shape[1] * self.ratio))
        _, idx = torch.topk(scores, k, dim=1)
        return torch.gather(h * scores, 1, idx.expand(-1, -1, h.shape[-1]))
