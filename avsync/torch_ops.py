"""Small torch functions the networks share: a batch norm folded into the convolution before it, and
non-overlapping max pooling as strided maxima.

Tensors in, tensors out; a leaf (imports nothing of avsync). Both are the same function as the layers they
replace at inference (to float rounding for the folding, exactly for the pooling) and faster on CPU: the spoof
encoders (:mod:`avsync.spoof.layers`) and the mouth-region network (:mod:`avsync.artefacts.model`) use them.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["fold_batchnorm", "max_pool_2d", "max_pool_last"]


def fold_batchnorm(conv: nn.Conv2d, bn: nn.BatchNorm2d, tiles: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """Weight and bias of ``bn(conv(x))`` as one convolution (``bn`` with its running statistics). With ``tiles`` > 1
    the convolution has ``tiles`` times ``bn``'s channels and channel ``j`` takes ``bn``'s channel ``j mod C``: the
    convolution of ``bn(f(conv(x)))`` for an ``f`` that picks among the tiles channel by channel and commutes with a
    positive scale (a max-feature-map, where every ``bn.weight`` is positive)."""
    assert bn.running_var is not None and bn.running_mean is not None  # inference uses the running statistics
    scale = (bn.weight / torch.sqrt(bn.running_var + bn.eps)).repeat(tiles)
    bias = conv.bias if conv.bias is not None else torch.zeros_like(scale)
    return conv.weight * scale.view(-1, 1, 1, 1), (bias - bn.running_mean.repeat(tiles)) * scale + bn.bias.repeat(tiles)


def _strided_max(x: torch.Tensor, k: int, dim: int) -> torch.Tensor:
    """Non-overlapping maximum over ``k`` consecutive entries of ``dim`` (floor mode), as strided views."""
    dim %= x.ndim
    t = x.shape[dim] // k * k
    lead = (slice(None),) * dim
    out = x[lead + (slice(0, t, k),)]
    for i in range(1, k):
        out = torch.maximum(out, x[lead + (slice(i, t, k),)])
    return out


def max_pool_last(x: torch.Tensor, k: int) -> torch.Tensor:
    """``max_pool2d(x, (1, k))`` (floor mode) as the maximum of ``k`` strided views.

    Same values as the pooling layer; several times faster on CPU, and the result keeps the
    input's memory format (channels-last stays channels-last for the next convolution).
    """
    return _strided_max(x, k, -1)


def max_pool_2d(x: torch.Tensor, k: int | tuple[int, int]) -> torch.Tensor:
    """``max_pool2d(x, k)`` (floor mode, stride = kernel; ``k`` an int or ``(rows, columns)``) over the last two axes,
    as strided maxima."""
    kh, kw = (k, k) if isinstance(k, int) else k
    if kw > 1:
        x = _strided_max(x, kw, -1)
    return _strided_max(x, kh, -2) if kh > 1 else x
