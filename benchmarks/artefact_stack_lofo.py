"""Leave-one-family-out probe: does a small head over both artefact models, trained on generator outputs, beat them?

Issue "Generated-face evidence v2" allows training on generator outputs only leave-one-family-out. This probe
builds, for every clip of ``real_av`` / ``fake_av`` that neither artefact model trained on, a few per-clip
statistics of the per-crop logits of ``artefact-mouth`` (single crops) and ``artefact-face`` (frame pairs) at
5 crops per second over the first 30 s (the crops of ``benchmarks/eval_artefacts_cached.py``, same cache), and
fits a class-balanced L2 logistic regression on them (``avsync.calibration.fit_logistic``). Every clip is scored by a head that never saw

* its generator family (a fake) — nor the real clips paired with that family's outputs — and
* its source folder (a real clip) — nor the fakes made from that folder's footage,

so each family's ROC-AUC against the real clips comes from cross-validated scores only (no clip, family or
source identity of the scored clip in the head's training data). The two models alone are scored on the same
clips with their calibrated probability. Real clips of the models' training sources (GRID s1 / LipNet, PC-AVS,
HDTF, LRS2) are left out: the models saw them, their logits are optimistic.

    AVSYNC_SHARED=../shared python benchmarks/artefact_stack_lofo.py --cache out/crops [--features mean,std,q90,q10]
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

from avsync.artefacts import ArtefactScorer  # noqa: E402
from avsync.calibration import fit_logistic  # noqa: E402
from avsync.evaluation.metrics import roc_auc_ci  # noqa: E402
from avsync.training.artefact_data import frame_pairs  # noqa: E402
from avsync.training.artefacts import REAL_SOURCES_V2, clip_crops, generator_family  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from eval_artefacts import report_family  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
MODELS = {"mouth": ROOT / "models/artefact-mouth/artefact_mouth.safetensors",
          "face": ROOT / "models/artefact-face/artefact_face.safetensors"}
EXCLUDE = REAL_SOURCES_V2 + ("real_av/usr_lrs3/",)  # trained on; the 96 x 96 mouth-ROI clip is out of scope
STATS = {"mean": np.mean, "std": np.std, "q90": lambda z: np.quantile(z, 0.9), "q10": lambda z: np.quantile(z, 0.1)}


def clip_logits(data: Path, rows: list[dict], cache: Path, out: Path) -> dict[str, dict[str, np.ndarray]]:
    """Per-crop logits of each model for each clip (cached in ``out``)."""
    if out.exists():
        z = json.loads(out.read_text())
        if set(z) >= {r["file"] for r in rows}:
            return {f: {m: np.asarray(v, np.float32) for m, v in d.items()} for f, d in z.items()}
    scorers = {m: ArtefactScorer(weights=str(p)) for m, p in MODELS.items()}
    res: dict[str, dict[str, np.ndarray]] = {}
    for r in rows:
        cached = cache / (r["file"].replace("/", "__") + ".npz")
        if not cached.exists():
            clip_crops(data, r["file"], cache, 128)
        z = np.load(cached)
        if not len(z["images"]):
            continue
        d = {}
        for m, sc in scorers.items():
            imgs = frame_pairs(z["images"], z["frames"]) if sc.pairs else z["images"]
            step = max(1, round(float(z["fps"]) / sc.sample_fps))
            d[m] = sc.logits(imgs[::step]) if len(imgs) else np.zeros(0, np.float32)
        if all(len(v) for v in d.values()):
            res[r["file"]] = d
        print(f"  {r['file']}: {', '.join(f'{m} {len(v)}' for m, v in d.items())}", flush=True)
    out.write_text(json.dumps({f: {m: v.tolist() for m, v in d.items()} for f, d in res.items()}))
    return res


def lofo_scores(X: np.ndarray, y: np.ndarray, fam: np.ndarray, tfam: np.ndarray, src: np.ndarray,
                paired: list[str], *, C: float = 1.0) -> np.ndarray:
    """Cross-validated logit of a class-balanced L2 logistic regression for every clip.

    A fake is scored by a head fitted without its generator family (``tfam``; Hallo re-lip-synced by Wav2Lip counts
    as both) nor the real sources that family's outputs reuse (``paired``); a real clip by one fitted without its
    source folder (``src``) nor the fakes made from that folder's footage.
    """
    fams = [{tfam[i]} | ({"hallo"} if fam[i] == "hallo+w2l" else set()) for i in range(len(y))]
    cv = np.full(len(y), np.nan)
    folds: dict[tuple, list[int]] = {}
    for i in range(len(y)):
        key = ("fake", tuple(sorted(fams[i]))) if y[i] else ("real", src[i])
        folds.setdefault(key, []).append(i)
    for key, test in folds.items():
        if key[0] == "fake":
            held = set(key[1])
            # sources whose footage the held-out family's fakes reuse
            held_src = {paired[i] for i in range(len(y)) if y[i] and fams[i] & held and paired[i]}
            train = [j for j in range(len(y)) if not (y[j] and fams[j] & held) and not (not y[j] and src[j] in held_src)]
        else:
            s = key[1]
            train = [j for j in range(len(y)) if src[j] != s and not (y[j] and paired[j] == s)]
        tr = np.array(train)
        mu, sd = X[tr].mean(0), X[tr].std(0) + 1e-12
        yt = y[tr]
        w = np.where(yt == 1, len(yt) / (2 * yt.sum()), len(yt) / (2 * (len(yt) - yt.sum())))  # balanced classes
        coef, b = fit_logistic((X[tr] - mu) / sd, yt, sample_weight=w, l2=0.5 / C)
        cv[test] = ((X[test] - mu) / sd) @ coef + b
    return cv


def family_table(cols: dict[str, np.ndarray], fam: np.ndarray) -> list[str]:
    """Markdown rows: ROC-AUC [95 % bootstrap interval] of every score column, each family (and all fakes) against
    the real clips (``fam == "real"``)."""
    real = fam == "real"
    lines = ["| family (clips) | " + " | ".join(cols) + " |", "|---" * (len(cols) + 1) + "|"]
    order = sorted(set(fam) - {"real"}, key=lambda f: -int((fam == f).sum()))
    for f in [*order, "all"]:
        pos = ~real if f == "all" else fam == f
        cells = []
        for v in cols.values():
            yy = np.r_[np.zeros(real.sum()), np.ones(pos.sum())]
            ss = np.r_[v[real], v[pos]]
            ci = roc_auc_ci(yy, ss, n_boot=1000, seed=0)
            cells.append(f"{ci.value:.3f} [{ci.low:.2f}, {ci.high:.2f}]")
        lines.append(f"| {f} ({int(pos.sum())}) | " + " | ".join(cells) + " |")
    return lines


def protocol_arrays(rows: list[dict]) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """Per manifest row of the protocol: file, reported family, training family, label (1: generated), source
    folder, and the real source folder a generated clip's footage comes from (``""``: none), for :func:`lofo_scores`."""
    files = [r["file"] for r in rows]
    fam = np.array([report_family(r["file"], r["label"]) for r in rows])
    tfam = np.array([generator_family(r["file"], r["label"]) for r in rows])
    src = np.array([folder(f) for f in files])
    paired = [folder(r["paired_with"]) if r["paired_with"].startswith("real_av/") else "" for r in rows]
    return files, fam, tfam, (fam != "real").astype(int), src, paired


