"""Faces that do not speak while speech plays: does the sync cue read them as dubbed? (``FaceSync.articulation``)

A still photo shown while a recording plays (leaked audio published as a video, a statement read over a portrait),
a slow zoom over such a photo, a static shot of someone listening: the face on screen does not speak, so its lips
follow the audio at no offset, which is what dubbed audio looks like to the sync cue. What tells them apart is
whether the mouth articulates at all. For every real clip of the fusion recipe (``fusion_calibrate.recipe_clips``,
``--split calib`` / ``eval``), three copies with the clip's own audio (its first ``--max-s`` seconds) and a picture
that does not speak are written with PyAV (H.264 CRF 23, 25 fps, at most 720 lines):

- ``hold``: the frame at 30 % of the clip, held;
- ``zoom``: that frame zoomed slowly from 1.0× to 1.2× about its centre;
- ``noise``: the held frame with fresh Gaussian noise (σ = 3 grey levels) in every frame, as a static camera
  records a subject that does not move;

and two that speak, in sync: ``small``, the clip itself scaled to 132 px on its shorter side (a face of about 45 px)
and darkened to 30 %, H.264 CRF 28 (a distant speaker in a dim room: lips hard to read); ``freeze``, the clip (at most
480 px on its shorter side, CRF 23) with its picture held for the middle third while the audio runs on (a video that
freezes: a known limit of the sync cue).

The sync analysis (``analyze_sync``, default model) runs on each copy and on every real and generated clip of the
split as recorded. A row per input goes to ``--out`` (JSON lines; a rerun skips the rows already there): the
active face's articulation, the sync status, and the sync cue's score and reasons with the shipped parameters and
with the articulation rule left out (``still_articulation=None``). The report prints, per split, the articulation of
the real clips as recorded (lowest three), of the generated clips (lowest three) and of each kind of copy (highest
three), and how many inputs of each kind the cue scores at 0.5 or more each way.

    AVSYNC_SHARED=../shared PYTHONPATH=.:cli python benchmarks/sync_still_faces.py --split calib --out runs/still_faces.jsonl
    python benchmarks/sync_still_faces.py --report runs/still_faces.jsonl
    ... --split eval --keep DIR --verdicts hold,zoom,noise,small     # the whole verdict on the copies written to DIR
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import shared_data
from fusion_calibrate import recipe_clips

KINDS = ("hold", "zoom", "noise")
"""Copies of a real clip whose picture does not speak."""
SMALL = "small"
"""A copy of a real clip that still speaks, in sync, but shows its face too small and dark to read the lips well."""
FREEZE = "freeze"
"""A copy of a real clip whose picture freezes for the middle third while its audio runs on (a known limit)."""


def frame_at(path: Path, share: float, max_lines: int = 720) -> np.ndarray:
    """RGB frame at ``share`` of the video's duration, downscaled to at most ``max_lines`` lines (even sides)."""
    import av

    with av.open(str(path)) as c:
        v = c.streams.video[0]
        dur = float(c.duration / 1e6) if c.duration else 0.0
        target, img = share * dur, None
        for f in c.decode(v):
            img = f
            if f.time is not None and f.time >= target:
                break
        assert img is not None, f"no frame in {path}"
        h = min(max_lines, img.height)
        w = int(round(img.width * h / img.height))
        return img.reformat(width=w - w % 2, height=h - h % 2, format="rgb24").to_ndarray()


