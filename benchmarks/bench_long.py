"""Long inputs: peak memory and speed of `avsync analyze` on 720p talking faces and of `avsync spoof` on
8 kHz stereo calls, each length in a fresh process, ratios against the shortest input of the same run.

    python benchmarks/bench_long.py [--analyze-minutes 1,10,60] [--spoof-minutes 10,120] [--clip FILE]
        [--height 720] [--threads 2] [--only analyze|spoof] [--section-s 60|none] [--sequential] [--warm]
        [--repeat N] [--keep DIR]

Inputs are made by remuxing a real clip many times (no re-encoding; ``_common.repeat_clip``): by default the
7.4 s 1080p talking face of ../shared/data/real_av/wav2lip-gfpgan/kim_7s_raw.mp4 downscaled to --height
(720) lines (or a generated face clip when ../shared is absent), and a call with a different LibriSpeech speaker on each channel, 8 kHz 16-bit
stereo WAV (a generated two-tone call without ../shared). Printed per input: peak RSS (MiB, VmHWM of the
child), its ratio to the shortest input, wall time, × real time and, for analyze, × the pure decode time of
the same file (PyAV, every frame to RGB + the audio). The analyze wall time is the child's whole run: imports,
loading every model and the analysis; with ``--warm`` the child first analyses the base clip, and the analysis of
the long input alone is timed as well. ``--repeat N`` (analyze) runs the analysis and the pure decode of each
input N times, alternating, and prints the medians of their times and the highest peak (a shared machine's
timings move by tens of percent between runs).
"""

from __future__ import annotations

import argparse
import math
import os
import tempfile
from pathlib import Path

from _common import header, machine, peak_rss_mb, ratio_line, repeat_clip, shared_root

ANALYZE = """
import torch
torch.set_num_threads(THREADS)
from avsync.device import tune_cpu_allocator
tune_cpu_allocator()
from avsync.pipeline import Detector
import time
d = Detector(section_s=SECTION_S, concurrent=CONCURRENT)
if WARM:
    d(WARM)  # imports done, every model loaded and run once: only the analysis itself is timed below
_t = time.perf_counter()
v = d(PATH)
result.update(label=v.label, status=str(v.status), duration_s=v.duration_s, score=v.score,
              analysis_s=time.perf_counter() - _t)
"""

SPOOF = """
import torch
torch.set_num_threads(THREADS)
from avsync.device import tune_cpu_allocator
tune_cpu_allocator()
from avsync.spoof import SpoofScorer
r = SpoofScorer(speaker=True)(PATH)
result.update(status=str(r.status), duration_s=r.duration_s, score=r.score, windows=len(r.windows))
"""

DECODE = """
import av
with av.open(PATH) as c:
    for f in c.decode(video=0):
        f.to_ndarray(format="rgb24")
with av.open(PATH) as c:
    for f in c.decode(audio=0):
        f.to_ndarray()
result["duration_s"] = 0.0
"""


