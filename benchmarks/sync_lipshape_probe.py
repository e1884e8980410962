"""Probe: would lip *shape* (MediaPipe landmarks) instead of mouth pixels make a sync model that generalises
beyond GRID? A research measurement for issue "lip-sync model trained on real talking faces"; nothing here is
used by avsync itself.

    AVSYNC_SHARED=../shared python benchmarks/sync_lipshape_probe.py --out out/lmk [--context 5] [--steps 3000]

1. **Landmarks**: for every real/fake clip with audio and video of ``../shared/data``, the face tracks of the
   shared track cache (``--tracks``, the format of ``benchmarks/_sync_track_cache.py``; computed when missing),
   then MediaPipe's face mesh on each valid 112² face crop (``avsync.face.landmarks.MediaPipeLandmarker``,
   region 1.6× the crop) → the 40 lip points, centred, rotated so the mouth corners are level and scaled by
   the corner distance; per clip the speaker's mean lip shape is removed. Cached in ``OUT/lips.pkl``.
2. **Model**: lip windows of ``--context`` frames (points and their frame-to-frame change) → MLP → 128-d unit
   embedding; the MFCC of the same span (the SyncNet-style features of ``avsync.features.audio.mfcc``) → a small
   1-D CNN → 128-d. Trained like ``syncnet-v2`` on GRID only (``real_av/grid_lipnet`` + ``grid_s1_tvr28``):
   InfoNCE (temperature 0.1) of a lip window against its own audio, 6 windows shifted 3–15 frames, 3 shifted
   1–2 frames and 3 of other clips; augmentation: rotation ±10°, anisotropic scale, movement amplitude, point
   noise; audio clean / noisy (10–30 dB SNR) / low-passed; AdamW one-cycle, seed 0.
3. **Evaluation** on the clips of the fusion split (``avsync.evaluation.fusion_split``; GRID excluded from the
   numbers): the original audio, shifted by ±3/±5/±8/±15 frames and swapped with another source's
   (``benchmarks/fusion_calibrate.py``'s variants), distance per lag and frame as ``SyncNetScorer`` computes it;
   per clip the track with the highest confidence. Printed for the ``syncnet-v2`` default (scored here on the same
   tracks), the probe and their sum of per-clip standardised curves: share of genuine clips read within ±2
   frames and at ≥ 4 frames, shifted copies recovered within ±1 frame (absolute), ROC-AUC of real vs 200 / 320 ms
   shifts on the "gap" score (curve minimum within ±2 frames minus the global minimum) and vs swapped audio on
   −confidence. ``calib`` is where a choice may be made; ``eval`` is reported only.
"""

from __future__ import annotations

import argparse
import json
import math
import pickle
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import add_data_args, shared_data  # noqa: E402

from avsync import limit_omp_spinning  # noqa: E402

limit_omp_spinning()

LAGS = np.arange(-15, 16)
SHIFTS = (3, 5, 8, 15)


# ------------------------------------------------------------------------------------------- landmarks
def _normalise(lips: np.ndarray) -> np.ndarray:
    """``[K, 40, 2]`` image points → centred, corner-levelled, corner-distance-scaled points."""
    c = lips.mean(1, keepdims=True)
    v = lips[:, 10] - lips[:, 0]
    w = np.linalg.norm(v, axis=1)
    ang = np.arctan2(v[:, 1], v[:, 0])
    ca, sa = np.cos(-ang), np.sin(-ang)
    rot = np.stack([np.stack([ca, -sa], -1), np.stack([sa, ca], -1)], 1)
    return (np.einsum("kij,knj->kni", rot, lips - c) / w[:, None, None]).astype(np.float32)


