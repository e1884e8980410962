"""Our SyncNet-style dual encoder: 0.2 s of MFCC ↔ 5 mouth frames → unit embeddings.

In the spirit of Chung & Zisserman, "Out of time: automated lip sync in the wild" (2016), but a
smaller network of our own on gray mouth crops: the audio stream is a 1-D convolution over the
20 MFCC steps (13 coefficients as channels), the video stream a 2-D convolution over the 5 stacked
mouth frames. Both end in L2-normalised embeddings; the sync distance of a window is their
Euclidean distance (0..2, lower = in sync).

Window convention: the embedding of video frame ``k`` sees mouth frames ``[k-2, k+3)`` and MFCC
frames ``[4(k-2), 4(k-2) + 20)`` (100 Hz MFCC from sample 0, 25 fps video), i.e. the same 0.2 s.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass

import torch
from torch import nn

__all__ = ["SyncNetConfig", "SyncNetStyle", "audio_windows", "load_syncnet", "mouth_windows", "save_syncnet"]

CONTEXT = 5
"""Video frames per window of the shipped models (a checkpoint's :attr:`SyncNetConfig.frames` may differ)."""
MFCC_PER_FRAME = 4
"""MFCC frames (100 Hz) per video frame (25 fps)."""


@dataclass(frozen=True)
class SyncNetConfig:
    """Shape of :class:`SyncNetStyle` (stored in checkpoints).

    ``frames``: video frames per window, odd (the window is centred on its frame); ``audio_steps``: its MFCC frames,
    ``4 * frames`` (:meth:`for_context` sets both).
    """

    embed_dim: int = 128
    mouth_size: int = 48
    n_mfcc: int = 13
    frames: int = CONTEXT
    audio_steps: int = CONTEXT * MFCC_PER_FRAME
    width: int = 64

    def __post_init__(self) -> None:
        if self.frames < 3 or self.frames % 2 == 0 or self.audio_steps != self.frames * MFCC_PER_FRAME:
            raise ValueError(f"a window is an odd number of video frames >= 3 and 4 MFCC frames per video frame "
                             f"(frames={self.frames}, audio_steps={self.audio_steps})")

    @classmethod
    def for_context(cls, frames: int, **kwargs: int) -> SyncNetConfig:
        """The config of a model whose windows span ``frames`` video frames (and their audio)."""
        return cls(frames=frames, audio_steps=frames * MFCC_PER_FRAME, **kwargs)


def _conv1(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv1d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm1d(cout), nn.ReLU(inplace=True))


def _conv2(cin: int, cout: int, stride: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class SyncNetStyle(nn.Module):
    """Dual encoder. ``forward(mfcc [B, 13, 20], mouth [B, 5, S, S]) -> (audio_emb [B, D], video_emb [B, D])``.

    ``mouth`` holds 0..255 gray crops (any dtype); embeddings have unit L2 norm.
    """

    def __init__(self, config: SyncNetConfig | None = None):
        super().__init__()
        self.config = c = config or SyncNetConfig()
        w = c.width
        self.audio_net = nn.Sequential(
            nn.BatchNorm1d(c.n_mfcc),
            _conv1(c.n_mfcc, w), _conv1(w, 2 * w), nn.MaxPool1d(2),
            _conv1(2 * w, 4 * w), nn.MaxPool1d(2),
            _conv1(4 * w, 4 * w), nn.AdaptiveAvgPool1d(1), nn.Flatten(),
            nn.Linear(4 * w, c.embed_dim),
        )
        self.video_net = nn.Sequential(
            nn.Conv2d(2 * c.frames - 1, w // 2, 5, stride=2, padding=2, bias=False), nn.BatchNorm2d(w // 2), nn.ReLU(inplace=True),
            _conv2(w // 2, w, 2), _conv2(w, 2 * w, 2), _conv2(2 * w, 4 * w, 2),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(),
            nn.Linear(4 * w, c.embed_dim),
        )

    def embed_audio(self, mfcc: torch.Tensor) -> torch.Tensor:
        """``[B, 13, 20]`` MFCC (python_speech_features conventions, int16 scale) → ``[B, D]``."""
        return nn.functional.normalize(self.audio_net(mfcc.float()), dim=-1)

    def embed_video(self, mouth: torch.Tensor) -> torch.Tensor:
        """``[B, 5, S, S]`` 0..255 mouth crops → ``[B, D]`` (frames and their differences as channels)."""
        x = (mouth.float() / 255.0 - 0.5) / 0.25
        x = torch.cat([x, 4.0 * (x[:, 1:] - x[:, :-1])], dim=1)
        return nn.functional.normalize(self.video_net(x), dim=-1)

    def forward(self, mfcc: torch.Tensor, mouth: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Both embeddings of a batch of windows: ``(audio_emb [B, D], video_emb [B, D])``, unit L2 norm
        (:meth:`embed_audio` of ``mfcc [B, 13, 20]``, :meth:`embed_video` of 0..255 ``mouth [B, 5, S, S]``)."""
        return self.embed_audio(mfcc), self.embed_video(mouth)

    def distance(self, mfcc: torch.Tensor, mouth: torch.Tensor) -> torch.Tensor:
        """Sync distance per window ``[B]`` (0..2, lower = in sync)."""
        a, v = self(mfcc, mouth)
        return (a - v).norm(dim=-1)


def audio_windows(mfcc: torch.Tensor, num_frames: int, frames: int = CONTEXT) -> tuple[torch.Tensor, torch.Tensor]:
    """MFCC windows of video frames ``0..num_frames-1``.

    Parameters
    ----------
    mfcc
        ``[Nm, 13]`` 100 Hz MFCC of the whole audio.
    num_frames
        Video frames wanted.
    frames
        Video frames one window spans (the model's :attr:`SyncNetConfig.frames`, odd), centred on its frame.

    Returns
    -------
    (windows ``[num_frames, 13, 4 * frames]``, ok ``[num_frames]`` bool: the window lies inside the audio)
    """
    steps = frames * MFCC_PER_FRAME
    lead = (frames // 2) * MFCC_PER_FRAME
    nm, d = mfcc.shape
    total = max(nm, MFCC_PER_FRAME * num_frames + steps) + lead
    padded = torch.zeros(total, d, dtype=mfcc.dtype)
    padded[lead : lead + nm] = mfcc
    starts = torch.arange(num_frames) * MFCC_PER_FRAME  # = 4 (k - frames // 2) + lead
    idx = starts[:, None] + torch.arange(steps)[None, :]
    win = padded[idx].transpose(1, 2).contiguous()
    first = starts - lead
    ok = (first >= 0) & (first + steps <= nm)
    return win, ok


def mouth_windows(mouth: torch.Tensor, valid: torch.Tensor, frames: int = CONTEXT) -> tuple[torch.Tensor, torch.Tensor]:
    """Windows of ``frames`` frames (five by default) centred on each frame: ``([n, frames, S, S], ok [n])`` (ok:
    every frame of the window valid)."""
    n = mouth.shape[0]
    half = frames // 2
    idx = (torch.arange(n)[:, None] + torch.arange(-half, half + 1)[None, :]).clamp(0, max(n - 1, 0))
    ok = torch.ones(n, dtype=torch.bool)
    for o in range(-half, half + 1):
        j = torch.arange(n) + o
        inside = (j >= 0) & (j < n)
        ok &= inside & valid[j.clamp(0, max(n - 1, 0))]
    return mouth[idx], ok


def save_syncnet(model: SyncNetStyle, path: str | os.PathLike, *, extra: dict | None = None) -> str:
    """Write ``model`` as safetensors with its config, class and avsync version in the metadata."""
    from avsync.checkpoint import write_checkpoint

    meta = {"class": "avsync.encoders.syncnet.SyncNetStyle", "config": asdict(model.config), "extra": extra or {}}
    return os.fspath(write_checkpoint(path, model.state_dict(), meta))


def load_syncnet(path: str | os.PathLike, *, map_location: str = "cpu") -> SyncNetStyle:
    """Load a checkpoint written by :func:`save_syncnet` (checks the class; eval mode)."""
    from avsync.checkpoint import read_checkpoint, read_metadata
    from avsync.errors import BundleError

    path = os.fspath(path)
    if not os.path.exists(path):
        raise BundleError(f"SyncNet-style checkpoint not found: {path}")
    meta = read_metadata(path)
    if meta.get("class") != "avsync.encoders.syncnet.SyncNetStyle":
        raise BundleError(f"{path} holds {meta.get('class')!r}, not a SyncNet-style model")
    model = SyncNetStyle(SyncNetConfig(**json.loads(meta["config"])))
    model.load_state_dict(read_checkpoint(path, device=map_location)[0], strict=True)
    return model.eval()
