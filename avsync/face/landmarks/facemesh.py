"""MediaPipe's face mesh (468 landmarks) in PyTorch: lip landmarks and a mouth-opening signal for face boxes, batched.

Compatible with the public PyTorch port's checkpoint ``blazeface_landmark.pth`` of zmurez/MediaPipePyTorch
(Apache-2.0, from MediaPipe's models; see ``../shared/weights/MANIFEST.md``); the raw outputs reproduce the original
code within 1e-4 (``tests/test_face_blazeface.py``). Built from BlazeFace's blocks
(:class:`~avsync.face.detectors.blazeface.BlazeBlock`).

* :class:`FaceMeshNet`: ``[B, 3, 192, 192]`` RGB in ``[0, 1]`` → face flag ``[B]`` (probability)
  and landmarks ``[B, 468, 3]`` (x, y in ``[0, 1]`` of the input, z relative).
* :class:`FaceMeshLandmarker`: lip landmarks and a mouth-opening signal for face boxes, batched.

The weights are never downloaded: pass ``weights=`` (a file or a folder holding it) or set ``AVSYNC_MODELS_DIR``
(searched for ``mediapipe-facemesh/blazeface_landmark.pth``).
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from avsync._optional import OPENCV_INSTALL, require
from avsync.device import resolve_device
from avsync.face.detectors.blazeface import BlazeBlock, load_checkpoint, resolve_weights
from avsync.face.landmarks.base import LIPS_INNER, LIPS_OUTER, mesh_lips, mesh_mouth_open

__all__ = ["LIPS_INNER", "LIPS_OUTER", "FaceMeshLandmarker", "FaceMeshNet"]


class FaceMeshNet(nn.Module):
    """MediaPipe face mesh: ``[B, 3, 192, 192]`` in ``[0, 1]`` → (flag ``[B]`` probability,
    landmarks ``[B, 468, 3]`` normalised by 192)."""

    input_size = 192

    def __init__(self):
        super().__init__()

        def b(cin: int, cout: int, stride: int = 1) -> BlazeBlock:
            return BlazeBlock(cin, cout, 3, stride, act="prelu")

        self.backbone1 = nn.Sequential(
            nn.Conv2d(3, 16, 3, 2, 0, bias=True),
            nn.PReLU(16),
            b(16, 16), b(16, 16), b(16, 32, 2), b(32, 32), b(32, 32), b(32, 64, 2), b(64, 64), b(64, 64),
            b(64, 128, 2), b(128, 128), b(128, 128), b(128, 128, 2), b(128, 128), b(128, 128),
        )  # fmt: skip
        self.backbone2a = nn.Sequential(
            b(128, 128, 2), b(128, 128), b(128, 128),
            nn.Conv2d(128, 32, 1, padding=0, bias=True), nn.PReLU(32), b(32, 32),
            nn.Conv2d(32, 1404, 3, padding=0, bias=True),
        )  # fmt: skip
        self.backbone2b = nn.Sequential(
            b(128, 128, 2), nn.Conv2d(128, 32, 1, padding=0, bias=True), nn.PReLU(32), b(32, 32),
            nn.Conv2d(32, 1, 3, padding=0, bias=True),
        )  # fmt: skip

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if x.shape[0] == 0:
            return x.new_zeros((0,)), x.new_zeros((0, 468, 3))
        x = F.pad(x, (0, 1, 0, 1), "constant", 0)
        x = self.backbone1(x)
        landmarks = self.backbone2a(x).view(-1, 468, 3) / 192
        flag = self.backbone2b(x).sigmoid().view(-1)
        return flag, landmarks


class FaceMeshLandmarker:
    """468 face-mesh landmarks for given face boxes; lip contours and mouth opening.

    Each face is cut as a square of ``1.5 ×`` the box size around the box centre, rotated so the
    eye line is horizontal (when five points are given), resized to 192×192 and run through
    :class:`FaceMeshNet` in one batch.

    Parameters
    ----------
    weights
        ``blazeface_landmark.pth`` or a folder holding ``mediapipe-facemesh/blazeface_landmark.pth``.
    device
        Torch device.
    """

    name = "facemesh"

    def __init__(self, *, weights: str | os.PathLike | None = None, device: str = "cpu", roi_scale: float = 1.5):
        path = resolve_weights(weights, "mediapipe-facemesh/blazeface_landmark.pth")
        self.device = torch.device(resolve_device(device))
        self.net = load_checkpoint(FaceMeshNet(), path).to(self.device)
        self.roi_scale = float(roi_scale)

    @torch.inference_mode()
    def __call__(self, images: Sequence[np.ndarray], boxes: np.ndarray, points: np.ndarray | None = None):
        """Landmarks for one face per image.

        Parameters
        ----------
        images
            Sequence of ``uint8`` RGB ``[H, W, 3]`` (or gray ``[H, W]``) frames, one per face.
        boxes
            ``[K, 4]`` face boxes in those images' pixels.
        points
            ``[K, 5, 2]`` five points (for the roll angle), optional.

        Returns
        -------
        flags : ndarray
            ``[K]`` face-presence probability.
        landmarks : ndarray
            ``[K, 468, 3]``: x, y in image pixels, z in the same (relative) scale.
        """
        cv2 = require("cv2", "face-mesh lip-landmark backend", OPENCV_INSTALL)
        boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
        k = len(boxes)
        crops, inv = [], []
        for i in range(k):
            img = images[i]
            if img.ndim == 2:
                img = cv2.cvtColor(img, cv2.COLOR_GRAY2RGB)
            x1, y1, x2, y2 = boxes[i]
            c = ((x1 + x2) / 2, (y1 + y2) / 2)
            side = self.roi_scale * max(x2 - x1, y2 - y1)
            ang = 0.0
            if points is not None:
                e = points[i][1] - points[i][0]
                ang = float(np.degrees(np.arctan2(e[1], e[0])))
            m = cv2.getRotationMatrix2D(c, ang, 192.0 / max(side, 1.0))
            m[:, 2] += np.array([96 - c[0], 96 - c[1]])
            crops.append(cv2.warpAffine(img, m, (192, 192), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT))
            inv.append(cv2.invertAffineTransform(m))
        if not k:
            return np.zeros((0,), np.float32), np.zeros((0, 468, 3), np.float32)
        x = torch.from_numpy(np.stack(crops)).to(self.device).permute(0, 3, 1, 2).float() / 255.0
        flag, lm = self.net(x)
        flag, lm = flag.cpu().numpy(), lm.cpu().numpy() * 192.0
        out = np.empty_like(lm)
        for i in range(k):
            # the mesh's coordinates put pixel j's centre at j + 0.5; warpAffine's at j
            xy = (lm[i, :, :2] - 0.5) @ inv[i][:, :2].T + inv[i][:, 2]
            out[i, :, :2] = xy
            out[i, :, 2] = lm[i, :, 2] * abs(np.linalg.det(inv[i][:, :2])) ** 0.5
        return flag.astype(np.float32), out.astype(np.float32)

    def lip_landmarks(
        self, images: Sequence[np.ndarray], boxes: np.ndarray, points: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """``(lips [K, 40, 2], mouth_open [K])`` float32 in image pixels (the common lip layout of
        :mod:`avsync.face.landmarks`)."""
        _, lm = self(images, boxes, points)
        return self.lips(lm).astype(np.float32), self.mouth_open(lm)

    @staticmethod
    def lips(landmarks: np.ndarray) -> np.ndarray:
        """``[K, 40, 2]`` lip contour (20 outer then 20 inner points) from ``[K, 468, 3]`` landmarks."""
        return mesh_lips(landmarks)

    @staticmethod
    def mouth_open(landmarks: np.ndarray) -> np.ndarray:
        """``[K]`` inner-lip gap (points 13–14) divided by the mouth width (corners 61–291)."""
        return mesh_mouth_open(landmarks)
