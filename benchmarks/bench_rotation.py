"""`avsync analyze` on a clip tagged with a display rotation against the same pictures stored upright.

Phone videos are often stored sideways with a rotation tag (90° or 270°); every frame is then turned before
analysis. Both inputs are made here from the same decoded frames of one clip, encoded the same way (H.264
CRF 18, audio copied): ``upright.mp4`` as they are, ``rotated.mp4`` stored turned with the tag that turns them
back, so both display the same pictures. Runs alternate in one process (``Detector()``, every default cue);
printed: median wall and CPU time of each, their ratio, and both verdicts (they should agree).

Usage::

    python benchmarks/bench_rotation.py [--clip PATH] [--height 720] [--rotation 90] [--repeat 5] [--threads 2]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

from _common import header, machine  # noqa: E402
from bench_long import base_clip  # noqa: E402


def encode_pair(src: Path, upright: Path, rotated: Path, rotation: int) -> None:
    """Re-encode ``src`` twice from the same decoded frames: as they are, and stored turned with a rotation tag."""
    import av
    import numpy as np

    with av.open(str(src)) as inp, av.open(str(upright), "w") as out_u, av.open(str(rotated), "w") as out_r:
        vs, aus = inp.streams.video[0], inp.streams.audio[0]
        turned = rotation in (90, 270)
        outs = []
        for out, rot in ((out_u, 0), (out_r, rotation)):
            ov = out.add_stream("libx264", rate=vs.average_rate)
            ov.width, ov.height = (vs.height, vs.width) if rot and turned else (vs.width, vs.height)
            ov.pix_fmt, ov.options = "yuv420p", {"crf": "18"}
            if rot:
                ov.set_display_rotation(rot)
            outs.append((out, ov, out.add_stream_from_template(aus), rot))
        for pkt in inp.demux(vs, aus):
            if pkt.stream.type == "video":
                for f in pkt.decode():
                    img = f.to_ndarray(format="rgb24")
                    for out, ov, _, rot in outs:
                        # stored so that turning by the tag (counter-clockwise) shows the picture upright
                        pic = np.ascontiguousarray(np.rot90(img, k=-(rot // 90))) if rot else img
                        nf = av.VideoFrame.from_ndarray(pic, format="rgb24")
                        nf.pts, nf.time_base = f.pts, f.time_base
                        for p in ov.encode(nf):
                            out.mux(p)
            elif pkt.dts is not None:
                for out, _, oa, _ in outs:
                    pkt.stream = oa
                    out.mux(pkt)
        for out, ov, _, _ in outs:
            for p in ov.encode():
                out.mux(p)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--clip", default=None, help="a talking-face clip (default: the 720p clip of bench_long.py)")
    ap.add_argument("--height", type=int, default=720)
    ap.add_argument("--rotation", type=int, default=90, choices=[90, 180, 270])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    from avsync.device import tune_cpu_allocator
    from avsync.media import inspect_media
    from avsync.pipeline import Detector

    tune_cpu_allocator()
    with tempfile.TemporaryDirectory() as tmp:
        src = base_clip(Path(tmp), args.clip, args.height)
        files = {"upright": Path(tmp) / "upright.mp4", "rotated": Path(tmp) / "rotated.mp4"}
        encode_pair(src, files["upright"], files["rotated"], args.rotation)
        info = {k: inspect_media(str(p)).video for k, p in files.items()}
        print(f"avsync rotation benchmark — {machine()}, {args.threads} torch threads")
        header(f"{info['upright'].width}x{info['upright'].height}, {info['upright'].duration_s:.1f} s; rotated: stored "
               f"{info['rotated'].height if args.rotation != 180 else info['rotated'].width}x"
               f"{info['rotated'].width if args.rotation != 180 else info['rotated'].height}, tag "
               f"{info['rotated'].rotation}; {args.repeat} alternated runs each, medians")
        detector = Detector()
        detector(str(files["upright"]))  # models loaded before timing
        runs: dict[str, list[tuple[float, float]]] = {k: [] for k in files}
        verdicts = {}
        for _ in range(args.repeat):
            for name, path in files.items():
                w0, c0 = time.perf_counter(), sum(os.times()[:2])
                v = detector(str(path))
                runs[name].append((time.perf_counter() - w0, sum(os.times()[:2]) - c0))
                verdicts[name] = f"{v.label.value} (p = {v.score:.3f})"
        med = {k: (statistics.median(w for w, _ in r), statistics.median(c for _, c in r)) for k, r in runs.items()}
        for name in files:
            print(f"{name:<8} wall {med[name][0]:6.2f} s   cpu {med[name][1]:6.2f} s   {verdicts[name]}")
        print(f"rotated / upright: wall {med['rotated'][0] / med['upright'][0]:.2f}x, "
              f"cpu {med['rotated'][1] / med['upright'][1]:.2f}x")


if __name__ == "__main__":
    main()
