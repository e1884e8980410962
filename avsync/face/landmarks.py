"""Lip landmark backends behind one interface: own PyTorch face mesh, MediaPipe, face-alignment (FAN).

Every backend returns the same **40-point lip layout** in image pixels and the same
**mouth-opening signal**, so :func:`avsync.face.track` (``landmarks=``) and everything downstream
do not care which one ran:

* points 0–19: outer lip contour, 20–39: inner contour;
* each contour starts at the subject's right mouth corner (left in the image), runs along the
  lower lip to the other corner (index 10 / 30) and back along the upper lip; the lower-lip
  centre is index 5 / 25, the upper-lip centre 15 / 35 (MediaPipe face-mesh order, see
  :data:`avsync.face.blazeface.LIPS_OUTER` / ``LIPS_INNER``);
* ``mouth_open`` = inner-lip gap at the centre (points 25–35) / distance between the outer
  corners (points 0–10): about 0 for a closed mouth, growing as it opens.

Backends (``get_landmarker(name)``):

* ``"facemesh"``: :class:`~avsync.face.blazeface.FaceMeshLandmarker`, our PyTorch port of
  MediaPipe's face mesh, batched, GPU-ready; needs ``blazeface_landmark.pth`` (``weights=`` or
  ``$AVSYNC_MODELS_DIR``).
* ``"mediapipe"``: :class:`MediaPipeLandmarker`, Google's ``mediapipe`` package (its face-mesh
  model ships in the wheel; CPU). Install: ``pip install 'avsync[mediapipe]' && pip install
  --no-deps mediapipe==0.10.21`` (its declared ``numpy<2`` is not needed for the face mesh;
  protobuf must be 4.x).
* ``"face-alignment"``: :class:`FaceAlignmentLandmarker`, Bulat's 2D-FAN (68 iBUG points) from
  the ``face-alignment`` package; its checkpoint ``2DFAN4-11f355bf06.pth.tar`` must be placed by
  hand (avsync never downloads it).

A backend is any object with a ``name`` and
``lip_landmarks(images, boxes, points) -> (lips [K, 40, 2], mouth_open [K])`` (NaN rows where no
face was found).
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Literal, Protocol, runtime_checkable

import numpy as np

from avsync._optional import require
from avsync.device import resolve_device
from avsync.errors import BundleError, ConfigError
from avsync.results import Status

__all__ = [
    "FAN_CHECKPOINT",
    "IBUG_LIPS",
    "LANDMARKERS",
    "FaceAlignmentLandmarker",
    "LipLandmarker",
    "MediaPipeLandmarker",
    "get_landmarker",
    "ibug_mouth_open",
    "ibug_to_lips",
    "lip_mouth_open",
]

LandmarkerName = Literal["facemesh", "mediapipe", "face-alignment"]
LANDMARKERS: tuple[str, ...] = ("facemesh", "mediapipe", "face-alignment")

MEDIAPIPE_INSTALL = "pip install 'avsync[mediapipe]' && pip install --no-deps mediapipe==0.10.21"
FACE_ALIGNMENT_INSTALL = "pip install 'avsync[face-alignment]' && pip install --no-deps face-alignment==1.5.0"
#: 2D-FAN checkpoint file name (the name face-alignment 1.5 looks for in torch hub's checkpoints folder)
FAN_CHECKPOINT = "2DFAN4-11f355bf06.pth.tar"
FAN_URL = "https://www.adrianbulat.com/downloads/python-fan/" + FAN_CHECKPOINT
FAN_SHA256_PREFIX = FAN_CHECKPOINT.split("-")[1].split(".")[0]
"""First hex digits of the checkpoint's sha256 (torch hub names files ``NAME-<prefix>.ext`` and checks them)."""

#: iBUG-68 indices of the lips: 48–59 outer contour, 60–67 inner contour
IBUG_LIPS = tuple(range(48, 68))


