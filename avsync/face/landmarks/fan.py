"""Lip landmarks from Bulat & Tzimiropoulos' 2D-FAN (the ``face-alignment`` package, 68 iBUG points; its checkpoint
is placed by hand, never downloaded)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from avsync._optional import OPENCV_INSTALL, require
from avsync.device import resolve_device
from avsync.errors import BundleError
from avsync.face.landmarks.base import as_rgb, ibug_mouth_open, ibug_to_lips

if TYPE_CHECKING:
    import torch

__all__ = [
    "FACE_ALIGNMENT_INSTALL",
    "FAN_CHECKPOINT",
    "FAN_SHA256_PREFIX",
    "FAN_URL",
    "FaceAlignmentLandmarker",
    "resolve_fan_weights",
]

FACE_ALIGNMENT_INSTALL = "pip install 'avsync[face-alignment]' && pip install --no-deps face-alignment==1.5.0"
#: 2D-FAN checkpoint file name (the name face-alignment 1.5 looks for in torch hub's checkpoints folder)
FAN_CHECKPOINT = "2DFAN4-11f355bf06.pth.tar"
FAN_URL = "https://www.adrianbulat.com/downloads/python-fan/" + FAN_CHECKPOINT
FAN_SHA256_PREFIX = FAN_CHECKPOINT.split("-")[1].split(".")[0]
"""First hex digits of the checkpoint's sha256 (torch hub names files ``NAME-<prefix>.ext`` and checks them)."""


def _fan_candidates(weights: str | os.PathLike | None) -> list[Path]:
    cands: list[Path] = []
    if weights is not None:
        p = Path(weights).expanduser()
        cands += (
            [p]
            if p.suffix in (".tar", ".pth", ".pt") or p.is_file()
            else [p / FAN_CHECKPOINT, p / "face-alignment" / FAN_CHECKPOINT]
        )
    for d in filter(None, os.environ.get("AVSYNC_MODELS_DIR", "").split(os.pathsep)):
        cands += [Path(d) / "face-alignment" / FAN_CHECKPOINT, Path(d) / FAN_CHECKPOINT]
    import torch.hub

    cands.append(Path(torch.hub.get_dir()) / "checkpoints" / FAN_CHECKPOINT)
    return cands


def resolve_fan_weights(weights: str | os.PathLike | None = None) -> Path:
    """Find the 2D-FAN checkpoint: ``weights`` (file or folder), ``$AVSYNC_MODELS_DIR`` (as
    ``face-alignment/2DFAN4-11f355bf06.pth.tar`` or directly), torch hub's
    ``checkpoints/`` folder (where face-alignment itself caches it). Never downloads. A file with the official
    name must have the sha256 its name announces (``11f355bf06…``); an explicit file of another name is used
    as given (loaded with ``weights_only=True``).

    Raises
    ------
    BundleError
        Not found; the message lists where it looked and the hint says which file to put where.
    """
    cands = _fan_candidates(weights)
    for c in cands:
        if c.is_file():
            if c.name == FAN_CHECKPOINT:  # torch hub's convention: the name carries its sha256's first digits
                from avsync.bundles import sha256_file

                digest = sha256_file(c)
                if not digest.startswith(FAN_SHA256_PREFIX):
                    raise BundleError(
                        f"{c} has sha256 {digest}, not the 2D-FAN checkpoint (sha256 {FAN_SHA256_PREFIX}…): "
                        "truncated, tampered with or another file", hint=f"replace it with {FAN_URL}")
            return c
    hub = next((c.parent for c in cands if c.parent.name == "checkpoints"), Path("~/.cache/torch/hub/checkpoints"))
    raise BundleError(
        f"face-alignment checkpoint {FAN_CHECKPOINT} not found (looked in: {', '.join(map(str, cands))})",
        hint=(
            f"avsync never downloads it: fetch {FAN_URL} on a machine with internet and put it in {hub}/ "
            f"(or pass weights=PATH / set AVSYNC_MODELS_DIR to a folder holding face-alignment/{FAN_CHECKPOINT})"
        ),
    )


