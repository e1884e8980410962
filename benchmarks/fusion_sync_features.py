"""How the lip-sync measurements of real clips differ between the fusion recipe's calibration and evaluation splits.

    AVSYNC_SHARED=../shared python benchmarks/fusion_sync_features.py [--model syncnet] [--tracks out/fusion/tracks]

For every original clip of the recipe (``fusion_calibrate.recipe_clips``: real clips, lip-sync fakes, talking heads),
the sync analysis of ``avsync analyze`` (default model) is run on the cached face tracks
(``benchmarks/_sync_track_cache.py``, made on first use) with the clip's own audio. Printed per split and family:
the median of each clip-level measurement (confidence = median minus minimum of the offset curve, |offset| in
frames, minimum distance, the margin at lag 0, the median window margin), then for each fake family the ROC-AUC
(95 % bootstrap CI) of each measurement against the real clips of the same split. AUC above 0.5: the fakes have
the larger value.

What it is for: a cue fitted on one split is only worth shipping when it separates in the same direction on both.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import add_data_args, shared_data  # noqa: E402
from fusion_calibrate import recipe_clips  # noqa: E402

FEATURES = ("confidence", "abs_offset", "min_distance", "margin_at_0", "window_margin")


def measurements(result) -> dict[str, float]:
    """Clip-level sync measurements of a :class:`~avsync.sync.SyncResult` (NaN where not measured)."""
    nan = float("nan")
    f = {"confidence": nan if result.confidence is None else float(result.confidence),
         "abs_offset": nan if result.offset_frames is None else float(abs(result.offset_frames)),
         "min_distance": nan if result.min_distance is None else float(result.min_distance),
         "margin_at_0": nan, "window_margin": nan}
    face = result.active_face
    if face is not None and face.curve and 0 in face.lags:
        curve = np.array([np.nan if v is None else v for v in face.curve], float)
        f["margin_at_0"] = float(np.nanmedian(curve) - curve[list(face.lags).index(0)])
        margins = [w.margin for w in face.windows if w.margin is not None]
        if margins:
            f["window_margin"] = float(np.median(margins))
    return f


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_data_args(ap)
    ap.add_argument("--model", default="syncnet", help="sync model (default: the Detector's)")
    a = ap.parse_args(argv)

    import torch
    from _sync_track_cache import tracks_for

    from avsync.evaluation.metrics import roc_auc_ci
    from avsync.sync import sync_tracks

    torch.set_num_threads(a.threads)
    data = shared_data(a.shared)
    rows = []
    for clip in recipe_clips(data):
        media, tracks, _ = tracks_for(data, clip["clip"], Path(a.tracks))
        res = sync_tracks(media.audio.mean(axis=0), media.sample_rate, tracks, model=a.model, device="cpu",
                          fps=media.fps)
        rows.append({**clip, **measurements(res)})
    families = sorted({r["family"] for r in rows} - {"real"})
    print(f"sync model {a.model}: {len(rows)} clips")
    for split in ("calib", "eval"):
        here = [r for r in rows if r["split"] == split]
        print(f"\n{split}: median per family")
        print(f"| family | n | {' | '.join(FEATURES)} |\n|---|---|{'---|' * len(FEATURES)}")
        for fam in ["real", *families]:
            sel = [r for r in here if r["family"] == fam]
            if sel:
                cells = " | ".join(f"{np.nanmedian([r[k] for r in sel]):.3f}" for k in FEATURES)
                print(f"| {fam} | {len(sel)} | {cells} |")
        print(f"\n{split}: ROC-AUC (95 % CI) of each measurement, fakes of the family vs real clips")
        print(f"| family | {' | '.join(FEATURES)} |\n|---|{'---|' * len(FEATURES)}")
        for fam in families:
            if sum(r["family"] == fam for r in here) < 3:  # too few clips for an interval that means anything
                continue
            cells = []
            for k in FEATURES:
                sel = [r for r in here if r["family"] in ("real", fam) and np.isfinite(r[k])]
                y = [int(r["family"] == fam) for r in sel]
                if len(set(y)) < 2:
                    cells.append("-")
                    continue
                ci = roc_auc_ci(y, [r[k] for r in sel])
                cells.append(f"{ci.value:.3f} [{ci.low:.2f}, {ci.high:.2f}]")
            print(f"| {fam} | {' | '.join(cells)} |")


if __name__ == "__main__":
    main()
