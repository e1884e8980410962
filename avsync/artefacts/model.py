"""The mouth-region artefact network: aligned RGB face crop in, logit "mouth region generated" out."""

from __future__ import annotations

import torch
from torch import nn

from avsync.torch_ops import fold_batchnorm, max_pool_2d

__all__ = ["ArtefactNet", "box_mean"]


def _flat(seq: nn.Module) -> list[nn.Module]:
    """The leaf layers of nested ``nn.Sequential`` containers, in order."""
    return [leaf for m in seq.children() for leaf in (_flat(m) if isinstance(m, nn.Sequential) else [m])]


def _window_counts(n: int, k: int, like: torch.Tensor) -> torch.Tensor:
    """How many of the ``k`` positions centred on each of ``n`` indices lie inside ``0 .. n-1``."""
    i = torch.arange(n, device=like.device)
    return ((i + k // 2).clamp(max=n - 1) - (i - k // 2).clamp(min=0) + 1).to(like.dtype)


def box_mean(x: torch.Tensor, k: int = 5) -> torch.Tensor:
    """Mean over the ``k × k`` neighbourhood of each pixel of ``x [B, C, H, W]`` (odd ``k``), counting only the
    pixels inside the image: ``avg_pool2d(x, k, stride=1, padding=k // 2, count_include_pad=False)``, as ``2k``
    shifted additions. The same values to float rounding (a few 1e-7 on [0, 1] images), about 6x faster on CPU,
    where ``avg_pool2d`` visits the whole window for every output."""
    if k % 2 != 1:
        raise ValueError(f"k must be odd, got {k}")
    h, w = x.shape[-2:]
    r = k // 2
    p = nn.functional.pad(x, (r, r, r, r))
    rows = sum(p[..., :, j : j + w] for j in range(1, k)) + p[..., :, 0:w]
    total = sum(rows[..., i : i + h, :] for i in range(1, k)) + rows[..., 0:h, :]
    return total / (_window_counts(h, k, x).view(-1, 1) * _window_counts(w, k, x))


def _block(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, padding=1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
        nn.Conv2d(cout, cout, 3, padding=1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


class ArtefactNet(nn.Module):
    """Small CNN over an aligned face crop (see :mod:`avsync.artefacts.crops`).

    The first layer sees the image and its high-pass residual (image minus a 5×5 box blur), so
    sharpness and blending seams are visible from the start; four double-conv blocks with max
    pooling (one conv at full resolution, then three double-conv blocks); global mean and max pooling;
    one logit.

    With ``frames=2`` it sees a crop and the crop of the *next* video frame (same geometry): the first layer
    gets the first image, its high-pass residual and the change of the high-pass residual from one frame to the
    next — fine texture that is re-generated every frame flickers, texture warped from one still image does
    not change the way camera noise and real skin do.

    Parameters
    ----------
    width
        Channels of the first layer (then ×2, ×4, ×6).
    frames
        1 (one crop) or 2 (a crop and the next frame's crop, stacked along the channels).

    Shapes
    ------
    ``x``: ``float32 [B, 3·frames, S, S]`` RGB in ``[0, 1]`` (S = 128) → logits ``[B]``
    (``sigmoid`` = probability that the face / mouth region was generated or pasted).
    """

    mean: torch.Tensor  # buffer [1, 3, 1, 1] (registered in __init__)

    def __init__(self, width: int = 16, frames: int = 1) -> None:
        super().__init__()
        if frames not in (1, 2):
            raise ValueError(f"frames must be 1 or 2, got {frames}")
        w = width
        self.frames = frames
        self.register_buffer("mean", torch.tensor([0.5, 0.45, 0.4]).view(1, 3, 1, 1), persistent=False)
        self.blocks = nn.Sequential(
            nn.Conv2d(6 if frames == 1 else 9, w, 3, padding=1, bias=False), nn.BatchNorm2d(w), nn.ReLU(inplace=True), nn.MaxPool2d(2),
            _block(w, 2 * w), nn.MaxPool2d(2),
            _block(2 * w, 4 * w), nn.MaxPool2d(2),
            _block(4 * w, 6 * w),
        )
        self.head = nn.Sequential(nn.Dropout(0.2), nn.Linear(12 * w, 1))

    @staticmethod
    def _highpass(x: torch.Tensor) -> torch.Tensor:
        return x - box_mean(x, 5)

    def _blocks_inference(self, x: torch.Tensor) -> torch.Tensor:
        """``self.blocks`` in eval mode, channels-last, with each batch norm folded into its convolution and the
        2 × 2 max pooling as strided maxima: the same function to float rounding (logits within a few 1e-6), about
        twice as fast on CPU (oneDNN's convolutions prefer channels-last; the pooling layer's CPU kernel also
        computes indices)."""
        x = x.contiguous(memory_format=torch.channels_last)
        layers = _flat(self.blocks)
        i = 0
        while i < len(layers):
            m, nxt = layers[i], layers[i + 1] if i + 1 < len(layers) else None
            i += 1
            if isinstance(m, nn.Conv2d) and isinstance(nxt, nn.BatchNorm2d):
                x = nn.functional.conv2d(x, *fold_batchnorm(m, nxt), padding=m.padding)
                i += 1
            elif isinstance(m, nn.MaxPool2d) and isinstance(m.kernel_size, int) and m.stride == m.kernel_size:
                x = max_pool_2d(x, m.kernel_size)
            elif isinstance(m, nn.ReLU):
                x = x.relu_()
            else:
                x = m(x)
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.frames == 2:
            x, nxt = x[:, :3] - self.mean, x[:, 3:] - self.mean
            hp = self._highpass(x)
            feats = [x, 4.0 * hp, 8.0 * (self._highpass(nxt) - hp)]
        else:
            x = x - self.mean
            feats = [x, 4.0 * self._highpass(x)]
        x = torch.cat(feats, dim=1)
        h = self.blocks(x) if self.training else self._blocks_inference(x)
        pooled = torch.cat([h.mean(dim=(2, 3)), h.amax(dim=(2, 3))], dim=1)
        return self.head(pooled).squeeze(1)
