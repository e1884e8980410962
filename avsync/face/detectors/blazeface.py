"""MediaPipe BlazeFace (front, 128×128) in PyTorch, and the pieces the face mesh shares with it.

Compatible with the public PyTorch ports' checkpoints (Apache-2.0, from MediaPipe's models):
``blazeface.pth`` + ``anchors.npy`` of hollance/BlazeFace-PyTorch (see ``../shared/weights/MANIFEST.md``); the
raw outputs reproduce the original code within 1e-4 (``tests/test_face_blazeface.py``).

* :class:`BlazeBlock`: the depthwise-separable residual block of BlazeFace and of the face mesh
  (:mod:`avsync.face.landmarks.facemesh`).
* :class:`BlazeFaceNet`: ``[B, 3, 128, 128]`` RGB scaled to ``[-1, 1]`` → raw boxes
  ``[B, 896, 16]`` and raw scores ``[B, 896, 1]`` (tensors in, tensors out).
* :class:`BlazeFaceDetector`: the :class:`~avsync.face.detectors.FaceDetector` wrapper
  (letterbox, batching, device, anchor decoding, weighted NMS).
* :func:`resolve_weights`, :func:`load_checkpoint`: find and load a checkpoint (both networks).

Weights are never downloaded: pass ``weights=`` (a file or a folder holding it) or set
``AVSYNC_MODELS_DIR`` (searched for ``blazeface/blazeface.pth``).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from avsync._optional import OPENCV_INSTALL, require
from avsync.device import resolve_device
from avsync.errors import BundleError
from avsync.face.geometry import iou_matrix
from avsync.face.types import Detections

__all__ = [
    "BlazeBlock",
    "BlazeFaceDetector",
    "BlazeFaceNet",
    "load_checkpoint",
    "resolve_weights",
]


class BlazeBlock(nn.Module):
    """Depthwise-separable residual block (stride 1 or 2) with ReLU or PReLU."""

    def __init__(self, cin: int, cout: int, kernel_size: int = 3, stride: int = 1, act: str = "relu"):
        super().__init__()
        self.stride = stride
        self.kernel_size = kernel_size
        self.channel_pad = cout - cin
        padding = 0 if stride == 2 else (kernel_size - 1) // 2
        if stride == 2:
            self.max_pool = nn.MaxPool2d(kernel_size=stride, stride=stride)
        self.convs = nn.Sequential(
            nn.Conv2d(cin, cin, kernel_size, stride, padding, groups=cin, bias=True),
            nn.Conv2d(cin, cout, 1, 1, 0, bias=True),
        )
        self.act = nn.ReLU(inplace=True) if act == "relu" else nn.PReLU(cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride == 2:
            h = F.pad(x, (0, 2, 0, 2) if self.kernel_size == 3 else (1, 2, 1, 2), "constant", 0)
            x = self.max_pool(x)
        else:
            h = x
        if self.channel_pad > 0:
            x = F.pad(x, (0, 0, 0, 0, 0, self.channel_pad), "constant", 0)
        return self.act(self.convs(h) + x)


class BlazeFaceNet(nn.Module):
    """BlazeFace front model: ``[B, 3, 128, 128]`` in ``[-1, 1]`` → (raw boxes ``[B, 896, 16]``,
    raw scores ``[B, 896, 1]``)."""

    input_size = 128

    def __init__(self):
        super().__init__()
        b = BlazeBlock
        self.backbone1 = nn.Sequential(
            nn.Conv2d(3, 24, 5, 2, 0, bias=True),
            nn.ReLU(inplace=True),
            b(24, 24), b(24, 28), b(28, 32, stride=2), b(32, 36), b(36, 42), b(42, 48, stride=2),
            b(48, 56), b(56, 64), b(64, 72), b(72, 80), b(80, 88),
        )  # fmt: skip
        self.backbone2 = nn.Sequential(b(88, 96, stride=2), b(96, 96), b(96, 96), b(96, 96), b(96, 96))
        self.classifier_8 = nn.Conv2d(88, 2, 1, bias=True)
        self.classifier_16 = nn.Conv2d(96, 6, 1, bias=True)
        self.regressor_8 = nn.Conv2d(88, 32, 1, bias=True)
        self.regressor_16 = nn.Conv2d(96, 96, 1, bias=True)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = F.pad(x, (1, 2, 1, 2), "constant", 0)
        n = x.shape[0]
        x = self.backbone1(x)  # [B, 88, 16, 16]
        h = self.backbone2(x)  # [B, 96, 8, 8]
        c = torch.cat(
            [self.classifier_8(x).permute(0, 2, 3, 1).reshape(n, -1, 1),
             self.classifier_16(h).permute(0, 2, 3, 1).reshape(n, -1, 1)], dim=1,
        )  # fmt: skip
        r = torch.cat(
            [self.regressor_8(x).permute(0, 2, 3, 1).reshape(n, -1, 16),
             self.regressor_16(h).permute(0, 2, 3, 1).reshape(n, -1, 16)], dim=1,
        )  # fmt: skip
        return r, c


def resolve_weights(weights: str | os.PathLike | None, relpath: str) -> Path:
    """Find a checkpoint: an explicit file, a folder containing ``relpath`` (or its file name), or ``relpath`` in
    the folders every weights bundle is looked for in (``$AVSYNC_MODELS_DIR``, the user cache where ``avsync models
    pull`` puts it, :func:`avsync.bundles.search_dirs`). Raises :class:`BundleError` with what to do otherwise."""
    from avsync.bundles import search_dirs

    cands: list[Path] = []
    if weights is not None:
        p = Path(weights)
        cands += [p] if p.is_file() else [p / relpath, p / Path(relpath).name]
    cands += [d / relpath for d in search_dirs()]
    for c in cands:
        if c.is_file():
            return c
    raise BundleError(
        f"checkpoint {relpath} not found (looked in: {', '.join(map(str, cands)) or 'nowhere'})",
        hint="pass weights=PATH or set AVSYNC_MODELS_DIR to a folder holding it; avsync never downloads it",
    )


def load_checkpoint(module: nn.Module, path: Path) -> nn.Module:
    """Load the state dict at ``path`` (``weights_only``) into ``module`` strictly; ``module`` in eval mode."""
    sd = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(sd, dict) and "state_dict" in sd:
        sd = sd["state_dict"]
    try:
        module.load_state_dict(sd, strict=True)
    except RuntimeError as e:
        raise BundleError(f"{path} does not fit {type(module).__name__}: {e}") from e
    return module.eval()


def _weighted_nms(boxes: np.ndarray, scores: np.ndarray, iou_thr: float) -> list[tuple[np.ndarray, float]]:
    """BlazeFace's blending NMS: overlapping detections are averaged, weighted by score."""

    order = np.argsort(-scores)
    out = []
    while len(order):
        first = order[0]
        xyxy = boxes[order][:, [1, 0, 3, 2]]  # ymin,xmin,ymax,xmax -> x1,y1,x2,y2
        ious = iou_matrix(xyxy[:1], xyxy)[0]
        overlap = order[ious > iou_thr]
        w = scores[overlap][:, None]
        blended = (boxes[overlap] * w).sum(0) / w.sum()
        out.append((blended, float(scores[first])))
        order = order[ious <= iou_thr]
    return out


