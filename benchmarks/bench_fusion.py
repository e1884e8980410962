"""Fusing the cues of a long input: the fused timeline's window lookup against a scan of every window, same process.

``avsync.fusion.fuse`` scores each window of the fused grid from every cue's windows that overlap it. A scan of all
of a cue's windows per grid window grows with the square of the duration (an hour of video: 3,600 grid windows ×
thousands of cue windows per cue); the windows are now found by bisection (``_CueTimeline``). This script builds
cues shaped like those of ``avsync analyze`` on a video with speech throughout (sync and mouth-region windows of 2 s
every second, voice windows of 4.04 s, speaker windows of 4 s every 2 s; random scores) for each ``--minutes``,
times ``fuse`` both ways (alternated, median of ``--repeat``) and checks that both give the same verdict and
timeline.

Usage::

    python benchmarks/bench_fusion.py [--minutes 10,60] [--repeat 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

from _common import header, machine, ratio_line  # noqa: E402


def _cues(seconds: float, seed: int = 0):
    import numpy as np

    from avsync import Status
    from avsync.fusion import Cue, CueWindow

    rng = np.random.default_rng(seed)

    def windows(length: float, hop: float) -> tuple:
        starts = np.arange(0.0, max(seconds - length, 0.0) + 1e-9, hop)
        return tuple(CueWindow(float(a), float(a + length), float(rng.uniform(0.0, 0.6))) for a in starts)

    plan = {"sync": (2.0, 1.0), "artefact": (2.0, 1.0), "spoof": (4.04, 4.04), "speaker": (4.0, 2.0)}
    return [Cue(name, Status.OK, float(rng.uniform(0.1, 0.3)), windows(*lh), (), 1.0) for name, lh in plan.items()]


def _scan(self, start: float, end: float) -> dict:
    """The lookup before: every valid window of the cue, tested for overlap."""
    num: dict = {}
    den: dict = {}
    for w in self.windows:
        ov = min(end, w.end) - max(start, w.start)
        if ov > 0:
            num[w.channel] = num.get(w.channel, 0.0) + ov * float(w.score)
            den[w.channel] = den.get(w.channel, 0.0) + ov
    return {ch: num[ch] / den[ch] for ch in num}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--minutes", default="10,60")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()

    from avsync import fusion

    print(f"avsync fusion benchmark — {machine()}")
    indexed = fusion._CueTimeline.channel_scores
    for minutes in (float(m) for m in args.minutes.split(",") if m):
        seconds = minutes * 60
        cues = _cues(seconds)
        times: dict[str, list[float]] = {"scan of every window (before)": [], "bisection (now)": []}
        outs = {}
        try:
            for _ in range(args.repeat):
                for label, lookup in zip(times, (_scan, indexed)):
                    fusion._CueTimeline.channel_scores = lookup  # type: ignore[method-assign]
                    t = time.perf_counter()
                    outs[label] = fusion.fuse(cues, duration=seconds, kind="audio+video")
                    times[label].append(time.perf_counter() - t)
        finally:
            fusion._CueTimeline.channel_scores = indexed  # type: ignore[method-assign]
        before, now = outs.values()
        same = (before.label, before.score, before.windows, before.segments) == (now.label, now.score, now.windows,
                                                                                  now.segments)
        header(f"{minutes:g} min: {sum(len(c.windows) for c in cues)} cue windows, {len(now.windows)} fused windows, "
               f"median of {args.repeat}")
        base = statistics.median(times["scan of every window (before)"])
        for label, ts in times.items():
            print(ratio_line(label, statistics.median(ts), base))
        print(f"same verdict, timeline and segments: {same}")


if __name__ == "__main__":
    main()
