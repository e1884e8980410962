"""Audio edited in one stretch of a real clip: does the sync cue see it? (``avsync.sync.stretch``)

For each real talking-face clip of ``../shared`` (``real_av``, GRID excluded: the sync models' training data) at
least ``--min-duration`` seconds long, the audio of one stretch (``--edit`` seconds, or ``--edit-share`` of the
clip, placed at each of ``--positions``, shares of the clip) is replaced by the same audio shifted by each of
``--shifts`` ms (positive: the stretch's audio comes early, audio leads video), the rest left as recorded. The
sync analysis runs on the face tracks (cached with ``--cache``, :mod:`_sync_track_cache`) and the sync cue is
read twice: with the stretch rule and without it (``avsync.pipeline._offset_stretches`` returning nothing, the
cue as before the rule). Printed per shift: how many edited copies the cue scores ≥ 0.5 each way, how many had a
stretch found and where; and the unedited clips, whose cue must not change.

    AVSYNC_SHARED=../shared PYTHONPATH=.:cli python benchmarks/sync_local_edits.py --cache runs/sync_tracks
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import shared_root
from _sync_track_cache import is_grid, tracks_for


def edited(mono: np.ndarray, lo: int, hi: int, shift: int) -> np.ndarray:
    """``mono`` with samples ``[lo, hi)`` replaced by those ``shift`` samples later (> 0: the audio comes early);
    zeros where the shifted read leaves the file."""
    out = mono.copy()
    src = np.arange(lo, hi) + shift
    ok = (src >= 0) & (src < len(mono))
    out[lo:hi] = 0.0
    out[lo:hi][ok] = mono[src[ok]]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cache", type=Path, required=True, help="face-track cache folder (.npz per clip)")
    ap.add_argument("--min-duration", type=float, default=9.0, help="clips at least this long (s)")
    ap.add_argument("--edit", type=float, default=None, help="edited stretch in seconds (default: --edit-share)")
    ap.add_argument("--edit-share", type=float, default=1 / 3, help="edited stretch as a share of the clip")
    ap.add_argument("--positions", default="0.5", help="middles of the edit, as shares of the clip")
    ap.add_argument("--shifts", default="-320,-200,200,320", help="ms; positive: the stretch's audio leads")
    ap.add_argument("--replace", action="store_true",
                    help="replace the stretch's audio by the next clip's speech instead of moving it (a dubbed passage: "
                         "lips that follow no offset there, which the stretch rule should not read as an offset)")
    ap.add_argument("--model", default="syncnet")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()

    import torch

    import avsync.pipeline as pipeline
    from avsync.media import load_media
    from avsync.pipeline import SyncCueParams, sync_cue
    from avsync.sync import SyncResult, sync_tracks

    torch.set_num_threads(args.threads)
    data = shared_root() / "data"
    rows = [r for r in csv.DictReader(open(data / "MANIFEST.csv"))
            if r["kind"] == "real_av" and r["has_audio"] == "yes" and r["video_fps"] and not is_grid(r["file"])
            and float(r["duration_s"]) >= args.min_duration]
    params = SyncCueParams.for_model(None if args.model == "syncnet" else args.model)
    rule = pipeline._offset_stretches

    def cues(result: SyncResult, duration: float, ff: float | None) -> tuple:
        with_rule = sync_cue(result, duration=duration, face_fraction=ff, params=params)
        pipeline._offset_stretches = lambda *a, **k: []
        try:
            without = sync_cue(result, duration=duration, face_fraction=ff, params=params)
        finally:
            pipeline._offset_stretches = rule
        return with_rule, without

    shifts = [int(s) for s in args.shifts.split(",") if s]
    positions = [float(p) for p in args.positions.split(",")]
    tally: dict[int, list[int]] = {s: [0, 0, 0, 0] for s in [0, *shifts]}  # copies, before >= .5, after, found
    ordered = sorted(rows, key=lambda r: r["file"])
    if args.replace:
        shifts, tally = [1], {0: [0, 0, 0, 0], 1: [0, 0, 0, 0]}  # 1: the replaced copies
    for n_row, r in enumerate(ordered):
        media, tracks, ff = tracks_for(data, r["file"], args.cache)
        if not tracks:
            print(f"{r['file']}: no face track")
            continue
        mono = media.mono().astype(np.float32)
        sr = media.sample_rate
        span = args.edit if args.edit is not None else args.edit_share * media.duration
        jobs = [(0, None)] + [(s, p) for s in shifts for p in positions]
        for shift, pos in jobs:
            audio, where = mono, ""
            if shift:
                assert pos is not None
                lo = int(round(max(0.0, pos * media.duration - span / 2) * sr))
                hi = min(len(mono), lo + int(round(span * sr)))
                if args.replace:
                    donor = load_media(str(data / ordered[(n_row + 1) % len(ordered)]["file"])).at_rates().mono()
                    audio = mono.copy()
                    audio[lo:hi] = np.resize(donor.astype(np.float32), hi - lo)
                else:
                    audio = edited(mono, lo, hi, int(round(shift / 1000 * sr)))
                where = f" edit {lo / sr:.1f}-{hi / sr:.1f} s"
            res = sync_tracks(audio, sr, tracks, model=args.model, device="cpu")
            a, b = cues(res, media.duration, ff)
            found = [x for x in a.reasons if "(elsewhere:" in x]
            t = tally[shift]
            t[0] += 1
            t[1] += int((b.score or 0) >= 0.5)
            t[2] += int((a.score or 0) >= 0.5)
            t[3] += int(bool(found))
            print(f"{r['file']} shift {shift:+d}{where}: cue {b.score:.3f} -> {a.score:.3f} {found}", flush=True)
    print(f"\n{'replaced (1)' if args.replace else 'shift ms'} | copies | cue >= 0.5 without the stretch rule | with it "
          "| stretch found")
    for s, (n, before, after, found) in tally.items():
        print(f"{s:+d} | {n} | {before} | {after} | {found}")


if __name__ == "__main__":
    main()
