"""Summary of a batch results file: counts per status and label, failures, slowest files."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from avsync.batch.log import iter_lines
from avsync.results import Serializable, Status

_SUMMARY_FIELDS = ("path", "abspath", "task", "model", "status", "label", "timings", "worker", "reused_from", "error")

__all__ = ["FLAGGED_LABELS", "BatchSummary", "FailedFile", "SlowFile", "final_records", "format_summary", "summarize"]

#: labels that mean "this input was flagged" (analyze: manipulated; spoof: synthetic; sync: out_of_sync)
FLAGGED_LABELS = frozenset({"manipulated", "synthetic", "out_of_sync"})


@dataclass(frozen=True)
class SlowFile(Serializable):
    """A file and the seconds its task took."""

    path: str
    seconds: float
    status: str


@dataclass(frozen=True)
class FailedFile(Serializable):
    """An input whose final status is a failure, and why."""

    path: str
    status: str
    error: str | None


@dataclass(frozen=True)
class BatchSummary(Serializable):
    """What a batch run did and where its results stand.

    Attributes
    ----------
    out
        The JSONL results file.
    task, model
        What was computed.
    total
        Inputs of this run that have a result line in ``out`` (all of them, unless stopped early).
    by_status, by_label
        Final line counts per status and per label (``label`` of the task's result, when it has one).
    failed
        Inputs whose final status is a failure (``decode_error``, ``error``, ...).
    processed
        Files scored by the task during this run.
    resumed
        Inputs skipped because an earlier run had done them.
    reused
        Inputs whose content (sha256) had already been scored under another path: result copied.
    wall_s
        Wall-clock seconds of this run.
    files_per_hour
        ``processed`` per hour of wall clock in this run.
    task_s_total
        Sum of per-file task seconds over the final lines.
    slowest
        Slowest files by task seconds.
    interrupted
        The run was stopped (Ctrl-C, ``--max-files``) before every input had a line; rerun to finish.
    inputs
        Inputs found (folder, glob, manifest), with or without a result line yet.
    pending
        Inputs without a result line yet (``inputs - total``).
    flagged
        Final lines whose label flags the input (:data:`FLAGGED_LABELS`).
    failures
        The first failed inputs (in results-file order) with their status and error message.
    scored
        Summarising a results file afterwards (no run statistics given): its inputs the task scored, in any run
        (``None`` in the summary of a run, which counts ``processed`` and ``resumed`` instead).
    repeated
        Paths the source named more than once (a manifest's repeated rows): each has one line, from its first row.
    unscored
        Inputs with a line the task did not score: not media, empty, unreadable, or skipped (the text summary's
        "recorded without scoring").
    """

    out: str
    task: str | None
    model: str | None
    total: int
    by_status: dict[str, int]
    by_label: dict[str, int]
    failed: int
    processed: int = 0
    resumed: int = 0
    reused: int = 0
    wall_s: float = 0.0
    files_per_hour: float | None = None
    task_s_total: float = 0.0
    slowest: tuple[SlowFile, ...] = ()
    interrupted: bool = False
    inputs: int = 0
    pending: int = 0
    flagged: int = 0
    failures: tuple[FailedFile, ...] = ()
    scored: int | None = None
    repeated: int = 0
    unscored: int = 0


def _is_failure(status: Any) -> bool:
    try:
        return Status(str(status)).is_failure
    except ValueError:
        return True


def final_records(records: Iterable[dict[str, Any]] | str | os.PathLike, *, task: str | None = None,
                  model: str | None = None, paths: list[str] | None = None) -> dict[str, dict[str, Any]]:
    """The last line per file (optionally only for one ``task`` / ``model`` / set of ``paths``) of ``records``: the
    lines of a results file, or the file itself (its path). Keyed by the file's absolute path (a line's ``abspath``;
    for a line written before that field, its ``path`` taken from the current folder), so the same file named
    relatively in one run and absolutely in another is one entry."""
    if isinstance(records, (str, os.PathLike)):
        records = (r for _, _, r in iter_lines(records) if r is not None)
    wanted = None if paths is None else {os.path.abspath(p) for p in paths}
    out: dict[str, dict[str, Any]] = {}
    for r in records:
        if task is not None and r.get("task") != task:
            continue
        if model is not None and r.get("model") != model:
            continue
        p = str(r.get("abspath") or os.path.abspath(str(r.get("path"))))
        if wanted is not None and p not in wanted:
            continue
        out[p] = r
    return out


def summarize(out: str | os.PathLike, *, task: str | None = None, model: str | None = None,
              paths: list[str] | None = None, slowest: int = 5, failures: int = 10, **run_stats: Any) -> BatchSummary:
    """Summarise a results file (its last line per path).

    Parameters
    ----------
    out
        JSONL results file written by :func:`~avsync.batch.run_batch`.
    task, model, paths
        Restrict to one task, model, or set of inputs.
    slowest
        How many of the slowest files to list.
    failures
        How many failed files to list (with their status and error).
    **run_stats
        ``processed``, ``resumed``, ``reused``, ``wall_s``, ``files_per_hour``, ``interrupted`` of
        the run that just ended (left at their defaults when summarising a file afterwards).
    """
    slim = (
        {k: r.get(k) for k in _SUMMARY_FIELDS}
        for _, _, r in (iter_lines(out) if os.path.exists(out) else ())
        if r is not None
    )  # streamed, keeping only what the summary needs: flat memory on huge results files
    final = final_records(slim, task=task, model=model, paths=paths)
    by_status = Counter(str(r.get("status")) for r in final.values())
    by_label = Counter(str(r["label"]) for r in final.values() if r.get("label") is not None)
    times = [
        SlowFile(str(r.get("path")), float((r.get("timings") or {}).get("task_s") or 0.0), str(r.get("status")))
        for r in final.values()
        if r.get("worker") and not r.get("reused_from")  # scored by the task (not skipped, empty, copied)
    ]
    times.sort(key=lambda s: -s.seconds)
    failed = [FailedFile(str(r.get("path")), str(r.get("status")), r.get("error")) for r in final.values()
              if _is_failure(r.get("status"))]
    afterwards = not ({"processed", "resumed", "reused"} & set(run_stats))
    if afterwards:  # no run to count: what the file holds
        run_stats["reused"] = sum(bool(r.get("reused_from")) for r in final.values())
    inputs = int(run_stats.pop("inputs", None) or (len(set(map(os.path.abspath, paths))) if paths is not None
                                                   else len(final)))
    seen = {r.get("model") for r in final.values()} - {None}
    scored = sum(bool(r.get("worker")) and not r.get("reused_from") for r in final.values()) if afterwards else None
    done = scored if scored is not None else int(run_stats.get("processed", 0)) + int(run_stats.get("resumed", 0))
    return BatchSummary(
        out=os.fspath(out),
        task=task,
        model=model if model is not None or len(seen) != 1 else str(next(iter(seen))),  # the task's default, named
        total=len(final),
        by_status=dict(sorted(by_status.items(), key=lambda kv: (-kv[1], kv[0]))),
        by_label=dict(sorted(by_label.items(), key=lambda kv: (-kv[1], kv[0]))),
        failed=len(failed),
        failures=tuple(failed[:failures]),
        task_s_total=round(sum(s.seconds for s in times), 3),
        slowest=tuple(times[:slowest]),
        inputs=inputs,
        pending=max(0, inputs - len(final)),
        flagged=sum(str(r.get("label")) in FLAGGED_LABELS for r in final.values()),
        scored=scored,
        unscored=max(0, len(final) - done - int(run_stats.get("reused", 0))),
        **run_stats,
    )


def format_summary(s: BatchSummary) -> str:
    """A plain-text table of a :class:`BatchSummary`."""
    inputs = s.inputs or s.total
    if s.scored is not None:  # a results file summarised afterwards
        head = f"{inputs} inputs: {s.scored} scored"
    else:
        head = f"{inputs} inputs: {s.processed} scored now, {s.resumed} already done by earlier runs"
    if s.reused:
        head += f", {s.reused} copied from identical files"
    if s.unscored > 0:
        head += f", {s.unscored} recorded without scoring (not media, empty, unreadable)"
    if s.pending:
        head += f", {s.pending} not done yet"
    if s.repeated:
        head += f"; {s.repeated} repeated {'path' if s.repeated == 1 else 'paths'} listed once (the first row of each)"
    lines = [head, f"{s.flagged} flagged, {s.failed} failed  -> {s.out}"]
    if s.interrupted:
        lines.append("STOPPED EARLY: rerun the same command to finish (done files are skipped)")
    if s.processed and s.files_per_hour:
        lines.append(f"wall {s.wall_s:.1f} s, {s.files_per_hour:.0f} files/hour")
    width = max([len(k) for k in (*s.by_status, *s.by_label)] + [6])
    lines.append("")
    lines.append(f"{'status':<{width}}  {'count':>7}")
    for k, v in s.by_status.items():
        lines.append(f"{k:<{width}}  {v:>7}")
    if s.by_label:
        lines.append("")
        lines.append(f"{'label':<{width}}  {'count':>7}")
        for k, v in s.by_label.items():
            lines.append(f"{k:<{width}}  {v:>7}")
    if s.failures:
        lines.append("")
        lines.append("failed:" if len(s.failures) == s.failed else f"failed (the first {len(s.failures)} of {s.failed}):")
        for ff in s.failures:
            why = f": {ff.error}" if ff.error else ""
            lines.append(f"  {ff.status:<14} {ff.path}{why}")
    if s.slowest:
        lines.append("")
        lines.append("slowest files (task seconds):")
        for f in s.slowest:
            lines.append(f"  {f.seconds:8.2f}  {f.status:<14} {f.path}")
    return "\n".join(lines)
