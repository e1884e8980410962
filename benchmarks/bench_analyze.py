"""Speed of `avsync analyze` on a 720p talking-face clip: seconds per minute of video, × real time, and the
ratio to pure decoding of the same clip, measured in the same run, with the per-stage split (faces, sync, spoof).

    python benchmarks/bench_analyze.py [--clip FILE] [--height 720] [--seconds 20] [--spoof-model NAME|none]
        [--sync-models syncnet,motion] [--device cpu,cuda] [--repeats 3] [--no-allocator-tuning] [--sequential-too]

Without --clip a synthetic face clip is generated at the requested height. With --clip (e.g. a 1080p clip of
../shared/data) the clip is downscaled to --height first (whole clip; --seconds applies to generated clips). The CPU allocator is tuned first, as the ``avsync``
command does (``avsync.device.tune_cpu_allocator``), unless --no-allocator-tuning. With several --sync-models the
whole analysis runs with each in turn, --repeats times (alternating), and the median of each is compared with the
first model's: what a sync model costs relative to another on the same clip in the same process. With several
--device values (e.g. ``cpu,cuda`` on a machine with a GPU) every model runs on each device in turn, alternating
the same way, and the ratios are to the first model on the first device; with a GPU among them, one run of every
configuration comes first as a warm-up (CUDA context, kernel selection), left out of the medians, and each
configuration's verdict is printed (CPU and GPU should agree).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from avsync import load_media
from avsync.device import tune_cpu_allocator
from avsync.pipeline import Detector
from avsync.synth import ClipSpec, make_clip


def reencode(src: str, dst: str, height: int) -> str:
    """``src`` downscaled to ``height`` lines (H.264 CRF 18), audio copied: avsync.evaluation.perturb.transcode."""
    from avsync.evaluation.perturb import Perturbation, transcode

    return transcode(src, dst, Perturbation(f"{height}p", f"downscale to {height} lines", "video",
                                            video_crf=18, video_height=height))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clip", default=None)
    ap.add_argument("--height", type=int, default=720)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--spoof-model", default=None)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--sync-models", default=None, help="comma-separated sync models to alternate (default: the Detector's)")
    ap.add_argument("--device", default="cpu", help="comma-separated devices to alternate (cpu, cuda, cuda:N, auto)")
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--no-allocator-tuning", action="store_true", help="keep glibc's allocator defaults")
    ap.add_argument("--sequential-too", action="store_true",
                    help="also run each model with Detector(concurrent=False), alternating: what running the voice "
                         "check beside faces, sync and artefacts saves")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    tuned = False if args.no_allocator_tuning else tune_cpu_allocator()
    tmp = Path(tempfile.mkdtemp())
    if args.clip:
        path = reencode(args.clip, str(tmp / "clip.mkv"), args.height)
    else:
        h = args.height
        path = make_clip(tmp / "clip.mp4", ClipSpec(face="photo", timbre="vowel", size=(h * 16 // 9 // 2 * 2, h),
                                                   duration=args.seconds, offset_s=0.0))
    m = load_media(path)
    t0 = time.perf_counter()
    n = sum(len(c) for c in m.frames(gray=True))
    m.audio  # noqa: B018
    decode_s = time.perf_counter() - t0
    spoof = False if (args.spoof_model or "").lower() == "none" else args.spoof_model
    models = args.sync_models.split(",") if args.sync_models else [Detector.__dataclass_fields__["sync_model"].default]
    devices = [d.strip() for d in args.device.split(",") if d.strip()]
    dets = {}
    for d in devices:
        tag = "" if len(devices) == 1 else f" @ {d}"
        for s in models:
            dets[f"{s}{tag}"] = Detector(device=d, spoof_model=spoof, sync_model=s)
        if args.sequential_too:
            for s in models:
                dets[f"{s}, sequential{tag}"] = Detector(device=d, spoof_model=spoof, sync_model=s, concurrent=False)
    models = list(dets)
    times: dict[str, list[float]] = {s: [] for s in models}
    stages: dict[str, dict] = {}
    verdicts: dict[str, str] = {}
    if any(d != "cpu" for d in devices):
        for det in dets.values():  # warm-up: CUDA context and kernel selection are not the analysis' time
            det(path)
    for _ in range(max(1, args.repeats)):
        for s in models:  # alternate, so that the shared machine's load falls on each alike
            t0 = time.perf_counter()
            v = dets[s](path)
            times[s].append(time.perf_counter() - t0)
            stages[s] = v.provenance.timings
            verdicts[s] = v.summary()
    dur = m.duration
    print(f"clip: {path} {m.info.video.width}x{m.info.video.height} {dur:.1f} s, {n} frames; torch threads {args.threads}; "
          f"allocator tuning {'on' if tuned else 'off'}")
    if len(set(verdicts.values())) == 1:
        print(f"verdict: {v.summary()}")
    else:
        for s, text in verdicts.items():
            print(f"verdict ({s}): {text}")
    print(f"decode only: {decode_s:.2f} s ({dur / decode_s:.1f}x real time)")
    base = float(np.median(times[models[0]]))
    for s in models:
        total = float(np.median(times[s]))
        print(f"analyze ({s}): {total:.2f} s median of {len(times[s])} ({dur / total:.2f}x real time, "
              f"{60 * total / dur:.1f} s per minute of video, {total / decode_s:.1f}x the decode time, "
              f"{total / base:.3f}x {models[0]}); runs {[round(x, 2) for x in times[s]]}")
        print(f"  stages (s, last run): {({k: round(x, 2) for k, x in stages[s].items()})}")


if __name__ == "__main__":
    main()
