"""How well the generated-face (artefact) model separates real clips from generated ones, with and without re-encoding.

Every video under ../shared/data/real_av and fake_av is scored except the real sources the model was trained or
calibrated on (``--exclude``; default: those of the shipped recipe, ``avsync.training.artefacts``) and the 96x96
mouth-ROI clip (not a face). Each clip is optionally re-encoded (avsync.evaluation.perturb: h264_crf23, h264_crf35,
360p), its face tracked and cropped once, and the crops scored by every model given:

* ``--model``: the model reported for every family it was not trained on (default: the shipped default);
* ``--baseline``: another checkpoint reported beside on every family (e.g. the previous default);
* ``--fold FAMILY=PATH`` (repeatable): a leave-one-family-out checkpoint (``avsync train artefacts --holdout
  FAMILY``); the clips of FAMILY *and the real clips they are compared with* are scored by it. A model trained on
  generator outputs is only ever reported on a family it never saw.

Prints per condition and family ROC-AUC real vs family per clip and per 2 s window (95 % bootstrap intervals,
clips resampled) and the share of clips flagged at the model's threshold.

    AVSYNC_SHARED=../shared python benchmarks/eval_artefacts.py [--perturb none,h264_crf23,h264_crf35,360p]
        [--model PATH] [--fold wav2lip=RUN/artefact_mouth.safetensors ...] [--out rows.jsonl] [--cache DIR]
    python benchmarks/eval_artefacts.py --report rows.jsonl      # the tables again
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import time
from pathlib import Path

import numpy as np

from avsync import limit_omp_spinning

limit_omp_spinning()

import torch  # noqa: E402

from avsync import load_media  # noqa: E402
from avsync.artefacts import ArtefactScorer  # noqa: E402
from avsync.evaluation.perturb import apply_perturbation  # noqa: E402
from avsync.evaluation.metrics import roc_auc_ci  # noqa: E402
from avsync.training.artefacts import CALIB_SOURCES_V2, REAL_SOURCES_V2, generator_family  # noqa: E402

DEFAULT_EXCLUDE = REAL_SOURCES_V2 + CALIB_SOURCES_V2 + ("real_av/usr_lrs3/",)

REPORT_FAMILIES = {
    "wav2lip": "Wav2Lip and forks",
    "w2l-gfpgan": "Wav2Lip + GFPGAN",
    "hallo+w2l": "Hallo re-lip-synced by Wav2Lip",
    "hyperlips": "HyperLips",
    "edtalk": "EDTalk",
    "dreamtalk": "DreamTalk (+ upscalers)",
    "sadtalker": "SadTalker",
    "hallo": "Hallo",
    "faceswap": "DFDC face swap (keeps its audio)",
}


def report_family(file: str, label: str) -> str:
    """The row a clip is reported in (finer than the training family of :func:`generator_family`)."""
    fam = generator_family(file, label)
    lab = label.lower()
    if fam == "wav2lip" and "gfpgan" in lab:
        return "w2l-gfpgan"
    if fam == "wav2lip" and "hallo" in lab:
        return "hallo+w2l"
    return fam


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shared", default=os.environ.get("AVSYNC_SHARED", str(Path(__file__).resolve().parents[2] / "shared")))
    ap.add_argument("--perturb", default="none,h264_crf23,h264_crf35,360p")
    ap.add_argument("--model", default=None, help="checkpoint file or models directory (default: the shipped default)")
    ap.add_argument("--fold", action="append", default=[], metavar="FAMILY=PATH",
                    help="leave-one-family-out checkpoint reported for FAMILY (repeatable)")
    ap.add_argument("--baseline", default=None, metavar="PATH",
                    help="another checkpoint (e.g. the previous default) scored on every clip and reported beside")
    ap.add_argument("--exclude", default=",".join(DEFAULT_EXCLUDE),
                    help="comma-separated manifest prefixes not evaluated (training and calibration sources)")
    ap.add_argument("--only", default=None, help="comma-separated manifest prefixes: evaluate only these clips")
    ap.add_argument("--cache", default="/tmp/avsync-perturb")
    ap.add_argument("--out", default=None, help="write per-clip rows as JSONL")
    ap.add_argument("--report", default=None, help="only print the tables of a JSONL written by --out")
    ap.add_argument("--ensemble", action="store_true",
                    help="also report 'ensemble': the mean of the model's and the baseline's calibrated log-odds per "
                         "clip and per window (threshold 0.5), from the rows' probabilities")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    if args.report:
        rows = [json.loads(x) for x in Path(args.report).read_text().splitlines() if x.strip()]
        report([add_ensemble(r) for r in rows] if args.ensemble else rows, seed=args.seed)
        return
    torch.set_num_threads(2)
    data = Path(args.shared) / "data"
    exclude = tuple(x for x in args.exclude.split(",") if x)
    with open(data / "MANIFEST.csv", newline="") as fh:
        rows = [r for r in csv.DictReader(fh)
                if r["kind"] in ("real_av", "fake_av") and r["video_fps"] and not r["file"].startswith(exclude)
                and (not args.only or r["file"].startswith(tuple(args.only.split(","))))]
    scorers = {"model": ArtefactScorer(weights=args.model)}
    for spec in args.fold:
        fam, _, path = spec.partition("=")
        scorers[fam] = ArtefactScorer(weights=path)
    if args.baseline:
        scorers["baseline"] = ArtefactScorer(weights=args.baseline)
    out = []
    for cond in args.perturb.split(","):
        for r in rows:
            t0 = time.perf_counter()
            src = data / r["file"]
            path = src if cond == "none" else Path(apply_perturbation(src, cond, cache_dir=args.cache)[0])
            media = load_media(path)
            fam = report_family(r["file"], r["label"])
            rec = {"file": r["file"], "condition": cond, "family": fam,
                   "train_family": generator_family(r["file"], r["label"]), "scores": {}}
            wanted = list(scorers) if fam == "real" else [k for k in scorers if k in ("model", "baseline",
                                                                                       rec["train_family"])]
            tracks, crops = _main_track(media), {}
            for name in wanted:
                sc = scorers[name]
                if tracks is None:
                    res = sc(media)  # reports why (no video, no face, decode error)
                    rec["scores"][name] = _record(res, sc)
                    continue
                kind = (sc.pairs, sc.crop_size, sc.sample_fps)  # one crop pass per kind of input
                if kind not in crops:
                    crops[kind] = sc.crops_of(media, tracks)
                res = sc.score_crops(crops[kind], duration=float(media.duration), track_id=tracks.track_id)
                rec["scores"][name] = _record(res, sc)
            rec["seconds"] = round(time.perf_counter() - t0, 2)
            out.append(rec)
            print(json.dumps({"file": rec["file"], "condition": cond, "family": fam, "seconds": rec["seconds"],
                              **{k: v["score"] for k, v in rec["scores"].items()}}), flush=True)
            if args.out:
                with open(args.out, "a") as fh:
                    fh.write(json.dumps(rec) + "\n")
    report([add_ensemble(r) for r in out] if args.ensemble else out, seed=args.seed)


def _log_odds(p: float | list[float]) -> np.ndarray:
    p = np.clip(np.asarray(p, float), 1e-6, 1 - 1e-6)
    return np.log(p) - np.log1p(-p)


def add_ensemble(rec: dict) -> dict:
    """``rec`` with ``scores['ensemble']``: the mean of the model's and the baseline's calibrated log-odds, for the
    clip and for each 2 s window both scored (threshold 0.5); absent when either model did not score the clip."""
    a, b = rec["scores"].get("model"), rec["scores"].get("baseline")
    if a is None or b is None or a["score"] is None or b["score"] is None:
        return rec
    clip = float(1 / (1 + np.exp(-(_log_odds(a["score"]) + _log_odds(b["score"])) / 2)))
    n = min(len(a["windows"]), len(b["windows"]))
    win = 1 / (1 + np.exp(-(_log_odds(a["windows"][:n]) + _log_odds(b["windows"][:n])) / 2))
    scores = {**rec["scores"], "ensemble": {"status": "ok", "score": clip, "threshold": 0.5,
                                            "windows": [float(w) for w in win], "face_px": a.get("face_px")}}
    return {**rec, "scores": scores}


def _record(res, scorer: ArtefactScorer) -> dict:
    return {"status": res.status.value, "score": res.score, "threshold": scorer.threshold,
            "windows": [w.score for w in res.windows if w.score is not None], "face_px": res.face_px}


def _main_track(media):
    """The dominant usable face track, as the scorer picks it, or ``None`` (the scorer then reports why)."""
    if media.info.video is None:
        return None
    from avsync.face import track

    try:
        return ArtefactScorer.main_track(track(media, crops=()))
    except Exception:  # the scorer itself will report the error status
        return None


def _clip_auc(neg: list, pos: list, rng: np.random.Generator) -> tuple[float, float, float]:
    """ROC-AUC and its 95 % interval, clips (lists of per-clip score arrays) resampled within each class."""
    arrays = [np.asarray(a, float) for a in neg + pos]
    ci = roc_auc_ci(np.repeat(np.r_[np.zeros(len(neg), int), np.ones(len(pos), int)], [a.size for a in arrays]),
                    np.concatenate(arrays), groups=np.repeat(np.arange(len(arrays)), [a.size for a in arrays]), rng=rng)
    return ci.value, ci.low, ci.high


def report(out: list[dict], seed: int = 0) -> None:
    """Print the ROC-AUC / flagged tables of ``out`` (rows as written by ``main``)."""
    rng = np.random.default_rng(seed)
    fams = [f for f in REPORT_FAMILIES if any(o["family"] == f for o in out)]
    print("\nROC-AUC real vs family, per clip and per 2 s window [95 % bootstrap interval]; clips flagged at the "
          "model's threshold. 'by' = the model that scored the row (a fold model never saw that family).")
    print("| condition | family | by | n | AUC clip | AUC window | flagged |\n|---|---|---|---|---|---|---|")
    for cond in dict.fromkeys(o["condition"] for o in out):
        rows = [o for o in out if o["condition"] == cond]
        real = [o for o in rows if o["family"] == "real"]

        def scored(objs, by):
            ok = [o["scores"][by] for o in objs if by in o["scores"] and o["scores"][by]["score"] is not None]
            return ok

        for by in dict.fromkeys(k for o in real for k in o["scores"]):
            rs = scored(real, by)
            if rs:
                print(f"| {cond} | real | {by} | {len(rs)} | | | {np.mean([s['score'] >= s['threshold'] for s in rs]):.1%} |")
        for fam in fams:
            members = [o for o in rows if o["family"] == fam]
            if not members:
                continue
            tf = members[0]["train_family"]
            for by in (tf if any(tf in o["scores"] for o in members) else "model", "baseline", "ensemble"):
                fs, rsb = scored(members, by), scored(real, by)
                if not fs or not rsb:
                    continue
                neg = [np.array([s["score"]]) for s in rsb]
                pos = [np.array([s["score"]]) for s in fs]
                negw = [np.array(s["windows"]) for s in rsb]
                posw = [np.array(s["windows"]) for s in fs]
                a, lo, hi = _clip_auc(neg, pos, rng)
                aw, low, hiw = _clip_auc(negw, posw, rng)
                flagged = np.mean([s["score"] >= s["threshold"] for s in fs])
                print(f"| {cond} | {REPORT_FAMILIES[fam]} | {by} | {len(fs)} | {a:.3f} [{lo:.2f}–{hi:.2f}] | "
                      f"{aw:.3f} [{low:.2f}–{hiw:.2f}] | {flagged:.0%} |")
        fakes = [o for o in rows if o["family"] != "real"]
        for by in ("model", "baseline", "ensemble"):  # every generated clip (fold models are not pooled here)
            fs, rsb = scored(fakes, by), scored(real, by)
            if fs and rsb and len(fams) > 1:
                a, lo, hi = _clip_auc([np.array([s["score"]]) for s in rsb], [np.array([s["score"]]) for s in fs], rng)
                aw, low, hiw = _clip_auc([np.array(s["windows"]) for s in rsb], [np.array(s["windows"]) for s in fs], rng)
                flagged = np.mean([s["score"] >= s["threshold"] for s in fs])
                print(f"| {cond} | all generated | {by} | {len(fs)} | {a:.3f} [{lo:.2f}–{hi:.2f}] | "
                      f"{aw:.3f} [{low:.2f}–{hiw:.2f}] | {flagged:.0%} |")
        skipped = [o for o in rows if o["scores"].get("model", {}).get("score") is None]
        if skipped:
            print(f"{cond}: not scored: " + ", ".join(f"{Path(o['file']).name} ({o['scores']['model']['status']})"
                                                      for o in skipped))


if __name__ == "__main__":
    main()
