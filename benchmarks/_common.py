"""Helpers shared by the benchmark scripts: timing, peak memory in a subprocess, synthetic long clips, ratios.

Benchmarks print ratios against a baseline measured in the same run (same machine, same load), never
absolute pass/fail thresholds. Run them from the repository root, e.g.
``PYTHONPATH=$PWD python benchmarks/bench_media.py``.
"""

from __future__ import annotations

import json
import math
import os
import statistics
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def shared_root() -> Path | None:
    """The shared data root (holding ``data/MANIFEST.csv``): ``$AVSYNC_SHARED`` or ``../shared`` (next to the repository)."""
    cand = os.environ.get("AVSYNC_SHARED")
    for p in ([Path(cand)] if cand else []) + [REPO.parent / "shared"]:
        if (p / "data" / "MANIFEST.csv").exists():
            return p
    return None


def add_data_args(ap, *, threads: int = 1) -> None:
    """``--shared`` (default: :func:`shared_root`), ``--tracks`` (the face-track cache of
    ``benchmarks/_sync_track_cache.py``) and ``--threads`` of the scripts that read the shared clips' tracks."""
    ap.add_argument("--shared", default=None, help="shared data root (default: $AVSYNC_SHARED or ../shared)")
    ap.add_argument("--tracks", default="out/fusion/tracks", help="face-track cache (benchmarks/_sync_track_cache.py)")
    ap.add_argument("--threads", type=int, default=threads, help="torch threads")


def shared_data(given: str | None) -> Path:
    """``given/data``, else the data folder of :func:`shared_root`; exits with a message when there is none."""
    root = Path(given) if given else shared_root()
    if root is None:
        raise SystemExit("no shared data: set AVSYNC_SHARED or pass --shared")
    return root / "data"


