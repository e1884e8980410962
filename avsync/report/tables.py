"""Per-window tables of a verdict."""

from __future__ import annotations

import csv
import io

from avsync.verdict import Verdict


def windows_csv(verdict: Verdict) -> str:
    """CSV of the fused timeline: ``start,end,score,<cue>...`` (empty cells where a cue has no valid window)."""
    names = sorted({k for w in verdict.windows for k in w.cues})
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["start", "end", "score", *names])
    for w in verdict.windows:
        cells = [w.score, *(w.cues.get(n) for n in names)]
        writer.writerow([f"{w.start:.3f}", f"{w.end:.3f}", *("" if v is None else f"{v:.4f}" for v in cells)])
    return buf.getvalue()
