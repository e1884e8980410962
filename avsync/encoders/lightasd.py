"""A Light-ASD-compatible audio-visual active-speaker network (our implementation).

Architecture of Liao et al., "A Light Weight Model for Active Speaker Detection" (CVPR 2023),
written from the paper's description and the public checkpoint layout so that the public weights
(``Junhua-Liao/Light-ASD``, MIT) load into it: a visual encoder of 3-D (1+2)-D separable convolution
blocks with 3- and 5-wide branches, an audio encoder of 2-D separable blocks on MFCC, a
forward-then-backward GRU backend on the sum of the two embeddings, and linear heads.

Inputs (see ``/shared/weights/MANIFEST.md``):

* ``mfcc``  ``[B, 4T, 13]`` python_speech_features MFCC of 16 kHz int16-scale audio at 100 Hz
  (:func:`avsync.features.audio.mfcc` with ``pcm_scale=32768``);
* ``faces`` ``[B, T, 112, 112]`` gray face crops at 25 fps, values 0..255 (float or uint8).

The module only does tensor math; :class:`LightASDScorer` in :mod:`avsync.sync.models` owns
devices, windows and shifts.
"""

from __future__ import annotations

import os
from typing import NamedTuple

import torch
from torch import nn

from avsync.errors import ConfigError

__all__ = ["LIGHTASD_MEAN", "LIGHTASD_STD", "LightASD", "LightASDOutput", "load_lightasd"]

LIGHTASD_MEAN, LIGHTASD_STD = 0.4161, 0.1688
"""Normalisation of the 0..1 gray face crops the checkpoints were trained with."""


def _bn3(c: int) -> nn.BatchNorm3d:
    return nn.BatchNorm3d(c, momentum=0.01, eps=0.001)


