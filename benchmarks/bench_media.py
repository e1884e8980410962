"""Media decoding speed and memory.

1. Video decode speed per resolution: ``Media.frames()`` over a synthetic clip, as time / real time
   and as a ratio to pure demuxing (reading packets without decoding) and to raw PyAV decoding of
   the same file.
2. Audio decode real-time factor: ``Media.audio`` (decode + resample to 16 kHz) of 44.1 kHz AAC.
3. Peak RSS vs clip length: iterating ``Media.frames()`` over 1- and 10-minute (``--long``: also
   60-minute) 360p clips, each in a fresh process; a flat ratio means memory does not grow with
   duration.

Usage: ``PYTHONPATH=$PWD python benchmarks/bench_media.py [--quick] [--long]``
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import av
from _common import header, machine, peak_rss_mb, ratio_line, repeat_clip, timeit

from avsync.media import load_media
from avsync.synth import ClipSpec, make_clip


def demux_only(path: str) -> int:
    n = 0
    with av.open(path) as c:
        for p in c.demux(c.streams.video[0]):
            n += p.size
    return n


def pyav_decode(path: str) -> int:
    n = 0
    with av.open(path) as c:
        s = c.streams.video[0]
        s.thread_type = "AUTO"
        for f in c.decode(s):
            f.to_ndarray(format="rgb24")
            n += 1
    return n


def media_frames(m) -> int:
    return sum(len(ch) for ch in m.frames(chunk_size=64))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="short clips, one repeat (smoke run)")
    ap.add_argument("--long", action="store_true", help="also measure a 60-minute clip")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="avsync-bench-") as d:
        run(Path(d), args)


def run(tmp: Path, args) -> None:
    dur = 2.0 if args.quick else 6.0
    rep = 1 if args.quick else 3
    print(f"avsync media benchmark — {machine()}")

    header(f"1. video decode, {dur:g} s clips at 25 fps (H.264); ratios to pure demux of the same file")
    print(f"{'':<44} {'seconds':>10}      {'ratio':>8}")
    for name, size in (("360p", (640, 360)), ("720p", (1280, 720)), ("1080p", (1920, 1080))):
        path = make_clip(tmp / f"clip_{name}", ClipSpec(duration=dur, size=size))
        t_demux = timeit(lambda path=path: demux_only(path), repeat=rep)
        t_pyav = timeit(lambda path=path: pyav_decode(path), repeat=rep)
        t_load = timeit(lambda path=path: load_media(path), repeat=rep)
        media = load_media(path)
        t_media = timeit(lambda media=media: media_frames(media), repeat=rep)
        print(ratio_line(f"{name} demux only (baseline)", t_demux, t_demux))
        print(ratio_line(f"{name} PyAV decode to RGB", t_pyav, t_demux, note=f"{t_pyav / dur:.3f}x real time"))
        print(ratio_line(f"{name} load_media (probe, packet scan, sha256)", t_load, t_demux))
        print(ratio_line(f"{name} Media.frames() iteration", t_media, t_demux,
                         note=f"{t_media / dur:.3f}x real time, {t_media / t_pyav:.2f}x raw PyAV"))

    header("2. audio decode: Media.audio (AAC 44.1 kHz stereo -> 16 kHz)")
    adur = 10.0 if args.quick else 60.0
    apath = make_clip(tmp / "audio", ClipSpec(duration=adur, preset="m4a", video=False, sample_rate=44_100,
                                              channel_tones=(440.0, 660.0)))

    def pyav_audio():
        with av.open(apath) as c:
            for f in c.decode(c.streams.audio[0]):
                f.to_ndarray()

    t_raw = timeit(pyav_audio, repeat=rep)
    t_aud = timeit(lambda: load_media(apath).audio, repeat=rep)
    print(ratio_line("PyAV decode only (baseline)", t_raw, t_raw, note=f"RTF {t_raw / adur:.5f}"))
    print(ratio_line("Media.audio (decode + resample)", t_aud, t_raw, note=f"RTF {t_aud / adur:.5f}"))

    header("3. peak RSS while iterating Media.frames() over 360p clips (fresh process each)")
    base_min = 0.25 if args.quick else 1.0
    one = make_clip(tmp / "base360", ClipSpec(duration=60.0 * base_min, size=(640, 360)))
    lengths = [1, 10] + ([60] if args.long else [])
    code = """
from avsync.media import load_media
m = load_media(PATH)
n = 0
for ch in m.frames(chunk_size=64):
    n += len(ch)
result["frames"] = n
result["duration_s"] = m.duration
"""
    idle = peak_rss_mb(f"import avsync.media, numpy\nPATH = {one!r}\nfrom avsync.media import load_media\nload_media(PATH)")
    print(ratio_line("import + load_media (no frames, baseline)", idle["peak_rss_mb"], idle["peak_rss_mb"], unit="MiB"))
    first = None
    for k in lengths:
        path = repeat_clip(one, tmp / f"long_{k}.mp4", k) if k > 1 else one
        r = peak_rss_mb(f"PATH = {path!r}\n" + code)
        first = first or r["peak_rss_mb"]
        print(ratio_line(f"{k * base_min:g} min ({r['frames']} frames)", r["peak_rss_mb"], idle["peak_rss_mb"],
                         unit="MiB", note=f"{r['peak_rss_mb'] / first:.2f}x the shortest clip, "
                                          f"{r['wall_s'] / r['duration_s']:.3f}x real time"))


if __name__ == "__main__":
    main()
