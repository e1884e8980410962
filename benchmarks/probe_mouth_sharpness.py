"""Probe: is the lower face of lip-sync fakes less sharp than the upper face? (not a shipped cue)

Lip-sync generators (Wav2Lip and its forks) re-render the lower half of the face at a low resolution (Wav2Lip:
96 x 96 for the whole face) and paste it back, upsampled. A hand-made statistic of that, with its direction fixed in
advance and nothing fitted: on aligned face crops of the dominant track (``avsync.artefacts.artefact_crops`` at
``--size`` pixels, every ``--step``-th frame of the first 30 s), the share of fine detail in a band's detail,

    s(band) = log( var(I - G1 * I) / var(G1 * I - G2 * I) )     (G1, G2: Gaussian blurs, sigma 1 and 2 px),

for an eye band (rows 15-40 % of the crop) and a mouth band (rows 55-85 %), columns 25-75 %. A crop's score is
``s(eyes) - s(mouth)`` (higher: the mouth band has lost fine detail relative to the eyes); a clip's is the median
over its crops. A ratio of band energies within one crop does not move with the clip's overall sharpness, noise or
compression as much as the energies do.

ROC-AUC per generator family against the real clips the artefact models never trained or calibrated on (the
clips of ``benchmarks/eval_artefacts.py``), with bootstrap intervals:

    AVSYNC_SHARED=../shared python benchmarks/probe_mouth_sharpness.py --out rows.jsonl
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

from avsync import limit_omp_spinning

limit_omp_spinning()

import cv2  # noqa: E402

from avsync.evaluation.metrics import roc_auc_ci  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from eval_artefacts import DEFAULT_EXCLUDE, report_family  # noqa: E402

EYES = (0.15, 0.40)
MOUTH = (0.55, 0.85)
COLS = (0.25, 0.75)


def band_detail(gray: np.ndarray, rows: tuple[float, float], cols: tuple[float, float] = COLS) -> float:
    """``log(var(fine band) / var(middle band))`` of one region of a float gray crop (see the module text)."""
    g1 = cv2.GaussianBlur(gray, (0, 0), 1.0)
    g2 = cv2.GaussianBlur(gray, (0, 0), 2.0)
    h, w = gray.shape
    r0, r1 = int(rows[0] * h), int(rows[1] * h)
    c0, c1 = int(cols[0] * w), int(cols[1] * w)
    fine = (gray - g1)[r0:r1, c0:c1]
    mid = (g1 - g2)[r0:r1, c0:c1]
    return float(np.log((fine.var() + 1e-6) / (mid.var() + 1e-6)))


def crop_scores(images: np.ndarray) -> np.ndarray:
    """``s(eyes) - s(mouth)`` of every ``uint8 [M, S, S, 3]`` RGB crop."""
    out = np.empty(len(images), np.float64)
    for i, im in enumerate(images):
        gray = cv2.cvtColor(im, cv2.COLOR_RGB2GRAY).astype(np.float32)
        out[i] = band_detail(gray, EYES) - band_detail(gray, MOUTH)
    return out


def clip_row(data: Path, rel: str, size: int, step: int, seconds: float) -> dict:
    import avsync
    from avsync.artefacts import artefact_crops
    from avsync.face import track

    media = avsync.load_media(data / rel)
    faces = track(media, crops=(), end=seconds)
    main = faces.dominant()
    if main is None:
        return {"status": "no_face"}
    c = artefact_crops(media, main, size=size, step=step)
    if not len(c):
        return {"status": "no_face"}
    s = crop_scores(c.images)
    return {"status": "ok", "score": float(np.median(s)), "n": int(len(s)), "face_px": float(np.median(c.face_px))}


def report(rows: list[dict], seed: int = 0) -> None:
    ok = [r for r in rows if r.get("status") == "ok"]
    real = np.array([r["score"] for r in ok if r["family"] == "real"])
    print(f"real clips: {len(real)} (median score {np.median(real):+.3f})")
    print("| family (clips) | ROC-AUC [95 % CI] | median score |")
    print("|---|---|---|")
    fakes = []
    for fam in sorted({r["family"] for r in ok} - {"real"}):
        s = np.array([r["score"] for r in ok if r["family"] == fam])
        fakes += list(s)
        ci = roc_auc_ci(np.r_[np.zeros(len(real)), np.ones(len(s))], np.r_[real, s], seed=seed)
        print(f"| {fam} ({len(s)}) | {ci.value:.3f} [{ci.low:.2f}, {ci.high:.2f}] | {np.median(s):+.3f} |")
    s = np.array(fakes)
    ci = roc_auc_ci(np.r_[np.zeros(len(real)), np.ones(len(s))], np.r_[real, s], seed=seed)
    print(f"| all generated ({len(s)}) | {ci.value:.3f} [{ci.low:.2f}, {ci.high:.2f}] | {np.median(s):+.3f} |")
    bad = [r for r in rows if r.get("status") != "ok"]
    if bad:
        print(f"not scored: {len(bad)} ({', '.join(sorted({r['status'] for r in bad}))})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shared", default=os.environ.get("AVSYNC_SHARED", str(Path(__file__).resolve().parents[2] / "shared")))
    ap.add_argument("--size", type=int, default=256, help="crop side in pixels")
    ap.add_argument("--step", type=int, default=5, help="every N-th tracked frame")
    ap.add_argument("--seconds", type=float, default=30.0, help="first N seconds of each clip")
    ap.add_argument("--out", default=None, help="per-clip rows (JSONL); a rerun scores only clips not in it")
    ap.add_argument("--report", default=None, help="only print the table of a JSONL written by --out")
    args = ap.parse_args()
    if args.report:
        report([json.loads(x) for x in Path(args.report).read_text().splitlines() if x.strip()])
        return
    import torch

    torch.set_num_threads(1)
    data = Path(args.shared) / "data"
    with open(data / "MANIFEST.csv", newline="") as fh:
        clips = [r for r in csv.DictReader(fh) if r["kind"] in ("real_av", "fake_av") and r["video_fps"]
                 and not r["file"].startswith(DEFAULT_EXCLUDE)]
    done: dict[str, dict] = {}
    if args.out and Path(args.out).exists():
        for x in Path(args.out).read_text().splitlines():
            if x.strip():
                r = json.loads(x)
                done[r["file"]] = r
    rows = []
    for c in clips:
        if c["file"] in done:
            rows.append(done[c["file"]])
            continue
        t0 = time.perf_counter()
        try:
            row = clip_row(data, c["file"], args.size, args.step, args.seconds)
        except Exception as e:  # a probe over foreign media: record and go on
            row = {"status": f"error: {type(e).__name__}"}
        row.update(file=c["file"], family=report_family(c["file"], c["label"]), seconds=round(time.perf_counter() - t0, 1))
        rows.append(row)
        print(json.dumps(row), flush=True)
        if args.out:
            with open(args.out, "a") as fh:
                fh.write(json.dumps(row) + "\n")
    report(rows)


if __name__ == "__main__":
    main()
