"""Template for the speed scripts of the analysis tasks (spoof, sync, analyze).

Times an evaluation task's scorer (``avsync.evaluation.tasks``) on synthetic clips of several
lengths and prints its real-time factor and its ratio to the cost of *decoding* the same clip
(``Media.audio`` + ``Media.frames()``), measured in the same run. The built-in ``decode`` task is
that baseline itself, so the script runs before any feature lands; when ``avsync.spoof`` (etc.)
exists, ``--task spoof`` measures it. Copy this file to ``bench_spoof.py`` / ``bench_sync.py`` /
``bench_analyze.py`` and add the feature's own breakdown (feature extraction, model, fusion).

Usage: ``PYTHONPATH=$PWD python benchmarks/bench_task.py --task decode [--model NAME] [--lengths 5,20]``
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import header, machine, median_time, ratio_line

from avsync.evaluation.tasks import TaskUnavailable, get_task, register_task
from avsync.media import load_media
from avsync.synth import ClipSpec, make_clip


def decode_all(path: str) -> dict:
    """Baseline: decode the audio and every analysis frame, nothing else."""
    m = load_media(path)
    n = sum(len(c) for c in m.frames(chunk_size=64, size=(224, 224))) if m.has_video else 0
    if m.has_audio:
        m.audio  # noqa: B018 — decode
    return {"status": "ok", "score": None, "frames": n}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--task", default="decode", help="task name (decode, spoof, sync, analyze, ...)")
    ap.add_argument("--model", default=None)
    ap.add_argument("--lengths", default="5,20", help="clip lengths in seconds, comma-separated")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--audio-only", action="store_true", help="benchmark on audio-only clips (wav)")
    args = ap.parse_args()

    register_task("decode", decode_all, replace=True, description="decode audio + frames (baseline)")
    try:
        scorer = get_task(args.task).factory(args.model)
    except TaskUnavailable as e:
        sys.exit(f"cannot benchmark: {e}")
    lengths = [float(x) for x in args.lengths.split(",")]
    print(f"avsync task benchmark — task {args.task}" + (f" model {args.model}" if args.model else "")
          + f" — {machine()}")
    with tempfile.TemporaryDirectory(prefix="avsync-bench-") as d:
        header("seconds per clip; ratio to decoding the same clip; RTF = seconds / clip length")
        for length in lengths:
            spec = ClipSpec(duration=length, size=(640, 360)) if not args.audio_only else ClipSpec(
                duration=length, preset="wav", video=False)
            path = make_clip(Path(d) / f"clip_{length:g}", spec)
            scorer(path)  # warm-up: model loading, caches
            t_base = median_time(lambda path=path: decode_all(path), repeat=args.repeat)
            t_task = median_time(lambda path=path: scorer(path), repeat=args.repeat)
            print(ratio_line(f"{length:g} s clip: decode (baseline)", t_base, t_base, note=f"RTF {t_base / length:.4f}"))
            print(ratio_line(f"{length:g} s clip: task {args.task}", t_task, t_base, note=f"RTF {t_task / length:.4f}"))


if __name__ == "__main__":
    main()
