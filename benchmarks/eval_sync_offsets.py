"""Offsets found by the sync models on real clips, and whether injected audio shifts are recovered.

Usage::

    PYTHONPATH=.:cli python benchmarks/eval_sync_offsets.py [--shared ../shared] [--shifts -6,-3,3,6] [--light-asd] \
        [--syncnet syncnet,syncnet-grid]

Until the face tracker is wired, fixed mouth boxes stand in for it: SyncNet's demo clip
(``real_av/syncnet/example.avi``, a 224×224 face-crop video: lower-middle of the frame), the USR
mouth-ROI video (``real_av/usr_lrs3``, whole frame, separate wav), the GRID clips (speaker centred,
static camera: a fixed box around the mouth) and the face-crop generated clips of ``fake_av/qinsy77``.

Printed per clip: the offset found (positive = audio leads video; SyncNet's published result on
example.avi is +3 frames), its confidence, and for each injected shift ``s`` (audio moved ``s`` frames
earlier) the offset found minus the unshifted offset (ideal: ``s``). The summary line counts shifted
runs recovered within ±1 frame.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import torch

from avsync.media import load_media
from avsync.sync import MotionScorer, fixed_box_track, sync_tracks
from avsync.synth import shift_audio

REPO = Path(__file__).resolve().parents[1]

FACE_CROP_MOUTH = (0.3, 0.5, 0.7, 0.75)
GRID_MOUTH = (0.38, 0.5, 0.62, 0.75)
# (label, video, separate audio or None, mouth box, face box for Light-ASD or None, reference offset or None)
CLIPS = [
    ("syncnet/example.avi", "data/real_av/syncnet/example.avi", None, FACE_CROP_MOUTH, (0, 0, 1, 1), 3),
    ("usr_lrs3 mouth ROI", "data/real_av/usr_lrs3/example_mouthroi.avi", "data/real_av/usr_lrs3/example.wav",
     (0.0, 0.0, 1.0, 1.0), None, None),
] + [
    (f"grid/{n}", f"data/real_av/grid_lipnet/{n}", None, GRID_MOUTH, None, None)
    for n in ["bbaf2n.mpg", "brbk7n.mpg", "id2_vcd_swwp2s.mpg", "lbax4n.mpg", "lbbc2a.mpg", "lrwp9a.mpg",
              "lwbsza.mpg", "pwij3p.mpg", "sbia1a.mpg", "sbwe5n.mpg", "swiz3n.mpg"]
] + [
    (f"fake qinsy77/{n}", f"data/fake_av/qinsy77/{n}", None, FACE_CROP_MOUTH, (0, 0, 1, 1), None)
    for n in ["gufeng1_libai_224.mp4", "gufeng1_libai_224+wavlip.mp4", "gufeng1_libai_25step_224.mp4"]
]



def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shared", default=os.environ.get("AVSYNC_SHARED", str(REPO.parent / "shared")))
    ap.add_argument("--shifts", default="-6,-3,3,6")
    ap.add_argument("--light-asd", action="store_true", help="also score face-crop clips with Light-ASD (AVA weights)")
    ap.add_argument("--variants", action="store_true", help="also run the other mouth/audio signal pairings")
    ap.add_argument("--syncnet", default="", metavar="MODELS",
                    help="also score with SyncNet-style models: comma-separated syncnet, syncnet-grid or LABEL=PATH "
                         "(the GRID clips here are their training data)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    shared = Path(args.shared)
    if not (shared / "data").exists():
        print(f"missing {shared}/data; pass --shared", file=sys.stderr)
        return 1
    shifts = [int(s) for s in args.shifts.split(",") if s]
    scorers = {"motion": MotionScorer()}
    if args.variants:
        scorers.update({
            "both": MotionScorer(visual="both"),
            "opening/energy": MotionScorer(visual="opening"),
            "motion/flux": MotionScorer(visual="motion", audio="flux"),
        })
    for spec in [x for x in args.syncnet.split(",") if x]:
        from avsync.sync import make_scorer

        label, _, path = spec.partition("=")
        scorers[label] = make_scorer("syncnet", weights=path) if path else make_scorer(label)
    lasd = None
    if args.light_asd:
        from avsync.encoders.lightasd import load_lightasd
        from avsync.sync import LightASDScorer

        lasd = LightASDScorer(load_lightasd(shared / "weights" / "light-asd" / "pretrain_AVA_CVPR.model"))
    print("positive offset = audio leads video; SyncNet README on example.avi: +3 frames (min dist 5.353, conf 10.021)")
    print(f"{'clip':42s} {'model':15s} {'ref':>4s} {'offset':>7s} {'conf':>6s}  " + " ".join(f"{s:+4d}" for s in shifts))
    tally: dict[str, list[int]] = {}
    for label, video, wav, mouth_box, face_box, ref in CLIPS:
        vpath = shared / video
        if not vpath.exists():
            print(f"{label:42s} missing")
            continue
        media = load_media(str(vpath))
        audio = load_media(str(shared / wav)).mono() if wav else media.mono()
        sr, fps = media.sample_rate, media.fps
        use_face = lasd is not None and face_box is not None
        track = fixed_box_track(media, mouth_box=mouth_box, face_box=face_box if use_face else None)
        runs = dict(scorers)
        if use_face:
            runs["light-asd(AVA)"] = lasd
        for name, scorer in runs.items():
            t = time.perf_counter()
            r = sync_tracks(audio, sr, [track], model=scorer, fps=fps)
            base = r.offset_frames
            deltas = []
            for s in shifts:
                rs = sync_tracks(shift_audio(audio, s, sr, fps), sr, [track], model=scorer, fps=fps)
                if base is None or rs.offset_frames is None:
                    deltas.append(None)
                else:
                    deltas.append(rs.offset_frames - base)
            hits = sum(d is not None and abs(d - s) <= 1 for d, s in zip(deltas, shifts, strict=True))
            tally.setdefault(name, [0, 0])
            tally[name][0] += hits
            tally[name][1] += len(shifts)
            off = str(r.status) if base is None else f"{base:+d}"
            conf = float("nan") if r.confidence is None else r.confidence
            cells = " ".join("   -" if d is None else f"{d:+4d}" for d in deltas)
            refs = "" if ref is None else f"{ref:+d}"
            print(f"{label:42s} {name:15s} {refs:>4s} {off:>7s} {conf:6.3f}  {cells}   ({time.perf_counter() - t:.1f} s)")
    for name, (hit, tot) in tally.items():
        print(f"{name}: injected shifts recovered within ±1 frame: {hit}/{tot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