def base_clip(tmp: Path, given: str | None, height: int) -> Path:
    """The clip to repeat, downscaled to ``height`` lines (H.264 CRF 18, audio copied) as bench_analyze does."""
    from avsync.evaluation.perturb import Perturbation, transcode

    src = Path(given) if given else None
    shared = shared_root()
    if src is None and shared is not None:
        p = shared / "data" / "real_av" / "wav2lip-gfpgan" / "kim_7s_raw.mp4"
        src = p if p.exists() else None
    if src is not None:
        dst = tmp / f"base_{height}p.mp4"
        if not dst.exists():
            transcode(str(src), str(dst), Perturbation(f"{height}p", f"downscale to {height} lines", "video",
                                                       video_crf=18, video_height=height))
        return dst
    from avsync.synth import ClipSpec, make_clip

    return Path(make_clip(tmp / f"face{height}", ClipSpec(duration=8.0, size=(height * 16 // 9, height))))


def base_call(tmp: Path, seconds: float = 60.0) -> Path:
    """A ``seconds`` 8 kHz stereo 16-bit WAV call: one LibriSpeech speaker per channel (or two tones)."""
    import numpy as np
    import soundfile as sf

    sr, n = 8000, int(seconds * 8000)
    shared = shared_root()
    chans = []
    files = sorted((shared / "data" / "real_speech" / "librispeech_test-other").glob("*.flac")) if shared else []
    if files:
        from avsync import load_media
        from avsync.media.decode import resample_audio

        for group in (files[0::2], files[1::2]):
            parts, total = [], 0
            for f in group:
                x = resample_audio(load_media(f).mono(), 16000, sr)
                parts.append(x)
                total += len(x)
                if total >= n:
                    break
            chans.append(np.concatenate(parts)[:n])
    else:
        t = np.arange(n) / sr
        chans = [0.3 * np.sin(2 * np.pi * 220 * t) * (np.sin(2 * np.pi * 0.5 * t) > 0),
                 0.3 * np.sin(2 * np.pi * 330 * t) * (np.sin(2 * np.pi * 0.3 * t) > 0)]
    path = tmp / "call_1min.wav"
    sf.write(path, np.stack(chans, 1).astype(np.float32), sr, subtype="PCM_16")
    return path


def long_wav(src: Path, dst: Path, times: int) -> Path:
    """``src`` (a WAV) repeated ``times`` times, written block by block (flat memory)."""
    import soundfile as sf

    data, sr = sf.read(src, dtype="int16")
    with sf.SoundFile(dst, "w", samplerate=sr, channels=data.shape[1], subtype="PCM_16") as out:
        for _ in range(times):
            out.write(data)
    return dst


def _median_run(runs: list[dict]) -> dict:
    """One run's dict with the median of every timing (``*_s``) over ``runs`` and the highest peak."""
    import statistics

    out = dict(runs[0])
    for k, v in runs[0].items():
        if k.endswith("_s") and k != "duration_s" and isinstance(v, (int, float)):
            out[k] = statistics.median(float(x[k]) for x in runs)
    out["peak_rss_mb"] = max(float(x["peak_rss_mb"]) for x in runs)
    return out


def _row(label: str, r: dict, first: dict, extra: str = "") -> str:
    rt = r["duration_s"] / r["wall_s"] if r["wall_s"] else float("nan")
    return ratio_line(label, r["peak_rss_mb"], first["peak_rss_mb"], unit="MiB",
                      note=f"wall {r['wall_s']:.1f} s, {rt:.2f}x real time{extra}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--analyze-minutes", default="1,10,60")
    ap.add_argument("--spoof-minutes", default="10,120")
    ap.add_argument("--clip", default=None, help="720p talking-face clip to repeat (default: see above)")
    ap.add_argument("--height", type=int, default=720, help="video lines after downscaling the clip")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--only", choices=("analyze", "spoof"), default=None)
    ap.add_argument("--sequential", action="store_true", help="analyze with Detector(concurrent=False): the voice "
                    "check after the video analyses, not beside them")
    ap.add_argument("--section-s", default="60", help="Detector(section_s=...) of the analyze runs; 'none': "
                    "the whole video at once (how every video was analysed before sections)")
    ap.add_argument("--warm", action="store_true", help="analyze: also time the analysis alone, after a warm-up run "
                    "on the base clip in the same process (imports, model loading and first-call set-up excluded; "
                    "the peak memory then covers both runs)")
    ap.add_argument("--repeat", type=int, default=1, help="analyze: run analysis and decode this many times each, "
                    "alternating; medians of the times, the highest peak")
    ap.add_argument("--keep", default=None, help="make the long inputs here and keep them (default: a temp dir)")
    args = ap.parse_args()
    if args.keep:
        Path(args.keep).mkdir(parents=True, exist_ok=True)
        run(Path(args.keep), args)
    else:
        with tempfile.TemporaryDirectory(prefix="avsync-long-") as d:
            run(Path(d), args)


def run(tmp: Path, args) -> None:
    print(f"avsync long-input benchmark — {machine()}, {args.threads} torch threads")
    env = {"OMP_NUM_THREADS": str(args.threads)}
    if "GOMP_SPINCOUNT" not in os.environ and "OMP_WAIT_POLICY" not in os.environ:
        env["GOMP_SPINCOUNT"] = "2000"  # as the avsync command sets it (avsync.device.limit_omp_spinning)
    pre = f"THREADS = {args.threads}\n"
    if args.only in (None, "analyze"):
        clip = base_clip(tmp, args.clip, args.height)
        import av

        with av.open(str(clip)) as c:
            clip_s = float(c.duration / 1e6)
        header(f"analyze (section_s={args.section_s}): {clip.name} ({clip_s:.1f} s) repeated; ratios to the shortest "
               "input")
        first = None
        for m in [float(x) for x in args.analyze_minutes.split(",") if x]:
            times = max(1, math.ceil(m * 60 / clip_s))
            path = tmp / f"analyze_{args.height}p_{m:g}min.mp4"
            if not path.exists():
                repeat_clip(clip, path, times)
            sec = None if args.section_s.lower() == "none" else float(args.section_s)
            warm = str(clip) if args.warm else None
            rs, ds = [], []
            for _ in range(max(1, args.repeat)):  # alternating, so that a slow spell of the machine hits both
                rs.append(peak_rss_mb(pre + f"PATH = {str(path)!r}\nSECTION_S = {sec!r}\n"
                                      f"CONCURRENT = {not args.sequential!r}\nWARM = {warm!r}\n" + ANALYZE,
                                      env=env, timeout=6 * 3600))
                ds.append(peak_rss_mb(f"PATH = {str(path)!r}\n" + DECODE, env=env, timeout=6 * 3600))
            r, d = _median_run(rs), _median_run(ds)
            if len(rs) > 1:
                print(f"  {m:g} min, {len(rs)} runs: analysis wall " + ", ".join(f"{x['wall_s']:.1f}" for x in rs)
                      + " s; decode " + ", ".join(f"{x['wall_s']:.1f}" for x in ds) + " s; peaks "
                      + ", ".join(f"{x['peak_rss_mb']:.0f}" for x in rs) + " MiB", flush=True)
            first = first or r
            extra = f", {r['wall_s'] / d['wall_s']:.2f}x decode ({d['wall_s']:.1f} s)"
            if warm:
                a = r["analysis_s"]
                extra += (f"; after a warm-up run: {a:.1f} s, {r['duration_s'] / a:.2f}x real time, "
                          f"{a / d['wall_s']:.2f}x decode")
            print(_row(f"{m:g} min ({r['label']}, {r['status']})", r, first, extra), flush=True)
    if args.only in (None, "spoof"):
        call = base_call(tmp)
        header("spoof --speaker: 8 kHz 16-bit stereo WAV call repeated; ratios to the shortest input")
        first = None
        for m in [float(x) for x in args.spoof_minutes.split(",") if x]:
            path = tmp / f"call_{m:g}min.wav"
            if not path.exists():
                long_wav(call, path, max(1, round(m)))
            r = peak_rss_mb(pre + f"PATH = {str(path)!r}\n" + SPOOF, env=env, timeout=6 * 3600)
            first = first or r
            print(_row(f"{m:g} min ({r['status']}, {r['windows']} windows)", r, first), flush=True)


if __name__ == "__main__":
    main()
