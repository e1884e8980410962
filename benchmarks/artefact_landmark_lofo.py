"""Leave-one-family-out probe: does the way the face *moves* (face-mesh landmark dynamics) tell generated faces?

The shipped generated-face evidence reads pixels. Talking-head generators animate one still picture (the upper face
moves little, or by a model of motion), and Wav2Lip-style generators redraw the mouth frame by frame without a
temporal model (the lips may flicker). This probe measures, for every clip of the protocol of
``benchmarks/artefact_stack_lofo.py`` (every ``real_av`` / ``fake_av`` clip neither artefact model trained on; the
first 30 s of the dominant face track), the 468 face-mesh landmarks of every valid frame
(:class:`avsync.face.landmarks.facemesh.FaceMeshLandmarker`, the public MediaPipe port in ``../shared/weights``), and
ten clip statistics of their motion (:data:`FEATURES`, fixed before the first run):

* rigid head motion (each frame aligned to the clip's median shape by a similarity transform on 15 anchor points:
  nose, eye corners, forehead, temples): ``head_speed`` (median anchor-centroid speed, inter-ocular distances per
  second), ``roll_std`` (degrees), ``scale_std`` (of the log scale);
* non-rigid motion after that alignment (inter-ocular units): ``brow_motion`` and ``mouth_motion`` (RMS deviation of
  the brow and 40 lip points from their median), ``upper_mouth_ratio`` (log of the two);
* smoothness: ``mouth_jitter`` (mean |second difference| / mean |first difference| of the aligned lip points: about
  1.7 for frame-to-frame noise, lower for smooth motion), ``lip_hf_rel`` (log RMS second difference of the lips over
  that of the aligned anchors, the landmark noise floor);
* eyes: ``ear_std`` (spread of the eye aspect ratio over its median) and ``blink_rate`` (dips below 0.6 × the
  median, per minute).

Trajectories are taken at 25 frames per second or below (every ``round(fps / 25)``-th frame) and differences only
between consecutive kept frames of the track. A class-balanced logistic regression over the ten (z-scored, L2)
is scored leave-one-family-out exactly as in ``artefact_stack_lofo.py`` (:func:`artefact_stack_lofo.lofo_scores`);
``head + mouth`` adds that cross-validated logit to the calibrated log-odds of ``artefact-mouth`` (the shipped
default, scored on the same track at its 5 crops per second). Prints each feature's ROC-AUC per family (above 0.5:
fakes larger), then the family table of the head, ``artefact-mouth`` and the sum.

    AVSYNC_SHARED=../shared python benchmarks/artefact_landmark_lofo.py --cache runs/lmcache [--json rows.json]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
from pathlib import Path

import numpy as np

from avsync import limit_omp_spinning

limit_omp_spinning()

import torch  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from artefact_stack_lofo import (  # noqa: E402
    EXCLUDE,
    MODELS,
    family_table,
    flagged_row,
    folder,
    lofo_scores,
    protocol_arrays,
    write_scores,
)

FEATURES = ("head_speed", "roll_std", "scale_std", "brow_motion", "mouth_motion", "upper_mouth_ratio",
            "mouth_jitter", "lip_hf_rel", "ear_std", "blink_rate")
ANCHORS = (1, 4, 6, 168, 197, 195, 33, 133, 362, 263, 10, 151, 9, 234, 454)
BROWS = (70, 63, 105, 66, 107, 336, 296, 334, 293, 300)
EYES = ((159, 145, 33, 133), (386, 374, 362, 263))  # upper, lower, corner, corner


def landmarks_of(data: Path, rel: str, cache: Path, weights: Path) -> dict | None:
    """468 landmarks per valid frame of the dominant face track (first 30 s) and the artefact-mouth logits."""
    dst = cache / (rel.replace("/", "__") + ".lm.npz")
    if dst.exists():
        z = np.load(dst)
        return {k: z[k] for k in z.files} if len(z["frames"]) else None
    import avsync
    from avsync.artefacts import ArtefactScorer
    from avsync.face import track
    from avsync.face.geometry import work_frame_size
    from avsync.face.landmarks.facemesh import FaceMeshLandmarker

    cache.mkdir(parents=True, exist_ok=True)
    media = avsync.load_media(data / rel)
    main = track(media, crops=(), end=30.0).dominant()
    empty = {"frames": np.zeros(0, np.int64)}
    if main is None or media.info.video is None:
        np.savez_compressed(dst, **empty)
        return None
    lmk = FaceMeshLandmarker(weights=weights)
    vi = media.info.video
    ww, wh = work_frame_size(vi.width, vi.height, 1280)
    sx, sy = ww / vi.width, wh / vi.height
    sel = np.flatnonzero(np.asarray(main.valid, bool))
    idx = {int(main.frames[i]): i for i in sel}
    frames, marks = [], []
    f0, f1 = int(main.frames[sel[0]]), int(main.frames[sel[-1]])
    for chunk in media.frames(chunk_size=32, size=(ww, wh), start=f0 / main.fps, end=(f1 + 1) / main.fps,
                              only=idx.keys()):
        ks = [int(k) for k in chunk.indices if int(k) in idx]
        if not ks:
            continue
        imgs = [img for img, k in zip(chunk.images, chunk.indices) if int(k) in idx]
        rows = [idx[k] for k in ks]
        boxes = main.boxes[rows] * np.array([sx, sy, sx, sy], np.float32)
        pts = main.points[rows] * np.array([sx, sy], np.float32)
        _, lm = lmk(imgs, boxes, pts)
        lm[:, :, 0] /= sx
        lm[:, :, 1] /= sy
        frames += ks
        marks.append(lm[:, :, :2])
    mouth = ArtefactScorer(weights=str(MODELS["mouth"]))
    logits = mouth.logits(mouth.crops_of(media, main).images)
    out = {"frames": np.asarray(frames, np.int64), "lm": np.concatenate(marks).astype(np.float32),
           "fps": np.float32(main.fps), "mouth_logits": logits.astype(np.float32)}
    np.savez_compressed(dst, **out)
    return out


def articulation_of(data: Path, rel: str, cache: Path) -> float:
    """The default sync model's articulation of the active face (``FaceSync.articulation``; NaN when none), cached."""
    dst = cache / (rel.replace("/", "__") + ".art.json")
    if dst.exists():
        return float(json.loads(dst.read_text())["articulation"])
    import avsync
    from avsync.sync import analyze_sync

    res = analyze_sync(avsync.load_media(data / rel))
    face = res.active_face
    art = float("nan") if face is None or face.articulation is None else float(face.articulation)
    cache.mkdir(parents=True, exist_ok=True)
    dst.write_text(json.dumps({"articulation": art, "status": str(res.status)}))
    return art


