"""The mouth-region artefact network: aligned RGB face crop in, logit "mouth region generated" out."""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["ArtefactNet"]


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

    Parameters
    ----------
    width
        Channels of the first layer (then ×2, ×4, ×6).

    Shapes
    ------
    ``x``: ``float32 [B, 3, S, S]`` RGB in ``[0, 1]`` (S = 128) → logits ``[B]``
    (``sigmoid`` = probability that the mouth region was generated or pasted).
    """

    def __init__(self, width: int = 16) -> None:
        super().__init__()
        w = width
        self.register_buffer("mean", torch.tensor([0.5, 0.45, 0.4]).view(1, 3, 1, 1), persistent=False)
        self.blocks = nn.Sequential(
            nn.Conv2d(6, w, 3, padding=1, bias=False), nn.BatchNorm2d(w), nn.ReLU(inplace=True), nn.MaxPool2d(2),
            _block(w, 2 * w), nn.MaxPool2d(2),
            _block(2 * w, 4 * w), nn.MaxPool2d(2),
            _block(4 * w, 6 * w),
        )
        self.head = nn.Sequential(nn.Dropout(0.2), nn.Linear(12 * w, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x - self.mean
        hp = x - nn.functional.avg_pool2d(x, 5, stride=1, padding=2, count_include_pad=False)
        h = self.blocks(torch.cat([x, 4.0 * hp], dim=1))
        pooled = torch.cat([h.mean(dim=(2, 3)), h.amax(dim=(2, 3))], dim=1)
        return self.head(pooled).squeeze(1)