@runtime_checkable
class LipLandmarker(Protocol):
    """What :func:`avsync.face.track` needs from a lip-landmark backend."""

    name: str

    def lip_landmarks(
        self, images, boxes: np.ndarray, points: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """``images``: K uint8 RGB ``[H, W, 3]`` (or gray) frames, one face each; ``boxes`` ``[K, 4]``
        and ``points`` ``[K, 5, 2]`` in those images' pixels → (``lips`` float32 ``[K, 40, 2]``
        image pixels, ``mouth_open`` float32 ``[K]``), NaN where no face was found."""
        ...


# ------------------------------------------------------------------------------------------------
# layout helpers


def lip_mouth_open(lips: np.ndarray) -> np.ndarray:
    """``[K]`` mouth opening from ``[K, 40, 2]`` lips in the common layout: inner-lip gap at the
    centre (points 25 and 35) divided by the outer-corner distance (points 0 and 10)."""
    lips = np.asarray(lips, np.float32)
    gap = np.linalg.norm(lips[:, 25] - lips[:, 35], axis=-1)
    width = np.linalg.norm(lips[:, 0] - lips[:, 10], axis=-1)
    return (gap / np.maximum(width, 1e-6)).astype(np.float32)


def _resample_path(path: np.ndarray, n_out: int) -> np.ndarray:
    """``[K, m+1, 2]`` polyline (ends kept) → ``[K, n_out+1, 2]`` points equally spaced in the
    polyline's point index (each input segment gets the same share)."""
    m = path.shape[1] - 1
    t = np.linspace(0.0, m, n_out + 1)
    i0 = np.minimum(np.floor(t).astype(int), m - 1)
    w = (t - i0)[None, :, None]
    return path[:, i0] * (1 - w) + path[:, i0 + 1] * w


def ibug_to_lips(landmarks: np.ndarray) -> np.ndarray:
    """Map iBUG-68 landmarks to the common 40-point lip layout.

    The outer contour (48–59: corner 48, upper lip 49–53, corner 54, lower lip 55–59) and the
    inner contour (60–67: corner 60, upper 61–63, corner 64, lower 65–67) are split at the corners
    and the lip centres (57/51 outer, 66/62 inner) and each quarter is resampled to 5 segments,
    so corners land on indices 0/10 (20/30) and centres on 5/15 (25/35), as in MediaPipe's order.

    Parameters
    ----------
    landmarks
        ``[K, 68, 2+]`` (or ``[68, 2+]``) iBUG-68 points, pixels.

    Returns
    -------
    ndarray
        float32 ``[K, 40, 2]`` (``[40, 2]`` for one face).
    """
    lm = np.asarray(landmarks, np.float32)
    single = lm.ndim == 2
    if single:
        lm = lm[None]
    if lm.ndim != 3 or lm.shape[1] != 68 or lm.shape[2] < 2:
        raise ConfigError(f"expected iBUG-68 landmarks [K, 68, 2], got {lm.shape}")
    p = lm[..., :2]
    # outer: corner 48 -> lower lip 59..55 -> corner 54 -> upper lip 53..49 -> (back to 48)
    outer = [[48, 59, 58, 57], [57, 56, 55, 54], [54, 53, 52, 51], [51, 50, 49, 48]]
    # inner: corner 60 -> lower 67, 66, 65 -> corner 64 -> upper 63, 62, 61 -> (back to 60)
    inner = [[60, 67, 66], [66, 65, 64], [64, 63, 62], [62, 61, 60]]
    parts = []
    for contour in (outer, inner):
        for q in contour:
            parts.append(_resample_path(p[:, q], 5)[:, :5])  # drop the end point: it starts the next quarter
    out = np.concatenate(parts, axis=1).astype(np.float32)
    return out[0] if single else out


def ibug_mouth_open(landmarks: np.ndarray) -> np.ndarray:
    """``[K]`` inner-lip gap (iBUG points 62–66) / outer-corner distance (48–54) for ``[K, 68, 2+]``."""
    lm = np.asarray(landmarks, np.float32)
    gap = np.linalg.norm(lm[:, 62, :2] - lm[:, 66, :2], axis=-1)
    width = np.linalg.norm(lm[:, 48, :2] - lm[:, 54, :2], axis=-1)
    return (gap / np.maximum(width, 1e-6)).astype(np.float32)


def _square_region(img: np.ndarray, x0: int, y0: int, n: int) -> np.ndarray:
    """``img[y0:y0+n, x0:x0+n]`` with zeros where the square leaves the image."""
    h, w = img.shape[:2]
    out = np.zeros((n, n, *img.shape[2:]), img.dtype)
    sx0, sy0, sx1, sy1 = max(x0, 0), max(y0, 0), min(x0 + n, w), min(y0 + n, h)
    if sx1 > sx0 and sy1 > sy0:
        out[sy0 - y0 : sy1 - y0, sx0 - x0 : sx1 - x0] = img[sy0:sy1, sx0:sx1]
    return out


def _as_rgb(img: np.ndarray) -> np.ndarray:
    import cv2

    if img.ndim == 2:
        return cv2.cvtColor(img, cv2.COLOR_GRAY2RGB)
    return img[..., :3]


# ------------------------------------------------------------------------------------------------
# MediaPipe


class MediaPipeLandmarker:
    """Lip landmarks from Google's ``mediapipe`` face mesh (legacy ``solutions.face_mesh``, CPU).

    For each face box a square region (``roi_scale`` × the box size, centred on the box, zero-padded
    outside the frame) is cut, resized to ``roi_size`` (area averaging when shrinking) and given to MediaPipe's face mesh in static-image mode (its own
    short-range face detector, then the 468-point mesh, the model files shipped in the wheel); the
    face nearest the region's centre is kept and mapped back to image pixels. The same 40 lip
    indices and opening as :class:`~avsync.face.blazeface.FaceMeshLandmarker` (same mesh topology).

    Parameters
    ----------
    roi_scale
        Side of the region given to MediaPipe, as a multiple of the face box's longest side
        (MediaPipe's short-range detector wants a face that fills about half the picture).
    roi_size
        Region side in pixels after resizing (square: MediaPipe's landmark projection assumes it).
    min_detection_confidence
        MediaPipe's detector threshold; faces it does not find give NaN rows.

    Notes
    -----
    Install with ``pip install 'avsync[mediapipe]' && pip install --no-deps mediapipe==0.10.21``
    (the extra brings ``protobuf>=4.25.3,<5``, ``matplotlib``, ``attrs``). The wheel
    declares ``numpy<2``, ``jax``, ``opencv-contrib-python`` … none of which the face mesh needs
    (it runs with numpy 2); it does need protobuf 4.x (protobuf ≥ 5 removed APIs its bindings use).
    MediaPipe's C++ code prints a few ``W0000`` log lines to stderr on first use.
    """

    name = "mediapipe"

    def __init__(self, *, roi_scale: float = 2.0, roi_size: int = 256, min_detection_confidence: float = 0.5):
        what = "MediaPipe lip-landmark backend"
        pb = require("google.protobuf", what, MEDIAPIPE_INSTALL)
        major = int(str(getattr(pb, "__version__", "4")).split(".")[0])
        if major >= 5:
            raise ConfigError(
                f"mediapipe 0.10.21's face mesh needs protobuf 4.x, but protobuf {pb.__version__} is installed",
                status=Status.CONFIG_ERROR,
                hint="pip install 'protobuf>=4.25.3,<5'",
            )
        mp = require("mediapipe", what, MEDIAPIPE_INSTALL)
        try:
            self._mesh = mp.solutions.face_mesh.FaceMesh(
                static_image_mode=True,
                max_num_faces=2,
                refine_landmarks=False,
                min_detection_confidence=float(min_detection_confidence),
            )
        except (AttributeError, RuntimeError, ImportError) as e:  # broken install (protobuf, missing graph files)
            raise ConfigError(f"mediapipe's face mesh could not be started: {e}", hint=MEDIAPIPE_INSTALL) from e
        self.roi_scale = float(roi_scale)
        self.roi_size = int(roi_size)

    def close(self) -> None:
        """Free MediaPipe's graph (also done when the object is garbage-collected)."""
        mesh, self._mesh = getattr(self, "_mesh", None), None
        if mesh is not None:
            mesh.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        with contextlib.suppress(Exception):  # interpreter shutdown
            self.close()

    def landmarks(self, images, boxes: np.ndarray, points: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """468 face-mesh landmarks for one face per image.

        Parameters
        ----------
        images
            Sequence of K ``uint8`` RGB ``[H, W, 3]`` (or gray ``[H, W]``) frames.
        boxes
            ``[K, 4]`` face boxes (x1, y1, x2, y2) in those images' pixels.
        points
            Unused (MediaPipe finds the roll itself); accepted for the common interface.

        Returns
        -------
        found : ndarray
            bool ``[K]``: MediaPipe found a face in the region.
        landmarks : ndarray
            float32 ``[K, 468, 3]``: x, y in image pixels, z in the same scale; NaN where not found.
        """
        import cv2

        if self._mesh is None:
            raise ConfigError("this MediaPipeLandmarker was closed")
        boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
        k = len(boxes)
        found = np.zeros(k, bool)
        out = np.full((k, 468, 3), np.nan, np.float32)
        s = self.roi_size
        for i in range(k):
            x1, y1, x2, y2 = boxes[i]
            n = max(int(round(self.roi_scale * max(x2 - x1, y2 - y1))), 8)  # region side, image pixels
            x0, y0 = int(round((x1 + x2 - n) / 2)), int(round((y1 + y2 - n) / 2))
            region = _square_region(_as_rgb(images[i]), x0, y0, n)
            crop = cv2.resize(region, (s, s), interpolation=cv2.INTER_AREA if n > s else cv2.INTER_LINEAR)
            res = self._mesh.process(np.ascontiguousarray(crop))
            faces = res.multi_face_landmarks or []
            if not faces:
                continue
            cands = [np.array([(p.x, p.y, p.z) for p in f.landmark], np.float32) for f in faces]
            best = min(cands, key=lambda a: float(np.sum((a[:, :2].mean(0) - 0.5) ** 2)))
            # normalised coordinates (pixel j's centre at (j + 0.5) / size, kept by the resize) -> region
            # pixels -> image pixel indices; z is normalised by the width like x
            out[i, :, 0] = x0 + best[:, 0] * n - 0.5
            out[i, :, 1] = y0 + best[:, 1] * n - 0.5
            out[i, :, 2] = best[:, 2] * n
            found[i] = True
        return found, out

    def lip_landmarks(
        self, images, boxes: np.ndarray, points: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """``(lips [K, 40, 2], mouth_open [K])`` float32, image pixels; NaN where no face was found."""
        from avsync.face.blazeface import FaceMeshLandmarker

        _, lm = self.landmarks(images, boxes, points)
        return FaceMeshLandmarker.lips(lm).astype(np.float32), FaceMeshLandmarker.mouth_open(lm)


# ------------------------------------------------------------------------------------------------
# face-alignment (2D-FAN)


def _fan_candidates(weights) -> list[Path]:
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
        weights=None,
        device="cpu",
        flip_input: bool = False,
        reference_scale: float = 165.0,
        batch_size: int = 16,
        net=None,
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

    def landmarks(self, images, boxes: np.ndarray, points: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
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
        import cv2
        import torch

        boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
        k, r, hm_n = len(boxes), self.input_size, self.heatmap_size
        geo = [self._geometry(b) for b in boxes]
        crops = []
        for i, (cx, cy, side) in enumerate(geo):
            z = r / max(side, 1.0)
            m = np.array([[z, 0, r / 2 - z * cx], [0, z, r / 2 - z * cy]], np.float32)
            crops.append(
                cv2.warpAffine(_as_rgb(images[i]), m, (r, r), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
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
        self, images, boxes: np.ndarray, points: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """``(lips [K, 40, 2], mouth_open [K])`` float32 in image pixels (iBUG 48–67 resampled)."""
        _, lm = self.landmarks(images, boxes, points)
        if not len(lm):
            return np.zeros((0, 40, 2), np.float32), np.zeros((0,), np.float32)
        return ibug_to_lips(lm), ibug_mouth_open(lm)


# ------------------------------------------------------------------------------------------------


def get_landmarker(landmarks: LandmarkerName | LipLandmarker, *, weights=None, device="cpu") -> LipLandmarker:
    """A lip-landmark backend by name (or the object itself).

    Parameters
    ----------
    landmarks
        ``"facemesh"`` (own PyTorch face mesh; checkpoint from ``weights`` or ``$AVSYNC_MODELS_DIR``),
        ``"mediapipe"`` (the ``mediapipe`` package, CPU), ``"face-alignment"`` (2D-FAN; checkpoint
        from ``weights``, ``$AVSYNC_MODELS_DIR`` or torch hub's cache), or an object with
        ``lip_landmarks(images, boxes, points)``.
    weights
        Checkpoint file or folder for ``facemesh`` / ``face-alignment``.
    device
        Torch device for ``facemesh`` / ``face-alignment`` (MediaPipe runs on CPU).

    Raises
    ------
    ConfigError
        Unknown name, or the backend's package is missing (the hint gives the install command).
    BundleError
        The backend's checkpoint is missing (the hint says which file to put where).
    """
    if not isinstance(landmarks, str):
        if not callable(getattr(landmarks, "lip_landmarks", None)):
            raise ConfigError(
                f"{type(landmarks).__name__} is not a lip-landmark backend (it has no lip_landmarks method)",
                hint=f"pass one of {', '.join(LANDMARKERS)} or a FaceMeshLandmarker / MediaPipeLandmarker / "
                "FaceAlignmentLandmarker",
            )
        return landmarks
    name = landmarks.lower().replace("_", "-")
    if name in ("facemesh", "face-mesh"):
        from avsync.face.blazeface import FaceMeshLandmarker

        return FaceMeshLandmarker(weights=weights, device=device)
    if name == "mediapipe":
        return MediaPipeLandmarker()
    if name in ("face-alignment", "fan"):
        return FaceAlignmentLandmarker(weights=weights, device=device)
    raise ConfigError(f"unknown lip-landmark backend {landmarks!r}", hint=f"choose from {', '.join(LANDMARKERS)}")
