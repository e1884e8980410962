"""Quick per-family comparison of artefact checkpoints on cached face crops (the recipe's development check).

Crops of every real_av / fake_av video are cut once (dominant face track, every frame of the first 30 s:
``avsync.training.artefacts.clip_crops``, the same cache the training recipe uses) and each checkpoint scores
them at 5 crops (or frame pairs) per second; a clip's probability is the calibrated mean logit, as in
``ArtefactScorer``. Real clips of the recipe's training and calibration sources are left out. Faster than
``benchmarks/eval_artefacts.py`` (no tracking per run, no re-encoding, no windows, no intervals), for comparing
recipes; the reported numbers come from that script.

    AVSYNC_SHARED=../shared python benchmarks/eval_artefacts_cached.py --cache out/crops CKPT [CKPT ...]
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
from pathlib import Path

import numpy as np

from avsync import limit_omp_spinning

limit_omp_spinning()

import torch  # noqa: E402

from avsync.artefacts import ArtefactScorer  # noqa: E402
from avsync.training.artefact_data import frame_pairs  # noqa: E402
from avsync.training.artefacts import CALIB_SOURCES_V2, REAL_SOURCES_V2, auc_neg_pos, clip_crops  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from eval_artefacts import report_family  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("models", nargs="+", help="checkpoint files")
    ap.add_argument("--shared", default=os.environ.get("AVSYNC_SHARED", str(Path(__file__).resolve().parents[2] / "shared")))
    ap.add_argument("--cache", required=True, help="crop cache folder (filled when empty)")
    args = ap.parse_args()
    torch.set_num_threads(2)
    data = Path(args.shared) / "data"
    exclude = REAL_SOURCES_V2 + CALIB_SOURCES_V2 + ("real_av/usr_lrs3/",)
    with open(data / "MANIFEST.csv", newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if r["kind"] in ("real_av", "fake_av") and r["video_fps"]
                and not r["file"].startswith(exclude)]
    for path in args.models:
        sc = ArtefactScorer(weights=path)
        res = {}
        for r in rows:
            cached = Path(args.cache) / (r["file"].replace("/", "__") + ".npz")
            if not cached.exists():
                clip_crops(data, r["file"], Path(args.cache), sc.crop_size)  # cut once
            z = np.load(cached)
            imgs = frame_pairs(z["images"], z["frames"]) if sc.pairs else z["images"]
            if not len(imgs):
                continue
            step = max(1, round(float(z["fps"]) / sc.sample_fps))
            res[r["file"]] = (report_family(r["file"], r["label"]), sc.probability(sc.logits(imgs[::step])))
        real = np.array([s for f, s in res.values() if f == "real"])
        print(f"{path}  ({sc.model_sha256[:12]})  real clips {len(real)}, flagged {np.mean(real >= sc.threshold):.1%}")
        fakes = []
        for fam in sorted({f for f, _ in res.values()} - {"real"}):
            s = np.array([v for f, v in res.values() if f == fam])
            fakes += list(s)
            print(f"  {fam:12s} n={len(s):2d}  AUC {auc_neg_pos(real, s):.3f}  flagged {np.mean(s >= sc.threshold):.0%}")
        print(f"  {'all':12s} n={len(fakes):2d}  AUC {auc_neg_pos(real, np.array(fakes)):.3f}")


if __name__ == "__main__":
    main()
