"""A stretch of a clip whose audio sits at another offset than the rest: an edit (a dubbed sentence, a section
of the audio track replaced or shifted) inside a clip that is otherwise in sync.

The clip's offset comes from all of its windows, so a stretch that is off reads only as windows whose lips do
not follow the audio at that offset. :func:`local_offsets` takes each run of such windows lasting at least
``min_s`` seconds and reads the run's own offset from the mean of its windows' distance-over-lag curves
(:attr:`WindowSync.curve`): where the lips of the run do follow the audio, at a lag ``min_shift`` frames or more
from the clip's, the run is a stretch at that offset. Whether that offset is evidence (beyond the sync model's
tolerance, read with enough confidence) is the sync cue's decision (:func:`avsync.pipeline.sync_cue`), with the
same parameters as the clip's own offset.

The windows' curves live in memory (they are not serialised), so a result read back from JSON has no stretches to
find.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from avsync.results import Status
from avsync.sync.types import WindowSync

__all__ = ["BRIDGE_WINDOWS", "MIN_STRETCH_S", "MIN_SHIFT_FRAMES", "OffsetStretch", "local_offsets"]

MIN_STRETCH_S = 4.0
"""A run of windows whose lips do not follow the audio at the clip's offset must span at least this many seconds
(a sentence or two) before its own offset is read."""

MIN_SHIFT_FRAMES = 3
"""...and its own best lag must lie at least this many frames from the clip's (the clip's offset within a frame
or two is the same reading, whose windows merely match poorly there)."""


BRIDGE_WINDOWS = 2
"""Windows that do follow the audio at the clip's offset, in a row, that a run passes over (2: 1 s of the default
0.5 s window step)."""


@dataclass(frozen=True)
class OffsetStretch:
    """A run of windows (``start``–``end`` seconds) that reads at its own offset ``offset_frames`` (positive:
    audio leads video), with ``confidence`` (median − minimum of the run's mean curve, in the sync model's
    distance units, as :attr:`SyncResult.confidence`) over ``windows`` windows."""

    start: float
    end: float
    offset_frames: int
    confidence: float
    distance: float
    windows: int


def local_offsets(
    windows: Sequence[WindowSync],
    off: Sequence[bool | None],
    lags: Sequence[int],
    clip_lag: int,
    *,
    min_s: float = MIN_STRETCH_S,
    min_shift: int = MIN_SHIFT_FRAMES,
    bridge: int = BRIDGE_WINDOWS,
) -> list[OffsetStretch]:
    """The stretches of ``windows`` (one face, in time order) at an offset of their own.

    ``off[i]``: whether window ``i``'s lips do not follow the audio at the clip's offset (``None``: the window is
    not usable, which neither continues nor breaks a run; up to ``bridge`` usable windows in a row that do follow
    it do not break it either: a pause or one well-matched syllable inside an edit; and runs less than a window
    apart whose own lags are within a frame of each other are read as one). ``lags``: the lags of the windows'
    curves (frames), ``clip_lag`` the clip's best lag. A run needs windows with curves; its mean curve is read as a
    clip's is (:func:`avsync.sync.analyze._summarize`), and its best lag must not lie at the edge of the search.
    """
    if len(off) != len(windows):
        raise ValueError(f"{len(off)} flags for {len(windows)} windows")
    lag_arr = np.asarray(lags, int)
    runs: list[list[WindowSync]] = []
    current: list[WindowSync] = []
    following = 0  # usable windows that follow the audio since the run's last flagged one
    for w, o in zip(windows, off):
        if o is None:
            continue
        if o:
            current.append(w)
            following = 0
        elif current:
            following += 1
            if following > bridge:
                runs.append(current)
                current, following = [], 0
    if current:
        runs.append(current)
    # runs less than a window apart that read within a frame of each other are one stretch (a longer edit split by
    # a few well-matched or unusable windows)
    groups: list[tuple[list[WindowSync], _Reading | None]] = []
    for run in runs:
        read = _read(run, lag_arr)
        if groups and read is not None and (last := groups[-1][1]) is not None \
                and run[0].start - groups[-1][0][-1].end <= run[0].end - run[0].start + 1e-6 \
                and abs(int(lag_arr[read[0]] - lag_arr[last[0]])) <= 1:
            merged = groups[-1][0] + run
            groups[-1] = (merged, _read(merged, lag_arr))
        else:
            groups.append((run, read))
    out: list[OffsetStretch] = []
    for run, read in groups:
        if read is None or run[-1].end - run[0].start < min_s - 1e-6:
            continue
        best, dmin, conf, at_edge, n = read
        if at_edge or abs(int(lag_arr[best]) - clip_lag) < min_shift:
            continue  # at the edge of the range: no fit; near the clip's offset: the same reading
        out.append(OffsetStretch(start=float(run[0].start), end=float(run[-1].end), offset_frames=int(lag_arr[best]),
                                 confidence=conf, distance=dmin, windows=n))
    return out


_Reading = tuple[int, float, float, bool, int]  # a run's mean curve summarised (sync.analyze._summarize), its curves


def _read(run: Sequence[WindowSync], lags: np.ndarray) -> _Reading | None:
    """The mean of a run's window curves read as a clip's curve is (best lag index, distance there, confidence,
    whether at the edge of the search) and how many curves it holds; ``None`` when no curve has a value."""
    from avsync.sync.analyze import _summarize

    curves = [np.asarray(w.curve, float) for w in run
              if w.curve is not None and w.status is Status.OK and len(w.curve) == len(lags)]
    if not curves:
        return None
    stack = np.stack(curves)
    seen = np.isfinite(stack)
    mean = np.where(seen.any(0), np.nansum(np.where(seen, stack, 0.0), 0) / np.maximum(seen.sum(0), 1), np.nan)
    summ = _summarize(mean, lags)
    return None if summ is None else (*summ, len(curves))
