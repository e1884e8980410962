"""Real-time factor of whole-file spoof scoring on this CPU, against a naive per-window loop.

    AVSYNC_MODELS_DIR=../shared/weights python benchmarks/bench_spoof.py [--seconds 30]
        [--models aasist,aasist-l,rawgat-st-mul] [--threads 1,2]

Input: real speech (LibriSpeech test-other files of ../shared concatenated to ``--seconds``), or
seeded noise scored without VAD when ../shared is absent. For each model and thread count it
times, in the same run:

* naive: every 64600-sample window (hop = window) through the network one at a time, with the
  layers as published (``fast_inference`` off: separate batch norm, oneDNN one-channel convolution,
  ``max_pool2d``);
* fp32 / bf16: ``SpoofScorer`` (Silero VAD, speech-only windows, its default batch size, the
  inference fast paths) at ``precision="float32"`` and ``"bfloat16"``, VAD time included;
  ``max|dp|`` is the largest difference of a window's probability between the two;
* fp32 whole: the same float32 scorer with each encoder block run over the whole window at once
  (``avsync.spoof.layers.TIME_TILE`` out of reach) instead of in stretches along time; ``tiled`` is its time
  over the fp32 time;
* bf16 eager: the same bfloat16 scorer with the fused CPU kernels switched off
  (``avsync.spoof.cpu_kernels.set_enabled(False)``), every layer in eager PyTorch.

The CPU allocator is tuned first, as the ``avsync`` command does (``avsync.device.tune_cpu_allocator``;
``--no-allocator-tuning`` leaves glibc's defaults; ``benchmarks/bench_allocator.py`` compares the two).
RTF = processing time / audio duration (lower is faster; 0.02 = 50x faster than real time).
Decoding is excluded from both (the audio is decoded once). Goal: RTF <= 0.02 for the default
model on 2 cores.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _common import concat_speech, librispeech_files  # noqa: E402


def gmac_per_window(net, window: int, blocks) -> float:
    """Multiply-accumulates of one forward pass, counted on the published layers with forward hooks."""
    import torch

    macs = []

    def hook(m, _inp, out):
        if isinstance(m, torch.nn.Linear):
            per_output = m.in_features
        else:  # a convolution, or the fixed sinc filter bank (its kernels are a buffer)
            per_output = (m.weight if hasattr(m, "weight") else m.filters)[0].numel()
        macs.append(out.numel() * per_output)

    handles = [m.register_forward_hook(hook) for m in net.modules()
               if isinstance(m, torch.nn.Conv2d | torch.nn.Conv1d | torch.nn.Linear) or hasattr(m, "filters")]
    for b in blocks:
        b.fast_inference = False
    try:
        with torch.inference_mode():
            net(torch.zeros(1, window))
    finally:
        for h in handles:
            h.remove()
        for b in blocks:
            b.fast_inference = True
    return sum(macs) / 1e9


MATMUL_OPS = ("aten::mkldnn_convolution", "aten::addmm", "aten::mm", "aten::bmm", "aten::convolution_overrideable")


def profile_window(model, window: np.ndarray, precision: str, gmac: float, repeats: int = 5, label: str = "") -> str:
    """Where one window's time goes: convolutions and matrix products vs everything else (torch.profiler)."""
    from torch.profiler import ProfilerActivity, profile

    model.predict(window[None], precision=precision)  # warm-up
    best = None
    for _ in range(repeats):
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            model.predict(window[None], precision=precision)
        events = prof.key_averages()
        total = sum(e.self_cpu_time_total for e in events) / 1e3  # ms
        mm = sum(e.self_cpu_time_total for e in events if e.key in MATMUL_OPS) / 1e3
        top = sorted((e for e in events if e.key not in MATMUL_OPS), key=lambda e: -e.self_cpu_time_total)[:4]
        if best is None or total < best[0]:
            best = (total, mm, ", ".join(f"{e.key.removeprefix('aten::')} {e.self_cpu_time_total / 1e3:.1f}" for e in top))
    total, mm, rest = best
    return (f"  {label or precision}: {total:.1f} ms per window (profiled, best of {repeats}): convolutions and matrix products "
            f"{mm:.1f} ms ({gmac / mm * 1e3:.0f} GMAC/s), the rest {total - mm:.1f} ms (largest: {rest} ms)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--models", default="aasist,aasist-l,rawgat-st-mul")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--batch-size", type=int, default=None, help="avsync batch size (default: the scorer's)")
    ap.add_argument("--no-allocator-tuning", action="store_true", help="keep glibc's allocator defaults")
    ap.add_argument("--profile", action="store_true",
                    help="also split one window's time between convolutions / matrix products and the rest")
    ap.add_argument("--shared", default=os.environ.get("AVSYNC_SHARED", str(Path(__file__).resolve().parents[2] / "shared")))
    args = ap.parse_args()

    import torch

    from avsync import Media
    from avsync.device import tune_cpu_allocator
    from avsync.spoof import DEFAULT_MODEL, SpoofScorer, cpu_kernels, layers, load_spoof_model, window_starts

    sr = 16000
    libri = librispeech_files(args.shared)
    os.environ.setdefault("AVSYNC_MODELS_DIR", str(Path(args.shared) / "weights"))
    if libri:
        audio, n = concat_speech(libri, args.seconds, sr)
        use_vad, source = True, f"{n} LibriSpeech files"
    else:
        audio = (0.1 * np.random.default_rng(0).standard_normal(int(args.seconds * sr))).astype(np.float32)
        use_vad, source = False, "seeded noise (no ../shared), VAD off"
    tuned = False if args.no_allocator_tuning else tune_cpu_allocator()
    media = Media.from_arrays(audio, sr)
    dur = len(audio) / sr
    print(f"audio: {dur:.1f} s of {source}; default model: {DEFAULT_MODEL}; torch {torch.__version__}; "
          f"allocator tuning {'on' if tuned else 'off'}")
    print("RTF = wall time / audio duration (best of --repeats); cpuRTF = process CPU time / audio duration "
          "(all threads; on a busy shared machine it is the fairer measure of cost)")
    print(f"fused bfloat16 CPU kernels: {'available' if cpu_kernels.available() else 'unavailable (no numba)'}")
    print(f"{'model':<16} {'threads':>7} {'naive RTF':>10} {'fp32 RTF':>9} {'bf16 eager':>10} {'bf16 RTF':>9} "
          f"{'speed-up':>14} {'fp32 whole':>10} {'tiled':>6} {'naive cpuRTF':>13} {'fp32 cpuRTF':>12} {'bf16 cpuRTF':>12} {'max|dp|':>8} {'windows':>8}")
    for name in args.models.split(","):
        model = load_spoof_model(name)
        w = model.window_samples
        starts = window_starts(len(audio), w, w)
        blocks = [m for m in model.net.modules() if hasattr(m, "fast_inference")]
        gmac = gmac_per_window(model.net, w, blocks)
        print(f"{name}: {gmac:.2f} GMAC per {w}-sample window (convolutions, sinc filters and linear layers)")
        for threads in [int(t) for t in args.threads.split(",")]:
            torch.set_num_threads(threads)
            scorers = {p: SpoofScorer(model, vad=use_vad, batch_size=args.batch_size, precision=p)
                       for p in ("float32", "bfloat16")}
            for sc in scorers.values():
                sc(Media.from_arrays(audio[: 2 * sr], sr))  # warm-up (VAD weights, allocator, oneDNN kernels)
            times: dict[str, list[tuple[float, float]]] = {"naive": [], "float32": [], "eager": [], "bfloat16": [],
                                                           "whole": []}
            results = {}
            for _ in range(args.repeats):
                for b in blocks:  # baseline: the published layers, one window at a time, every window
                    b.fast_inference = False
                t0, c0 = time.perf_counter(), time.process_time()
                for s in starts:
                    seg = audio[s : s + w]
                    if len(seg) < w:
                        seg = np.resize(seg, w)
                    model.predict(seg[None])
                times["naive"].append((time.perf_counter() - t0, time.process_time() - c0))
                for b in blocks:
                    b.fast_inference = True
                tile = layers.TIME_TILE
                for p, sc in (("whole", scorers["float32"]), *scorers.items(), ("eager", scorers["bfloat16"])):
                    cpu_kernels.set_enabled(False if p == "eager" else None)
                    layers.TIME_TILE = 1 << 62 if p == "whole" else tile
                    t0, c0 = time.perf_counter(), time.process_time()
                    results[p] = sc(media)
                    times[p].append((time.perf_counter() - t0, time.process_time() - c0))
                cpu_kernels.set_enabled(None)
                layers.TIME_TILE = tile
            rtf = {k: min(t for t, _ in v) / dur for k, v in times.items()}
            cpu = {k: min(c for _, c in v) / dur for k, v in times.items()}
            a, b = results["float32"], results["bfloat16"]
            dp = max((abs(x.score - y.score) for x, y in zip(a.windows, b.windows) if x.score is not None), default=0.0)
            scored = sum(x.score is not None for x in a.windows)
            speed = f"{rtf['naive'] / rtf['float32']:.2f}x/{rtf['naive'] / rtf['bfloat16']:.2f}x"
            print(f"{name:<16} {threads:>7} {rtf['naive']:>10.4f} {rtf['float32']:>9.4f} {rtf['eager']:>10.4f} "
                  f"{rtf['bfloat16']:>9.4f} "
                  f"{speed:>14} {rtf['whole']:>10.4f} {rtf['whole'] / rtf['float32']:>5.2f}x {cpu['naive']:>13.4f} {cpu['float32']:>12.4f} {cpu['bfloat16']:>12.4f} {dp:>8.1e} "
                  f"{scored:>3}/{len(starts):<4}", flush=True)
            if args.profile:
                for p, fused in (("float32", None), ("bfloat16", False), ("bfloat16", None)):
                    cpu_kernels.set_enabled(fused)
                    label = f"{p} (eager)" if fused is False else p
                    print(profile_window(model, np.resize(audio[:w], w), p, gmac, label=label), flush=True)
                cpu_kernels.set_enabled(None)


if __name__ == "__main__":
    main()