class BlazeFaceDetector:
    """BlazeFace front (128×128) as a :class:`~avsync.face.detectors.FaceDetector`.

    Images are letterboxed to a square and resized to 128×128, so faces smaller than about 1/10
    of the frame's longest side are missed (BlazeFace front is made for selfie-distance faces).
    Its six keypoints (eyes, nose, mouth centre, ears) become the five points: the mouth corners
    are the detected mouth centre ± 0.43 × the eye-to-eye vector.

    Parameters
    ----------
    weights
        ``blazeface.pth`` or a folder holding ``blazeface/blazeface.pth`` and ``anchors.npy``
        (default: ``$AVSYNC_MODELS_DIR``).
    threshold
        Minimum score (sigmoid of the raw score), 0.75 in the original.
    device
        Torch device; batches run there (``detect_batch``).
    """

    name = "blazeface"
    max_side = 512

    def __init__(
        self, *, weights: str | os.PathLike | None = None, threshold: float = 0.75, nms_iou: float = 0.3,
        device: str = "cpu",
    ):
        path = resolve_weights(weights, "blazeface/blazeface.pth")
        anchors = path.parent / "anchors.npy"
        if not anchors.is_file():
            raise BundleError(f"anchors.npy is missing beside {path}", hint="copy it from the same source")
        self.device = torch.device(resolve_device(device))
        self.net = load_checkpoint(BlazeFaceNet(), path).to(self.device)
        self.anchors = np.load(anchors).astype(np.float32)  # [896, 4]: x, y, w, h (normalised)
        self.threshold = float(threshold)
        self.nms_iou = float(nms_iou)

    def _prepare(self, image: np.ndarray):
        cv2 = require("cv2", "BlazeFace detector", OPENCV_INSTALL)

        if image.ndim == 2:
            image = cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)
        h, w = image.shape[:2]
        side = max(h, w)
        sq = np.zeros((side, side, 3), np.uint8)
        sq[:h, :w] = image
        return cv2.resize(sq, (128, 128), interpolation=cv2.INTER_AREA), side

    @torch.inference_mode()
    def raw(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Raw network outputs for ``uint8 [B, 128, 128, 3]`` RGB images."""
        x = torch.from_numpy(np.ascontiguousarray(batch)).to(self.device).permute(0, 3, 1, 2).float() / 127.5 - 1.0
        r, c = self.net(x)
        return r.cpu().numpy(), c.cpu().numpy()

    def _decode(self, r: np.ndarray, c: np.ndarray, side: int) -> Detections:
        a = self.anchors
        scores = 1 / (1 + np.exp(-np.clip(c[:, 0], -100, 100)))
        keep = scores >= self.threshold
        if not keep.any():
            return Detections.empty()
        r, a, scores = r[keep], a[keep], scores[keep]
        xc = r[:, 0] / 128 * a[:, 2] + a[:, 0]
        yc = r[:, 1] / 128 * a[:, 3] + a[:, 1]
        bw, bh = r[:, 2] / 128 * a[:, 2], r[:, 3] / 128 * a[:, 3]
        kx = r[:, 4::2] / 128 * a[:, 2:3] + a[:, 0:1]
        ky = r[:, 5::2] / 128 * a[:, 3:4] + a[:, 1:2]
        dec = np.concatenate([np.stack([yc - bh / 2, xc - bw / 2, yc + bh / 2, xc + bw / 2], 1),
                              np.stack([kx, ky], 2).reshape(-1, 12)], 1)  # fmt: skip
        faces = _weighted_nms(dec, scores, self.nms_iou)
        boxes, points, sc = [], [], []
        for d, s in faces:
            ymin, xmin, ymax, xmax = d[:4] * side
            kp = d[4:].reshape(6, 2) * side
            eye = kp[1] - kp[0]
            mouth = kp[3]
            points.append(np.stack([kp[0], kp[1], kp[2], mouth - 0.43 * eye, mouth + 0.43 * eye]))
            boxes.append([xmin, ymin, xmax, ymax])
            sc.append(s)
        return Detections(np.asarray(boxes, np.float32), np.asarray(points, np.float32), np.asarray(sc, np.float32))

    def detect(self, image: np.ndarray) -> Detections:
        return self.detect_batch([image])[0]

    def detect_batch(self, images: Sequence[np.ndarray]) -> list[Detections]:
        """Detect faces in several RGB images at once (one forward pass)."""
        prepared = [self._prepare(im) for im in images]
        if not prepared:
            return []
        r, c = self.raw(np.stack([p[0] for p in prepared]))
        return [self._decode(r[i], c[i], prepared[i][1]) for i in range(len(prepared))]