def extract(data: Path, tracks_dir: Path, out: Path) -> dict:
    from _sync_track_cache import eval_rows, tracks_for

    from avsync.face.landmarks import MediaPipeLandmarker

    res = pickle.load(open(out, "rb")) if out.exists() else {}
    rows = sorted(eval_rows(data), key=lambda r: r["file"])
    mesh = MediaPipeLandmarker(roi_scale=1.6, roi_size=256)
    for n, r in enumerate(rows):
        if r["file"] in res:
            continue
        media, tracks, _ = tracks_for(data, r["file"], tracks_dir)
        trs = []
        for t in tracks:
            lips = np.full((len(t.face), 40, 2), np.nan, np.float32)
            idx = np.flatnonzero(t.valid)
            if len(idx):
                h, w = t.face.shape[1:3]
                lips[idx] = mesh.lip_landmarks([t.face[i] for i in idx], np.tile([0, 0, w, h], (len(idx), 1)))[0]
            good = np.isfinite(lips).all((1, 2))
            pts = np.zeros_like(lips)
            if good.any():
                pts[good] = _normalise(lips[good])
            trs.append({"id": int(t.track_id), "start": int(t.start_frame), "frames": t.frames, "valid": good,
                        "lips": pts})
        res[r["file"]] = {"tracks": trs, "fps": media.fps}
        if n % 25 == 0:
            pickle.dump(res, open(out, "wb"))
            print(f"landmarks: {n + 1}/{len(rows)}", flush=True)
    pickle.dump(res, open(out, "wb"))
    return res


def dense(tr: dict) -> tuple[np.ndarray, np.ndarray]:
    """Lip points on the track's frame grid ``[n, 80]`` with the clip's mean shape removed, and validity."""
    n = int(tr["frames"].max() - tr["start"] + 1) if len(tr["frames"]) else 0
    pts, ok = np.zeros((n, 80), np.float32), np.zeros(n, bool)
    i = tr["frames"] - tr["start"]
    pts[i], ok[i] = tr["lips"].reshape(len(tr["lips"]), 80), tr["valid"]
    if ok.any():
        pts[ok] -= pts[ok].mean(0)
    pts[~ok] = 0
    return pts, ok


def lip_windows(pts: np.ndarray, ok: np.ndarray, ctx: int) -> tuple[np.ndarray, np.ndarray]:
    h, n = ctx // 2, len(pts)
    idx = (np.arange(n)[:, None] + np.arange(-h, h + 1)[None]).clip(0, max(n - 1, 0))
    wok = np.ones(n, bool)
    for o in range(-h, h + 1):
        j = np.arange(n) + o
        wok &= (j >= 0) & (j < n) & ok[j.clip(0, max(n - 1, 0))]
    return pts[idx], wok