def write_still(dst: Path, img: np.ndarray, mono: np.ndarray, sr: int, kind: str, seed: int = 0) -> Path:
    """A 25 fps H.264 (CRF 23) + AAC copy of ``img`` for as long as ``mono`` lasts, made as ``kind`` says."""
    import av

    rng = np.random.default_rng(seed)
    h, w = img.shape[:2]
    n = max(1, int(len(mono) / sr * 25))
    with av.open(str(dst), "w") as c:
        vs = c.add_stream("libx264", rate=25, options={"crf": "23"})
        vs.width, vs.height, vs.pix_fmt = w, h, "yuv420p"
        aus = c.add_stream("aac", rate=sr)
        aus.layout = "mono"
        for i in range(n):
            frame = img
            if kind == "zoom":
                z = 1.0 + 0.2 * i / max(1, n - 1)
                ch, cw = int(round(h / z)), int(round(w / z))
                y0, x0 = (h - ch) // 2, (w - cw) // 2
                frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(img[y0:y0 + ch, x0:x0 + cw]), format="rgb24")
                frame = frame.reformat(width=w, height=h).to_ndarray()
            elif kind == "noise":
                frame = np.clip(img.astype(np.float32) + rng.normal(0, 3.0, img.shape), 0, 255).astype(np.uint8)
            for p in vs.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")):
                c.mux(p)
        for p in vs.encode():
            c.mux(p)
        _mux_audio(c, aus, mono, sr)
    return dst


def _mux_audio(c: Any, stream: Any, mono: np.ndarray, sr: int) -> None:
    import av

    pcm = (np.clip(mono, -1, 1) * 32767).astype(np.int16)[None]
    for s in range(0, pcm.shape[1], 1024):
        af = av.AudioFrame.from_ndarray(np.ascontiguousarray(pcm[:, s:s + 1024]), format="s16", layout="mono")
        af.sample_rate = sr
        for p in stream.encode(af):
            c.mux(p)
    for p in stream.encode():
        c.mux(p)


def write_small(dst: Path, src: Path, mono: np.ndarray, sr: int, *, freeze: bool = False) -> Path:
    """``src``'s first ``len(mono) / sr`` seconds scaled so its shorter side is 132 px (a face filling a third of it
    is about 45 px) and darkened to 30 % of its brightness, H.264 CRF 28, with ``mono`` as its audio (in sync). With
    ``freeze``: at most 480 px on the shorter side, brightness and CRF 23 kept, and the picture of the middle third
    held at its first frame."""
    import av

    with av.open(str(src)) as ic, av.open(str(dst), "w") as oc:
        iv = ic.streams.video[0]
        width, height = iv.codec_context.width, iv.codec_context.height
        scale = min(1.0, 480.0 / min(width, height)) if freeze else 132.0 / min(width, height)
        w, h = int(width * scale) // 2 * 2, int(height * scale) // 2 * 2
        vs = oc.add_stream("libx264", rate=25, options={"crf": "23" if freeze else "28"})
        vs.width, vs.height, vs.pix_fmt = w, h, "yuv420p"
        aus = oc.add_stream("aac", rate=sr)
        aus.layout = "mono"
        end = len(mono) / sr
        held = None
        for f in ic.decode(iv):
            if f.time is not None and f.time > end:
                break
            img = f.reformat(width=w, height=h, format="rgb24").to_ndarray()
            if not freeze:
                img = (img.astype(np.float32) * 0.3).astype(np.uint8)
            elif f.time is not None and end / 3 <= f.time < 2 * end / 3:
                held = img if held is None else held
                img = held
            for p in vs.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                oc.mux(p)
        for p in vs.encode():
            oc.mux(p)
        _mux_audio(oc, aus, mono, sr)
    return dst


def measure(path: Path) -> dict:
    """The sync analysis of ``path`` and its cue with and without the articulation rule."""
    from avsync.media import load_media
    from avsync.pipeline import SyncCueParams, sync_cue
    from avsync.sync import analyze_sync

    media = load_media(str(path))
    res = analyze_sync(media)
    params = SyncCueParams.for_model(None)
    ff = None
    active = res.active_face
    row: dict = {"status": str(res.status), "summary": res.summary,
                 "articulation": None if active is None else active.articulation}
    for key, p in (("cue", params), ("cue_without", replace(params, still_articulation=None))):
        cue = sync_cue(res, duration=media.duration, face_fraction=ff, params=p)
        row[key] = cue.score
        row[key + "_status"] = str(cue.status)
        row[key + "_reasons"] = list(cue.reasons)[:2] or [cue.message or cue.measured or ""]
    return row


