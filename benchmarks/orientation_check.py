"""The orientation check (``avsync.face.orientation.picture_turn``) over every video of ``../shared``: upright ones and
turned copies, for one or more spans of first seconds sampled (``SAMPLE_S``).

    AVSYNC_SHARED=../shared PYTHONPATH=.:cli python benchmarks/orientation_check.py [--sample-s 5,2] [--every 6]

Every video of ``real_av/`` and ``fake_av/`` (MANIFEST.csv rows with video) is read as stored: it should read upright
(0). Every ``--every``-th real video is also read turned by 90°, 180° and 270° (its decoded frames turned, as a file
whose rotation flag is wrong shows them): it should read the turn that shows it upright. Printed per span: upright
videos read 0 / turned / undecided (``None``: too few sampled frames hold a face), turned copies found, wrong and
undecided, and the check's mean time per video (one thread; decoding the first seconds is most of it; the spans
alternate which reads a video first).
"""

from __future__ import annotations

import argparse
import csv
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import shared_root  # noqa: E402


class Turned:
    """``media`` as a file whose frames are stored turned counter-clockwise by ``90 * k``° (and flagged upright)."""

    def __init__(self, media, k: int):
        self.media, self.k = media, k
        v = media.info.video
        if k % 2:
            v = replace(v, width=v.height, height=v.width)
        self.info = replace(media.info, video=v)
        self.fps, self.num_frames = media.fps, media.num_frames

    def frames(self, *, size=None, **kw):
        inner = None if size is None else (size[::-1] if self.k % 2 else size)
        for chunk in self.media.frames(size=inner, **kw):
            yield replace(chunk, images=np.stack([np.ascontiguousarray(np.rot90(im, self.k)) for im in chunk.images]))


def main() -> None:
    import torch

    import avsync.face.orientation as ori
    from avsync.face import get_detector
    from avsync.media import load_media

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sample-s", default="5,2", help="spans of first seconds to compare (comma-separated)")
    ap.add_argument("--every", type=int, default=6, help="turned copies of every N-th real video")
    ap.add_argument("--limit", type=int, default=0, help="at most this many videos (0: all)")
    a = ap.parse_args()
    torch.set_num_threads(1)
    data = shared_root() / "data"
    rows = [r for r in csv.DictReader(open(data / "MANIFEST.csv"))
            if r["kind"] in ("real_av", "fake_av") and r.get("video_fps")]
    if a.limit:
        rows = rows[: a.limit]
    det = get_detector("yunet")
    spans = [float(s) for s in a.sample_s.split(",")]
    out: dict[float, dict] = {s: {"up": [], "turned": [], "t": []} for s in spans}
    real_i = 0
    for r in rows:
        try:
            media = load_media(str(data / r["file"]))
        except Exception as e:  # noqa: BLE001 - a file the tool cannot read is left out, and said
            print(f"skipped {r['file']}: {e}")
            continue
        if not media.has_video:
            continue
        copies = []
        if r["kind"] == "real_av":
            if real_i % a.every == 0:
                copies = [1, 2, 3]
            real_i += 1
        for s in spans if len(out[spans[0]]["up"]) % 2 == 0 else spans[::-1]:  # alternate: neither span reads warm
            ori.SAMPLE_S = s
            t = time.perf_counter()
            out[s]["up"].append(ori.picture_turn(media, det))
            out[s]["t"].append(time.perf_counter() - t)
            for k in copies:
                want = 90 * k  # stored turned counter-clockwise by 90k: a clockwise 90k turn shows it upright
                out[s]["turned"].append((want, ori.picture_turn(Turned(media, k), det)))
    for s in spans:
        up, tu = out[s]["up"], out[s]["turned"]
        print(f"SAMPLE_S {s:g}: upright {len(up)} videos: read 0 {sum(x == 0 for x in up)}, turned "
              f"{sum(bool(x) for x in up)}, undecided {sum(x is None for x in up)}; turned copies {len(tu)}: found "
              f"{sum(g == w for w, g in tu)}, wrong {sum(g is not None and g != w for w, g in tu)}, undecided "
              f"{sum(g is None for _, g in tu)}; check {statistics.mean(out[s]['t']):.3f} s a video (mean), "
              f"{statistics.median(out[s]['t']):.3f} s (median)")


if __name__ == "__main__":
    main()
