"""Offsets found by the sync models on real clips, with injected audio shifts.

Usage::

    PYTHONPATH=.:cli python benchmarks/eval_sync_offsets.py [--shared ../shared] [--shifts -6,-3,3,6]

On SyncNet's demo clip (``data/real_av/syncnet/example.avi``, a 224×224 face-crop video) a fixed
mouth box (lower-middle of the frame) stands in for the face tracker. Printed: the offset found by
each variant of the training-free baseline (SyncNet's published result is +3 frames), and the
offset after shifting the audio by ``s`` frames (expected: base + s). Positive = audio leads video.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

from avsync.media import load_media
from avsync.sync import MotionScorer, fixed_box_track, sync_tracks

REPO = Path(__file__).resolve().parents[1]


def shift_audio(audio: np.ndarray, frames: int, sr: int, fps: float) -> np.ndarray:
    """Make audio lead video by ``frames`` more: move the samples earlier (pad the end with zeros)."""
    n = int(round(frames * sr / fps))
    out = np.zeros_like(audio)
    if n >= 0:
        out[: len(audio) - n] = audio[n:]
    else:
        out[-n:] = audio[: len(audio) + n]
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shared", default=os.environ.get("AVSYNC_SHARED", str(REPO.parent / "shared")))
    ap.add_argument("--shifts", default="-6,-3,3,6")
    ap.add_argument("--mouth-box", default="0.3,0.5,0.7,0.75", help="x0,y0,x1,y1 fractions of the frame")
    ap.add_argument("--light-asd", action="store_true", help="also score with Light-ASD (AVA weights)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    path = Path(args.shared) / "data" / "real_av" / "syncnet" / "example.avi"
    if not path.exists():
        print(f"missing {path}; pass --shared", file=sys.stderr)
        return 1
    media = load_media(str(path))
    box = tuple(float(v) for v in args.mouth_box.split(","))
    t = time.perf_counter()
    track = fixed_box_track(media, mouth_box=box, face_box=(0.0, 0.0, 1.0, 1.0) if args.light_asd else None)
    audio, sr, fps = media.mono(), media.sample_rate, media.fps
    print(f"{path.name}: {len(track)} frames, {len(audio) / sr:.2f} s audio, decode+crop {time.perf_counter() - t:.2f} s")
    print("SyncNet (joonson/syncnet_python README): offset +3 frames, min dist 5.353, confidence 10.021")
    variants = {
        "motion (default: motion vs energy)": MotionScorer(),
        "both (opening & motion vs energy)": MotionScorer(visual="both"),
        "opening vs energy": MotionScorer(visual="opening", audio="energy"),
        "motion vs flux": MotionScorer(visual="motion", audio="flux"),
            }
    if args.light_asd:
        from avsync.encoders.lightasd import load_lightasd
        from avsync.sync import LightASDScorer

        w = Path(args.shared) / "weights" / "light-asd" / "pretrain_AVA_CVPR.model"
        variants["light-asd (AVA)"] = LightASDScorer(load_lightasd(w))
    shifts = [int(s) for s in args.shifts.split(",") if s]
    print(f"{'model':40s} {'offset':>7s} {'conf':>6s} {'mindist':>8s}  " + " ".join(f"shift{s:+d}" for s in shifts))
    for name, scorer in variants.items():
        t = time.perf_counter()
        r = sync_tracks(audio, sr, [track], model=scorer, fps=fps)
        found = []
        for s in shifts:
            rs = sync_tracks(shift_audio(audio, s, sr, fps), sr, [track], model=scorer, fps=fps)
            found.append("   oor " if rs.offset_frames is None else f"{rs.offset_frames:+7d}")
        off = "oor" if r.offset_frames is None else f"{r.offset_frames:+d}"
        print(f"{name:40s} {off:>7s} {r.confidence or float('nan'):6.3f} {r.min_distance or float('nan'):8.3f}  "
              + " ".join(found) + f"   ({time.perf_counter() - t:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
