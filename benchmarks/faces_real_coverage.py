"""Face-track coverage on real clips: ``avsync faces --json`` on every single-speaker real clip of
../shared/data gives one dominant track covering >= 95 % of the frames.

Usage::

    PYTHONPATH=$PWD:$PWD/cli python benchmarks/faces_real_coverage.py [--shared ../shared]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
from _common import shared_root

NOT_SINGLE_FACE = {"real_av/usr_lrs3/example_mouthroi.avi", "real_av/usr_lrs3/example.wav"}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--shared", default=None, help="shared root (default: $AVSYNC_SHARED or ../shared)")
    args = ap.parse_args()
    shared = Path(args.shared) if args.shared else shared_root()
    if shared is None or not (shared / "data" / "MANIFEST.csv").exists():
        sys.exit("no shared data: set AVSYNC_SHARED or pass --shared (the folder holding data/MANIFEST.csv)")
    with open(shared / "data" / "MANIFEST.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    files = sorted({r["file"] for r in rows if r["kind"] == "real_av" and r["video_resolution"]} - NOT_SINGLE_FACE)
    env = {**os.environ, "PYTHONPATH": f"{REPO}{os.pathsep}{REPO / 'cli'}"}
    out = subprocess.run(
        [sys.executable, "-m", "avsync_cli.main", "faces", "--json", *[str(shared / "data" / f) for f in files]],
        capture_output=True, text=True, env=env, check=False,
    )
    results = json.loads(out.stdout)
    bad = 0
    print(f"{'clip':<58} {'status':<8} {'frames':>6} {'face %':>7} {'dominant valid %':>16} {'tracks':>6}")
    for f, r in zip(files, results):
        dom = next((t for t in r.get("tracks", []) if t["track_id"] == r.get("dominant_track")), None)
        cover = 100.0 * dom["num_frames"] * dom["valid_fraction"] / r["num_frames"] if dom else 0.0
        ok = r["status"] == "ok" and cover >= 95.0
        bad += not ok
        print(f"{f:<58} {r['status']:<8} {r.get('num_frames', 0):>6} {100 * r.get('face_fraction', 0):>7.1f} "
              f"{cover:>16.1f} {len(r.get('tracks', [])):>6}" + ("" if ok else "   <-- FAIL"))
    print(f"{len(files) - bad}/{len(files)} single-speaker clips: one dominant track covering >= 95 % of frames")
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
