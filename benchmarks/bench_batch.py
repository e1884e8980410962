"""Batch throughput: files/hour and peak memory at --jobs 1 and --jobs 2, as a ratio in one run.

Builds a folder of mixed real media from ../shared/data (symlinks: mp4, avi, mpg, wav, flac, ogg,
mp3; nothing is copied), runs :func:`avsync.batch.run_batch` on it with each ``--jobs`` value
(alternating, ``--repeat`` times, fresh results file each time) and prints files/hour, wall time,
and the peak resident memory of the whole process tree (this process + workers, sampled from
/proc every 20 ms), then the ratio of each setting to the first.

    PYTHONPATH=$PWD:$PWD/cli python benchmarks/bench_batch.py                  # inspect task
    PYTHONPATH=$PWD:$PWD/cli python benchmarks/bench_batch.py --task analyze --files 20
    PYTHONPATH=$PWD:$PWD/cli python benchmarks/bench_batch.py --task spoof --files 20 --engine ray  # Ray actors

The worker start-up (spawn + building the task) is inside the timed run, as a user sees it.
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _shared() -> Path:
    cand = os.environ.get("AVSYNC_SHARED")
    p = Path(cand) if cand else REPO.parent / "shared"
    if not (p / "data" / "MANIFEST.csv").exists():
        sys.exit("../shared/data is absent; set AVSYNC_SHARED")
    return p / "data"


def _tree_rss() -> int:
    """Resident bytes of this process and all its descendants (Linux /proc)."""
    me = os.getpid()
    parents: dict[int, int] = {}
    rss: dict[int, int] = {}
    page = os.sysconf("SC_PAGE_SIZE")
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
            parents[int(d)] = int(fields[1])
            rss[int(d)] = int(fields[21]) * page
        except (OSError, IndexError, ValueError):
            continue
    total, todo = 0, [me]
    while todo:
        pid = todo.pop()
        total += rss.get(pid, 0)
        todo.extend(c for c, p in parents.items() if p == pid)
    return total


class PeakSampler:
    def __init__(self, period: float = 0.02):
        self.period, self.peak, self._stop = period, 0, threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, _tree_rss())
            self._stop.wait(self.period)

    def __enter__(self):
        self._t.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._t.join()


def build_folder(data: Path, dest: Path, n: int) -> list[str]:
    """Symlink ``n`` files spread over every kind/extension of the shared manifest (round-robin)."""
    with open(data / "MANIFEST.csv", newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if (data / r["file"]).is_file()]
    groups: dict[str, list[str]] = {}
    for r in sorted(rows, key=lambda r: r["file"]):
        groups.setdefault(Path(r["file"]).suffix.lower(), []).append(r["file"])
    picked: list[str] = []
    while len(picked) < n and any(groups.values()):
        for ext in sorted(groups):
            if groups[ext] and len(picked) < n:
                picked.append(groups[ext].pop(0))
    for i, rel in enumerate(picked):
        (dest / f"{i:04d}_{Path(rel).name}").symlink_to(data / rel)
    return picked


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--task", default="inspect", help="batch task (inspect, analyze, spoof, sync, MODULE:FACTORY)")
    ap.add_argument("--model", default=None)
    ap.add_argument("--files", type=int, default=60, help="number of media files")
    ap.add_argument("--jobs", default="1,2", help="comma-separated --jobs values; the first is the baseline")
    ap.add_argument("--repeat", type=int, default=2, help="runs per setting (best wall time is kept)")
    ap.add_argument("--engine", choices=("local", "ray"), default="local",
                    help="local worker processes, or actors of a local Ray instance (started once for all runs)")
    args = ap.parse_args()
    if args.engine == "ray":
        import ray

        ray.init(num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False)

    from avsync.batch import run_batch

    jobs_list = [int(j) for j in args.jobs.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "media"
        folder.mkdir()
        picked = build_folder(_shared(), folder, args.files)
        exts = sorted({Path(p).suffix for p in picked})
        print(f"{len(picked)} files ({', '.join(exts)}), task={args.task}, engine={args.engine}, cpus={os.cpu_count()}")
        best: dict[int, tuple[float, float, int, dict]] = {}
        for rep in range(args.repeat):
            for jobs in jobs_list:
                out = Path(tmp) / f"r_{jobs}_{rep}.jsonl"
                with PeakSampler() as mem:
                    t0 = time.perf_counter()
                    s = run_batch(folder, out, task=args.task, model=args.model, jobs=jobs, progress=False,
                                  engine=args.engine)
                    wall = time.perf_counter() - t0
                fph = s.processed / wall * 3600
                print(f"  run {rep + 1} jobs={jobs}: {wall:6.2f} s  {fph:9.0f} files/h  peak {mem.peak / 2**20:7.0f} MiB"
                      f"  statuses {s.by_status}")
                prev = best.get(jobs)
                if prev is None or wall < prev[0]:
                    best[jobs] = (wall, fph, max(mem.peak, prev[2] if prev else 0), s.by_status)
                elif prev is not None:
                    best[jobs] = (prev[0], prev[1], max(prev[2], mem.peak), prev[3])
        base = best[jobs_list[0]]
        print()
        print(f"{'jobs':>4}  {'wall s':>7}  {'files/h':>9}  {'peak MiB':>8}  {'speed x':>7}  {'memory x':>8}")
        for jobs in jobs_list:
            wall, fph, peak, _ = best[jobs]
            print(f"{jobs:>4}  {wall:7.2f}  {fph:9.0f}  {peak / 2**20:8.0f}  {base[0] / wall:7.2f}  {peak / base[2]:8.2f}")
        if len(jobs_list) > 1:
            j = jobs_list[1]
            print(f"\nratio jobs{j}/jobs{jobs_list[0]}: throughput {best[j][1] / base[1]:.2f}x, "
                  f"peak memory {best[j][2] / base[2]:.2f}x")


if __name__ == "__main__":
    main()
