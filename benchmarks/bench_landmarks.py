"""Lip-landmark backends on real clips: speed against tracking alone, and agreement with each other.

Per clip, in the same run (one torch thread):

* ``none``: :func:`avsync.face.track` with no crops and no landmarks (the baseline: decoding in RGB
  at the work size + detection + tracking);
* one row per backend (``facemesh``, ``mediapipe``, ``face-alignment`` when its checkpoint is
  found): the same call with ``landmarks=NAME``, everything included.

Prints frames per second, × real time and the ratio to the baseline; then, for each backend against
``facemesh`` (the own PyTorch face mesh, the reference), the distance between the 40 lip points
(pixels of the displayed frame, and as a fraction of the mouth width) and the correlation of the
mouth-opening signals.

Usage::

    AVSYNC_MODELS_DIR=/path/to/weights PYTHONPATH=$PWD:$PWD/cli \\
        python benchmarks/bench_landmarks.py [--clip PATH ...] [--seconds 4] [--backends facemesh,mediapipe]
        [--fan-random-weights]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from _common import shared_root

import avsync
from avsync.face import track
from avsync.face.landmarks import LANDMARKERS, get_landmarker

DEFAULT_CLIPS = ["real_av/visualvoice/noisy_restaurant.mp4", "real_av/grid_lipnet/bbaf2n.mpg"]


def run(media, landmarks, seconds):
    t0 = time.perf_counter()
    res = track(media, crops=(), landmarks=landmarks, end=seconds)
    return res, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--clip", action="append", help="video file (default: a 720p and a GRID clip of ../shared)")
    ap.add_argument("--seconds", type=float, default=4.0, help="analyse the first N seconds")
    ap.add_argument("--backends", default=",".join(LANDMARKERS))
    ap.add_argument("--fan-random-weights", action="store_true",
                    help="without the 2D-FAN checkpoint, time FAN with random weights (speed only: its landmarks "
                    "are meaningless and are left out of the agreement table)")  # fmt: skip
    args = ap.parse_args()
    torch.set_num_threads(1)
    clips = args.clip
    if not clips:
        root = shared_root()
        if root is None:
            sys.exit("no --clip and ../shared is absent (set AVSYNC_SHARED)")
        clips = [str(root / "data" / c) for c in DEFAULT_CLIPS]
    backends = {}
    for name in args.backends.split(","):
        try:
            backends[name] = get_landmarker(name)
        except avsync.AvsyncError as e:
            if name == "face-alignment" and args.fan_random_weights and isinstance(e, avsync.BundleError):
                from face_alignment.models import FAN

                from avsync.face.landmarks import FaceAlignmentLandmarker

                torch.manual_seed(0)
                backends["fan-random(speed)"] = FaceAlignmentLandmarker(net=FAN(4))
                print("# face-alignment: checkpoint absent; timing FAN(4) with random weights (speed only)")
            else:
                print(f"# {name}: skipped ({e})")
    for clip in clips:
        media = avsync.load_media(clip, require="video")
        v = media.info.video
        run(media, None, 1.0)  # warm-up (decoder, detector)
        base, t_base = run(media, None, args.seconds)
        n = base.num_frames
        dur = n / base.fps
        print(f"\n{clip}  {v.width}x{v.height}  first {dur:.1f} s ({n} frames)  load {os.getloadavg()[0]:.1f}")
        print(f"  {'landmarks':<15} {'frames/s':>9} {'x real time':>12} {'time / none':>12}")
        print(f"  {'none':<15} {n / t_base:9.1f} {dur / t_base:12.2f} {1.0:12.2f}")
        out = {}
        for name, lm in backends.items():
            run(media, lm, 0.5)  # warm-up (graph / weights on first call)
            res, t = run(media, lm, args.seconds)
            out[name] = res.dominant()
            print(f"  {name:<15} {n / t:9.1f} {dur / t:12.2f} {t / t_base:12.2f}")
        ref = out.get("facemesh")
        if ref is None or ref.lip_landmarks is None:
            continue
        width = np.linalg.norm(ref.lip_landmarks[:, 0] - ref.lip_landmarks[:, 10], axis=-1)
        print(f"  agreement with facemesh (mouth width median {np.nanmedian(width):.1f} px, "
              f"face {ref.median_size:.0f} px):")  # fmt: skip
        for name, t in out.items():
            if name == "facemesh" or "random" in name or t is None or len(t) != len(ref):
                continue
            d = np.linalg.norm(t.lip_landmarks - ref.lip_landmarks, axis=-1)
            rel = d / width[:, None]
            ok = np.isfinite(t.mouth_open) & np.isfinite(ref.mouth_open)
            r = np.corrcoef(t.mouth_open[ok], ref.mouth_open[ok])[0, 1]
            # the same after removing each frame's mean offset between the two contours
            c = (t.lip_landmarks - t.lip_landmarks.mean(1, keepdims=True)) - (
                ref.lip_landmarks - ref.lip_landmarks.mean(1, keepdims=True)
            )
            shift = np.nanmedian((t.lip_landmarks - ref.lip_landmarks).mean(1), axis=0)
            print(
                f"    {name:<13} lip points: median {np.nanmedian(d):.2f} px ({np.nanmedian(rel):.3f} mouth widths), "
                f"90th pct {np.nanpercentile(d, 90):.2f} px ({np.nanpercentile(rel, 90):.3f}); "
                f"mouth opening r = {r:.3f}, mean |diff| {np.nanmean(np.abs(t.mouth_open - ref.mouth_open)):.3f}; "
                f"found in {ok.mean():.0%} of frames"
            )
            print(
                f"    {'':<13} median offset (x, y) {shift[0]:+.2f}, {shift[1]:+.2f} px; without each frame's offset: "
                f"median {np.nanmedian(np.linalg.norm(c, axis=-1)):.2f} px"
            )


if __name__ == "__main__":
    main()