def audio_windows(audio: np.ndarray, sr: int, num_frames: int, ctx: int) -> tuple[np.ndarray, np.ndarray]:
    """MFCC of frames ``k - ctx//2 .. k + ctx//2`` (4 MFCC steps per 25 fps frame): ``[m, 13, 4 ctx]``."""
    from avsync.features.audio import mfcc

    f = mfcc(np.asarray(audio, np.float32), sr, pcm_scale=32768.0)
    steps, lead, nm = 4 * ctx, 4 * (ctx // 2), len(f)
    pad = np.zeros((max(nm, 4 * num_frames + steps) + lead, 13), np.float32)
    pad[lead:lead + nm] = f
    starts = np.arange(num_frames) * 4
    first = starts - lead
    return (np.ascontiguousarray(pad[starts[:, None] + np.arange(steps)[None]].transpose(0, 2, 1)),
            (first >= 0) & (first + steps <= nm))


# ------------------------------------------------------------------------------------------- model
def make_model(ctx: int):
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    class LipShapeSync(nn.Module):
        def __init__(self, d: int = 128):
            super().__init__()
            self.v = nn.Sequential(nn.Linear(ctx * 80 + (ctx - 1) * 80, 512), nn.LayerNorm(512), nn.GELU(),
                                   nn.Dropout(0.1), nn.Linear(512, 256), nn.LayerNorm(256), nn.GELU(), nn.Linear(256, d))
            self.a = nn.Sequential(nn.Conv1d(13, 64, 3, padding=1), nn.BatchNorm1d(64), nn.GELU(),
                                   nn.Conv1d(64, 128, 3, padding=1, stride=2), nn.BatchNorm1d(128), nn.GELU(),
                                   nn.Conv1d(128, 128, 3, padding=1, stride=2), nn.BatchNorm1d(128), nn.GELU(),
                                   nn.AdaptiveAvgPool1d(5), nn.Flatten(), nn.Linear(128 * 5, 256), nn.GELU(),
                                   nn.Linear(256, d))
            self.register_buffer("mu", torch.zeros(1, 13, 1))
            self.register_buffer("sd", torch.ones(1, 13, 1))

        def embed_lips(self, w):  # [B, ctx, 80]
            x = w * 10.0
            return F.normalize(self.v(torch.cat([x.flatten(1), (x[:, 1:] - x[:, :-1]).flatten(1) * 3], 1)), dim=-1)

        def embed_audio(self, w):  # [B, 13, 4 ctx]
            return F.normalize(self.a((w - self.mu) / self.sd), dim=-1)

    return LipShapeSync()


def train(lips: dict, data: Path, ctx: int, steps: int, seed: int = 0):
    import torch
    import torch.nn.functional as F

    from avsync.media import load_media
    from avsync.sync.models import audio_frame_count

    rng, g = np.random.default_rng(seed), torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    clips = []
    for k in sorted(lips):
        if not (k.startswith("real_av/grid_s1_tvr28/") or k.startswith("real_av/grid_lipnet/")) or not lips[k]["tracks"]:
            continue
        tr = max(lips[k]["tracks"], key=lambda t: t["valid"].sum())
        w, wok = lip_windows(*dense(tr), ctx)
        media = load_media(str(data / k))
        a, sr = media.mono(), media.sample_rate
        m = audio_frame_count(len(a), sr, media.fps)
        versions = []
        for kind in ("clean", "noise", "lowpass"):
            x = a.copy()
            if kind == "noise":
                x = x + rng.normal(0, 1, len(x)).astype(np.float32) * np.sqrt(np.mean(x**2)) * 10 ** (-rng.uniform(10, 30) / 20)
            elif kind == "lowpass":
                spec = np.fft.rfft(x)
                spec[np.fft.rfftfreq(len(x), 1 / sr) > rng.uniform(2500, 5000)] = 0
                x = np.fft.irfft(spec, len(x)).astype(np.float32)
            versions.append(audio_windows(x, sr, m, ctx))
        clips.append({"w": w, "wok": wok, "start": tr["start"], "A": [v[0] for v in versions], "aok": versions[0][1]})
    model = make_model(ctx)
    allA = np.concatenate([c["A"][0][c["aok"]] for c in clips])
    model.mu.copy_(torch.tensor(allA.mean((0, 2))[None, :, None]))
    model.sd.copy_(torch.tensor(allA.std((0, 2))[None, :, None] + 1e-3))

    def sample(batch: int = 64):
        lips_b, audio_b = [], []
        for _ in range(batch):
            c = clips[rng.integers(len(clips))]
            A0 = c["A"][rng.integers(3)]
            for _t in range(20):
                i = rng.integers(len(c["w"]))
                k = c["start"] + i
                if c["wok"][i] and 0 <= k < len(A0) and c["aok"][k]:
                    break
            else:
                continue
            offs = list(rng.choice(np.r_[np.arange(-15, -2), np.arange(3, 16)], 6, replace=False))
            offs += list(rng.choice([-2, -1, 1, 2], 3, replace=False))
            cands = [A0[k]]
            for o in offs:
                j = k + o
                if 0 <= j < len(A0) and c["aok"][j]:
                    cands.append(A0[j])
                else:
                    other = clips[rng.integers(len(clips))]
                    cands.append(other["A"][0][rng.integers(len(other["aok"]))])
            for _o in range(3):
                other = clips[rng.integers(len(clips))]
                cands.append(other["A"][rng.integers(3)][rng.integers(len(other["aok"]))])
            lips_b.append(c["w"][i])
            audio_b.append(np.stack(cands))
        return torch.tensor(np.stack(lips_b)), torch.tensor(np.stack(audio_b))

    def augment(w):
        b = w.shape[0]
        p = w.view(b, ctx, 40, 2)
        ang = (torch.rand(b, generator=g) - 0.5) * 2 * math.radians(10)
        sx = 1 + (torch.rand(b, generator=g) - 0.5) * 0.3
        sy = 1 + (torch.rand(b, generator=g) - 0.5) * 0.4
        c, s = torch.cos(ang)[:, None, None], torch.sin(ang)[:, None, None]
        x, y = p[..., 0] * sx[:, None, None], p[..., 1] * sy[:, None, None]
        p = torch.stack([c * x - s * y, s * x + c * y], -1) * (1 + (torch.rand(b, generator=g) - 0.5) * 0.8)[:, None, None, None]
        p = p + torch.randn(p.shape, generator=g) * (torch.rand(b, 1, 1, 1, generator=g) * 0.03)
        return p.reshape(b, ctx, 80)

    opt = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=2e-3, total_steps=steps, pct_start=0.1)
    t0, losses, top1 = time.time(), [], []
    for step in range(steps):
        model.train()
        lw, aw = sample()
        b, k = aw.shape[:2]
        aw = aw * (1 + (torch.rand(b, k, 1, 1, generator=g) - 0.5) * 0.1)
        ev = model.embed_lips(augment(lw))
        ea = model.embed_audio(aw.view(b * k, 13, 4 * ctx)).view(b, k, -1)
        logits = (ea * ev[:, None]).sum(-1) / 0.1
        loss = F.cross_entropy(logits, torch.zeros(b, dtype=torch.long))
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        losses.append(loss.item())
        top1.append((logits.argmax(1) == 0).float().mean().item())
        if step % 500 == 0 or step == steps - 1:
            print(f"step {step}: loss {np.mean(losses[-500:]):.3f}, top-1 of 13 {np.mean(top1[-500:]):.3f}, "
                  f"{time.time() - t0:.0f} s", flush=True)
    return model.eval(), {"clips": len(clips), "steps": steps, "seconds": round(time.time() - t0, 1),
                          "top1_last500": float(np.mean(top1[-500:]))}


