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
(eyes near row 38, mouth near row 82), or on *frame pairs* ``uint8 [128, 128, 6]`` (a crop and the next frame's
crop): every operation then treats both frames alike (same mask, same re-rendering, same augmentation), a
re-rendered region may flicker slightly from one frame to the next as generators' output does, and a further
kind of forgery, :func:`animate_still`, makes the second frame by warping the first (a face animated from one
still image: its fine texture moves with the warp instead of changing like camera noise and skin).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

__all__ = ["animate_still", "augment_global", "forge", "frame_pairs", "make_batch", "mouth_mask"]


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
        y_top = rng.uniform(58, 70)
        pts = np.array([[rng.uniform(22, 34), y_top], [rng.uniform(94, 106), y_top], [rng.uniform(96, 110), rng.uniform(96, 108)],
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
        ``uint8 [S, S, 3]`` aligned crops of the same face (``source`` may be ``target``), or frame pairs
        ``[S, S, 6]``.

    Returns
    -------
    image, mask
        The forged ``uint8 [S, S, 3]`` crop and the blending mask ``float32 [S, S]``.
    """
    src = _paired(_rerender, source, rng)
    if source.shape[-1] == 6 and rng.random() < 0.5:  # the re-rendered region flickers between the two frames
        src = np.concatenate([src[..., :3], _jitter(np.ascontiguousarray(src[..., 3:]), rng)], axis=2)
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


def _paired(fn: Callable[[np.ndarray, np.random.Generator], np.ndarray], img: np.ndarray,
            rng: np.random.Generator) -> np.ndarray:
    """``fn(crop, rng)`` on a crop, or on both frames of a pair with the same random draws."""
    if img.shape[-1] == 3:
        return fn(img, rng)
    state = rng.bit_generator.state
    a = fn(np.ascontiguousarray(img[..., :3]), rng)
    after = rng.bit_generator.state
    rng.bit_generator.state = state
    b = fn(np.ascontiguousarray(img[..., 3:]), rng)
    rng.bit_generator.state = after
    return np.concatenate([a, b], axis=2)


def _jitter(img: np.ndarray, rng: np.random.Generator, px: float = 0.8, gain: float = 0.04) -> np.ndarray:
    """A sub-pixel move and a small gain change (frame-to-frame flicker of a generator's output)."""
    cv2 = _cv2()
    n = img.shape[0]
    M = np.array([[1, 0, rng.uniform(-px, px)], [0, 1, rng.uniform(-px, px)]], np.float32)
    out = cv2.warpAffine(img, M, (n, n), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT).astype(np.float32)
    return np.clip(out * rng.uniform(1 - gain, 1 + gain), 0, 255).astype(np.uint8)


def frame_pairs(images: np.ndarray, frames: np.ndarray) -> np.ndarray:
    """``uint8 [P, S, S, 6]``: every crop of ``images`` whose next video frame is also there, with that crop."""
    frames = np.asarray(frames)
    i = np.flatnonzero(np.diff(frames) == 1)
    if i.size == 0:
        return np.zeros((0, *images.shape[1:3], 6), np.uint8)
    return np.concatenate([images[i], images[i + 1]], axis=3)


def animate_still(pair: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A one-image animation of the pair's first frame: the second frame is the first, warped.

    A small head motion (shift, rotation, scale) and, half of the time, a mouth that opens or closes a little
    (a vertical stretch of the lower face), optionally rendered smooth like a generator's output.
    """
    cv2 = _cv2()
    first = np.ascontiguousarray(pair[..., :3])
    n = first.shape[0]
    M = cv2.getRotationMatrix2D((n / 2 + rng.uniform(-4, 4), n / 2 + rng.uniform(-4, 4)), rng.uniform(-1.5, 1.5),
                                rng.uniform(0.98, 1.02))
    M[:, 2] += rng.uniform(-1.5, 1.5, 2)
    second = cv2.warpAffine(first, M, (n, n), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    if rng.random() < 0.5:  # the lower face stretched about the upper lip line
        y0 = n * rng.uniform(0.58, 0.66)
        k = rng.uniform(0.95, 1.06)
        ys = np.arange(n, dtype=np.float32)
        src_y = np.where(ys > y0, y0 + (ys - y0) / k, ys)
        map_x = np.tile(np.arange(n, dtype=np.float32), (n, 1))
        map_y = np.tile(src_y[:, None], (1, n)).astype(np.float32)
        second = cv2.remap(second, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    out = np.concatenate([first, second], axis=2)
    if rng.random() < 0.5:
        out = _paired(_rerender, out, rng)
    return out


def _pick(n: int, p: np.ndarray | None, rng: np.random.Generator) -> int:
    """An index below ``n``, drawn with probabilities ``p`` (uniform when ``None``)."""
    return int(rng.choice(n, p=p)) if p is not None else int(rng.integers(n))


def make_batch(clips: list[np.ndarray], n: int, rng: np.random.Generator, *, p_same: float = 0.5,
               p_uniform: float = 0.5, generated: list[np.ndarray] | None = None, p_generated: float = 0.0,
               clip_p: np.ndarray | None = None, generated_p: np.ndarray | None = None, p_animate: float = 0.3,
               p_codec: float = 0.3, codec_max: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """``n`` crops (half real, half forged) drawn from ``clips`` (each ``uint8 [M, S, S, 3]``).

    A share ``p_uniform`` of the real crops is re-rendered *as a whole* with the same operations the
    forgeries apply to the mouth region (resampling, blur, sharpening, colour shift, JPEG): a face
    that is uniformly soft, sharp or tinted is consistent, so it stays in the real class and only a
    *local* mismatch can separate the classes.

    ``generated``: crops of generator outputs (one array per clip); a share ``p_generated`` of the forged
    crops is drawn from them instead of being self-blended. ``clip_p`` / ``generated_p``: probabilities of
    drawing each clip (default uniform), e.g. to weigh sources or generator families equally. With frame
    pairs (``[M, S, S, 6]`` clips) a share ``p_animate`` of the other forged items is :func:`animate_still`,
    and a share ``p_codec`` of all pairs gets part (5 % to ``codec_max``) of the first frame blended into the
    second, as an inter-frame codec does.

    Returns ``images uint8 [n, S, S, 3]`` (``[n, S, S, 6]`` for frame pairs) and ``labels float32 [n]`` (1 = forged).
    """
    imgs, labels = [], []
    pairs = clips[0].shape[-1] == 6
    for i in range(n):
        c = clips[_pick(len(clips), clip_p, rng)]
        t = int(rng.integers(len(c)))
        if i % 2 == 0:
            img = _paired(_rerender, c[t], rng) if rng.random() < p_uniform else c[t]
            labels.append(0.0)
        elif generated and rng.random() < p_generated:
            g = generated[_pick(len(generated), generated_p, rng)]
            img = g[int(rng.integers(len(g)))]
            labels.append(1.0)
        elif pairs and rng.random() < p_animate:
            img = animate_still(c[t], rng)
            labels.append(1.0)
        else:
            s = t if rng.random() < p_same else int(rng.integers(len(c)))
            img, _ = forge(c[t], c[s], rng)
            labels.append(1.0)
        img = _paired(augment_global, img, rng)
        if pairs and p_codec > 0 and rng.random() < p_codec:  # an inter-frame codec carries part of a frame on
            a = rng.uniform(0.05, codec_max)
            img = img.astype(np.float32)
            img[..., 3:] += a * (img[..., :3] - img[..., 3:])
            img = np.clip(img + 0.5, 0, 255).astype(np.uint8)
        imgs.append(img)
    return np.stack(imgs), np.asarray(labels, np.float32)
