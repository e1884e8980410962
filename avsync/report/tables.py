"""Per-window tables of a verdict."""

from __future__ import annotations

import csv
import io

from avsync.verdict import Verdict


def windows_csv(verdict: Verdict) -> str:
    """CSV of the fused timeline: ``start,end,score,<cue>...`` (empty cells where a cue has no valid window); a cue
    read per channel (a call) also has a column per channel, ``<cue>_ch<k>``, beside its most suspicious one."""
    from avsync.fusion import _CueTimeline

    names = sorted({k for w in verdict.windows for k in w.cues})
    per_channel = []  # (column, timeline, channel)
    for c in verdict.cues:
        if c.name in names:
            chans = sorted({w.channel for w in c.windows if w.channel is not None})
            per_channel += [(f"{c.name}_ch{ch}", _CueTimeline(c), ch) for ch in chans]
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["start", "end", "score", *names, *(col for col, _, _ in per_channel)])
    for w in verdict.windows:
        cells = [w.score, *(w.cues.get(n) for n in names)]
        cells += [t.channel_scores(w.start, w.end).get(ch) for _, t, ch in per_channel]
        writer.writerow([f"{w.start:.3f}", f"{w.end:.3f}", *("" if v is None else f"{v:.4f}" for v in cells)])
    return buf.getvalue()
