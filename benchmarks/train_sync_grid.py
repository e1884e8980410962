"""Small real-data check of the SyncNet-style recipe: train on 8 GRID clips, test on the other 3.

Usage::

    PYTHONPATH=.:cli python benchmarks/train_sync_grid.py [--shared ../shared] [--steps 300]

GRID (CC-BY 4.0) clips show one speaker, centred, static camera, so a fixed mouth box stands in
for the face tracker. The clips are assumed in sync. For every clip the offset is measured with
the audio shifted by 0, ±3 and ±6 frames (expected: the shift), for the trained model and for the
training-free ``motion`` baseline. With 8 training clips (24 s) this is a smoke test of the recipe
on real faces, not a model to ship.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import torch

from avsync.encoders.syncnet import SyncNetConfig, SyncNetStyle
from avsync.media import load_media
from avsync.sync import MotionScorer, SyncNetScorer, fixed_box_track, sync_tracks
from avsync.training.sync import SyncTrainConfig, clip_from_track, train_sync

sys.path.insert(0, str(Path(__file__).resolve().parent))
from avsync.synth import shift_audio  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
BOX = (0.4, 0.58, 0.6, 0.76)
NAMES = ["bbaf2n", "brbk7n", "id2_vcd_swwp2s", "lbax4n", "lbbc2a", "lrwp9a", "lwbsza", "pwij3p", "sbia1a", "sbwe5n", "swiz3n"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shared", default=os.environ.get("AVSYNC_SHARED", str(REPO.parent / "shared")))
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    grid = Path(args.shared) / "data" / "real_av" / "grid_lipnet"
    if not grid.exists():
        print(f"missing {grid}", file=sys.stderr)
        return 1
    data = []
    for n in NAMES:
        media = load_media(str(grid / f"{n}.mpg"))
        data.append((n, media, fixed_box_track(media, mouth_box=BOX)))
    train, test = data[:8], data[8:]
    t = time.perf_counter()
    model = SyncNetStyle(SyncNetConfig())
    log = train_sync(model, [clip_from_track(m, tr) for _, m, tr in train],
                     SyncTrainConfig(steps=args.steps, batch_size=32, lr=2e-3, seed=args.seed))
    k = max(1, args.steps // 10)
    print(f"trained {args.steps} steps in {time.perf_counter() - t:.0f} s: loss {sum(log.loss[:k]) / k:.3f} -> "
          f"{sum(log.loss[-k:]) / k:.3f}, top-1 of 9 {sum(log.accuracy[:k]) / k:.2f} -> {sum(log.accuracy[-k:]) / k:.2f}")
    shifts = [0, -6, -3, 3, 6]
    score = {"syncnet": [0, 0], "motion": [0, 0]}
    print(f"{'clip':16s} {'set':5s} {'model':8s} " + " ".join(f"{s:+4d}" for s in shifts))
    for split, items in (("train", train), ("test", test)):
        for n, media, tr in items:
            for name, scorer in (("syncnet", SyncNetScorer(model)), ("motion", MotionScorer())):
                found = []
                for s in shifts:
                    r = sync_tracks(shift_audio(media.mono(), s, 16000, 25.0), 16000, [tr], model=scorer)
                    found.append(r.offset_frames)
                if split == "test":
                    score[name][0] += sum(f is not None and abs(f - s) <= 1 for f, s in zip(found, shifts, strict=True))
                    score[name][1] += len(shifts)
                print(f"{n:16s} {split:5s} {name:8s} " + " ".join("   -" if f is None else f"{f:+4d}" for f in found))
    for name, (hit, tot) in score.items():
        print(f"held-out runs with offset within ±1 frame of the injected shift: {name} {hit}/{tot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