# ------------------------------------------------------------------------------------------- evaluation
def variant_audio(media, variant: str, data: Path, donor: str | None) -> np.ndarray:
    from avsync.media import load_media
    from avsync.synth import shift_audio

    a = media.audio
    if variant.startswith("shift"):
        a = np.stack([shift_audio(ch, int(variant[5:]), media.sample_rate, media.fps) for ch in a])
    elif variant == "swap":
        a = np.resize(load_media(str(data / donor)).mono(), a.shape[1])[None].astype(np.float32)
    return a.mean(0).astype(np.float32)


def distances(lips: dict, data: Path, tracks_dir: Path, model, ctx: int) -> dict:
    """``{(clip, variant): {"split", "label", "v2": [curves...], "lips": [curves...]}}`` (one curve per track)."""
    import torch
    from _sync_track_cache import tracks_for
    from fusion_calibrate import donors, recipe_clips, variants_of

    from avsync.sync.analyze import lag_curve
    from avsync.sync.models import audio_frame_count, make_scorer

    split = recipe_clips(data)  # fusion_calibrate's clips and split
    don = donors(split)
    clips = [c for c in split if not c["clip"].startswith("real_av/grid")]
    v2 = make_scorer("syncnet-v2", device="cpu")
    out = {}
    for c in clips:
        k = c["clip"]
        media, tracks, _ = tracks_for(data, k, tracks_dir)
        by_id = {t["id"]: t for t in lips[k]["tracks"]}
        embedded = []
        for t in tracks:
            if t.valid.sum() < 10 or t.track_id not in by_id:
                continue
            w, wok = lip_windows(*dense(by_id[t.track_id]), ctx)
            with torch.no_grad():
                embedded.append((t, model.embed_lips(torch.tensor(w)).numpy(), wok, by_id[t.track_id]["start"]))
        for v in variants_of(c, list(SHIFTS), False, don.get(k)):
            a = variant_audio(media, v, data, don.get(k))
            m = audio_frame_count(len(a), media.sample_rate, media.fps)
            aw, aok = audio_windows(a, media.sample_rate, m, ctx)
            with torch.no_grad():
                ea = model.embed_audio(torch.tensor(aw)).numpy()
            rec = {"split": c["split"], "label": c["label"] if v == "orig" else 1, "v2": [], "lips": []}
            for t, ev, wok, s0 in embedded:
                rec["v2"].append(lag_curve(v2.distances(a, media.sample_rate, t, LAGS), min_frames=5))
                j = s0 + np.arange(len(ev))[None] - LAGS[:, None]
                inside = (j >= 0) & (j < m)
                jj = j.clip(0, m - 1)
                d = np.linalg.norm(ea[jj] - ev[None], axis=-1)
                d[~inside | ~aok[jj] | ~wok[None]] = np.nan
                rec["lips"].append(lag_curve(d, min_frames=5))
            out[(k, v)] = rec
    return out