def timeit(fn: Callable[[], object], *, repeat: int = 3, warmup: int = 0) -> float:
    """Best wall-clock time of ``repeat`` calls in seconds (after ``warmup`` untimed calls)."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def median_time(fn: Callable[[], object], *, repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def peak_rss_mb(code: str, *, env: dict | None = None, timeout: float = 1800) -> dict:
    """Run ``code`` in a fresh Python and return its peak resident memory (MiB) and wall time.

    Peak RSS is the child's ``VmHWM`` from ``/proc/self/status`` read at exit (Linux), else
    ``resource.getrusage(RUSAGE_SELF).ru_maxrss``. ``code`` may set a dict ``result`` whose
    items are returned too.
    """
    wrapper = textwrap.dedent(
        """
        import json, resource, sys, time
        result = {}
        _t0 = time.perf_counter()
        exec(compile(sys.stdin.read(), "<bench>", "exec"))
        _wall = time.perf_counter() - _t0
        peak = None
        try:
            for line in open("/proc/self/status"):
                if line.startswith("VmHWM:"):
                    peak = int(line.split()[1]) / 1024.0
        except OSError:
            pass
        if peak is None:
            r = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            peak = r / 1024.0 / (1024.0 if sys.platform == "darwin" else 1.0)
        print("@@RESULT@@" + json.dumps({"peak_rss_mb": peak, "wall_s": _wall, **result}))
        """
    )
    full_env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
                "OMP_NUM_THREADS": "1", **(env or {})}
    proc = subprocess.run([sys.executable, "-c", wrapper], input=textwrap.dedent(code), text=True,
                          capture_output=True, env=full_env, timeout=timeout, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"benchmark subprocess failed:\n{proc.stderr[-3000:]}")
    line = [x for x in proc.stdout.splitlines() if x.startswith("@@RESULT@@")][-1]
    return json.loads(line[len("@@RESULT@@"):])


def repeat_clip(src: str | os.PathLike, dst: str | os.PathLike, times: int) -> str:
    """Concatenate ``src`` with itself ``times`` times by remuxing packets (no re-encoding).

    A fast way to make long synthetic clips (an hour of 360p in seconds) from a short encoded one.
    Every stream's timestamps are shifted by the same duration on each repetition: the longest stream's span,
    so that audio and video stay in sync in every repetition. (Shifting each stream by its own span made the
    audio, 30 ms longer than the video in the default clip, drift 0.4 s behind it over a minute.) Packets without
    a dts (the first ones of an H.264 stream read from Matroska, its keyframe among them) get ``pts`` minus the
    stream's reordering delay; they used to be dropped, which left every repetition without its keyframe.
    """
    import av

    src, dst = os.fspath(src), os.fspath(dst)
    with av.open(src) as probe:
        first: dict[int, int] = {}
        last: dict[int, int] = {}
        delay: dict[int, int] = {}  # decoding lead of a stream with reordered frames (pts - dts)
        for p in probe.demux():
            if p.dts is not None and p.pts is not None:
                delay[p.stream.index] = max(delay.get(p.stream.index, 0), p.pts - p.dts)
            if p.dts is not None:
                first.setdefault(p.stream.index, p.dts)
                last[p.stream.index] = p.dts + max(1, p.duration or 0)
        tb = {s.index: s.time_base for s in probe.streams}
        longest = max(float((last[i] - first[i]) * tb[i]) for i in first)  # seconds
        spans = {i: int(math.ceil(longest / tb[i])) for i in first}  # the same duration in each stream's units
    with av.open(dst, "w", format=os.path.splitext(dst)[1].lstrip(".").replace("mkv", "matroska") or "mp4") as out:
        with av.open(src) as inp:
            outs = {s.index: out.add_stream_from_template(s) for s in inp.streams if s.type in ("audio", "video")}
        for k in range(times):
            with av.open(src) as inp:
                for p in inp.demux():
                    if p.stream.index not in outs or p.stream.index not in spans or (p.dts is None and p.pts is None):
                        continue
                    shift = k * spans[p.stream.index]
                    # Matroska stores no dts: the first packets of a stream with reordered frames (the keyframe
                    # among them) come without one, and dropping them broke the start of every repetition
                    dts = p.pts - delay.get(p.stream.index, 0) if p.dts is None else p.dts
                    p.pts = None if p.pts is None else p.pts + shift
                    p.dts = dts + shift
                    p.stream = outs[p.stream.index]
                    out.mux(p)
    return dst


def ratio_line(label: str, value: float, baseline: float, *, unit: str = "s", note: str = "") -> str:
    """``label: value unit (x.xx× baseline) note`` — the line every benchmark prints."""
    r = value / baseline if baseline else float("inf")
    return f"{label:<44} {value:10.4f} {unit:<4} {r:8.2f}x{('  ' + note) if note else ''}"


def header(title: str) -> None:
    print()
    print(title)
    print("-" * len(title))


def machine() -> str:
    import platform

    cores = os.cpu_count()
    return f"{platform.python_implementation()} {platform.python_version()} on {platform.machine()}, {cores} cores"


__all__ = ["Fraction", "header", "machine", "median_time", "peak_rss_mb", "ratio_line", "repeat_clip", "timeit"]



def librispeech_files(shared: str | os.PathLike) -> list[Path]:
    """The LibriSpeech test-other files of the shared data (16 kHz FLAC), sorted; empty when absent."""
    return sorted((Path(shared) / "data" / "real_speech" / "librispeech_test-other").glob("*.flac"))


def concat_speech(files: list[Path], seconds: float, sr: int = 16000):
    """``(audio, n_files)``: the first files decoded, concatenated and cut to ``seconds`` (mono float32)."""
    import numpy as np

    from avsync import load_media

    parts, total = [], 0
    for f in files:
        parts.append(load_media(f).mono())
        total += len(parts[-1])
        if total >= seconds * sr:
            break
    return np.concatenate(parts)[: int(seconds * sr)].astype(np.float32, copy=False), len(parts)