def _similarity(src: np.ndarray, dst: np.ndarray) -> tuple[float, float, np.ndarray, np.ndarray]:
    """Scale, angle (rad), rotation matrix and translation mapping ``src`` points onto ``dst`` (least squares)."""
    ms, md = src.mean(0), dst.mean(0)
    a, b = src - ms, dst - md
    cov = b.T @ a / len(a)
    u, d, vt = np.linalg.svd(cov)
    s = np.eye(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        s[1, 1] = -1
    r = u @ s @ vt
    scale = float(np.trace(np.diag(d) @ s) / a.var(0).sum())
    return scale, float(np.arctan2(r[1, 0], r[0, 0])), r, md - scale * r @ ms


def features(z: dict) -> dict[str, float]:
    """The ten motion statistics of :data:`FEATURES` from one clip's landmarks."""
    from avsync.face.landmarks.base import LIPS_INNER, LIPS_OUTER

    fps = float(z["fps"])
    step = max(1, round(fps / 25.0))
    frames, lm = z["frames"], z["lm"].astype(np.float64)
    keep = np.flatnonzero((frames - frames[0]) % step == 0)
    frames, lm = frames[keep], lm[keep]
    rate = fps / step
    consec = np.diff(frames) == step  # differences only between consecutive kept frames
    consec2 = consec[1:] & consec[:-1]
    anchors = list(ANCHORS)
    ref = np.median(lm[:, anchors], axis=0)
    iod_ref = np.linalg.norm(ref[anchors.index(33)] + ref[anchors.index(133)] - ref[anchors.index(362)]
                             - ref[anchors.index(263)]) / 2
    aligned = np.empty_like(lm)
    scale, roll, cen = np.empty(len(lm)), np.empty(len(lm)), np.empty((len(lm), 2))
    for t in range(len(lm)):
        s, ang, r, tr = _similarity(lm[t, anchors], ref)
        aligned[t] = (s * lm[t] @ r.T + tr) / iod_ref
        scale[t], roll[t] = s, ang
        cen[t] = lm[t, anchors].mean(0) * s / iod_ref  # in reference inter-ocular units
    lips = list(LIPS_OUTER) + list(LIPS_INNER)

    def rms_dev(pts: list[int] | tuple[int, ...]) -> float:
        a = aligned[:, list(pts)]
        return float(np.sqrt(np.mean(np.sum((a - np.median(a, axis=0)) ** 2, axis=-1))))

    def diffs(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        d1 = np.diff(a, axis=0)[consec]
        d2 = np.diff(a, n=2, axis=0)[consec2]
        return d1, d2

    f: dict[str, float] = {}
    d1c, _ = diffs(cen)
    f["head_speed"] = float(np.log(np.median(np.linalg.norm(d1c, axis=-1)) * rate + 1e-4)) if len(d1c) else np.nan
    f["roll_std"] = float(np.degrees(np.std(roll)))
    f["scale_std"] = float(np.std(np.log(scale)))
    brow, mouth = rms_dev(BROWS), rms_dev(lips)
    f["brow_motion"], f["mouth_motion"] = float(np.log(brow + 1e-6)), float(np.log(mouth + 1e-6))
    f["upper_mouth_ratio"] = float(np.log((brow + 1e-6) / (mouth + 1e-6)))
    d1, d2 = diffs(aligned[:, lips])
    f["mouth_jitter"] = float(np.mean(np.abs(d2)) / (np.mean(np.abs(d1)) + 1e-9)) if len(d2) else np.nan
    _, d2a = diffs(aligned[:, anchors])
    f["lip_hf_rel"] = float(np.log(np.sqrt(np.mean(d2 ** 2)) / (np.sqrt(np.mean(d2a ** 2)) + 1e-9) + 1e-9)) \
        if len(d2) else np.nan
    ears = []
    for up, lo, c1, c2 in EYES:
        ears.append(np.linalg.norm(aligned[:, up] - aligned[:, lo], axis=-1)
                    / (np.linalg.norm(aligned[:, c1] - aligned[:, c2], axis=-1) + 1e-9))
    ear = np.mean(ears, axis=0)
    med = float(np.median(ear))
    f["ear_std"] = float(np.std(ear) / (med + 1e-9))
    closed = ear < 0.6 * med
    f["blink_rate"] = float(np.sum(closed[1:] & ~closed[:-1]) * 60.0 / (len(ear) / rate))
    return f


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shared", default=os.environ.get("AVSYNC_SHARED", str(Path(__file__).resolve().parents[2] / "shared")))
    ap.add_argument("--cache", required=True, help="landmark cache folder")
    ap.add_argument("--C", type=float, default=1.0, help="inverse L2 strength of the logistic regression")
    ap.add_argument("--json", default=None, help="write the per-clip features and scores here")
    ap.add_argument("--check-sources", default=None,
                    help="comma-separated real source folders outside the protocol (e.g. the artefact models' training "
                         "sources): print each statistic's ROC-AUC of the generated clips against their clips only")
    ap.add_argument("--limit-per-source", type=int, default=12, help="--check-sources: at most this many clips each")
    ap.add_argument("--articulation", action="store_true",
                    help="also the default sync model's articulation of the active face (runs the sync analysis) as an "
                         "eleventh column of the single-statistic tables (not in the head)")
    args = ap.parse_args()
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "2")))
    shared = Path(args.shared)
    data = shared / "data"
    from avsync.artefacts import ArtefactScorer

    with open(data / "MANIFEST.csv", newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if r["kind"] in ("real_av", "fake_av") and r["video_fps"]
                and not r["file"].startswith(EXCLUDE)]
    feats, mouth_p, kept = [], [], []
    scorer = ArtefactScorer(weights=str(MODELS["mouth"]))
    for r in rows:
        z = landmarks_of(data, r["file"], Path(args.cache), shared / "weights")
        if z is None or len(z["frames"]) < 50 or not len(z["mouth_logits"]):
            print(f"  {r['file']}: no usable face track", flush=True)
            continue
        f = features(z)
        feats.append([f[k] for k in FEATURES] + ([articulation_of(data, r["file"], Path(args.cache))]
                                                  if args.articulation else []))
        mouth_p.append(scorer.probability(z["mouth_logits"]))
        kept.append(r)
        print(f"  {r['file']}: {len(z['frames'])} frames; " + " ".join(f"{k} {f[k]:.3g}" for k in FEATURES), flush=True)
    files, fam, tfam, y, src, paired = protocol_arrays(kept)
    X = np.array(feats, np.float64)
    X = np.where(np.isfinite(X), X, np.nanmedian(X, axis=0))
    names = list(FEATURES) + (["articulation"] if args.articulation else [])
    real = fam == "real"
    print(f"\nreal clips {int(real.sum())} of {len(set(src[real]))} sources; generated {int((~real).sum())}")
    print("\nEach feature alone (ROC-AUC, above 0.5: generated clips larger)")
    print("\n".join(family_table({k: X[:, j] for j, k in enumerate(names)}, fam)))
    if args.check_sources:
        check_sources(args, data, shared, X[~real], fam[~real], names)
        return
    X = X[:, :len(FEATURES)]
    cv = lofo_scores(X, y, fam, tfam, src, paired, C=args.C)
    p = np.clip(np.asarray(mouth_p), 1e-6, 1 - 1e-6)
    mouth_logit = np.log(p / (1 - p))
    cols = {"landmark head (LOFO)": cv, "artefact-mouth": mouth_logit, "head + mouth": cv + mouth_logit}
    print(f"\nC={args.C}")
    print("\n".join(family_table(cols, fam)))
    print(flagged_row([v[real] >= 0 for v in cols.values()]))
    if args.json:
        write_scores(args.json, files, fam, {"head": cv, "mouth_logit": mouth_logit,
                                             **{k: X[:, j] for j, k in enumerate(FEATURES)}})