def flagged_row(flags: list[np.ndarray]) -> str:
    """The table's last row: the share of real clips each column flags (in the columns' order)."""
    return "| real clips flagged | " + " | ".join(f"{np.mean(f):.1%}" for f in flags) + " |"


def write_scores(path: str, files: list[str], fam: np.ndarray, cols: dict[str, np.ndarray]) -> None:
    """One JSON record per clip: file, family and each column's score."""
    Path(path).write_text(json.dumps([{"file": f, "family": str(fam[i]), **{k: float(v[i]) for k, v in cols.items()}}
                                      for i, f in enumerate(files)], indent=0))


def folder(file: str) -> str:
    return "/".join(file.split("/")[:2])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shared", default=os.environ.get("AVSYNC_SHARED", str(ROOT.parent / "shared")))
    ap.add_argument("--cache", required=True, help="crop cache folder (shared with eval_artefacts_cached.py)")
    ap.add_argument("--features", default="mean,std,q90,q10", help=f"per-model statistics, of {sorted(STATS)}")
    ap.add_argument("--models", default="mouth,face", help="which models' logits the head reads")
    ap.add_argument("--C", type=float, default=1.0, help="inverse L2 strength of the logistic regression")
    ap.add_argument("--json", default=None, help="write the per-clip scores here")
    args = ap.parse_args()
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "2")))
    data = Path(args.shared) / "data"
    with open(data / "MANIFEST.csv", newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if r["kind"] in ("real_av", "fake_av") and r["video_fps"]
                and not r["file"].startswith(EXCLUDE)]
    logits = clip_logits(data, rows, Path(args.cache), Path(args.cache) / "stack_logits.json")
    rows = [r for r in rows if r["file"] in logits]
    files, fam, tfam, y, src, paired = protocol_arrays(rows)
    models = args.models.split(",")
    feats = args.features.split(",")
    X = np.array([[STATS[s](logits[f][m]) for m in models for s in feats] for f in files], np.float64)

    cv = lofo_scores(X, y, fam, tfam, src, paired, C=args.C)
    base = {}
    for m in ("mouth", "face"):
        s = ArtefactScorer(weights=str(MODELS[m]))
        base[m] = np.array([s.probability(logits[f][m]) for f in files])
    real = fam == "real"
    cols = {"head (LOFO)": cv, "artefact-mouth": base["mouth"], "artefact-face": base["face"]}
    print(f"\nfeatures {models} x {feats}, C={args.C}; real clips {int(real.sum())} of {len(set(src[real]))} sources")
    print("\n".join(family_table(cols, fam)))
    print(flagged_row([cv[real] >= 0, base["mouth"][real] >= 0.5, base["face"][real] >= 0.5]))
    if args.json:
        write_scores(args.json, files, fam, {"head": cv, "mouth": base["mouth"], "face": base["face"]})


if __name__ == "__main__":
    main()
