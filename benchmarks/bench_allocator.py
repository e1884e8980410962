"""Whole-command time of ``avsync spoof`` with and without the CPU allocator tuning.

    AVSYNC_SHARED=../shared PYTHONPATH=$PWD:$PWD/cli python benchmarks/bench_allocator.py \\
        [--seconds 60] [--repeats 4] [--precision float32,bfloat16] [--batch-files 40]

The ``avsync`` command calls :func:`avsync.device.tune_cpu_allocator` at start (glibc keeps freed
memory up to 256 MiB for reuse instead of mapping large tensors freshly from the kernel each time).
The setting is process-wide and cannot be compared inside one process, so this script runs the
command in fresh processes, alternating ``AVSYNC_ALLOCATOR_TUNING=0`` (baseline) and ``1``, and
prints the median wall time (model loading and decoding included), the ratio, and the median
minor page faults and peak resident memory of the child process. Input: real speech (LibriSpeech files of
../shared concatenated to ``--seconds``), or seeded noise when ../shared is absent.

``--batch-files N`` (needs ../shared) also runs the ``spoof`` batch task in one fresh process per
setting over N distinct files (the LibriSpeech files, cycled with a small gain change per round) and
prints the resident memory at five points and its maximum: whether memory stays flat over a long run.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from _common import concat_speech, librispeech_files  # noqa: E402


def run_once(cmd: list[str], env: dict[str, str]) -> tuple[float, int, int]:
    """Wall seconds, minor page faults and peak RSS (KiB) of one child run (``os.wait4``: that child only)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} exited with {proc.returncode}")
    return wall, usage.ru_minflt, usage.ru_maxrss


# one batch run in a fresh process: resident MiB after each file, as JSON on stdout
_BATCH_CHILD = """
import json, os, sys, tempfile
from avsync.device import tune_cpu_allocator
from avsync.batch import run_batch
tune_cpu_allocator()
rss = []
def on_record(_):
    rss.append(int(open("/proc/self/statm").read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20)
with tempfile.TemporaryDirectory() as d:
    run_batch(sys.argv[1:], os.path.join(d, "r.jsonl"), task="spoof", jobs=0, progress=False, on_record=on_record)
print(json.dumps(rss))
"""


def batch_memory(libri: list[Path], n: int, env: dict[str, str], tmp: Path) -> None:
    """RSS over one ``spoof`` batch run of ``n`` distinct files per setting (LibriSpeech, cycled with a gain)."""
    import json

    import soundfile as sf

    paths = []
    for k in range(n):
        x, sr = sf.read(libri[k % len(libri)], dtype="float32")
        path = tmp / f"batch_{k:04d}.wav"
        sf.write(path, x * (1.0 - 0.01 * (k // len(libri))), sr)  # another round, another content (no dedup)
        paths.append(str(path))
    marks = sorted({0, n // 4 - 1, n // 2 - 1, 3 * n // 4 - 1, n - 1} - {-1})
    print(f"spoof batch over {n} files in one fresh process: resident MiB after file "
          f"{' / '.join(str(i + 1) for i in marks)}, and the maximum")
    for setting, label in (("0", "off"), ("1", "on")):
        out = subprocess.run([sys.executable, "-c", _BATCH_CHILD, *paths], env={**env, "AVSYNC_ALLOCATOR_TUNING": setting},
                             check=True, capture_output=True, text=True)
        rss = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"  tuning {label:<3}: {' / '.join(f'{rss[i]:.0f}' for i in marks)}, max {max(rss):.0f}", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--repeats", type=int, default=4)
    ap.add_argument("--precision", default="float32,bfloat16")
    ap.add_argument("--model", default=None, help="spoof model (default: avsync's default)")
    ap.add_argument("--batch-files", type=int, default=0, help="also measure memory over a batch of N files")
    ap.add_argument("--shared", default=os.environ.get("AVSYNC_SHARED", str(ROOT.parent / "shared")))
    args = ap.parse_args()

    import soundfile as sf

    sr = 16000
    libri = librispeech_files(args.shared)
    if libri:
        audio, n = concat_speech(libri, args.seconds, sr)
        source = f"{n} LibriSpeech files"
    else:
        audio, source = (0.1 * np.random.default_rng(0).standard_normal(int(args.seconds * sr))), "seeded noise"
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(ROOT / "cli"), env.get("PYTHONPATH", "")])
    if (Path(args.shared) / "weights").is_dir():
        env.setdefault("AVSYNC_MODELS_DIR", str(Path(args.shared) / "weights"))
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "speech.wav"
        sf.write(wav, audio.astype(np.float32), sr)
        if args.repeats > 0:
            print(f"input: {len(audio) / sr:.1f} s of {source}; {args.repeats} runs per setting, alternating")
            print(f"{'precision':<10} {'tuning':<7} {'median wall s':>13} {'RTF':>7} {'minor faults':>13} "
                  f"{'peak RSS MiB':>13}")
        for precision in args.precision.split(",") if args.repeats > 0 else []:  # --repeats 0: memory only
            cmd = [sys.executable, "-m", "avsync_cli.main", "spoof", str(wav), "--json", "--precision", precision]
            if args.model:
                cmd += ["--model", args.model]
            stats: dict[str, list[tuple[float, int, int]]] = {"0": [], "1": []}
            for _ in range(args.repeats):
                for setting in ("0", "1"):
                    stats[setting].append(run_once(cmd, {**env, "AVSYNC_ALLOCATOR_TUNING": setting}))
            med = {k: statistics.median(w for w, _, _ in v) for k, v in stats.items()}
            for setting, label in (("0", "off"), ("1", "on")):
                faults = statistics.median(f for _, f, _ in stats[setting])
                rss = statistics.median(r for _, _, r in stats[setting])
                print(f"{precision:<10} {label:<7} {med[setting]:>13.2f} {med[setting] / (len(audio) / sr):>7.4f} "
                      f"{faults:>13.0f} {rss / 1024:>13.0f}")
            print(f"{precision:<10} speed-up (off / on): {med['0'] / med['1']:.2f}x", flush=True)
        if args.batch_files and libri:
            batch_memory(libri, args.batch_files, env, Path(tmp))


if __name__ == "__main__":
    main()
