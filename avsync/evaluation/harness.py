"""Run a task over a manifest, cache per-file results, and compute per-subset tables.

``run_eval`` is what ``avsync eval`` calls. Per-file results are cached in ``OUT/cache.jsonl``
keyed by the file's sha256, the task (and its version), the model and the evaluation options
that change a score (silence trimming, perturbation), so a rerun — or a run on another subset —
scores only what it has not seen. Lines are appended with one ``write`` under an exclusive lock;
a torn last line (a killed run) is ignored on reading.

Tables (one row per evaluation set):

* every fake generator of every selected subset against its real counterpart
  (:func:`~avsync.evaluation.manifest.paired_reals`: same speakers / source first);
* with ``by_group``, every group (speaker, demo page) of a subset whose fakes come from several
  groups, all its generators together (``subset[group]``);
* every subset with several generators, all of them together;
* real-only subsets: the false-positive rate at ``threshold`` (real files called fake);
* ``ALL``: every selected fake against every selected (and paired) real file.

EER, the AUC and the false-positive rate at ``threshold`` come with seeded percentile bootstrap
intervals (``eer_low``/``eer_high``, ``auc_low``/``auc_high``, ``fpr_low``/``fpr_high``).

Files that fail or abstain are counted (``n_failed``) and left out of the metrics.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import json
import math
import os
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

import avsync.evaluation.metrics as M
from avsync.errors import AvsyncError, ConfigError
from avsync.evaluation.manifest import ManifestRow, filter_rows, paired_reals
from avsync.evaluation.tasks import get_task, task_models
from avsync.media import file_sha256
from avsync.results import Serializable, Status

__all__ = ["EvalConfig", "EvalReport", "ResultCache", "run_eval", "score_rows", "summarize", "write_table"]

ALL = "ALL"


@dataclass(frozen=True)
class EvalConfig(Serializable):
    """Options of one evaluation run.

    Attributes
    ----------
    task, model
        Registered task name and model name (``None``: the task's default).
    subsets
        Filters for :func:`~avsync.evaluation.manifest.filter_rows`; the real counterparts of
        selected fakes are scored too.
    threshold
        Decision threshold on the fake probability for the FPR/TPR columns.
    trim_silence
        Cut leading/trailing silence before scoring (the FakeAVCeleb / AV-Deepfake1M shortcut).
    perturbations
        Names from :data:`~avsync.evaluation.perturb.PERTURBATIONS` to run besides the clean set.
    n_boot, seed
        Bootstrap replicates and seed of the EER, AUC and false-positive-rate intervals (``n_boot`` 0:
        no intervals).
    offset_tolerance
        ``±k`` frames for offset accuracy.
    limit
        Score at most this many selected files (after filtering), and at most this many real files paired with
        them (for quick looks).
    precision
        Network precision handed to the task's factory (``"float32"``, ``"bfloat16"``: the spoof and
        analyze tasks take it); ``None`` leaves the task's default. Part of the cache key.
    by_group
        Add a row per group of every subset whose fakes come from several groups (all of the group's
        generators against its real files).
    options
        Further keyword options of the task's factory (``{"vad": False}`` for the spoof task; a factory
        that does not take one stops the run with :class:`~avsync.errors.ConfigError`). Part of the
        cache key.
    """

    task: str
    model: str | None = None
    subsets: tuple[str, ...] = ()
    threshold: float = 0.5
    trim_silence: bool = False
    perturbations: tuple[str, ...] = ()
    n_boot: int = 1000
    seed: int = 0
    offset_tolerance: int = 1
    limit: int | None = None
    precision: str | None = None
    by_group: bool = False
    options: Mapping[str, Any] = field(default_factory=dict)


# ----------------------------------------------------------------------------------------- cache
class ResultCache:
    """Append-only JSON Lines cache of per-file results (``key`` → record)."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self._data: dict[str, dict[str, Any]] = {}
        if self.path.exists():
            with open(self.path, encoding="utf-8") as fh:
                for line in fh:
                    try:
                        rec = json.loads(line)
                    except json.JSONDecodeError:
                        continue  # a torn line from an interrupted run
                    if isinstance(rec, dict) and "key" in rec:
                        self._data[rec["key"]] = rec

    @staticmethod
    def make_key(sha256: str, task: str, version: str, model: str | None, options: Mapping[str, Any],
                 models: Mapping[str, Any] | None = None) -> str:
        """Cache key of one file's result: the first 32 hex digits of the sha256 of the canonical (key-sorted)
        JSON of the file's ``sha256``, the task name and version, the model, the task options and ``models``, the
        models the task computes with by name and sha256 (:func:`avsync.evaluation.tasks.task_models`).

        Any change to one of them gives another key. ``TypeError`` when ``options`` is not JSON-serialisable.
        """
        fields: dict[str, Any] = {"sha256": sha256, "task": task, "version": version, "model": model,
                                  "options": options}
        if models:
            fields["models"] = dict(models)
        blob = json.dumps(fields, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:32]

    def get(self, key: str) -> dict[str, Any] | None:
        """The record stored under ``key`` (the last one written, with its ``key`` field), or ``None``."""
        return self._data.get(key)

    def __len__(self) -> int:
        return len(self._data)

    def put(self, key: str, record: dict[str, Any]) -> None:
        """Store ``record`` under ``key``: append it (with a ``key`` field) as one JSON line to :attr:`path`.

        The file and its folder are created if needed; the append holds an exclusive ``flock`` (where the
        platform has one), so concurrent writers do not interleave lines. Numpy arrays are written as lists,
        objects with ``to_dict`` as that dict, anything else unknown as its ``str``; ``ValueError`` for NaN or
        infinite floats (nothing is written then).
        """
        rec = {**record, "key": key}
        line = (json.dumps(rec, allow_nan=False, default=_json_default) + "\n").encode()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            with _locked(fd):
                os.write(fd, line)
        finally:
            os.close(fd)
        self._data[key] = rec


