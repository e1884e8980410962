"""Fit the per-window part of the sync cue (``SyncCueParams.window_margin_mid`` / ``window_margin_scale``) on the
calibration split of the fusion recipe, and measure it on its evaluation split.

    AVSYNC_SHARED=../shared python benchmarks/calibrate_sync_windows.py [--model syncnet] [--tracks out/fusion/tracks]

A window of the sync timeline (2 s, every 0.5 s) says whether the lips follow the audio *there*, at the clip's
offset. Its evidence is the window's **margin**: the median over lags of its distance curve minus the distance
at the clip's offset (``WindowSync.margin``). The absolute distance at the offset (the earlier rule,
``distance_mid``) depends on the clip's image quality and speaker: fitted on GRID and CREMA-D, it put every
window of the web clips of ``../shared/data`` above its midpoint, genuine or not.

Clips: the non-GRID real clips of ``benchmarks/fusion_calibrate.py``'s split (same clips, same split, same donor
of the swapped audio: a real clip of another source of the same split), each with its own audio and with the
swapped audio; the active face's windows with status ``ok``. Fitted on ``calib``:

* ``window_margin_mid``: the 10th percentile of the margins of the windows with the clip's own audio (a window
  of a genuine clip reads as "lips do not follow" at most 10 % of the time there);
* ``window_margin_scale``: the slope of a logistic regression of swapped (1) vs own (0) audio on
  ``mid − margin`` with that midpoint fixed.

``--exclude`` leaves out clips by path prefix, e.g. the calibration-side clips a model was trained on.

Printed for both splits: the share of own-audio and swapped-audio windows at p ≥ 0.5 under the fitted rule and
under the distance rule it replaces, and the window ROC-AUC of each measure.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import add_data_args, shared_data  # noqa: E402

from avsync import limit_omp_spinning  # noqa: E402

limit_omp_spinning()


def window_rows(data: Path, tracks_dir: Path, model: str, exclude: tuple[str, ...] = ()) -> list[dict]:
    from _sync_track_cache import tracks_for
    from fusion_calibrate import donors, recipe_clips

    from avsync.media import load_media
    from avsync.results import Status
    from avsync.sync import sync_tracks

    clips = recipe_clips(data)
    don = donors(clips)
    rows = []
    for c in clips:
        if c["label"] != 0 or c["clip"].startswith(("real_av/grid", *exclude)) or c["clip"] not in don:
            continue
        media, tracks, _ = tracks_for(data, c["clip"], tracks_dir)
        own = media.audio.mean(axis=0)
        other = np.resize(load_media(str(data / don[c["clip"]])).mono(), media.audio.shape[1]).astype(np.float32)
        for kind, audio in (("own", own), ("swapped", other)):
            res = sync_tracks(audio, media.sample_rate, tracks, model=model, device="cpu", fps=media.fps)
            face = res.active_face
            for w in face.windows if face is not None else ():
                if Status(w.status) is Status.OK and w.margin is not None and w.distance is not None:
                    rows.append({"clip": c["clip"], "split": c["split"], "swapped": kind == "swapped",
                                 "margin": w.margin, "distance": w.distance})
    return rows


def fit(rows: list[dict]) -> tuple[float, float]:
    """``(window_margin_mid, window_margin_scale)``: the midpoint, then the slope of an unweighted logistic
    regression through it (no intercept; ridge ``1 / (2 C)`` with ``C = 1e6``, the objective of the
    scikit-learn ``LogisticRegression(fit_intercept=False, C=1e6)`` this script used before)."""
    from avsync.calibration import fit_logistic

    own = np.array([r["margin"] for r in rows if not r["swapped"]])
    swapped = np.array([r["margin"] for r in rows if r["swapped"]])
    mid = float(np.percentile(own, 10))
    x = mid - np.r_[own, swapped]
    y = np.r_[np.zeros(len(own)), np.ones(len(swapped))]
    slope = float(fit_logistic(x, y, l2=0.5 / 1e6, fit_intercept=False)[0][0])
    return mid, 1.0 / slope


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="syncnet")
    ap.add_argument("--exclude", default="",
                    help="comma-separated manifest path prefixes of clips to leave out (e.g. those the model was "
                         "trained on: their own-audio margins would read larger than an unseen clip's)")
    add_data_args(ap)
    a = ap.parse_args()
    data = shared_data(a.shared)
    import torch

    from avsync.evaluation.metrics import roc_auc
    from avsync.fusion import sigmoid
    from avsync.pipeline import SyncCueParams

    torch.set_num_threads(a.threads)
    rows = window_rows(data, Path(a.tracks), a.model, tuple(x for x in a.exclude.split(",") if x))
    mid, scale = fit([r for r in rows if r["split"] == "calib"])
    old = SyncCueParams.for_model(a.model)
    print(f"window_margin_mid = {mid:.4f}, window_margin_scale = {scale:.4f}  (fitted on calib)")
    for split in ("calib", "eval"):
        sel = [r for r in rows if r["split"] == split]
        y = np.array([r["swapped"] for r in sel], float)
        m = np.array([r["margin"] for r in sel])
        d = np.array([r["distance"] for r in sel])
        p_new = sigmoid((mid - m) / scale)
        p_old = sigmoid((d - old.distance_mid) / old.distance_scale)
        clips = len({r["clip"] for r in sel})
        print(f"{split}: {clips} clips, {int((y == 0).sum())} own-audio / {int(y.sum())} swapped-audio windows")
        for name, p, score in (("margin rule", p_new, -m), ("distance rule", p_old, d)):
            print(f"  {name:13s}: own-audio windows at p >= 0.5 {np.mean(p[y == 0] >= 0.5):.3f}, "
                  f"swapped {np.mean(p[y == 1] >= 0.5):.3f}; window ROC-AUC {roc_auc(y, score):.3f}")


if __name__ == "__main__":
    main()