def _read(curves: list) -> np.ndarray | None:
    best = None
    for c in curves:
        if not np.isfinite(c).any():
            continue
        conf = np.nanmedian(c) - np.nanmin(c)
        if best is None or conf > best[0]:
            best = (conf, c)
    return None if best is None else best[1]


def _features(c: np.ndarray) -> dict:
    b = int(np.nanargmin(c))
    inside = np.where(np.abs(LAGS) <= 2, c, np.nan)
    return {"off": int(LAGS[b]), "conf": float(np.nanmedian(c) - c[b]), "gap": float(np.nanmin(inside) - c[b])}


def report(dist: dict) -> str:
    from avsync.evaluation.metrics import roc_auc

    def z(c):
        return (c - np.nanmedian(c)) / (np.nanstd(c) + 1e-9)

    lines = []
    for name in ("v2", "lips", "v2+lips"):
        for split in ("calib", "eval"):
            rows = []
            for (clip, v), rec in dist.items():
                if rec["split"] != split:
                    continue
                if name == "v2+lips":
                    a, b = _read(rec["v2"]), _read(rec["lips"])
                    c = None if a is None or b is None else (z(a) + z(b)) / 2
                else:
                    c = _read(rec[name])
                if c is not None:
                    rows.append({"v": v, "label": rec["label"], **_features(c)})
            real = [r for r in rows if r["v"] == "orig" and r["label"] == 0]

            def auc(kinds, key, sign=1.0):
                pos = [r for r in rows if r["v"] in kinds]
                return roc_auc(np.r_[np.zeros(len(real)), np.ones(len(pos))],
                               sign * np.array([r[key] for r in real + pos]))

            rec_ok = [abs(r["off"] - int(r["v"][5:])) <= 1 for r in rows if r["v"].startswith("shift")]
            lines.append(
                f"{name:8s} {split:5s} real {len(real):2d}  genuine within ±2 {np.mean([abs(r['off']) <= 2 for r in real]):.2f}"
                f"  at ≥ 4 frames {np.mean([abs(r['off']) >= 4 for r in real]):.2f}  recovered ±1 {np.mean(rec_ok):.2f}"
                f"  AUC 200 ms {auc(('shift+5', 'shift-5'), 'gap'):.3f}  320 ms {auc(('shift+8', 'shift-8'), 'gap'):.3f}"
                f"  swapped {auc(('swap',), 'conf', -1.0):.3f}")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="out/lmk")
    ap.add_argument("--context", type=int, default=5, help="frames per lip / audio window (odd)")
    ap.add_argument("--steps", type=int, default=3000)
    add_data_args(ap)
    a = ap.parse_args()
    data = shared_data(a.shared)
    import torch

    torch.set_num_threads(a.threads)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    lips = extract(data, Path(a.tracks), out / "lips.pkl")
    model, info = train(lips, data, a.context, a.steps)
    dist = distances(lips, data, Path(a.tracks), model, a.context)
    text = report(dist)
    (out / f"report_ctx{a.context}.txt").write_text(text + "\n" + json.dumps(info) + "\n")
    print(text)
    print(json.dumps(info))


if __name__ == "__main__":
    main()
