"""avsync's own voice spoof network: log linear-frequency spectrogram front end + a small LCNN.

Contract (the same as the public spoof checkpoints in :mod:`avsync.spoof`):
``forward(x)`` takes ``[B, N]`` float32 mono waveforms at 16 kHz in [-1, 1] (any ``N`` ≥ 1; inputs shorter than 2560 samples are tiled; the
registered window is 64600 samples = 4.04 s) and returns logits ``[B, 2]`` ordered
``[spoof, bona fide]``, so that ``softmax(logits)[:, 0]`` is the **calibrated probability that the speech
is synthetic**. The calibration (Platt scaling ``sigmoid(a * z + b)`` of the raw score ``z``) is stored in
the weights as the buffers ``platt_a``/``platt_b``; :meth:`SpoofLCNN.raw_score` gives ``z``.

The front end is per-utterance mean-normalised over time (a stationary channel colouring or gain
does not change it), keeps a linear frequency axis (artefacts of vocoders sit in fine spectral
detail, often above 4 kHz) and is computed with ``torch.stft`` so that it runs on any device.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

from avsync.errors import ConfigError
from avsync.torch_ops import fold_batchnorm, max_pool_2d

__all__ = ["LCNNConfig", "MaxFeatureMap", "SpoofLCNN"]


@dataclass(frozen=True)
class LCNNConfig:
    """Hyper-parameters of :class:`SpoofLCNN` (stored in the safetensors metadata).

    Attributes
    ----------
    n_fft, win_length, hop_length
        STFT in samples at 16 kHz (512 / 400 / 160 = 32 / 25 / 10 ms).
    n_bins
        Linear frequency bands kept (adjacent STFT bins averaged in pairs; 128 covers 0–8 kHz).
    channels
        Output channels (after max-feature-map halving) of the four conv stages.
    emb
        Size of the utterance embedding before the score.
    """

    n_fft: int = 512
    win_length: int = 400
    hop_length: int = 160
    n_bins: int = 128
    channels: tuple[int, int, int, int] = (8, 16, 24, 32)
    emb: int = 64

    def to_dict(self) -> dict:
        d = asdict(self)
        d["channels"] = list(self.channels)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> LCNNConfig:
        d = dict(d)
        d["channels"] = tuple(d["channels"])
        return cls(**d)


class MaxFeatureMap(nn.Module):
    """Max of the two halves along the channel axis: ``[B, 2C, ...]`` → ``[B, C, ...]``."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a, b = x.chunk(2, dim=1)
        return torch.maximum(a, b)


