"""How well the sync cue of `avsync analyze` separates real clips from shifted-audio copies and lip-sync fakes.

For every clip with audio under ../shared/data/real_av and fake_av: face tracks (avsync.face.track), sync with the
chosen model on the original audio, on audio advanced by --shift frames (audio leads video) and on the audio of
the next real clip in the manifest (dubbed / swapped audio), then the sync cue's probability
(avsync.pipeline.sync_cue). Prints the share flagged at several thresholds and ROC-AUCs.

    AVSYNC_SHARED=../shared python benchmarks/eval_sync_cue.py [--model motion] [--shift 8] [--out rows.jsonl]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import time
from pathlib import Path

import numpy as np
import torch

from avsync import Status, load_media
from avsync.evaluation.metrics import roc_auc
from avsync.face import track
from avsync.pipeline import SyncCueParams, sync_cue
from avsync.sync import sync_tracks, tracks_from_faces
from avsync.synth import shift_audio


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shared", default=os.environ.get("AVSYNC_SHARED", str(Path(__file__).resolve().parents[2] / "shared")))
    ap.add_argument("--model", default="motion")
    ap.add_argument("--shift", type=int, default=8, help="frames the audio is advanced by (audio leads video)")
    ap.add_argument("--limit", type=int, default=0)
    ap.add_argument("--out", default=None, help="write per-clip rows as JSONL")
    args = ap.parse_args()
    torch.set_num_threads(1)
    data = Path(args.shared) / "data"
    rows = [r for r in csv.DictReader(open(data / "MANIFEST.csv"))
            if r["kind"] in ("real_av", "fake_av") and r["has_audio"] == "yes" and r["video_fps"]]
    rows = rows[: args.limit] if args.limit else rows
    params = SyncCueParams.for_model(args.model)  # each sync model has its own cue parameters
    reals = [r for r in rows if r["kind"] == "real_av"]
    donor = {r["file"]: reals[(i + 1) % len(reals)]["file"] for i, r in enumerate(reals)}
    out = []
    for r in rows:
        t0 = time.perf_counter()
        m = load_media(data / r["file"])
        faces = track(m, crops=("mouth", "face"))
        tracks = tracks_from_faces(faces)
        audio = m.mono()
        shifted = shift_audio(audio, args.shift, m.sample_rate, m.fps)
        other = load_media(data / donor.get(r["file"], reals[0]["file"])).mono()
        swapped = np.resize(other, len(audio)) if len(other) else np.zeros_like(audio)
        rec = {"file": r["file"], "kind": r["kind"], "face_fraction": faces.face_fraction}
        variants = (("orig", audio), ("shifted", shifted), ("swapped", swapped)) if r["kind"] == "real_av" else (("orig", audio),)
        for name, a in variants:
            res = sync_tracks(a, m.sample_rate, tracks, model=args.model, fps=m.fps)
            cue = sync_cue(res, duration=m.duration, face_fraction=faces.face_fraction, params=params)
            rec[name] = {"status": str(res.status), "offset_frames": res.offset_frames, "confidence": res.confidence,
                         "min_distance": res.min_distance, "cue": cue.score if cue.status is Status.OK else None}
        rec["seconds"] = time.perf_counter() - t0
        out.append(rec)
        print(json.dumps(rec), flush=True)
    if args.out:
        Path(args.out).write_text("".join(json.dumps(x) + "\n" for x in out))
    real = np.array([x["orig"]["cue"] for x in out if x["kind"] == "real_av" and x["orig"]["cue"] is not None])
    shifted = np.array([x["shifted"]["cue"] for x in out if x["kind"] == "real_av" and x["shifted"]["cue"] is not None])
    swapped = np.array([x["swapped"]["cue"] for x in out if x["kind"] == "real_av" and x["swapped"]["cue"] is not None])
    fake = np.array([x["orig"]["cue"] for x in out if x["kind"] == "fake_av" and x["orig"]["cue"] is not None])
    print(f"\nsync cue ({args.model}): {len(real)} real clips, {len(shifted)} shifted by {args.shift} frames, "
          f"{len(swapped)} with swapped audio, {len(fake)} lip-sync fakes")
    print("| threshold | real flagged | shifted flagged | swapped flagged | fakes flagged |\n|---|---|---|---|---|")
    for t in (0.5, 0.6, 0.7, 0.75, 0.8):
        print(f"| {t} | {np.mean(real >= t):.1%} | {np.mean(shifted >= t):.1%} | {np.mean(swapped >= t):.1%} | {np.mean(fake >= t):.1%} |")
    lab = lambda a, b: (np.r_[np.zeros(len(a)), np.ones(len(b))], np.r_[a, b])  # noqa: E731
    print(f"ROC-AUC real vs shifted: {roc_auc(*lab(real, shifted)):.3f}; real vs swapped: {roc_auc(*lab(real, swapped)):.3f}; "
          f"real vs lip-sync fakes: {roc_auc(*lab(real, fake)):.3f}")


if __name__ == "__main__":
    main()