def _fmt(x: float | None) -> str:
    return "—" if x is None else f"{x:.3f}"


def report(rows: list[dict], limit: float | None = None) -> None:
    """Per split, the articulation of each kind of input and how many the cue scores ≥ 0.5 without the rule and
    with it at ``limit`` (default: the shipped ``SyncCueParams().still_articulation``): below the limit the cue
    reads nothing (``no_speech``), so the rows' scores without the rule give both columns."""
    if limit is None:
        from avsync.pipeline import SyncCueParams

        limit = SyncCueParams().still_articulation
    print(f"articulation rule: {'none' if limit is None else f'below {limit:.2f}, lip sync is not judged'}")

    def judged(r: dict) -> bool:
        a = r.get("articulation")
        return limit is None or a is None or a >= limit

    for split in ("calib", "eval"):
        part = [r for r in rows if r["split"] == split]
        if not part:
            continue
        print(f"\n{split}: {len(part)} inputs")
        print("| input | n | articulation (lowest / highest three) | sync cue ≥ 0.5 without the rule | with it |")
        print("|---|---|---|---|---|")
        for kind, label, end in (("orig-real", "real clips as recorded", "lowest"),
                                 ("orig-fake", "generated clips as recorded", "lowest"),
                                 *((k, f"`{k}` copies of the real clips", "highest") for k in KINDS),
                                 (SMALL, f"`{SMALL}` copies (speaking, in sync)", "lowest"),
                                 (FREEZE, f"`{FREEZE}` copies (speaking, in sync)", "lowest")):
            rs = [r for r in part if r["kind"] == kind]
            if not rs:
                continue
            arts = sorted(r["articulation"] for r in rs if r.get("articulation") is not None)
            three = arts[:3] if end == "lowest" else arts[-3:][::-1]
            unread = sum(r.get("articulation") is None for r in rs)
            without = sum((r.get("cue_without") or 0) >= 0.5 for r in rs)
            with_rule = sum((r.get("cue_without") or 0) >= 0.5 and judged(r) for r in rs)
            print(f"| {label} | {len(rs)} | {end}: {', '.join(f'{a:.3f}' for a in three)}"
                  f"{f' ({unread} not read)' if unread else ''} | {without} | {with_rule} "
                  f"({sum(not judged(r) for r in rs)} not judged) |")