def _block(cin: int, cout: int, k: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, 2 * cout, k, padding=k // 2), MaxFeatureMap(), nn.BatchNorm2d(cout))


class SpoofLCNN(nn.Module):
    """Log-spectrogram LCNN spoof detector.

    Parameters
    ----------
    config
        :class:`LCNNConfig`; the default is the shipped model's.

    Notes
    -----
    ``forward``: ``[B, N]`` float32 waveform at 16 kHz → ``[B, 2]`` logits ``[spoof, bona fide]``
    (calibrated: ``softmax(.)[:, 0]`` = probability of synthetic speech).
    """

    # buffers (registered in __init__)
    window: torch.Tensor
    platt_a: torch.Tensor
    platt_b: torch.Tensor

    def __init__(self, config: LCNNConfig | None = None) -> None:
        super().__init__()
        self.config = cfg = config or LCNNConfig()
        c1, c2, c3, c4 = cfg.channels
        self.register_buffer("window", torch.hann_window(cfg.win_length), persistent=False)
        self.features = nn.Sequential(
            _block(1, c1, 5), nn.MaxPool2d(2),
            _block(c1, c1, 1), _block(c1, c2, 3), nn.MaxPool2d(2),
            _block(c2, c2, 1), _block(c2, c3, 3), nn.MaxPool2d(2),
            _block(c3, c3, 1), _block(c3, c4, 3), nn.MaxPool2d((2, 1)),
        )
        f_out = cfg.n_bins // 16
        self.head = nn.Sequential(
            nn.Dropout(0.3), nn.Linear(2 * c4 * f_out, 2 * cfg.emb), MaxFeatureMap(), nn.Linear(cfg.emb, 1)
        )
        self.register_buffer("platt_a", torch.ones(()))
        self.register_buffer("platt_b", torch.zeros(()))
        self.fast_inference = True  # False: eval mode runs the plain layers (benchmarks' and tests' baseline)

    def spectrogram(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, N]`` waveform → ``[B, 1, n_bins, T]`` log power, mean over time removed per band."""
        cfg = self.config
        if x.dim() != 2:
            raise ConfigError(f"expected a [B, N] waveform batch, got shape {tuple(x.shape)}")
        min_len = 16 * cfg.hop_length  # the pooling needs >= 8 frames: very short input is tiled (as the scorer does)
        if x.shape[1] < min_len:
            x = x.repeat(1, -(-min_len // max(x.shape[1], 1)))[:, :min_len]
        spec = torch.stft(x.float(), cfg.n_fft, cfg.hop_length, cfg.win_length, self.window, center=True,
                          return_complex=True)
        p = spec.real.square() + spec.imag.square()  # [B, n_fft/2+1, T]
        p = p[:, 1 : 1 + 2 * cfg.n_bins].reshape(p.shape[0], cfg.n_bins, 2, -1).mean(2)
        lp = torch.log(p + 1e-9)
        lp = lp - lp.mean(dim=2, keepdim=True)
        return lp.unsqueeze(1)

    def _features_folded(self, x: torch.Tensor) -> torch.Tensor:
        """:attr:`features` at inference with each batch norm folded into its convolution and the poolings as strided
        maxima: the same function to float rounding, with fewer passes over the full-resolution maps. A batch norm
        commutes with the max-feature-map before it only where its scale is positive (``max(s·a, s·b) = s·max(a,
        b)`` for ``s > 0``); a block with a channel of another sign runs as it is."""
        for m in self.features:
            if isinstance(m, nn.MaxPool2d):
                k = m.kernel_size
                x = max_pool_2d(x, k if isinstance(k, int) else (int(k[0]), int(k[1])))
                continue
            assert isinstance(m, nn.Sequential)
            conv, bn = m[0], m[2]
            assert isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d)
            if not bool((bn.weight > 0).all()):  # the scale's sign is the weight's (its divisor is a square root)
                x = m(x)
                continue
            # output channel j of the convolution feeds batch-norm channel j mod C
            x = nn.functional.conv2d(x, *fold_batchnorm(conv, bn, tiles=2), stride=conv.stride, padding=conv.padding,
                                     dilation=conv.dilation, groups=conv.groups)
            a, b = x.chunk(2, dim=1)
            x = torch.maximum(a, b)
        return x

    def raw_score(self, x: torch.Tensor) -> torch.Tensor:
        """Uncalibrated score ``[B]`` (larger = more likely synthetic)."""
        spec = self.spectrogram(x)
        h = self.features(spec) if self.training or not self.fast_inference else self._features_folded(spec)
        h = h.flatten(1, 2)  # [B, C*F', T']
        stats = torch.cat([h.mean(dim=2), h.std(dim=2, unbiased=False)], dim=1)
        return self.head(stats).squeeze(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, N]`` waveform → ``[B, 2]`` logits ``[spoof, bona fide]`` (calibrated)."""
        z = self.platt_a * self.raw_score(x) + self.platt_b
        return torch.stack([z, torch.zeros_like(z)], dim=1)

    @torch.no_grad()
    def probability(self, x: torch.Tensor) -> torch.Tensor:
        """Calibrated probability ``[B]`` that each waveform is synthetic."""
        return torch.softmax(self(x), dim=1)[:, 0]
