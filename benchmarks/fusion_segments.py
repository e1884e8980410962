"""Do the timeline and the flagged segments agree with the headline? `avsync analyze` (the Detector with the
shipped models and fusion config) on the clips of the fusion recipe's evaluation split.

    AVSYNC_SHARED=../shared python benchmarks/fusion_segments.py [--fakes] [--window-rule margin|distance]
        [--segment-threshold X]

Per clip: the label, the flagged segments, whether a reason says "lips do not follow the audio", and the share
of the sync cue's windows at p >= 0.5. Printed: the counts over the 24 real clips (``--fakes``: the generated
clips). ``--window-rule distance`` reads the sync windows from their absolute distance (``distance_mid``, the
rule before the margin rule), ``--segment-threshold`` overrides the config's: together with 0.5 they give the
earlier timeline. The clips and the split are those of ``benchmarks/fusion_calibrate.py``.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import add_data_args, shared_data  # noqa: E402

from avsync import limit_omp_spinning  # noqa: E402

limit_omp_spinning()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--fakes", action="store_true", help="the generated clips instead of the real ones")
    ap.add_argument("--window-rule", choices=("margin", "distance"), default="margin")
    ap.add_argument("--sync-model", default="syncnet", help="sync model (its own cue parameters), e.g. syncnet-v2")
    ap.add_argument("--segment-threshold", type=float, default=None)
    add_data_args(ap)
    a = ap.parse_args()
    data = shared_data(a.shared)
    import torch
    from fusion_calibrate import recipe_clips

    from avsync.fusion import FusionConfig
    from avsync.media import load_media
    from avsync.pipeline import DEFAULT_FUSION_CONFIG, Detector, SyncCueParams

    torch.set_num_threads(a.threads)
    fusion = FusionConfig.load(DEFAULT_FUSION_CONFIG)
    if a.segment_threshold is not None:
        fusion = replace(fusion, segment_threshold=a.segment_threshold)
    own = SyncCueParams.for_model(a.sync_model)
    sync = own if a.window_rule == "margin" else replace(own, window_margin_mid=None)
    det = Detector(fusion=fusion, sync_model=a.sync_model, sync_params=sync, device="cpu")
    clips = [c for c in recipe_clips(data)
             if c["split"] == "eval" and c["label"] == int(a.fakes)]
    rows = []
    for c in clips:
        v = det(load_media(str(data / c["clip"])))
        cue = v.cue("sync")
        wins = [w for w in (cue.windows if cue else ()) if w.valid and w.score is not None]
        rows.append({"clip": c["clip"], "label": str(v.label), "score": round(v.score or 0.0, 3),
                     "segments": len(v.segments), "segment_s": round(sum(s.end - s.start for s in v.segments), 1),
                     "follow_reason": any("of speech windows" in r for r in v.reasons),
                     "sync_windows_high": round(sum(w.score >= 0.5 for w in wins) / max(1, len(wins)), 3)})
        print(json.dumps(rows[-1]), flush=True)
    n = len(rows)
    labels = {k: sum(r["label"] == k for r in rows) for k in ("genuine", "undetermined", "manipulated")}
    with_seg = {k: sum(r["label"] == k and r["segments"] > 0 for r in rows) for k in labels}
    print(f"{n} {'generated' if a.fakes else 'real'} clips, labels {labels}; window rule {a.window_rule}, "
          f"segment threshold {fusion.segment_threshold}")
    print(f"clips with a flagged segment: {sum(r['segments'] > 0 for r in rows)} / {n} (by label: {with_seg}); "
          f"with a 'lips do not follow the audio in N % of speech windows' reason: {sum(r['follow_reason'] for r in rows)}; "
          f"mean share of sync windows >= 0.5: {sum(r['sync_windows_high'] for r in rows) / max(1, n):.3f}")


if __name__ == "__main__":
    main()
