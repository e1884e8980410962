"""Two voice networks over the same window, each at its own operating point: the larger of their evidence.

:class:`ThresholdMax` runs a general model (``base``, e.g. avsync's fine-tuned AASIST) and a specialist (e.g. an
LCNN that knows one generator family) on the same ``[B, N]`` 16 kHz windows. Each network's log-odds of "synthetic"
are taken relative to its own decision threshold, ``z = logit(p) - logit(threshold)``, and the larger of the two
is the pair's log-odds: ``softmax(logits)[:, 0] = sigmoid(max(z_base, z_specialist))``. The pair's threshold is
therefore 0.5, where either network reaches its own threshold. The specialist adds what it catches and cannot
lower what the base model finds (docs/spoofmodel.md, "A specialist for converged HiFi-GAN copies").
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["ThresholdMax"]


def _log_odds(logits: torch.Tensor) -> torch.Tensor:
    """``logit(softmax(logits)[:, 0])`` of logits ordered ``[spoof, bona fide]``."""
    logits = logits.float()
    return logits[:, 0] - logits[:, 1]


class ThresholdMax(nn.Module):
    """``base`` and ``specialist`` (each ``[B, N]`` → logits ``[B, 2]`` ``[spoof, bona fide]``, calibrated) at
    their thresholds (buffers ``base_threshold`` and ``specialist_threshold``, probabilities in (0, 1)) → logits
    ``[B, 2]`` whose ``softmax[:, 0]`` is ``sigmoid(max(z_base, z_specialist))``."""

    base_threshold: torch.Tensor
    specialist_threshold: torch.Tensor

    def __init__(self, base: nn.Module, specialist: nn.Module):
        super().__init__()
        self.base, self.specialist = base, specialist
        self.register_buffer("base_threshold", torch.tensor(0.5))
        self.register_buffer("specialist_threshold", torch.tensor(0.5))

    def relative_log_odds(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(z_base, z_specialist)``, each ``[B]``: the networks' log-odds minus those of their thresholds."""
        zb = _log_odds(self.base(x)) - torch.logit(self.base_threshold.float())
        zs = _log_odds(self.specialist(x)) - torch.logit(self.specialist_threshold.float())
        return zb, zs

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, N]`` waveform → ``[B, 2]`` logits ``[spoof, bona fide]`` of the pair."""
        z = torch.maximum(*self.relative_log_odds(x))
        return torch.stack([z, torch.zeros_like(z)], dim=1)
