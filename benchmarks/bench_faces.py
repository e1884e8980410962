"""Speed of face tracking + crops against pure decoding of the same clip, at 224p/360p/720p/1080p.

A real single-face clip from ../shared/data is re-encoded (H.264, 25 fps) at each height into a
temporary folder; then, per size and in the same run:

* ``decode``: :meth:`Media.frames` at the native size (RGB), nothing else — the floor any
  pipeline pays;
* ``track``: :func:`avsync.face.track` with mouth (96×96 gray) and Light-ASD face crops, all faces,
  everything included (decode at the work size, keyframe detection, tracking, smoothing, crops).

It prints frames per second, × real time (clip duration / wall time) and the ratio track / decode.
Goal (issue 3): track ≥ 4× real time at 720p on the 2-core development machine.

Usage::

    PYTHONPATH=$PWD:$PWD/cli python benchmarks/bench_faces.py [--clip PATH] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import av
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from _common import shared_root

import avsync
from avsync.face import track

DEFAULT_CLIPS = ["real_av/hyperlips/MEAD_M003-007.mp4", "real_av/wav2lip-gfpgan/kim_7s_raw.mp4"]


def transcode(src: str, dst: Path, height: int) -> Path:
    """Re-encode ``src`` to H.264 at ``height`` (width keeps the aspect, even), 25 fps analysis frames."""
    m = avsync.load_media(src)
    w0, h0 = m.info.video.width, m.info.video.height
    w = int(round(w0 * height / h0 / 2)) * 2
    with av.open(str(dst), "w") as out:
        st = out.add_stream("libx264", rate=25)
        st.width, st.height, st.pix_fmt = w, height, "yuv420p"
        st.options = {"preset": "veryfast", "crf": "20"}
        for chunk in m.frames(size=(w, height)):
            for img in chunk.images:
                for p in st.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(img), format="rgb24")):
                    out.mux(p)
        for p in st.encode():
            out.mux(p)
    return dst


def timed(fn, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clip", action="append", help="clip path (default: two 1080p single-face clips of ../shared)")
    ap.add_argument("--heights", default="224,360,720,1080")
    ap.add_argument("--repeat", type=int, default=2, help="best of N runs per measurement")
    args = ap.parse_args()
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:
        pass
    clips = args.clip
    if not clips:
        root = shared_root()
        if root is None:
            sys.exit("../shared is absent: pass --clip PATH")
        clips = [str(root / "data" / c) for c in DEFAULT_CLIPS]
    heights = [int(h) for h in args.heights.split(",")]
    print(f"{'clip':<28} {'size':>10} {'frames':>6} {'decode fps':>10} {'track fps':>9} {'×RT decode':>10} "
          f"{'×RT track':>9} {'track/decode':>12} {'keyframes':>9}")
    with tempfile.TemporaryDirectory() as tmp:
        for clip in clips:
            for h in heights:
                path = transcode(clip, Path(tmp) / f"{Path(clip).stem}_{h}p.mp4", h)
                m = avsync.load_media(str(path))
                n = m.num_frames
                dur = n / m.fps

                def decode():
                    for _ in m.frames():
                        pass

                res = {}

                def run():
                    res["r"] = track(m, crops=("mouth", "face"))

                t_dec = timed(decode, args.repeat)
                t_trk = timed(run, args.repeat)
                r = res["r"]
                v = m.info.video
                print(f"{Path(clip).stem[:28]:<28} {v.width:>4}x{v.height:<5} {n:>6} {n / t_dec:>10.1f} {n / t_trk:>9.1f} "
                      f"{dur / t_dec:>10.2f} {dur / t_trk:>9.2f} {t_dec / t_trk:>12.2f} {r.keyframes:>9}"
                      + ("" if r.status == avsync.Status.OK else f"  status={r.status}"))
    print("×RT: seconds of video per second of wall time; track/decode > 1 means tracking+crops beat pure native decoding")


if __name__ == "__main__":
    main()