@contextlib.contextmanager
def _locked(fd: int):
    try:
        import fcntl
    except ImportError:  # Windows: O_APPEND single writes only
        yield
        return
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)


def _json_default(o: Any) -> Any:
    if hasattr(o, "tolist"):
        return o.tolist()
    if hasattr(o, "to_dict"):
        return o.to_dict()
    return str(o)


def _clean(value: Any) -> Any:
    """NaN/inf → None, numpy → lists, recursively (JSON-safe)."""
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if hasattr(value, "tolist"):
        return _clean(value.tolist())
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Status):
        return value.value
    return value


# --------------------------------------------------------------------------------------- scoring
#: statuses that describe the model or the environment, not the file: never cached, retried on rerun
_TRANSIENT = frozenset({Status.ERROR.value, Status.MODEL_ERROR.value, Status.CONFIG_ERROR.value})
Prepare = Callable[[ManifestRow, str], tuple[str, dict[str, Any]]]


def score_rows(
    rows: Sequence[ManifestRow],
    scorer_factory: Callable[[], Callable[[str], Mapping[str, Any]]],
    *,
    task: str,
    version: str,
    model: str | None,
    options: Mapping[str, Any],
    cache: ResultCache,
    prepare: Prepare | None = None,
    progress: Callable[[int, int, ManifestRow, dict], None] | None = None,
    models: Mapping[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """Score every row, reusing cached results; returns one record per row (manifest order).

    ``models``: the models the task computes with, by name and sha256, part of each cache key (a result scored
    with other weights is not reused).

    ``scorer_factory`` is called once, and only if some file is not cached; its errors (e.g.
    :class:`~avsync.evaluation.tasks.TaskUnavailable`) propagate. ``prepare(row, sha)`` may return
    another path to score (a trimmed or perturbed copy) plus facts to record. Statuses that
    describe the input (``ok``, ``no_audio``, ``decode_error``, ...) are cached; ``error``,
    ``model_error`` and ``config_error`` records (unexpected exceptions, the model, the set-up) are
    not, so a rerun tries those files again.
    """
    scorer = None
    out: list[dict[str, Any]] = []
    for i, row in enumerate(rows):
        base = {"id": row.id, "path": row.path}
        rec: dict[str, Any]
        if not os.path.isfile(row.path):  # a folder, a broken link: not an input (as everywhere else)
            why = "a folder, not a file" if os.path.isdir(row.path) else "file not found"
            rec = {**base, "status": Status.NOT_FOUND.value, "score": None, "message": why, "cached": False}
            out.append(rec)
            if progress:
                progress(i, len(rows), row, rec)
            continue
        sha = file_sha256(row.path)
        key = ResultCache.make_key(sha, task, version, model, _row_options(row, options), models)
        hit = cache.get(key)
        if hit is not None:
            rec = {**hit, **base, "cached": True}
        else:
            t0 = time.perf_counter()
            rec = {**base, "sha256": sha, "task": task, "model": model, "options": dict(options)}
            keep = True
            if scorer is None:  # a task that cannot load (not installed, no weights) stops the run here
                scorer = scorer_factory()
            try:
                scored_path, facts = (row.path, {}) if prepare is None else prepare(row, sha)
                rec.update(facts)
                res = dict(scorer(scored_path))
                res["status"] = str(Status(str(res.get("status", "ok"))))
                if res.get("score") is not None:
                    res["score"] = float(res["score"])
                rec.update(_clean(res))
            except AvsyncError as e:
                rec.update(status=e.status.value, score=None, message=str(e))
            except Exception as e:  # noqa: BLE001 — one bad file must not end a long run
                rec.update(status=Status.ERROR.value, score=None, message=f"{type(e).__name__}: {e}")
                keep = False
            rec.setdefault("score", None)
            rec["seconds"] = round(time.perf_counter() - t0, 4)
            if rec["status"] in _TRANSIENT:
                keep = False
            if keep:
                cache.put(key, rec)
            rec = {**rec, "key": key, "cached": False}
        out.append(rec)
        if progress:
            progress(i, len(rows), row, rec)
    return out


AUDIO_EDIT_VERSION = 1
"""How edited copies are made (:func:`avsync.evaluation.perturb.edit_audio`); part of their cache key, so a
change of the recipe re-scores them."""


def _row_options(row: ManifestRow, options: Mapping[str, Any]) -> Mapping[str, Any]:
    """The options that key a row's cached result: the run's, plus the row's audio edit (its donor by sha256)."""
    edit = row.audio_edit
    if edit is None:
        return options
    donor = file_sha256(edit.source) if edit.source and os.path.exists(edit.source) else edit.source
    return {**options, "audio_edit": {"shift_frames": edit.shift_frames, "source_sha256": donor,
                                      "version": AUDIO_EDIT_VERSION}}


# ----------------------------------------------------------------------------------------- tables
def _valid(rec: dict[str, Any]) -> bool:
    s = rec.get("score")
    return rec.get("status") == "ok" and s is not None and math.isfinite(float(s))


def _rate_interval(called: np.ndarray, n_boot: int, seed: int) -> tuple[float, float]:
    """95 % percentile bootstrap interval of the mean of the booleans ``called`` (files resampled)."""
    rng = np.random.default_rng(seed)
    vals = [called[rng.integers(0, called.size, called.size)].mean() for _ in range(n_boot)]
    lo, hi = np.percentile(vals, [2.5, 97.5])
    return float(lo), float(hi)


def _binary_metrics(fake: list[dict], real: list[dict], cfg: EvalConfig) -> dict[str, Any]:
    f = np.array([float(r["score"]) for r in fake if _valid(r)])
    r = np.array([float(x["score"]) for x in real if _valid(x)])
    row: dict[str, Any] = {"n_fake": int(f.size), "n_real": int(r.size)}
    if f.size and r.size:
        y = np.r_[np.ones(f.size, int), np.zeros(r.size, int)]
        s = np.r_[f, r]
        e, thr = M.eer(y, s)
        row.update(eer=e)
        if cfg.n_boot > 0:
            ci = M.eer_ci(y, s, n_boot=cfg.n_boot, seed=cfg.seed)
            row.update(eer_low=ci.low, eer_high=ci.high)
        row.update(eer_threshold=thr)
        if cfg.n_boot > 0:
            ci = M.roc_auc_ci(y, s, n_boot=cfg.n_boot, seed=cfg.seed)
            row.update(auc=ci.value, auc_low=ci.low, auc_high=ci.high)
        else:  # no replicates: no interval
            row["auc"] = M.roc_auc(y, s)
        row.update(ap=M.average_precision(y, s), min_tdcf=M.min_tdcf(y, s)[0])
        if ((s >= 0) & (s <= 1)).all():
            row["ece"] = M.expected_calibration_error(y, s)
    if r.size:
        row["fpr_at_threshold"] = float((r >= cfg.threshold).mean())
        if cfg.n_boot > 0:
            row["fpr_low"], row["fpr_high"] = _rate_interval(r >= cfg.threshold, cfg.n_boot, cfg.seed)
    if f.size:
        row["tpr_at_threshold"] = float((f >= cfg.threshold).mean())
    return row


def _offset_metrics(recs: list[dict], truth: Mapping[str, ManifestRow], tol: int) -> dict[str, Any]:
    known = [(r, off) for r in recs if (off := truth[r["id"]].offset_frames) is not None]
    if not known or not any("offset_frames" in r for r, _ in known):  # a task that never reads an offset (spoof)
        return {}
    pred = [r.get("offset_frames") if r.get("status") == "ok" else None for r, _ in known]
    true = [off for _, off in known]
    return {"n_offset": len(known), f"offset_acc_pm{tol}": M.offset_accuracy(pred, true, tolerance=tol),
            "offset_acc_exact": M.offset_accuracy(pred, true, tolerance=0)}


def _segment_triples(segments: Iterable[dict[str, Any] | Sequence[float]]) -> list[list[float]]:
    """Predicted segments as ``[confidence, start_s, end_s]``, the proposals of :func:`~avsync.evaluation.metrics.ap_at_iou`
    (a task may give them as dicts, like ``Verdict.segments``: ``start``, ``end``, ``score``)."""
    out = []
    for seg in segments:
        if isinstance(seg, dict):
            out.append([float(seg.get("score") or 0.0), float(seg["start"]), float(seg["end"])])
        else:
            out.append([float(v) for v in seg])
    return out


def summarize(
    records: Sequence[dict[str, Any]], rows: Sequence[ManifestRow], selected: Sequence[ManifestRow], cfg: EvalConfig,
) -> list[dict[str, Any]]:
    """One table row per evaluation set (see the module docstring); values are floats or ints."""
    by_id = {r["id"]: r for r in records}
    truth = {r.id: r for r in rows}
    table: list[dict[str, Any]] = []

    def add(name: str, fakes: list[ManifestRow], reals: list[ManifestRow], pairing: str) -> None:
        fr = [by_id[x.id] for x in fakes if x.id in by_id]
        rr = [by_id[x.id] for x in reals if x.id in by_id]
        row: dict[str, Any] = {"set": name, "pairing": pairing}
        row.update(_binary_metrics(fr, rr, cfg))
        row["n_failed"] = sum(1 for x in fr + rr if not _valid(x))
        # offsets: a set with fakes reports their known ones (offsets injected into copies of real clips; none
        # known: no offset columns), a real-only set its real files' (where genuine clips read)
        row.update(_offset_metrics(fr if fr else rr, truth, cfg.offset_tolerance))
        table.append(row)

    subsets: dict[str, list[ManifestRow]] = defaultdict(list)
    for r in selected:
        subsets[r.subset].append(r)
    for name in sorted(subsets):
        members = subsets[name]
        fakes = [r for r in members if r.label == "fake"]
        if not fakes:
            add(name, [], members, "real-only")
            continue
        gens: dict[str, list[ManifestRow]] = defaultdict(list)
        for f in fakes:
            gens[f.generator].append(f)
        for g in sorted(gens):
            reals, rule = paired_reals(gens[g], rows)
            add(f"{name}/{g}" if g else name, gens[g], reals, rule)
        groups: dict[str, list[ManifestRow]] = defaultdict(list)
        for f in fakes if cfg.by_group else ():
            if f.group:
                groups[f.group].append(f)
        if len(groups) > 1:
            for g in sorted(groups):
                reals, rule = paired_reals(groups[g], rows)
                add(f"{name}[{g}]", groups[g], reals, rule)
        if len(gens) > 1:
            reals, rule = paired_reals(fakes, rows)
            add(name, fakes, reals, rule)
    sel_fakes = [r for r in selected if r.label == "fake"]
    sel_reals = {r.id: r for r in selected if r.label == "real"}
    pairing = "selected"
    if sel_fakes and not sel_reals:  # only fakes selected: compare with their counterparts
        extra, pairing = paired_reals(sel_fakes, rows)
        sel_reals.update({r.id: r for r in extra})
    add(ALL, sel_fakes, list(sel_reals.values()), pairing)
    if any(r.segments for r in selected) or any(by_id.get(r.id, {}).get("segments") for r in selected):
        preds = {r.id: _segment_triples(by_id[r.id].get("segments") or []) for r in selected if r.id in by_id}
        gt = {r.id: [list(s) for s in r.segments] for r in selected}
        for thr, ap in M.ap_at_iou(preds, gt).items():
            table[-1][f"ap_iou{thr:g}"] = ap
    return table


# ---------------------------------------------------------------------------------------- writing
_COLUMNS = ["perturbation", "set", "pairing", "n_fake", "n_real", "n_failed", "eer", "eer_low", "eer_high", "eer_threshold",
            "auc", "auc_low", "auc_high", "ap", "min_tdcf", "ece", "fpr_at_threshold", "fpr_low", "fpr_high",
            "tpr_at_threshold"]


def _columns(table: Sequence[dict[str, Any]]) -> list[str]:
    cols = [c for c in _COLUMNS if any(c in r for r in table)]
    for r in table:
        cols += [k for k in r if k not in cols]
    return cols


def _fmt(v: Any) -> str:
    if v is None:
        return "—"
    if isinstance(v, float):
        return "—" if not math.isfinite(v) else f"{v:.4f}"
    return str(v)


def write_table(table: Sequence[dict[str, Any]], stem: str | os.PathLike, *, title: str = "") -> dict[str, str]:
    """Write ``stem.md`` (Markdown), ``stem.csv`` and ``stem.json``; returns their paths."""
    stem = Path(stem)
    cols = _columns(table)
    lines = ([f"# {title}", ""] if title else []) + ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(_fmt(r.get(c)) for c in cols) + " |" for r in table]
    md = stem.with_suffix(".md")
    md.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with open(stem.with_suffix(".csv"), "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=cols)
        w.writeheader()
        for r in table:
            w.writerow({c: "" if _clean(r.get(c)) is None else r.get(c) for c in cols})  # empty where the JSON has null
    stem.with_suffix(".json").write_text(json.dumps(_clean(list(table)), indent=2), encoding="utf-8")
    return {"md": os.fspath(md), "csv": os.fspath(stem.with_suffix(".csv")), "json": os.fspath(stem.with_suffix(".json"))}


_SCORE_COLUMNS = ["id", "label", "subset", "generator", "group", "audio_edit", "status", "score", "predicted_label",
                  "offset_frames", "true_offset_frames", "seconds", "cached", "scored_path", "message", "path", "sha256"]


def _write_scores(records: Sequence[dict], rows: Mapping[str, ManifestRow], stem: Path) -> None:
    with open(stem.with_suffix(".jsonl"), "w", encoding="utf-8") as fh:
        for rec in records:
            row = rows[rec["id"]]
            # "label" is the manifest's truth; the task's own verdict (genuine / manipulated / undetermined, ...) is kept
            # as "predicted_label"
            full = {**rec, "predicted_label": rec.get("label"), "label": row.label, "subset": row.subset,
                    "generator": row.generator, "group": row.group, "audio_edit": row.audio or None,
                    "true_offset_frames": row.offset_frames}
            full.pop("key", None)
            fh.write(json.dumps(_clean(full), default=_json_default) + "\n")
    with open(stem.with_suffix(".csv"), "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=_SCORE_COLUMNS, extrasaction="ignore")
        w.writeheader()
        for rec in records:
            row = rows[rec["id"]]
            w.writerow({**{k: rec.get(k) for k in _SCORE_COLUMNS}, "predicted_label": rec.get("label"),
                        "label": row.label, "subset": row.subset,
                        "generator": row.generator, "group": row.group, "audio_edit": row.audio,
                        "true_offset_frames": row.offset_frames})


def _plot_curves(table_sets: list[tuple[str, np.ndarray, np.ndarray]], out_dir: Path, prefix: str) -> list[str]:
    if not table_sets:  # no set with both classes: nothing to draw
        return []
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("warning: matplotlib is not installed; no ROC/DET plots (pip install 'avsync[report]')",
              file=sys.stderr)
        return []
    from scipy.stats import norm

    paths = []
    fig_roc, ax_roc = plt.subplots(figsize=(5.5, 5))
    fig_det, ax_det = plt.subplots(figsize=(5.5, 5))
    for name, y, s in table_sets:
        c = M.det_curve(y, s)
        ax_roc.plot(c.fpr, 1 - c.fnr, label=f"{name} (AUC {M.roc_auc(y, s):.3f})", lw=1.2)
        eps = 1e-3
        ax_det.plot(norm.ppf(np.clip(c.fpr, eps, 1 - eps)), norm.ppf(np.clip(c.fnr, eps, 1 - eps)),
                    label=f"{name} (EER {M.eer(y, s)[0] * 100:.1f}%)", lw=1.2)
    ax_roc.plot([0, 1], [0, 1], "k:", lw=0.8)
    ax_roc.set(xlabel="false-positive rate (real called fake)", ylabel="true-positive rate (fake caught)",
               title="ROC")
    ticks = np.array([0.001, 0.01, 0.05, 0.2, 0.5, 0.8, 0.95, 0.99])
    ax_det.set_xticks(norm.ppf(ticks), [f"{t * 100:g}" for t in ticks])
    ax_det.set_yticks(norm.ppf(ticks), [f"{t * 100:g}" for t in ticks])
    ax_det.set(xlabel="false-positive rate (%)", ylabel="false-negative rate (%)", title="DET")
    for fig, ax, name in ((fig_roc, ax_roc, "roc"), (fig_det, ax_det, "det")):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=6, loc="best")
        fig.tight_layout()
        p = out_dir / f"{prefix}{name}.png"
        fig.savefig(p, dpi=120)
        plt.close(fig)
        paths.append(os.fspath(p))
    return paths


def _curve_sets(
    records: Sequence[dict[str, Any]], rows: Sequence[ManifestRow], selected: Sequence[ManifestRow],
    table: Sequence[dict[str, Any]],
) -> list[tuple[str, np.ndarray, np.ndarray]]:
    by_id = {r["id"]: r for r in records}
    sets = []
    for trow in table:
        if "eer" not in trow:
            continue
        name = trow["set"]
        if name == ALL:
            fakes = [r for r in selected if r.label == "fake"]
            reals = [r for r in selected if r.label == "real"] or paired_reals(fakes, rows)[0]
        else:
            fakes = [r for r in selected if r.label == "fake" and (r.subset == name or f"{r.subset}/{r.generator}" == name)]
            reals = paired_reals(fakes, rows)[0]
        f = [float(by_id[r.id]["score"]) for r in fakes if r.id in by_id and _valid(by_id[r.id])]
        rr = [float(by_id[r.id]["score"]) for r in reals if r.id in by_id and _valid(by_id[r.id])]
        if f and rr:
            sets.append((name, np.r_[np.ones(len(f)), np.zeros(len(rr))].astype(int), np.r_[f, rr]))
    return sets[:12]


# ------------------------------------------------------------------------------------------- run
@dataclass
class EvalReport:
    """What :func:`run_eval` produced: tables, per-file records and the files written."""

    config: EvalConfig
    table: list[dict[str, Any]]
    records: list[dict[str, Any]]
    robustness: list[dict[str, Any]] = field(default_factory=list)
    files: dict[str, str] = field(default_factory=dict)
    n_scored: int = 0
    n_cached: int = 0


def _select(rows: Sequence[ManifestRow], cfg: EvalConfig) -> tuple[list[ManifestRow], list[ManifestRow]]:
    selected = filter_rows(rows, cfg.subsets)
    if not selected:
        raise ConfigError(f"no manifest row matches --subset {' '.join(cfg.subsets)}",
                          hint="use a subset such as fake_speech/yourtts, a subset/generator or a path prefix")
    if cfg.limit is not None:
        selected = selected[: cfg.limit]
    needed = {r.id: r for r in selected}
    fakes = [r for r in selected if r.label == "fake"]
    if fakes:
        gens: dict[tuple[str, str], list[ManifestRow]] = defaultdict(list)
        for f in fakes:
            gens[(f.subset, f.generator)].append(f)
        added = 0
        for group in gens.values():
            for r in paired_reals(group, rows)[0]:
                if r.id not in needed and (cfg.limit is None or added < cfg.limit):  # a quick look stays quick
                    needed[r.id] = r
                    added += 1
    return selected, list(needed.values())


def run_eval(
    rows: Sequence[ManifestRow],
    cfg: EvalConfig,
    out_dir: str | os.PathLike,
    *,
    progress: Callable[[int, int, ManifestRow, dict], None] | None = None,
    plots: bool = True,
) -> EvalReport:
    """Score the selected manifest rows with ``cfg.task`` and write tables, per-file scores and plots.

    Files written in ``out_dir``: ``summary.{md,csv,json}``, ``scores.{csv,jsonl}``,
    ``roc.png``/``det.png``, ``cache.jsonl``, and with perturbations ``robustness.{md,csv,json}``
    plus ``<perturbation>/summary.*`` and the re-encoded files under ``perturbed/``.
    """
    from avsync.evaluation.perturb import PERTURBATIONS, apply_audio_edit, apply_perturbation, trim_silence

    for p in cfg.perturbations:
        if p not in PERTURBATIONS:
            raise ConfigError(f"unknown perturbation {p!r}; choose from {', '.join(PERTURBATIONS)}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    task = get_task(cfg.task)
    task_options: dict[str, Any] = {"precision": cfg.precision} if cfg.precision else {}
    if "precision" in cfg.options and cfg.precision:
        raise ConfigError("precision is given twice (precision= and options['precision'])")
    task_options.update(cfg.options)
    from avsync.batch.tasks import refuse_unknown_options

    refuse_unknown_options(cfg.task, task.factory, task_options)
    factory_cache: dict[str, Any] = {}
    identity = task_models(cfg.task, cfg.model)  # the weights behind the cached results

    def factory():
        if "s" not in factory_cache:
            factory_cache["s"] = task.factory(cfg.model, **task_options)
        return factory_cache["s"]

    selected, needed = _select(rows, cfg)
    cache = ResultCache(out / "cache.jsonl")
    truth = {r.id: r for r in rows}

    def run_one(perturbation: str | None):
        options: dict[str, Any] = dict(task_options)
        if cfg.trim_silence:
            options["trim_silence"] = {"threshold_db": -40.0, "pad_s": 0.05}
        if perturbation:
            options["perturbation"] = perturbation

        def prepare(row: ManifestRow, sha: str):
            path = row.path
            facts: dict[str, Any] = {}
            edit = row.audio_edit
            if edit is not None:
                path = apply_audio_edit(path, edit, cache_dir=out / "edited", sha256=sha)
                facts["audio_edit"] = row.audio
            if perturbation:
                path, applied = apply_perturbation(path, perturbation, cache_dir=out / "perturbed",
                                                   sha256=None if edit else sha)
                facts["perturbed"] = applied
            if cfg.trim_silence:
                path, (t0, t1) = trim_silence(path, cache_dir=out / "trimmed",
                                              sha256=None if (perturbation or edit) else sha)
                facts["trimmed_s"] = [t0, t1]
            facts["scored_path"] = path
            return path, facts

        edits = any(r.audio for r in needed)
        recs = score_rows(needed, factory, task=task.name, version=task.version, model=cfg.model, options=options,
                          cache=cache, prepare=prepare if (perturbation or cfg.trim_silence or edits) else None,
                          progress=progress, models=identity)
        return recs, summarize(recs, rows, selected, cfg)

    records, table = run_one(None)
    report = EvalReport(cfg, table, records)
    report.n_cached = sum(1 for r in records if r.get("cached"))
    report.n_scored = sum(1 for r in records if not r.get("cached") and r.get("status") != Status.NOT_FOUND.value)
    title = f"avsync eval — task {cfg.task}" + (f", model {cfg.model}" if cfg.model else "")
    report.files.update({f"summary.{k}": v for k, v in write_table(table, out / "summary", title=title).items()})
    _write_scores(records, truth, out / "scores")
    report.files["scores.csv"] = os.fspath(out / "scores.csv")
    report.files["scores.jsonl"] = os.fspath(out / "scores.jsonl")
    if plots:
        for p in _plot_curves(_curve_sets(records, rows, selected, table), out, ""):
            report.files[Path(p).name] = p
    clean = {r["set"]: r for r in table}
    for name in cfg.perturbations:
        recs, ptable = run_one(name)
        pdir = out / name
        pdir.mkdir(exist_ok=True)
        write_table(ptable, pdir / "summary", title=f"{title} — perturbation {name}")
        _write_scores(recs, truth, pdir / "scores")
        report.n_cached += sum(1 for r in recs if r.get("cached"))
        report.n_scored += sum(1 for r in recs if not r.get("cached") and r.get("status") != Status.NOT_FOUND.value)
        for prow in ptable:
            base = clean.get(prow["set"], {})
            entry = {"perturbation": name, "description": PERTURBATIONS[name].description, "set": prow["set"]}
            for m in ("eer", "auc", "min_tdcf", "fpr_at_threshold", "tpr_at_threshold"):
                if m in prow:
                    entry[m] = prow[m]
                    if m in base and base[m] is not None and prow[m] is not None:
                        entry[f"delta_{m}"] = prow[m] - base[m]
            entry["n_failed"] = prow.get("n_failed", 0)
            entry["n_files_changed"] = sum(1 for r in recs if r.get("perturbed"))
            report.robustness.append(entry)
    if cfg.perturbations:
        report.files.update({f"robustness.{k}": v for k, v in write_table(
            report.robustness, out / "robustness", title=f"{title} — metric change per perturbation").items()})
    else:  # an earlier run's robustness table would sit beside this run's summary as if it were this run's
        for ext in ("md", "csv", "json"):
            (out / f"robustness.{ext}").unlink(missing_ok=True)
    meta = {"config": cfg.to_dict(), "n_rows": len(needed), "n_selected": len(selected), "n_scored": report.n_scored,
            "n_cached": report.n_cached, "files": report.files}
    (out / "run.json").write_text(json.dumps(_clean(meta), indent=2), encoding="utf-8")
    return report
