"""MediaPipe BlazeFace (front, 128×128) and face mesh (468 landmarks) in PyTorch.

Compatible with the public PyTorch ports' checkpoints (Apache-2.0, from MediaPipe's models):
``blazeface.pth`` + ``anchors.npy`` of hollance/BlazeFace-PyTorch and ``blazeface_landmark.pth``
of zmurez/MediaPipePyTorch (see ``../shared/weights/MANIFEST.md``); the raw outputs reproduce the
original code within 1e-4 (``tests/test_face_blazeface.py``).

* :class:`BlazeFaceNet`: ``[B, 3, 128, 128]`` RGB scaled to ``[-1, 1]`` → raw boxes
  ``[B, 896, 16]`` and raw scores ``[B, 896, 1]`` (tensors in, tensors out).
* :class:`FaceMeshNet`: ``[B, 3, 192, 192]`` RGB in ``[0, 1]`` → face flag ``[B]`` (probability)
  and landmarks ``[B, 468, 3]`` (x, y in ``[0, 1]`` of the input, z relative).
* :class:`BlazeFaceDetector`: the :class:`~avsync.face.detectors.FaceDetector` wrapper
  (letterbox, batching, device, anchor decoding, weighted NMS).
* :class:`FaceMeshLandmarker`: lip landmarks and a mouth-opening signal for face boxes, batched.

Weights are never downloaded: pass ``weights=`` (a file or a folder holding it) or set
``AVSYNC_MODELS_DIR`` (searched for ``blazeface/blazeface.pth``,
``mediapipe-facemesh/blazeface_landmark.pth``).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from avsync.device import resolve_device
from avsync.errors import BundleError
from avsync.face.geometry import iou_matrix
from avsync.face.types import Detections

__all__ = [
    "LIPS_INNER",
    "LIPS_OUTER",
    "BlazeBlock",
    "BlazeFaceDetector",
    "BlazeFaceNet",
    "FaceMeshLandmarker",
    "FaceMeshNet",
    "resolve_weights",
]

# MediaPipe face-mesh indices of the lip contours (outer then inner, 20 each, going round the mouth)
LIPS_OUTER = (61, 146, 91, 181, 84, 17, 314, 405, 321, 375, 291, 409, 270, 269, 267, 0, 37, 39, 40, 185)
LIPS_INNER = (78, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308, 415, 310, 311, 312, 13, 82, 81, 80, 191)
_UPPER_INNER, _LOWER_INNER, _CORNER_R, _CORNER_L = 13, 14, 61, 291


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


class FaceMeshNet(nn.Module):
    """MediaPipe face mesh: ``[B, 3, 192, 192]`` in ``[0, 1]`` → (flag ``[B]`` probability,
    landmarks ``[B, 468, 3]`` normalised by 192)."""

    input_size = 192

    def __init__(self):
        super().__init__()

        def b(cin, cout, stride=1):
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


def resolve_weights(weights: str | os.PathLike | None, relpath: str) -> Path:
    """Find a checkpoint: an explicit file, a folder containing ``relpath`` (or its file name), or
    ``$AVSYNC_MODELS_DIR/relpath``. Raises :class:`BundleError` with what to do otherwise."""
    cands: list[Path] = []
    if weights is not None:
        p = Path(weights)
        cands += [p] if p.is_file() else [p / relpath, p / Path(relpath).name]
    env = os.environ.get("AVSYNC_MODELS_DIR")
    if env:
        cands.append(Path(env) / relpath)
    for c in cands:
        if c.is_file():
            return c
    raise BundleError(
        f"checkpoint {relpath} not found (looked in: {', '.join(map(str, cands)) or 'nowhere'})",
        hint="pass weights=PATH or set AVSYNC_MODELS_DIR to a folder holding it; avsync never downloads it",
    )


def _load(module: nn.Module, path: Path) -> nn.Module:
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

    def __init__(self, *, weights=None, threshold: float = 0.75, nms_iou: float = 0.3, device="cpu"):
        path = resolve_weights(weights, "blazeface/blazeface.pth")
        anchors = path.parent / "anchors.npy"
        if not anchors.is_file():
            raise BundleError(f"anchors.npy is missing beside {path}", hint="copy it from the same source")
        self.device = torch.device(resolve_device(device))
        self.net = _load(BlazeFaceNet(), path).to(self.device)
        self.anchors = np.load(anchors).astype(np.float32)  # [896, 4]: x, y, w, h (normalised)
        self.threshold = float(threshold)
        self.nms_iou = float(nms_iou)

    def _prepare(self, image: np.ndarray):
        import cv2

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

    def detect_batch(self, images) -> list[Detections]:
        """Detect faces in several RGB images at once (one forward pass)."""
        prepared = [self._prepare(im) for im in images]
        if not prepared:
            return []
        r, c = self.raw(np.stack([p[0] for p in prepared]))
        return [self._decode(r[i], c[i], prepared[i][1]) for i in range(len(prepared))]


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

    def __init__(self, *, weights=None, device="cpu", roi_scale: float = 1.5):
        path = resolve_weights(weights, "mediapipe-facemesh/blazeface_landmark.pth")
        self.device = torch.device(resolve_device(device))
        self.net = _load(FaceMeshNet(), path).to(self.device)
        self.roi_scale = float(roi_scale)

    @torch.inference_mode()
    def __call__(self, images, boxes: np.ndarray, points: np.ndarray | None = None):
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
        import cv2

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
        self, images, boxes: np.ndarray, points: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """``(lips [K, 40, 2], mouth_open [K])`` float32 in image pixels (the common lip layout of
        :mod:`avsync.face.landmarks`)."""
        _, lm = self(images, boxes, points)
        return self.lips(lm).astype(np.float32), self.mouth_open(lm)

    @staticmethod
    def lips(landmarks: np.ndarray) -> np.ndarray:
        """``[K, 40, 2]`` lip contour (20 outer then 20 inner points) from ``[K, 468, 3]`` landmarks."""
        return landmarks[:, list(LIPS_OUTER) + list(LIPS_INNER), :2]

    @staticmethod
    def mouth_open(landmarks: np.ndarray) -> np.ndarray:
        """``[K]`` inner-lip gap (points 13–14) divided by the mouth width (corners 61–291)."""
        gap = np.linalg.norm(landmarks[:, _UPPER_INNER, :2] - landmarks[:, _LOWER_INNER, :2], axis=1)
        width = np.linalg.norm(landmarks[:, _CORNER_R, :2] - landmarks[:, _CORNER_L, :2], axis=1)
        return (gap / np.maximum(width, 1e-6)).astype(np.float32)
