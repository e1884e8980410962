"""Raw-waveform anti-spoofing networks compatible with public checkpoints: AASIST, AASIST-L, RawGAT-ST.

Our own implementations of the published architectures (Jung et al. 2022, "AASIST"; Tak et al.
2021, "End-to-end spectro-temporal graph attention networks"). Tensors in, tensors out:

* input ``[B, 64600]`` float32, 16 kHz mono waveform in [-1, 1], no normalisation;
* output logits ``[B, 2]`` ordered ``[spoof, bona fide]`` (index 1 = bona fide, as in the checkpoints).

avsync's single polarity, the probability that speech is synthetic, is
``softmax(logits)[:, 0]`` = ``sigmoid(logits[:, 0] - logits[:, 1])``; see :func:`spoof_probability`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn
from torch.nn import functional as F

import avsync.spoof.cpu_kernels as cpu_kernels
from avsync.errors import ConfigError
from avsync.spoof.layers import (
    GraphAttention,
    HeteroGraphAttention,
    ResidualBlock2d,
    SincFilterBank,
    TopKGraphPool,
    max_pool_2d,
)

__all__ = ["AASISTConfig", "AASIST", "AASISTSpectral", "RawGATST", "fine_spectrum", "spoof_probability", "WINDOW_SAMPLES"]

WINDOW_SAMPLES = 64600
"""Input length of every network here: 64600 samples = 4.0375 s at 16 kHz."""


def spoof_probability(logits: torch.Tensor) -> torch.Tensor:
    """Probability that the input is synthetic, ``[B, 2] → [B]`` in [0, 1].

    ``softmax(logits)[:, 0]`` of logits ordered ``[spoof, bona fide]``.
    """
    return torch.softmax(logits.float(), dim=-1)[:, 0]


@dataclass(frozen=True)
class AASISTConfig:
    """Hyper-parameters of AASIST (defaults) and AASIST-L (:meth:`light`)."""

    sinc_channels: int = 70
    sinc_kernel: int = 128
    filts: tuple[tuple[int, int], ...] = ((1, 32), (32, 32), (32, 64), (64, 64))
    gat_dims: tuple[int, int] = (64, 32)
    pool_ratios: tuple[float, float, float, float] = (0.5, 0.7, 0.5, 0.5)
    temperatures: tuple[float, float, float, float] = (2.0, 2.0, 100.0, 100.0)

    @classmethod
    def light(cls) -> AASISTConfig:
        return cls(
            filts=((1, 32), (32, 32), (32, 24), (24, 24)),
            gat_dims=(24, 32),
            pool_ratios=(0.4, 0.5, 0.7, 0.5),
        )


def _encoder(filts: Sequence[tuple[int, int]], *, rawgat: bool) -> nn.Sequential:
    plan = [filts[0], filts[1], filts[2], filts[3], filts[3], filts[3]]
    return nn.Sequential(
        *[nn.Sequential(ResidualBlock2d(a, b, first=(i == 0), rawgat=rawgat)) for i, (a, b) in enumerate(plan)]
    )


def _front_end(sinc: SincFilterBank, bn: nn.BatchNorm2d, x: torch.Tensor) -> torch.Tensor:
    """``[B, T]`` waveform → ``[B, 1, C/3, (T-K+1)/3]`` |sinc| max-pooled, batch-normed, SELU."""
    if cpu_kernels.applies(x):  # bfloat16 on CPU: one matrix product, then one fused pass
        return cpu_kernels.abs_pool_bn_selu(cpu_kernels.filter_bank(x, sinc.filters), bn)
    x = sinc(x.unsqueeze(1)).unsqueeze(1)
    x = max_pool_2d(x.abs(), 3)
    # channels-last layout: the 2-D convolutions of the encoders run about twice as fast on CPU
    return F.selu(bn(x)).contiguous(memory_format=torch.channels_last)


class AASIST(nn.Module):
    """AASIST: sinc front end, residual encoder, spectral and temporal graphs, heterogeneous GATs.

    ``forward(x [B, 64600]) → logits [B, 2]`` (``[spoof, bona fide]``); :meth:`forward_features`
    also returns the 160-d (``5 * gat_dims[1]``) last hidden vector.
    """

    def __init__(self, config: AASISTConfig | None = None):
        super().__init__()
        cfg = config or AASISTConfig()
        self.config = cfg
        d0, d1 = cfg.gat_dims
        c = cfg.filts[-1][-1]
        p, t = cfg.pool_ratios, cfg.temperatures
        self.conv_time = SincFilterBank(cfg.sinc_channels, cfg.sinc_kernel)
        self.first_bn = nn.BatchNorm2d(1)
        self.encoder = _encoder(cfg.filts, rawgat=False)
        self.pos_S = nn.Parameter(torch.zeros(1, 23, c))
        self.master1 = nn.Parameter(torch.zeros(1, 1, d0))
        self.master2 = nn.Parameter(torch.zeros(1, 1, d0))
        self.GAT_layer_S = GraphAttention(c, d0, temperature=t[0])
        self.GAT_layer_T = GraphAttention(c, d0, temperature=t[1])
        self.HtrgGAT_layer_ST11 = HeteroGraphAttention(d0, d1, temperature=t[2])
        self.HtrgGAT_layer_ST12 = HeteroGraphAttention(d1, d1, temperature=t[2])
        self.HtrgGAT_layer_ST21 = HeteroGraphAttention(d0, d1, temperature=t[2])
        self.HtrgGAT_layer_ST22 = HeteroGraphAttention(d1, d1, temperature=t[2])
        self.pool_S = TopKGraphPool(p[0], d0)
        self.pool_T = TopKGraphPool(p[1], d0)
        self.pool_hS1 = TopKGraphPool(p[2], d1)
        self.pool_hT1 = TopKGraphPool(p[2], d1)
        self.pool_hS2 = TopKGraphPool(p[2], d1)
        self.pool_hT2 = TopKGraphPool(p[2], d1)
        self.out_layer = nn.Linear(5 * d1, 2)

    def _branch(
        self, first: HeteroGraphAttention, second: HeteroGraphAttention, pool_s: TopKGraphPool, pool_t: TopKGraphPool,
        out_t: torch.Tensor, out_s: torch.Tensor, master: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        t1, s1, m1 = first(out_t, out_s, master)
        s1, t1 = pool_s(s1), pool_t(t1)
        t_aug, s_aug, m_aug = second(t1, s1, m1)
        return t1 + t_aug, s1 + s_aug, m1 + m_aug

    def forward_features(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``x [B, 64600]`` → ``(last_hidden [B, 5 * gat_dims[1]], logits [B, 2])``."""
        e = self.encoder(_front_end(self.conv_time, self.first_bn, x))  # [B, C, F, T]
        e = e.abs()
        spec = e.amax(dim=3).transpose(1, 2) + self.pos_S  # [B, F, C]
        temp = e.amax(dim=2).transpose(1, 2)  # [B, T, C]
        out_s = self.pool_S(self.GAT_layer_S(spec))
        out_t = self.pool_T(self.GAT_layer_T(temp))
        t1, s1, m1 = self._branch(self.HtrgGAT_layer_ST11, self.HtrgGAT_layer_ST12, self.pool_hS1, self.pool_hT1,
                                  out_t, out_s, self.master1)
        t2, s2, m2 = self._branch(self.HtrgGAT_layer_ST21, self.HtrgGAT_layer_ST22, self.pool_hS2, self.pool_hT2,
                                  out_t, out_s, self.master2)
        out_t, out_s, master = torch.maximum(t1, t2), torch.maximum(s1, s2), torch.maximum(m1, m2)
        hidden = torch.cat(
            [out_t.abs().amax(dim=1), out_t.mean(dim=1), out_s.abs().amax(dim=1), out_s.mean(dim=1),
             master.squeeze(1)],
            dim=1,
        )
        return hidden, self.out_layer(hidden)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x [B, 64600]`` float waveform → logits ``[B, 2]`` (``[spoof, bona fide]``)."""
        return self.forward_features(x)[1]


FINE_N_FFT, FINE_HOP, FINE_SMOOTH = 1024, 256, 17


def fine_spectrum(x: torch.Tensor) -> torch.Tensor:
    """Fine spectral structure of each waveform, ``[B, N] → [B, 513]`` (float32, no gradient to ``x`` needed).

    The log mean power (1024-point Hann frames, hop 256) of the frames with at least the median energy, minus
    its 17-bin moving average: fixed spectral lines and ripples (a vocoder's upsampling, a converter) stay, the
    coarse colouring of the channel and the level go. A signal shorter than 1280 samples is zero-padded.
    """
    with torch.autocast(x.device.type, enabled=False):
        x = x.float()
        if x.shape[-1] < FINE_N_FFT + FINE_HOP:
            x = F.pad(x, (0, FINE_N_FFT + FINE_HOP - x.shape[-1]))
        win = torch.hann_window(FINE_N_FFT, periodic=False, device=x.device)
        spec = torch.stft(x, FINE_N_FFT, FINE_HOP, window=win, center=False, return_complex=True)
        power = spec.real.square() + spec.imag.square()  # [B, 513, T]
        energy = power.sum(1)
        keep = (energy >= energy.quantile(0.5, dim=1, keepdim=True)).float()
        level = torch.log((power * keep.unsqueeze(1)).sum(2) / keep.sum(1, keepdim=True) + 1e-10)
        half = FINE_SMOOTH // 2
        smooth = F.avg_pool1d(F.pad(level.unsqueeze(1), (half, half), mode="replicate"), FINE_SMOOTH, 1).squeeze(1)
        return level - smooth


class AASISTSpectral(nn.Module):
    """AASIST plus a linear read-out of :func:`fine_spectrum` added to its spoof logit.

    ``forward(x) = [aasist(x)[:, 0] + spectral(fine_spectrum(x)), aasist(x)[:, 1]]``. The read-out starts at
    zero, so an untrained one leaves the AASIST's output unchanged. State-dict keys ``aasist.*`` and
    ``spectral.*``.
    """

    def __init__(self, aasist: AASIST | None = None):
        super().__init__()
        self.aasist = aasist if aasist is not None else AASIST()
        self.spectral = nn.Linear(FINE_N_FFT // 2 + 1, 1)
        nn.init.zeros_(self.spectral.weight)
        nn.init.zeros_(self.spectral.bias)

    @property
    def out_layer(self) -> nn.Linear:
        """The AASIST's output layer (calibration folds into it and scales :attr:`spectral`)."""
        return self.aasist.out_layer

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x [B, N]`` float waveform → logits ``[B, 2]`` (``[spoof, bona fide]``)."""
        logits = self.aasist(x)
        with torch.autocast(x.device.type, enabled=False):  # the read-out in float32 under a training autocast
            extra = self.spectral(fine_spectrum(x)).squeeze(1)
            logits = logits.float()
            return torch.stack([logits[:, 0] + extra, logits[:, 1]], dim=1)


class RawGATST(nn.Module):
    """RawGAT-ST: sinc front end, two residual encoders, spectral and temporal graph attention,
    fused (``mul``, ``add`` or ``cat``) into a spectro-temporal graph.

    ``forward(x [B, 64600]) → logits [B, 2]`` (``[spoof, bona fide]``).
    """

    def __init__(self, fusion: Literal["mul", "add", "cat"] = "mul"):
        super().__init__()
        if fusion not in ("mul", "add", "cat"):
            raise ConfigError(f"fusion must be 'mul', 'add' or 'cat', got {fusion!r}")
        self.fusion = fusion
        filts = ((32, 32), (32, 32), (32, 64), (64, 64))
        self.conv_time = SincFilterBank(70, 128)
        self.first_bn = nn.BatchNorm2d(1)
        self.encoder1 = _encoder(filts, rawgat=True)
        self.encoder2 = _encoder(filts, rawgat=True)
        self.GAT_layer1 = GraphAttention(64, 32)
        self.pool1 = TopKGraphPool(0.64, 32, min_nodes=2)
        self.GAT_layer2 = GraphAttention(64, 32)
        self.pool2 = TopKGraphPool(0.81, 32, min_nodes=2)
        d3 = 32 if fusion == "cat" else 16
        self.GAT_layer3 = GraphAttention(64 if fusion == "cat" else 32, d3)
        self.pool3 = TopKGraphPool(0.64, d3, min_nodes=2)
        self.proj1 = nn.Linear(14, 12)  # 23 spectral nodes → 14 after pooling → 12
        self.proj2 = nn.Linear(23, 12)  # 29 temporal nodes → 23 after pooling → 12
        self.proj = nn.Linear(d3, 1)
        self.proj_node = nn.Linear(7, 2)  # 12 fused nodes → 7 after pooling

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x [B, 64600]`` float waveform → logits ``[B, 2]`` (``[spoof, bona fide]``)."""
        h = _front_end(self.conv_time, self.first_bn, x)
        spec = self.encoder1(h).abs().amax(dim=3).transpose(1, 2)  # [B, F, C]
        temp = self.encoder2(h).abs().amax(dim=2).transpose(1, 2)  # [B, T, C]
        g1 = self.proj1(self.pool1(self.GAT_layer1(spec)).transpose(1, 2))  # [B, 32, 12]
        g2 = self.proj2(self.pool2(self.GAT_layer2(temp)).transpose(1, 2))  # [B, 32, 12]
        if self.fusion == "mul":
            g = g1 * g2
        elif self.fusion == "add":
            g = g1 + g2
        else:
            g = torch.cat([g1, g2], dim=1)
        g3 = self.pool3(self.GAT_layer3(g.transpose(1, 2)))  # [B, 7, d3]
        return self.proj_node(self.proj(g3).flatten(1))