def _bn2(c: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(c, momentum=0.01, eps=0.001)


class _VisualBlock(nn.Module):
    """Two branches (3 and 5 wide) of spatial then temporal conv, summed, then a 1×1×1 conv."""

    def __init__(self, cin: int, cout: int, *, down: bool = False):
        super().__init__()
        stride = (1, 2, 2) if down else (1, 1, 1)
        for k in (3, 5):
            setattr(self, f"s_{k}", nn.Conv3d(cin, cout, (1, k, k), stride=stride, padding=(0, k // 2, k // 2), bias=False))
            setattr(self, f"bn_s_{k}", _bn3(cout))
            setattr(self, f"t_{k}", nn.Conv3d(cout, cout, (k, 1, 1), padding=(k // 2, 0, 0), bias=False))
            setattr(self, f"bn_t_{k}", _bn3(cout))
        self.last = nn.Conv3d(cout, cout, 1, bias=False)
        self.bn_last = _bn3(cout)

    def _branch(self, x: torch.Tensor, k: int) -> torch.Tensor:
        x = torch.relu(getattr(self, f"bn_s_{k}")(getattr(self, f"s_{k}")(x)))
        return torch.relu(getattr(self, f"bn_t_{k}")(getattr(self, f"t_{k}")(x)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.bn_last(self.last(self._branch(x, 3) + self._branch(x, 5))))


class _AudioBlock(nn.Module):
    """Two branches (3 and 5 wide) of conv over MFCC coefficients then over time, summed, then 1×1."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        for k in (3, 5):
            setattr(self, f"m_{k}", nn.Conv2d(cin, cout, (k, 1), padding=(k // 2, 0), bias=False))
            setattr(self, f"bn_m_{k}", _bn2(cout))
            setattr(self, f"t_{k}", nn.Conv2d(cout, cout, (1, k), padding=(0, k // 2), bias=False))
            setattr(self, f"bn_t_{k}", _bn2(cout))
        self.last = nn.Conv2d(cout, cout, 1, bias=False)
        self.bn_last = _bn2(cout)

    def _branch(self, x: torch.Tensor, k: int) -> torch.Tensor:
        x = torch.relu(getattr(self, f"bn_m_{k}")(getattr(self, f"m_{k}")(x)))
        return torch.relu(getattr(self, f"bn_t_{k}")(getattr(self, f"t_{k}")(x)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.bn_last(self.last(self._branch(x, 3) + self._branch(x, 5))))


class _VisualEncoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.block1 = _VisualBlock(1, 32, down=True)
        self.block2 = _VisualBlock(32, 64)
        self.block3 = _VisualBlock(64, 128)
        self.pool = nn.MaxPool3d((1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [B, 1, T, H, W] -> [B, T, 128]
        x = self.block3(self.pool(self.block2(self.pool(self.block1(x)))))
        return x.amax(dim=(3, 4)).transpose(1, 2)


class _AudioEncoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.block1 = _AudioBlock(1, 32)
        self.block2 = _AudioBlock(32, 64)
        self.block3 = _AudioBlock(64, 128)
        self.pool = nn.MaxPool2d((1, 3), stride=(1, 2), padding=(0, 1))  # halves time

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [B, 1, 13, 4T] -> [B, T, 128]
        x = self.block3(self.pool(self.block2(self.pool(self.block1(x)))))
        return x.mean(dim=2).transpose(1, 2)


class _BiGRU(nn.Module):
    """A forward GRU, then a second GRU run backwards in time over its output (GELU after each)."""

    def __init__(self, c: int = 128):
        super().__init__()
        self.gru_forward = nn.GRU(c, c, batch_first=True)
        self.gru_backward = nn.GRU(c, c, batch_first=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = nn.functional.gelu(self.gru_forward(x)[0])
        x = self.gru_backward(x.flip(1))[0].flip(1)
        return nn.functional.gelu(x)


class LightASDOutput(NamedTuple):
    """Per-frame outputs: logits ``[B, T, 2]`` (index 1 = speaking) and embeddings ``[B, T, 128]``."""

    av_logits: torch.Tensor
    v_logits: torch.Tensor
    audio_embed: torch.Tensor
    visual_embed: torch.Tensor
    av_embed: torch.Tensor

    @property
    def score(self) -> torch.Tensor:
        """Audio-visual speaking score per frame ``[B, T]`` (the original ``logits[:, 1]``)."""
        return self.av_logits[..., 1]


# checkpoint key prefix -> our module prefix
_KEY_MAP = (
    ("model.visualEncoder.", "visual."),
    ("model.audioEncoder.", "audio."),
    ("model.GRU.", "backend."),
    ("lossAV.FC.", "av_head."),
    ("lossV.FC.", "v_head."),
)


class LightASD(nn.Module):
    """Light-ASD-compatible network: tensors in, tensors out.

    ``forward(mfcc [B, 4T, 13], faces [B, T, 112, 112]) -> LightASDOutput``. The audio must be
    exactly four MFCC frames per video frame; faces are 0..255 gray crops (normalised inside).
    """

    def __init__(self):
        super().__init__()
        self.visual = _VisualEncoder()
        self.audio = _AudioEncoder()
        self.backend = _BiGRU(128)
        self.av_head = nn.Linear(128, 2)
        self.v_head = nn.Linear(128, 2)

    def encode_visual(self, faces: torch.Tensor) -> torch.Tensor:
        """``[B, T, H, W]`` 0..255 gray crops → ``[B, T, 128]``."""
        x = faces.to(self.av_head.weight.dtype)
        x = (x / 255.0 - LIGHTASD_MEAN) / LIGHTASD_STD
        return self.visual(x.unsqueeze(1))

    def encode_audio(self, mfcc: torch.Tensor) -> torch.Tensor:
        """``[B, 4T, 13]`` MFCC → ``[B, T, 128]``."""
        return self.audio(mfcc.to(self.av_head.weight.dtype).transpose(1, 2).unsqueeze(1))

    def backend_logits(self, audio_embed: torch.Tensor, visual_embed: torch.Tensor) -> torch.Tensor:
        """Audio-visual logits ``[B, T, 2]`` from the two embeddings."""
        return self.av_head(self.backend(audio_embed + visual_embed))

    def forward(self, mfcc: torch.Tensor, faces: torch.Tensor) -> LightASDOutput:
        if mfcc.ndim != 3 or faces.ndim != 4:
            raise ConfigError(f"expected mfcc [B, 4T, 13] and faces [B, T, H, W], got {tuple(mfcc.shape)}, {tuple(faces.shape)}")
        if mfcc.shape[1] != 4 * faces.shape[1]:
            raise ConfigError(f"mfcc must have 4 frames per video frame: {mfcc.shape[1]} vs 4 x {faces.shape[1]}")
        a = self.encode_audio(mfcc)
        v = self.encode_visual(faces)
        av = self.backend(a + v)
        return LightASDOutput(self.av_head(av), self.v_head(v), a, v, av)

    @staticmethod
    def convert_state_dict(state: dict) -> dict:
        """Rename the keys of an original Light-ASD checkpoint to this module's names."""
        out = {}
        for k, v in state.items():
            for src, dst in _KEY_MAP:
                if k.startswith(src):
                    out[dst + k[len(src):]] = v
                    break
        return out


def load_lightasd(path: str | os.PathLike, *, map_location: str | torch.device = "cpu") -> LightASD:
    """Build :class:`LightASD` from a public checkpoint (``pretrain_AVA_CVPR.model``, ``finetuning_TalkSet.model``).

    Loaded with ``torch.load(weights_only=True)``; every parameter must match (strict). Returned in eval mode.
    """
    from avsync.errors import BundleError

    path = os.fspath(path)
    if not os.path.exists(path):
        raise BundleError(f"Light-ASD checkpoint not found: {path}", hint="pass the path of pretrain_AVA_CVPR.model")
    state = torch.load(path, map_location=map_location, weights_only=True)
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    model = LightASD()
    try:
        model.load_state_dict(LightASD.convert_state_dict(state), strict=True)
    except RuntimeError as e:
        raise BundleError(f"{path} is not a Light-ASD checkpoint: {e}") from None
    return model.eval()