class FaceAlignmentLandmarker:
    """Lip landmarks from Bulat & Tzimiropoulos' 2D-FAN (``face-alignment`` package, 68 iBUG points).

    Each face box gives the crop face-alignment uses (centre moved up by 12 % of the box height,
    side ``200 × (w + h) / reference_scale`` pixels, resized to 256×256, no rotation); the FAN
    heatmaps (64×64) are decoded as face-alignment does (arg-max + quarter-pixel shift) and mapped
    back to image pixels, in float. All faces of a call run as one batch on ``device``.
    Points 48–67 become the common 40-point layout (:func:`ibug_to_lips`).

    Parameters
    ----------
    weights
        ``2DFAN4-11f355bf06.pth.tar`` or a folder holding it (default: ``$AVSYNC_MODELS_DIR``,
        then torch hub's ``checkpoints/``). Missing → :class:`BundleError` with a hint; nothing is
        ever downloaded.
    device
        Torch device.
    flip_input
        Also run the mirrored crop and average the heatmaps (face-alignment's default; 2× cost).
    reference_scale
        Box-size normalisation: 165 for YuNet-style boxes (face-alignment's value for its
        YuNet/RetinaFace/SCRFD detectors), 195 for S3FD boxes.
    batch_size
        Faces per forward pass.
    net
        A ready ``nn.Module`` mapping ``[B, 3, 256, 256]`` RGB in ``[0, 1]`` to heatmaps
        ``[B, 68, 64, 64]`` (or a list whose last item is that); replaces loading the checkpoint.
    """

    name = "face-alignment"
    input_size = 256
    heatmap_size = 64

    def __init__(
        self,
        *,
        weights: str | os.PathLike | None = None,
        device: str = "cpu",
        flip_input: bool = False,
        reference_scale: float = 165.0,
        batch_size: int = 16,
        net: torch.nn.Module | None = None,
    ):
        import torch

        self.device = torch.device(resolve_device(device))
        self.flip_input = bool(flip_input)
        self.reference_scale = float(reference_scale)
        self.batch_size = int(batch_size)
        if net is None:
            models = require("face_alignment.models", "face-alignment lip-landmark backend", FACE_ALIGNMENT_INSTALL)
            path = resolve_fan_weights(weights)
            net = models.FAN(4)
            try:
                sd = torch.load(path, map_location="cpu", weights_only=True)
                if isinstance(sd, dict) and "state_dict" in sd:
                    sd = sd["state_dict"]
                net.load_state_dict(sd, strict=True)
            except Exception as e:
                raise BundleError(
                    f"{path} is not a usable 2D-FAN checkpoint: {e}", hint=f"replace it with {FAN_URL}"
                ) from e
        if self.flip_input:
            self._flip = require("face_alignment.utils", "face-alignment flip_input", FACE_ALIGNMENT_INSTALL).flip
        self.net = net.to(self.device).eval()

    def _geometry(self, box: np.ndarray) -> tuple[float, float, float]:
        """(centre x, centre y, crop side in pixels) of face-alignment's crop for one box."""
        x1, y1, x2, y2 = (float(v) for v in box)
        cx, cy = (x1 + x2) / 2, (y1 + y2) / 2 - (y2 - y1) * 0.12
        scale = ((x2 - x1) + (y2 - y1)) / self.reference_scale
        return cx, cy, 200.0 * scale

    def landmarks(
        self, images: Sequence[np.ndarray], boxes: np.ndarray, points: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """68 iBUG landmarks for one face per image.

        Parameters
        ----------
        images
            Sequence of K ``uint8`` RGB ``[H, W, 3]`` (or gray) frames.
        boxes
            ``[K, 4]`` face boxes in those images' pixels.
        points
            Unused (FAN is run upright, as face-alignment does).

        Returns
        -------
        scores : ndarray
            float32 ``[K, 68]`` heatmap peak values.
        landmarks : ndarray
            float32 ``[K, 68, 2]`` image pixels.
        """
        import torch

        cv2 = require("cv2", "face-alignment lip-landmark backend", OPENCV_INSTALL)
        boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
        k, r, hm_n = len(boxes), self.input_size, self.heatmap_size
        geo = [self._geometry(b) for b in boxes]
        crops = []
        for i, (cx, cy, side) in enumerate(geo):
            z = r / max(side, 1.0)
            m = np.array([[z, 0, r / 2 - z * cx], [0, z, r / 2 - z * cy]], np.float32)
            crops.append(
                cv2.warpAffine(as_rgb(images[i]), m, (r, r), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
            )
        if not k:
            return np.zeros((0, 68), np.float32), np.zeros((0, 68, 2), np.float32)
        heat = []
        with torch.inference_mode():
            for a in range(0, k, self.batch_size):
                x = torch.from_numpy(np.stack(crops[a : a + self.batch_size])).to(self.device)
                x = x.permute(0, 3, 1, 2).float() / 255.0
                out = self.net(x)
                out = out[-1] if isinstance(out, (list, tuple)) else out
                if self.flip_input:
                    fo = self.net(torch.flip(x, dims=[3]))
                    fo = fo[-1] if isinstance(fo, (list, tuple)) else fo
                    out = out + self._flip(fo, is_label=True).to(out.device)
                heat.append(out.float().cpu().numpy())
        hm = np.concatenate(heat)
        if hm.shape[1:] != (68, hm_n, hm_n):
            raise BundleError(f"the FAN network returned heatmaps of shape {hm.shape[1:]}, expected (68, 64, 64)")
        flat = hm.reshape(k, 68, -1)
        idx = flat.argmax(-1)
        scores = np.take_along_axis(flat, idx[..., None], -1)[..., 0]
        py, px = np.divmod(idx, hm_n)
        # face-alignment's sub-pixel step: a quarter pixel towards the higher neighbour (inner cells only)
        inner = (px > 0) & (px < hm_n - 1) & (py > 0) & (py < hm_n - 1)
        pxc, pyc = np.clip(px, 1, hm_n - 2), np.clip(py, 1, hm_n - 2)
        b, j = np.meshgrid(np.arange(k), np.arange(68), indexing="ij")
        dx = np.sign(hm[b, j, pyc, pxc + 1] - hm[b, j, pyc, pxc - 1]) * 0.25 * inner
        dy = np.sign(hm[b, j, pyc + 1, pxc] - hm[b, j, pyc - 1, pxc]) * 0.25 * inner
        # cell centres: heatmap cell c covers [c, c+1) of the 64-grid → c + 0.5; grid → image pixels
        hx, hy = px + 0.5 + dx, py + 0.5 + dy
        cxs = np.array([g[0] for g in geo], np.float32)[:, None]
        cys = np.array([g[1] for g in geo], np.float32)[:, None]
        sides = np.array([g[2] for g in geo], np.float32)[:, None]
        lm = np.stack([(hx / hm_n - 0.5) * sides + cxs, (hy / hm_n - 0.5) * sides + cys], -1)
        return scores.astype(np.float32), lm.astype(np.float32)

    def lip_landmarks(
        self, images: Sequence[np.ndarray], boxes: np.ndarray, points: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """``(lips [K, 40, 2], mouth_open [K])`` float32 in image pixels (iBUG 48–67 resampled)."""
        _, lm = self.landmarks(images, boxes, points)
        if not len(lm):
            return np.zeros((0, 40, 2), np.float32), np.zeros((0,), np.float32)
        return ibug_to_lips(lm), ibug_mouth_open(lm)
