"""How well the mouth-region artefact model separates real clips from generated ones, with and without re-encoding.

For every video under ../shared/data/real_av and fake_av (except the clips the shipped model was trained and
calibrated on: the GRID sentences, see models/artefact-mouth/MODEL_CARD.md, and the 96x96 mouth-ROI clip, which is
not a face), the clip is optionally re-encoded (avsync.evaluation.perturb: h264_crf23, h264_crf35, 360p), its face
tracked (avsync.face.track) and scored by avsync.artefacts.ArtefactScorer. Prints, per condition and per generator
family, ROC-AUC of real vs that family per clip and per window (2 s windows), and the share of clips flagged at
the model's threshold.

    AVSYNC_SHARED=../shared python benchmarks/eval_artefacts.py [--perturb none,h264_crf23,h264_crf35,360p]
        [--models-dir DIR] [--out rows.jsonl] [--cache /tmp/avsync-perturb]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import time
from pathlib import Path

import numpy as np
import torch

from avsync import load_media
from avsync.artefacts import ArtefactScorer
from avsync.evaluation.perturb import apply_perturbation
from avsync.training.artefacts import TRAIN_SOURCES, auc_neg_pos

EXCLUDE = TRAIN_SOURCES + ("real_av/usr_lrs3/",)


def family(row: dict) -> str:
    """Generator family of a fake_av row (from its manifest label), or ``real``."""
    if row["kind"] == "real_av":
        return "real"
    label = row["label"].lower()
    if "face swap" in label:
        return "face swap (keeps its audio)"
    if "wav2lip" in label or "hyperlips" in label:
        return "lip-sync (Wav2Lip, HyperLips)"
    return "portrait animation (SadTalker, Hallo)"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shared", default=os.environ.get("AVSYNC_SHARED", str(Path(__file__).resolve().parents[2] / "shared")))
    ap.add_argument("--perturb", default="none,h264_crf23,h264_crf35,360p")
    ap.add_argument("--models-dir", default=None)
    ap.add_argument("--cache", default="/tmp/avsync-perturb")
    ap.add_argument("--out", default=None, help="write per-clip rows as JSONL")
    args = ap.parse_args()
    torch.set_num_threads(1)
    data = Path(args.shared) / "data"
    with open(data / "MANIFEST.csv", newline="") as fh:
        rows = [r for r in csv.DictReader(fh)
                if r["kind"] in ("real_av", "fake_av") and r["video_fps"] and not r["file"].startswith(EXCLUDE)]
    scorer = ArtefactScorer(weights=args.models_dir)
    out = []
    for cond in args.perturb.split(","):
        for r in rows:
            t0 = time.perf_counter()
            src = data / r["file"]
            path = src if cond == "none" else Path(apply_perturbation(src, cond, cache_dir=args.cache)[0])
            res = scorer(load_media(path))
            rec = {"file": r["file"], "condition": cond, "family": family(r), "status": res.status.value,
                   "score": res.score, "windows": [w.score for w in res.windows if w.score is not None],
                   "face_px": res.face_px, "seconds": round(time.perf_counter() - t0, 2)}
            out.append(rec)
            print(json.dumps({k: v for k, v in rec.items() if k != "windows"}), flush=True)
    if args.out:
        with open(args.out, "w") as fh:
            for rec in out:
                fh.write(json.dumps(rec) + "\n")
    report(out, scorer.threshold)


def report(out: list[dict], threshold: float) -> None:
    """Print the ROC-AUC / flagged tables of ``out`` (rows as written by ``main``)."""
    fams = sorted({o["family"] for o in out if o["family"] != "real"})
    print(f"\nthreshold {threshold:.2f}; ROC-AUC real vs family per clip / per window; clips flagged")
    print(f"{'condition':12s} {'family':40s} {'n':>3s} {'AUC clip':>9s} {'AUC win':>8s} {'flagged':>8s}")
    for cond in dict.fromkeys(o["condition"] for o in out):
        rows = [o for o in out if o["condition"] == cond and o["score"] is not None]
        real = [o for o in rows if o["family"] == "real"]
        rs = np.array([o["score"] for o in real])
        rw = np.concatenate([o["windows"] for o in real]) if real else np.zeros(0)
        print(f"{cond:12s} {'real':40s} {len(real):3d} {'':>9s} {'':>8s} {np.mean(rs >= threshold):8.1%}")
        generated = [f for f in fams if not f.startswith("face swap")]
        for fam in fams + ["lip-sync + portrait animation"]:
            members = generated if fam not in fams else [fam]
            fk = [o for o in rows if o["family"] in members]
            fs = np.array([o["score"] for o in fk])
            fw = np.concatenate([o["windows"] for o in fk]) if fk else np.zeros(0)
            print(f"{cond:12s} {fam:40s} {len(fk):3d} {auc_neg_pos(rs, fs):9.3f} {auc_neg_pos(rw, fw):8.3f} {np.mean(fs >= threshold) if len(fs) else float('nan'):8.1%}")
        skipped = [o for o in out if o["condition"] == cond and o["score"] is None]
        if skipped:
            print(f"{cond:12s} not scored: " + ", ".join(f"{Path(o['file']).name} ({o['status']})" for o in skipped))


if __name__ == "__main__":
    main()
