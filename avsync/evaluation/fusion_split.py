"""The clips of a talking-face manifest split into ``calib`` and ``eval`` by source, for fitting fusion.

Rows are ``MANIFEST.csv`` dicts of ``../shared/data`` (``file``, ``kind``, ``label``, ``paired_with``,
``source_repo``, ...). Clips are grouped so that nothing about a source reaches both splits:

* a real clip's group is its speaker where several clips share one (GRID, the CREMA-D actor, the MEAD
  speaker of HyperLips), else the clip itself;
* a fake joins the groups of its project (``source_repo``: every real clip of the repository that published
  it, since such fakes are made from or alongside those clips) and of the real clip named in ``paired_with``;
* groups that share a clip are merged (union-find).

GRID goes to ``calib`` (one corpus, many sentences of few speakers), and so does CREMA-D (the default sync
model's cue parameters were fitted on it and on GRID clips). The other groups are dealt, in the order
of a seeded sha256 of their key, within strata (groups holding a fake of each family; groups of real clips
only) to the split that holds fewer clips of that stratum so far (ties to ``eval``): deterministic, no
random state, and each family is shared about evenly.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence

__all__ = ["fake_family", "is_grid", "speaker_key", "source_groups", "split_clips", "FAMILIES"]

FAMILIES = ("lipsync", "talking_head", "faceswap")
"""Families of generated videos: the mouth of a real video re-generated for other audio (Wav2Lip and forks,
HyperLips); a face animated from one image and audio (SadTalker, Hallo, EDTalk, DreamTalk); face swap."""


def is_grid(row: Mapping[str, str]) -> bool:
    return "/grid_" in "/" + row["file"] or "GRID corpus" in row.get("label", "")


def fake_family(row: Mapping[str, str]) -> str:
    """``lipsync``, ``talking_head`` or ``faceswap`` of a ``fake_av`` row (from its generator)."""
    text = (row["file"] + " " + row.get("label", "")).lower()
    if "face swap" in text or "/dfdc/" in text:
        return "faceswap"
    if "wavlip" in text or "wav2lip" in text or "hyperlips" in text:
        return "lipsync"  # a Hallo video re-lip-synced with Wav2Lip counts as lip-sync (its mouth is Wav2Lip's)
    return "talking_head"


def speaker_key(row: Mapping[str, str]) -> str:
    """The source a real clip shares with others (speaker or corpus), else the clip itself."""
    f = row["file"]
    if is_grid(row):
        return "grid"
    m = re.search(r"cremad[^/]*/(\d{4})_", f)
    if m:
        return f"cremad:{m.group(1)}"
    m = re.search(r"MEAD_([MW]\d{3})-", f)
    if m:
        return f"mead:{m.group(1)}"
    return "clip:" + f


def source_groups(rows: Sequence[Mapping[str, str]]) -> dict[str, str]:
    """``file → group key`` (the smallest key of its merged group)."""
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    def union(a: str, b: str) -> None:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)

    files = {r["file"] for r in rows}
    fake_repos = {r.get("source_repo", "") for r in rows if r["kind"] != "real_av"} - {""}
    for r in rows:
        f = r["file"]
        find("file:" + f)
        if r["kind"] == "real_av":
            union("file:" + f, speaker_key(r))
            if r.get("source_repo") in fake_repos:
                union("file:" + f, "repo:" + r["source_repo"])
        else:
            if r.get("source_repo"):
                union("file:" + f, "repo:" + r["source_repo"])
            paired = (r.get("paired_with") or "").split(" ")[0]
            if paired in files:
                union("file:" + f, "file:" + paired)
    for r in rows:  # a real clip that names a fake as its pair
        paired = (r.get("paired_with") or "").split(" ")[0]
        if paired in files:
            union("file:" + r["file"], "file:" + paired)
    return {r["file"]: find("file:" + r["file"]) for r in rows}


#: real sources that go to ``calib`` with GRID: the sync cues were fitted on them (benchmarks/calibrate_sync_cue.py:
#: syncnet-v2's on grid_avsi and CREMA-D, the default syncnet-v3's on CREMA-D and the calibration side's web clips),
#: so they cannot serve as held-out evaluation
_CALIB_ONLY = re.compile(r"(^|/)cremad[^/]*/")


def split_clips(rows: Sequence[Mapping[str, str]], *, seed: str = "avsync-fusion-v1") -> dict[str, str]:
    """``file → "calib" | "eval"``, deterministic for a given ``seed`` (see the module doc)."""
    groups = source_groups(rows)
    members: dict[str, list[Mapping[str, str]]] = {}
    for r in rows:
        members.setdefault(groups[r["file"]], []).append(r)

    def stratum(g: str) -> str:
        rs = members[g]
        if all(r["kind"] == "real_av" for r in rs) and any(is_grid(r) or _CALIB_ONLY.search(r["file"]) for r in rs):
            return "grid"
        fams = sorted({fake_family(r) for r in rs if r["kind"] != "real_av"})
        if not fams:
            return "real"
        counts = {f: sum(1 for r in rs if r["kind"] != "real_av" and fake_family(r) == f) for f in fams}
        return max(fams, key=lambda f: (counts[f], f))

    def h(g: str) -> str:
        return hashlib.sha256(f"{seed}:{g}".encode()).hexdigest()

    out: dict[str, str] = {}
    tally: dict[tuple[str, str], int] = {}
    for g in sorted(members, key=lambda g: (stratum(g), h(g))):
        s = stratum(g)
        if s == "grid":
            split = "calib"
        else:
            n = sum(1 if (s == "real" or r["kind"] != "real_av") else 0 for r in members[g]) or 1
            split = "eval" if tally.get((s, "eval"), 0) <= tally.get((s, "calib"), 0) else "calib"
            tally[(s, split)] = tally.get((s, split), 0) + n
        for r in members[g]:
            out[r["file"]] = split
    return out
