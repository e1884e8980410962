"""One decoding pass for faces and the mouth-region check, against the two-pass way, in the same process.

What ``avsync analyze`` does for the video cues before sync scoring: track every face with mouth and face crops
and cut the artefact check's RGB context crops of the main face. Two ways, alternated ``--repeat`` times each on
one clip:

* ``one pass`` (the pipeline's): ``track(..., context=scorer.context_spec(fps))`` cuts the context crops while it
  decodes (gray frames: only each sampled face region is converted to RGB), and ``scorer.crops_of`` takes them;
* ``two passes`` (before): ``track(...)``, then :func:`avsync.artefacts.artefact_crops` decodes the video again.

It prints the median wall and CPU time (this process: user + system, all threads) of each and their ratio, checks
that both give the same crops (every pixel), and, for scale, the time of decoding every frame to RGB with PyAV
(the "pure decode" of ``bench_long.py``).

Usage::

    python benchmarks/bench_one_pass.py [--clip PATH] [--minutes 1] [--repeat 3] [--threads 2]

Default clip: the 7.4 s 720p talking face of ``bench_long.py`` repeated to ``--minutes`` (a generated face clip
without ../shared).
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

from _common import header, machine, repeat_clip  # noqa: E402
from bench_long import base_clip  # noqa: E402


def _clock() -> tuple[float, float]:
    t = os.times()
    return time.perf_counter(), t.user + t.system


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--clip", default=None, help="a talking-face clip (default: the 720p clip of bench_long.py)")
    ap.add_argument("--minutes", type=float, default=1.0, help="repeat the clip to about this long")
    ap.add_argument("--height", type=int, default=720)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--verbose", action="store_true", help="print every run")
    args = ap.parse_args()

    import av
    import numpy as np
    import torch

    torch.set_num_threads(args.threads)
    from avsync.artefacts import ArtefactScorer, artefact_crops
    from avsync.face import track
    from avsync.media import load_media

    with tempfile.TemporaryDirectory() as tmp:
        clip = base_clip(Path(tmp), args.clip, args.height)
        with av.open(str(clip)) as c:
            clip_s = float(c.duration / 1e6)
        path = Path(tmp) / "clip.mp4"
        repeat_clip(clip, path, max(1, math.ceil(args.minutes * 60 / clip_s)))
        media = load_media(str(path))
        scorer = ArtefactScorer()
        spec = scorer.context_spec(media.fps)
        step = max(1, round(media.fps / scorer.sample_fps))

        def one_pass():
            faces = track(media, crops=("mouth", "face"), context=spec)
            return scorer.crops_of(media, scorer.main_track(faces))

        def two_passes():
            faces = track(media, crops=("mouth", "face"))
            return artefact_crops(media, scorer.main_track(faces), size=scorer.crop_size, step=step)

        def decode():
            with av.open(str(path)) as c:
                for f in c.decode(video=0):
                    f.to_ndarray(format="rgb24")

        print(f"avsync one-pass benchmark — {machine()}, {args.threads} torch threads")
        header(f"{path.name}: {media.duration:.1f} s, {media.info.video.width}x{media.info.video.height}, "
               f"{args.repeat} alternated runs each, medians")
        times: dict[str, list[tuple[float, float]]] = {"one pass": [], "two passes": [], "pure decode": []}
        crops = {}
        for _ in range(args.repeat):
            for name, fn in (("two passes", two_passes), ("one pass", one_pass), ("pure decode", decode)):
                w0, c0 = _clock()
                out = fn()
                w1, c1 = _clock()
                times[name].append((w1 - w0, c1 - c0))
                if args.verbose:
                    print(f"  {name}: wall {w1 - w0:.2f} s, cpu {c1 - c0:.2f} s", flush=True)
                if out is not None:
                    crops[name] = out
        a, b = crops["one pass"], crops["two passes"]
        same = np.array_equal(a.frames, b.frames) and np.array_equal(a.images, b.images)
        med = {k: (statistics.median(w for w, _ in v), statistics.median(c for _, c in v)) for k, v in times.items()}
        for name in ("two passes", "one pass", "pure decode"):
            w, c = med[name]
            print(f"{name:<12} wall {w:6.2f} s ({media.duration / w:4.1f}x real time)   cpu {c:6.2f} s")
        (w1, c1), (w2, c2) = med["one pass"], med["two passes"]
        print(f"one pass / two passes: wall {w1 / w2:.2f}x, cpu {c1 / c2:.2f}x; "
              f"{len(a)} crops, identical: {same}")


if __name__ == "__main__":
    main()
