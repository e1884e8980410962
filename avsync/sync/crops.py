"""Face tracks from a fixed box: sync without a face tracker (face-crop videos, tests, benchmarks)."""

from __future__ import annotations

import numpy as np
import torch

from avsync.errors import ConfigError
from avsync.inference import run_batched
from avsync.media import Media
from avsync.sync.types import TrackCrops

__all__ = ["crop_resize", "fixed_box_track"]


#: Frames resized per pass by :func:`crop_resize` (each frame is resized on its own: the chunk changes no value).
RESIZE_CHUNK = 256


def crop_resize(gray: np.ndarray, box: tuple[float, float, float, float], size: int) -> np.ndarray:
    """Crop ``[N, H, W]`` uint8 frames to ``box`` = (x0, y0, x1, y1) in fractions of the frame and resize to ``size``².

    Returns ``[N, size, size]`` uint8 (bilinear with antialiasing).
    """
    _, h, w = gray.shape
    x0, y0, x1, y1 = box
    if not (0 <= x0 < x1 <= 1 and 0 <= y0 < y1 <= 1):
        raise ConfigError(f"box must be fractions 0 <= x0 < x1 <= 1, 0 <= y0 < y1 <= 1, got {box}")
    a, b = int(round(y0 * h)), max(int(round(y0 * h)) + 1, int(round(y1 * h)))
    c, d = int(round(x0 * w)), max(int(round(x0 * w)) + 1, int(round(x1 * w)))

    def resize(x: torch.Tensor) -> torch.Tensor:
        x = torch.nn.functional.interpolate(x.to(torch.float32)[:, None], size=(size, size), mode="bilinear",
                                            antialias=True, align_corners=False)
        return x[:, 0].round().clamp(0, 255).to(torch.uint8)

    # a chunk at a time: the float copies of a long track stay small
    return run_batched(resize, gray[:, a:b, c:d], batch_size=RESIZE_CHUNK, empty=np.zeros((0, size, size), np.uint8))


def fixed_box_track(
    media: Media,
    *,
    mouth_box: tuple[float, float, float, float] | None = (0.3, 0.5, 0.7, 0.75),
    face_box: tuple[float, float, float, float] | None = None,
    mouth_size: int = 48,
    track_id: int = 0,
    chunk_size: int = 128,
) -> TrackCrops:
    """One track that takes its crops from fixed boxes of every frame (all frames valid).

    Parameters
    ----------
    media
        :class:`~avsync.media.Media` with video.
    mouth_box
        Mouth region as (x0, y0, x1, y1) fractions of the frame (default: the lower-middle of a
        face-crop video such as SyncNet's demo); ``None`` to skip mouth crops.
    face_box
        Face region for Light-ASD crops (resized to 224², centre 112² kept), or ``None``.
    mouth_size
        Side of the square mouth crops.
    """
    mouths, faces, idx = [], [], []
    for chunk in media.frames(gray=True, chunk_size=chunk_size):
        idx.append(chunk.indices)
        if mouth_box is not None:
            mouths.append(crop_resize(chunk.images, mouth_box, mouth_size))
        if face_box is not None:
            faces.append(crop_resize(chunk.images, face_box, 224)[:, 56:168, 56:168])
    frames = np.concatenate(idx) if idx else np.zeros(0, np.int64)
    return TrackCrops(
        track_id=track_id,
        frames=frames,
        valid=np.ones(len(frames), bool),
        mouth=np.concatenate(mouths) if mouths else None,
        face=np.concatenate(faces) if faces else None,
        fps=float(media.fps),
    )
