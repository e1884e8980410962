"""Self-blended mouth forgeries: training pairs for the artefact model made from real video only.

Lip-sync generators re-render the lower face and paste it back into the real frame. We imitate the
*traces* of that operation, not any one generator ("self-blended images" applied to the mouth):

* the pasted region comes from the same face — the same frame or another frame of the same clip
  (a mouth from another moment, as a generator driven by other audio would produce), slightly
  moved / scaled / rotated;
* it is made to look re-rendered: low-pass (Gaussian blur or a down-up resampling round trip, as a
  generator working at 96–256 px pasted into a larger frame), or over-sharpened (face restoration),
  a colour and brightness shift, sometimes its own JPEG round trip;
* it is blended in through a soft mask: an ellipse around the mouth, the lower half of the face
  box (Wav2Lip's region) or the jaw region, feathered by a random Gaussian, at a random opacity
  (optionally the whole face box with a hard edge, ``p_box``).

Real and forged crops then go through the *same* global augmentations (flip, small-face resampling,
JPEG at quality 35–95, noise, colour jitter), so compression or low resolution of the whole crop is
never evidence by itself: only a mismatch *inside* the face is.

Everything works on aligned ``uint8 [128, 128, 3]`` crops of :func:`avsync.artefacts.artefact_crops`
(eyes near row 38, mouth near row 82).
"""

from __future__ import annotations

import numpy as np

__all__ = ["augment_global", "forge", "make_batch", "mouth_mask"]


def _cv2():
    import cv2

    return cv2


def mouth_mask(size: int, rng: np.random.Generator, *, p_box: float = 0.0) -> np.ndarray:
    """A soft ``float32 [size, size]`` mask in ``[0, 1]`` over the mouth / lower face of an aligned crop.

    ``p_box``: probability of a hard-edged whole-face-box mask instead (off in the shipped recipe:
    with it, 38 % of real evaluation clips were flagged against 3 % without; see docs/artefacts.md).
    """
    cv2 = _cv2()
    s = size / 128.0
    m = np.zeros((size, size), np.float32)
    kind = 3 if (p_box > 0 and rng.random() < p_box) else rng.choice(3, p=[0.45, 0.35, 0.20])
    if kind == 0:  # ellipse around the mouth
        c = (int((64 + rng.uniform(-5, 5)) * s), int((84 + rng.uniform(-6, 6)) * s))
        ax = (int(rng.uniform(24, 46) * s), int(rng.uniform(16, 34) * s))
        cv2.ellipse(m, c, ax, float(rng.uniform(-8, 8)), 0, 360, 1.0, -1)
    elif kind == 1:  # lower half of the face box (Wav2Lip pastes the box's lower half)
        y0 = int(rng.uniform(56, 74) * s)
        x0, x1 = int(rng.uniform(10, 28) * s), int(rng.uniform(100, 118) * s)
        y1 = int(rng.uniform(112, 128) * s)
        m[y0:y1, x0:x1] = 1.0
    elif kind == 3:  # the whole face box, hard-edged (Wav2Lip / HyperLips paste their output box back)
        x0, x1 = int(rng.uniform(6, 22) * s), int(rng.uniform(106, 122) * s)
        y0, y1 = int(rng.uniform(0, 14) * s), int(rng.uniform(100, 128) * s)
        m[y0:y1, x0:x1] = 1.0
    else:  # jaw region: a polygon from below the nose around the chin
        y0 = rng.uniform(58, 70)
        pts = np.array([[rng.uniform(22, 34), y0], [rng.uniform(94, 106), y0], [rng.uniform(96, 110), rng.uniform(96, 108)],
                        [64 + rng.uniform(-4, 4), rng.uniform(114, 124)], [rng.uniform(18, 32), rng.uniform(96, 108)]])
        cv2.fillConvexPoly(m, (pts * s).astype(np.int32), 1.0)
    sigma = (rng.uniform(0.3, 2.0) if kind == 3 else rng.uniform(1.5, 9.0)) * s
    k = int(sigma * 3) * 2 + 1
    m = cv2.GaussianBlur(m, (k, k), sigma)
    return (m * rng.uniform(0.6, 1.0)).astype(np.float32)


