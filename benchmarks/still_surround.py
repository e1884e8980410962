"""Frozen surroundings (``avsync.artefacts.still``) on the fusion recipe's clips: how often the picture around the
main face stays bit-identical while the face moves, per clip, split and family.

    AVSYNC_SHARED=../shared python benchmarks/still_surround.py --split calib --out runs/still.jsonl \
        [--perturb none,h264_crf23,h264_crf35,360p,social2x]
    AVSYNC_SHARED=../shared python benchmarks/still_surround.py --split eval --out runs/still.jsonl [--perturb ...]
    python benchmarks/still_surround.py --report runs/still.jsonl [--face-max H]
    python benchmarks/still_surround.py --choose-face-max runs/still.jsonl   # on calibration rows

For every original clip of the split (``fusion_calibrate.recipe_clips``: real clips, lip-sync fakes, talking heads,
the face swap), the face tracker of ``avsync analyze`` runs over the first ``--max-s`` seconds and the dominant track's
``surround_still`` and ``face_still`` give the clip's share of frozen frames (surroundings frozen while the face
moves) and its probability (``still_evidence``; the rows keep both per frame, so ``--report --face-max`` and
``--choose-face-max`` replay other face limits without tracking again); with ``--perturb``
each clip is also re-encoded first (``avsync.evaluation.perturb``, cached in ``--cache``). Rows are appended to
``--out`` (a rerun skips the clips and conditions already there). The report prints, per split and condition, the
ROC-AUC (95 % bootstrap CI) of each fake family against the real clips of that split and condition (a clip whose
surroundings cannot be measured scores 0: no evidence), the real clips at p >= 0.5 and >= 0.7, and each family's
clips at p >= 0.7.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import shared_data  # noqa: E402
from fusion_calibrate import recipe_clips  # noqa: E402


def measure(path: Path, max_s: float) -> dict:
    from avsync.artefacts.still import still_evidence
    from avsync.face import track
    from avsync.media import load_media

    media = load_media(path)
    faces = track(media, end=min(media.duration, max_s))
    main = faces.dominant()
    if main is None:
        return {"status": "no_face"}
    ev = still_evidence(main)
    s = main.surround_still
    finite = s[np.isfinite(s)] if s is not None else np.zeros(0)
    row = {"status": "ok", "frames": ev.frames, "frozen": ev.frozen, "share": ev.share, "p": ev.p,
           "median_same": float(np.median(finite)) if finite.size else None, "face_px": round(main.median_size, 1)}
    if s is not None and main.face_still is not None:  # per measurable frame, to replay other limits (--report)
        keep = np.isfinite(s) & main.valid
        row["surround"] = np.round(s[keep], 4).tolist()
        row["face"] = [None if not np.isfinite(v) else round(float(v), 4) for v in main.face_still[keep]]
    return row


def replay(row: dict, face_max: float) -> dict:
    """``row`` with its share and probability recomputed from its per-frame arrays for the face limit ``face_max``
    (:data:`avsync.artefacts.still.FACE_MOVES_MAX` in the library): the rule of ``still_evidence``."""
    from avsync.artefacts.still import MIN_FRAMES, frozen_frames, still_probability

    if "surround" not in row:
        return row
    s = np.asarray(row["surround"], float)
    f = np.asarray([np.nan if v is None else v for v in row["face"]], float)
    n, k = len(s), int(frozen_frames(s, f, face_max).sum())
    share = k / n if n >= MIN_FRAMES else None
    return dict(row, frozen=k, share=None if share is None else round(share, 4),
                p=None if share is None else still_probability(share))


def choose_face_max(rows: list[dict]) -> float | None:
    """The pre-registered choice (docs/artefacts.md): the largest limit of 0.40, 0.45, ..., 0.90 at which no real
    clip of these (calibration) rows reaches p >= 0.5 in any condition; ``None`` if there is none. Prints each."""
    rows = [r for r in rows if r["split"] == "calib"]
    best = None
    print("| face limit | real clips at p >= 0.5 (any condition) | generated at p >= 0.7, original |")
    print("|---|---|---|")
    for h in np.round(np.arange(0.40, 0.901, 0.05), 2):
        rr = [replay(r, float(h)) for r in rows]
        real = {r["clip"] for r in rr if r["label"] == 0 and (r.get("p") or 0) >= 0.5}
        fakes = sum(1 for r in rr if r["label"] == 1 and r.get("cond", "none") == "none" and (r.get("p") or 0) >= 0.7)
        print(f"| {h:.2f} | {len(real)} | {fakes} |")
        if not real:
            best = float(h)
    print(f"chosen: {best}")
    return best


def report(rows: list[dict], face_max: float | None = None) -> None:
    from avsync.artefacts.still import FACE_MOVES_MAX
    from avsync.evaluation.metrics import roc_auc_ci

    rows = [replay(r, FACE_MOVES_MAX if face_max is None else face_max) for r in rows]
    conds = list(dict.fromkeys(r.get("cond", "none") for r in rows))
    for split, cond in [(s, c) for s in ("calib", "eval") for c in conds]:
        part = [r for r in rows if r["split"] == split and r.get("cond", "none") == cond]
        if not part:
            continue
        real = [r for r in part if r["label"] == 0]
        ps = lambda rs: np.array([0.0 if r.get("p") is None else r["p"] for r in rs], float)  # noqa: E731
        pr = ps(real)
        print(f"\n{split}, {cond}: {len(real)} real clips; measurable {sum(r.get('p') is not None for r in real)}; "
              f"p >= 0.5: {int((pr >= 0.5).sum())} ({100 * (pr >= 0.5).mean():.1f} %), "
              f"p >= 0.7: {int((pr >= 0.7).sum())} ({100 * (pr >= 0.7).mean():.1f} %)")
        print("| family | clips | measurable | ROC-AUC vs real [95 % CI] | at p >= 0.7 |")
        print("|---|---|---|---|---|")
        for fam in sorted({r["family"] for r in part if r["label"] == 1}):
            fk = [r for r in part if r["family"] == fam]
            pf = ps(fk)
            ci = roc_auc_ci([0] * len(pr) + [1] * len(pf), np.concatenate([pr, pf]))
            print(f"| {fam} | {len(fk)} | {sum(r.get('p') is not None for r in fk)} | {ci.value:.3f} "
                  f"[{ci.low:.2f}, {ci.high:.2f}] | {int((pf >= 0.7).sum())} |")
        high = [r for r in real if (r.get("p") or 0) >= 0.5]
        for r in high:
            print(f"  real at p >= 0.5: {r['clip']} share {r['share']} p {r['p']:.3f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shared", default=None)
    ap.add_argument("--split", choices=("calib", "eval", "all"), default="calib")
    ap.add_argument("--out", default="runs/still.jsonl")
    ap.add_argument("--max-s", type=float, default=60.0)
    ap.add_argument("--perturb", default="none", help="comma-separated conditions: none and avsync.evaluation.perturb names")
    ap.add_argument("--cache", default="/tmp/avsync-perturb", help="re-encoded copies")
    ap.add_argument("--report", metavar="ROWS", help="only print the tables of a rows file")
    ap.add_argument("--face-max", type=float, default=None,
                    help="--report with this face limit instead of the library's FACE_MOVES_MAX")
    ap.add_argument("--choose-face-max", metavar="ROWS", help="the pre-registered choice of the face limit on the "
                    "(calibration) rows of ROWS")
    args = ap.parse_args()
    if args.choose_face_max:
        choose_face_max([json.loads(line) for line in open(args.choose_face_max)])
        return
    if args.report:
        report([json.loads(line) for line in open(args.report)], args.face_max)
        return
    from avsync import limit_omp_spinning

    limit_omp_spinning()
    data = shared_data(args.shared)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    done = set()
    if out.exists():
        done = {(r["clip"], r.get("cond", "none")) for r in map(json.loads, out.open())}
    from avsync.evaluation.perturb import apply_perturbation

    todo = [(c, cond) for cond in args.perturb.split(",") for c in recipe_clips(data)
            if (c["clip"], cond) not in done and (args.split == "all" or c["split"] == args.split)]
    for c, cond in todo:
        t0 = time.perf_counter()
        try:
            src = data / c["clip"]
            path = src if cond == "none" else Path(apply_perturbation(src, cond, cache_dir=args.cache)[0])
            row = measure(path, args.max_s)
        except Exception as e:  # noqa: BLE001 - a clip that cannot be read is a row with its error, not a stop
            row = {"status": "error", "error": repr(e)[:200]}
        row.update(clip=c["clip"], cond=cond, split=c["split"], label=c["label"], family=c["family"],
                   seconds=round(time.perf_counter() - t0, 2))
        with out.open("a") as fh:
            fh.write(json.dumps(row) + "\n")
        print(json.dumps(row), flush=True)
    report([json.loads(line) for line in out.open()])


if __name__ == "__main__":
    main()
