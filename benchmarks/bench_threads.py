"""`avsync analyze` under libgomp's spin settings, on an idle machine and with one core kept busy.

    python benchmarks/bench_threads.py [--clip FILE] [--height 720] [--seconds 60] [--repeats 1]

Each run is a fresh process (the setting must be in the environment before torch loads): libgomp's
default spinning, ``GOMP_SPINCOUNT=2000`` (what the ``avsync`` command sets,
:func:`avsync.device.limit_omp_spinning`) and ``OMP_WAIT_POLICY=PASSIVE``; then the same three while
another process runs a busy loop on one core. Printed: analyze wall time of the clip after a warm-up
run of its first 7 s, the faces / spoof split, and the ratio to the default setting in the same
condition. Default clip: ../shared/data/real_av/wav2lip-gfpgan/kim_7s_raw.mp4 downscaled to --height
and repeated to --seconds (a generated face clip without ../shared).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from _common import REPO, header, machine, ratio_line, repeat_clip

SETTINGS = {"default spinning": {}, "GOMP_SPINCOUNT=2000": {"GOMP_SPINCOUNT": "2000"},
            "OMP_WAIT_POLICY=PASSIVE": {"OMP_WAIT_POLICY": "PASSIVE"}}

CHILD = """
import json, sys, time, torch
torch.set_num_threads(2)
from avsync.device import tune_cpu_allocator
tune_cpu_allocator()
from avsync.pipeline import Detector
d = Detector()
d(sys.argv[2])
t = time.perf_counter(); v = d(sys.argv[1]); wall = time.perf_counter() - t
print(json.dumps({"wall": wall, **v.provenance.timings}))
"""


def run(clip: str, warm: str, env: dict) -> dict:
    full = {k: v for k, v in os.environ.items() if k not in ("GOMP_SPINCOUNT", "OMP_WAIT_POLICY")}
    full.update(env, PYTHONPATH=f"{REPO}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    out = subprocess.run([sys.executable, "-c", CHILD, clip, warm], capture_output=True, text=True, env=full,
                         check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clip", default=None)
    ap.add_argument("--height", type=int, default=720)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--repeats", type=int, default=1)
    args = ap.parse_args()
    from bench_long import base_clip

    with tempfile.TemporaryDirectory(prefix="avsync-threads-") as d:
        tmp = Path(d)
        base = base_clip(tmp, args.clip, args.height)
        import av

        with av.open(str(base)) as c:
            base_s = float(c.duration / 1e6)
        clip = repeat_clip(base, tmp / "clip.mp4", max(1, round(args.seconds / base_s)))
        print(f"avsync analyze under libgomp settings — {machine()}; clip {args.seconds:g} s at {args.height}p")
        for busy in (False, True):
            header("one core busy (a Python loop in another process)" if busy else "idle machine")
            hog = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if busy else None
            try:
                base_wall = None
                for name, env in SETTINGS.items():
                    walls = [run(str(clip), str(base), env) for _ in range(args.repeats)]
                    r = sorted(walls, key=lambda x: x["wall"])[len(walls) // 2]
                    base_wall = base_wall or r["wall"]
                    print(ratio_line(name, r["wall"], base_wall,
                                     note=f"faces {r.get('faces', 0):.1f} s, spoof {r.get('spoof', 0):.1f} s"),
                          flush=True)
            finally:
                if hog is not None:
                    hog.kill()


if __name__ == "__main__":
    main()