def _jpeg(img: np.ndarray, q: int) -> np.ndarray:
    cv2 = _cv2()
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(img, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, int(q)])
    return cv2.cvtColor(cv2.imdecode(buf, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB) if ok else img


def _rerender(src: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Make ``src`` look re-rendered (geometry, low-pass or over-sharpened, colour)."""
    cv2 = _cv2()
    n = src.shape[0]
    ang, sc = rng.uniform(-4, 4), rng.uniform(0.95, 1.06)
    M = cv2.getRotationMatrix2D((n / 2 + rng.uniform(-3, 3), n * 0.65 + rng.uniform(-3, 3)), ang, sc)
    M[:, 2] += rng.uniform(-3, 3, 2)
    out = cv2.warpAffine(src, M, (n, n), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    r = rng.random()
    if r < 0.4:  # generator resolution: down-up round trip
        f = rng.uniform(1.5, 4.0)
        small = cv2.resize(out, (max(8, int(n / f)),) * 2, interpolation=cv2.INTER_AREA)
        out = cv2.resize(small, (n, n), interpolation=cv2.INTER_LINEAR if rng.random() < 0.5 else cv2.INTER_CUBIC)
    elif r < 0.75:  # smooth rendering
        out = cv2.GaussianBlur(out, (0, 0), rng.uniform(0.7, 2.2))
    elif r < 0.9:  # face restoration: over-sharpened
        bl = cv2.GaussianBlur(out, (0, 0), rng.uniform(1.0, 2.5))
        out = cv2.addWeighted(out, 1 + rng.uniform(0.6, 1.8), bl, -rng.uniform(0.6, 1.8), 0)
    # else: geometry and colour only
    out = out.astype(np.float32)
    if rng.random() < 0.8:
        out = out * rng.uniform(0.88, 1.12, 3)[None, None] + rng.uniform(-12, 12, 3)[None, None]
    if rng.random() < 0.3:
        out = out + rng.normal(0, rng.uniform(1, 4), out.shape)
    out = np.clip(out, 0, 255).astype(np.uint8)
    if rng.random() < 0.25:
        out = _jpeg(out, int(rng.uniform(30, 80)))
    return out


def forge(target: np.ndarray, source: np.ndarray, rng: np.random.Generator, *,
          p_box: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Blend a re-rendered ``source`` crop into ``target`` around the mouth.

    Parameters
    ----------
    target, source
        ``uint8 [S, S, 3]`` aligned crops of the same face (``source`` may be ``target``).

    Returns
    -------
    image, mask
        The forged ``uint8 [S, S, 3]`` crop and the blending mask ``float32 [S, S]``.
    """
    src = _rerender(source, rng)
    m = mouth_mask(target.shape[0], rng, p_box=p_box)[..., None]
    out = m * src.astype(np.float32) + (1 - m) * target.astype(np.float32)
    return np.clip(out + 0.5, 0, 255).astype(np.uint8), m[..., 0]


def augment_global(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Whole-crop augmentation applied alike to real and forged crops."""
    cv2 = _cv2()
    n = img.shape[0]
    out = img[:, ::-1] if rng.random() < 0.5 else img
    if rng.random() < 0.5:  # small face / low resolution source
        f = rng.uniform(1.2, 3.0)
        out = cv2.resize(cv2.resize(out, (int(n / f),) * 2, interpolation=cv2.INTER_AREA), (n, n),
                         interpolation=cv2.INTER_LINEAR)
    if rng.random() < 0.3:
        out = cv2.GaussianBlur(out, (0, 0), rng.uniform(0.4, 1.2))
    out = out.astype(np.float32)
    if rng.random() < 0.7:
        g = out.mean(axis=2, keepdims=True)
        sat = rng.uniform(0.7, 1.3)
        out = g + sat * (out - g)
        out = out * rng.uniform(0.8, 1.2) + rng.uniform(-20, 20)
    if rng.random() < 0.3:
        out = out + rng.normal(0, rng.uniform(1, 5), out.shape)
    out = np.clip(out, 0, 255).astype(np.uint8)
    if rng.random() < 0.7:
        out = _jpeg(np.ascontiguousarray(out), int(rng.uniform(35, 95)))
    return np.ascontiguousarray(out)


def make_batch(clips: list[np.ndarray], n: int, rng: np.random.Generator, *, p_same: float = 0.5,
               p_uniform: float = 0.5):
    """``n`` crops (half real, half forged) drawn from ``clips`` (each ``uint8 [M, S, S, 3]``).

    A share ``p_uniform`` of the real crops is re-rendered *as a whole* with the same operations the
    forgeries apply to the mouth region (resampling, blur, sharpening, colour shift, JPEG): a face
    that is uniformly soft, sharp or tinted is consistent, so it stays in the real class and only a
    *local* mismatch can separate the classes.

    Returns ``images uint8 [n, S, S, 3]`` and ``labels float32 [n]`` (1 = forged).
    """
    imgs, labels = [], []
    for i in range(n):
        c = clips[int(rng.integers(len(clips)))]
        t = int(rng.integers(len(c)))
        if i % 2 == 0:
            img = _rerender(c[t], rng) if rng.random() < p_uniform else c[t]
            labels.append(0.0)
        else:
            s = t if rng.random() < p_same else int(rng.integers(len(c)))
            img, _ = forge(c[t], c[s], rng)
            labels.append(1.0)
        imgs.append(augment_global(img, rng))
    return np.stack(imgs), np.asarray(labels, np.float32)
