"""Two shots, two speakers: does the sync cue read the second shot? (``avsync.pipeline._other_speakers``)

Each real talking-face clip of ``../shared`` (``real_av``, GRID excluded; at least ``--min-duration`` s) is joined
with the next one of the list into one clip: both resized to ``--size`` pixels square, at 25 fps and 16 kHz, the
second shot straight after the first, each with its own audio (a cut from one speaker to another, as in a news
piece). Variants: as recorded, and the second shot's audio moved by each of ``--shifts`` ms (its first and last
samples left silent where the move runs out). ``Detector(spoof_model=False, artefacts=False)`` reads each, the sync
cue with the other speakers read and without (``avsync.pipeline._other_speakers`` returning nothing: the cue from
the active face's windows only, as before). Printed: the sync cue and label of each, and how many of each variant
read manipulated each way.

    AVSYNC_SHARED=../shared PYTHONPATH=.:cli python benchmarks/sync_two_shots.py
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import shared_root
from _sync_track_cache import is_grid
from sync_local_edits import edited


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--min-duration", type=float, default=4.5, help="clips at least this long (s)")
    ap.add_argument("--size", type=int, default=480, help="both shots resized to this many pixels square")
    ap.add_argument("--shifts", default="-320,-200,200,320", help="ms; positive: the second shot's audio leads")
    ap.add_argument("--limit", type=int, default=None, help="at most this many pairs")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()

    import cv2
    import torch

    import avsync
    import avsync.pipeline as pipeline
    from avsync.pipeline import Detector

    torch.set_num_threads(args.threads)
    data = shared_root() / "data"
    files = sorted(r["file"] for r in csv.DictReader(open(data / "MANIFEST.csv"))
                   if r["kind"] == "real_av" and r["has_audio"] == "yes" and r["video_fps"] and not is_grid(r["file"])
                   and float(r["duration_s"]) >= args.min_duration)
    pairs = list(zip(files, files[1:]))[: args.limit]
    det = Detector(spoof_model=False, artefacts=False, device="cpu")
    shipped = pipeline._other_speakers

    def shot(rel: str) -> tuple[np.ndarray, np.ndarray]:
        m = avsync.load_media(str(data / rel)).at_rates()
        frames = np.stack([cv2.resize(f, (args.size, args.size), interpolation=cv2.INTER_AREA)
                           for c in m.frames() for f in c.images])
        audio = m.mono().astype(np.float32)
        n = min(len(frames), len(audio) // 640)
        return frames[:n], audio[: n * 640]

    shifts = [int(s) for s in args.shifts.split(",") if s]
    tally: dict[int, list[int]] = {s: [0, 0, 0] for s in [0, *shifts]}  # copies, manipulated before, after
    for a, b in pairs:
        fa, aa = shot(a)
        fb, ab = shot(b)
        frames = np.concatenate([fa, fb])
        for shift in [0, *shifts]:
            moved = edited(ab, 0, len(ab), int(round(shift / 1000 * 16000))) if shift else ab
            media = avsync.Media.from_arrays(np.concatenate([aa, moved])[None], 16000, frames, 25.0)
            after = det(media)
            pipeline._other_speakers = lambda *x, **k: []
            try:
                before = det(media)
            finally:
                pipeline._other_speakers = shipped
            t = tally[shift]
            t[0] += 1
            t[1] += before.label is avsync.Label.MANIPULATED
            t[2] += after.label is avsync.Label.MANIPULATED
            cb, ca = before.cue("sync"), after.cue("sync")
            print(f"{a} + {b} (second from {len(fa) / 25:.1f} s) shift {shift:+d}: {before.label.value} "
                  f"{before.score:.2f} (sync {cb.score}) -> {after.label.value} {after.score:.2f} (sync {ca.score}) "
                  f"{[r for r in ca.reasons if 'face' in r]}", flush=True)
    print("\nsecond shot's audio, ms | clips | manipulated: active face only | with the other speakers")
    for s, (n, x, y) in tally.items():
        print(f"{s:+d} | {n} | {x} | {y}")


if __name__ == "__main__":
    main()