def verdicts(keep: Path, split: str, kinds: list[str], shared: str | None) -> None:
    """The whole verdict (``Detector()``, every default cue) on the copies of ``split``'s real clips already written to
    ``keep``, with the shipped sync cue and with its articulation rule left out: per kind, how many read manipulated,
    undetermined and genuine each way."""
    from collections import Counter

    from avsync.pipeline import Detector, SyncCueParams

    data = shared_data(shared)
    wanted = {c["clip"] for c in recipe_clips(data) if c["label"] == 0 and (split == "all" or c["split"] == split)}
    dets = {"with the rule": Detector(),
            "without": Detector(sync_params=replace(SyncCueParams(), still_articulation=None))}
    tally: dict[str, Counter] = {k: Counter() for k in dets}
    for kind in kinds:
        for path in sorted(keep.glob(f"*.{kind}.mp4")):
            clip = path.name[: -len(f".{kind}.mp4")].replace("__", "/")
            if clip not in wanted:
                continue
            said = []
            for name, det in dets.items():
                v = det(str(path))
                tally[name][(kind, str(v.label))] += 1
                said.append(f"{name}: {v.label} {v.score:.2f}")
            print(f"{clip} {kind}: " + "; ".join(said), flush=True)
    print(f"\n{split}: verdicts, manipulated / undetermined / genuine")
    print("| copies | without the rule | with it |\n|---|---|---|")
    for kind in kinds:
        cells = [" / ".join(str(tally[n][(kind, lab)]) for lab in ("manipulated", "undetermined", "genuine"))
                 for n in ("without", "with the rule")]
        print(f"| `{kind}` | {cells[0]} | {cells[1]} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--split", choices=("calib", "eval", "all"), default="calib")
    ap.add_argument("--out", default=None, help="rows (JSON lines); a rerun skips the inputs already there")
    ap.add_argument("--report", default=None, help="only print the report of this rows file")
    ap.add_argument("--limit", type=float, default=None,
                    help="report with this articulation limit (default: the shipped SyncCueParams' one)")
    ap.add_argument("--max-s", type=float, default=12.0, help="seconds of each clip's audio under its still copies")
    ap.add_argument("--keep", default=None, help="write the copies here and keep them (default: a temp folder)")
    ap.add_argument("--shared", default=None)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--verdicts", default=None, metavar="KINDS",
                    help="instead: the whole verdict on the copies already in --keep of these kinds (e.g. "
                         "hold,zoom,noise,small), with and without the articulation rule")
    args = ap.parse_args()
    if args.verdicts:
        import torch

        torch.set_num_threads(args.threads)
        verdicts(Path(args.keep or "."), args.split, args.verdicts.split(","), args.shared)
        return
    if args.report:
        report([json.loads(line) for line in open(args.report)], args.limit)
        return
    import torch

    from avsync import limit_omp_spinning

    limit_omp_spinning()
    torch.set_num_threads(args.threads)
    from avsync.media import load_media

    data = shared_data(args.shared)
    out = Path(args.out) if args.out else None
    done: set[tuple[str, str]] = set()
    rows: list[dict] = []
    if out is not None and out.exists():
        rows = [json.loads(line) for line in out.open()]
        done = {(r["clip"], r["kind"]) for r in rows}
    keep = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="avsync-still-"))
    keep.mkdir(parents=True, exist_ok=True)
    clips = [c for c in recipe_clips(data) if args.split == "all" or c["split"] == args.split]
    for c in clips:
        src = data / c["clip"]
        kinds = [("orig-real" if c["label"] == 0 else "orig-fake", None)]
        if c["label"] == 0:
            kinds += [(k, k) for k in (*KINDS, SMALL, FREEZE)]
        for kind, still in kinds:
            if (c["clip"], kind) in done:
                continue
            t0 = time.perf_counter()
            try:
                path = src
                if still is not None:
                    path = keep / (c["clip"].replace("/", "__") + f".{still}.mp4")
                    if not path.exists():
                        media = load_media(str(src)).at_rates()
                        mono = media.mono().astype(np.float32)[: int(args.max_s * media.sample_rate)]
                        if still in (SMALL, FREEZE):
                            write_small(path, src, mono, media.sample_rate, freeze=still == FREEZE)
                        else:
                            write_still(path, frame_at(src, 0.3), mono, media.sample_rate, still)
                row = measure(path)
            except Exception as e:  # noqa: BLE001 - a clip that cannot be made or read is a row with its error
                row = {"status": "error", "error": repr(e)[:200], "articulation": None, "cue": None,
                       "cue_without": None}
            row.update(clip=c["clip"], kind=kind, split=c["split"], family=c["family"],
                       seconds=round(time.perf_counter() - t0, 2))
            rows.append(row)
            if out is not None:
                with out.open("a") as fh:
                    fh.write(json.dumps(row) + "\n")
            print(f"{c['clip']} {kind}: articulation {_fmt(row.get('articulation'))}, cue "
                  f"{_fmt(row.get('cue_without'))} -> {_fmt(row.get('cue'))} {row.get('cue_reasons', row.get('error'))}",
                  flush=True)
    report(rows, args.limit)


if __name__ == "__main__":
    main()
