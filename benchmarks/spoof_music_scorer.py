"""The voice check as ``avsync spoof`` runs it (``SpoofScorer()``: VAD, windows, run rule, level floor) on held-out
speech with a bed of music under it: real speech flagged, and each fake family's EER and share detected.

    AVSYNC_SHARED=../shared PYTHONPATH=$PWD:$PWD/cli python benchmarks/spoof_music_scorer.py \\
        --music PLANETBLUPI/usr/share/planetblupi/music --out rows.jsonl          # clean, 20, 10 and 5 dB
        [--model NAME]                                                            # a voice model other than the default
    python benchmarks/spoof_music_scorer.py --report rows.jsonl

Files: the held-out subsets of ``benchmarks/spoof_model_eval.py`` (LibriSpeech held-out speakers, VCTK ground truth of
the YourTTS demo, HDTF radio, YourTTS clones, converged HiFi-GAN copies, Kokoro and Piper held-out texts) and the audio
of the 24 real clips of the fused held-out evaluation (``benchmarks/manifests/fusion_heldout.csv``, label real,
originals). A bed per file and ratio: a random track and point (seeded by the file and the ratio), ``SNR`` dB below
the loudest half of the speech's 20 ms frames (``avsync.training.spoof_data.music_bed``). Rows are appended; a file
and ratio already in ``--out`` is skipped.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import zlib
from collections import defaultdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import spoof_model_eval as sme

REAL = ("librispeech_heldout", "yourtts_gt", "hdtf_radio", "real_av_eval")
FAKE = {"yourtts_exp4": "yourtts_gt", "hifigan_ts_heldout": "librispeech_heldout",
        "kokoro_eval_texts": "librispeech_heldout", "piper_eval_texts": "librispeech_heldout"}
"""Fake subsets and the real subset each is measured against (as in spoof_model_eval.py)."""


def fused_real_clips() -> list[str]:
    """The originals of the real clips of the fused held-out evaluation (manifest paths under data/)."""
    path = Path(__file__).resolve().parent / "manifests" / "fusion_heldout.csv"
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    return sorted({r["id"] for r in rows if r["label"] == "real" and "#" not in r["id"]})


def score(args: argparse.Namespace) -> None:
    from avsync.media import load_media
    from avsync.media.decode import Media
    from avsync.spoof import SpoofScorer
    from avsync.training import spoof_data as sd

    data, rows = sme.manifest_rows(args.shared)
    files, _ = sme.subsets(rows)
    files["real_av_eval"] = fused_real_clips()
    beds = sd.MusicBeds(args.music)
    scorer = SpoofScorer(model=args.model) if args.model else SpoofScorer()
    out = Path(args.out)
    done = {(r["key"], r["snr"]) for r in map(json.loads, out.read_text().splitlines())} if out.exists() else set()
    snrs: list[float | None] = [None] + [float(v) for v in args.snr.split(",") if v.strip()]
    for name in (*REAL, *FAKE):
        for key in files[name]:
            todo = [s for s in snrs if (key, s) not in done]
            if not todo:
                continue
            x = sme.generated(key, data) if key.startswith("gen:") else \
                load_media(str(data / key), require="audio").mono().astype(np.float32)
            for snr in todo:
                y = x if snr is None else sd.music_bed(x, beds, np.random.default_rng(zlib.crc32(f"{key}|{snr}".encode())), snr)
                res = scorer(Media.from_arrays(y, 16000, name=key))
                with open(out, "a") as fh:
                    fh.write(json.dumps({"set": name, "key": key, "snr": snr, "status": str(res.status),
                                         "score": res.score, "flagged": res.flagged}) + "\n")
        print(f"{name}: {len(files[name])} files", flush=True)


def report(path: str) -> None:
    from avsync.evaluation.metrics import eer_of

    rows = [json.loads(x) for x in Path(path).read_text().splitlines() if x.strip()]
    by: dict[tuple[str, float | None], list[dict]] = defaultdict(list)
    for r in rows:
        by[(r["set"], r["snr"])].append(r)
    snrs = sorted({r["snr"] for r in rows}, key=lambda s: -1e9 if s is None else -s)
    head = " | ".join("clean" if s is None else f"music {s:g} dB under" for s in snrs)
    print(f"| real speech: flagged / scored (median score) | {head} |\n|---|" + "---|" * len(snrs))
    for name in REAL:
        cells = []
        for s in snrs:
            rr = [r for r in by[(name, s)] if r["score"] is not None]
            cells.append(f"{sum(bool(r['flagged']) for r in rr)} / {len(rr)} ({np.median([r['score'] for r in rr]):.2f})"
                         if rr else "-")
        print(f"| {name} | " + " | ".join(cells) + " |")
    print(f"\n| fake: EER % against its real subset / detected at the threshold | {head} |\n|---|" + "---|" * len(snrs))
    for name, real in FAKE.items():
        cells = []
        for s in snrs:
            a = np.array([r["score"] for r in by[(name, s)] if r["score"] is not None])
            b = np.array([r["score"] for r in by[(real, s)] if r["score"] is not None])
            cells.append(f"{100 * eer_of(b, a):.1f} / {100 * np.mean(a >= 0.5):.0f} %" if len(a) and len(b) else "-")
        print(f"| {name} | " + " | ".join(cells) + " |")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--music", action="append", default=[], metavar="GLOB", help="music: a glob or a folder (repeatable)")
    ap.add_argument("--snr", default="20,10,5", help="speech-to-music ratios (dB, comma-separated), besides clean")
    ap.add_argument("--shared", default=None, help="shared root (default $AVSYNC_SHARED or ../shared)")
    ap.add_argument("--out", default="spoof_music.jsonl", help="rows (appended; done rows are skipped)")
    ap.add_argument("--report", default=None, help="only print the tables of a rows file")
    ap.add_argument("--model", default=None, help="voice model (a registered spoof model; default: the default model)")
    a = ap.parse_args(argv)
    if a.report:
        report(a.report)
        return 0
    if not a.music:
        ap.error("--music DIR is needed to score")
    score(a)
    report(a.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