def check_sources(args: argparse.Namespace, data: Path, shared: Path, X_gen: np.ndarray, fam_gen: np.ndarray,
                  names: list[str]) -> None:
    """Each statistic of the generated clips against real clips of ``--check-sources`` (first clips of each folder)."""
    prefixes = tuple(s.rstrip("/") + "/" for s in args.check_sources.split(","))
    with open(data / "MANIFEST.csv", newline="") as fh:
        rows = sorted((r for r in csv.DictReader(fh) if r["kind"] == "real_av" and r["video_fps"]
                       and r["file"].startswith(prefixes)), key=lambda r: r["file"])
    per: dict[str, int] = {}
    feats = []
    for r in rows:
        folder_ = folder(r["file"])
        if per.get(folder_, 0) >= args.limit_per_source:
            continue
        z = landmarks_of(data, r["file"], Path(args.cache), shared / "weights")
        if z is None or len(z["frames"]) < 50:
            continue
        per[folder_] = per.get(folder_, 0) + 1
        f = features(z)
        if args.articulation:
            f["articulation"] = articulation_of(data, r["file"], Path(args.cache))
        feats.append([f[k] for k in names])
        print(f"  {r['file']}: " + " ".join(f"{k} {f[k]:.3g}" for k in names), flush=True)
    Xr = np.array(feats, np.float64)
    Xr = np.where(np.isfinite(Xr), Xr, np.nanmedian(Xr, axis=0))
    X = np.r_[Xr, X_gen]
    fam = np.r_[np.full(len(Xr), "real"), fam_gen]
    print(f"\nreal clips of {', '.join(f'{k} ({v})' for k, v in per.items())} against the generated clips")
    print("\n".join(family_table({k: X[:, j] for j, k in enumerate(names)}, fam)))


if __name__ == "__main__":
    main()
